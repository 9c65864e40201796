//! Errors: Graph's error envelope (spec C7) and the client's own failures.

use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::Deserialize;

use crate::retry::parse_retry_after;

/// A Graph error answer: `{"error":{"code","message","innerError":{...}}}` plus what the
/// response headers tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub client_request_id: Option<String>,
    pub date: Option<String>,
    pub retry_after: Option<Duration>,
}

impl fmt::Display for GraphError {
    /// `code: message (request-id ...)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request-id {id})")?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct Envelope {
    error: EnvelopeError,
}

#[derive(Deserialize)]
struct EnvelopeError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "innerError", alias = "innererror")]
    inner_error: Option<InnerError>,
}

#[derive(Deserialize, Default)]
struct InnerError {
    #[serde(default, rename = "request-id")]
    request_id: Option<String>,
    #[serde(default, rename = "client-request-id")]
    client_request_id: Option<String>,
    #[serde(default)]
    date: Option<String>,
}

/// How many characters of a non-JSON error body make the message.
const RAW_MESSAGE_CHARS: usize = 200;

impl GraphError {
    /// Reads an error answer. Never fails: a body that is not Graph's envelope still gives a
    /// code (`HTTP 502`) and a message (the body's start, or the reason phrase).
    pub fn from_response(status: u16, headers: &HeaderMap, body: &[u8]) -> GraphError {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let envelope = serde_json::from_slice::<Envelope>(body)
            .ok()
            .map(|e| e.error);
        let fallback_code = format!("HTTP {status}");
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("unknown status");
        let (code, message, inner) = match envelope {
            Some(e) => (
                e.code.filter(|c| !c.is_empty()).unwrap_or(fallback_code),
                e.message.unwrap_or_else(|| reason.to_owned()),
                e.inner_error.unwrap_or_default(),
            ),
            None => {
                let text = String::from_utf8_lossy(body);
                let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                let message = if text.is_empty() {
                    reason.to_owned()
                } else {
                    text.chars().take(RAW_MESSAGE_CHARS).collect()
                };
                (fallback_code, message, InnerError::default())
            }
        };
        GraphError {
            status,
            code,
            message,
            request_id: inner.request_id.or_else(|| header("request-id")),
            client_request_id: inner
                .client_request_id
                .or_else(|| header("client-request-id")),
            date: inner.date.or_else(|| header("date")),
            retry_after: parse_retry_after(headers),
        }
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Graph answered with an error status.
    #[error("{0}")]
    Graph(GraphError),
    /// No answer: connection refused or reset, timeout, TLS, ...
    #[error("transport error: {0}")]
    Transport(String),
    /// No token could be had.
    #[error("cannot get an access token: {0}")]
    Token(String),
    /// A 2xx answer that does not say what it should.
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// Retries ran out (attempts or total time); `last` is what the last attempt got.
    #[error("gave up after {attempts} attempt(s): {last}")]
    GaveUp {
        attempts: u32,
        last: Box<ClientError>,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("client configuration: {0}")]
    Config(String),
}

impl ClientError {
    /// The Graph error behind this one, also when retries gave up on it.
    pub fn graph(&self) -> Option<&GraphError> {
        match self {
            ClientError::Graph(e) => Some(e),
            ClientError::GaveUp { last, .. } => last.graph(),
            _ => None,
        }
    }

    /// A short code for summaries: the Graph code, or the kind of failure.
    pub fn code(&self) -> String {
        match self {
            ClientError::Graph(e) => e.code.clone(),
            ClientError::GaveUp { last, .. } => last.code(),
            ClientError::Transport(_) => "TransportError".into(),
            ClientError::Token(_) => "TokenError".into(),
            ClientError::InvalidResponse(_) => "InvalidResponse".into(),
            ClientError::Io(_) => "IoError".into(),
            ClientError::Config(_) => "ConfigError".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn envelope_fields_win_over_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("request-id", HeaderValue::from_static("from-header"));
        headers.insert("client-request-id", HeaderValue::from_static("crid"));
        let body = br#"{"error":{"code":"ErrorAccessDenied","message":"Access is denied.",
            "innerError":{"date":"2026-11-28T10:20:30","request-id":"rid"}}}"#;
        let e = GraphError::from_response(403, &headers, body);
        assert_eq!(e.code, "ErrorAccessDenied");
        assert_eq!(e.message, "Access is denied.");
        assert_eq!(e.request_id.as_deref(), Some("rid"));
        assert_eq!(e.client_request_id.as_deref(), Some("crid"));
        assert_eq!(e.date.as_deref(), Some("2026-11-28T10:20:30"));
        assert_eq!(
            e.to_string(),
            "ErrorAccessDenied: Access is denied. (request-id rid)"
        );
    }

    #[test]
    fn non_json_bodies_still_say_something() {
        let e = GraphError::from_response(502, &HeaderMap::new(), b"<html>\n bad   gateway</html>");
        assert_eq!(e.code, "HTTP 502");
        assert_eq!(e.message, "<html> bad gateway</html>");
        let e = GraphError::from_response(503, &HeaderMap::new(), b"");
        assert_eq!(e.message, "Service Unavailable");
        let long = "x".repeat(1000);
        let e = GraphError::from_response(500, &HeaderMap::new(), long.as_bytes());
        assert_eq!(e.message.len(), RAW_MESSAGE_CHARS);
    }

    #[test]
    fn gave_up_exposes_the_graph_error() {
        let g = GraphError::from_response(429, &HeaderMap::new(), b"");
        let e = ClientError::GaveUp {
            attempts: 3,
            last: Box::new(ClientError::Graph(g)),
        };
        assert_eq!(e.graph().map(|g| g.status), Some(429));
        assert_eq!(e.code(), "HTTP 429");
    }
}
