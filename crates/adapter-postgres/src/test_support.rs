//! PostgreSQL for tests (feature `test-support`): a fresh database per test, and private
//! servers that a test may stop and start again.
//!
//! [`TestDatabase::create`] finds a server in this order:
//! 1. the URL in `GRAPH_PHOTO_TEST_DATABASE_URL`, when set (a role that may create databases);
//! 2. the local server at `postgres://postgres@127.0.0.1:5432/test`, when it answers;
//! 3. a [`PrivateServer`] started once per test process with Debian's PostgreSQL binaries
//!    (`/usr/lib/postgresql/*/bin`);
//!
//! and otherwise fails saying what to install. Each database has a unique name, so tests run in
//! parallel; it is dropped when the [`TestDatabase`] is, and one left behind by a killed run is
//! dropped by a later run once it is a few hours old.
//!
//! Everything here blocks or spawns OS processes freely: it is test code.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};

use crate::url::with_database;

/// The environment variable naming the server tests use, as an admin URL.
pub const DATABASE_URL_VAR: &str = "GRAPH_PHOTO_TEST_DATABASE_URL";
/// The server the project's machines and CI run (trust authentication).
pub const LOCAL_SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Prefix of the databases [`TestDatabase`] creates; the rest of the name is the creation
/// time (Unix seconds), the process id and a counter.
const NAME_PREFIX: &str = "graph_photo_test_";
/// Databases of ours older than this are from a killed run: dropped by the next one.
const STALE_AFTER: Duration = Duration::from_secs(6 * 3600);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why test support could not provide a database or a server.
#[derive(Debug, thiserror::Error)]
pub enum TestSupportError {
    /// No server is configured, running locally, or startable.
    #[error(
        "no PostgreSQL server for the tests: {0}. Set {DATABASE_URL_VAR}, run a server at \
         {LOCAL_SERVER_URL}, or install PostgreSQL (`apt-get install postgresql`)"
    )]
    NoServer(String),
    /// A PostgreSQL program (initdb, pg_ctl) failed.
    #[error("{what} failed: {detail}")]
    Command {
        /// The command.
        what: String,
        /// Its output, or why it could not run.
        detail: String,
    },
    /// The server refused a statement or a connection.
    #[error("PostgreSQL at {url}: {detail}")]
    Database {
        /// The server's URL, password masked.
        url: String,
        /// The driver's message.
        detail: String,
    },
}

/// A database of its own for one test, on the server found as described in the
/// [module documentation](self). Dropped (with `DROP DATABASE ... WITH (FORCE)`, which ends
/// any connection still open to it) when this value is.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates a fresh, empty, uniquely named database.
    pub async fn create() -> Result<TestDatabase, TestSupportError> {
        let admin_url = server_url().await?;
        let mut admin = connect(&admin_url).await?;
        drop_stale_databases(&mut admin, &admin_url).await;
        let name = unique_name();
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .map_err(|e| database_error(&admin_url, &e))?;
        let _ = admin.close().await;
        let url = with_database(&admin_url, &name);
        Ok(TestDatabase {
            admin_url,
            name,
            url,
        })
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop may run inside an async runtime, which cannot be blocked on: a thread of its own
        // with a runtime of its own does the async work.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut admin) = connect(&admin_url).await {
                    let _ = drop_database(&mut admin, &name).await;
                    let _ = admin.close().await;
                }
            });
        });
        // A database not dropped now is dropped as stale by a later run.
        let _ = dropper.join();
    }
}

fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    format!(
        "{NAME_PREFIX}{secs}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

async fn drop_database(admin: &mut PgConnection, name: &str) -> Result<(), sqlx::Error> {
    // The name is one of ours (checked by the callers): letters, digits and '_'.
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(admin)
    .await
    .map(|_| ())
}

/// Drops databases of ours older than [`STALE_AFTER`]: left behind by a run that was killed.
async fn drop_stale_databases(admin: &mut PgConnection, admin_url: &str) {
    let Ok(rows) = sqlx::query("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
        .bind(NAME_PREFIX)
        .fetch_all(&mut *admin)
        .await
    else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    for row in rows {
        let Ok(name) = row.try_get::<String, _>("datname") else {
            continue;
        };
        let created = name
            .strip_prefix(NAME_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        let ours = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if let (Some(created), true) = (created, ours) {
            if now.saturating_sub(created) > STALE_AFTER.as_secs() {
                if let Err(e) = drop_database(admin, &name).await {
                    eprintln!("could not drop the stale test database {name} on {admin_url}: {e}");
                }
            }
        }
    }
}

async fn connect(url: &str) -> Result<PgConnection, TestSupportError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(database_error(url, &e)),
        Err(_) => Err(TestSupportError::Database {
            url: crate::url::mask_password(url),
            detail: format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
        }),
    }
}

fn database_error(url: &str, error: &sqlx::Error) -> TestSupportError {
    TestSupportError::Database {
        url: crate::url::mask_password(url),
        detail: error.to_string(),
    }
}

/// The admin URL of the server the tests use, found once per process.
async fn server_url() -> Result<String, TestSupportError> {
    static SERVER: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    SERVER.get_or_try_init(find_server).await.cloned()
}

async fn find_server() -> Result<String, TestSupportError> {
    if let Ok(url) = std::env::var(DATABASE_URL_VAR) {
        // Asked for explicitly: an error here is reported, not passed over.
        let conn = connect(&url).await?;
        let _ = conn.close().await;
        return Ok(url);
    }
    if let Ok(conn) = connect(LOCAL_SERVER_URL).await {
        let _ = conn.close().await;
        return Ok(LOCAL_SERVER_URL.to_owned());
    }
    // Once per process, never stopped: the server's watchdog stops it when the process ends.
    static PRIVATE: OnceLock<PrivateServer> = OnceLock::new();
    if let Some(server) = PRIVATE.get() {
        return Ok(server.url());
    }
    let server = tokio::task::spawn_blocking(PrivateServer::start)
        .await
        .map_err(|e| TestSupportError::NoServer(format!("starting a private server: {e}")))??;
    let url = server.url();
    // `find_server` runs once (the OnceCell above), so the cell is empty here.
    let _ = PRIVATE.set(server);
    Ok(url)
}

/// A PostgreSQL server of its own for a test: `initdb` in a temporary directory, then
/// `pg_ctl`, listening on a free port of 127.0.0.1 and on a Unix socket in that directory, with
/// trust authentication for user `postgres`. Run as the `postgres` OS user when the test runs as
/// root (PostgreSQL refuses to run as root).
///
/// [`stop`](Self::stop) and [`restart`](Self::restart) take the server away and bring it back
/// on the same port with the same data. Dropping the value stops the server and removes its
/// directory; a watchdog process does the same if the test process dies first.
#[derive(Debug)]
pub struct PrivateServer {
    root: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres_user: bool,
    running: bool,
    watchdog: Option<Child>,
}

impl PrivateServer {
    /// Creates and starts a server. Blocks for initdb and start-up (a second or two).
    pub fn start() -> Result<PrivateServer, TestSupportError> {
        let bin = postgres_bin_dir()?;
        let as_postgres_user = running_as_root();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        // Under root the postgres user must reach the directory: /tmp, not root's TMPDIR.
        let parent = if as_postgres_user {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let root = parent.join(format!(
            "graph-photo-pg-{}-{nanos:x}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let io_error = |what: &str, e: std::io::Error| TestSupportError::Command {
            what: format!("{what} {}", root.display()),
            detail: e.to_string(),
        };
        std::fs::create_dir_all(root.join("sock")).map_err(|e| io_error("mkdir", e))?;
        let mut server = PrivateServer {
            root,
            bin,
            port: 0,
            as_postgres_user,
            running: false,
            watchdog: None,
        };
        server.watchdog = Some(server.spawn_watchdog()?);
        if as_postgres_user {
            let root = server.root.display().to_string();
            run(
                Command::new("chown").args(["-R", "postgres:postgres", &root]),
                "chown",
            )?;
        }
        let data = server.data_dir();
        let mut initdb = server.command("initdb");
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync");
        run(&mut initdb, "initdb")?;
        // Another process may take the free port between our probe and the server's bind.
        let mut last_error = None;
        for _ in 0..3 {
            server.port = free_port()?;
            match server.pg_ctl_start() {
                Ok(()) => {
                    server.running = true;
                    return Ok(server);
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| TestSupportError::NoServer("no free port".into())))
    }

    /// The URL of the server's `postgres` database (user `postgres`, no password).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The TCP port the server listens on (kept across [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server is running (started and not stopped).
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Stops the server (`pg_ctl stop -m fast`: connections are ended, data kept).
    pub fn stop(&mut self) -> Result<(), TestSupportError> {
        if self.running {
            self.pg_ctl_stop("fast")?;
            self.running = false;
        }
        Ok(())
    }

    /// Starts the server again on the same port with the same data, stopping it first if it
    /// runs.
    pub fn restart(&mut self) -> Result<(), TestSupportError> {
        self.stop()?;
        self.pg_ctl_start()?;
        self.running = true;
        Ok(())
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// `program` from the PostgreSQL binaries, run as the postgres user when we are root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        command.stdin(Stdio::null());
        command
    }

    fn pg_ctl_start(&self) -> Result<(), TestSupportError> {
        let server_options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.root.join("sock").display()
        );
        let mut start = self.command("pg_ctl");
        start
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.root.join("server.log"))
            .args(["-w", "-t", "60", "-o", &server_options, "start"]);
        run(&mut start, "pg_ctl start").map_err(|e| {
            let log = std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            TestSupportError::Command {
                what: "pg_ctl start".into(),
                detail: format!("{e}; server log: {}", tail.join(" | ")),
            }
        })
    }

    fn pg_ctl_stop(&self, mode: &str) -> Result<(), TestSupportError> {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D")
            .arg(self.data_dir())
            .args(["-m", mode, "-w", "-t", "60", "stop"]);
        run(&mut stop, "pg_ctl stop")
    }

    /// A shell that waits for this process to end, then kills the server and removes its
    /// directory: statics are never dropped, and a test process may be killed.
    fn spawn_watchdog(&self) -> Result<Child, TestSupportError> {
        const SCRIPT: &str = r#"
            while kill -0 "$1" 2>/dev/null; do sleep 1; done
            pid_file="$2/data/postmaster.pid"
            if [ -f "$pid_file" ]; then kill -QUIT "$(head -n 1 "$pid_file")" 2>/dev/null; sleep 1; fi
            rm -rf "$2"
        "#;
        Command::new("sh")
            .args(["-c", SCRIPT, "graph-photo-pg-watchdog"])
            .arg(std::process::id().to_string())
            .arg(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| TestSupportError::Command {
                what: "sh (watchdog)".into(),
                detail: e.to_string(),
            })
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        if self.running {
            let _ = self.pg_ctl_stop("immediate");
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn run(command: &mut Command, what: &str) -> Result<(), TestSupportError> {
    let output: Output = command.output().map_err(|e| TestSupportError::Command {
        what: what.to_owned(),
        detail: e.to_string(),
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(TestSupportError::Command {
            what: what.to_owned(),
            detail: format!(
                "{}: {}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim(),
                String::from_utf8_lossy(&output.stdout).trim()
            ),
        })
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb` and `pg_ctl`.
fn postgres_bin_dir() -> Result<PathBuf, TestSupportError> {
    let base = Path::new("/usr/lib/postgresql");
    let entries = std::fs::read_dir(base)
        .map_err(|_| TestSupportError::NoServer(format!("no {} directory", base.display())))?;
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
        .ok_or_else(|| {
            TestSupportError::NoServer(format!("no initdb and pg_ctl in {}/*/bin", base.display()))
        })
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn free_port() -> Result<u16, TestSupportError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| TestSupportError::Command {
            what: "finding a free port".into(),
            detail: e.to_string(),
        })
}
