//! `cargo xtask ci`: the checks CI runs, in order, stopping at the first failure.

use std::process::{Command, ExitCode};

/// Property tests run this many cases unless `PROPTEST_CASES` is already set.
const DEFAULT_PROPTEST_CASES: &str = "64";

/// One step of the pipeline.
enum Action {
    /// Run `cargo` with these arguments.
    Cargo(&'static [&'static str]),
    /// The in-process architecture check.
    Arch,
    /// The official SDKs for the end-to-end tests (`cargo xtask sdk-env`); the test step gets
    /// their variables.
    SdkEnv,
    /// `cargo run --example` of each of [`EXAMPLES`]: what README's "Embedding" promises runs.
    Examples,
}

/// The embedding examples (package, example): their `main`s, as a host would first run them.
/// Their tests run in the test step (`test = true` in their manifests).
const EXAMPLES: &[(&str, &str)] = &[
    ("graph-photo-examples", "custom_store"),
    ("graph-photo-examples", "own_directory"),
    ("graph-photo-examples", "mount_in_host"),
    ("graph-photo-examples", "batch_import"),
];

struct Step {
    name: &'static str,
    action: Action,
    /// Environment variables set for this step's command only.
    env: &'static [(&'static str, &'static str)],
}

const STEPS: &[Step] = &[
    Step {
        name: "fmt",
        action: Action::Cargo(&["fmt", "--all", "--", "--check"]),
        env: &[],
    },
    Step {
        name: "arch",
        action: Action::Arch,
        env: &[],
    },
    Step {
        name: "clippy",
        action: Action::Cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
        env: &[],
    },
    Step {
        // The documented library surface: broken or private intra-doc links, bare URLs and
        // malformed doc comments fail the build (the doc examples run in `test`).
        name: "doc",
        action: Action::Cargo(&["doc", "--workspace", "--no-deps"]),
        env: &[("RUSTDOCFLAGS", "-D warnings")],
    },
    Step {
        name: "sdk-env",
        action: Action::SdkEnv,
        env: &[],
    },
    Step {
        name: "test",
        action: Action::Cargo(&["test", "--workspace"]),
        env: &[],
    },
    Step {
        name: "examples",
        action: Action::Examples,
        env: &[],
    },
];

/// `cargo xtask ci`.
pub(crate) fn run() -> ExitCode {
    let total = STEPS.len();
    let mut sdk_env = None;
    for (i, step) in STEPS.iter().enumerate() {
        let n = i + 1;
        let ok = match step.action {
            Action::Cargo(args) => {
                let mut cmd = crate::cargo();
                cmd.args(args);
                let mut shown = format!("cargo {}", args.join(" "));
                for (var, value) in step.env {
                    cmd.env(var, value);
                    shown = format!("{var}=\"{value}\" {shown}");
                }
                if step.name == "test" {
                    if let Some(cases) = proptest_cases_default() {
                        cmd.env("PROPTEST_CASES", cases);
                        shown = format!("PROPTEST_CASES={cases} {shown}");
                    }
                    if let Some(env) = &sdk_env {
                        for (var, value) in crate::sdk_env::SdkEnv::vars(env) {
                            cmd.env(var, value);
                            shown = format!("{var}={} {shown}", value.display());
                        }
                    }
                }
                println!("==> [{n}/{total}] {}: {shown}", step.name);
                run_command(&mut cmd)
            }
            Action::Arch => {
                println!(
                    "==> [{n}/{total}] {}: architecture check \
                     (cargo metadata --format-version 1 --no-deps)",
                    step.name
                );
                crate::arch::check_workspace()
            }
            Action::SdkEnv => {
                println!(
                    "==> [{n}/{total}] {}: the official Graph SDKs in target/sdk-env \
                     (as cargo xtask sdk-env)",
                    step.name
                );
                match crate::sdk_env::ensure() {
                    Ok(env) => {
                        sdk_env = Some(env);
                        true
                    }
                    Err(error) => {
                        eprintln!("xtask ci: {error}");
                        false
                    }
                }
            }
            Action::Examples => {
                println!(
                    "==> [{n}/{total}] {}: cargo run --example, for each of {}",
                    step.name,
                    EXAMPLES.len()
                );
                EXAMPLES.iter().all(|(package, example)| {
                    println!("--- cargo run -q -p {package} --example {example}");
                    run_command(crate::cargo().args([
                        "run",
                        "-q",
                        "-p",
                        package,
                        "--example",
                        example,
                    ]))
                })
            }
        };
        if !ok {
            eprintln!(
                "xtask ci: step {n}/{total} `{}` failed; later steps were not run",
                step.name
            );
            return ExitCode::FAILURE;
        }
    }
    println!("xtask ci: all {total} steps passed");
    ExitCode::SUCCESS
}

/// The `PROPTEST_CASES` value to set, or `None` when the environment already sets one.
fn proptest_cases_default() -> Option<&'static str> {
    match std::env::var_os("PROPTEST_CASES") {
        Some(v) if !v.is_empty() => None,
        _ => Some(DEFAULT_PROPTEST_CASES),
    }
}

/// Runs a command with inherited stdio; `true` on a zero exit.
fn run_command(cmd: &mut Command) -> bool {
    match cmd.status() {
        Ok(status) if status.success() => true,
        Ok(status) => {
            eprintln!("xtask ci: command exited with {status}");
            false
        }
        Err(e) => {
            eprintln!("xtask ci: could not start {:?}: {e}", cmd.get_program());
            false
        }
    }
}
