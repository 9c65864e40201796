//! The official Microsoft Graph SDKs against the real `graph-photo serve`, changing only what a
//! program must change to call a Graph stand-in (base URL, token, and for JavaScript the host
//! list and the certificate to trust):
//!
//! - Python `msgraph-sdk` 1.65.0 over plain http (`tests/sdk/python_sdk_check.py`);
//! - JavaScript `@microsoft/microsoft-graph-client` 3.0.7 over HTTPS with
//!   `--tls-self-signed` (`tests/sdk/js_sdk_check.mjs`): that SDK sends tokens over https only.
//!   The Python SDK is run over the same HTTPS server too (`SSL_CERT_FILE`).
//!
//! The SDKs come from `GRAPH_PHOTO_SDK_PYTHON` (a python with msgraph-sdk) and
//! `GRAPH_PHOTO_SDK_JS_DIR` (a directory with its node_modules), which `cargo xtask sdk-env`
//! creates and prints and `cargo xtask ci` sets. Without them these tests fail: they never skip.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::Server;

/// How long one SDK script may run (each does about twenty calls).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

/// The user the scripts act as, and what they need: their own photo and their contacts'.
const USER: &str = "AdeleV@contoso.onmicrosoft.com";
const SCOPES: &str = "User.ReadWrite Contacts.ReadWrite";

fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk")
}

/// A path from the environment, or a failure that says how to get it.
fn sdk_env(var: &str, what: &str) -> PathBuf {
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(value) => PathBuf::from(value),
        None => panic!(
            "{var} is not set; it names {what}. Run `cargo xtask sdk-env` to create the SDK \
             environments under target/sdk-env and print the variables \
             (eval \"$(cargo xtask sdk-env)\"), or run `cargo xtask ci`, which sets them."
        ),
    }
}

fn python() -> PathBuf {
    let python = sdk_env(
        "GRAPH_PHOTO_SDK_PYTHON",
        "a python with msgraph-sdk installed",
    );
    assert!(
        python.exists(),
        "GRAPH_PHOTO_SDK_PYTHON={} does not exist: run `cargo xtask sdk-env`",
        python.display()
    );
    python
}

fn js_dir() -> PathBuf {
    let dir = sdk_env(
        "GRAPH_PHOTO_SDK_JS_DIR",
        "a directory whose node_modules has @microsoft/microsoft-graph-client",
    );
    assert!(
        dir.join("node_modules/@microsoft/microsoft-graph-client")
            .is_dir(),
        "GRAPH_PHOTO_SDK_JS_DIR={} has no node_modules/@microsoft/microsoft-graph-client: \
         run `cargo xtask sdk-env`",
        dir.display()
    );
    dir
}

/// `graph-photo token` for [`USER`], signed with the key of the server's data directory.
fn token(data_dir: &Path) -> String {
    let data_dir = data_dir.to_str().expect("a UTF-8 temporary path");
    let out = crate::support::run(&[
        "token",
        "--user",
        USER,
        "--scopes",
        SCOPES,
        "--data-dir",
        data_dir,
    ]);
    assert!(
        out.status.success(),
        "graph-photo token failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("a UTF-8 token")
        .trim()
        .to_owned()
}

/// Runs an SDK script to completion (killed after [`SCRIPT_TIMEOUT`]), shows what it printed,
/// and fails unless it exited 0.
fn run_script(what: &str, mut command: Command, server: &Server) {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start {command:?}: {e}"));
    let collect = |mut stream: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = String::new();
            let _ = stream.read_to_string(&mut text);
            text
        })
    };
    let stdout = collect(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = collect(Box::new(child.stderr.take().expect("piped stderr")));

    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the script") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    println!("--- {what}: stdout\n{stdout}--- {what}: stderr\n{stderr}");
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!(
            "{what} failed ({status}):\n{stdout}\n{stderr}\n--- server log:\n{}",
            server.stderr()
        ),
        None => panic!(
            "{what} still running after {SCRIPT_TIMEOUT:?}:\n{stdout}\n{stderr}\n--- server log:\n{}",
            server.stderr()
        ),
    }
}

fn python_check(python: &Path, base: &str, token: &str) -> Command {
    let mut command = Command::new(python);
    command
        .arg(sdk_dir().join("python_sdk_check.py"))
        .args([base, token])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        // The server is on loopback; a proxy from the environment must not intercept it.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    command
}

#[test]
fn python_msgraph_sdk_over_http() {
    let python = python();
    let data = crate::support::data_dir();
    let server = Server::start(data.path(), &[]);
    let token = token(data.path());
    let base = server.url("/v1.0");
    assert!(base.starts_with("http://"), "{base}");

    run_script(
        "python msgraph-sdk over http",
        python_check(&python, &base, &token),
        &server,
    );
}

#[test]
fn javascript_graph_client_over_https_with_a_self_signed_certificate() {
    let python = python();
    let js_dir = js_dir();
    let data = crate::support::data_dir();
    let server = Server::start(data.path(), &["--tls-self-signed"]);
    let cert = data.path().join("tls-cert.pem");
    assert!(cert.is_file(), "no {}", cert.display());
    let base = format!("https://{}", server.addr);
    assert!(
        server
            .banner
            .contains(&format!("listening on {base} (API roots {base}/v1.0")),
        "{}",
        server.banner
    );
    assert!(
        server
            .banner
            .contains(&format!("NODE_EXTRA_CA_CERTS={}", cert.display())),
        "{}",
        server.banner
    );
    let token = token(data.path());

    let mut node = Command::new("node");
    node.arg(sdk_dir().join("js_sdk_check.mjs"))
        .args([&base, &token])
        .env("GRAPH_PHOTO_SDK_JS_DIR", &js_dir)
        .env("NODE_EXTRA_CA_CERTS", &cert)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    run_script("javascript graph client over https", node, &server);

    // The Python SDK over the same HTTPS, trusting the certificate through SSL_CERT_FILE.
    let mut python = python_check(&python, &format!("{base}/v1.0"), &token);
    python.env("SSL_CERT_FILE", &cert);
    run_script("python msgraph-sdk over https", python, &server);
}
