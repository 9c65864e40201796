//! The Graph-compatible HTTP face of graph-photo: an axum [`Router`] over photo-core's
//! [`PhotoService`], with bearer authentication, Graph's error envelope and response headers.
//!
//! A host embeds it in three steps: build a [`PhotoService`] over its ports, pick an
//! [`Authenticate`] (the JWT [`Authenticator`], or its own), and either serve [`router`]'s
//! [`Router`] with [`transport::serve`] (connection limits, timeouts, graceful shutdown) or
//! nest it in an axum application of its own.
//!
//! Request path: envelope (request ids, error body) -> CORS (preflights only; any other
//! `OPTIONS` skips it) -> panic guard -> extractors
//! (route: 400/405; caller: 401) -> throttling, when simulated (429/503/504, [`throttle`]) ->
//! handler -> use case (403/404/400/412/...).
//!
//! # Cargo features
//!
//! - `jwt` (default): [`Authenticator`], which validates Entra-shaped RS256 access tokens
//!   against a JWKS file, URL or fixed set, with its token cache (jsonwebtoken, and reqwest
//!   to fetch a JWKS URL). Without it a host hands the router its own [`Authenticate`].
//! - `tls` (default): HTTPS in [`transport::serve`] and the `tls` module (rustls on ring,
//!   self-signed development certificates). Without it the server speaks plain http, for a
//!   host that terminates TLS in front of it.
//!
//! With neither, the crate builds no JWT verifier, HTTP client or TLS stack.
// Without `jwt`, links to `Authenticator` point at the features above.
#![cfg_attr(
    not(feature = "jwt"),
    doc = "\n\n[`Authenticator`]: crate#cargo-features"
)]
#![warn(missing_docs)]

pub mod auth;
mod envelope;
mod error;
mod handlers;
mod openapi;
pub mod ops;
pub mod telemetry;
pub mod throttle;
#[cfg(feature = "tls")]
pub mod tls;
pub mod transport;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderName, Method};
use axum::Router;
use photo_core::service::PhotoService;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

pub use auth::Authenticate;
#[cfg(feature = "jwt")]
pub use auth::Authenticator;
pub use throttle::{Throttle, ThrottleConfig};
#[cfg(feature = "tls")]
pub use tls::{serve_tls, SelfSignedFiles, TlsError};
pub use transport::{serve, Limits};

/// What every request needs: the router's whole configuration.
#[derive(Clone)]
pub struct AppState {
    /// The use cases, over the host's ports (directory, stores, renderer).
    pub service: Arc<PhotoService>,
    /// Who the caller is ([`Authenticator`] for JWTs, or a host's own [`Authenticate`]).
    #[cfg_attr(
        not(feature = "jwt"),
        doc = "\n\n[`Authenticator`]: crate#cargo-features"
    )]
    pub auth: Arc<dyn Authenticate>,
    /// The public root (`https://photos.example.com`) used in `@odata.context`; when `None`,
    /// the request's `Host` over plain http.
    pub public_base_url: Option<String>,
    /// What an upload may hold and how long it may take (issue 8).
    pub uploads: UploadLimits,
    /// Graph's throttling and fault simulation (spec F1); `None`, the default of
    /// `graph-photo serve`, never answers `429` of its own.
    pub throttle: Option<Throttle>,
}

/// The default cap on upload bytes held at once: 32 uploads of the 4 MiB limit. Far more
/// than 2 cores validate and store at once, and small enough that a flood of uploads keeps
/// the server well under 512 MB.
pub const DEFAULT_MAX_UPLOAD_MEMORY: usize = 128 * 1024 * 1024;
/// How long an upload waits for room in the budget before a `503` by default.
pub const DEFAULT_UPLOAD_WAIT: Duration = Duration::from_secs(10);
/// The least time a body is given to arrive by default, whatever its size.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// The slowest upload accepted by default, in bytes per second (a 4 MiB body gets 64 s).
pub const DEFAULT_BODY_MIN_RATE: u64 = 64 * 1024;

/// Limits on upload bodies: memory held at once (a weighted semaphore of bytes), the wait
/// for room in it, and the time a body may take to arrive. Clones share the budget.
#[derive(Debug, Clone)]
pub struct UploadLimits {
    budget: Arc<tokio::sync::Semaphore>,
    max_memory: usize,
    /// Uploads being validated at once, on the blocking pool: one per core. Validation is
    /// pure CPU (tens of milliseconds for a 4 MB JPEG), so more at once would only share the
    /// cores more thinly while holding more bodies; the rest wait here, as futures.
    validating: Arc<tokio::sync::Semaphore>,
    /// How long an upload waits for room in the budget before `503` + `Retry-After`.
    pub wait: Duration,
    /// A body must arrive within `max(body_timeout, size / min_rate)`, else `408`.
    pub body_timeout: Duration,
    /// Bytes per second; at least 1.
    pub min_rate: u64,
}

impl UploadLimits {
    /// A budget of `max_memory` bytes (raised to the 4 MiB photo limit, so that any single
    /// upload fits) and the other limits at their defaults.
    pub fn new(max_memory: usize) -> Self {
        let max_memory = max_memory.clamp(
            photo_core::limits::MAX_PHOTO_BYTES,
            tokio::sync::Semaphore::MAX_PERMITS,
        );
        Self {
            budget: Arc::new(tokio::sync::Semaphore::new(max_memory)),
            max_memory,
            validating: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            )),
            wait: DEFAULT_UPLOAD_WAIT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            min_rate: DEFAULT_BODY_MIN_RATE,
        }
    }

    /// The cap on upload bytes held at once.
    pub fn max_memory(&self) -> usize {
        self.max_memory
    }

    pub(crate) fn budget(&self) -> Arc<tokio::sync::Semaphore> {
        Arc::clone(&self.budget)
    }

    pub(crate) fn validating(&self) -> &tokio::sync::Semaphore {
        &self.validating
    }
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_UPLOAD_MEMORY)
    }
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
            // Says which forced answer was applied (`serve --throttle`, spec F1).
            HeaderName::from_static("preference-applied"),
        ])
        .max_age(std::time::Duration::from_secs(3600))
}

/// A CORS preflight: `OPTIONS` with `Access-Control-Request-Method` (Fetch standard).
fn is_preflight(request: &Request) -> bool {
    request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// `GET /openapi.json`: the OpenAPI 3.1 document of the routes below (`openapi.rs`).
async fn openapi_json() -> axum::response::Response {
    let mut response = axum::response::Response::new(axum::body::Body::from(openapi::document()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    response.extensions_mut().insert(telemetry::Observed {
        route: "openapi",
        ..telemetry::Observed::default()
    });
    response
}

/// The whole API: every path is parsed by the core's grammar in the one handler, so the
/// router answers any path (a `400` or `404` in Graph's shape for one that names no photo).
/// Serve it with [`transport::serve`], or nest it under a prefix of a host's own axum app.
///
/// # Example
///
/// A router over in-memory ports and a host's own [`Authenticate`] that admits nobody: the
/// path is checked first (spec A6), then the caller.
///
/// ```
/// use std::sync::Arc;
///
/// use adapter_http_server::auth::{AuthError, Authenticate};
/// use adapter_http_server::{router, AppState, UploadLimits};
/// use axum::body::Body;
/// use axum::http::{Request, StatusCode};
/// use photo_core::principal::Principal;
/// use tower::ServiceExt;
///
/// struct Nobody;
///
/// #[async_trait::async_trait]
/// impl Authenticate for Nobody {
///     async fn authenticate(&self, _: Option<&str>) -> Result<Principal, AuthError> {
///         Err(AuthError::MissingToken)
///     }
/// }
///
/// # fn service() -> Arc<photo_core::service::PhotoService> {
/// #     use photo_core::ports::*;
/// #     Arc::new(photo_core::service::PhotoService::new(
/// #         Arc::new(MockDirectory::new()),
/// #         Arc::new(MockPhotoStore::new()),
/// #         Arc::new(MockRenditionCache::new()),
/// #         Arc::new(MockRenderer::new()),
/// #     ))
/// # }
/// let app = router(AppState {
///     service: service(), // PhotoService::new over the host's directory, stores and renderer
///     auth: Arc::new(Nobody),
///     public_base_url: Some("https://photos.contoso.com".to_owned()),
///     uploads: UploadLimits::default(),
///     throttle: None,
/// });
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let get = |path: &str| Request::get(path).body(Body::empty());
/// let response = app.clone().oneshot(get("/v1.0/me/photo/$value")?).await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// assert!(response.headers().contains_key("request-id"));
/// let response = app.oneshot(get("/v1.0/me/fotos")?).await?;
/// assert_eq!(response.status(), StatusCode::BAD_REQUEST);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .fallback(handlers::handle)
        // Behind an Arc: axum clones the state for every request, and a clone of the
        // struct is several reference counts and, with a public base URL, a String.
        .with_state(Arc::new(state))
        .layer(CatchPanicLayer::custom(envelope::panic_response));
    let with_cors = api.clone().layer(cors());
    // tower-http's CORS layer answers every `OPTIONS` as a preflight (200, no `Allow`); any
    // other `OPTIONS` goes to the handler, which answers 405 with `Allow` like every method a
    // route does not accept (spec A6).
    // A handler rather than a service: axum strips the body of a HEAD answer only around a
    // handler, and it must do so outside the envelope, which writes error bodies.
    let dispatch = move |request: Request| {
        let service = if request.method() == Method::OPTIONS && !is_preflight(&request) {
            api.clone()
        } else {
            with_cors.clone()
        };
        tower::ServiceExt::oneshot(service, request)
    };
    Router::new()
        // Outside the version roots, so no Graph path can name it; no token: it describes the
        // API, it holds no data.
        .route("/openapi.json", axum::routing::get(openapi_json))
        .fallback(dispatch)
        // The envelope wraps CORS so that preflight answers carry request ids too (spec C6).
        .layer(axum::middleware::from_fn(envelope::graph_envelope))
        .layer(TraceLayer::new_for_http())
}
