//! `cargo xtask bench sync`: bulk upload with `graph-photo sync` against the official Python SDK
//! uploading the same photos in a loop, measured in the same run on the same machine
//! (docs/PERFORMANCE.md, "Bulk sync").
//!
//! 1. builds `graph-photo` and `graph-photo-bench` in release; makes the Python SDK's venv (as
//!    `cargo xtask sdk-env`); makes 10,000 distinct small JPEGs (one noise JPEG of about 4 KB
//!    from `graph-photo-bench make-jpeg`, each copy made distinct by a comment segment naming
//!    it), a directory file of 10,000 users, `file,users/ID` maps of the first 1,000 and of all
//!    10,000, and an application token (`ProfilePhoto.ReadWrite.All`);
//! 2. starts `graph-photo serve --store memory` pinned to core 0; every client runs on core 1;
//! 3. each round: the SDK's sequential loop over the 1,000 (`xtask/bench/sdk_sync.py`, one
//!    Python process, interpreter start and one warm-up upload not timed), then `graph-photo
//!    sync` of the same 1,000 at `--concurrency` 1, 4 and 16 and of the 10,000 at the default
//!    concurrency, each with a fresh state file, timed as whole processes (start-up, reading and
//!    hashing the files, the state file's final write included);
//! 4. medians over `--rounds` (default 5; the order of the concurrencies rotates from round
//!    to round), the table, the ratios against the targets
//!    (sync at the default concurrency >= 5x the SDK; 10,000 photos <= 11x the time of 1,000;
//!    concurrency 4 >= 1.5x concurrency 1, and 16 not slower than 4 beyond noise), with the CPU
//!    time each side used (from /proc), and `target/bench/sync.json`. `--check` makes a missed
//!    target a failure.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::Instant;

use serde_json::{json, Value};

use crate::bench_setup::{self, serve, stdout_of, user_id, Running};
use crate::{bench, sdk_env, tooling};

const SMALL: usize = 1_000;
const PHOTO_BYTES: usize = 4_000;
const CONCURRENCIES: [u32; 3] = [1, 4, 16];
/// `graph-photo sync`'s default `--concurrency` (Graph's per-app limit of 4 concurrent photo
/// requests, spec F1): what a user gets, so what the targets are measured at.
const DEFAULT_CONCURRENCY: u32 = 4;
const SDK_TARGET: f64 = 5.0;
/// 10x the photos may take at most 11x the time.
const GROWTH_TARGET: f64 = 11.0;
/// Concurrency 4 must be this much faster than 1: uploads overlap rather than queue on the
/// state file (version 1's symptom: the same time at any concurrency).
const SCALING_TARGET: f64 = 1.5;
/// Beyond 4, the two cores are shared by the server and the client: more concurrency need not
/// be faster, but must not be slower beyond noise.
const SCALING_FLOOR: f64 = 0.9;

struct Options {
    rounds: usize,
    photos: usize,
    check: bool,
}

/// `cargo xtask bench sync [--rounds N] [--photos N] [--check]`.
pub(crate) fn run(args: &[String]) -> ExitCode {
    let options = match parse(args) {
        Ok(options) => options,
        Err(error) => {
            eprintln!(
                "xtask bench sync: {error}\n\nUsage: cargo xtask bench sync [--rounds N] [--photos N] [--check]"
            );
            return ExitCode::from(2);
        }
    };
    match bench(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("xtask bench sync: {error}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        rounds: 5,
        photos: SMALL,
        check: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<usize, String> {
            let value = args.next().ok_or(format!("{name} needs a value"))?;
            value.parse().map_err(|e| format!("{name}: {e}"))
        };
        match arg.as_str() {
            "--check" => options.check = true,
            "--rounds" => options.rounds = value("--rounds")?,
            "--photos" => options.photos = value("--photos")?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if options.rounds == 0 || options.photos == 0 {
        return Err("--rounds and --photos must be positive".into());
    }
    Ok(options)
}

/// Where the build and the runs live.
struct Setup {
    dir: PathBuf,
    server: PathBuf,
    python: PathBuf,
    directory: PathBuf,
    small_map: PathBuf,
    large_map: PathBuf,
    token: String,
}

/// One timed run: wall time, the client's CPU time and the server's, in seconds.
#[derive(Clone, Copy, Default)]
struct Timed {
    wall: f64,
    client_cpu: f64,
    server_cpu: f64,
}

impl Timed {
    fn json(&self) -> Value {
        json!({ "seconds": self.wall, "client_cpu_seconds": self.client_cpu,
                "server_cpu_seconds": self.server_cpu })
    }
}

/// One round's runs.
#[derive(Default)]
struct Round {
    sdk: Timed,
    sync: Vec<(u32, Timed)>,
    large: Timed,
}

fn bench(options: &Options) -> Result<bool, String> {
    let (small, large) = (options.photos, options.photos * 10);
    let setup = prepare(small, large)?;
    let server = start_server(&setup)?;
    let base = format!("http://{}/v1.0", server.listen);
    let clock = Clock::new(server.pid);
    let mut rounds: Vec<Round> = Vec::new();
    for round in 0..options.rounds {
        eprintln!("xtask bench sync: round {}/{}", round + 1, options.rounds);
        let mut times = Round {
            sdk: clock.time(|| sdk_loop(&setup, &base, small))?,
            ..Round::default()
        };
        // A different order each round, so that a drift of the machine's load within a round
        // does not always fall on the same concurrency.
        let mut order = CONCURRENCIES;
        order.rotate_left(round % CONCURRENCIES.len());
        for concurrency in order {
            let timed = clock.time(|| sync(&setup, &base, &setup.small_map, small, concurrency))?;
            times.sync.push((concurrency, timed));
        }
        times.large =
            clock.time(|| sync(&setup, &base, &setup.large_map, large, DEFAULT_CONCURRENCY))?;
        eprintln!(
            "xtask bench sync: sdk {:.2} s; sync {}; {large} photos {:.2} s",
            times.sdk.wall,
            times
                .sync
                .iter()
                .map(|(c, t)| format!("c{c} {:.2} s", t.wall))
                .collect::<Vec<_>>()
                .join(", "),
            times.large.wall
        );
        rounds.push(times);
    }
    drop(server);

    // The run of median wall time (its CPU times with it).
    let median = |runs: Vec<Timed>| -> Timed {
        let mut runs = runs;
        runs.sort_by(|a, b| a.wall.total_cmp(&b.wall));
        runs.get(runs.len() / 2).copied().unwrap_or_default()
    };
    let sdk_run = median(rounds.iter().map(|r| r.sdk).collect());
    let at = |concurrency: u32| {
        median(
            rounds
                .iter()
                .filter_map(|r| r.sync.iter().find(|(c, _)| *c == concurrency))
                .map(|(_, t)| *t)
                .collect(),
        )
    };
    let runs: Vec<(u32, Timed)> = CONCURRENCIES.iter().map(|&c| (c, at(c))).collect();
    let by_concurrency: Vec<(u32, f64)> = runs.iter().map(|(c, t)| (*c, t.wall)).collect();
    let large_run = median(rounds.iter().map(|r| r.large).collect());
    let (sdk, large_time) = (sdk_run.wall, large_run.wall);
    let default_time = at(DEFAULT_CONCURRENCY).wall;

    let vs_sdk = sdk / default_time;
    let growth = large_time / default_time;
    let scaling: Vec<(u32, u32, f64)> = by_concurrency
        .windows(2)
        .map(|w| (w[0].0, w[1].0, w[0].1 / w[1].1))
        .collect();
    let sdk_met = vs_sdk >= SDK_TARGET;
    let growth_met = growth <= GROWTH_TARGET;
    let scaling_met = scaling.iter().all(|&(from, _, speedup)| {
        speedup
            >= if from == 1 {
                SCALING_TARGET
            } else {
                SCALING_FLOOR
            }
    });
    let met = sdk_met && growth_met && scaling_met;

    let mut table = String::from(
        "| run | photos | concurrency | seconds | photos/s | speed vs SDK | client CPU (s) | server core busy |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let row = |what: &str, photos: usize, concurrency: u32, run: &Timed, vs_sdk: String| {
        format!(
            "| {what} | {photos} | {concurrency} | {:.2} | {:.0} | {vs_sdk} | {:.2} | {:.0}% |\n",
            run.wall,
            photos as f64 / run.wall,
            run.client_cpu,
            100.0 * run.server_cpu / run.wall
        )
    };
    table.push_str(&row(
        "msgraph-sdk (Python), sequential loop",
        small,
        1,
        &sdk_run,
        "1.00x".into(),
    ));
    for (concurrency, run) in &runs {
        let vs_sdk = format!("{:.2}x", sdk / run.wall);
        table.push_str(&row("graph-photo sync", small, *concurrency, run, vs_sdk));
    }
    table.push_str(&row(
        "graph-photo sync",
        large,
        DEFAULT_CONCURRENCY,
        &large_run,
        "-".into(),
    ));
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let scaling_text = scaling
        .iter()
        .map(|(from, to, s)| format!("{from} -> {to}: {s:.2}x"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "graph-photo serve --store memory on core 0; the clients on core 1; medians of {} rounds\n\n{table}\n\
         sync (concurrency {DEFAULT_CONCURRENCY}) / SDK: {vs_sdk:.2}x (target >= {SDK_TARGET}x: {})\n\
         {large} / {small} photos: {growth:.2}x the time (target <= {GROWTH_TARGET}x: {})\n\
         scaling with --concurrency: {scaling_text} (target: 1 -> 4 >= {SCALING_TARGET}x, then \
         none below {SCALING_FLOOR}x: {})\n\
         targets: {}",
        options.rounds,
        verdict(sdk_met),
        verdict(growth_met),
        verdict(scaling_met),
        verdict(met),
    );

    let out = setup.dir.join("sync.json");
    let json = json!({
        "machine": {
            "date": bench::today(),
            "nproc": thread::available_parallelism().map_or(0, |n| n.get()),
            "cpu": bench::cpu_model(),
            "loadavg_after": bench::load_average(),
        },
        "photos": { "small": small, "large": large, "bytes_each": fs::metadata(setup.dir.join("photos").join(photo_name(0))).map_or(0, |m| m.len()) },
        "rounds": rounds.iter().map(|r| json!({
            "sdk": r.sdk.json(),
            "sync": r.sync.iter().map(|(c, t)| json!({"concurrency": c, "run": t.json()})).collect::<Vec<_>>(),
            "large": r.large.json(),
        })).collect::<Vec<_>>(),
        "median": {
            "sdk": sdk_run.json(),
            "sync": runs.iter().map(|(c, t)| json!({"concurrency": c, "run": t.json()})).collect::<Vec<_>>(),
            "large": large_run.json(),
        },
        "ratios": {
            "sync_vs_sdk": vs_sdk,
            "large_vs_small": growth,
            "scaling": scaling.iter().map(|(f, t, s)| json!({"from": f, "to": t, "speedup": s})).collect::<Vec<_>>(),
        },
        "targets": { "sync_vs_sdk_min": SDK_TARGET, "large_vs_small_max": GROWTH_TARGET, "scaling_1_to_4_min": SCALING_TARGET, "scaling_beyond_min": SCALING_FLOOR, "met": met },
    });
    fs::write(&out, format!("{json:#}\n")).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(met || !options.check)
}

fn prepare(small: usize, large: usize) -> Result<Setup, String> {
    let binaries = bench_setup::build_release("bench sync")?;
    let python = sdk_env::ensure_python()?;
    let dir = bench_setup::target_dir().join("bench").join("sync");
    tooling::remove_dir(&dir)?;
    let photos = dir.join("photos");
    fs::create_dir_all(&photos).map_err(|e| format!("{}: {e}", photos.display()))?;
    let server = binaries.server;

    let base_photo = dir.join("base.jpg");
    tooling::output(
        Command::new(&binaries.tool)
            .args(["make-jpeg", "--bytes", &PHOTO_BYTES.to_string(), "--out"])
            .arg(&base_photo),
    )?;
    let jpeg = fs::read(&base_photo).map_err(|e| format!("{}: {e}", base_photo.display()))?;
    for i in 0..large {
        let path = photos.join(photo_name(i));
        fs::write(&path, distinct(&jpeg, i)?).map_err(|e| format!("{}: {e}", path.display()))?;
    }

    let directory = dir.join("directory.json");
    bench_setup::write_directory(&directory, large)?;
    let map = |count: usize, name: &str| -> Result<PathBuf, String> {
        let path = dir.join(name);
        let rows: String = (0..count)
            .map(|i| format!("photos/{},users/{}\n", photo_name(i), user_id(i)))
            .collect();
        fs::write(&path, format!("file,target\n{rows}"))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    };
    let small_map = map(small, "map-small.csv")?;
    let large_map = map(large, "map-large.csv")?;
    let token = stdout_of(
        Command::new(&server)
            .args([
                "token",
                "--app",
                "--roles",
                "ProfilePhoto.ReadWrite.All",
                "--data-dir",
            ])
            .arg(&dir)
            .arg("--directory")
            .arg(&directory),
    )?
    .trim()
    .to_owned();
    Ok(Setup {
        dir,
        server,
        python,
        directory,
        small_map,
        large_map,
        token,
    })
}

fn photo_name(i: usize) -> String {
    format!("p{i:05}.jpg")
}

/// `jpeg` with a comment segment (COM) naming `i` right after its start-of-image marker: the
/// same picture, another file (another content hash, another ETag).
fn distinct(jpeg: &[u8], i: usize) -> Result<Vec<u8>, String> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return Err("make-jpeg did not make a JPEG".into());
    }
    let comment = format!("graph-photo bench sync photo {i}");
    let length = u16::try_from(comment.len() + 2).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(jpeg.len() + comment.len() + 4);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(comment.as_bytes());
    out.extend_from_slice(&jpeg[2..]);
    Ok(out)
}

struct Server {
    _running: Running,
    listen: String,
    pid: u32,
}

/// CPU time from /proc (Linux): the server's, and that of this process's waited-for children
/// (each client runs as one child, `taskset` exec'ing it).
struct Clock {
    server_pid: u32,
    ticks_per_second: f64,
}

impl Clock {
    fn new(server_pid: u32) -> Clock {
        let ticks = tooling::output(Command::new("getconf").arg("CLK_TCK"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(100.0);
        Clock {
            server_pid,
            ticks_per_second: ticks,
        }
    }

    /// Runs `client`, which returns its wall time and, when it measures it itself, its CPU
    /// time; adds the CPU times the client process and the server used meanwhile.
    fn time(
        &self,
        client: impl FnOnce() -> Result<(f64, Option<f64>), String>,
    ) -> Result<Timed, String> {
        let server = format!("/proc/{}/stat", self.server_pid);
        let before = (cpu_ticks(&server, 11)?, cpu_ticks("/proc/self/stat", 13)?);
        let (wall, own_cpu) = client()?;
        let after = (cpu_ticks(&server, 11)?, cpu_ticks("/proc/self/stat", 13)?);
        Ok(Timed {
            wall,
            server_cpu: (after.0 - before.0) / self.ticks_per_second,
            client_cpu: own_cpu.unwrap_or((after.1 - before.1) / self.ticks_per_second),
        })
    }
}

/// The sum of two consecutive time fields of a /proc stat file, counted from the field after
/// the command name (utime and stime at 11, cutime and cstime at 13).
fn cpu_ticks(path: &str, index: usize) -> Result<f64, String> {
    let stat = fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    parse_ticks(&stat, index).ok_or_else(|| format!("{path}: unexpected content {stat:?}"))
}

fn parse_ticks(stat: &str, index: usize) -> Option<f64> {
    // The command name is in parentheses and may hold spaces or parentheses itself.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let a: f64 = fields.get(index)?.parse().ok()?;
    let b: f64 = fields.get(index + 1)?.parse().ok()?;
    Some(a + b)
}

fn start_server(setup: &Setup) -> Result<Server, String> {
    let running = serve(&setup.server, &setup.dir, &setup.directory, Some("memory"))?;
    Ok(Server {
        listen: running.listen.clone(),
        pid: running.pid(),
        _running: running,
    })
}

/// The SDK's loop over the small map: its own wall and CPU time of the loop (seconds), without
/// the interpreter's start, the imports and the warm-up upload.
fn sdk_loop(setup: &Setup, base: &str, photos: usize) -> Result<(f64, Option<f64>), String> {
    let script = crate::workspace_root()
        .join("xtask")
        .join("bench")
        .join("sdk_sync.py");
    let out = stdout_of(
        Command::new("taskset")
            .args(["-c", "1"])
            .arg(&setup.python)
            .arg(script)
            .arg(base)
            .arg(&setup.token)
            .arg(&setup.dir)
            .arg(&setup.small_map),
    )?;
    let value: Value = serde_json::from_str(out.trim())
        .map_err(|e| format!("sdk_sync.py printed {out:?}: {e}"))?;
    if value["uploaded"].as_u64() != Some(photos as u64) {
        return Err(format!("sdk_sync.py: {value}"));
    }
    let seconds = value["seconds"]
        .as_f64()
        .ok_or_else(|| format!("sdk_sync.py: {value}"))?;
    Ok((seconds, value["cpu_seconds"].as_f64()))
}

/// One `graph-photo sync` of `map` with a fresh state file: the process's wall time (seconds).
fn sync(
    setup: &Setup,
    base: &str,
    map: &Path,
    photos: usize,
    concurrency: u32,
) -> Result<(f64, Option<f64>), String> {
    let state = setup.dir.join("state.json");
    for stale in [state.clone(), setup.dir.join("state.json.journal")] {
        match fs::remove_file(&stale) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("{}: {e}", stale.display()))
            }
            _ => {}
        }
    }
    let mut command = Command::new("taskset");
    command
        .args(["-c", "1"])
        .arg(&setup.server)
        .arg("sync")
        .arg(&setup.dir)
        .arg("--map")
        .arg(map)
        .args(["--base", base, "--concurrency", &concurrency.to_string()])
        .arg("--state")
        .arg(&state)
        .env("GRAPH_PHOTO_TOKEN", &setup.token)
        .env("GRAPH_PHOTO_LOG", "warn")
        .stdin(Stdio::null());
    let started = Instant::now();
    let out = command
        .output()
        .map_err(|e| format!("cannot run graph-photo sync: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let expected = format!("uploaded {photos}, skipped 0, failed 0");
    if !out.status.success() || !stdout.contains(&expected) {
        return Err(format!(
            "graph-photo sync (concurrency {concurrency}) did not upload all {photos}: {}\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((seconds, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let o = parse(&[]).unwrap();
        assert_eq!((o.rounds, o.photos, o.check), (5, SMALL, false));
        let o = parse(&args(&["--rounds", "5", "--photos", "100", "--check"])).unwrap();
        assert_eq!((o.rounds, o.photos, o.check), (5, 100, true));
        assert!(parse(&args(&["--rounds", "0"])).is_err());
        assert!(parse(&args(&["--photos"])).is_err());
        assert!(parse(&args(&["--bogus"])).is_err());
    }

    #[test]
    fn cpu_times_are_read_after_the_command_name() {
        // pid (comm) state, then fields 4.. : utime and stime are fields 14 and 15, cutime and
        // cstime 16 and 17 (1-based, proc(5)).
        let stat = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 110 120 130 140 20 0";
        assert_eq!(parse_ticks(stat, 11), Some(230.0));
        assert_eq!(parse_ticks(stat, 13), Some(270.0));
        assert_eq!(parse_ticks("garbage", 11), None);
    }

    #[test]
    fn distinct_photos_stay_jpegs_and_differ() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xDB, 1, 2, 3];
        let a = distinct(&jpeg, 1).unwrap();
        let b = distinct(&jpeg, 2).unwrap();
        assert_ne!(a, b);
        assert_eq!(&a[..4], &[0xFF, 0xD8, 0xFF, 0xFE]);
        let length = usize::from(u16::from_be_bytes([a[4], a[5]]));
        assert_eq!(
            &a[4 + length..],
            &jpeg[2..],
            "the picture follows the comment"
        );
        assert!(distinct(b"GIF89a", 0).is_err());
    }
}
