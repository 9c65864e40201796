//! The client against a scripted server (wiremock).

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use adapter_graph_client::{
    CallbackToken, ClientConfig, ClientError, CommandToken, GraphClient, PhotoUpload, RawRequest,
    RetryPolicy, StaticToken, WriteOptions,
};
use bytes::Bytes;
use photo_core::target::{ContactOwner, Target};
use reqwest::Method;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0];
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        max_total: Duration::from_secs(20),
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

fn client_with(server: &MockServer, retry: RetryPolicy) -> GraphClient {
    GraphClient::new(
        ClientConfig {
            base_url: format!("{}/v1.0", server.uri()),
            retry,
            timeout: Duration::from_secs(10),
            tls: Default::default(),
        },
        Arc::new(StaticToken("test-token".into())),
    )
    .unwrap()
}

fn client(server: &MockServer) -> GraphClient {
    client_with(server, fast_policy())
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

fn header_of(req: &Request, name: &str) -> Option<String> {
    req.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

fn envelope(code: &str, message: &str) -> serde_json::Value {
    json!({"error": {"code": code, "message": message,
        "innerError": {"date": "2026-11-28T10:20:30", "request-id": "rid-1", "client-request-id": "crid-1"}}})
}

fn throttled(retry_after: &str) -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("Retry-After", retry_after)
        .set_body_json(envelope("TooManyRequests", "Please retry again later."))
}

#[tokio::test]
async fn a_429_is_retried_with_the_same_client_request_id() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/me/photo"))
        .respond_with(throttled("0.01"))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/me/photo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1x1"})))
        .mount(&server)
        .await;

    let response = client(&server)
        .send(RawRequest::new(Method::GET, "/me/photo"))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.attempts, 3);

    let seen = requests(&server).await;
    assert_eq!(seen.len(), 3);
    let ids: Vec<_> = seen
        .iter()
        .map(|r| header_of(r, "client-request-id").unwrap())
        .collect();
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    assert_eq!(ids[0].len(), 36, "a UUID");
    assert!(seen
        .iter()
        .all(|r| header_of(r, "authorization").as_deref() == Some("Bearer test-token")));

    // The next logical call gets a new id.
    client(&server)
        .send(RawRequest::new(Method::GET, "/me/photo"))
        .await
        .unwrap();
    let seen = requests(&server).await;
    assert_ne!(header_of(&seen[3], "client-request-id").unwrap(), ids[0]);
}

/// Retry-After is honoured: with a zero backoff, only the header can make the client wait.
async fn elapsed_with_retry_after(value: &str) -> Duration {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(throttled(value))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let policy = RetryPolicy {
        base_delay: Duration::ZERO,
        ..fast_policy()
    };
    let started = Instant::now();
    let response = client_with(&server, policy)
        .send(RawRequest::new(Method::GET, "/me/photo/$value"))
        .await
        .unwrap();
    assert_eq!((response.status, response.attempts), (200, 2));
    started.elapsed()
}

#[tokio::test]
async fn retry_after_in_fractional_seconds() {
    let elapsed = elapsed_with_retry_after("0.05").await;
    assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test]
async fn retry_after_in_integer_seconds() {
    let elapsed = elapsed_with_retry_after("1").await;
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[tokio::test]
async fn retry_after_as_an_http_date() {
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    let elapsed = elapsed_with_retry_after(&at).await;
    // One-second resolution: somewhere in (1 s, 2 s].
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("Retry-After", "0")
                .set_body_json(envelope("serviceNotAvailable", "Try later.")),
        )
        .mount(&server)
        .await;
    let policy = RetryPolicy {
        max_attempts: 3,
        ..fast_policy()
    };
    let err = client_with(&server, policy)
        .put_photo(
            &Target::Me,
            PhotoUpload::Bytes(Bytes::from_static(JPEG)),
            &WriteOptions::default(),
        )
        .await
        .unwrap_err();
    match &err {
        ClientError::GaveUp { attempts, last } => {
            assert_eq!(*attempts, 3);
            let graph = last.graph().unwrap();
            assert_eq!(
                (graph.status, graph.code.as_str()),
                (503, "serviceNotAvailable")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.code(), "serviceNotAvailable");
    let seen = requests(&server).await;
    assert_eq!(seen.len(), 3);
    // The body is re-sent on every attempt.
    assert!(seen.iter().all(|r| r.body == JPEG));
}

/// A 429 that says when to come back uses up time, not attempts: a call that loses its
/// turn more often than `max_attempts` still gets through while the server paces it.
#[tokio::test]
async fn paced_429s_do_not_use_up_attempts_but_other_failures_do() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/me/photo"))
        .respond_with(throttled("0.01"))
        .up_to_n_times(6)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/me/photo"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    // A 429 with `Retry-After: 0` does not pace anything: it counts like a 503.
    Mock::given(method("GET"))
        .and(path("/v1.0/me/photos"))
        .respond_with(throttled("0"))
        .mount(&server)
        .await;
    let policy = RetryPolicy {
        max_attempts: 3,
        ..fast_policy()
    };
    let c = client_with(&server, policy);
    let response = c
        .send(RawRequest::new(Method::GET, "/me/photo"))
        .await
        .unwrap();
    assert_eq!((response.status, response.attempts), (200, 7));
    let err = c
        .send(RawRequest::new(Method::GET, "/me/photos"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::GaveUp { attempts: 3, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn never_sleeps_past_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(throttled("30"))
        .mount(&server)
        .await;
    let policy = RetryPolicy {
        max_total: Duration::from_secs(2),
        ..fast_policy()
    };
    let started = Instant::now();
    let err = client_with(&server, policy)
        .send(RawRequest::new(Method::GET, "/me/photo"))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(&err, ClientError::GaveUp { attempts: 1, last } if last.graph().map(|g| g.status) == Some(429)),
        "{err:?}"
    );
    let graph = err.graph().unwrap();
    assert_eq!(graph.retry_after, Some(Duration::from_secs(30)));
    assert_eq!(graph.code, "TooManyRequests");
}

#[tokio::test]
async fn other_4xx_are_not_retried() {
    for status in [400u16, 401, 403, 404, 412, 413] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(status).set_body_json(envelope("ErrorSomething", "No.")),
            )
            .mount(&server)
            .await;
        let c = client(&server);
        let raw = c
            .send(RawRequest::new(Method::GET, "/me/photo"))
            .await
            .unwrap();
        assert_eq!((raw.status, raw.attempts), (status, 1));
        assert_eq!(raw.graph_error().unwrap().code, "ErrorSomething");
        let err = c.get_photo_metadata(&Target::Me).await.unwrap_err();
        assert!(
            matches!(&err, ClientError::Graph(g) if g.status == status),
            "{err:?}"
        );
        assert_eq!(requests(&server).await.len(), 2, "status {status}");
    }
}

#[tokio::test]
async fn send_once_makes_a_single_attempt() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(throttled("0"))
        .mount(&server)
        .await;
    let raw = client(&server)
        .send_once(RawRequest::new(Method::GET, "/me/photo"))
        .await
        .unwrap();
    assert_eq!((raw.status, raw.attempts), (429, 1));
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn error_envelopes_are_parsed() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("request-id", "header-rid")
                .set_body_json(envelope("ErrorAccessDenied", "Access is denied.")),
        )
        .mount(&server)
        .await;
    let err = client(&server)
        .delete_photo(&Target::Me, &WriteOptions::default())
        .await
        .unwrap_err();
    let ClientError::Graph(g) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(g.status, 403);
    assert_eq!(g.code, "ErrorAccessDenied");
    assert_eq!(g.message, "Access is denied.");
    assert_eq!(g.request_id.as_deref(), Some("rid-1"));
    assert_eq!(g.client_request_id.as_deref(), Some("crid-1"));
    assert_eq!(g.date.as_deref(), Some("2026-11-28T10:20:30"));
    assert_eq!(
        err.to_string(),
        "ErrorAccessDenied: Access is denied. (request-id rid-1)"
    );
}

#[tokio::test]
async fn non_json_error_bodies_still_make_a_graph_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(502)
                .insert_header("request-id", "proxy-rid")
                .set_body_string("<html><body>Bad gateway from the proxy</body></html>"),
        )
        .mount(&server)
        .await;
    let err = client(&server)
        .get_photo(&Target::Me, None)
        .await
        .unwrap_err();
    let g = err.graph().unwrap();
    assert_eq!(g.code, "HTTP 502");
    assert!(g.message.contains("Bad gateway from the proxy"), "{g:?}");
    assert_eq!(g.request_id.as_deref(), Some("proxy-rid"));
    assert_eq!(requests(&server).await.len(), 1, "502 is not retried");
}

#[tokio::test]
async fn uploads_declare_the_sniffed_content_type() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/v1.0/me/photo/$value"))
        .respond_with(ResponseTemplate::new(200).insert_header("ETag", "\"E1\""))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(header("if-match", "\"E1\""))
        .respond_with(ResponseTemplate::new(200).insert_header("ETag", "\"E2\""))
        .mount(&server)
        .await;
    let c = client(&server);
    let put = |bytes: &'static [u8]| {
        let c = c.clone();
        async move {
            c.put_photo(
                &Target::Me,
                PhotoUpload::Bytes(Bytes::from_static(bytes)),
                &WriteOptions::default(),
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(put(JPEG).await.etag.as_deref(), Some("\"E1\""));
    put(PNG).await;
    put(b"hello").await;
    let patched = c
        .put_photo(
            &Target::Me,
            PhotoUpload::Bytes(Bytes::from_static(PNG)),
            &WriteOptions {
                if_match: Some("\"E1\"".into()),
                use_patch: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.etag.as_deref(), Some("\"E2\""));

    let seen = requests(&server).await;
    let types: Vec<_> = seen
        .iter()
        .map(|r| header_of(r, "content-type").unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "image/jpeg",
            "image/png",
            "application/octet-stream",
            "image/png"
        ]
    );
    assert_eq!(seen[0].body, JPEG);
    assert_eq!(seen[3].method.as_str(), "PATCH");
}

#[tokio::test]
async fn files_are_streamed_with_their_length_and_reopened_on_retry() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.png");
    let mut content = PNG.to_vec();
    content.extend((0..300_000u32).map(|i| (i % 251) as u8));
    std::fs::write(&file, &content).unwrap();

    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    client(&server)
        .put_photo(
            &Target::Group("g1".into()),
            PhotoUpload::File(file),
            &WriteOptions::default(),
        )
        .await
        .unwrap();
    let seen = requests(&server).await;
    assert_eq!(seen.len(), 2);
    for r in &seen {
        assert_eq!(r.url.path(), "/v1.0/groups/g1/photo/$value");
        assert_eq!(header_of(r, "content-type").as_deref(), Some("image/png"));
        assert_eq!(
            header_of(r, "content-length"),
            Some(content.len().to_string())
        );
        assert_eq!(header_of(r, "transfer-encoding"), None);
        assert!(r.body == content, "the whole file, every attempt");
    }
}

#[tokio::test]
async fn ids_are_percent_encoded_in_urls() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .mount(&server)
        .await;
    let c = client(&server);
    c.list_sizes(&Target::User(
        "lee_fabrikam.com#EXT#@contoso.onmicrosoft.com".into(),
    ))
    .await
    .unwrap();
    c.get_photo_metadata(&Target::Contact {
        owner: ContactOwner::User("a/b+c=d".into()),
        folder: Some("F 1".into()),
        id: "o'neil".into(),
    })
    .await
    .unwrap_err(); // `{"value":[]}` is not metadata: InvalidResponse
    let seen = requests(&server).await;
    assert_eq!(
        seen[0].url.path(),
        "/v1.0/users/lee_fabrikam.com%23EXT%23%40contoso.onmicrosoft.com/photos"
    );
    assert_eq!(
        seen[1].url.path(),
        "/v1.0/users/a%2Fb%2Bc%3Dd/contactFolders/F%201/contacts/o%27neil/photo"
    );
    assert_eq!(seen[1].url.fragment(), None);
}

#[tokio::test]
async fn typed_reads_and_delete() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/photo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@odata.context": "x", "@odata.mediaContentType": "image/jpeg",
            "@odata.mediaEtag": "\"E\"", "id": "240x240", "width": 240, "height": 240})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/photos"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [
            {"@odata.mediaEtag": "\"A\"", "id": "48x48", "width": 48, "height": 48},
            {"@odata.mediaEtag": "\"B\"", "id": "64x64", "width": 64, "height": 64}]})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/photos/48x48/$value"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("ETag", "\"A\"")
                .set_body_raw(JPEG, "image/jpeg"),
        )
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1.0/users/u1/photo/$value"))
        .and(header("if-match", "*"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let c = client(&server);
    let u1 = Target::User("u1".into());
    let meta = c.get_photo_metadata(&u1).await.unwrap();
    assert_eq!(meta.id, "240x240");
    assert_eq!(meta.media_etag.as_deref(), Some("\"E\""));
    assert_eq!((meta.width, meta.height), (Some(240), Some(240)));
    let sizes = c.list_sizes(&u1).await.unwrap();
    assert_eq!(
        sizes.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["48x48", "64x64"]
    );
    let photo = c.get_photo(&u1, Some("48x48")).await.unwrap();
    assert_eq!(photo.bytes, JPEG);
    assert_eq!(photo.etag.as_deref(), Some("\"A\""));
    assert_eq!(photo.content_type.as_deref(), Some("image/jpeg"));
    c.delete_photo(
        &u1,
        &WriteOptions {
            if_match: Some("*".into()),
            use_patch: false,
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn given_headers_are_kept_and_the_token_is_asked_once_per_call() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(throttled("0"))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let c = GraphClient::new(
        ClientConfig {
            base_url: format!("{}/beta/", server.uri()),
            retry: fast_policy(),
            timeout: Duration::from_secs(10),
            tls: Default::default(),
        },
        Arc::new(CallbackToken(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok("cb-token".to_owned())
        })),
    )
    .unwrap();
    let r = c
        .send(RawRequest::new(Method::GET, "/me/photo"))
        .await
        .unwrap();
    assert_eq!(r.attempts, 3);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    c.send(
        RawRequest::new(Method::GET, "/me/photo")
            .header("Authorization", "Bearer mine")
            .header("Client-Request-Id", "my-id"),
    )
    .await
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "not asked when given");
    let seen = requests(&server).await;
    assert_eq!(seen[0].url.path(), "/beta/me/photo");
    assert_eq!(
        header_of(&seen[0], "authorization").as_deref(),
        Some("Bearer cb-token")
    );
    let last = seen.last().unwrap();
    assert_eq!(
        header_of(last, "authorization").as_deref(),
        Some("Bearer mine")
    );
    assert_eq!(
        header_of(last, "client-request-id").as_deref(),
        Some("my-id")
    );
}

#[tokio::test]
async fn a_401_makes_the_next_call_run_the_token_command_again() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(envelope(
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        )))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let runs_file = dir.path().join("runs");
    let runs = || {
        std::fs::read_to_string(&runs_file)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let c = GraphClient::new(
        ClientConfig {
            base_url: format!("{}/v1.0", server.uri()),
            retry: fast_policy(),
            timeout: Duration::from_secs(10),
            tls: Default::default(),
        },
        Arc::new(CommandToken::new(format!(
            "echo run >> '{}'; echo opaque-token",
            runs_file.display()
        ))),
    )
    .unwrap();
    let get = || c.send(RawRequest::new(Method::GET, "/me/photo"));

    let first = get().await.unwrap();
    assert_eq!(
        (first.status, first.attempts),
        (401, 1),
        "a 401 is not retried"
    );
    assert_eq!(runs(), 1);
    assert_eq!(get().await.unwrap().status, 200);
    assert_eq!(runs(), 2, "the rejected token was dropped");
    assert_eq!(get().await.unwrap().status, 200);
    assert_eq!(runs(), 2, "the new token is kept");
}

#[tokio::test]
async fn transport_errors_are_retried_for_idempotent_methods_only() {
    // A port nobody listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let c = GraphClient::new(
        ClientConfig {
            base_url: format!("http://127.0.0.1:{port}/v1.0"),
            retry: RetryPolicy {
                max_attempts: 3,
                ..fast_policy()
            },
            timeout: Duration::from_secs(5),
            tls: Default::default(),
        },
        Arc::new(StaticToken("t".into())),
    )
    .unwrap();
    let err = c
        .send(RawRequest::new(Method::PUT, "/me/photo/$value").body(JPEG))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::GaveUp { attempts: 3, last } if matches!(**last, ClientError::Transport(_))),
        "{err:?}"
    );
    let err = c
        .send(RawRequest::new(Method::POST, "/me/photo/$value"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
}

#[tokio::test]
async fn bad_configuration_is_refused() {
    let tokens = Arc::new(StaticToken("t".into()));
    for base in ["not a url", "ftp://example.com/v1.0"] {
        let config = ClientConfig {
            base_url: base.into(),
            ..ClientConfig::default()
        };
        assert!(matches!(
            GraphClient::new(config, tokens.clone()),
            Err(ClientError::Config(_))
        ));
    }
    let ok = GraphClient::new(ClientConfig::default(), tokens).unwrap();
    assert_eq!(ok.base_url(), adapter_graph_client::GRAPH_V1);
}
