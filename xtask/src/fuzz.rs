//! `cargo xtask fuzz [--seconds N] [--sanitizer none|address] [TARGET...]`: runs the cargo-fuzz
//! targets of `fuzz/` (its own workspace) one after the other for N seconds each, then prints
//! executions, exec/s and crashes per target from libFuzzer's final stats (docs/FUZZING.md).
//!
//! cargo-fuzz needs nightly flags; on a stable toolchain they are allowed with
//! `RUSTC_BOOTSTRAP=1`, which this sets. The committed seeds (`fuzz/seeds/<target>`) are read;
//! what the fuzzer finds goes to `fuzz/corpus/<target>` (not committed) and crashes to
//! `fuzz/artifacts/<target>`.

use std::process::{Command, ExitCode};

use crate::{cargo, workspace_root};

/// Every target of fuzz/Cargo.toml.
const TARGETS: [&str; 4] = ["path_grammar", "validate", "auth_token", "etag_condition"];
const DEFAULT_SECONDS: u64 = 60;

struct Options {
    seconds: u64,
    sanitizer: String,
    targets: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        seconds: DEFAULT_SECONDS,
        // ASan needs a nightly std built with it; `none` works everywhere and still catches
        // panics, overflows (debug assertions) and out-of-bounds slicing.
        sanitizer: "none".to_owned(),
        targets: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().ok_or("--seconds needs a value")?;
                options.seconds = value
                    .parse()
                    .map_err(|_| format!("--seconds: not a number: {value}"))?;
            }
            "--sanitizer" => {
                options.sanitizer = args.next().ok_or("--sanitizer needs a value")?.clone();
            }
            target if TARGETS.contains(&target) => options.targets.push(target.to_owned()),
            other => {
                return Err(format!(
                    "unknown argument or target `{other}` (targets: {})",
                    TARGETS.join(", ")
                ))
            }
        }
    }
    if options.targets.is_empty() {
        options.targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    }
    Ok(options)
}

/// What one run reported.
struct Outcome {
    target: String,
    executions: Option<u64>,
    per_second: Option<u64>,
    crashed: bool,
    artifact: Option<String>,
}

/// Reads `stat::number_of_executed_units: N` style lines and the crash artifact, if any.
fn outcome(target: &str, log: &str, success: bool) -> Outcome {
    let stat = |name: &str| {
        log.lines().rev().find_map(|line| {
            line.trim()
                .strip_prefix(name)?
                .trim_start_matches(':')
                .trim()
                .parse::<u64>()
                .ok()
        })
    };
    let artifact = log.lines().find_map(|line| {
        let at = line.find("Test unit written to ")?;
        Some(line[at + "Test unit written to ".len()..].trim().to_owned())
    });
    Outcome {
        target: target.to_owned(),
        executions: stat("stat::number_of_executed_units"),
        per_second: stat("stat::average_exec_per_sec"),
        crashed: !success || artifact.is_some(),
        artifact,
    }
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    let installed = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if installed {
        return Ok(());
    }
    eprintln!("xtask fuzz: cargo-fuzz is missing; installing it");
    crate::tooling::run_step("fuzz", cargo().args(["install", "cargo-fuzz", "--locked"]))
}

fn run_target(options: &Options, target: &str) -> Result<Outcome, String> {
    let fuzz_dir = workspace_root().join("fuzz");
    let corpus = fuzz_dir.join("corpus").join(target);
    std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
    let seeds = fuzz_dir.join("seeds").join(target);
    let mut command = Command::new(crate::cargo_bin());
    command
        .current_dir(&fuzz_dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "run", "--sanitizer", &options.sanitizer, target])
        .arg(&corpus)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={}", options.seconds))
        .arg("-print_final_stats=1");
    eprintln!(
        "xtask fuzz: {target} for {} s (building it first if needed)",
        options.seconds
    );
    let out = command
        .output()
        .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let result = outcome(target, &log, out.status.success());
    if result.crashed || result.executions.is_none() {
        // The tail of the log says why (the panic message, a build error, ...).
        let lines: Vec<&str> = log.lines().collect();
        for line in &lines[lines.len().saturating_sub(40)..] {
            eprintln!("  {line}");
        }
    }
    Ok(result)
}

pub(crate) fn run(args: &[String]) -> ExitCode {
    let options = match parse(args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = ensure_cargo_fuzz() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let mut outcomes = Vec::new();
    for target in &options.targets {
        match run_target(&options, target) {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let show = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
    println!(
        "{:<16} {:>14} {:>10} {:>8}",
        "target", "executions", "exec/s", "crashes"
    );
    for o in &outcomes {
        println!(
            "{:<16} {:>14} {:>10} {:>8}{}",
            o.target,
            show(o.executions),
            show(o.per_second),
            u8::from(o.crashed),
            o.artifact
                .as_deref()
                .map(|a| format!("  ({a})"))
                .unwrap_or_default()
        );
    }
    if outcomes.iter().any(|o| o.crashed) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_final_stats() {
        let log = "#1024 pulse cov: 10\nDone 123456 runs in 61 second(s)\n\
                   stat::number_of_executed_units: 123456\nstat::average_exec_per_sec:     2023\n\
                   stat::new_units_added:          17\n";
        let o = outcome("validate", log, true);
        assert_eq!(
            (o.executions, o.per_second, o.crashed),
            (Some(123456), Some(2023), false)
        );
        let crash = "thread panicked\n==1== ERROR: libFuzzer: deadly signal\n\
                     artifact_prefix='x/'; Test unit written to fuzz/artifacts/validate/crash-abc\n\
                     stat::number_of_executed_units: 99\n";
        let o = outcome("validate", crash, false);
        assert!(o.crashed);
        assert_eq!(
            o.artifact.as_deref(),
            Some("fuzz/artifacts/validate/crash-abc")
        );
        assert_eq!(o.executions, Some(99));
    }

    #[test]
    fn parses_seconds_and_targets() {
        let args: Vec<String> = ["--seconds", "5", "validate"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let options = parse(&args).expect("valid");
        assert_eq!(
            (options.seconds, options.targets),
            (5, vec!["validate".to_owned()])
        );
        assert!(parse(&["nope".to_owned()]).is_err());
        assert_eq!(parse(&[]).expect("defaults").targets.len(), TARGETS.len());
    }
}
