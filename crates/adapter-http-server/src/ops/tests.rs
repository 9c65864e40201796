//! The operational endpoints and the HTTP metrics, through the router (tower `oneshot`), over
//! mock ports. The real binary's request log and a real outage: tests/tests/e2e/operate.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use photo_core::ports::StoreError;
use photo_core::ports::{MockDirectory, MockPhotoStore, MockRenderer, MockRenditionCache};
use photo_core::principal::Principal;
use photo_core::service::PhotoService;
use tower::ServiceExt;

use super::*;
use crate::auth::{AuthError, Authenticate};
use crate::UploadLimits;

/// Admits nobody: every Graph request that gets past routing is a 401.
struct Nobody;

#[async_trait::async_trait]
impl Authenticate for Nobody {
    async fn authenticate(&self, _: Option<&str>) -> Result<Principal, AuthError> {
        Err(AuthError::MissingToken)
    }
}

fn app(store: MockPhotoStore, operations: Operations) -> Router {
    let service = Arc::new(PhotoService::new(
        Arc::new(MockDirectory::new()),
        Arc::new(store),
        Arc::new(MockRenditionCache::new()),
        Arc::new(MockRenderer::new()),
    ));
    router(
        AppState {
            service,
            auth: Arc::new(Nobody),
            public_base_url: None,
            uploads: UploadLimits::default(),
            throttle: None,
        },
        operations,
    )
}

fn store_whose_check(answer: fn() -> Result<(), StoreError>) -> MockPhotoStore {
    let mut store = MockPhotoStore::new();
    store.expect_check().returning(answer);
    store
}

async fn send(
    app: &Router,
    method: Method,
    path: &str,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (
        parts.status,
        parts.headers,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn healthz_answers_ok_without_a_token_or_asking_the_store() {
    // A store that must not be asked: the mock panics on any call.
    let app = app(MockPhotoStore::new(), Operations::default());
    let (status, headers, body) = send(&app, Method::GET, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "ok\n");
    assert!(
        headers.contains_key("request-id"),
        "spec C6 on every response"
    );
    assert_eq!(headers["cache-control"], "no-store");
    let (status, _, body) = send(&app, Method::HEAD, "/healthz").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
}

#[tokio::test]
async fn readyz_answers_200_when_the_store_is_ready() {
    let app = app(store_whose_check(|| Ok(())), Operations::default());
    let (status, headers, body) = send(&app, Method::GET, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "ready\n");
    assert!(headers.contains_key("request-id"));
}

#[tokio::test]
async fn readyz_answers_503_in_graphs_shape_when_the_store_is_not() {
    let app = app(
        store_whose_check(|| Err(StoreError::Unavailable("connection refused".into()))),
        Operations::default(),
    );
    let (status, headers, body) = send(&app, Method::GET, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "5");
    assert_eq!(headers["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "serviceNotAvailable");
    assert_eq!(
        body["error"]["innerError"]["request-id"],
        headers["request-id"].to_str().unwrap()
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains("refused"),
        "no internal detail: {message}"
    );
}

#[tokio::test]
async fn the_graph_routes_and_their_errors_are_unchanged() {
    let app = app(MockPhotoStore::new(), Operations::default());
    // No recorder given: /metrics is not served, so it is what it always was, an unknown segment.
    for path in ["/metrics", "/v1.0/healthz", "/healthz/x", "/v1.0/me/fotos"] {
        let (status, _, body) = send(&app, Method::GET, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "BadRequest", "{path}");
    }
    let (status, headers, _) = send(&app, Method::POST, "/v1.0/me/photo/$value").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(headers.contains_key("allow"));
    let (status, _, _) = send(&app, Method::GET, "/v1.0/me/photo/$value").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Another method on an operational endpoint: 405 with Allow.
    let (status, headers, _) = send(&app, Method::POST, "/healthz").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(headers["allow"].to_str().unwrap().contains("GET"));
}

/// The value of the series `name{labels...}` in Prometheus text, labels in any order.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        let pairs: Vec<&str> = rest
            .trim_end_matches('}')
            .split(',')
            .filter(|p| !p.is_empty())
            .collect();
        let matches = metric == name
            && pairs.len() == labels.len()
            && labels
                .iter()
                .all(|(k, v)| pairs.contains(&format!("{k}=\"{v}\"").as_str()));
        matches.then(|| value.parse().ok()).flatten()
    })
}

#[test]
fn metrics_count_requests_by_route_class_method_and_status() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&[0.001, 0.01, 0.1, 1.0])
        .unwrap()
        .build_recorder();
    let handle = recorder.handle();
    let render: RenderMetrics = Arc::new(move || handle.render());
    // The recorder is this thread's only (no global one in a test binary); a current-thread
    // runtime keeps every request's middleware on it.
    let text = metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let app = app(
                    store_whose_check(|| Ok(())),
                    Operations {
                        metrics: Some(render),
                        ..Operations::default()
                    },
                );
                for _ in 0..3 {
                    send(&app, Method::GET, "/v1.0/me/photo/$value").await;
                }
                send(&app, Method::GET, "/v1.0/users/x/photos/48x48").await;
                send(&app, Method::PUT, "/v1.0/me/photo").await;
                send(&app, Method::GET, "/v1.0/me/fotos").await;
                send(&app, Method::GET, "/readyz").await;
                send(&app, Method::GET, "/openapi.json").await;
                let (status, headers, text) = send(&app, Method::GET, "/metrics").await;
                assert_eq!(status, StatusCode::OK);
                assert!(headers["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/plain"));
                text
            })
    });
    let requests = |route, method, status| {
        sample(
            &text,
            "graph_photo_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert_eq!(requests("photo_value", "GET", "401"), Some(3.0), "{text}");
    assert_eq!(requests("photos_size", "GET", "401"), Some(1.0), "{text}");
    assert_eq!(requests("unmatched", "PUT", "405"), Some(1.0), "{text}");
    assert_eq!(requests("unmatched", "GET", "400"), Some(1.0), "{text}");
    assert_eq!(requests("readyz", "GET", "200"), Some(1.0), "{text}");
    assert_eq!(requests("openapi", "GET", "200"), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "graph_photo_http_request_duration_seconds_count",
            &[("route", "photo_value"), ("method", "GET")]
        ),
        Some(3.0),
        "{text}"
    );
    assert!(
        text.contains("graph_photo_http_request_duration_seconds_bucket{"),
        "a histogram, not a summary:\n{text}"
    );
    assert_eq!(
        sample(&text, "graph_photo_throttled_requests_total", &[]),
        Some(0.0),
        "registered before any throttling:\n{text}"
    );
    assert!(!text.contains("/v1.0/"), "no raw path in a label:\n{text}");
}
