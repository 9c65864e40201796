//! The IO side of `cargo xtask arch`: runs `cargo metadata` and `cargo tree` on the real
//! workspace, applies the pure rules of the parent module, and reports to the terminal.

use std::process::ExitCode;

use serde_json::Value;

use super::{
    check, check_codec_free, check_light, closure_names, Violation, CODEC_FREE, LIGHT_HOSTS,
};

/// The normal dependency closure of `krate`, features resolved as when building it alone
/// (without its default features when `no_default_features`).
fn load_closure(krate: &str, no_default_features: bool) -> Result<String, String> {
    let mut cargo = crate::cargo();
    cargo.args([
        "tree", "-p", krate, "-e", "normal", "--prefix", "none", "-f", "{p}",
    ]);
    if no_default_features {
        cargo.arg("--no-default-features");
    }
    let output = cargo
        .output()
        .map_err(|e| format!("could not run cargo tree: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo tree -p {krate} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| format!("cargo tree printed invalid UTF-8: {e}"))
}

/// Rule 5 against the real workspace.
pub(super) fn check_codecs_in_workspace() -> Result<Vec<Violation>, String> {
    let mut violations = Vec::new();
    for krate in CODEC_FREE {
        let tree = load_closure(krate, false)?;
        violations.extend(check_codec_free(krate, &closure_names(&tree)));
    }
    Ok(violations)
}

/// Rule 7 against the real workspace.
pub(super) fn check_light_hosts_in_workspace() -> Result<Vec<Violation>, String> {
    let mut violations = Vec::new();
    for host in LIGHT_HOSTS {
        let tree = load_closure(host.krate, host.no_default_features)?;
        violations.extend(check_light(host, &closure_names(&tree)));
    }
    Ok(violations)
}

/// Runs `cargo metadata --format-version 1 --no-deps` at the workspace root.
pub(crate) fn load_metadata() -> Result<Value, String> {
    let output = crate::cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("could not run cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("cargo metadata printed invalid JSON: {e}"))
}

/// The check against the real workspace, reporting to the terminal. `true` if clean.
pub(crate) fn check_workspace() -> bool {
    let metadata = match load_metadata() {
        Ok(metadata) => metadata,
        Err(e) => {
            eprintln!("architecture: error: {e}");
            return false;
        }
    };
    let mut violations = check(&metadata);
    for closures in [check_codecs_in_workspace, check_light_hosts_in_workspace] {
        match closures() {
            Ok(more) => violations.extend(more),
            Err(e) => {
                eprintln!("architecture: error: {e}");
                return false;
            }
        }
    }
    if violations.is_empty() {
        println!("architecture: ok");
        return true;
    }
    eprintln!("architecture: {} violation(s):", violations.len());
    for violation in &violations {
        eprintln!("{violation}");
    }
    false
}

/// `cargo xtask arch`.
pub(crate) fn run() -> ExitCode {
    if check_workspace() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
