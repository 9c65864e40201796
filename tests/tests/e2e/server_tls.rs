//! The router over HTTPS (`tls::serve_tls` on 127.0.0.1:0 with a freshly generated
//! self-signed certificate), called with reqwest trusting that certificate: HTTP/2 and
//! HTTP/1.1, Graph's 401 and a real upload; clients that do not speak TLS, or do not trust the
//! certificate, do not hurt the server; graceful shutdown lets an in-flight upload finish.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use adapter_http_server::auth::{AuthConfig, JwksSource};
use adapter_http_server::tls::{self, generate_self_signed, PemPair, SELF_SIGNED_NAMES};
use adapter_http_server::{router, AppState, Authenticator};
use adapter_memstore::seed::{ADELE_ID, CONTOSO_TENANT};
use adapter_memstore::{MemDirectory, MemPhotoStore, MemRenditionCache};
use dev_tokens::{DevKey, TokenRequest};
use graph_photo::serve::photo_service;
use photo_render::DEFAULT_RENDER_MEMORY;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const TIMEOUT: Duration = Duration::from_secs(20);

fn dev_key() -> &'static DevKey {
    DevKey::test_key()
}

fn adele_token() -> String {
    dev_key()
        .mint(&TokenRequest::delegated(
            CONTOSO_TENANT,
            ADELE_ID,
            ["User.ReadWrite"],
        ))
        .expect("mint")
}

fn cert() -> &'static PemPair {
    static CERT: OnceLock<PemPair> = OnceLock::new();
    CERT.get_or_init(|| generate_self_signed(&SELF_SIGNED_NAMES).expect("certificate"))
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([x as u8, y as u8, (x ^ y) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encode");
    out.into_inner()
}

struct Live {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Live {
    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    /// Triggers the graceful shutdown and waits for `serve_tls` to return.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let server = &mut self.server;
        tokio::time::timeout(TIMEOUT, server)
            .await
            .expect("serve_tls returns after the shutdown signal")
            .expect("the server task did not panic")
            .expect("serve_tls ends with Ok");
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn live() -> Live {
    let service = photo_service(
        Arc::new(MemDirectory::seeded()),
        Arc::new(MemPhotoStore::new()),
        Arc::new(MemRenditionCache::default()),
        DEFAULT_RENDER_MEMORY,
    );
    let auth = Authenticator::new(AuthConfig::new(JwksSource::Static(dev_key().jwks())))
        .await
        .expect("authenticator");
    let app = router(AppState {
        service,
        auth: Arc::new(auth),
        public_base_url: None,
        uploads: Default::default(),
        throttle: None,
    });
    let pair = cert();
    let config = tls::server_config_from_pem(
        pair.cert_pem.as_bytes(),
        Path::new("cert"),
        pair.key_pem.as_bytes(),
        Path::new("key"),
    )
    .expect("server config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(tls::serve_tls(listener, config, app, async {
        let _ = stopped.await;
    }));
    Live {
        addr,
        stop: Some(stop),
        server,
    }
}

/// A client that trusts the test certificate (and nothing else).
fn trusting_client() -> reqwest::ClientBuilder {
    let root = reqwest::Certificate::from_pem(cert().cert_pem.as_bytes()).expect("pem");
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(root)
}

async fn json(resp: reqwest::Response) -> Value {
    serde_json::from_slice(&resp.bytes().await.unwrap()).expect("a JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_over_https_with_http2_and_http1() {
    let live = live().await;
    let token = adele_token();
    let photo = jpeg(90, 70);

    for (client, version) in [
        (trusting_client().build().unwrap(), reqwest::Version::HTTP_2),
        (
            trusting_client().http1_only().build().unwrap(),
            reqwest::Version::HTTP_11,
        ),
    ] {
        // No token: Graph's 401 envelope.
        let resp = client.get(live.url("/v1.0/me/photo")).send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.version(), version);
        assert!(resp.headers().get("request-id").is_some());
        let body = json(resp).await;
        assert_eq!(
            body["error"]["code"], "InvalidAuthenticationToken",
            "{body}"
        );

        // A development token: the upload is stored.
        let resp = client
            .put(live.url("/v1.0/me/photo/$value"))
            .bearer_auth(&token)
            .header("content-type", "application/octet-stream")
            .body(photo.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{version:?}");
        assert!(resp.headers().get("etag").is_some());

        // The metadata's @odata.context names the host the client called, also over HTTP/2
        // (which sends `:authority`, not `Host`).
        let resp = client
            .get(live.url("/v1.0/me/photo"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body = json(resp).await;
        assert_eq!(body["width"], 90, "{body}");
        let context = body["@odata.context"].as_str().unwrap();
        assert!(
            context.contains(&format!("//{}/v1.0/$metadata#", live.addr)),
            "{context}"
        );

        let resp = client
            .get(live.url("/v1.0/me/photo/$value"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.bytes().await.unwrap().as_ref(), photo.as_slice());
    }
    live.stop().await;
}

/// Plain http, garbage, a silent client and a client that does not trust the certificate are
/// each turned away without affecting anyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_do_not_speak_tls_do_not_hurt_the_server() {
    let live = live().await;
    let client = trusting_client().build().unwrap();

    // Plain http to the TLS port: a 400 that says so, in Graph's error shape.
    let plain = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .no_proxy()
        .build()
        .unwrap();
    let resp = plain
        .get(format!("http://{}/v1.0/me/photo", live.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body = json(resp).await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("HTTPS"),
        "{body}"
    );

    let addr = live.addr;
    tokio::task::spawn_blocking(move || {
        // Garbage, then the server closes.
        let mut socket = std::net::TcpStream::connect(addr).unwrap();
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        socket
            .write_all(b"\x00\x01\x02 not tls at all\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        let _ = socket.read_to_end(&mut answer);
        // A TLS record header announcing a handshake, then nonsense: a failed handshake.
        let mut socket = std::net::TcpStream::connect(addr).unwrap();
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        socket
            .write_all(b"\x16\x03\x01\x00\x05hello-this-is-not-a-client-hello")
            .unwrap();
        let _ = socket.read_to_end(&mut answer);
        // Connect and leave at once.
        drop(std::net::TcpStream::connect(addr).unwrap());
    })
    .await
    .unwrap();

    // A client that does not trust the certificate fails its handshake.
    let untrusting = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .no_proxy()
        .build()
        .unwrap();
    assert!(untrusting
        .get(live.url("/v1.0/me/photo"))
        .send()
        .await
        .is_err());

    // The server still answers.
    let resp = client.get(live.url("/v1.0/me/photo")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    live.stop().await;
}

/// The shutdown signal stops new connections but lets an upload already under way finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let mut live = live().await;
    let client = trusting_client().http1_only().build().unwrap();
    let photo = jpeg(64, 64);
    let (first, rest) = photo.split_at(100);
    let (first, rest) = (first.to_vec(), rest.to_vec());

    // A body sent in two parts, the second only once the shutdown has been signalled.
    let (send_rest, rest_ready) = oneshot::channel::<()>();
    let chunks = futures::stream::unfold(
        (Some(first), Some((rest_ready, rest))),
        |(first, rest)| async move {
            if let Some(first) = first {
                return Some((Ok::<_, std::io::Error>(first), (None, rest)));
            }
            let (ready, rest) = rest?;
            let _ = ready.await;
            Some((Ok(rest), (None, None)))
        },
    );
    let upload = tokio::spawn(
        client
            .put(live.url("/v1.0/me/photo/$value"))
            .bearer_auth(adele_token())
            .header("content-type", "image/jpeg")
            .header("content-length", photo.len().to_string())
            .body(reqwest::Body::wrap_stream(chunks))
            .send(),
    );

    // Let the request reach the handler, then signal the shutdown.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = live.stop.take().expect("not stopped yet").send(());
    tokio::time::sleep(Duration::from_millis(200)).await;

    // No new connections...
    assert!(
        tokio::net::TcpStream::connect(live.addr).await.is_err(),
        "still accepting after the shutdown signal"
    );
    assert!(
        !live.server.is_finished(),
        "returned with a request in flight"
    );

    // ...but the upload under way completes.
    let _ = send_rest.send(());
    let resp = tokio::time::timeout(TIMEOUT, upload)
        .await
        .expect("the upload finishes")
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);
    live.stop().await;
}
