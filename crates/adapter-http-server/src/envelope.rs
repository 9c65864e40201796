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

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
pub(crate) const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("client-request-id");

/// The longest `client-request-id` echoed back; longer ones are replaced, so a client cannot
/// make us send back arbitrary amounts of its own data.
const MAX_CLIENT_REQUEST_ID: usize = 128;

fn client_request_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(&CLIENT_REQUEST_ID)?.to_str().ok()?.trim();
    let ok = !value.is_empty()
        && value.len() <= MAX_CLIENT_REQUEST_ID
        && value.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| value.to_owned())
}

/// `innerError.date`: UTC, ISO-8601 without an offset, as Graph sends it (spec C7).
pub(crate) fn inner_error_date(now: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    now.format(&format).unwrap_or_default()
}

pub(crate) async fn graph_envelope(request: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = client_request_id(request.headers()).unwrap_or(request_id.clone());

    let mut response = next.run(request).await;

    if let Some(error) = response.extensions_mut().remove::<GraphError>() {
        let body = serde_json::json!({
            "error": {
                "code": error.code,
                "message": error.message,
                "innerError": {
                    "date": inner_error_date(OffsetDateTime::now_utc()),
                    "request-id": request_id,
                    "client-request-id": client_request_id,
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
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID, value);
    }
    if let Ok(value) = HeaderValue::from_str(&client_request_id) {
        headers.insert(CLIENT_REQUEST_ID, value);
    }
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
