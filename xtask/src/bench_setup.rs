//! What the benchmarks of a running server (`bench store`, `bench http`) share: the release
//! binaries, the directory of users, the application token, `graph-photo serve` started on a
//! pinned core, and reading the load generator's reports.

use std::ffi::OsStr;
use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::tooling;

/// Concurrent clients, each on its own user.
pub(crate) const CLIENTS: usize = 16;
const TENANT: &str = "b3c1d2e4-0000-4000-8000-00000000beef";
/// The core the servers (and the storage floors) run on; the load generator gets the other.
pub(crate) const SERVER_CORE: &str = "0";
pub(crate) const CLIENT_CORE: &str = "1";
/// The file `graph-photo` keeps its development signing key in (dev-tokens'
/// `DEV_KEY_FILE_NAME`): copied into fresh data directories so one token serves them all.
const DEV_KEY_FILE: &str = "dev-signing-key.pem";
pub(crate) const TASKSET_HINT: &str =
    "taskset (util-linux) is needed to pin processes to cores: apt-get install -y util-linux";

/// The target directory (`$CARGO_TARGET_DIR`, else the workspace's `target`).
pub(crate) fn target_dir() -> PathBuf {
    let root = crate::workspace_root();
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| root.join(d))
        .unwrap_or_else(|| root.join("target"))
}

/// The release builds of `graph-photo` and `graph-photo-bench`.
pub(crate) struct Binaries {
    pub(crate) server: PathBuf,
    pub(crate) tool: PathBuf,
}

/// Builds both in release (and checks that `taskset` is there before spending the time).
pub(crate) fn build_release(who: &str) -> Result<Binaries, String> {
    tooling::output(Command::new("taskset").arg("--version"))
        .map_err(|e| format!("{e}\n{TASKSET_HINT}"))?;
    tooling::run_step(
        who,
        crate::cargo().args([
            "build",
            "--release",
            "-p",
            "graph-photo",
            "-p",
            "graph-photo-bench",
        ]),
    )?;
    let release = target_dir().join("release");
    Ok(Binaries {
        server: release.join("graph-photo"),
        tool: release.join("graph-photo-bench"),
    })
}

/// The object id of bench user `i`.
pub(crate) fn user_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

/// A user id no directory entry has (for 404s).
pub(crate) fn unknown_user_id(i: usize) -> String {
    format!("00000000-0000-4000-9000-{i:012}")
}

/// Writes the directory file: one tenant of `users` users, [`user_id`] 0 to `users - 1`.
pub(crate) fn write_directory(path: &Path, users: usize) -> Result<(), String> {
    let users: Vec<Value> = (0..users)
        .map(|i| {
            json!({ "id": user_id(i), "userPrincipalName": format!("bench{i}@bench.example"),
                    "displayName": format!("Bench {i}") })
        })
        .collect();
    let data = json!({ "tenants": [{ "id": TENANT, "displayName": "Bench", "users": users,
                                     "groups": [], "contactFolders": [], "contacts": [] }] });
    fs::write(path, data.to_string()).map_err(|e| format!("{}: {e}", path.display()))
}

/// An application token (`ProfilePhoto.ReadWrite.All`) signed with the key of `data_dir`
/// (made there when missing).
pub(crate) fn app_token(
    server: &Path,
    data_dir: &Path,
    directory: &Path,
) -> Result<String, String> {
    Ok(stdout_of(
        Command::new(server)
            .args([
                "token",
                "--app",
                "--roles",
                "ProfilePhoto.ReadWrite.All",
                "--data-dir",
            ])
            .arg(data_dir)
            .arg("--directory")
            .arg(directory),
    )?
    .trim()
    .to_owned())
}

/// A fresh data directory at `fresh` holding the signing key of `keyed` (so the token made
/// for `keyed` is valid there).
pub(crate) fn fresh_data_dir(keyed: &Path, fresh: &Path) -> Result<(), String> {
    tooling::remove_dir(fresh)?;
    fs::create_dir_all(fresh).map_err(|e| format!("{}: {e}", fresh.display()))?;
    fs::copy(keyed.join(DEV_KEY_FILE), fresh.join(DEV_KEY_FILE))
        .map(|_| ())
        .map_err(|e| format!("copying the signing key into {}: {e}", fresh.display()))
}

/// A command's stdout alone (`tooling::output` appends stderr, where the binary logs).
pub(crate) fn stdout_of(command: &mut Command) -> Result<String, String> {
    let shown = format!("{command:?}");
    let out = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{shown} failed: {}", out.status));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("{shown}: {e}"))
}

/// A server process, killed when dropped.
pub(crate) struct Running {
    child: Child,
    /// `HOST:PORT` it listens on.
    pub(crate) listen: String,
}

impl Running {
    /// Its process id (`taskset` execs the program, so it is the server's own).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `program args` pinned to [`SERVER_CORE`], with `--listen` on a free port appended,
/// and waits until it accepts connections.
pub(crate) fn start_pinned<I, S>(program: &Path, args: I, what: &str) -> Result<Running, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let listen = format!("127.0.0.1:{}", free_port()?);
    let child = Command::new("taskset")
        .args(["-c", SERVER_CORE])
        .arg(program)
        .args(args)
        .args(["--listen", &listen])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting {what}: {e}\n{TASKSET_HINT}"))?;
    let mut running = Running { child, listen };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&running.listen).is_err() {
        if Instant::now() > deadline {
            return Err(format!("{what} did not start"));
        }
        if let Ok(Some(status)) = running.child.try_wait() {
            return Err(format!("{what} exited: {status}"));
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(running)
}

/// `graph-photo serve` on `store` (`None`: the default store, SQLite in the data directory),
/// quiet, every other option at its default.
pub(crate) fn serve(
    server: &Path,
    data_dir: &Path,
    directory: &Path,
    store: Option<&str>,
) -> Result<Running, String> {
    let mut args: Vec<&OsStr> = vec![
        "serve".as_ref(),
        "--quiet".as_ref(),
        "--log-level".as_ref(),
        "warn".as_ref(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
        "--directory".as_ref(),
        directory.as_os_str(),
    ];
    if let Some(store) = store {
        args.push("--store".as_ref());
        args.push(store.as_ref());
    }
    let what = format!(
        "graph-photo serve on {}",
        store.unwrap_or("the default store")
    );
    start_pinned(server, args, &what)
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// The load generator's report, refused when any request failed: a benchmark of error
/// answers measures nothing.
pub(crate) fn report(out: &str, what: &str) -> Result<Value, String> {
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("{what}: no result in {out:?}"))?;
    let value: Value = serde_json::from_str(line).map_err(|e| format!("{what}: {e}"))?;
    if value["errors"].as_u64().unwrap_or(0) > 0 {
        return Err(format!("{what}: requests failed: {value}"));
    }
    if value["ops"].as_u64().unwrap_or(0) == 0 {
        return Err(format!("{what}: no request completed: {value}"));
    }
    Ok(value)
}

/// The rate of a report.
pub(crate) fn rate(out: &str, what: &str) -> Result<f64, String> {
    let value = report(out, what)?;
    value["ops_per_sec"]
        .as_f64()
        .ok_or_else(|| format!("{what}: {value}"))
}

/// The median (the upper one of an even count), `None` for no values.
pub(crate) fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.into_iter().collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_read_and_errors_refused() {
        let ok = r#"{"errors":0,"ops":10,"ops_per_sec":2.0,"seconds":5.0}"#;
        assert_eq!(rate(ok, "x").unwrap(), 2.0);
        let bad = r#"{"errors":3,"ops":10,"ops_per_sec":2.0,"seconds":5.0}"#;
        assert!(rate(bad, "x").is_err());
        let none = r#"{"errors":0,"ops":0,"ops_per_sec":0.0,"seconds":5.0}"#;
        assert!(rate(none, "x").is_err());
        assert!(rate("nothing", "x").is_err());
    }

    #[test]
    fn medians() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([]), None);
    }
}
