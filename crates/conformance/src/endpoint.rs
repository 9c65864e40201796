//! The transport the suite drives: one HTTP exchange, exactly as sent and as answered.

use async_trait::async_trait;

/// One request, as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRequest {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// The path from the API root, version segment included and already percent-encoded,
    /// e.g. `/v1.0/users/AdeleV%40contoso.onmicrosoft.com/photo/$value`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// `Some` for requests with a body (sent with `Content-Length`), even an empty one.
    pub body: Option<Vec<u8>>,
}

impl WireRequest {
    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One answer, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireResponse {
    pub status: u16,
    /// Header names lower-cased, in the order received; a header sent twice appears twice.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl WireResponse {
    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Removes every header called `name`.
    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Replaces every header called `name` by one with `value`.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        self.remove_header(name);
        self.headers.push((name.to_ascii_lowercase(), value.into()));
    }
}

/// Anything that answers Graph requests: a real HTTP endpoint ([`crate::HttpEndpoint`]), or a
/// decorator around one (the suite's own tests corrupt answers to prove it notices).
///
/// Implementations make exactly one attempt per call and never retry: a conformance run must
/// see every answer. `Err` is a transport failure (no HTTP answer at all).
#[async_trait]
pub trait Endpoint: Send + Sync {
    async fn send(&self, request: WireRequest) -> Result<WireResponse, String>;
}
