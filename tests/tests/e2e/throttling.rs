//! Throttling and fault simulation (spec F1, `serve --throttle`): the router in process, each
//! limit, the forced answer and the default (off); then the real binary throttling a real
//! `graph-photo sync`, which must finish every photo by honouring `Retry-After`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use adapter_http_server::throttle::{ByteRate, Rate, SimulatedFailure};
use adapter_http_server::ThrottleConfig;
use axum::body::{Body, Bytes};

use crate::support::*;

const READ: &[&str] = &["User.Read"];

fn rate(count: u32, per: Duration) -> Option<Rate> {
    Some(Rate {
        count: NonZeroU32::new(count).unwrap(),
        per,
    })
}

/// `Retry-After` of an answer, in seconds.
fn retry_after(resp: &Resp) -> f64 {
    let value = resp.header("retry-after").expect("a Retry-After");
    value
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After {value:?} is not seconds"))
}

#[track_caller]
fn assert_throttled(resp: &Resp) -> f64 {
    let message = resp.assert_error(429, "TooManyRequests");
    assert_eq!(message, "Please retry again later.");
    retry_after(resp)
}

async fn get_with(server: &TestServer, path: &str, token: &str, prefer: Option<&str>) -> Resp {
    let mut request = req("GET", path, Some(token));
    if let Some(prefer) = prefer {
        request = request.header("prefer", prefer);
    }
    server.send(request.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn off_by_default_nothing_is_throttled_and_the_prefer_header_is_ignored() {
    let server = server().await;
    let token = adele(READ);
    let mut pending = Vec::new();
    for _ in 0..40 {
        let app = server.app.clone();
        let request = req("GET", "/v1.0/me/photo", Some(&token))
            .header("prefer", "graph-photo-fail=429")
            .body(Body::empty())
            .unwrap();
        pending.push(tokio::spawn(tower::ServiceExt::oneshot(app, request)));
    }
    for answer in pending {
        let status = answer.await.unwrap().unwrap().status();
        assert_eq!(
            status, 404,
            "no photo yet: every request reaches the use case"
        );
    }
}

#[tokio::test]
async fn one_request_over_the_concurrency_is_answered_429_at_once() {
    let server = server_with_throttle(ThrottleConfig {
        concurrency: NonZeroU32::new(4),
        ..ThrottleConfig::default()
    })
    .await;
    let token = adele(&["User.ReadWrite"]);
    // Four uploads whose bodies never come hold the app's four places.
    let held: Vec<_> = (0..4)
        .map(|_| {
            let body =
                Body::from_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>());
            let request = req("PUT", "/v1.0/me/photo/$value", Some(&token))
                .body(body)
                .unwrap();
            tokio::spawn(tower::ServiceExt::oneshot(server.app.clone(), request))
        })
        .collect();
    // Once all four are admitted, a fifth request of the app (any mailbox) is refused.
    let mut refused = None;
    for _ in 0..500 {
        let resp = server
            .get("/v1.0/users/megan@contoso.onmicrosoft.com/photo", &token)
            .await;
        if resp.status == 429 {
            refused = Some(resp);
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let refused = refused.expect("the fifth request in flight was never refused");
    let wait = assert_throttled(&refused);
    assert!((0.1..=1.1).contains(&wait), "Retry-After {wait}");
    // Another app is not counted with it.
    let other_app = app(&["ProfilePhoto.Read.All"]);
    assert_eq!(
        server
            .get(&format!("/v1.0/users/{ADELE_ID}/photo"), &other_app)
            .await
            .status,
        404
    );

    // The uploads end (their clients went away): their places are free again.
    for upload in &held {
        upload.abort();
    }
    for upload in held {
        assert!(upload.await.unwrap_err().is_cancelled());
    }
    assert_eq!(server.get("/v1.0/me/photo", &token).await.status, 404);
}

#[tokio::test]
async fn a_mailbox_rate_refuses_with_the_time_to_the_next_request_and_ignores_refused_requests() {
    let server = server_with_throttle(ThrottleConfig {
        mailbox_rate: rate(3, Duration::from_secs(60)),
        ..ThrottleConfig::default()
    })
    .await;
    let token = adele(READ);
    // Refused before throttling: a bad path (400) and a bad token (401) count for nothing.
    for _ in 0..5 {
        server
            .get("/v1.0/me/fotos", &token)
            .await
            .assert_error(400, "BadRequest");
        server
            .get("/v1.0/me/photo", "not-a-token")
            .await
            .assert_error(401, "InvalidAuthenticationToken");
    }
    // `/me` and her id are one mailbox.
    let by_id = format!("/v1.0/users/{ADELE_ID}/photo/$value");
    for path in ["/v1.0/me/photo", by_id.as_str(), "/v1.0/me/photos"] {
        assert_ne!(server.get(path, &token).await.status, 429, "{path}");
    }
    let wait = assert_throttled(&server.get("/v1.0/me/photo", &token).await);
    // A request every 20 s, plus up to a second of jitter.
    assert!((20.0..=21.001).contains(&wait), "Retry-After {wait}");
    // Another mailbox has its own budget.
    let group = format!("/v1.0/groups/{MARKETING_GROUP_ID}/photo");
    let megan = megan(&["Group.Read.All", "User.Read"]);
    assert_ne!(server.get(&group, &megan).await.status, 429);
}

#[tokio::test]
async fn the_upload_budget_refuses_declared_and_streamed_bodies_but_not_reads() {
    let server = server_with_throttle(ThrottleConfig {
        upload_bytes: Some(ByteRate {
            bytes: LIMIT as u64,
            per: Duration::from_secs(600),
        }),
        ..ThrottleConfig::default()
    })
    .await;
    let token = adele(&["User.ReadWrite"]);
    let three_mib = vec![0u8; 3 * 1024 * 1024];
    let put = |body: Body, length: Option<usize>| {
        let mut request = req("PUT", "/v1.0/me/photo/$value", Some(&token));
        if let Some(length) = length {
            request = request.header("content-length", length);
        }
        request.body(body).unwrap()
    };
    // 3 MiB declared: charged before the body is read (this one is then not an image).
    let resp = server
        .send(put(Body::from(three_mib.clone()), Some(three_mib.len())))
        .await;
    resp.assert_error(400, "ErrorInvalidImage");
    // 3 MiB more declared: over the 4 MiB budget, refused before reading.
    let resp = server
        .send(put(Body::from(three_mib.clone()), Some(three_mib.len())))
        .await;
    let wait = assert_throttled(&resp);
    // 2 MiB missing at 4 MiB per 10 minutes: 300 s.
    assert!((300.0..=301.001).contains(&wait), "Retry-After {wait}");
    assert_eq!(
        resp.header("connection"),
        Some("close"),
        "the body was not read"
    );
    // Streamed without a length: charged once read, refused before it is stored.
    let (body, pulled) = counting_stream(3 * 1024 * 1024, 64 * 1024);
    assert_throttled(&server.send(put(body, None)).await);
    assert_eq!(
        pulled.load(std::sync::atomic::Ordering::SeqCst),
        3 * 1024 * 1024
    );
    // A small photo still fits; reads cost no bytes.
    server
        .upload("/v1.0/me/photo/$value", &token, &png(64, 64))
        .await;
    assert_eq!(server.get("/v1.0/me/photo", &token).await.status, 200);
}

#[tokio::test]
async fn the_prefer_header_forces_one_answer_when_throttling_is_simulated() {
    // `--throttle custom` without limits: nothing but the forced answers.
    let server = server_with_throttle(ThrottleConfig::default()).await;
    let token = adele(READ);
    let path = "/v1.0/me/photo";

    let resp = get_with(&server, path, &token, Some("graph-photo-fail=429")).await;
    assert_eq!(assert_throttled(&resp), 1.0);
    assert_eq!(
        resp.header("preference-applied"),
        Some("graph-photo-fail=429")
    );

    let resp = get_with(
        &server,
        path,
        &token,
        Some("return=minimal, graph-photo-fail=503; retry-after=2.5"),
    )
    .await;
    resp.assert_error(503, "serviceNotAvailable");
    assert_eq!(resp.header("retry-after"), Some("2.5"));

    let resp = get_with(&server, path, &token, Some("graph-photo-fail=504")).await;
    resp.assert_error(504, "UnknownError");
    assert_eq!(
        resp.header("retry-after"),
        None,
        "Graph's gateway sends none"
    );

    let resp = get_with(&server, path, &token, Some("graph-photo-fail=500")).await;
    let message = resp.assert_error(400, "BadRequest");
    assert!(message.contains("429, 503 or 504"), "{message}");

    // A page's script can read the answer's Retry-After and Preference-Applied (CORS).
    let request = req("GET", path, Some(&token))
        .header("origin", "https://app.example")
        .header("prefer", "graph-photo-fail=429")
        .body(Body::empty())
        .unwrap();
    let resp = server.send(request).await;
    let exposed = resp.header("access-control-expose-headers").unwrap();
    for name in ["retry-after", "preference-applied"] {
        assert!(exposed.to_ascii_lowercase().contains(name), "{exposed}");
    }

    // Only for that request; and the token is checked first.
    assert_eq!(get_with(&server, path, &token, None).await.status, 404);
    get_with(&server, path, "bad", Some("graph-photo-fail=429"))
        .await
        .assert_error(401, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn random_failures_answer_the_chosen_statuses() {
    let server = server_with_throttle(ThrottleConfig {
        fail_rate: 1.0,
        fail_with: vec![SimulatedFailure::ServiceUnavailable],
        seed: Some(1),
        ..ThrottleConfig::default()
    })
    .await;
    let token = adele(READ);
    for _ in 0..5 {
        let resp = server.get("/v1.0/me/photo", &token).await;
        resp.assert_error(503, "serviceNotAvailable");
        assert_eq!(resp.header("retry-after"), Some("1"));
    }
}

/// One event of the server's throttle log.
#[derive(Debug)]
struct Event {
    at: time::OffsetDateTime,
    refused: bool,
    retry_after: Option<f64>,
}

/// The server's `throttle: admitted` and `throttle: refused` lines, per `client-request-id`
/// (one per logical call: the client keeps it across its retries), in order.
fn throttle_log(stderr: &str) -> HashMap<String, Vec<Event>> {
    let mut calls: HashMap<String, Vec<Event>> = HashMap::new();
    for line in stderr.lines().map(strip_ansi) {
        let refused = line.contains("throttle: refused");
        if !refused && !line.contains("throttle: admitted") {
            continue;
        }
        let at = line.split_whitespace().next().unwrap();
        let at = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("{e}: {line}"));
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .map(|v| v.trim_matches('"').to_owned())
        };
        let id = field("client_request_id").unwrap_or_else(|| panic!("no id: {line}"));
        let retry_after = field("retry_after").and_then(|v| v.parse().ok());
        calls.entry(id).or_default().push(Event {
            at,
            refused,
            retry_after,
        });
    }
    calls
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The real binary with 2 requests in flight and 20 requests per 2 s per app, and a real
/// `graph-photo sync` of 30 photos to 30 users with 8 uploads at once: every photo is
/// uploaded, some requests were throttled, and each throttled call came back no sooner than
/// its `Retry-After` said.
#[test]
fn sync_completes_every_photo_against_a_throttling_server_by_honouring_retry_after() {
    const PHOTOS: u32 = 30;
    let data = data_dir();
    let tenant = "2f9b6c4e-7d1a-4c33-9b0e-5a6f1d2c3b4a";
    let users: Vec<String> = (0..PHOTOS)
        .map(|n| format!("6e7b768e-07e2-4810-8459-{n:012}"))
        .collect();
    let directory = serde_json::json!({"tenants": [{
        "id": tenant, "displayName": "Throttled",
        "users": users.iter().enumerate().map(|(n, id)| serde_json::json!({
            "id": id, "userPrincipalName": format!("user{n}@throttled.example"),
            "displayName": format!("User {n}"),
        })).collect::<Vec<_>>(),
    }]});
    let directory_file = data.path().join("directory.json");
    std::fs::write(&directory_file, directory.to_string()).unwrap();

    let photos = tempfile::tempdir().unwrap();
    let mut map = String::from("file,target\n");
    for (n, user) in users.iter().enumerate() {
        let file = format!("p{n}.png");
        std::fs::write(photos.path().join(&file), unique_png(n as u32)).unwrap();
        map.push_str(&format!("{file},users/{user}\n"));
    }
    std::fs::write(photos.path().join("map.csv"), map).unwrap();

    let server = Server::start(
        data.path(),
        &[
            "--store",
            "memory",
            "--directory",
            directory_file.to_str().unwrap(),
            "--throttle",
            "custom",
            "--throttle-app-rate",
            "20/2s",
            "--throttle-concurrency",
            "2",
            "--log-level",
            "info,adapter_http_server::throttle=debug",
        ],
    );
    assert!(
        server.banner.contains("THROTTLING SIMULATION ON"),
        "{}",
        server.banner
    );
    let token = mint(&dev_tokens::TokenRequest::application(
        tenant,
        dev_tokens::DEV_APP_ID,
        ["ProfilePhoto.ReadWrite.All"],
    ));

    let started = Instant::now();
    let out = command()
        .env_remove("GRAPH_PHOTO_TOKEN_COMMAND")
        .env_remove("GRAPH_PHOTO_TOKEN")
        .env_remove("GRAPH_PHOTO_BASE")
        .arg("sync")
        .arg(photos.path())
        .arg("--map")
        .arg(photos.path().join("map.csv"))
        .args([
            "--base",
            &server.url(""),
            "--token",
            &token,
            "--concurrency",
            "8",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = server.stderr();
    assert!(
        out.status.success(),
        "{stdout}\n{}\nserver:\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("uploaded 30, skipped 0, failed 0"),
        "{stdout}"
    );
    // 20 at once, then one every 100 ms: the last of 30 no sooner than 1 s after the first.
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");

    let calls = throttle_log(&log);
    let refusals: usize = calls.values().flatten().filter(|e| e.refused).count();
    let admitted: usize = calls.values().flatten().filter(|e| !e.refused).count();
    assert!(refusals > 0, "nothing was throttled:\n{log}");
    assert_eq!(
        admitted, PHOTOS as usize,
        "one admitted upload per photo:\n{log}"
    );
    for (id, events) in &calls {
        assert!(
            events.last().is_some_and(|e| !e.refused),
            "call {id} never got through: {events:?}"
        );
        for pair in events.windows(2) {
            let (refusal, next) = (&pair[0], &pair[1]);
            assert!(refusal.refused, "call {id} was admitted twice: {events:?}");
            let asked = refusal.retry_after.expect("a 429 says when");
            let waited = (next.at - refusal.at).as_seconds_f64();
            // The log's clock has microseconds; Retry-After was rounded up to milliseconds.
            assert!(
                waited + 0.001 >= asked,
                "call {id} came back after {waited} s, asked to wait {asked} s: {events:?}"
            );
        }
    }
    eprintln!(
        "sync of {PHOTOS} photos: {elapsed:?}, {refusals} refusals, at most {} attempts per call",
        calls.values().map(Vec::len).max().unwrap_or(0)
    );
}
