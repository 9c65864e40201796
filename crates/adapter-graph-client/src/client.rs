//! The client: raw calls with retries, and the typed photo operations.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use photo_core::format::ImageFormat;
use photo_core::renditions::SizeId;
use photo_core::target::{ApiVersion, Resource, Target};
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_MATCH,
};
use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use crate::error::{ClientError, GraphError};
use crate::retry::{is_retryable_status, parse_retry_after, RetryPolicy};
use crate::token::TokenProvider;

/// Microsoft Graph's v1.0 root.
pub const GRAPH_V1: &str = "https://graph.microsoft.com/v1.0";

const CLIENT_REQUEST_ID: &str = "client-request-id";
const OCTET_STREAM: &str = "application/octet-stream";
/// Bytes read from the start of a file to sniff its format (a BMP needs 18).
const SNIFF_BYTES: usize = 64;

/// How the client talks to its server.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The API root, e.g. [`GRAPH_V1`] or `http://127.0.0.1:8080/beta`; plain http is allowed.
    /// A root without a version segment (`http://127.0.0.1:8080`) means its `/v1.0`, so the
    /// same value works here and for the conformance suite.
    pub base_url: String,
    pub retry: RetryPolicy,
    /// The limit of one attempt, from connecting to the end of the response body.
    pub timeout: Duration,
    /// Which servers' certificates are trusted over https.
    pub tls: TlsTrust,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            base_url: GRAPH_V1.to_owned(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
            tls: TlsTrust::default(),
        }
    }
}

/// The certificates an https server may present. Always trusted: the Mozilla roots built in
/// and the operating system's trust store (where a company's TLS-inspecting proxy puts its
/// root; `SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured). Added here: more roots, such as the
/// certificate of `graph-photo serve --tls-self-signed`.
#[derive(Debug, Clone, Default)]
pub struct TlsTrust {
    /// PEM files' contents, each holding one or more CA certificates to trust as well.
    pub extra_roots_pem: Vec<Vec<u8>>,
    /// Accept any certificate, expired, self-signed or for another name: for development
    /// against a throwaway server only. The connection is still encrypted, but anyone on the
    /// path can read and change it.
    pub accept_invalid_certs: bool,
}

/// The root URL requests are made under: `base` without a trailing `/`, and with `/v1.0`
/// added when its last path segment is not an API version (`v1.0` or `beta`).
fn api_root(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    let Ok(url) = Url::parse(base) else {
        // Left as given: `GraphClient::new` reports why it is not a URL.
        return base.to_owned();
    };
    let versioned = url
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .is_some_and(|last| ApiVersion::from_segment(last).is_some());
    if versioned {
        base.to_owned()
    } else {
        format!("{base}/v1.0")
    }
}

/// A request as the wire sees it; `path` is appended to the base URL (starts with `/`).
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
}

impl RawRequest {
    /// A request without headers or body.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        RawRequest {
            method,
            path: path.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }
}

/// What the last attempt of a call got back.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Attempts made for this call (1 when the first one was answered).
    pub attempts: u32,
}

impl RawResponse {
    /// The Graph error this answer carries, when its status is 4xx or 5xx.
    pub fn graph_error(&self) -> Option<GraphError> {
        (self.status >= 400)
            .then(|| GraphError::from_response(self.status, &self.headers, &self.body))
    }

    /// The `ETag` header, as sent (quotes included).
    pub fn etag(&self) -> Option<String> {
        self.header(ETAG.as_str())
    }

    /// A header's value, when present and text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A photo to upload.
#[derive(Debug, Clone)]
pub enum PhotoUpload {
    Bytes(Bytes),
    /// Streamed from disk (reopened for each attempt), with `Content-Length` from its metadata.
    File(PathBuf),
}

/// Options of PUT/PATCH/DELETE.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Sent as `If-Match` (spec B7): an ETag as received, or `*`.
    pub if_match: Option<String>,
    /// PATCH instead of PUT (both update, spec A1).
    pub use_patch: bool,
}

/// The answer of an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updated {
    pub etag: Option<String>,
}

/// A photo's or a size's metadata (spec C2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhotoMetadata {
    #[serde(
        rename = "@odata.mediaContentType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub media_content_type: Option<String>,
    #[serde(
        rename = "@odata.mediaEtag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub media_etag: Option<String>,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// A photo's bytes (spec C3).
#[derive(Debug, Clone)]
pub struct PhotoBytes {
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub bytes: Bytes,
}

#[derive(Deserialize)]
struct SizeList {
    value: Vec<PhotoMetadata>,
}

/// What a request body is made of, per attempt.
enum BodySource {
    None,
    Bytes(Bytes),
    File(PathBuf),
}

/// A Graph photo client. Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    retry: RetryPolicy,
    timeout: Duration,
    tokens: Arc<dyn TokenProvider>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base_url", &self.inner.base_url)
            .field("retry", &self.inner.retry)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl GraphClient {
    pub fn new(config: ClientConfig, tokens: Arc<dyn TokenProvider>) -> Result<Self, ClientError> {
        let base_url = api_root(&config.base_url);
        let parsed = Url::parse(&base_url)
            .map_err(|e| ClientError::Config(format!("base URL '{base_url}': {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ClientError::Config(format!(
                "base URL '{base_url}': only http and https are supported"
            )));
        }
        if config.retry.max_attempts == 0 {
            return Err(ClientError::Config(
                "retry.max_attempts must be at least 1".into(),
            ));
        }
        let mut http = reqwest::Client::builder()
            .user_agent(concat!("graph-photo/", env!("CARGO_PKG_VERSION")))
            .danger_accept_invalid_certs(config.tls.accept_invalid_certs);
        for pem in &config.tls.extra_roots_pem {
            let roots = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                ClientError::Config(format!("CA certificates: {}", error_chain(&e)))
            })?;
            if roots.is_empty() {
                return Err(ClientError::Config(
                    "CA certificates: no PEM certificate in the file".into(),
                ));
            }
            for root in roots {
                http = http.add_root_certificate(root);
            }
        }
        let http = http
            .build()
            .map_err(|e| ClientError::Config(error_chain(&e)))?;
        Ok(GraphClient {
            inner: Arc::new(Inner {
                http,
                base_url,
                retry: config.retry,
                timeout: config.timeout,
                tokens,
            }),
        })
    }

    /// The API root this client calls.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// One logical call with the retry policy applied; answers any status (no status ->
    /// error mapping). Adds `Authorization` from the token provider unless the request has an
    /// `authorization` header, and a `client-request-id` (a fresh UUID per logical call, kept
    /// across its retries) unless present.
    pub async fn send(&self, request: RawRequest) -> Result<RawResponse, ClientError> {
        let body = request.body.map_or(BodySource::None, BodySource::Bytes);
        self.execute(
            request.method,
            &request.path,
            &request.headers,
            body,
            &self.inner.retry,
        )
        .await
    }

    /// [`send`](Self::send) with retries disabled: exactly one attempt.
    pub async fn send_once(&self, request: RawRequest) -> Result<RawResponse, ClientError> {
        let body = request.body.map_or(BodySource::None, BodySource::Bytes);
        self.execute(
            request.method,
            &request.path,
            &request.headers,
            body,
            &RetryPolicy::none(),
        )
        .await
    }

    /// `PUT` (or `PATCH`) `.../photo/$value`. The `Content-Type` is sniffed from the bytes
    /// (`application/octet-stream` when the format is not known; the server sniffs anyway).
    pub async fn put_photo(
        &self,
        target: &Target,
        photo: PhotoUpload,
        options: &WriteOptions,
    ) -> Result<Updated, ClientError> {
        let (head, body) = match photo {
            PhotoUpload::Bytes(bytes) => (bytes.slice(..bytes.len().min(SNIFF_BYTES)), {
                BodySource::Bytes(bytes)
            }),
            PhotoUpload::File(path) => (read_head(&path).await?, BodySource::File(path)),
        };
        let content_type = ImageFormat::sniff(&head).map_or(OCTET_STREAM, |f| f.content_type());
        let mut headers = vec![(CONTENT_TYPE.to_string(), content_type.to_owned())];
        if let Some(etag) = &options.if_match {
            headers.push((IF_MATCH.to_string(), etag.clone()));
        }
        let method = if options.use_patch {
            Method::PATCH
        } else {
            Method::PUT
        };
        let path = photo_path(target, &Resource::PhotoValue);
        let response = self
            .execute(method, &path, &headers, body, &self.inner.retry)
            .await?;
        let response = success(response)?;
        Ok(Updated {
            etag: response.etag(),
        })
    }

    /// `GET .../photo`: the original's metadata.
    pub async fn get_photo_metadata(&self, target: &Target) -> Result<PhotoMetadata, ClientError> {
        self.get_json(&photo_path(target, &Resource::Photo)).await
    }

    /// `GET .../photos/{size}`: one size's metadata.
    pub async fn get_size_metadata(
        &self,
        target: &Target,
        size: &str,
    ) -> Result<PhotoMetadata, ClientError> {
        self.get_json(&photo_path(target, &Resource::Size(SizeId::new(size))))
            .await
    }

    /// `GET .../photo/$value`, or `.../photos/{size}/$value` with a size like `96x96`.
    pub async fn get_photo(
        &self,
        target: &Target,
        size: Option<&str>,
    ) -> Result<PhotoBytes, ClientError> {
        let resource = match size {
            Some(size) => Resource::SizeValue(SizeId::new(size)),
            None => Resource::PhotoValue,
        };
        let response = self.get(&photo_path(target, &resource)).await?;
        Ok(PhotoBytes {
            content_type: response.header(CONTENT_TYPE.as_str()),
            etag: response.etag(),
            bytes: response.body,
        })
    }

    /// `GET .../photos`: the available sizes (spec A4).
    pub async fn list_sizes(&self, target: &Target) -> Result<Vec<PhotoMetadata>, ClientError> {
        let list: SizeList = self
            .get_json(&photo_path(target, &Resource::Photos))
            .await?;
        Ok(list.value)
    }

    /// `DELETE .../photo/$value` (spec A5).
    pub async fn delete_photo(
        &self,
        target: &Target,
        options: &WriteOptions,
    ) -> Result<(), ClientError> {
        let mut headers = Vec::new();
        if let Some(etag) = &options.if_match {
            headers.push((IF_MATCH.to_string(), etag.clone()));
        }
        let path = photo_path(target, &Resource::PhotoValue);
        let response = self
            .execute(
                Method::DELETE,
                &path,
                &headers,
                BodySource::None,
                &self.inner.retry,
            )
            .await?;
        success(response).map(drop)
    }

    async fn get(&self, path: &str) -> Result<RawResponse, ClientError> {
        let response = self
            .execute(Method::GET, path, &[], BodySource::None, &self.inner.retry)
            .await?;
        success(response)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let response = self.get(path).await?;
        serde_json::from_slice(&response.body).map_err(|e| {
            ClientError::InvalidResponse(format!(
                "GET {path}: the body is not the expected JSON: {e}"
            ))
        })
    }

    fn url(&self, path: &str) -> Result<Url, ClientError> {
        let joined = if path.starts_with('/') {
            format!("{}{path}", self.inner.base_url)
        } else {
            format!("{}/{path}", self.inner.base_url)
        };
        Url::parse(&joined).map_err(|e| ClientError::Config(format!("URL '{joined}': {e}")))
    }

    /// One logical call under `policy`.
    async fn execute(
        &self,
        method: Method,
        path: &str,
        extra_headers: &[(String, String)],
        body: BodySource,
        policy: &RetryPolicy,
    ) -> Result<RawResponse, ClientError> {
        let url = self.url(path)?;
        let mut headers = HeaderMap::new();
        for (name, value) in extra_headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| ClientError::Config(format!("header name '{name}': {e}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| ClientError::Config(format!("header '{name}' value: {e}")))?;
            headers.append(name, value);
        }
        // The provider's token, to tell it when the server rejects it.
        let mut provided_token = None;
        if !headers.contains_key(AUTHORIZATION) {
            let token = self
                .inner
                .tokens
                .token()
                .await
                .map_err(|e| ClientError::Token(e.0))?;
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                ClientError::Token("the token has characters not allowed in a header".into())
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
            provided_token = Some(token);
        }
        if !headers.contains_key(CLIENT_REQUEST_ID) {
            let id = uuid::Uuid::new_v4().to_string();
            headers.insert(
                CLIENT_REQUEST_ID,
                HeaderValue::from_str(&id).map_err(|e| ClientError::Config(e.to_string()))?,
            );
        }
        // PUT/PATCH of a photo, GET, HEAD, DELETE are idempotent; POST is not.
        let idempotent = method != Method::POST;
        let deadline = Instant::now() + policy.max_total;

        let mut attempt = 0u32;
        // Attempts that used up the budget: all but the 429s that said when to come back.
        let mut failed = 0u32;
        loop {
            attempt += 1;
            let outcome = self
                .attempt(&method, &url, &headers, &body, attempt)
                .await?;
            let (retry_after, last) = match outcome {
                Ok(response) if is_retryable_status(response.status) => {
                    (parse_retry_after(&response.headers), Ok(response))
                }
                Ok(response) => {
                    if let (401, Some(token)) = (response.status, &provided_token) {
                        self.inner.tokens.rejected(token).await;
                    }
                    return Ok(response);
                }
                Err(error) if idempotent && retryable_transport(&error) => {
                    (None, Err(ClientError::Transport(error_chain(&error))))
                }
                Err(error) => return Err(ClientError::Transport(error_chain(&error))),
            };
            if policy.max_attempts <= 1 {
                // Retries are off: the answer is what it is.
                return last;
            }
            let give_up = |last: Result<RawResponse, ClientError>| ClientError::GaveUp {
                attempts: attempt,
                last: Box::new(match last {
                    Ok(response) => ClientError::Graph(GraphError::from_response(
                        response.status,
                        &response.headers,
                        &response.body,
                    )),
                    Err(error) => error,
                }),
            };
            // A 429 with a Retry-After is the server pacing the call, not failing it: it
            // uses up time (`max_total`), not attempts. Clients that share a budget (a bulk
            // upload's parallel calls, one app's callers) take turns at it, and one call can
            // lose several turns in a row while the server is perfectly healthy; giving it up
            // after `max_attempts` turns would fail an upload the server was about to take.
            let paced = matches!(&last, Ok(response) if response.status == 429)
                && retry_after.is_some_and(|wait| !wait.is_zero());
            if !paced {
                failed += 1;
            }
            if failed >= policy.max_attempts {
                return Err(give_up(last));
            }
            let delay = retry_after.unwrap_or_else(|| policy.backoff(attempt - 1));
            if Instant::now() + delay > deadline {
                return Err(give_up(last));
            }
            tracing::debug!(
                %method, %url, attempt, ?delay,
                status = last.as_ref().ok().map(|r| r.status),
                "retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt. The outer error is a local failure (opening the file); the inner one is
    /// the transport's.
    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        headers: &HeaderMap,
        body: &BodySource,
        attempt: u32,
    ) -> Result<Result<RawResponse, reqwest::Error>, ClientError> {
        let mut builder = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .headers(headers.clone())
            .timeout(self.inner.timeout);
        match body {
            BodySource::None => {}
            BodySource::Bytes(bytes) => builder = builder.body(bytes.clone()),
            BodySource::File(path) => {
                let file = tokio::fs::File::open(path).await?;
                let len = file.metadata().await?.len();
                let stream = tokio_util::io::ReaderStream::new(file);
                builder = builder
                    .header(CONTENT_LENGTH, len)
                    .body(reqwest::Body::wrap_stream(stream));
            }
        }
        let response = match builder.send().await {
            Ok(response) => response,
            Err(error) => return Ok(Err(error)),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        Ok(response.bytes().await.map(|body| RawResponse {
            status,
            headers,
            body,
            attempts: attempt,
        }))
    }
}

/// The path below the API root of `resource` of `target`, ids percent-encoded.
fn photo_path(target: &Target, resource: &Resource) -> String {
    format!("/{}/{}", target.path(), resource.path())
}

fn success(response: RawResponse) -> Result<RawResponse, ClientError> {
    if response.is_success() {
        Ok(response)
    } else {
        Err(ClientError::Graph(GraphError::from_response(
            response.status,
            &response.headers,
            &response.body,
        )))
    }
}

/// Transport failures worth another attempt of an idempotent call: everything but a request
/// that could not be built or a redirect loop.
fn retryable_transport(error: &reqwest::Error) -> bool {
    !(error.is_builder() || error.is_redirect())
}

/// An error and its causes, `: `-separated (reqwest's own message alone is terse).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

async fn read_head(path: &Path) -> Result<Bytes, ClientError> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut file)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .await?;
    Ok(Bytes::from(head))
}

#[cfg(test)]
mod tests {
    use super::api_root;

    #[test]
    fn a_root_without_a_version_means_its_v1() {
        for (given, root) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1.0"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1.0"),
            ("http://127.0.0.1:8080/v1.0", "http://127.0.0.1:8080/v1.0"),
            ("http://127.0.0.1:8080/v1.0/", "http://127.0.0.1:8080/v1.0"),
            ("http://127.0.0.1:8080/beta", "http://127.0.0.1:8080/beta"),
            (
                "https://graph.microsoft.com/V1.0",
                "https://graph.microsoft.com/V1.0",
            ),
            (
                "https://host.example/graph",
                "https://host.example/graph/v1.0",
            ),
            (
                "https://host.example/graph/beta",
                "https://host.example/graph/beta",
            ),
            ("not a url", "not a url"),
        ] {
            assert_eq!(api_root(given), root, "{given}");
        }
    }
}
