//! Durable stores through the real binary (issue 10): the default SQLite store keeps photos
//! across restarts and `kill -9`; `--store` selects memory, SQLite or PostgreSQL and refuses a
//! bad URL with one line; `export`/`import` move every photo between stores. The PostgreSQL
//! replica and outage tests are in `durable_postgres`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::{
    self, data_dir, delegated, Server, ADELE_ID, ALEX_ID, MARKETING_GROUP_ID, MEGAN_CONTACT_ID,
    MEGAN_ID,
};
use adapter_memstore::seed::CONTOSO_TENANT;
use photo_core::principal::USER_ADMINISTRATOR;

pub(crate) fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Megan, User Administrator, allowed to write every photo the tests below write.
pub(crate) fn writer_token() -> String {
    delegated(
        CONTOSO_TENANT,
        MEGAN_ID,
        &[
            "User.ReadWrite.All",
            "Group.ReadWrite.All",
            "Contacts.ReadWrite",
        ],
        &[USER_ADMINISTRATOR],
    )
}

/// One photo path per kind of owner: users (by id), a group, the caller's contact.
pub(crate) fn targets() -> Vec<String> {
    vec![
        format!("/v1.0/users/{ADELE_ID}/photo/$value"),
        format!("/v1.0/users/{ALEX_ID}/photo/$value"),
        format!("/v1.0/users/{MEGAN_ID}/photo/$value"),
        format!("/v1.0/groups/{MARKETING_GROUP_ID}/photo/$value"),
        format!("/v1.0/me/contacts/{MEGAN_CONTACT_ID}/photo/$value"),
    ]
}

/// `(status, etag, body)` of a GET.
pub(crate) fn get(
    http: &reqwest::blocking::Client,
    server: &Server,
    path: &str,
    token: &str,
) -> (u16, Option<String>, Vec<u8>) {
    let resp = http
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, etag, resp.bytes().unwrap().to_vec())
}

/// PUTs `photo`; the ETag of the 200.
pub(crate) fn put(
    http: &reqwest::blocking::Client,
    server: &Server,
    path: &str,
    token: &str,
    photo: Vec<u8>,
) -> String {
    let resp = http
        .put(server.url(path))
        .bearer_auth(token)
        .header("content-type", "image/png")
        .body(photo)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{}", resp.text().unwrap());
    resp.headers()["etag"].to_str().unwrap().to_owned()
}

#[test]
fn the_default_store_keeps_photos_across_a_restart_and_kill_9() {
    let data = data_dir();
    let http = client();
    let token = writer_token();
    let server = Server::start(data.path(), &[]);
    let db = data.path().join("graph-photo.db");
    assert!(
        server
            .banner
            .contains(&format!("store: sqlite:{}", db.display())),
        "the banner names the store:\n{}",
        server.banner
    );
    let paths = targets();
    let mut written = Vec::new();
    for (n, path) in paths.iter().enumerate() {
        let photo = support::unique_png(u32::try_from(n).unwrap());
        let etag = put(&http, &server, path, &token, photo.clone());
        written.push((path.clone(), etag, photo));
    }
    // No shutdown at all: SIGKILL.
    drop(server);

    let server = Server::start(data.path(), &[]);
    for (path, etag, photo) in &written {
        let (status, got_etag, body) = get(&http, &server, path, &token);
        assert_eq!(status, 200, "{path} after kill -9");
        assert_eq!(got_etag.as_deref(), Some(etag.as_str()), "{path}");
        assert!(body == *photo, "{path}: other bytes after kill -9");
    }
    // The list of sizes and a rendered size work on the reopened store too.
    let (status, _, body) = get(
        &http,
        &server,
        &format!("/v1.0/users/{ADELE_ID}/photos/48x48/$value"),
        &token,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    server.terminate();
}

#[test]
fn memory_store_is_still_available_and_says_so() {
    let data = data_dir();
    let http = client();
    let token = writer_token();
    let server = Server::start(data.path(), &["--store", "memory"]);
    assert!(server.banner.contains("store: memory"), "{}", server.banner);
    let path = &targets()[0];
    put(&http, &server, path, &token, support::unique_png(1));
    drop(server);
    let server = Server::start(data.path(), &["--store", "memory"]);
    assert_eq!(get(&http, &server, path, &token).0, 404);
    assert!(!data.path().join("graph-photo.db").exists());
}

/// Runs `graph-photo serve` with `args`, expecting it to fail at start with exit status
/// `code` (README, "Exit codes": 2 for a usage error, 1 for a store that cannot be opened):
/// its stderr.
pub(crate) fn failed_start(data: &Path, args: &[&str], code: i32) -> String {
    let started = Instant::now();
    let output = support::command()
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?} to give up",
        started.elapsed()
    );
    assert!(!output.status.success(), "started with {args:?}");
    assert_eq!(
        output.status.code(),
        Some(code),
        "no panic, and the documented status: {:?}",
        output.status
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// The error is one line (`graph-photo: ...`) naming the store once.
fn assert_one_error_line(stderr: &str) {
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("graph-photo:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
}

#[test]
fn a_bad_store_url_is_one_line_naming_it_without_the_password() {
    let data = data_dir();
    let stderr = failed_start(
        data.path(),
        &["--store", "mysql://root:hunter2@db/photos"],
        2,
    );
    assert!(stderr.contains("mysql://root:***@db/photos"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    // Nobody listens on port 1: refused at once.
    let stderr = failed_start(
        data.path(),
        &["--store", "postgres://photos:hunter2@127.0.0.1:1/photos"],
        1,
    );
    assert!(
        stderr.contains("postgres://photos:***@127.0.0.1:1/photos"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert_one_error_line(&stderr);

    // A file where the SQLite store's folder should be.
    let blocker = data.path().join("not-a-folder");
    std::fs::write(&blocker, b"x").unwrap();
    let file = format!("{}/graph-photo.db", blocker.display());
    let stderr = failed_start(data.path(), &["--store", &format!("sqlite:{file}")], 1);
    assert!(stderr.contains(&file), "{stderr}");
    assert_one_error_line(&stderr);

    // Not a database at all.
    let garbage = data.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    let stderr = failed_start(
        data.path(),
        &["--store", &format!("sqlite:{}", garbage.display())],
        1,
    );
    assert!(
        stderr.contains(&format!("{} is not a SQLite database", garbage.display())),
        "{stderr}"
    );
    assert_one_error_line(&stderr);
}

// ---------------------------------------------------------------------------------------------
// Crash: kill -9 under load.

/// What a writer knows about one photo: the last state the server acknowledged, and the
/// request in flight when the server died (which may or may not have been applied).
#[derive(Clone, Debug, Default)]
struct Known {
    /// `Some(Some((etag, bytes)))`: stored; `Some(None)`: deleted; `None`: never written.
    acknowledged: Option<Option<(String, Vec<u8>)>>,
    /// The request sent and not answered: `Some(bytes)` a PUT, `None` a DELETE.
    in_flight: Option<Option<Vec<u8>>>,
}

/// Writes to every target from its own thread (PUTs of new photos, and some DELETEs) until the
/// server dies, recording what was acknowledged.
fn load_until_killed(
    server: Server,
    token: &str,
    round: u32,
    kill_after: Duration,
    start: Vec<Known>,
) -> Vec<Known> {
    let paths = targets();
    let known: Arc<Mutex<Vec<Known>>> = Arc::new(Mutex::new(start));
    let stop = Arc::new(AtomicBool::new(false));
    let url = server.url("");
    let writers: Vec<_> = paths
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let (known, stop, token) = (known.clone(), stop.clone(), token.to_owned());
            let url = format!("{url}{path}");
            thread::spawn(move || {
                let http = client();
                let mut n = 0u32;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    // Graph has no DELETE for a contact's photo (405): PUTs only there.
                    let delete = n.is_multiple_of(5) && !url.contains("/contacts/");
                    let photo = support::unique_png(round << 24 | (i as u32) << 16 | n);
                    known.lock().unwrap()[i].in_flight = Some((!delete).then(|| photo.clone()));
                    let sent = if delete {
                        http.delete(&url).bearer_auth(&token).send()
                    } else {
                        http.put(&url)
                            .bearer_auth(&token)
                            .header("content-type", "image/png")
                            .body(photo.clone())
                            .send()
                    };
                    let Ok(resp) = sent else { break };
                    let status = resp.status().as_u16();
                    let etag = resp
                        .headers()
                        .get("etag")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    // The status line arrived: the server answered, so the request is settled.
                    let mut known = known.lock().unwrap();
                    let entry = &mut known[i];
                    entry.in_flight = None;
                    match (delete, status) {
                        (false, 200) => {
                            entry.acknowledged = Some(Some((etag.unwrap(), photo)));
                        }
                        (true, 204) => entry.acknowledged = Some(None),
                        // Deleting what is not there: the state did not change.
                        (true, 404) => {}
                        _ => panic!("{url}: unexpected {status}"),
                    }
                }
            })
        })
        .collect();
    thread::sleep(kill_after);
    // SIGKILL, mid-request for most writers.
    drop(server);
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.join().unwrap();
    }
    let known = known.lock().unwrap().clone();
    known
}

/// After a restart every photo is either its last acknowledged state or the state the request
/// in flight at the kill would have made; never anything else, never torn. Returns what is
/// stored now, as the known state the next round starts from.
fn check_after_restart(server: &Server, token: &str, known: &[Known]) -> Vec<Known> {
    let http = client();
    let mut now = Vec::new();
    for (path, known) in targets().iter().zip(known) {
        let (status, etag, body) = get(&http, server, path, token);
        let stored = match status {
            200 => Some(body),
            404 => None,
            other => panic!("{path}: {other} after restart"),
        };
        let matches_ack = match (&known.acknowledged, &stored) {
            (Some(Some((ack_etag, ack_bytes))), Some(bytes)) => {
                let same = ack_bytes == bytes;
                if same {
                    assert_eq!(etag.as_deref(), Some(ack_etag.as_str()), "{path}: ETag");
                }
                same
            }
            (Some(None) | None, None) => true,
            _ => false,
        };
        let matches_in_flight = match (&known.in_flight, &stored) {
            (Some(Some(sent)), Some(bytes)) => sent == bytes,
            (Some(None), None) => true,
            _ => false,
        };
        assert!(
            matches_ack || matches_in_flight,
            "{path}: after kill -9 the store holds {} bytes, which is neither the acknowledged \
             state nor the one in flight ({known:?})",
            stored.as_ref().map_or(0, Vec::len)
        );
        now.push(Known {
            acknowledged: Some(stored.map(|bytes| (etag.unwrap_or_default(), bytes))),
            in_flight: None,
        });
    }
    now
}

/// Kill -9 at random moments under load, three times, on the store `args` select.
pub(crate) fn crash_rounds(data: &Path, args: &[&str]) {
    let token = writer_token();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    eprintln!("crash test seed {seed}");
    let mut known = vec![Known::default(); targets().len()];
    let mut acknowledged = 0;
    for round in 0..3u32 {
        let server = Server::start(data, args);
        if round > 0 {
            known = check_after_restart(&server, &token, &known);
        }
        let kill_after = Duration::from_millis(300 + u64::from(seed.rotate_left(round * 7) % 900));
        let before = known.clone();
        known = load_until_killed(server, &token, round, kill_after, known);
        acknowledged += known
            .iter()
            .zip(&before)
            .filter(|(after, before)| {
                after
                    .acknowledged
                    .as_ref()
                    .map(|a| a.as_ref().map(|(e, _)| e))
                    != before
                        .acknowledged
                        .as_ref()
                        .map(|a| a.as_ref().map(|(e, _)| e))
            })
            .count();
    }
    assert!(
        acknowledged > 0,
        "the load acknowledged nothing before the kills: the test proved nothing"
    );
    let server = Server::start(data, args);
    check_after_restart(&server, &token, &known);
    server.terminate();
}

#[test]
fn sqlite_loses_no_acknowledged_write_when_killed_under_load() {
    let data = data_dir();
    crash_rounds(data.path(), &[]);
}

// ---------------------------------------------------------------------------------------------
// Export and import.

#[test]
fn export_then_import_moves_every_photo_with_its_etag() {
    let from = data_dir();
    let to = data_dir();
    let http = client();
    let token = writer_token();
    let server = Server::start(from.path(), &[]);
    let mut written = HashMap::new();
    for (n, path) in targets().iter().enumerate() {
        let photo = support::unique_png(100 + u32::try_from(n).unwrap());
        let etag = put(&http, &server, path, &token, photo.clone());
        written.insert(path.clone(), (etag, photo));
    }
    server.terminate();

    let folder = tempfile::tempdir().unwrap();
    let export = folder.path().join("export");
    let out = support::run(&[
        "export",
        "--data-dir",
        from.path().to_str().unwrap(),
        export.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("exported 5 photo(s)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["photos"].as_array().unwrap().len(), 5);
    // Exporting into a folder that already holds an export is refused.
    let again = support::run(&[
        "export",
        "--data-dir",
        from.path().to_str().unwrap(),
        export.to_str().unwrap(),
    ]);
    assert!(!again.status.success());

    // A tampered copy is refused as a whole: nothing is imported.
    let tampered = folder.path().join("tampered");
    copy_dir(&export, &tampered);
    let first = manifest["photos"][0]["file"].as_str().unwrap();
    std::fs::write(tampered.join(first), support::unique_png(999)).unwrap();
    let store = format!("sqlite:{}", to.path().join("moved.db").display());
    let out = support::run(&["import", "--store", &store, tampered.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(first) && stderr.contains("manifest"),
        "{stderr}"
    );

    let out = support::run(&["import", "--store", &store, export.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = Server::start(to.path(), &["--store", &store]);
    for (path, (etag, photo)) in &written {
        let (status, got_etag, body) = get(&http, &server, path, &token);
        assert_eq!(status, 200, "{path}");
        assert_eq!(got_etag.as_deref(), Some(etag.as_str()), "{path}");
        assert!(body == *photo, "{path}");
    }
    server.terminate();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
