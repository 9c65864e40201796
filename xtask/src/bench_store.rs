//! `cargo xtask bench store`: the durable stores under load, each next to its engine's floor,
//! measured in the same run on the same machine (docs/PERFORMANCE.md, "Stores").
//!
//! 1. builds `graph-photo` and `graph-photo-bench` in release, a ~100 KB JPEG, a directory file
//!    of 16 users, and an application token (`ProfilePhoto.ReadWrite.All`);
//! 2. for each store (`memory`, `sqlite:` a fresh file, `postgres://` a fresh database): starts
//!    `graph-photo serve` pinned to core 0, then loads it from core 1 with 16 keep-alive clients,
//!    each on its own user's `photo/$value`: PUTs for the measured time, then GETs;
//! 3. runs the floors pinned to core 0: 16 tasks doing the same writes and reads straight
//!    through sqlx with the adapters' durability settings (SQLite: WAL, `synchronous=FULL`,
//!    `BEGIN IMMEDIATE`; PostgreSQL: one upsert per write, default `synchronous_commit=on`);
//! 4. repeats the whole for `--rounds` (default 3), takes medians, prints the table and the
//!    ratios (targets: durable PUT >= 0.7x its floor; SQLite GET >= 0.9x the memory store), and
//!    writes `target/bench/store.json`. `--check` makes a missed target a failure.
//!
//! PostgreSQL: `$GRAPH_PHOTO_BENCH_DATABASE_URL`, else `$GRAPH_PHOTO_TEST_DATABASE_URL`, else
//! `postgres://postgres@127.0.0.1:5432/test`, used as an admin connection to create the
//! databases `graph_photo_bench_store` and `graph_photo_bench_floor`. The PostgreSQL server
//! itself is not pinned (it is another process the machine runs): its figures include the
//! server's CPU wherever the OS ran it, for both the floor and graph-photo alike.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use serde_json::{json, Value};

use crate::bench_setup::{self, rate, user_id, Binaries, CLIENTS, CLIENT_CORE, SERVER_CORE};
use crate::tooling;

const PHOTO_BYTES: usize = 100_000;
const PUT_TARGET: f64 = 0.7;
const GET_TARGET: f64 = 0.9;

struct Options {
    rounds: usize,
    seconds: f64,
    check: bool,
}

/// `cargo xtask bench store [--rounds N] [--seconds S] [--check]`.
pub(crate) fn run(args: &[String]) -> ExitCode {
    let options = match parse(args) {
        Ok(options) => options,
        Err(error) => {
            eprintln!(
                "xtask bench store: {error}\n\nUsage: cargo xtask bench store [--rounds N] [--seconds S] [--check]"
            );
            return ExitCode::from(2);
        }
    };
    match bench(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("xtask bench store: {error}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        rounds: 3,
        seconds: 5.0,
        check: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => options.check = true,
            "--rounds" => {
                let value = args.next().ok_or("--rounds needs a value")?;
                options.rounds = value.parse().map_err(|e| format!("--rounds: {e}"))?;
            }
            "--seconds" => {
                let value = args.next().ok_or("--seconds needs a value")?;
                options.seconds = value.parse().map_err(|e| format!("--seconds: {e}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if options.rounds == 0 || options.seconds <= 0.0 {
        return Err("--rounds and --seconds must be positive".into());
    }
    Ok(options)
}

/// Where the build and the runs live.
struct Setup {
    dir: PathBuf,
    bin: Binaries,
    photo: PathBuf,
    directory: PathBuf,
    token: String,
    admin_url: String,
}

fn bench(options: &Options) -> Result<bool, String> {
    let setup = prepare()?;
    let stores = ["memory", "sqlite", "postgres"];
    // results[store] = (put, get, floor put, floor get) per round
    let mut rounds: Vec<Value> = Vec::new();
    for round in 0..options.rounds {
        eprintln!("xtask bench store: round {}/{}", round + 1, options.rounds);
        let mut result = serde_json::Map::new();
        for store in stores {
            let url = store_url(&setup, store, round)?;
            let (put, get) = serve_and_load(&setup, &url, options.seconds)?;
            let floor = floor(&setup, store, round, options.seconds)?;
            result.insert(
                store.into(),
                json!({ "put": put, "get": get, "floor_put": floor.0, "floor_get": floor.1 }),
            );
        }
        rounds.push(Value::Object(result));
    }
    let median_of = |store: &str, field: &str| -> Option<f64> {
        bench_setup::median(rounds.iter().filter_map(|r| r[store][field].as_f64()))
    };
    let mut report = String::from(
        "| store | PUT 100 KB /s | engine floor PUT /s | PUT / floor | GET $value /s | engine floor GET /s | GET / memory store |\n|---|---|---|---|---|---|---|\n",
    );
    let memory_get = median_of("memory", "get").unwrap_or(f64::NAN);
    let mut met = true;
    let mut summary = serde_json::Map::new();
    for store in stores {
        let put = median_of(store, "put").unwrap_or(f64::NAN);
        let get = median_of(store, "get").unwrap_or(f64::NAN);
        let floor_put = median_of(store, "floor_put");
        let floor_get = median_of(store, "floor_get");
        let put_ratio = floor_put.map(|f| put / f);
        let get_ratio = get / memory_get;
        if let Some(ratio) = put_ratio {
            met &= ratio >= PUT_TARGET;
        }
        if store == "sqlite" {
            met &= get_ratio >= GET_TARGET;
        }
        let show = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
        let show_ratio = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}x"));
        report.push_str(&format!(
            "| {store} | {put:.0} | {} | {} | {get:.0} | {} | {get_ratio:.2}x |\n",
            show(floor_put),
            show_ratio(put_ratio),
            show(floor_get),
        ));
        summary.insert(
            store.into(),
            json!({ "put": put, "get": get, "floor_put": floor_put, "floor_get": floor_get,
                    "put_vs_floor": put_ratio, "get_vs_memory": get_ratio }),
        );
    }
    println!(
        "{CLIENTS} clients, {} s per measurement, median of {} rounds; server and floors on core 0, load generator on core 1\n\n{report}\ntargets: durable PUT >= {PUT_TARGET}x its engine's floor; SQLite GET >= {GET_TARGET}x the memory store: {}",
        options.seconds,
        options.rounds,
        if met { "met" } else { "NOT met" }
    );
    let out = setup.dir.join("store.json");
    let json = json!({ "rounds": rounds, "median": summary, "targets_met": met });
    fs::write(&out, format!("{json:#}\n")).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(met || !options.check)
}

fn prepare() -> Result<Setup, String> {
    let bin = bench_setup::build_release("bench store")?;
    let dir = bench_setup::target_dir().join("bench").join("store");
    tooling::remove_dir(&dir)?;
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let photo = dir.join("photo.jpg");
    tooling::output(
        Command::new(&bin.tool)
            .args(["make-jpeg", "--bytes", &PHOTO_BYTES.to_string(), "--out"])
            .arg(&photo),
    )?;
    let directory = dir.join("directory.json");
    bench_setup::write_directory(&directory, bench_setup::CLIENTS)?;
    let token = bench_setup::app_token(&bin.server, &dir, &directory)?;
    let admin_url = [
        "GRAPH_PHOTO_BENCH_DATABASE_URL",
        "GRAPH_PHOTO_TEST_DATABASE_URL",
    ]
    .iter()
    .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
    .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    Ok(Setup {
        dir,
        bin,
        photo,
        directory,
        token,
        admin_url,
    })
}

fn store_url(setup: &Setup, store: &str, round: usize) -> Result<String, String> {
    match store {
        "memory" => Ok("memory".into()),
        "sqlite" => Ok(format!(
            "sqlite:{}",
            setup.dir.join(format!("store-{round}.db")).display()
        )),
        _ => fresh_database(setup, "graph_photo_bench_store"),
    }
}

fn fresh_database(setup: &Setup, name: &str) -> Result<String, String> {
    let out = tooling::output(Command::new(&setup.bin.tool).args([
        "reset-database",
        "--admin-url",
        &setup.admin_url,
        "--name",
        name,
    ]))?;
    let value: Value = serde_json::from_str(out.trim())
        .map_err(|e| format!("reset-database printed {out:?}: {e}"))?;
    value["url"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("reset-database printed {out:?}"))
}

/// Starts the server on `store`, loads it with PUTs then GETs; the two rates.
fn serve_and_load(setup: &Setup, store: &str, seconds: f64) -> Result<(f64, f64), String> {
    let running = bench_setup::serve(&setup.bin.server, &setup.dir, &setup.directory, Some(store))?;
    let listen = &running.listen;
    let urls = setup.dir.join("urls.txt");
    let list: Vec<String> = (0..CLIENTS)
        .map(|i| format!("http://{listen}/v1.0/users/{}/photo/$value", user_id(i)))
        .collect();
    fs::write(&urls, list.join("\n")).map_err(|e| format!("{}: {e}", urls.display()))?;
    let load = |op: &str| -> Result<f64, String> {
        let out = tooling::output(
            Command::new("taskset")
                .args(["-c", CLIENT_CORE])
                .arg(&setup.bin.tool)
                .args(["http", "--op", op, "--seconds", &seconds.to_string()])
                .args(["--concurrency", &CLIENTS.to_string(), "--body"])
                .arg(&setup.photo)
                .arg("--urls")
                .arg(&urls)
                .args(["--token", &setup.token]),
        )?;
        rate(&out, &format!("{op} on {store}"))
    };
    let put = load("put")?;
    let get = load("get")?;
    drop(running);
    Ok((put, get))
}

/// The engine's own PUT and GET rates (none for memory).
fn floor(
    setup: &Setup,
    store: &str,
    round: usize,
    seconds: f64,
) -> Result<(Option<f64>, Option<f64>), String> {
    let target: Vec<String> = match store {
        "sqlite" => vec![
            "floor-sqlite".into(),
            "--path".into(),
            setup
                .dir
                .join(format!("floor-{round}.db"))
                .display()
                .to_string(),
        ],
        "postgres" => vec![
            "floor-postgres".into(),
            "--url".into(),
            fresh_database(setup, "graph_photo_bench_floor")?,
        ],
        _ => return Ok((None, None)),
    };
    let run = |op: &str| -> Result<f64, String> {
        let out = tooling::output(
            Command::new("taskset")
                .args(["-c", SERVER_CORE])
                .arg(&setup.bin.tool)
                .args(&target)
                .args(["--op", op, "--seconds", &seconds.to_string()])
                .args(["--concurrency", &CLIENTS.to_string(), "--body"])
                .arg(&setup.photo),
        )?;
        rate(&out, &format!("floor {op} on {store}"))
    };
    Ok((Some(run("put")?), Some(run("get")?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        let o = parse(&[]).unwrap();
        assert_eq!((o.rounds, o.check), (3, false));
        let args: Vec<String> = ["--rounds", "5", "--seconds", "2", "--check"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let o = parse(&args).unwrap();
        assert_eq!((o.rounds, o.seconds, o.check), (5, 2.0, true));
        assert!(parse(&["--rounds".to_owned(), "0".to_owned()]).is_err());
        assert!(parse(&["--bogus".to_owned()]).is_err());
    }
}
