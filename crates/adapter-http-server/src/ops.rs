//! Operating the server (issue 14): `/healthz`, `/readyz` and `/metrics` beside the Graph API,
//! and the request log and HTTP metrics around everything.
//!
//! These endpoints live outside the Graph version roots (`/v1.0`, `/beta`) and need no token.
//! Every other path goes to the Graph [`router`](crate::router) unchanged, with its `400`/`405`
//! answers for unknown segments and methods (spec A6).
//!
//! - `GET /healthz`: `200 ok` while the process serves requests; it checks nothing else.
//! - `GET /readyz`: `200 ready` when the photo store answers its check
//!   ([`PhotoStore::check`](photo_core::ports::PhotoStore::check)) within
//!   [`Operations::readiness_timeout`]; otherwise `503` with Graph's error envelope, code
//!   `serviceNotAvailable`, and `Retry-After` (the reason goes to the log, not the client).
//! - `GET /metrics`: Prometheus text, rendered by the host's recorder
//!   ([`Operations::metrics`]); without one the path is not served (it is then an unknown
//!   Graph segment, `400`).
//!
//! All three also answer `HEAD`, carry `request-id`, `client-request-id` and `Date` (spec C6)
//! and `Cache-Control: no-store`; another method answers `405` with `Allow`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use photo_core::service::PhotoService;

use crate::error::GraphError;
use crate::telemetry::{self, Observed};
use crate::{envelope, AppState};

/// Renders the process's metrics as Prometheus text exposition format.
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// How long `/readyz` waits for the store by default: a probe's answer is due quickly, and
/// a store that cannot answer in this time is not ready to serve requests either.
pub const DEFAULT_READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// The operational endpoints' configuration.
#[derive(Clone)]
pub struct Operations {
    /// What `/metrics` serves; `None` serves no `/metrics`.
    pub metrics: Option<RenderMetrics>,
    /// How long `/readyz` waits for the store's check before answering `503`.
    pub readiness_timeout: Duration,
}

impl Default for Operations {
    /// No `/metrics`; readiness bounded by [`DEFAULT_READINESS_TIMEOUT`].
    fn default() -> Self {
        Self {
            metrics: None,
            readiness_timeout: DEFAULT_READINESS_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for Operations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operations")
            .field("metrics", &self.metrics.is_some())
            .field("readiness_timeout", &self.readiness_timeout)
            .finish()
    }
}

struct OpsState {
    service: Arc<PhotoService>,
    operations: Operations,
}

/// The Graph API ([`router`](crate::router)) with `/healthz`, `/readyz` and, when
/// `operations.metrics` is set, `/metrics`; and around every request, the request log (one
/// `info` event per request, target [`ACCESS_LOG_TARGET`](crate::telemetry::ACCESS_LOG_TARGET);
/// the operational endpoints at `debug`) and the HTTP metrics
/// ([`telemetry`]). What `graph-photo serve` serves.
pub fn router(state: AppState, operations: Operations) -> Router {
    telemetry::describe();
    let ops = Arc::new(OpsState {
        service: Arc::clone(&state.service),
        operations,
    });
    let mut endpoints = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if ops.operations.metrics.is_some() {
        endpoints = endpoints.route("/metrics", get(metrics));
    }
    endpoints
        .with_state(ops)
        // Applied to these routes only (before the fallback is set): spec C6's headers and
        // the Graph error body of a 503.
        .layer(axum::middleware::from_fn(envelope::graph_envelope))
        .fallback_service(crate::router(state))
        .layer(axum::middleware::from_fn(telemetry::observe))
}

/// Marks an operational endpoint's response for the request log and metrics.
fn observed(route: &'static str, mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.extensions_mut().insert(Observed {
        route,
        ..Observed::default()
    });
    response
}

fn text(body: &'static str) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

async fn healthz() -> Response {
    observed("healthz", text("ok\n"))
}

async fn readyz(State(ops): State<Arc<OpsState>>) -> Response {
    let bound = ops.operations.readiness_timeout;
    let checked = tokio::time::timeout(bound, ops.service.check_store()).await;
    let response = match checked {
        Ok(Ok(())) => text("ready\n"),
        Ok(Err(error)) => {
            tracing::warn!(%error, "not ready: the photo store failed its check");
            not_ready()
        }
        Err(_) => {
            tracing::warn!(
                timeout_ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX),
                "not ready: the photo store did not answer its check in time"
            );
            not_ready()
        }
    };
    observed("readyz", response)
}

/// `503 serviceNotAvailable` with `Retry-After`, as spec F2 answers a store outage; the
/// envelope writes the body.
fn not_ready() -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, HeaderValue::from_static("5"))],
    )
        .into_response();
    response.extensions_mut().insert(GraphError {
        code: "serviceNotAvailable",
        message: "The service is not ready: its photo store cannot be reached.".to_owned(),
    });
    response
}

async fn metrics(State(ops): State<Arc<OpsState>>) -> Response {
    let body = ops
        .operations
        .metrics
        .as_ref()
        .map(|render| render())
        .unwrap_or_default();
    let response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response();
    observed("metrics", response)
}

#[cfg(test)]
mod tests;
