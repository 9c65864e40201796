//! `cargo xtask sdk-env`: the official Graph SDKs that `tests/tests/e2e/official_sdks.rs` drives,
//! installed under `target/sdk-env/` from the pins in `tests/sdk/`:
//!
//! - `python/`: a venv (`python3 -m venv`) with `tests/sdk/requirements.txt`;
//! - `js/`: a copy of `tests/sdk/package.json` and `package-lock.json`, `npm ci`ed.
//!
//! Idempotent and quick when nothing changed: each environment keeps a hash of the files it was
//! made from (and of the interpreter's version) and is rebuilt only when they differ.
//! Progress goes to stderr; stdout gets the two variables the test reads, as `export` lines, so
//! `eval "$(cargo xtask sdk-env)"` works.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::tooling;

/// The variable naming a python that has msgraph-sdk.
pub(crate) const PYTHON_VAR: &str = "GRAPH_PHOTO_SDK_PYTHON";
/// The variable naming a directory with `node_modules/@microsoft/microsoft-graph-client`.
pub(crate) const JS_DIR_VAR: &str = "GRAPH_PHOTO_SDK_JS_DIR";

/// Where the SDKs are.
pub(crate) struct SdkEnv {
    pub(crate) python: PathBuf,
    pub(crate) js_dir: PathBuf,
}

impl SdkEnv {
    /// The variables for `cargo test`.
    pub(crate) fn vars(&self) -> [(&'static str, &Path); 2] {
        [
            (PYTHON_VAR, self.python.as_path()),
            (JS_DIR_VAR, self.js_dir.as_path()),
        ]
    }
}

/// `cargo xtask sdk-env`.
pub(crate) fn run() -> ExitCode {
    match ensure() {
        Ok(env) => {
            for (var, value) in env.vars() {
                println!("export {var}={}", shell_quote(&value.to_string_lossy()));
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("xtask sdk-env: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Creates (or reuses) both environments.
pub(crate) fn ensure() -> Result<SdkEnv, String> {
    let root = crate::workspace_root();
    let sdk = root.join("tests").join("sdk");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| root.join(d))
        .unwrap_or_else(|| root.join("target"));
    let base = target.join("sdk-env");
    let python = python_env(&sdk, &base.join("python"))?;
    let js_dir = js_env(&sdk, &base.join("js"))?;
    Ok(SdkEnv { python, js_dir })
}

/// Creates (or reuses) the Python environment alone (`cargo xtask bench sync` needs no node).
pub(crate) fn ensure_python() -> Result<PathBuf, String> {
    let root = crate::workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| root.join(d))
        .unwrap_or_else(|| root.join("target"));
    python_env(
        &root.join("tests").join("sdk"),
        &target.join("sdk-env").join("python"),
    )
}

fn python_env(sdk: &Path, dir: &Path) -> Result<PathBuf, String> {
    tooling::python_venv(
        "sdk-env",
        &sdk.join("requirements.txt"),
        dir,
        "import msgraph, kiota_abstractions",
    )
}

fn js_env(sdk: &Path, dir: &Path) -> Result<PathBuf, String> {
    let package = sdk.join("package.json");
    let lock = sdk.join("package-lock.json");
    let version = tooling::output(Command::new("node").arg("--version"))?;
    let stamp = tooling::stamp_of(&[&package, &lock], &version)?;
    let installed = dir
        .join("node_modules")
        .join("@microsoft")
        .join("microsoft-graph-client")
        .join("package.json");
    if installed.exists() && tooling::is_current(dir, &stamp) {
        eprintln!(
            "xtask sdk-env: node environment up to date ({})",
            dir.display()
        );
        return Ok(dir.to_path_buf());
    }

    eprintln!(
        "xtask sdk-env: creating the node environment in {} (node {})",
        dir.display(),
        version.trim()
    );
    tooling::remove_dir(dir)?;
    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    for file in [&package, &lock] {
        let to = dir.join(file.file_name().unwrap_or_default());
        fs::copy(file, &to).map_err(|e| format!("copying {}: {e}", file.display()))?;
    }
    tooling::run_step(
        "sdk-env",
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir),
    )?;
    if !installed.exists() {
        return Err(format!("npm ci left no {}", installed.display()));
    }
    tooling::write_stamp(dir, &stamp)?;
    Ok(dir.to_path_buf())
}

/// `value` quoted for a POSIX shell when it needs it.
fn shell_quote(value: &str) -> String {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@".contains(c))
    {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/a/b-c/python"), "/a/b-c/python");
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
    }
}
