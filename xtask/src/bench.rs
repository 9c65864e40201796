//! `cargo xtask bench`: rendition generation against libvips, measured in the same run.
//!
//! 1. checks the baseline is available: libvips from Debian (`vips --version`; else it prints the
//!    `apt-get` command and fails) and pyvips in a venv, `target/bench-env` (pinned in
//!    `xtask/bench/requirements.txt`; rebuilt only when the pin or the interpreter changes);
//! 2. `cargo bench -p photo-render --bench renditions`: generates `target/bench/input-3000.jpg`,
//!    times `render_all` and writes `target/bench/ours.json`;
//! 3. `xtask/bench/vips_renditions.py` on the same input, with `VIPS_CONCURRENCY` set to the
//!    number of cores: the same nine outputs, two ways, timed inside the process; writes
//!    `target/bench/vips.json`;
//! 4. checks both made the nine sizes with the right dimensions, prints the table and the ratio
//!    ours / libvips (the faster libvips variant; lower is better, the target is <= 1.0), and
//!    writes `target/bench/report.json` and `target/bench/report.md`.
//!
//! `--runs N` (default 15, at least 7) sets the timed runs of each side; `--check` makes a ratio
//! above the target a failure.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::tooling;

/// The square sizes both sides must produce.
const SIZES: [u64; 9] = [48, 64, 96, 120, 240, 360, 432, 504, 648];
/// Ours / libvips at or below which the target is met.
const TARGET_RATIO: f64 = 1.0;
const DEFAULT_RUNS: u32 = 15;
const MIN_RUNS: u32 = 7;
/// The file the venv keeps the hash of its inputs in.
const APT_HINT: &str = "apt-get update && apt-get install -y libvips-tools libvips42 python3-venv";

struct Options {
    runs: u32,
    check: bool,
}

/// `cargo xtask bench [--runs N] [--check]`.
pub(crate) fn run(args: &[String]) -> ExitCode {
    let options = match parse(args) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("xtask bench: {error}\n\nUsage: cargo xtask bench [--runs N] [--check]");
            return ExitCode::from(2);
        }
    };
    match bench(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("xtask bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        runs: DEFAULT_RUNS,
        check: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => options.check = true,
            "--runs" => {
                let value = args.next().ok_or("--runs needs a value")?;
                options.runs = value
                    .parse()
                    .map_err(|e| format!("--runs {value:?}: {e}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if options.runs < MIN_RUNS {
        return Err(format!("--runs must be at least {MIN_RUNS}"));
    }
    Ok(options)
}

/// Runs both sides and reports; `Ok(false)` when `--check` and the target is missed.
fn bench(options: &Options) -> Result<bool, String> {
    let root = crate::workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| root.join(d))
        .unwrap_or_else(|| root.join("target"));
    let dir = target.join("bench");
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    // 1. The baseline.
    let vips_version = tooling::output(Command::new("vips").arg("--version"))
        .map_err(|e| {
            format!("libvips is needed for the baseline ({e}); install it with\n  {APT_HINT}")
        })?
        .trim()
        .to_owned();
    let python = python_env(&root.join("xtask").join("bench"), &target.join("bench-env"))?;

    // 2. Ours.
    let load_before_ours = load_average();
    let status = crate::cargo()
        .args(["bench", "-p", "photo-render", "--bench", "renditions"])
        .env("GRAPH_PHOTO_BENCH_DIR", &dir)
        .env("BENCH_RUNS", options.runs.to_string())
        .status()
        .map_err(|e| format!("cannot run cargo bench: {e}"))?;
    if !status.success() {
        return Err(format!("cargo bench failed: {status}"));
    }
    let ours = read_json(&dir.join("ours.json"))?;

    // 3. libvips.
    let load_before_vips = load_average();
    let input = dir.join("input-3000.jpg");
    let vips_json = dir.join("vips.json");
    let script = root.join("xtask").join("bench").join("vips_renditions.py");
    let status = Command::new(&python)
        .arg(&script)
        .arg("--input")
        .arg(&input)
        .arg("--json")
        .arg(&vips_json)
        .arg("--out-dir")
        .arg(dir.join("vips"))
        .args(["--runs", &options.runs.to_string()])
        .env("VIPS_CONCURRENCY", cores.to_string())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !status.success() {
        return Err(format!("{} failed: {status}", script.display()));
    }
    let vips = read_json(&vips_json)?;

    // 4. Check, compare, report.
    check_outputs("render_all", &ours["outputs"])?;
    let mut variants = Vec::new();
    for name in ["per-size", "decode-once"] {
        let variant = &vips["variants"][name];
        check_outputs(&format!("libvips {name}"), &variant["outputs"])?;
        variants.push((
            name,
            number(variant, "median_ms")?,
            number(variant, "min_ms")?,
        ));
    }
    let (ours_median, ours_min) = (number(&ours, "median_ms")?, number(&ours, "min_ms")?);
    let &(baseline_name, baseline_median, baseline_min) = variants
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .ok_or("no libvips variant")?;
    let ratio = ours_median / baseline_median;
    let ratio_min = ours_min / baseline_min;

    let machine = json!({
        "date": today(),
        "nproc": cores,
        "cpu": cpu_model(),
        "rustc": rustc_version(),
        "libvips": vips_version,
        "pyvips": vips["pyvips"].clone(),
        "vips_concurrency": cores,
        "loadavg_before_ours": load_before_ours,
        "loadavg_before_vips": load_before_vips,
    });
    let mut table = String::new();
    table.push_str("| what | median (ms) | min (ms) |\n|---|---:|---:|\n");
    table.push_str(&format!(
        "| ours: `render_all`, all 9 sizes (2 threads) | {ours_median:.1} | {ours_min:.1} |\n"
    ));
    for (name, median, min) in &variants {
        let mark = if *name == baseline_name {
            " (baseline)"
        } else {
            ""
        };
        table.push_str(&format!(
            "| libvips {name}{mark} | {median:.1} | {min:.1} |\n"
        ));
    }
    table.push_str(&format!(
        "| **ratio ours / libvips** (target <= {TARGET_RATIO:.1}) | **{ratio:.2}x** | {ratio_min:.2}x |\n"
    ));
    let decode_line = format!(
        "decode alone, for reference (medians): full size, ours (zune-jpeg) {:.1} ms, \
         libvips (libjpeg-turbo) {:.1} ms; libvips at 1/4 scale (shrink-on-load) {:.1} ms",
        number(&ours["decode_only"], "median_ms")?,
        number(&vips["decode_only"], "median_ms")?,
        number(&vips["decode_quarter"], "median_ms")?,
    );
    let machine_line = format!(
        "{} · {} core(s), {} · {} · libvips {} (pyvips {}, VIPS_CONCURRENCY={cores}) · input {} bytes, {} timed runs each · load average before ours {load_before_ours}, before libvips {load_before_vips}",
        machine["date"].as_str().unwrap_or("?"),
        cores,
        machine["cpu"].as_str().unwrap_or("?"),
        machine["rustc"].as_str().unwrap_or("?"),
        machine["libvips"].as_str().unwrap_or("?"),
        machine["pyvips"].as_str().unwrap_or("?"),
        ours["input"]["bytes"],
        options.runs,
    );
    let met = ratio <= TARGET_RATIO;
    let verdict = if met {
        format!("target met: {ratio:.2}x <= {TARGET_RATIO:.1}x")
    } else {
        format!("target NOT met: {ratio:.2}x > {TARGET_RATIO:.1}x")
    };

    println!("\n{table}\n{decode_line}\n{machine_line}\n{verdict}");
    let markdown = format!("{table}\n{decode_line}\n\n{machine_line}\n\n{verdict}\n");
    write(&dir.join("report.md"), &markdown)?;
    let report = json!({
        "machine": machine,
        "runs": options.runs,
        "ours": { "median_ms": ours_median, "min_ms": ours_min },
        "libvips": variants.iter().map(|(name, median, min)| {
            (name.to_string(), json!({ "median_ms": median, "min_ms": min }))
        }).collect::<serde_json::Map<_, _>>(),
        "baseline": baseline_name,
        "ratio_median": ratio,
        "ratio_min": ratio_min,
        "target": TARGET_RATIO,
        "met": met,
    });
    write(
        &dir.join("report.json"),
        &format!(
            "{}\n",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
    )?;
    println!("wrote {}", dir.join("report.md").display());
    Ok(met || !options.check)
}

/// Nine outputs, one per size, each `side` x `side`.
fn check_outputs(who: &str, outputs: &Value) -> Result<(), String> {
    let outputs = outputs
        .as_array()
        .ok_or_else(|| format!("{who}: no outputs in the report"))?;
    let found: Vec<(u64, u64, u64)> = outputs
        .iter()
        .map(|o| {
            let get = |key: &str| o[key].as_u64().unwrap_or(0);
            (get("side"), get("width"), get("height"))
        })
        .collect();
    let expected: Vec<(u64, u64, u64)> = SIZES.iter().map(|&s| (s, s, s)).collect();
    if found == expected {
        Ok(())
    } else {
        Err(format!(
            "{who} made (side, width, height) {found:?}, expected {expected:?}"
        ))
    }
}

fn number(value: &Value, key: &str) -> Result<f64, String> {
    value[key]
        .as_f64()
        .ok_or_else(|| format!("no number {key:?} in the report"))
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))
}

fn write(path: &Path, contents: &str) -> Result<(), String> {
    fs::write(path, contents).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn python_env(bench: &Path, dir: &Path) -> Result<PathBuf, String> {
    tooling::python_venv(
        "bench",
        &bench.join("requirements.txt"),
        dir,
        "import pyvips; pyvips.version(0)",
    )
    .map_err(|e| format!("{e}\n(python3 with venv and libvips are needed: {APT_HINT})"))
}

/// `rustc -V` (`$RUSTC` when set), or why it is unknown.
fn rustc_version() -> String {
    let rustc = std::env::var_os("RUSTC")
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "rustc".into());
    tooling::output(Command::new(rustc).arg("-V")).map_or_else(|e| e, |v| v.trim().to_owned())
}

/// The 1, 5 and 15 minute load averages (Linux), to tell a quiet machine from a busy one.
pub(crate) fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The CPU model from /proc/cpuinfo (Linux), else "unknown".
pub(crate) fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Today's date (UTC), YYYY-MM-DD.
pub(crate) fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_000), (2024, 10, 4));
    }

    #[test]
    fn arguments() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let o = parse(&args(&[])).unwrap();
        assert_eq!((o.runs, o.check), (DEFAULT_RUNS, false));
        let o = parse(&args(&["--runs", "9", "--check"])).unwrap();
        assert_eq!((o.runs, o.check), (9, true));
        assert!(parse(&args(&["--runs", "3"])).is_err());
        assert!(parse(&args(&["--runs"])).is_err());
        assert!(parse(&args(&["--fast"])).is_err());
    }

    #[test]
    fn outputs_are_checked() {
        let good: Vec<Value> = SIZES
            .iter()
            .map(|&s| json!({"side": s, "width": s, "height": s}))
            .collect();
        assert!(check_outputs("x", &Value::Array(good.clone())).is_ok());
        let mut bad = good.clone();
        bad[8] = json!({"side": 648, "width": 648, "height": 647});
        assert!(check_outputs("x", &Value::Array(bad)).is_err());
        assert!(check_outputs("x", &Value::Array(good[..8].to_vec())).is_err());
    }
}
