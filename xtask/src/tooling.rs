//! What `sdk-env` and `bench` share: running tools, and environments rebuilt only when the files
//! they were made from change (a stamp of their contents is kept inside the environment).

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The file an environment keeps the stamp of its inputs in.
const STAMP: &str = ".graph-photo-env-stamp";

/// A hash of the files' contents and of `extra` (an interpreter's version): FNV-1a, 64 bits,
/// which is plenty to notice an edited pin.
pub(crate) fn stamp_of(files: &[&Path], extra: &str) -> Result<String, String> {
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

/// Whether the environment in `dir` was made from inputs with this stamp.
pub(crate) fn is_current(dir: &Path, stamp: &str) -> bool {
    fs::read_to_string(dir.join(STAMP)).is_ok_and(|s| s.trim() == stamp)
}

pub(crate) fn write_stamp(dir: &Path, stamp: &str) -> Result<(), String> {
    let path = dir.join(STAMP);
    fs::write(&path, format!("{stamp}\n")).map_err(|e| format!("writing {}: {e}", path.display()))
}

pub(crate) fn remove_dir(dir: &Path) -> Result<(), String> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("removing {}: {e}", dir.display())),
    }
}

/// Runs a command with its stdout sent to our stderr (our stdout may carry results).
pub(crate) fn run_step(who: &str, command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    eprintln!("xtask {who}: {shown}");
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

/// A command's stdout and stderr (`python --version` printed on stderr before 3.4).
pub(crate) fn output(command: &mut Command) -> Result<String, String> {
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

/// A venv in `dir` with the pins of `requirements` installed, whose python runs `check`
/// successfully; made again only when the pins or the system python's version change.
/// Returns its python. The system python is `$PYTHON`, else `python3`.
pub(crate) fn python_venv(
    who: &str,
    requirements: &Path,
    dir: &Path,
    check: &str,
) -> Result<PathBuf, String> {
    let system_python = std::env::var_os("PYTHON")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| OsString::from("python3"));
    let version = output(Command::new(&system_python).arg("--version"))?;
    let stamp = stamp_of(&[requirements], &version)?;
    let python = dir.join("bin").join("python");
    if python.exists() && is_current(dir, &stamp) {
        eprintln!(
            "xtask {who}: python environment up to date ({})",
            dir.display()
        );
        return Ok(python);
    }
    eprintln!(
        "xtask {who}: creating the python environment in {} ({})",
        dir.display(),
        version.trim()
    );
    remove_dir(dir)?;
    run_step(
        who,
        Command::new(&system_python).args(["-m", "venv"]).arg(dir),
    )?;
    run_step(
        who,
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
            .arg(requirements),
    )?;
    run_step(who, Command::new(&python).args(["-c", check]))?;
    write_stamp(dir, &stamp)?;
    Ok(python)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_change_with_contents_and_version() {
        let dir = std::env::temp_dir().join(format!("xtask-tooling-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("requirements.txt");
        fs::write(&file, "a==1\n").unwrap();
        let one = stamp_of(&[&file], "Python 3.11").unwrap();
        assert_eq!(one, stamp_of(&[&file], "Python 3.11").unwrap());
        assert_ne!(one, stamp_of(&[&file], "Python 3.12").unwrap());
        write_stamp(&dir, &one).unwrap();
        assert!(is_current(&dir, &one));
        fs::write(&file, "a==2\n").unwrap();
        let two = stamp_of(&[&file], "Python 3.11").unwrap();
        assert_ne!(one, two);
        assert!(!is_current(&dir, &two));
        let _ = fs::remove_dir_all(&dir);
    }
}
