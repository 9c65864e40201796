//! Project automation, rust-analyzer style: `cargo xtask <subcommand>`.
//!
//! Deliberately dependency-light (std + serde_json) so it builds in seconds on a
//! clean clone. Each subcommand lives in its own module; `main` only dispatches.

mod arch;
mod bench;
mod bench_http;
mod bench_memory;
mod bench_setup;
mod bench_store;
mod bench_sync;
mod ci;
mod fuzz;
mod sdk_env;
mod tooling;

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
            4. RUSTDOCFLAGS=\"-D warnings\" cargo doc --workspace --no-deps
            5. the official Graph SDKs for the end-to-end tests (as `cargo xtask sdk-env`)
            6. cargo test --workspace   (PROPTEST_CASES defaults to 64; GRAPH_PHOTO_SDK_PYTHON
               and GRAPH_PHOTO_SDK_JS_DIR from step 5; doc examples included)
  arch    Check the hexagonal dependency rules against `cargo metadata` and, for the crates
          a host embeds alone, `cargo tree -e normal`
  sdk-env Create (or reuse, when tests/sdk's pins are unchanged) target/sdk-env/python (a venv
          with msgraph-sdk) and target/sdk-env/js (@microsoft/microsoft-graph-client), and print
          `export GRAPH_PHOTO_SDK_PYTHON=... GRAPH_PHOTO_SDK_JS_DIR=...` for `cargo test`:
            eval \"$(cargo xtask sdk-env)\" && cargo test -p e2e official_sdks
          Needs python3 (with venv and pip), node and npm. $PYTHON overrides python3.
  bench   Rendition generation against libvips in the same run (docs/PERFORMANCE.md): makes
          target/bench-env (a venv with pyvips; libvips itself comes from Debian's
          libvips-tools/libvips42), runs `cargo bench -p photo-core --bench renditions` and
          xtask/bench/vips_renditions.py on the same 3000x3000 JPEG, and prints the table and the
          ratio ours / libvips (target <= 1.0). Options: --runs N (default 15, at least 7);
          --check (fail when the ratio is above the target).
  bench store
          The stores under load (docs/PERFORMANCE.md, \"Stores\"): graph-photo serve on memory,
          SQLite and PostgreSQL (16 clients, PUT then GET of a 100 KB photo), each next to its
          engine's floor through the same driver, medians of rounds, ratios against the
          targets. Options: --rounds N (default 3); --seconds S (default 5); --check.
          PostgreSQL: $GRAPH_PHOTO_BENCH_DATABASE_URL, else the test database URL, else
          postgres://postgres@127.0.0.1:5432/test (databases are created on it).
  bench http
          graph-photo's HTTP path against a bare axum floor server (docs/PERFORMANCE.md, \"HTTP
          path against a bare axum server\"): both pinned to core 0, the load generator on core
          1, 16 keep-alive connections (one user each); PUT 4 MB, PUT 100 KB, GET $value and GET
          a cached 48x48, graph-photo then the floor, medians of rounds, ratios against the
          targets, the CPU both sides used; then peak RSS under 16 concurrent 4 MB uploads and
          under refused ones (401/404/412/413). Writes target/bench/http.json. Options:
          --rounds N (default 3); --seconds S (default 5); --store memory|sqlite|all (default
          all; sqlite is the default store); --check. Needs taskset (util-linux).
  bench sync
          Bulk upload (docs/PERFORMANCE.md, \"Bulk sync\"): graph-photo serve --store memory on
          core 0; on core 1, the official Python SDK (msgraph-sdk, in target/sdk-env/python as
          `sdk-env` makes it) uploading 1,000 small JPEGs in a sequential loop, then
          `graph-photo sync` of the same 1,000 at --concurrency 1, 4 and 16 and of 10,000 at the
          default concurrency, each with a fresh state file; medians of rounds, ratios against
          the targets (sync >= 5x the SDK; 10,000 photos <= 11x the time of 1,000;
          concurrency 4 >= 1.5x concurrency 1, 16 not below 0.9x of 4) and the CPU each side
          used; target/bench/sync.json. Needs taskset, python3 with venv. Options: --rounds N
          (default 5); --photos N (default 1000; the large run is 10x); --check.
  fuzz    Run the cargo-fuzz targets of fuzz/ (docs/FUZZING.md), installing cargo-fuzz when
          missing, each for N seconds, and print executions, exec/s and crashes per target.
          Not part of `ci`. Options: --seconds N (default 60); --sanitizer none|address
          (default none); TARGET... (default all: path_grammar validate auth_token
          etag_condition).
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
    if !rest.is_empty() && matches!(subcommand, "ci" | "arch" | "sdk-env") {
        eprintln!(
            "error: `{subcommand}` takes no arguments (got {:?})\n\n{USAGE}",
            rest
        );
        return ExitCode::from(2);
    }

    match subcommand {
        "ci" => ci::run(),
        "arch" => arch::run(),
        "sdk-env" => sdk_env::run(),
        "bench" => match rest.split_first() {
            Some((first, rest)) if first == "store" => bench_store::run(rest),
            Some((first, rest)) if first == "http" => bench_http::run(rest),
            Some((first, rest)) if first == "sync" => bench_sync::run(rest),
            _ => bench::run(rest),
        },
        "fuzz" => fuzz::run(rest),
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
