//! The router over a real socket (`axum::serve` on 127.0.0.1:0), called with reqwest: what
//! only the wire shows (HEAD bodies, chunked uploads, answers before the body is sent).

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::*;
use axum::body::Bytes;
use futures::StreamExt;

const TIMEOUT: Duration = Duration::from_secs(20);

struct Live {
    addr: SocketAddr,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Live {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

async fn live() -> Live {
    let app = server().await.app;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .no_proxy()
        .build()
        .unwrap();
    Live {
        addr,
        client,
        server,
    }
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_read_back_and_head_over_the_wire() {
    let live = live().await;
    let token = adele(&["User.ReadWrite"]);
    let photo = jpeg(90, 70);
    let url = live.url("/v1.0/me/photo/$value");

    let resp = live
        .client
        .put(&url)
        .bearer_auth(&token)
        .header("content-type", "application/octet-stream")
        .body(photo.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-length"), Some("0"));
    assert_eq!(header(&resp, "content-type"), None);
    assert!(header(&resp, "date").is_some());
    assert!(header(&resp, "request-id").is_some());
    let etag = header(&resp, "etag").unwrap().to_owned();
    assert!(resp.bytes().await.unwrap().is_empty());

    let resp = live
        .client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), Some("image/jpeg"));
    assert_eq!(header(&resp, "etag"), Some(etag.as_str()));
    assert_eq!(header(&resp, "cache-control"), Some("private"));
    assert_eq!(resp.bytes().await.unwrap(), photo);

    for path in [
        "/v1.0/me/photo/$value",
        "/v1.0/me/photo",
        "/v1.0/me/photos/48x48/$value",
    ] {
        let resp = live
            .client
            .head(live.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert!(
            header(&resp, "content-length")
                .unwrap()
                .parse::<usize>()
                .unwrap()
                > 0
        );
        assert!(
            resp.bytes().await.unwrap().is_empty(),
            "a body on HEAD {path}"
        );
    }
    // HEAD of an error: the status and headers, no body either.
    let resp = live.client.head(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(header(&resp, "www-authenticate").is_some());
    assert!(resp.bytes().await.unwrap().is_empty());

    // The error envelope, read as a client would.
    let resp = live
        .client
        .get(live.url("/v1.0/me/photo/nope"))
        .header("client-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(header(&resp, "client-request-id"), Some("abc-123"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BadRequest");
    assert_eq!(body["error"]["innerError"]["client-request-id"], "abc-123");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_upload_is_streamed() {
    let live = live().await;
    let token = adele(&["User.ReadWrite", "Contacts.ReadWrite"]);
    let photo = jpeg(200, 150);
    let chunks: Vec<Result<Bytes, std::io::Error>> = photo
        .chunks(1000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    // An id with `=` sent raw, and `%24value`, as the JS SDK and others do.
    let url = live.url(&format!(
        "/beta/me/contacts/{ADELE_CONTACT_ID}/photo/%24value"
    ));
    let resp = live
        .client
        .put(&url)
        .bearer_auth(&token)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let resp = live
        .client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.bytes().await.unwrap(), photo);
}

/// B4: a chunked body is cut off at the limit and answered 413 while the client still holds
/// the rest (the stream then waits, so the connection closes cleanly).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_limit_chunked_stream_is_413() {
    let live = live().await;
    let token = adele(&["User.ReadWrite"]);
    let chunk = 64 * 1024;
    let pieces = LIMIT / chunk + 2;
    let stream = futures::stream::iter(0..pieces)
        .map(move |_| Ok::<_, std::io::Error>(Bytes::from(vec![0u8; chunk])))
        .chain(futures::stream::pending());
    let resp = live
        .client
        .put(live.url("/v1.0/me/photo/$value"))
        .bearer_auth(&token)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RequestEntityTooLarge");
    let resp = live
        .client
        .get(live.url("/v1.0/me/photo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

/// B4: a declared Content-Length over the limit is answered before any of the body is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_oversize_is_413_before_the_body_is_sent() {
    let live = live().await;
    let token = adele(&["User.ReadWrite"]);
    // A body that never yields: the answer cannot depend on it.
    let body =
        reqwest::Body::wrap_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>());
    let resp = live
        .client
        .put(live.url("/v1.0/me/photo/$value"))
        .bearer_auth(&token)
        .header("content-length", (LIMIT + 1).to_string())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RequestEntityTooLarge");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("4194305"));
}
