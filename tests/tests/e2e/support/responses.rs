//! A response read in process, and the assertions every response must pass (spec C6, C7).

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

/// A response, body read.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header"))
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub(crate) fn message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Asserts a Graph error of this status and code; returns the message.
    #[track_caller]
    pub(crate) fn assert_error(&self, status: u16, code: &str) -> String {
        if self.body.is_empty() {
            // A HEAD answer: the status and the JSON type of what GET would say.
            assert_eq!(self.status.as_u16(), status);
            assert_eq!(self.header("content-type"), Some("application/json"));
            return String::new();
        }
        assert_eq!(
            self.status.as_u16(),
            status,
            "expected {status} {code}, got {} {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.code(), code, "{}", String::from_utf8_lossy(&self.body));
        assert_envelope(self);
        self.message()
    }

    /// Spec C1: 200, empty body, `Content-Length: 0`, no `Content-Type`, an ETag.
    #[track_caller]
    pub(crate) fn assert_updated(&self) {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert!(self.body.is_empty());
        assert_eq!(self.header("content-length"), Some("0"));
        assert_eq!(self.header("content-type"), None);
        assert_strong_etag(self.header("etag").expect("an ETag on update"));
    }

    #[track_caller]
    pub(crate) fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }
}

#[track_caller]
pub(crate) fn assert_strong_etag(etag: &str) {
    assert!(
        etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
        "not a strong ETag: {etag}"
    );
}

/// `YYYY-MM-DDTHH:MM:SS`, nothing else (spec C7).
pub(crate) fn is_inner_error_date(date: &str) -> bool {
    let b = date.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// Spec C6: `request-id` (a UUID), `client-request-id` (echoed, else the request-id), `Date`.
#[track_caller]
pub(crate) fn assert_c6(resp: &Resp, sent_client_request_id: Option<&str>) {
    let request_id = resp.header("request-id").expect("request-id header");
    uuid::Uuid::parse_str(request_id).expect("request-id is a UUID");
    let client_id = resp
        .header("client-request-id")
        .expect("client-request-id header");
    // Echoed when it is a sane id (visible ASCII, at most 128 characters); a client cannot make
    // the server send back arbitrary text.
    let sane = sent_client_request_id
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()));
    assert_eq!(client_id, sane.unwrap_or(request_id));
    let date = resp.header("date").expect("Date header");
    httpdate::parse_http_date(date).expect("an HTTP date");
}

/// Spec C7: the Graph error body.
#[track_caller]
pub(crate) fn assert_envelope(resp: &Resp) {
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let json = resp.json();
    let error = &json["error"];
    assert!(error["code"].is_string(), "{json}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{json}"
    );
    let inner = &error["innerError"];
    let date = inner["date"].as_str().expect("innerError.date");
    assert!(is_inner_error_date(date), "innerError.date {date}");
    assert_eq!(
        inner["request-id"].as_str(),
        resp.header("request-id"),
        "{json}"
    );
    assert_eq!(
        inner["client-request-id"].as_str(),
        resp.header("client-request-id"),
        "{json}"
    );
    if resp.status == StatusCode::INTERNAL_SERVER_ERROR {
        assert_eq!(error["message"], "An internal server error occurred.");
    }
}
