//! Staying up under hostile clients (issue 8): the upload memory budget (503 + Retry-After),
//! the body deadline (408), `Connection: close` on answers given before the body was read,
//! plain `OPTIONS`, malformed `If-Match`, and claims of the wrong type; in process, and
//! against the real binary for what only the wire and the process's memory show.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::Server;
use crate::support::*;
use adapter_http_server::UploadLimits;
use adapter_memstore::MemPhotoStore;
use axum::body::{Body, Bytes};

const ME: &str = "/v1.0/me/photo/$value";

// ------------------------------------------------------------------------- in process

async fn server_with(uploads: UploadLimits) -> TestServer {
    let store = Arc::new(MemPhotoStore::new());
    let app = router_with_limits(
        Arc::new(directory()),
        Arc::clone(&store) as _,
        None,
        uploads,
    )
    .await;
    TestServer { app, store }
}

/// A streamed body fed by the test: bytes sent on the channel, ended when it is dropped.
fn fed_body() -> (
    futures::channel::mpsc::UnboundedSender<Result<Bytes, std::io::Error>>,
    Body,
) {
    let (tx, rx) = futures::channel::mpsc::unbounded();
    (tx, Body::from_stream(rx))
}

#[tokio::test]
async fn plain_options_is_405_with_allow_and_preflights_still_work() {
    let s = server().await;
    let resp = s
        .send(req("OPTIONS", ME, None).body(Body::empty()).unwrap())
        .await;
    resp.assert_error(405, "MethodNotAllowed");
    let allow = resp.header("allow").expect("an Allow header").to_owned();
    for method in ["GET", "HEAD", "PUT", "PATCH", "DELETE"] {
        assert!(allow.contains(method), "{allow}");
    }
    // With an Origin but no Access-Control-Request-Method it is not a preflight either.
    let resp = s
        .send(
            req("OPTIONS", "/v1.0/me/photos", None)
                .header("origin", "https://app.example.com")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    resp.assert_error(405, "MethodNotAllowed");
    assert!(resp.header("allow").unwrap().contains("GET"));
    // An unknown path is the routing 400, as for any method.
    let resp = s
        .send(
            req("OPTIONS", "/v1.0/me", None)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    resp.assert_error(400, "BadRequest");
    // A preflight is still answered by CORS.
    let resp = s
        .send_raw(
            req("OPTIONS", ME, None)
                .header("origin", "https://app.example.com")
                .header("access-control-request-method", "PUT")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(resp.status.is_success(), "{}", resp.status);
    assert_eq!(
        resp.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
}

#[tokio::test]
async fn unquoted_or_malformed_if_match_is_not_a_match() {
    let s = server().await;
    let token = adele(&["User.ReadWrite"]);
    let first = jpeg_seeded(48, 48, 1);
    let etag = s.upload(ME, &token, &first).await;
    let unquoted = etag.trim_matches('"').to_owned();
    for (method, path, if_match) in [
        ("PUT", ME, unquoted.clone()),
        ("PATCH", ME, format!("{unquoted}, \"other\"")),
        ("PUT", ME, format!("w/{etag}")),
        ("PUT", ME, format!("{etag} junk")),
        ("DELETE", "/v1.0/me/photo", unquoted.clone()),
    ] {
        let resp = s
            .send(
                req(method, path, Some(&token))
                    .header("if-match", &if_match)
                    .body(Body::from(jpeg_seeded(48, 48, 2)))
                    .unwrap(),
            )
            .await;
        resp.assert_error(412, "PreconditionFailed");
        let now = s.get(ME, &token).await;
        assert_eq!(
            now.body, first,
            "{method} If-Match: {if_match} changed the photo"
        );
    }
    // A value that is not visible ASCII is malformed too, never ignored.
    let resp = s
        .send(
            req("PUT", ME, Some(&token))
                .header(
                    "if-match",
                    axum::http::HeaderValue::from_bytes(b"\"\xff\"").unwrap(),
                )
                .body(Body::from(jpeg_seeded(48, 48, 2)))
                .unwrap(),
        )
        .await;
    resp.assert_error(412, "PreconditionFailed");
    // If-None-Match without quotes does not match: the full answer, not 304.
    let resp = s
        .send(
            req("GET", ME, Some(&token))
                .header("if-none-match", &unquoted)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    resp.assert_status(200);
    // The quoted tag still matches.
    let resp = s
        .send(
            req("PUT", ME, Some(&token))
                .header("if-match", &etag)
                .body(Body::from(jpeg_seeded(48, 48, 2)))
                .unwrap(),
        )
        .await;
    resp.assert_updated();
}

/// jsonwebtoken 9 skipped an `nbf` it could not parse: a string ten years ahead passed.
#[tokio::test]
async fn a_claim_of_the_wrong_type_is_401() {
    let s = server().await;
    let later = now() + 10 * 365 * 24 * 3600;
    for (name, value) in [
        ("nbf", serde_json::json!(later.to_string())),
        ("exp", serde_json::json!((now() + 3600).to_string())),
        ("aud", serde_json::json!(3)),
        ("scp", serde_json::json!(["User.Read"])),
        ("wids", serde_json::json!("x")),
    ] {
        let mut claims = adele_claims("User.Read");
        claims[name] = value;
        let resp = s.get("/v1.0/me/photo", &sign(&claims)).await;
        resp.assert_error(401, "InvalidAuthenticationToken");
        assert!(resp.message().contains(name), "{}", resp.message());
        assert!(resp.header("www-authenticate").is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_upload_budget_answers_503_with_retry_after_and_frees_up() {
    let mut limits = UploadLimits::new(LIMIT);
    limits.wait = Duration::from_millis(300);
    let s = server_with(limits).await;
    let token = adele(&["User.ReadWrite"]);

    // A chunked upload reserves the whole limit and holds it while its body trickles in.
    let (feed, body) = fed_body();
    let app = s.app.clone();
    let slow_token = token.clone();
    let slow = tokio::spawn(async move {
        let request = req("PUT", ME, Some(&slow_token)).body(body).unwrap();
        tower::ServiceExt::oneshot(app, request).await.unwrap()
    });
    feed.unbounded_send(Ok(Bytes::from_static(b"\xff")))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let photo = jpeg(48, 48);
    let started = Instant::now();
    let resp = s.put(ME, &token, &photo).await;
    resp.assert_error(503, "serviceNotAvailable");
    assert!(resp
        .header("retry-after")
        .is_some_and(|v| v.parse::<u32>().is_ok()));
    assert!(started.elapsed() < Duration::from_secs(10));
    // Nothing of the refused body was read, so the connection is not reusable.
    assert_eq!(resp.header("connection"), Some("close"));
    // A request that needs no room is not held up.
    s.get("/v1.0/me/photo", &token)
        .await
        .assert_error(404, "ErrorEntityNotFound");

    // The slow upload completes; its room is given back.
    let whole = jpeg_seeded(48, 48, 9);
    feed.unbounded_send(Ok(Bytes::copy_from_slice(&whole[1..])))
        .unwrap();
    drop(feed);
    let slow = tokio::time::timeout(Duration::from_secs(30), slow)
        .await
        .unwrap()
        .unwrap();
    // The first byte and the rest make the whole photo.
    assert_eq!(slow.status(), 200);
    s.put(ME, &token, &photo).await.assert_updated();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_in_time_is_408_and_nothing_is_stored() {
    let mut limits = UploadLimits::default();
    limits.body_timeout = Duration::from_secs(1);
    limits.min_rate = u64::MAX;
    let s = server_with(limits).await;
    let token = adele(&["User.ReadWrite"]);
    let photo = jpeg(48, 48);
    let (feed, body) = fed_body();
    feed.unbounded_send(Ok(Bytes::copy_from_slice(&photo[..10])))
        .unwrap();
    let started = Instant::now();
    let resp = tokio::time::timeout(
        Duration::from_secs(20),
        s.send(req("PUT", ME, Some(&token)).body(body).unwrap()),
    )
    .await
    .expect("answered in bounded time");
    let message = resp.assert_error(408, "requestTimeout");
    assert!(message.contains("within 1 s"), "{message}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(resp.header("connection"), Some("close"));
    drop(feed);
    s.get(ME, &token)
        .await
        .assert_error(404, "ErrorEntityNotFound");
    // A body that arrives in time is stored.
    s.put(ME, &token, &photo).await.assert_updated();
}

// ------------------------------------------------------------------------- the wire

const READ_TIMEOUT: Duration = Duration::from_secs(30);

struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn code(&self) -> String {
        let json: serde_json::Value = serde_json::from_slice(&self.body).expect("a JSON body");
        json["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Sends the head of a request (and `body`) and reads one answer, whole: the head, then
/// `Content-Length` bytes. A reset after the answer (the server closes with unread input)
/// does not count against it.
fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer and close before all of it is taken.
    let _ = stream.write_all(body);
    read_response(&mut stream)
}

fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => panic!(
                "the connection ended before a whole head: {:?}",
                String::from_utf8_lossy(&data)
            ),
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8(data[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = data[head_end..].to_vec();
    while body.len() < length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => panic!("the answer was cut at {} of {length} bytes", body.len()),
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    RawResponse {
        status,
        headers,
        body,
    }
}

fn banner_token(server: &Server) -> String {
    server
        .banner
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("export TOKEN="))
        .expect("a token in the banner")
        .to_owned()
}

fn put_head(token: Option<&str>, extra: &str, length: usize) -> String {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    format!("PUT {ME} HTTP/1.1\r\nHost: localhost\r\n{auth}{extra}Content-Length: {length}\r\n\r\n")
}

/// Answers given without reading a 200 KB body say `Connection: close`, and the client gets
/// all of the answer.
#[test]
fn early_refusals_say_connection_close_and_arrive_whole() {
    let dir = crate::support::data_dir();
    let server = Server::start(dir.path(), &[]);
    let token = banner_token(&server);
    let body = vec![0u8; 200 * 1024];
    let cases = [
        (
            put_head(None, "", body.len()),
            401,
            "InvalidAuthenticationToken",
        ),
        (
            put_head(
                Some(&token),
                "If-Match: \"0000000000000000\"\r\n",
                body.len(),
            ),
            412,
            "PreconditionFailed",
        ),
        (
            put_head(Some(&token), "", 5 * 1024 * 1024),
            413,
            "RequestEntityTooLarge",
        ),
        (
            format!(
                "POST {ME} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
                body.len()
            ),
            405,
            "MethodNotAllowed",
        ),
    ];
    for (head, status, code) in cases {
        let resp = exchange(server.addr, &head, &body);
        assert_eq!(resp.status, status, "{head}");
        assert_eq!(resp.code(), code);
        assert_eq!(resp.header("connection"), Some("close"), "{head}");
    }
    // An answer after the whole body was read keeps the connection.
    let resp = exchange(server.addr, &put_head(Some(&token), "", body.len()), &body);
    assert_eq!(resp.status, 400);
    assert_eq!(resp.code(), "ErrorInvalidImage");
    assert_eq!(resp.header("connection"), None);
}

/// `--max-upload-memory` at the 4 MiB minimum: a slow upload holds it, the next waits
/// `--upload-wait` and gets 503 with Retry-After; a slow body gets 408 after its deadline.
#[test]
fn the_binary_bounds_upload_memory_and_body_time() {
    let dir = crate::support::data_dir();
    let server = Server::start(
        dir.path(),
        &[
            "--max-upload-memory",
            "4194304",
            "--upload-wait",
            "1",
            "--body-timeout",
            "2",
            "--body-min-rate",
            "1000000000",
        ],
    );
    let token = banner_token(&server);
    let size = 3 * 1024 * 1024;

    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    slow.write_all(put_head(Some(&token), "", size).as_bytes())
        .unwrap();
    slow.write_all(&[0u8; 1000]).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let started = Instant::now();
    let resp = exchange(
        server.addr,
        &put_head(Some(&token), "", size),
        &vec![0u8; 64 * 1024],
    );
    assert_eq!(resp.status, 503);
    assert_eq!(resp.code(), "serviceNotAvailable");
    assert!(resp.header("retry-after").is_some());
    assert!(started.elapsed() < Duration::from_secs(20));

    // The slow one never completes: 408 after its 2 s, connection closed.
    let resp = read_response(&mut slow);
    assert_eq!(resp.status, 408);
    assert_eq!(resp.code(), "requestTimeout");
    assert_eq!(resp.header("connection"), Some("close"));
    let resp = exchange(
        server.addr,
        &format!("GET {ME} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\r\n"),
        &[],
    );
    assert_eq!(resp.status, 404, "nothing was stored");
}

/// 256 concurrent uploads of a 4 MB photo against the defaults: the server's peak RSS stays
/// far under what 256 buffered bodies take (1 GB), under 512 MB.
#[cfg(target_os = "linux")]
#[test]
fn many_concurrent_uploads_stay_under_the_memory_cap() {
    const UPLOADS: usize = 256;
    const MAX_RSS: u64 = 512 * 1024 * 1024;
    let dir = crate::support::data_dir();
    let server = Server::start(dir.path(), &[]);
    let token = banner_token(&server);
    // An uncompressed BMP: a valid 4 MB photo without the cost of encoding one.
    let photo = Arc::new(bmp(1180, 1180));
    assert!(photo.len() > 4_000_000 && photo.len() <= LIMIT);
    let head = put_head(Some(&token), "", photo.len());
    let before = peak_rss(server.pid());

    let started = Instant::now();
    let workers: Vec<_> = (0..UPLOADS)
        .map(|_| {
            let (photo, head, addr) = (Arc::clone(&photo), head.clone(), server.addr);
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || exchange(addr, &head, &photo).status)
                .unwrap()
        })
        .collect();
    let statuses: Vec<u16> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let peak = peak_rss(server.pid());
    let stored = statuses.iter().filter(|s| **s == 200).count();
    eprintln!(
        "{UPLOADS} concurrent uploads of {} bytes: {stored} stored, {} refused with 503, in {:?}; \
         server peak RSS {} MB (before {} MB)",
        photo.len(),
        statuses.iter().filter(|s| **s == 503).count(),
        started.elapsed(),
        peak / (1024 * 1024),
        before / (1024 * 1024)
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    assert!(stored > 0, "no upload got through");
    assert!(
        peak <= MAX_RSS,
        "peak RSS {} MB over {} MB",
        peak / (1024 * 1024),
        MAX_RSS / (1024 * 1024)
    );
}
