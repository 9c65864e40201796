//! The one mapping from errors to Graph error responses (spec C7): status, `error.code`,
//! `error.message` and the headers that go with them.
//!
//! A handler's error becomes a response with an empty body and a [`GraphError`] in its
//! extensions; the envelope middleware, which knows the request ids, writes the JSON body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use photo_core::error::PhotoError;
use photo_core::target::RouteError;

use crate::auth::AuthError;
use crate::throttle::{format_retry_after, Refusal, SimulatedFailure, FORCE_PREFERENCE};

/// Everything a request can fail with at the HTTP edge.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error(transparent)]
    Photo(#[from] PhotoError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The connection failed while the body was being read.
    #[error("The request body could not be read.")]
    BodyRead,
    /// The upload memory budget stayed full for the whole wait (`serve --max-upload-memory`).
    #[error("The server is receiving too many uploads at once. Please retry later.")]
    UploadsBusy,
    /// The body did not arrive in time (`serve --body-timeout`, `--body-min-rate`).
    #[error("The request body did not arrive within {0} s; nothing was stored.")]
    BodyTimeout(u64),
    /// Throttled, or a failure simulated on purpose (`serve --throttle`, spec F1).
    #[error("{}", refusal_message(.0.failure))]
    Refused(Refusal),
    /// A `Prefer: graph-photo-fail=...` that cannot be obeyed.
    #[error("{0}")]
    BadPreference(String),
}

/// The messages of simulated failures: Graph's own for 429 (spec F1).
fn refusal_message(failure: SimulatedFailure) -> &'static str {
    match failure {
        SimulatedFailure::TooManyRequests => "Please retry again later.",
        SimulatedFailure::ServiceUnavailable => {
            "The service is temporarily unavailable. Please retry later."
        }
        SimulatedFailure::GatewayTimeout => "The gateway timed out. Please retry later.",
    }
}

impl From<RouteError> for ApiError {
    fn from(error: RouteError) -> Self {
        ApiError::Photo(PhotoError::Route(error))
    }
}

/// The `error` object of a Graph error response, before the request ids are added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GraphError {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// Seconds a client should wait before retrying a 503 (spec F2).
const RETRY_AFTER_SECS: &str = "5";

impl ApiError {
    /// Status and Graph code: the whole table of the spec, in one place.
    pub(crate) fn status_and_code(&self) -> (StatusCode, &'static str) {
        use PhotoError as P;
        match self {
            ApiError::Auth(_) => (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"),
            ApiError::BodyRead => (StatusCode::BAD_REQUEST, "BadRequest"),
            ApiError::UploadsBusy => (StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable"),
            // Graph's lower-camel codes of its generic errors (`serviceNotAvailable`).
            ApiError::BodyTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "requestTimeout"),
            ApiError::Refused(refusal) => match refusal.failure {
                SimulatedFailure::TooManyRequests => {
                    (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests")
                }
                SimulatedFailure::ServiceUnavailable => {
                    (StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable")
                }
                // What Graph's gateway answers (microsoft-graph-docs issue 2505).
                SimulatedFailure::GatewayTimeout => (StatusCode::GATEWAY_TIMEOUT, "UnknownError"),
            },
            ApiError::BadPreference(_) => (StatusCode::BAD_REQUEST, "BadRequest"),
            ApiError::Photo(error) => match error {
                P::Route(RouteError::MethodNotAllowed { .. }) => {
                    (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed")
                }
                P::Route(_) | P::NoSignedInUser => (StatusCode::BAD_REQUEST, "BadRequest"),
                P::AccessDenied(_) => (StatusCode::FORBIDDEN, "ErrorAccessDenied"),
                P::ResourceNotFound(_) => (StatusCode::NOT_FOUND, "Request_ResourceNotFound"),
                P::ItemNotFound => (StatusCode::NOT_FOUND, "ErrorItemNotFound"),
                P::PhotoNotFound | P::RenditionFailed(_) => {
                    (StatusCode::NOT_FOUND, "ErrorEntityNotFound")
                }
                P::ConsumerPhotoNotSupported => {
                    (StatusCode::BAD_REQUEST, "ConsumerPhotoIsNotSupported")
                }
                P::PreconditionFailed => (StatusCode::PRECONDITION_FAILED, "PreconditionFailed"),
                P::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge"),
                P::InvalidImage(_) => (StatusCode::BAD_REQUEST, "ErrorInvalidImage"),
                P::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable"),
            },
        }
    }

    fn message(&self) -> String {
        match self {
            // Internal detail goes to the log, never to the client (spec C7).
            ApiError::Photo(PhotoError::Unavailable(_)) => {
                "The service is temporarily unavailable. Please retry later.".to_owned()
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Photo(PhotoError::Unavailable(detail)) = &self {
            tracing::warn!(%detail, "answering 503");
        }
        let mut response = status.into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Photo(PhotoError::Route(RouteError::MethodNotAllowed { allow, .. })) => {
                if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
                    headers.insert(header::ALLOW, value);
                }
            }
            ApiError::Auth(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(crate::auth::WWW_AUTHENTICATE),
                );
            }
            ApiError::Photo(PhotoError::Unavailable(_)) | ApiError::UploadsBusy => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
            }
            ApiError::Refused(refusal) => {
                let retry_after = refusal
                    .retry_after
                    .and_then(|wait| HeaderValue::from_str(&format_retry_after(wait)).ok());
                if let Some(value) = retry_after {
                    headers.insert(header::RETRY_AFTER, value);
                }
                if refusal.reason == crate::throttle::Reason::Forced {
                    let applied = format!("{FORCE_PREFERENCE}={}", refusal.failure.status());
                    if let Ok(value) = HeaderValue::from_str(&applied) {
                        headers
                            .insert(header::HeaderName::from_static("preference-applied"), value);
                    }
                }
            }
            _ => {}
        }
        response.extensions_mut().insert(GraphError {
            code,
            message: self.message(),
        });
        response
    }
}
