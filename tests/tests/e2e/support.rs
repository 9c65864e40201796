//! Support for the end-to-end tests, in one place: the router over the real adapters with the
//! production wiring, tokens for the seeded users, images and the assertions every response must
//! pass (spec C6, C7); and the real `graph-photo` binary: find (or build) it, run its subcommands,
//! and run `graph-photo serve` as a child process the way a user would, killed when dropped.
//! Data directories are seeded with the committed test key.

use std::io::{BufRead, BufReader, Cursor, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use adapter_http_server::auth::{AuthConfig, Authenticate, JwksSource};
use adapter_http_server::{router, AppState, Authenticator, UploadLimits};
use adapter_memstore::seed::{self, CONTOSO_TENANT};
use adapter_memstore::{
    ContactData, DirectoryData, GroupData, MemDirectory, MemPhotoStore, MemRenditionCache, UserData,
};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use dev_tokens::{DevKey, TokenRequest};
use graph_photo::serve::photo_service;
use http_body_util::BodyExt;
use photo_core::ports::{AccountKind, Directory, PhotoStore};
use photo_core::principal::USER_ADMINISTRATOR;
use photo_render::DEFAULT_RENDER_MEMORY;
use serde_json::Value;
use tower::ServiceExt;

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

// ---------------------------------------------------------------------------------------------
// In process.

pub(crate) use adapter_memstore::seed::{
    ADELE_CONTACT_ID, ADELE_FOLDER_CONTACT_ID, ADELE_FRIENDS_FOLDER_ID, ADELE_ID, ADELE_UPN,
    ALEX_ID, ALLAN_ID, CONSUMER_TENANT, FABRIKAM_GROUP_ID, FABRIKAM_TENANT, LEE_ID, LEE_UPN,
    MARKETING_GROUP_ID, MEGAN_CONTACT_ID, MEGAN_ID, PAT_ID,
};

/// The photo size limit of spec B4.
pub(crate) const LIMIT: usize = 4 * 1024 * 1024;

/// Extra objects of the test directory, for the path rules of spec A3.
/// A user whose UPN holds `'`, `+` and `=`.
pub(crate) const ODD_ID: &str = "0dd0dd00-1234-4abc-8def-0123456789ab";
pub(crate) const ODD_UPN: &str = "o'neil+photos=1@contoso.onmicrosoft.com";
/// A group and a contact whose ids hold a `/` (sent as `%2F`).
pub(crate) const SLASH_GROUP_ID: &str = "grp/with/slash";
pub(crate) const SLASH_CONTACT_ID: &str = "AAMk/slash+plus=";
/// A group whose id holds a `'` (doubled in an OData literal).
pub(crate) const QUOTE_GROUP_ID: &str = "o'group";

/// The seeded directory plus the objects above.
pub(crate) fn directory() -> MemDirectory {
    let mut data: DirectoryData = seed::data();
    let contoso = data
        .tenants
        .iter_mut()
        .find(|t| t.id == CONTOSO_TENANT)
        .expect("the seed has Contoso");
    contoso.users.push(UserData {
        id: ODD_ID.into(),
        user_principal_name: ODD_UPN.into(),
        display_name: "Odd O'Neil".into(),
        account_kind: AccountKind::WorkOrSchool,
        directory_roles: vec![],
    });
    contoso.groups.push(GroupData {
        id: SLASH_GROUP_ID.into(),
        display_name: "Slashed".into(),
    });
    contoso.groups.push(GroupData {
        id: QUOTE_GROUP_ID.into(),
        display_name: "Quoted".into(),
    });
    contoso.contacts.push(ContactData {
        id: SLASH_CONTACT_ID.into(),
        owner_id: ADELE_ID.into(),
        folder_id: None,
        display_name: "Slashed contact".into(),
    });
    MemDirectory::new(data).expect("valid test directory")
}

// ---------------------------------------------------------------------------------------------
// Keys and tokens.

/// The server's key: the committed test key (generating one costs seconds).
fn key() -> &'static DevKey {
    DevKey::test_key()
}

/// A key the server does not know.
pub(crate) fn other_key() -> &'static DevKey {
    DevKey::other_test_key()
}

pub(crate) fn mint(request: &TokenRequest) -> String {
    key().mint(request).expect("mint")
}

/// Signs any claims with the server's key (RS256, its `kid`).
pub(crate) fn sign(claims: &Value) -> String {
    key().sign_claims(claims).expect("sign")
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Entra-shaped claims of a valid delegated token for Adele, to be altered by a test.
pub(crate) fn adele_claims(scopes: &str) -> Value {
    let now = now();
    serde_json::json!({
        "aud": "https://graph.microsoft.com",
        "iss": format!("https://sts.windows.net/{CONTOSO_TENANT}/"),
        "iat": now, "nbf": now, "exp": now + 3600,
        "tid": CONTOSO_TENANT,
        "oid": ADELE_ID,
        "sub": ADELE_ID,
        "idtyp": "user",
        "appid": dev_tokens::DEV_APP_ID,
        "scp": scopes,
    })
}

pub(crate) fn delegated(tenant: &str, user: &str, scopes: &[&str], wids: &[&str]) -> String {
    let mut request = TokenRequest::delegated(tenant, user, scopes.iter().copied());
    request.directory_roles = wids.iter().map(|w| (*w).to_owned()).collect();
    mint(&request)
}

/// Adele Vance: a plain user of Contoso.
pub(crate) fn adele(scopes: &[&str]) -> String {
    delegated(CONTOSO_TENANT, ADELE_ID, scopes, &[])
}

/// Megan Bowen: User Administrator of Contoso (her `wids`).
pub(crate) fn megan(scopes: &[&str]) -> String {
    delegated(CONTOSO_TENANT, MEGAN_ID, scopes, &[USER_ADMINISTRATOR])
}

/// Alex Wilber, with whatever directory roles a test gives him.
pub(crate) fn alex(scopes: &[&str], wids: &[&str]) -> String {
    delegated(CONTOSO_TENANT, ALEX_ID, scopes, wids)
}

/// Allan Deyoung, of Fabrikam.
pub(crate) fn allan(scopes: &[&str]) -> String {
    delegated(FABRIKAM_TENANT, ALLAN_ID, scopes, &[])
}

/// Pat, a personal Microsoft account.
pub(crate) fn pat(scopes: &[&str]) -> String {
    delegated(CONSUMER_TENANT, PAT_ID, scopes, &[])
}

/// An application token of Contoso.
pub(crate) fn app(roles: &[&str]) -> String {
    app_in(CONTOSO_TENANT, roles)
}

pub(crate) fn app_in(tenant: &str, roles: &[&str]) -> String {
    mint(&TokenRequest::application(
        tenant,
        "11111111-2222-4333-8444-555555555555",
        roles.iter().copied(),
    ))
}

// ---------------------------------------------------------------------------------------------
// The server.

pub(crate) struct TestServer {
    pub(crate) app: Router,
    pub(crate) store: Arc<MemPhotoStore>,
}

/// The router over the in-memory adapters, fresh store, the dev key, `@odata.context` from Host.
pub(crate) async fn server() -> TestServer {
    server_with_base(None).await
}

pub(crate) async fn server_with_base(public_base_url: Option<&str>) -> TestServer {
    let store = Arc::new(MemPhotoStore::new());
    let app = router_over(
        Arc::new(directory()),
        Arc::clone(&store) as _,
        public_base_url,
    )
    .await;
    TestServer { app, store }
}

/// The router over any directory and store (mocks that fail, say).
pub(crate) async fn router_over(
    directory: Arc<dyn Directory>,
    store: Arc<dyn PhotoStore>,
    public_base_url: Option<&str>,
) -> Router {
    router_with_limits(directory, store, public_base_url, UploadLimits::default()).await
}

/// The router with the given upload limits.
pub(crate) async fn router_with_limits(
    directory: Arc<dyn Directory>,
    store: Arc<dyn PhotoStore>,
    public_base_url: Option<&str>,
    uploads: UploadLimits,
) -> Router {
    // The production wiring: the service `graph-photo serve` builds, with its renderer.
    let service = photo_service(
        directory,
        store,
        Arc::new(MemRenditionCache::default()),
        DEFAULT_RENDER_MEMORY,
    );
    let auth = Authenticator::new(AuthConfig::new(JwksSource::Static(key().jwks())))
        .await
        .expect("authenticator");
    router(AppState {
        service,
        auth: Arc::new(auth),
        public_base_url: public_base_url.map(str::to_owned),
        uploads,
    })
}

/// The router over the test directory and a fresh store, with a host's own authentication in
/// place of JWT validation.
pub(crate) fn server_with_auth(auth: Arc<dyn Authenticate>) -> TestServer {
    let store = Arc::new(MemPhotoStore::new());
    let service = photo_service(
        Arc::new(directory()),
        Arc::clone(&store) as _,
        Arc::new(MemRenditionCache::default()),
        DEFAULT_RENDER_MEMORY,
    );
    let app = router(AppState {
        service,
        auth,
        public_base_url: None,
        uploads: UploadLimits::default(),
    });
    TestServer { app, store }
}

/// A response, body read.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl TestServer {
    /// Sends a request and checks the headers every response carries (spec C6).
    pub(crate) async fn send(&self, request: Request<Body>) -> Resp {
        let sent_client_id = request
            .headers()
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let head = request.method() == axum::http::Method::HEAD;
        let resp = self.send_raw(request).await;
        assert_c6(&resp, sent_client_id.as_deref());
        if head {
            // Spec A6: like GET, without a body (axum drops it even in process).
            assert!(resp.body.is_empty(), "a body on a HEAD answer");
        } else if resp.status.is_client_error() || resp.status.is_server_error() {
            assert_envelope(&resp);
        }
        resp
    }

    /// Sends a request without checking anything.
    pub(crate) async fn send_raw(&self, request: Request<Body>) -> Resp {
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// `method path` with an optional bearer token and a body.
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: impl Into<Body>,
    ) -> Resp {
        self.send(req(method, path, token).body(body.into()).expect("request"))
            .await
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> Resp {
        self.call("GET", path, Some(token), Body::empty()).await
    }

    pub(crate) async fn put(&self, path: &str, token: &str, bytes: &[u8]) -> Resp {
        self.call("PUT", path, Some(token), bytes.to_vec()).await
    }

    pub(crate) async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call("DELETE", path, Some(token), Body::empty()).await
    }

    /// Uploads and asserts the update succeeded (spec C1); returns the ETag.
    pub(crate) async fn upload(&self, path: &str, token: &str, bytes: &[u8]) -> String {
        let resp = self.put(path, token, bytes).await;
        resp.assert_updated();
        resp.header("etag").expect("etag").to_owned()
    }
}

/// A request builder with `Content-Length` when there is a body of known length is not
/// needed in-process; the token goes in `Authorization`.
pub(crate) fn req(method: &str, path: &str, token: Option<&str>) -> axum::http::request::Builder {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header"))
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub(crate) fn message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Asserts a Graph error of this status and code; returns the message.
    #[track_caller]
    pub(crate) fn assert_error(&self, status: u16, code: &str) -> String {
        if self.body.is_empty() {
            // A HEAD answer: the status and the JSON type of what GET would say.
            assert_eq!(self.status.as_u16(), status);
            assert_eq!(self.header("content-type"), Some("application/json"));
            return String::new();
        }
        assert_eq!(
            self.status.as_u16(),
            status,
            "expected {status} {code}, got {} {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.code(), code, "{}", String::from_utf8_lossy(&self.body));
        assert_envelope(self);
        self.message()
    }

    /// Spec C1: 200, empty body, `Content-Length: 0`, no `Content-Type`, an ETag.
    #[track_caller]
    pub(crate) fn assert_updated(&self) {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert!(self.body.is_empty());
        assert_eq!(self.header("content-length"), Some("0"));
        assert_eq!(self.header("content-type"), None);
        assert_strong_etag(self.header("etag").expect("an ETag on update"));
    }

    #[track_caller]
    pub(crate) fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }
}

#[track_caller]
pub(crate) fn assert_strong_etag(etag: &str) {
    assert!(
        etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
        "not a strong ETag: {etag}"
    );
}

/// `YYYY-MM-DDTHH:MM:SS`, nothing else (spec C7).
pub(crate) fn is_inner_error_date(date: &str) -> bool {
    let b = date.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// Spec C6: `request-id` (a UUID), `client-request-id` (echoed, else the request-id), `Date`.
#[track_caller]
pub(crate) fn assert_c6(resp: &Resp, sent_client_request_id: Option<&str>) {
    let request_id = resp.header("request-id").expect("request-id header");
    uuid::Uuid::parse_str(request_id).expect("request-id is a UUID");
    let client_id = resp
        .header("client-request-id")
        .expect("client-request-id header");
    // Echoed when it is a sane id (visible ASCII, at most 128 characters); a client cannot make
    // the server send back arbitrary text.
    let sane = sent_client_request_id
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()));
    assert_eq!(client_id, sane.unwrap_or(request_id));
    let date = resp.header("date").expect("Date header");
    httpdate::parse_http_date(date).expect("an HTTP date");
}

/// Spec C7: the Graph error body.
#[track_caller]
pub(crate) fn assert_envelope(resp: &Resp) {
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let json = resp.json();
    let error = &json["error"];
    assert!(error["code"].is_string(), "{json}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{json}"
    );
    let inner = &error["innerError"];
    let date = inner["date"].as_str().expect("innerError.date");
    assert!(is_inner_error_date(date), "innerError.date {date}");
    assert_eq!(
        inner["request-id"].as_str(),
        resp.header("request-id"),
        "{json}"
    );
    assert_eq!(
        inner["client-request-id"].as_str(),
        resp.header("client-request-id"),
        "{json}"
    );
    if resp.status == StatusCode::INTERNAL_SERVER_ERROR {
        assert_eq!(error["message"], "An internal server error occurred.");
    }
}

// ---------------------------------------------------------------------------------------------
// Images.

fn encode(image: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

fn rgb(width: u32, height: u32, seed: u8) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x as u8).wrapping_mul(3).wrapping_add(seed),
            (y as u8).wrapping_mul(5),
            seed.wrapping_mul(17),
        ])
    })
}

/// A JPEG; `seed` varies the pixels (so the bytes and the ETag).
pub(crate) fn jpeg_seeded(width: u32, height: u32, seed: u8) -> Vec<u8> {
    encode(
        image::DynamicImage::ImageRgb8(rgb(width, height, seed)),
        image::ImageFormat::Jpeg,
    )
}

pub(crate) fn jpeg(width: u32, height: u32) -> Vec<u8> {
    jpeg_seeded(width, height, 0)
}

/// A small PNG whose bytes (and so ETag) differ for every `n`.
pub(crate) fn unique_png(n: u32) -> Vec<u8> {
    let [a, b, c, d] = n.to_be_bytes();
    // 64 px a side: the 48x48 size exists.
    let image = image::RgbImage::from_fn(64, 64, |x, y| match (x + y * 64) % 4 {
        0 => image::Rgb([a, b, c]),
        1 => image::Rgb([d, a, 7]),
        2 => image::Rgb([b, c, d]),
        _ => image::Rgb([x as u8, y as u8, 90]),
    });
    encode(
        image::DynamicImage::ImageRgb8(image),
        image::ImageFormat::Png,
    )
}

/// An opaque PNG (RGB).
pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    encode(
        image::DynamicImage::ImageRgb8(rgb(width, height, 7)),
        image::ImageFormat::Png,
    )
}

/// A PNG whose left half is transparent.
pub(crate) fn png_transparent(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_fn(width, height, |x, y| {
        let alpha = if x < width / 2 { 0 } else { 255 };
        image::Rgba([x as u8, y as u8, 90, alpha])
    });
    encode(
        image::DynamicImage::ImageRgba8(image),
        image::ImageFormat::Png,
    )
}

pub(crate) fn gif(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([(x * 4) as u8, (y * 4) as u8, 0, 255])
    });
    encode(
        image::DynamicImage::ImageRgba8(image),
        image::ImageFormat::Gif,
    )
}

pub(crate) fn bmp(width: u32, height: u32) -> Vec<u8> {
    encode(
        image::DynamicImage::ImageRgb8(rgb(width, height, 3)),
        image::ImageFormat::Bmp,
    )
}

/// Decodes an image served by the API: (format, width, height, has an alpha channel).
pub(crate) fn decode(bytes: &[u8]) -> (image::ImageFormat, u32, u32, bool) {
    let format = image::guess_format(bytes).expect("a known image format");
    let image = image::load_from_memory(bytes).expect("decodes");
    (
        format,
        image.width(),
        image.height(),
        image.color().has_alpha(),
    )
}

// ---------------------------------------------------------------------------------------------
// Bodies.

/// A streamed (chunked, no Content-Length) body of `total` zero bytes in `chunk`-byte pieces;
/// the counter says how many bytes the server pulled.
pub(crate) fn counting_stream(
    total: usize,
    chunk: usize,
) -> (Body, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&pulled);
    let pieces = total.div_ceil(chunk);
    let stream = futures::stream::iter(0..pieces).map(move |i| {
        let len = chunk.min(total - i * chunk);
        counter.fetch_add(len, Ordering::SeqCst);
        Ok::<_, std::io::Error>(Bytes::from(vec![0u8; len]))
    });
    (Body::from_stream(stream), pulled)
}

use futures::StreamExt as _;

/// A `side` x `side` PNG with 16 bits a channel (RGB, or RGBA with `alpha`), one colour (from
/// `seed`) but for narrow stripes: a few hundred KB that decode to `side`² x 6 (or 8) bytes and
/// take a while to render. Written row by row, so even 40 MP costs the test little memory.
pub(crate) fn striped_png16(side: u32, seed: u8, alpha: bool) -> Vec<u8> {
    use std::io::Write;

    /// The stream writer wants to own its sink.
    struct Sink(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let out = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut encoder = png::Encoder::new(Sink(std::rc::Rc::clone(&out)), side, side);
    encoder.set_color(if alpha {
        png::ColorType::Rgba
    } else {
        png::ColorType::Rgb
    });
    encoder.set_depth(png::BitDepth::Sixteen);
    let mut writer = encoder
        .write_header()
        .unwrap()
        .into_stream_writer()
        .unwrap();
    let row: Vec<u8> = (0..side)
        .flat_map(|x| {
            let level = if x % 97 < 3 { 0x20 } else { seed };
            let rgb = [level, 0x11, 0x80, seed, 0x40, 0x00];
            let opaque: &[u8] = if alpha { &[0xFF, 0xFF] } else { &[] };
            rgb.into_iter()
                .chain(opaque.iter().copied())
                .collect::<Vec<u8>>()
        })
        .collect();
    for _ in 0..side {
        writer.write_all(&row).unwrap();
    }
    writer.finish().unwrap();
    out.take()
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
