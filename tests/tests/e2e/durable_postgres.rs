//! PostgreSQL through the real binary (issue 10): crash safety, three replicas over one
//! database behaving as one server, and a database outage that answers 503 and heals by itself.
//! Each test has a database of its own (`adapter_postgres::test_support`), so they run in
//! parallel; the outage test starts a private server it can stop.

use std::time::{Duration, Instant};

use adapter_postgres::test_support::{PrivateServer, TestDatabase};

use crate::durable_store::{client, crash_rounds, get, put, targets, writer_token};
use crate::support::{self, data_dir, Server, ADELE_ID};

fn database() -> TestDatabase {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(TestDatabase::create())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn postgres_loses_no_acknowledged_write_when_killed_under_load() {
    let db = database();
    let data = data_dir();
    crash_rounds(data.path(), &["--store", db.url()]);
}

#[test]
fn three_replicas_over_one_database_behave_as_one_server() {
    let db = database();
    // One data directory per replica, all holding the same (committed test) signing key, as
    // docs/SCALING.md asks of a real deployment.
    let dirs: Vec<_> = (0..3).map(|_| data_dir()).collect();
    let replicas: Vec<Server> = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let mut args = vec!["--store", db.url()];
            if i == 1 {
                // B says when it renders, so the test can tell a render from a cache hit.
                args.extend(["--log-level", "info,photo_render=debug"]);
            }
            Server::start(dir.path(), &args)
        })
        .collect();
    let (a, b, c) = (&replicas[0], &replicas[1], &replicas[2]);
    assert!(
        a.banner.contains("store: postgres://"),
        "the banner names the store:\n{}",
        a.banner
    );
    let http = client();
    let token = writer_token();
    let path = &targets()[0];

    // A write on A is read at once on B and C, same bytes, same ETag.
    let photo = support::jpeg_seeded(700, 700, 42);
    let etag = put(&http, a, path, &token, photo.clone());
    for replica in [b, c] {
        let (status, got, body) = get(&http, replica, path, &token);
        assert_eq!(status, 200);
        assert_eq!(got.as_deref(), Some(etag.as_str()));
        assert!(body == photo);
    }

    // A size rendered by A is served by B from the database, without rendering again.
    let size = format!("/v1.0/users/{ADELE_ID}/photos/240x240/$value");
    let (status, size_etag, rendered) = get(&http, a, &size, &token);
    assert_eq!(status, 200);
    let (status, b_etag, from_b) = get(&http, b, &size, &token);
    assert_eq!(status, 200);
    assert_eq!(b_etag, size_etag, "rendition ETags agree across replicas");
    assert!(from_b == rendered, "B serves the bytes A rendered");
    assert!(
        !b.stderr().contains("rendered sizes"),
        "B rendered the sizes again:\n{}",
        b.stderr()
    );

    // An If-Match race across the replicas: exactly one winner, the others 412.
    let racers: Vec<_> = (0..6u8)
        .map(|i| {
            let url = replicas[usize::from(i) % 3].url(path);
            let (token, etag) = (token.clone(), etag.clone());
            std::thread::spawn(move || {
                client()
                    .put(url)
                    .bearer_auth(token)
                    .header("if-match", etag)
                    .header("content-type", "image/png")
                    .body(support::unique_png(7000 + u32::from(i)))
                    .send()
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses: Vec<u16> = racers.into_iter().map(|r| r.join().unwrap()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 412, 412, 412, 412, 412], "{statuses:?}");

    // A delete on C is seen by A.
    let resp = http.delete(c.url(path)).bearer_auth(&token).send().unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(get(&http, a, path, &token).0, 404);
    assert_eq!(
        get(&http, b, &size, &token).0,
        404,
        "no size outlives its photo"
    );
}

#[test]
fn a_database_outage_answers_503_and_heals_by_itself() {
    let mut pg = PrivateServer::start().unwrap_or_else(|e| panic!("{e}"));
    let data = data_dir();
    let url = pg.url();
    let server = Server::start(data.path(), &["--store", &url]);
    let http = client();
    let token = writer_token();
    let path = &targets()[1];
    let photo = support::unique_png(31);
    let etag = put(&http, &server, path, &token, photo.clone());

    pg.stop().unwrap();
    for method in ["GET", "PUT"] {
        let started = Instant::now();
        let request = match method {
            "GET" => http.get(server.url(path)),
            _ => http
                .put(server.url(path))
                .header("content-type", "image/png")
                .body(support::unique_png(32)),
        };
        let resp = request.bearer_auth(&token).send().unwrap();
        let elapsed = started.elapsed();
        assert_eq!(
            resp.status().as_u16(),
            503,
            "{method} with the database down"
        );
        assert!(
            elapsed < Duration::from_secs(15),
            "{method}: the 503 took {elapsed:?}"
        );
        assert!(resp.headers().contains_key("retry-after"), "{method}");
        let body: serde_json::Value = resp.json().unwrap();
        assert_eq!(body["error"]["code"], "serviceNotAvailable");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("Connection refused") && !message.contains("pool"),
            "no driver text reaches the client: {message}"
        );
    }

    pg.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, got, body) = get(&http, &server, path, &token);
        if status == 200 {
            assert_eq!(got.as_deref(), Some(etag.as_str()));
            assert!(body == photo);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {status} after the database came back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    put(&http, &server, path, &token, support::unique_png(33));
    server.terminate();
}

#[test]
fn photos_move_from_the_sqlite_default_to_postgres_with_export_and_import() {
    let db = database();
    let from = data_dir();
    let http = client();
    let token = writer_token();
    let server = Server::start(from.path(), &[]);
    let mut written = Vec::new();
    for (n, path) in targets().iter().enumerate() {
        let photo = support::unique_png(500 + u32::try_from(n).unwrap());
        written.push((
            path.clone(),
            put(&http, &server, path, &token, photo.clone()),
            photo,
        ));
    }
    server.terminate();

    let folder = tempfile::tempdir().unwrap();
    let export = folder.path().join("export");
    let from_dir = from.path().to_str().unwrap();
    let out = support::run(&["export", "--data-dir", from_dir, export.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = support::run(&["import", "--store", db.url(), export.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The report names the store without its password (the test database has none) and the count.
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("imported 5 photo(s)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let to = data_dir();
    let server = Server::start(to.path(), &["--store", db.url()]);
    for (path, etag, photo) in &written {
        let (status, got, body) = get(&http, &server, path, &token);
        assert_eq!(status, 200, "{path}");
        assert_eq!(got.as_deref(), Some(etag.as_str()), "{path}");
        assert!(body == *photo, "{path}");
    }
    server.terminate();
}
