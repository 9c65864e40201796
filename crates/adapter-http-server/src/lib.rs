//! The Graph-compatible HTTP face of graph-photo: an axum [`Router`] over photo-core's
//! [`PhotoService`], with JWT bearer auth, Graph's error envelope and response headers.
//!
//! Request path: envelope (request ids, error body) -> CORS -> panic guard -> extractors
//! (route: 400/405; caller: 401) -> handler -> use case (403/404/400/412/...).

pub mod auth;
mod envelope;
mod error;
mod handlers;
mod renderer;
pub mod tls;
pub mod transport;

use std::sync::Arc;

use axum::http::{header, HeaderName, Method};
use axum::Router;
use photo_core::service::PhotoService;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

pub use auth::Authenticator;
pub use error::{ApiError, GraphError};
pub use renderer::{TokioRenderer, DEFAULT_RENDER_MEMORY};
pub use tls::{serve_tls, SelfSignedFiles, TlsError};
pub use transport::{serve, Limits};

/// What every request needs.
#[derive(Clone)]
pub struct AppState {
    pub service: Arc<PhotoService>,
    pub auth: Arc<Authenticator>,
    /// The public root (`https://photos.example.com`) used in `@odata.context`; when `None`,
    /// the request's `Host` over plain http.
    pub public_base_url: Option<String>,
}

/// Browsers may call the API from any origin (Graph does the same: tokens, not cookies,
/// carry the authority), and scripts must be able to read these headers.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            header::ETAG,
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
            header::LOCATION,
            HeaderName::from_static("request-id"),
            HeaderName::from_static("client-request-id"),
        ])
        .max_age(std::time::Duration::from_secs(3600))
}

/// The whole API: every path is parsed by the core's grammar in the one handler.
pub fn router(state: AppState) -> Router {
    Router::new()
        .fallback(handlers::handle)
        .with_state(state)
        .layer(CatchPanicLayer::custom(envelope::panic_response))
        // The envelope wraps CORS so that preflight answers carry request ids too (spec C6).
        .layer(cors())
        .layer(axum::middleware::from_fn(envelope::graph_envelope))
        .layer(TraceLayer::new_for_http())
}
