//! `cargo xtask bench http`: graph-photo's HTTP path against a bare axum server doing the same
//! HTTP work, in the same run on the same machine (docs/PERFORMANCE.md, "HTTP path against a
//! bare axum server"; issue 11).
//!
//! 1. builds `graph-photo` and `graph-photo-bench` in release; makes a ~100 KB and a ~3.9 MB
//!    photo-like JPEG (the rendition benchmark's picture), a directory of 16 users, an
//!    application token, and the 48x48 rendition graph-photo makes of the small photo (the floor
//!    serves those very bytes);
//! 2. each round, for each store asked for (`memory`, and the default store: SQLite in a fresh
//!    data directory), starts `graph-photo serve` and the floor (`graph-photo-bench floor-http`),
//!    both pinned to core 0, every graph-photo option at its default;
//! 3. for each request kind (PUT 4 MB, PUT 100 KB, GET `photo/$value` of the 100 KB photo, GET
//!    the cached `48x48/$value`, warmed by one GET per user first) loads graph-photo, then the
//!    floor, from core 1: 16 keep-alive connections, each on its own user, 1 s of warm-up and
//!    `--seconds` measured; any answer but a 2xx fails the run;
//! 4. takes medians over `--rounds`, prints ratios graph-photo / floor against the targets, the
//!    CPU each server and the generator used (a generator using its whole core while the floor
//!    does not means the ratios are biased towards 1.0: reported, and a failure under
//!    `--check`);
//! 5. memory, per store, on a fresh server: peak RSS under 16 concurrent 4 MB uploads against
//!    the RSS at rest with the same photos stored, and the RSS growth under refused 4 MB uploads
//!    (401, 404, 412, 413), with how the server closed those connections (`bench_memory.rs`);
//! 6. writes `target/bench/http.json`; `--check` makes a missed target a failure.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use serde_json::{json, Value};

use crate::bench_memory::{self, Memory};
use crate::bench_setup::{self, user_id, Binaries, Running, CLIENTS, CLIENT_CORE};
use crate::tooling;

/// The small photo's size, and the large one's (within [`LARGE_RANGE`]).
const SMALL_BYTES: usize = 100_000;
const LARGE_BYTES: usize = 3_900_000;
/// A large photo is a real 4 MB photo: over 3.5 MB, and within Graph's 4 MiB limit.
const LARGE_RANGE: std::ops::RangeInclusive<usize> = 3_500_000..=MAX_PHOTO_BYTES;
pub(crate) const MAX_PHOTO_BYTES: usize = 4 * 1024 * 1024;
/// Above this share of one core, the generator (not the server) may be what limits the rate.
const SATURATED: f64 = 0.95;
/// Above this share, the generator is marked as near its limit in the table.
const NEAR_SATURATED: f64 = 0.85;
const USAGE: &str = "Usage: cargo xtask bench http [--rounds N] [--seconds S] [--check] [--store memory|sqlite|all]";

/// One kind of request, measured on both servers.
struct Kind {
    /// The key in http.json.
    key: &'static str,
    label: &'static str,
    put: bool,
    /// After the user's id.
    path: &'static str,
    /// graph-photo / floor at or above which the target is met.
    target: f64,
}

/// In the order they run: the PUT of 100 KB leaves each user with the photo the GETs read.
const KINDS: [Kind; 4] = [
    Kind {
        key: "put_4mb",
        label: "PUT $value 4 MB",
        put: true,
        path: "photo/$value",
        target: 0.5,
    },
    Kind {
        key: "put_100kb",
        label: "PUT $value 100 KB",
        put: true,
        path: "photo/$value",
        target: 0.6,
    },
    Kind {
        key: "get_value",
        label: "GET $value 100 KB",
        put: false,
        path: "photo/$value",
        target: 0.9,
    },
    Kind {
        key: "get_48x48",
        label: "GET 48x48/$value (cached)",
        put: false,
        path: "photos/48x48/$value",
        target: 0.9,
    },
];

/// The stores graph-photo is measured on: `--store memory`, and the default (SQLite in the
/// data directory, no `--store` given).
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Store {
    Memory,
    Default,
}

impl Store {
    pub(crate) fn key(self) -> &'static str {
        match self {
            Store::Memory => "memory",
            Store::Default => "sqlite",
        }
    }

    fn flag(self) -> Option<&'static str> {
        match self {
            Store::Memory => Some("memory"),
            Store::Default => None,
        }
    }
}

struct Options {
    rounds: usize,
    seconds: f64,
    check: bool,
    stores: Vec<Store>,
}

/// `cargo xtask bench http [--rounds N] [--seconds S] [--check] [--store memory|sqlite|all]`.
pub(crate) fn run(args: &[String]) -> ExitCode {
    let options = match parse(args) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("xtask bench http: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match bench(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("xtask bench http: {error}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        rounds: 3,
        seconds: 5.0,
        check: false,
        stores: vec![Store::Memory, Store::Default],
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
            "--store" => {
                options.stores = match args.next().map(String::as_str) {
                    Some("memory") => vec![Store::Memory],
                    Some("sqlite") => vec![Store::Default],
                    Some("all") => vec![Store::Memory, Store::Default],
                    other => return Err(format!("--store memory|sqlite|all, not {other:?}")),
                };
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
pub(crate) struct Setup {
    pub(crate) dir: PathBuf,
    pub(crate) bin: Binaries,
    small: PathBuf,
    pub(crate) large: PathBuf,
    pub(crate) large_len: usize,
    /// A body one byte over the limit (413).
    pub(crate) too_large: PathBuf,
    thumbnail: PathBuf,
    pub(crate) directory: PathBuf,
    /// The data directory holding the key the token is signed with.
    keys: PathBuf,
    pub(crate) token: String,
}

impl Setup {
    /// A fresh data directory named `name`, with the signing key.
    pub(crate) fn data_dir(&self, name: &str) -> Result<PathBuf, String> {
        let dir = self.dir.join(name);
        bench_setup::fresh_data_dir(&self.keys, &dir)?;
        Ok(dir)
    }

    pub(crate) fn serve(&self, store: Store, data_dir: &Path) -> Result<Running, String> {
        bench_setup::serve(&self.bin.server, data_dir, &self.directory, store.flag())
    }

    /// Writes the URLs of every user's `path` on `running` to the file `name`; returns it.
    pub(crate) fn urls(
        &self,
        name: &str,
        running: &Running,
        path: &str,
        user: fn(usize) -> String,
    ) -> Result<PathBuf, String> {
        let file = self.dir.join(name);
        let list: Vec<String> = (0..CLIENTS)
            .map(|i| format!("http://{}/v1.0/users/{}/{path}", running.listen, user(i)))
            .collect();
        fs::write(&file, list.join("\n")).map_err(|e| format!("{}: {e}", file.display()))?;
        Ok(file)
    }

    /// The load generator pinned to the client core, with `args` after `http`.
    pub(crate) fn generator(&self, urls: &Path) -> Command {
        let mut command = Command::new("taskset");
        command
            .args(["-c", CLIENT_CORE])
            .arg(&self.bin.tool)
            .args(["http", "--concurrency", &CLIENTS.to_string(), "--urls"])
            .arg(urls);
        command
    }
}

fn bench(options: &Options) -> Result<bool, String> {
    let setup = prepare()?;
    let mut rounds: Vec<Value> = Vec::new();
    for round in 0..options.rounds {
        let mut result = serde_json::Map::new();
        for &store in &options.stores {
            eprintln!(
                "xtask bench http: round {}/{}, {} store; load average {}",
                round + 1,
                options.rounds,
                store.key(),
                load_average()
            );
            result.insert(
                store.key().into(),
                measure_round(&setup, store, round, options.seconds)?,
            );
        }
        result.insert("load_average_after".into(), load_average().into());
        rounds.push(Value::Object(result));
    }
    let mut memory = Vec::new();
    for &store in &options.stores {
        eprintln!("xtask bench http: memory, {} store", store.key());
        memory.push(bench_memory::measure(&setup, store)?);
    }

    let (table, summary, mut met, saturated) = speed_table(&rounds, &options.stores);
    let memory_met = memory.iter().all(Memory::met);
    met &= memory_met;
    println!(
        "{CLIENTS} connections (one user each, keep-alive), {} s per measurement after 1 s of warm-up, median of {} rounds;\nservers pinned to core 0, load generator (graph-photo-bench http: hyper, one connection per client) on core 1.\nCPU: share of one core used while measuring (graph-photo / floor).\n\n{table}",
        options.seconds, options.rounds
    );
    if table.contains("near its limit") {
        println!(
            "Note: where the generator was near its limit against the floor, the floor's rate may be\nthe generator's: those ratios may read a little high, never low.\n"
        );
    }
    if saturated {
        println!(
            "WARNING: the load generator used more than {:.0}% of its core while the server did not: those ratios are biased towards 1.0.\n",
            SATURATED * 100.0
        );
    }
    println!("{}", bench_memory::table(&memory, setup.large_len));
    println!(
        "targets: GET >= 0.9x the floor, PUT 100 KB >= 0.6x, PUT 4 MB >= 0.5x; peak RSS <= idle + 1.5 x bytes in flight; refused uploads grow RSS < {} MiB: {}",
        bench_memory::REFUSED_GROWTH_LIMIT >> 20,
        if met && !saturated { "met" } else { "NOT met" }
    );
    let out = bench_setup::target_dir().join("bench").join("http.json");
    let json = json!({
        "clients": CLIENTS,
        "seconds": options.seconds,
        "rounds": rounds,
        "median": summary,
        "memory": memory.iter().map(Memory::to_json).collect::<Vec<_>>(),
        "large_photo_bytes": setup.large_len,
        "generator_saturated": saturated,
        "targets_met": met && !saturated,
    });
    fs::write(&out, format!("{json:#}\n")).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!("xtask bench http: wrote {}", out.display());
    Ok((met && !saturated) || !options.check)
}

/// `/proc/loadavg`'s first three fields (how quiet the machine was).
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn prepare() -> Result<Setup, String> {
    let bin = bench_setup::build_release("bench http")?;
    let dir = bench_setup::target_dir().join("bench").join("http");
    tooling::remove_dir(&dir)?;
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let make_photo = |bytes: usize, name: &str| -> Result<(PathBuf, usize), String> {
        let path = dir.join(name);
        tooling::output(
            Command::new(&bin.tool)
                .args(["make-photo", "--bytes", &bytes.to_string(), "--out"])
                .arg(&path),
        )?;
        let len = fs::metadata(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        Ok((path, len as usize))
    };
    let (small, _) = make_photo(SMALL_BYTES, "photo-100kb.jpg")?;
    let (large, large_len) = make_photo(LARGE_BYTES, "photo-4mb.jpg")?;
    if !LARGE_RANGE.contains(&large_len) {
        return Err(format!(
            "the large photo is {large_len} bytes, outside {LARGE_RANGE:?}"
        ));
    }
    let too_large = dir.join("over-4mib.jpg");
    let mut over = fs::read(&large).map_err(|e| format!("{}: {e}", large.display()))?;
    over.resize(MAX_PHOTO_BYTES + 1, 0);
    fs::write(&too_large, over).map_err(|e| format!("{}: {e}", too_large.display()))?;
    let directory = dir.join("directory.json");
    bench_setup::write_directory(&directory, bench_setup::CLIENTS)?;
    let keys = dir.join("keys");
    fs::create_dir_all(&keys).map_err(|e| format!("{}: {e}", keys.display()))?;
    let token = bench_setup::app_token(&bin.server, &keys, &directory)?;
    let mut setup = Setup {
        thumbnail: dir.join("48x48.jpg"),
        dir,
        bin,
        small,
        large,
        large_len,
        too_large,
        directory,
        keys,
        token,
    };
    save_thumbnail(&mut setup)?;
    Ok(setup)
}

/// The 48x48 rendition graph-photo makes of the small photo, for the floor to serve.
fn save_thumbnail(setup: &mut Setup) -> Result<(), String> {
    let data_dir = setup.data_dir("data-thumbnail")?;
    let running = setup.serve(Store::Memory, &data_dir)?;
    let urls = setup.urls("urls-thumbnail.txt", &running, "photo/$value", user_id)?;
    let out = tooling::output(
        setup
            .generator(&urls)
            .args([
                "--op",
                "put",
                "--requests",
                "1",
                "--token",
                &setup.token,
                "--body",
            ])
            .arg(&setup.small),
    )?;
    bench_setup::report(&out, "uploading the small photo")?;
    let url = format!(
        "http://{}/v1.0/users/{}/photos/48x48/$value",
        running.listen,
        user_id(0)
    );
    tooling::output(
        Command::new(&setup.bin.tool)
            .args(["fetch", "--url", &url, "--token", &setup.token, "--out"])
            .arg(&setup.thumbnail),
    )?;
    Ok(())
}

/// One round on one store: both servers up, every kind of request on each, graph-photo first.
fn measure_round(setup: &Setup, store: Store, round: usize, seconds: f64) -> Result<Value, String> {
    let data_dir = setup.data_dir(&format!("data-{}-{round}", store.key()))?;
    let graph_photo = setup.serve(store, &data_dir)?;
    let floor = bench_setup::start_pinned(
        &setup.bin.tool,
        [
            "floor-http".as_ref(),
            "--thumbnail".as_ref(),
            setup.thumbnail.as_os_str(),
        ],
        "the floor server",
    )?;
    let mut result = serde_json::Map::new();
    for kind in &KINDS {
        let mut pair = serde_json::Map::new();
        for (name, running) in [("graph_photo", &graph_photo), ("floor", &floor)] {
            let what = format!("{} on {name} ({} store)", kind.label, store.key());
            let urls = setup.urls("urls.txt", running, kind.path, user_id)?;
            if !kind.put && kind.path != "photo/$value" {
                // The size is rendered on its first request; measured is the cached one.
                let out = tooling::output(setup.generator(&urls).args([
                    "--op",
                    "get",
                    "--requests",
                    "1",
                    "--token",
                    &setup.token,
                ]))?;
                bench_setup::report(&out, &format!("warming {what}"))?;
            }
            let mut command = setup.generator(&urls);
            command
                .args(["--seconds", &seconds.to_string(), "--token", &setup.token])
                .args(["--server-pid", &running.pid().to_string()]);
            if kind.put {
                let body = if kind.key == "put_4mb" {
                    &setup.large
                } else {
                    &setup.small
                };
                command.args(["--op", "put", "--body"]).arg(body);
            } else {
                command.args(["--op", "get"]);
            }
            let out = tooling::output(&mut command)?;
            pair.insert(name.into(), bench_setup::report(&out, &what)?);
        }
        result.insert(kind.key.into(), Value::Object(pair));
    }
    Ok(Value::Object(result))
}

/// The table of medians, the summary for http.json, whether every target was met, and whether
/// the generator was saturated anywhere the floor was not.
fn speed_table(rounds: &[Value], stores: &[Store]) -> (String, Value, bool, bool) {
    let mut table = String::from(
        "| store | request | graph-photo /s | floor /s | graph-photo / floor | target | server CPU | generator CPU | ratio per server CPU-second |\n|---|---|---:|---:|---:|---|---:|---:|---:|\n",
    );
    let mut summary = serde_json::Map::new();
    let (mut met, mut saturated) = (true, false);
    for &store in stores {
        let mut per_kind = serde_json::Map::new();
        for kind in &KINDS {
            let median_of = |side: &str, field: &str| {
                bench_setup::median(
                    rounds
                        .iter()
                        .filter_map(|r| r[store.key()][kind.key][side][field].as_f64()),
                )
            };
            let ours = median_of("graph_photo", "ops_per_sec").unwrap_or(f64::NAN);
            let floor = median_of("floor", "ops_per_sec").unwrap_or(f64::NAN);
            let ratio = ours / floor;
            let kind_met = ratio >= kind.target;
            met &= kind_met;
            let cpu = |side: &str, field: &str| median_of(side, field);
            let (gp_server, floor_server) =
                (cpu("graph_photo", "server_cpu"), cpu("floor", "server_cpu"));
            let (gp_client, floor_client) =
                (cpu("graph_photo", "client_cpu"), cpu("floor", "client_cpu"));
            // The floor is the faster server: if the generator ran out of core before it did,
            // the floor's rate is the generator's, and the ratio is too high.
            if floor_client.unwrap_or(0.0) > SATURATED
                && floor_server.unwrap_or(0.0) < floor_client.unwrap_or(0.0)
            {
                saturated = true;
            }
            // Requests per second of server CPU: what each request costs the server, which
            // holds even when something else takes part of the server's core.
            let per_cpu = match (gp_server, floor_server) {
                (Some(gp), Some(fl)) if gp > 0.0 && fl > 0.0 => Some((ours / gp) / (floor / fl)),
                _ => None,
            };
            let pct = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.0}%", v * 100.0));
            table.push_str(&format!(
                "| {} | {} | {ours:.1} | {floor:.1} | **{ratio:.2}x** | >= {}x: {} | {} / {} | {} / {} | {} |\n",
                store.key(),
                kind.label,
                kind.target,
                if kind_met { "met" } else { "missed" },
                pct(gp_server),
                pct(floor_server),
                pct(gp_client),
                if floor_client.unwrap_or(0.0) > NEAR_SATURATED {
                    format!("{} (near its limit)", pct(floor_client))
                } else {
                    pct(floor_client)
                },
                per_cpu.map_or("-".to_owned(), |r| format!("{r:.2}x")),
            ));
            per_kind.insert(
                kind.key.into(),
                json!({ "graph_photo": ours, "floor": floor, "ratio": ratio,
                        "target": kind.target, "met": kind_met, "ratio_per_server_cpu": per_cpu,
                        "server_cpu": { "graph_photo": gp_server, "floor": floor_server },
                        "generator_cpu": { "graph_photo": gp_client, "floor": floor_client } }),
            );
        }
        summary.insert(store.key().into(), Value::Object(per_kind));
    }
    (table, Value::Object(summary), met, saturated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn arguments() {
        let o = parse(&[]).unwrap();
        assert_eq!((o.rounds, o.seconds, o.check), (3, 5.0, false));
        assert_eq!(o.stores, vec![Store::Memory, Store::Default]);
        let o = parse(&args(&[
            "--rounds",
            "5",
            "--seconds",
            "2",
            "--check",
            "--store",
            "sqlite",
        ]))
        .unwrap();
        assert_eq!((o.rounds, o.seconds, o.check), (5, 2.0, true));
        assert_eq!(o.stores, vec![Store::Default]);
        assert!(parse(&args(&["--store", "postgres"])).is_err());
        assert!(parse(&args(&["--rounds", "0"])).is_err());
        assert!(parse(&args(&["--bogus"])).is_err());
    }

    fn side(rate: f64, server: f64, client: f64) -> Value {
        json!({ "ops_per_sec": rate, "server_cpu": server, "client_cpu": client })
    }

    fn round(gp: f64, floor: f64, floor_client: f64) -> Value {
        let pair =
            json!({ "graph_photo": side(gp, 1.0, 0.3), "floor": side(floor, 1.0, floor_client) });
        let kinds: serde_json::Map<String, Value> = KINDS
            .iter()
            .map(|k| (k.key.to_owned(), pair.clone()))
            .collect();
        json!({ "memory": kinds })
    }

    #[test]
    fn ratios_are_of_medians_and_checked_against_each_target() {
        let rounds = [
            round(50.0, 100.0, 0.5),
            round(60.0, 100.0, 0.5),
            round(1.0, 90.0, 0.5),
        ];
        let (_, summary, met, saturated) = speed_table(&rounds, &[Store::Memory]);
        // Medians: 50 of 100.
        assert_eq!(summary["memory"]["put_4mb"]["ratio"], 0.5);
        assert_eq!(summary["memory"]["put_4mb"]["met"], true);
        assert_eq!(summary["memory"]["put_100kb"]["met"], false);
        assert!(!met);
        assert!(!saturated);
        let (_, _, met, _) = speed_table(&[round(95.0, 100.0, 0.5)], &[Store::Memory]);
        assert!(met);
    }

    #[test]
    fn a_saturated_generator_is_noticed() {
        let (_, _, _, saturated) = speed_table(&[round(95.0, 100.0, 0.99)], &[Store::Memory]);
        // The floor's server used its whole core too: the server was the limit.
        assert!(!saturated);
        let mut busy = round(95.0, 100.0, 0.99);
        for kind in &KINDS {
            busy["memory"][kind.key]["floor"]["server_cpu"] = json!(0.6);
        }
        let (_, _, _, saturated) = speed_table(&[busy], &[Store::Memory]);
        assert!(saturated);
    }
}
