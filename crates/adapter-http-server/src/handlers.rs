//! The one handler: extractors parse (route, caller, conditions), the use case decides, and
//! the response is shaped as Graph shapes it (spec C1-C3).
//!
//! Routing is done by the core's path grammar rather than axum's router: Graph's segment names
//! are case-insensitive and ids may hold an encoded `/` (spec A3), which a pattern router
//! cannot express.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use std::sync::Arc;
use std::time::Duration;

use axum::body::HttpBody;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use photo_core::error::PhotoError;
use photo_core::etag::{ETag, TagCondition};
use photo_core::limits::{check_photo_size, TooLarge, MAX_PHOTO_BYTES};
use photo_core::ports::{DirectoryEntry, PhotoOwner, ValidatedPhoto};
use photo_core::principal::Principal;
use photo_core::renditions::{size_id, SizeId};
use photo_core::service::Freshness;
use photo_core::target::{ApiVersion, Operation, Representation, Route};
use serde::Serialize;

use tokio::sync::OwnedSemaphorePermit;

use crate::error::ApiError;
use crate::telemetry::{route_class, Observed};
use crate::{AppState, UploadLimits};

/// The route and operation of a request (spec A6: decided before authentication).
pub(crate) struct GraphRequest {
    route: Route,
    operation: Operation,
}

impl<S: Send + Sync> FromRequestParts<S> for GraphRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let route = Route::parse_path(parts.uri.path())?;
        let operation = route.operation(parts.method.as_str())?;
        Ok(GraphRequest { route, operation })
    }
}

/// The authenticated caller (spec D1).
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    // A header that is not visible ASCII cannot hold a JWT; it is malformed, not missing.
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    Ok(state.auth.authenticate(authorization).await?)
}

/// `If-Match` and `If-None-Match`, each possibly sent as several header lines.
pub(crate) struct Conditions {
    if_match: Option<TagCondition>,
    if_none_match: Option<TagCondition>,
}

impl Conditions {
    fn from_headers(headers: &HeaderMap) -> Self {
        // A value that is not visible ASCII is malformed, never ignored: ignoring an
        // `If-Match` would turn a conditional write into an unconditional one.
        let read = |name: header::HeaderName| {
            let values: Option<Vec<&str>> = headers
                .get_all(name)
                .iter()
                .map(|v| v.to_str().ok())
                .collect();
            match values {
                Some(values) if values.is_empty() => None,
                Some(values) => Some(TagCondition::parse(&values.join(","))),
                None => Some(TagCondition::Malformed),
            }
        };
        Conditions {
            if_match: read(header::IF_MATCH),
            if_none_match: read(header::IF_NONE_MATCH),
        }
    }
}

/// Marks a request that came over TLS (set by the TLS acceptor).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServedOverTls;

/// The request body and whether it was read to its end.
pub(crate) struct RequestBody {
    body: Option<Body>,
    /// The body's exact length when known (`Content-Length`, or none at all), else `None`
    /// (chunked, HTTP/2 without a length).
    exact_len: Option<u64>,
    finished: bool,
    /// Bytes read so far (for the request log).
    read: u64,
}

impl RequestBody {
    fn new(body: Body) -> Self {
        let exact_len = body.size_hint().exact();
        Self {
            body: Some(body),
            exact_len,
            finished: exact_len == Some(0),
            read: 0,
        }
    }
}

pub(crate) async fn handle(
    State(state): State<Arc<AppState>>,
    tls: Option<axum::Extension<ServedOverTls>>,
    version: Version,
    request: Result<GraphRequest, ApiError>,
    // The whole request rather than a `HeaderMap` and a `Body`: axum's `HeaderMap` extractor
    // clones the headers, which showed in a small GET's profile.
    raw: axum::extract::Request,
) -> Response {
    let (parts, body) = raw.into_parts();
    let headers = parts.headers;
    let mut body = RequestBody::new(body);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut observed = Observed {
        route: "unmatched",
        ..Observed::default()
    };
    let mut response = respond(&state, scheme, request, &headers, &mut body, &mut observed)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    observed.bytes_in = body.read;
    response.extensions_mut().insert(observed);
    // An answer given before the announced body was read (any refusal, spec B4 and D7, or
    // a body that ran over its deadline) leaves the rest unread, and hyper then closes the
    // connection. Saying so lets an HTTP/1.1 client read the answer as the last one instead
    // of meeting a closed connection on its next request. (HTTP/2 resets just the stream.)
    if !body.finished && version <= Version::HTTP_11 {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn respond(
    state: &AppState,
    scheme: &str,
    request: Result<GraphRequest, ApiError>,
    headers: &HeaderMap,
    body: &mut RequestBody,
    observed: &mut Observed,
) -> Result<Response, ApiError> {
    // Routing is decided before authentication (spec A6, D7).
    let GraphRequest { route, operation } = request?;
    observed.route = route_class(&operation);
    let principal = authenticate(state, headers).await?;
    let answer = respond_as(&principal, state, scheme, route, operation, headers, body).await;
    // Whatever the answer, the request log names the caller (ids moved, not copied).
    observed.caller(principal);
    answer
}

/// Everything after authentication: one use case for the caller.
async fn respond_as(
    principal: &Principal,
    state: &AppState,
    scheme: &str,
    route: Route,
    operation: Operation,
    headers: &HeaderMap,
    body: &mut RequestBody,
) -> Result<Response, ApiError> {
    // Throttling, when simulated (spec F1): after authentication, which names the app. The
    // place among the app's requests in flight is held until the answer is ready.
    let _admitted = match &state.throttle {
        Some(throttle) => Some(
            throttle
                .admit(principal, &route.target, &operation, headers)
                .await?,
        ),
        None => None,
    };
    let call = Call {
        state,
        scheme,
        headers,
        conditions: Conditions::from_headers(headers),
        route,
        principal,
    };
    match operation {
        Operation::Update => call.update(body).await,
        Operation::Delete => call.delete().await,
        Operation::GetPhoto(representation) => call.get_photo(representation).await,
        Operation::ListSizes => call.list_sizes().await,
        Operation::GetSize {
            size,
            representation,
        } => call.get_size(&size, representation).await,
    }
}

/// An authenticated request on its way to one use case: one method per operation.
struct Call<'a> {
    state: &'a AppState,
    scheme: &'a str,
    headers: &'a HeaderMap,
    conditions: Conditions,
    route: Route,
    principal: &'a Principal,
}

impl Call<'_> {
    /// `PUT`/`PATCH .../photo/$value` (spec A1, B, C1; D7 steps 3-9).
    async fn update(&self, body: &mut RequestBody) -> Result<Response, ApiError> {
        let service = &self.state.service;
        reject_declared_oversize(self.headers)?;
        let pending = service
            .begin_update(
                self.principal,
                self.route.version,
                &self.route.target,
                self.conditions.if_match.as_ref(),
            )
            .await?;
        // Room in the upload budget before any byte is read: over the cap the body
        // stays unread (in the kernel's buffers), bounded by the wait.
        let reserve = body
            .exact_len
            .map_or(MAX_PHOTO_BYTES, |n| n.min(MAX_PHOTO_BYTES as u64) as usize);
        let _permit = reserve_upload(&self.state.uploads, reserve).await?;
        let bytes = read_body(body, &self.state.uploads).await?;
        if let Some(throttle) = &self.state.throttle {
            // A body without a `Content-Length` was not charged before it was read.
            if !self.headers.contains_key(header::CONTENT_LENGTH) {
                throttle.charge_read_upload(self.principal, self.headers, bytes.len())?;
            }
        }
        let photo = validate_off_the_async_threads(bytes, &self.state.uploads).await?;
        let stored = service.store_update(pending, photo).await?;
        Ok(updated(&stored.etag))
    }

    /// `DELETE .../photo` (spec A5).
    async fn delete(&self) -> Result<Response, ApiError> {
        self.state
            .service
            .delete(
                self.principal,
                &self.route.target,
                self.conditions.if_match.as_ref(),
            )
            .await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    /// `GET .../photo` and `.../photo/$value` (spec A4, C2, C3).
    async fn get_photo(&self, representation: Representation) -> Result<Response, ApiError> {
        let view = match self
            .state
            .service
            .get_photo(
                self.principal,
                &self.route.target,
                self.conditions.if_none_match.as_ref(),
            )
            .await?
        {
            Freshness::NotModified(etag) => return Ok(not_modified(&etag)),
            Freshness::Modified(view) => view,
        };
        let photo = &view.photo;
        if representation == Representation::Value {
            return Ok(media(
                photo.format.content_type(),
                &photo.etag,
                photo.bytes.clone(),
            ));
        }
        let metadata = PhotoMetadata {
            context: format!(
                "{}/$metadata#{}/photo/$entity",
                self.base_url(),
                odata_target(&view.entry)
            ),
            media_content_type: photo.format.content_type(),
            media_etag: photo.etag.to_string(),
            id: format!("{}x{}", photo.width, photo.height),
            width: photo.width,
            height: photo.height,
        };
        Ok(json(&metadata, Some(&photo.etag)))
    }

    /// `GET .../photos` (spec A4, C2, C5).
    async fn list_sizes(&self) -> Result<Response, ApiError> {
        let view = self
            .state
            .service
            .list_sizes(self.principal, &self.route.target)
            .await?;
        let list = SizeList {
            context: format!(
                "{}/$metadata#{}/photos",
                self.base_url(),
                odata_target(&view.entry)
            ),
            value: view
                .sizes
                .iter()
                .map(|s| SizeEntry {
                    media_etag: s.etag.to_string(),
                    id: size_id(s.side),
                    width: s.side,
                    height: s.side,
                })
                .collect(),
        };
        Ok(json(&list, None))
    }

    /// `GET .../photos/{size}` and its `$value` (spec A4, C2, C3, C5).
    async fn get_size(
        &self,
        size: &SizeId,
        representation: Representation,
    ) -> Result<Response, ApiError> {
        let view = match self
            .state
            .service
            .get_size(
                self.principal,
                &self.route.target,
                size,
                self.conditions.if_none_match.as_ref(),
            )
            .await?
        {
            Freshness::NotModified(etag) => return Ok(not_modified(&etag)),
            Freshness::Modified(view) => view,
        };
        let rendition = &view.rendition;
        if representation == Representation::Value {
            return Ok(media(
                rendition.format.content_type(),
                &view.etag,
                rendition.bytes.clone(),
            ));
        }
        let metadata = PhotoMetadata {
            context: format!(
                "{}/$metadata#{}/photos/$entity",
                self.base_url(),
                odata_target(&view.entry)
            ),
            media_content_type: rendition.format.content_type(),
            media_etag: view.etag.to_string(),
            id: size_id(rendition.side),
            width: rendition.side,
            height: rendition.side,
        };
        Ok(json(&metadata, Some(&view.etag)))
    }

    /// The service root of this request's `@odata.context`.
    fn base_url(&self) -> String {
        self.state
            .base_url(self.scheme, self.headers, self.route.version)
    }
}

/// Spec B4 / D7 step 3: refuse a declared oversize body before reading any of it.
fn reject_declared_oversize(headers: &HeaderMap) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(size) => check_photo_size(size).map_err(|e| PhotoError::TooLarge(e).into()),
        None => Ok(()),
    }
}

/// Takes `bytes` from the upload budget, waiting at most `limits.wait` (then `503`).
async fn reserve_upload(
    limits: &UploadLimits,
    bytes: usize,
) -> Result<Option<OwnedSemaphorePermit>, ApiError> {
    let Ok(permits) = u32::try_from(bytes.min(limits.max_memory())) else {
        return Err(ApiError::UploadsBusy);
    };
    if permits == 0 {
        return Ok(None);
    }
    match tokio::time::timeout(limits.wait, limits.budget().acquire_many_owned(permits)).await {
        Ok(Ok(permit)) => Ok(Some(permit)),
        // Elapsed, or a closed semaphore (never closed; treated alike).
        Ok(Err(_)) | Err(_) => {
            tracing::warn!(
                bytes,
                "upload refused: the upload memory budget stayed full"
            );
            Err(ApiError::UploadsBusy)
        }
    }
}

/// Validates an upload (spec B3-B5) on the blocking pool, at most one per core at once: the
/// integrity pass costs tens of milliseconds for a large JPEG, which on an async worker would
/// stall every other request that worker serves (with one core, all of them).
async fn validate_off_the_async_threads(
    bytes: Bytes,
    limits: &UploadLimits,
) -> Result<ValidatedPhoto, ApiError> {
    let _turn = limits
        .validating()
        .acquire()
        .await
        .map_err(|_| ApiError::UploadsBusy)?;
    match tokio::task::spawn_blocking(move || ValidatedPhoto::check(bytes)).await {
        Ok(checked) => Ok(checked.map_err(PhotoError::from)?),
        // Validation never panics on input (fuzzed); if it did, the upload is refused as
        // busy rather than answered with a bare 500, and nothing was stored.
        Err(_) => Err(ApiError::UploadsBusy),
    }
}

/// Reads the body into one buffer sized from its `Content-Length` (no regrowth, no copy on
/// freeze), never holding more than the limit: a chunked body is refused as soon as it passes
/// the limit, and not read further (spec B4). The whole body must arrive within
/// `max(body_timeout, size / min_rate)`, `size` being the limit when unknown.
async fn read_body(
    request_body: &mut RequestBody,
    limits: &UploadLimits,
) -> Result<Bytes, ApiError> {
    let expected = request_body
        .exact_len
        .map_or(MAX_PHOTO_BYTES, |n| n.min(MAX_PHOTO_BYTES as u64) as usize);
    let at_min_rate = Duration::from_secs(expected as u64 / limits.min_rate.max(1));
    let allowed = limits.body_timeout.max(at_min_rate);
    let Some(body) = request_body.body.take() else {
        return Ok(Bytes::new());
    };
    let mut frames = body.into_data_stream();
    // A Vec rather than BytesMut: its growth can be bounded exactly (a chunked body doubles
    // its buffer, never past the limit), and `Bytes::from` takes it over without a copy.
    let mut collected: Vec<u8> = Vec::with_capacity(request_body.exact_len.map_or(0, |_| expected));
    let read = async {
        while let Some(frame) = frames.next().await {
            let chunk = frame.map_err(|_| ApiError::BodyRead)?;
            let needed = collected.len() + chunk.len();
            if needed > MAX_PHOTO_BYTES {
                return Err(PhotoError::TooLarge(TooLarge { size: None }).into());
            }
            if needed > collected.capacity() {
                // `needed` <= the limit, so the bounds are ordered.
                let target = (collected.capacity() * 2)
                    .max(64 * 1024)
                    .clamp(needed, MAX_PHOTO_BYTES);
                collected.reserve_exact(target - collected.len());
            }
            collected.extend_from_slice(&chunk);
            request_body.read = collected.len() as u64;
        }
        Ok(())
    };
    match tokio::time::timeout(allowed, read).await {
        Ok(Ok(())) => {
            request_body.finished = true;
            Ok(Bytes::from(collected))
        }
        Ok(Err(error)) => Err(error),
        Err(_) => Err(ApiError::BodyTimeout(allowed.as_secs())),
    }
}

fn etag_header(etag: &ETag) -> Option<HeaderValue> {
    HeaderValue::from_str(&etag.to_string()).ok()
}

/// Spec C1: 200, empty body, `Content-Length: 0`, no `Content-Type`, the new `ETag`.
fn updated(etag: &ETag) -> Response {
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    if let Some(value) = etag_header(etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

fn not_modified(etag: &ETag) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    if let Some(value) = etag_header(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// Spec C3: the bytes with their type, tag and `Cache-Control: private`.
fn media(content_type: &'static str, etag: &ETag, bytes: Bytes) -> Response {
    let length = bytes.len();
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    if let Some(value) = etag_header(etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

fn json<T: Serialize>(value: &T, etag: Option<&ETag>) -> Response {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let length = bytes.len();
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    // Plain `application/json`: the Python SDK only reads a body of exactly this type.
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Some(value) = etag.and_then(etag_header) {
        headers.insert(header::ETAG, value);
    }
    response
}

/// An OData string literal: single quotes doubled.
fn literal(id: &str) -> String {
    id.replace('\'', "''")
}

/// The entity set and key of `@odata.context` (spec C2): users for `/me` too, and a
/// contact under its owner whatever folder the path went through.
fn odata_target(entry: &DirectoryEntry) -> String {
    match &entry.key.owner {
        PhotoOwner::User(id) => format!("users('{}')", literal(id.as_str())),
        PhotoOwner::Group(id) => format!("groups('{}')", literal(id.as_str())),
        PhotoOwner::Contact { user, contact } => {
            format!(
                "users('{}')/contacts('{}')",
                literal(user.as_str()),
                literal(contact.as_str())
            )
        }
    }
}

#[derive(Serialize)]
struct PhotoMetadata {
    #[serde(rename = "@odata.context")]
    context: String,
    #[serde(rename = "@odata.mediaContentType")]
    media_content_type: &'static str,
    #[serde(rename = "@odata.mediaEtag")]
    media_etag: String,
    id: String,
    width: u32,
    height: u32,
}

#[derive(Serialize)]
struct SizeList {
    #[serde(rename = "@odata.context")]
    context: String,
    value: Vec<SizeEntry>,
}

#[derive(Serialize)]
struct SizeEntry {
    #[serde(rename = "@odata.mediaEtag")]
    media_etag: String,
    id: String,
    width: u32,
    height: u32,
}

impl AppState {
    /// The service root of `@odata.context`: the configured public URL, else what the
    /// client called (its scheme and `Host`), so links work behind a port mapping.
    fn base_url(&self, scheme: &str, headers: &HeaderMap, version: ApiVersion) -> String {
        match &self.public_base_url {
            Some(base) => format!("{}/{version}", base.trim_end_matches('/')),
            None => {
                let host = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("localhost");
                format!("{scheme}://{host}/{version}")
            }
        }
    }
}
