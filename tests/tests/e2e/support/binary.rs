//! The real `graph-photo` binary: find (or build) it, run its subcommands, run `graph-photo serve`
//! as a child process the way a user would (killed when dropped), and watch its memory. Data
//! directories are seeded with the committed test key.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server may take to print its banner.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Environment variables of the binary that must not leak in from the caller's shell.
const ENV_VARS: &[&str] = &[
    "GRAPH_PHOTO_LISTEN",
    "GRAPH_PHOTO_DATA_DIR",
    "GRAPH_PHOTO_DIRECTORY",
    "GRAPH_PHOTO_JWKS_FILE",
    "GRAPH_PHOTO_JWKS_URL",
    "GRAPH_PHOTO_AUDIENCES",
    "GRAPH_PHOTO_PUBLIC_URL",
    "GRAPH_PHOTO_LOG",
    "GRAPH_PHOTO_LOG_FORMAT",
    "GRAPH_PHOTO_NO_METRICS",
    "GRAPH_PHOTO_TLS_CERT",
    "GRAPH_PHOTO_TLS_KEY",
    "GRAPH_PHOTO_RENDER_MEMORY",
    "GRAPH_PHOTO_HEADER_TIMEOUT",
    "GRAPH_PHOTO_IDLE_TIMEOUT",
    "GRAPH_PHOTO_MAX_CONNECTIONS",
    "GRAPH_PHOTO_SHUTDOWN_GRACE",
    "GRAPH_PHOTO_MAX_UPLOAD_MEMORY",
    "GRAPH_PHOTO_UPLOAD_WAIT",
    "GRAPH_PHOTO_BODY_TIMEOUT",
    "GRAPH_PHOTO_BODY_MIN_RATE",
    "GRAPH_PHOTO_STORE",
    "GRAPH_PHOTO_THROTTLE",
    "GRAPH_PHOTO_THROTTLE_CONCURRENCY",
    "GRAPH_PHOTO_THROTTLE_RATE",
    "GRAPH_PHOTO_THROTTLE_APP_RATE",
    "GRAPH_PHOTO_THROTTLE_UPLOAD_BYTES",
    "GRAPH_PHOTO_FAIL_RATE",
    "GRAPH_PHOTO_FAIL_STATUS",
    "GRAPH_PHOTO_FAIL_SEED",
    "GRAPH_PHOTO_LATENCY",
];

/// A fresh data directory holding the committed test key as the development key, so that
/// `graph-photo serve`, `token` and `conformance` load it instead of generating one (seconds
/// per key in a debug build).
pub(crate) fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_test_key(dir.path());
    dir
}

/// Writes the committed test key into `dir` as the development key, readable by its owner only.
pub(crate) fn write_test_key(dir: &Path) {
    let path = dir.join(dev_tokens::DEV_KEY_FILE_NAME);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).unwrap();
    std::io::Write::write_all(&mut file, dev_tokens::TEST_KEY_PEM.as_bytes()).unwrap();
}

/// The `graph-photo` binary of this build: `target/<profile>/graph-photo`, next to the
/// directory of the test executable (`target/<profile>/deps/`), or `$GRAPH_PHOTO_BIN`.
///
/// `cargo test -p e2e` alone does not build other packages' binaries, so when the binary is
/// missing, or older than a source of the workspace's crates (it would test old code), this
/// runs `$CARGO build -p graph-photo --bin graph-photo` first. If that build fails (a broken
/// workspace) an existing binary is used, with a warning.
pub(crate) fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("GRAPH_PHOTO_BIN").filter(|p| !p.is_empty()) {
            return PathBuf::from(path);
        }
        let exe = std::env::current_exe().expect("the test executable's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test runs from target/<profile>/deps");
        let binary = profile_dir.join(format!("graph-photo{}", std::env::consts::EXE_SUFFIX));
        if is_stale(&binary) {
            if let Err(error) = build(profile_dir) {
                assert!(
                    binary.exists(),
                    "{error}, and {} is missing",
                    binary.display()
                );
                eprintln!("warning: {error}; using the existing {}", binary.display());
            }
        }
        assert!(
            binary.exists(),
            "{} is missing after building it",
            binary.display()
        );
        binary
    })
}

/// Whether `binary` is missing or older than the workspace's manifests or crate sources.
fn is_stale(binary: &Path) -> bool {
    let Some(built) = modified(binary) else {
        return true;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e package sits in the workspace root");
    let mut newest = [root.join("Cargo.toml"), root.join("Cargo.lock")]
        .iter()
        .filter_map(|p| modified(p))
        .max();
    let crates = std::fs::read_dir(root.join("crates")).into_iter().flatten();
    for krate in crates.flatten() {
        let mut stack = vec![krate.path().join("src")];
        newest = newest.max(modified(&krate.path().join("Cargo.toml")));
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    newest = newest.max(modified(&path));
                }
            }
        }
    }
    newest.is_some_and(|newest| newest > built)
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// `cargo build -p graph-photo --bin graph-photo` into the target directory this test was built in.
fn build(profile_dir: &Path) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO")
        .or_else(|| option_env!("CARGO").map(Into::into))
        .unwrap_or_else(|| "cargo".into());
    let target_dir = profile_dir.parent().expect("target/<profile>");
    let mut command = Command::new(cargo);
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "--quiet",
            "-p",
            "graph-photo",
            "--bin",
            "graph-photo",
        ])
        .arg("--target-dir")
        .arg(target_dir);
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        command.arg("--release");
    }
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("building graph-photo failed ({status})")),
        Err(error) => Err(format!("cannot run cargo to build graph-photo: {error}")),
    }
}

/// A `graph-photo` command with a clean environment for its own variables.
pub(crate) fn command() -> Command {
    let mut command = Command::new(binary());
    for var in ENV_VARS {
        command.env_remove(var);
    }
    command
}

/// Runs `graph-photo args...` to completion.
pub(crate) fn run(args: &[&str]) -> Output {
    command()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("graph-photo runs")
}

/// Text gathered from a child's output stream by a reader thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<String>>);

impl Captured {
    fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A running `graph-photo serve`, killed when dropped.
pub(crate) struct Server {
    child: Option<Child>,
    /// The address it listens on.
    pub(crate) addr: SocketAddr,
    /// Everything it printed on stdout up to the end of its start banner.
    pub(crate) banner: String,
    stderr: Captured,
}

impl Server {
    /// Starts `graph-photo serve --listen 127.0.0.1:<free port> --data-dir <data_dir>` plus
    /// `extra` arguments (not `--quiet`: the banner's token line marks the end of the start),
    /// and returns once its banner is printed and it accepts connections.
    pub(crate) fn start(data_dir: &Path, extra: &[&str]) -> Server {
        // A free port can be taken by someone else before the server binds it: try again.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            match Server::try_start(port, data_dir, extra) {
                Ok(server) => return server,
                Err(error) => last_error = error,
            }
        }
        panic!("graph-photo serve did not start: {last_error}");
    }

    fn try_start(port: u16, data_dir: &Path, extra: &[&str]) -> Result<Server, String> {
        let listen = format!("127.0.0.1:{port}");
        let mut child = command()
            .arg("serve")
            .args(["--listen", &listen, "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", binary().display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = Captured::default();
        drain(child.stderr.take().expect("piped stderr"), stderr.clone());
        let lines = read_lines(stdout);

        let mut server = Server {
            child: Some(child),
            addr: listen.parse().expect("an address"),
            banner: String::new(),
            stderr,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        // The banner ends with the line showing how to upload with curl.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    server.banner.push_str(&line);
                    server.banner.push('\n');
                    if line.contains("curl -T") {
                        break;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = server.wait_for_exit(STOP_TIMEOUT);
                    return Err(format!(
                        "exited ({status:?}) before its banner was complete; stdout:\n{}\nstderr:\n{}",
                        server.banner,
                        server.stderr()
                    ));
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "no banner after {START_TIMEOUT:?}; stdout:\n{}\nstderr:\n{}",
                        server.banner,
                        server.stderr()
                    ));
                }
            }
        }
        while TcpStream::connect(server.addr).is_err() {
            if Instant::now() > deadline {
                return Err(format!("{} accepts no connection", server.addr));
            }
            if let Some(status) = server.try_exit_status() {
                return Err(format!("exited ({status}); stderr:\n{}", server.stderr()));
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// `http://<addr><path>`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What the server logged so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr.text()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends SIGTERM (with the `kill` command) and waits for the exit.
    pub(crate) fn terminate(mut self) -> ExitStatus {
        self.send_sigterm();
        self.wait_for_exit(STOP_TIMEOUT)
            .unwrap_or_else(|| panic!("still running {STOP_TIMEOUT:?} after SIGTERM"))
    }

    /// Sends SIGTERM (with the `kill` command) without waiting for the exit.
    pub(crate) fn send_sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("the kill command");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// The exit status once the server has exited, or `None` if it still runs after `timeout`.
    pub(crate) fn exit_within(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.wait_for_exit(timeout)
    }

    fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit_status() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The lines of a stream, read until it ends (also once nobody listens any more, so that the
/// child never blocks on a full pipe).
fn read_lines(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    rx
}

/// Keeps reading a stream so that the child never blocks on a full pipe.
fn drain(stream: impl Read + Send + 'static, into: Captured) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let mut text = into.0.lock().unwrap_or_else(|e| e.into_inner());
            text.push_str(&line);
            text.push('\n');
        }
    });
}

/// The peak resident memory of a process (VmHWM from `/proc/<pid>/status`), in bytes.
pub(crate) fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in:\n{status}"));
    kib * 1024
}
