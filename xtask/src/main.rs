//! Project automation, rust-analyzer style: `cargo xtask <subcommand>`.
//!
//! Deliberately dependency-light (std + serde_json) so it builds in seconds on a
//! clean clone. Each subcommand lives in its own module; `main` only dispatches.

mod arch;
mod ci;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
Usage: cargo xtask <SUBCOMMAND>

Subcommands:
  ci      What CI runs, stopping at the first failing step:
            1. cargo fmt --all -- --check
            2. the architecture check (as `cargo xtask arch`)
            3. cargo clippy --workspace --all-targets -- -D warnings
            4. cargo test --workspace   (PROPTEST_CASES defaults to 64)
  arch    Check the hexagonal dependency rules against `cargo metadata`
  help    Print this message

Cargo is run via $CARGO when set, else `cargo`.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (subcommand, rest) = match args.split_first() {
        Some((first, rest)) => (first.as_str(), rest),
        None => {
            eprintln!("error: no subcommand given\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    // Subcommands that take no arguments reject stray ones rather than ignoring them.
    if !rest.is_empty() && matches!(subcommand, "ci" | "arch") {
        eprintln!(
            "error: `{subcommand}` takes no arguments (got {:?})\n\n{USAGE}",
            rest
        );
        return ExitCode::from(2);
    }

    match subcommand {
        "ci" => ci::run(),
        "arch" => arch::run(),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("error: unknown subcommand `{other}`\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The cargo binary to run: `$CARGO` (set by cargo for `cargo run`) or `cargo` on `PATH`.
fn cargo_bin() -> OsString {
    std::env::var_os("CARGO")
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| OsString::from("cargo"))
}

/// A `cargo` command rooted at the workspace root.
fn cargo() -> Command {
    let mut cmd = Command::new(cargo_bin());
    cmd.current_dir(workspace_root());
    cmd
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf)
}
