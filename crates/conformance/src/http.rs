//! [`Endpoint`] over HTTP with reqwest: one attempt, no retries, no redirects.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderName, HeaderValue};

use crate::endpoint::{Endpoint, WireRequest, WireResponse};

/// A Graph-compatible endpoint reached over HTTP, e.g. `http://127.0.0.1:8080` (the API roots
/// `/v1.0` and `/beta` are part of each request's path).
#[derive(Debug, Clone)]
pub struct HttpEndpoint {
    client: reqwest::Client,
    base_url: String,
}

impl HttpEndpoint {
    /// An endpoint at `base_url` (`http` or `https`, without the version segment).
    pub fn new(base_url: &str) -> Result<Self, String> {
        let base_url = base_url.trim().trim_end_matches('/').to_owned();
        let parsed =
            reqwest::Url::parse(&base_url).map_err(|e| format!("base URL '{base_url}': {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "base URL '{base_url}': only http and https are supported"
            ));
        }
        // A fresh connection per request: a server may close a connection after answering
        // early without reading a body (a 4xx to an upload), and a request sent on it
        // meanwhile would get no answer. Reusing connections is not what is tested here.
        let mut builder = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10));
        let host = parsed.host_str().unwrap_or_default();
        let loopback =
            host.eq_ignore_ascii_case("localhost") || host.starts_with("127.") || host == "[::1]";
        if loopback {
            builder = builder.no_proxy();
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { client, base_url })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

#[async_trait]
impl Endpoint for HttpEndpoint {
    async fn send(&self, request: WireRequest) -> Result<WireResponse, String> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|e| format!("method '{}': {e}", request.method))?;
        let url = format!("{}{}", self.base_url, request.path);
        let mut builder = self.client.request(method, &url);
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| format!("header name '{name}': {e}"))?;
            let value =
                HeaderValue::from_str(value).map_err(|e| format!("header '{name}': {e}"))?;
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| transport_error(&e, &format!("{} {url}", request.method)))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(&e, &format!("reading the answer to {url}")))?
            .to_vec();
        Ok(WireResponse {
            status,
            headers,
            body,
        })
    }
}

/// A transport error as a person needs it: what happened first (`connection refused`,
/// `timed out`, ...), then where, then every cause in the chain (reqwest's own message names
/// only the URL; the cause is in its sources).
fn transport_error(error: &reqwest::Error, doing: &str) -> String {
    use std::error::Error as _;
    let mut chain = vec![error.to_string()];
    let mut kind = None;
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push(cause.to_string());
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            kind = kind.or_else(|| io_kind(io.kind()));
        }
        source = cause.source();
    }
    chain.dedup();
    let text = chain.join(": ");
    let lower = text.to_ascii_lowercase();
    let what = kind.unwrap_or(if error.is_timeout() {
        "timed out"
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        "the host name does not resolve"
    } else if lower.contains("certificate") || lower.contains("tls") {
        "TLS handshake failed"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_decode() {
        "the answer was cut off"
    } else {
        "no answer"
    });
    format!("{what} ({doing}: {text})")
}

fn io_kind(kind: std::io::ErrorKind) -> Option<&'static str> {
    use std::io::ErrorKind;
    Some(match kind {
        ErrorKind::ConnectionRefused => "connection refused",
        ErrorKind::ConnectionReset => "connection reset",
        ErrorKind::ConnectionAborted => "connection aborted",
        ErrorKind::TimedOut => "timed out",
        ErrorKind::NotConnected => "not connected",
        ErrorKind::BrokenPipe => "connection closed while sending",
        ErrorKind::UnexpectedEof => "connection closed before the answer",
        ErrorKind::AddrNotAvailable => "address not available",
        _ => return None,
    })
}
