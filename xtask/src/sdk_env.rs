//! `cargo xtask sdk-env`: the official Graph SDKs that `tests/tests/official_sdks.rs` drives,
//! installed under `target/sdk-env/` from the pins in `tests/sdk/`:
//!
//! - `python/`: a venv (`python3 -m venv`) with `tests/sdk/requirements.txt`;
//! - `js/`: a copy of `tests/sdk/package.json` and `package-lock.json`, `npm ci`ed.
//!
//! Idempotent and quick when nothing changed: each environment keeps a hash of the files it was
//! made from (and of the interpreter's version) and is rebuilt only when they differ.
//! Progress goes to stderr; stdout gets the two variables the test reads, as `export` lines, so
//! `eval "$(cargo xtask sdk-env)"` works.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The variable naming a python that has msgraph-sdk.
pub(crate) const PYTHON_VAR: &str = "GRAPH_PHOTO_SDK_PYTHON";
/// The variable naming a directory with `node_modules/@microsoft/microsoft-graph-client`.
pub(crate) const JS_DIR_VAR: &str = "GRAPH_PHOTO_SDK_JS_DIR";

/// The file each environment keeps the hash of its inputs in.
const STAMP: &str = ".graph-photo-sdk-env";

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

fn python_env(sdk: &Path, dir: &Path) -> Result<PathBuf, String> {
    let requirements = sdk.join("requirements.txt");
    let system_python = std::env::var_os("PYTHON")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| OsString::from("python3"));
    let version = output(Command::new(&system_python).arg("--version"))?;
    let stamp = stamp_of(&[&requirements], &version)?;
    let python = dir.join("bin").join("python");
    if python.exists() && read_stamp(dir).as_deref() == Some(stamp.as_str()) {
        eprintln!(
            "xtask sdk-env: python environment up to date ({})",
            dir.display()
        );
        return Ok(python);
    }

    eprintln!(
        "xtask sdk-env: creating the python environment in {} ({})",
        dir.display(),
        version.trim()
    );
    remove_dir(dir)?;
    run_step(Command::new(&system_python).args(["-m", "venv"]).arg(dir))?;
    run_step(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
                "-r",
            ])
            .arg(&requirements),
    )?;
    run_step(Command::new(&python).args(["-c", "import msgraph, kiota_abstractions"]))?;
    write_stamp(dir, &stamp)?;
    Ok(python)
}

fn js_env(sdk: &Path, dir: &Path) -> Result<PathBuf, String> {
    let package = sdk.join("package.json");
    let lock = sdk.join("package-lock.json");
    let version = output(Command::new("node").arg("--version"))?;
    let stamp = stamp_of(&[&package, &lock], &version)?;
    let installed = dir
        .join("node_modules")
        .join("@microsoft")
        .join("microsoft-graph-client")
        .join("package.json");
    if installed.exists() && read_stamp(dir).as_deref() == Some(stamp.as_str()) {
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
    remove_dir(dir)?;
    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    for file in [&package, &lock] {
        let to = dir.join(file.file_name().unwrap_or_default());
        fs::copy(file, &to).map_err(|e| format!("copying {}: {e}", file.display()))?;
    }
    run_step(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir),
    )?;
    if !installed.exists() {
        return Err(format!("npm ci left no {}", installed.display()));
    }
    write_stamp(dir, &stamp)?;
    Ok(dir.to_path_buf())
}

/// A hash of the files' contents and of `extra` (the interpreter's version): FNV-1a, 64 bits,
/// which is plenty to notice an edited pin.
fn stamp_of(files: &[&Path], extra: &str) -> Result<String, String> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for file in files {
        let contents = fs::read(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
        feed(&(contents.len() as u64).to_le_bytes());
        feed(&contents);
    }
    feed(extra.as_bytes());
    Ok(format!("{hash:016x}"))
}

fn read_stamp(dir: &Path) -> Option<String> {
    fs::read_to_string(dir.join(STAMP))
        .ok()
        .map(|s| s.trim().to_owned())
}

fn write_stamp(dir: &Path, stamp: &str) -> Result<(), String> {
    let path = dir.join(STAMP);
    fs::write(&path, format!("{stamp}\n")).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn remove_dir(dir: &Path) -> Result<(), String> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("removing {}: {e}", dir.display())),
    }
}

/// Runs a command with stdout sent to our stderr (stdout is for the variables).
fn run_step(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    eprintln!("xtask sdk-env: {shown}");
    let status = command
        .stdout(std::io::stderr())
        .status()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed: {status}"))
    }
}

/// A command's stdout (and stderr: `python --version` printed there before 3.4).
fn output(command: &mut Command) -> Result<String, String> {
    let shown = format!("{command:?}");
    let out = command
        .output()
        .map_err(|e| format!("cannot run {shown} (is it installed?): {e}"))?;
    if !out.status.success() {
        return Err(format!("{shown} failed: {}", out.status));
    }
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
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
    fn stamps_change_with_contents_and_version() {
        let dir = std::env::temp_dir().join(format!("xtask-sdk-env-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("requirements.txt");
        fs::write(&file, "a==1\n").unwrap();
        let one = stamp_of(&[&file], "Python 3.11").unwrap();
        assert_eq!(one, stamp_of(&[&file], "Python 3.11").unwrap());
        assert_ne!(one, stamp_of(&[&file], "Python 3.12").unwrap());
        fs::write(&file, "a==2\n").unwrap();
        assert_ne!(one, stamp_of(&[&file], "Python 3.11").unwrap());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/a/b-c/python"), "/a/b-c/python");
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
    }
}
