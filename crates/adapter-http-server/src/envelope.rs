//! Middleware that gives every response the headers of spec C6 and turns a [`GraphError`]
//! left by a handler into the Graph error body of spec C7.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use time::macros::format_description;
use time::OffsetDateTime;

use crate::error::GraphError;
use crate::telemetry::ErrorCode;

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
pub(crate) const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("client-request-id");

/// The longest `client-request-id` echoed back; longer ones are replaced, so a client cannot
/// make us send back arbitrary amounts of its own data.
const MAX_CLIENT_REQUEST_ID: usize = 128;

pub(crate) fn client_request_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(&CLIENT_REQUEST_ID)?.to_str().ok()?.trim();
    let ok = !value.is_empty()
        && value.len() <= MAX_CLIENT_REQUEST_ID
        && value.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| value.to_owned())
}

/// A new `request-id`: a version 4 UUID. Its random bits come from a per-thread generator
/// seeded once from the OS (a `Uuid::new_v4`), not from a `getrandom` call per request: a
/// request id must be unique, not secret, and the system call was a visible share of a small
/// GET.
fn new_request_id() -> HeaderValue {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(uuid::Uuid::new_v4().as_u64_pair().0);
    }
    // SplitMix64: every seed gives a full-period sequence of well-mixed outputs.
    let next = || {
        STATE.with(|state| {
            let mut z = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            state.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
    };
    let bits = (u128::from(next()) << 64) | u128::from(next());
    let id = uuid::Builder::from_random_bytes(bits.to_be_bytes()).into_uuid();
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = id.hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(text)
        .unwrap_or_else(|_| HeaderValue::from_static("00000000-0000-4000-8000-000000000000"))
}

/// `innerError.date`: UTC, ISO-8601 without an offset, as Graph sends it (spec C7).
pub(crate) fn inner_error_date(now: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    now.format(&format).unwrap_or_default()
}

pub(crate) async fn graph_envelope(request: Request, next: Next) -> Response {
    let request_id = new_request_id();
    let client_request_id = client_request_id(request.headers())
        .and_then(|id| HeaderValue::from_str(&id).ok())
        .unwrap_or_else(|| request_id.clone());

    let mut response = next.run(request).await;

    if let Some(error) = response.extensions_mut().remove::<GraphError>() {
        // For the request log, which runs outside this middleware.
        response.extensions_mut().insert(ErrorCode(error.code));
        let body = serde_json::json!({
            "error": {
                "code": error.code,
                "message": error.message,
                "innerError": {
                    "date": inner_error_date(OffsetDateTime::now_utc()),
                    "request-id": request_id.to_str().unwrap_or_default(),
                    "client-request-id": client_request_id.to_str().unwrap_or_default(),
                }
            }
        });
        let bytes = body.to_string().into_bytes();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        *response.body_mut() = Body::from(bytes);
    }

    let headers = response.headers_mut();
    headers.insert(REQUEST_ID, request_id);
    headers.insert(CLIENT_REQUEST_ID, client_request_id);
    if let Some(value) = http_date_now() {
        headers.insert(header::DATE, value);
    }
    response
}

/// The `Date` header for now, formatted once a second per thread (as hyper does for its own):
/// every response carries it, and formatting a date costs more than the rest of the envelope.
fn http_date_now() -> Option<HeaderValue> {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};
    thread_local! {
        static LAST: RefCell<Option<(u64, HeaderValue)>> = const { RefCell::new(None) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((at, value)) if *at == second => Some(value.clone()),
            _ => {
                let value = HeaderValue::from_str(&httpdate::fmt_http_date(now)).ok()?;
                *last = Some((second, value.clone()));
                Some(value)
            }
        }
    })
}

/// A panic in a handler is a bug; the client still gets a Graph-shaped answer without detail.
pub(crate) fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(GraphError {
        code: "generalException",
        message: "An internal server error occurred.".to_owned(),
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_error_date_is_iso_without_offset() {
        let date = inner_error_date(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(date, "1970-01-01T00:00:00");
    }

    #[test]
    fn request_ids_are_distinct_version_4_uuids() {
        let ids: std::collections::HashSet<String> = (0..1000)
            .map(|_| new_request_id().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(10) {
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.get_version_num(), 4, "{id}");
            assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122, "{id}");
        }
        // Another thread starts from its own seed.
        let other = std::thread::spawn(|| new_request_id().to_str().unwrap().to_owned())
            .join()
            .unwrap();
        assert!(!ids.contains(&other));
    }

    #[test]
    fn client_request_ids_are_echoed_only_when_sane() {
        let mut headers = HeaderMap::new();
        headers.insert(CLIENT_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(client_request_id(&headers).as_deref(), Some("abc-123"));
        headers.insert(CLIENT_REQUEST_ID, HeaderValue::from_static("has space"));
        assert_eq!(client_request_id(&headers), None);
        let long = "x".repeat(MAX_CLIENT_REQUEST_ID + 1);
        headers.insert(CLIENT_REQUEST_ID, HeaderValue::from_str(&long).unwrap());
        assert_eq!(client_request_id(&headers), None);
    }
}
