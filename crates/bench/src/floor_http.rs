//! The floor graph-photo's HTTP path is measured against (`cargo xtask bench http`): the
//! cheapest axum server that answers graph-photo's photo routes with the same status and
//! headers. A PUT reads the whole body into `Bytes` and stores it in a map under a mutex; a GET
//! serves the stored bytes, or a fixed 48x48 JPEG. No authentication, no directory, no
//! validation, no hashing (the ETag is a counter): what is left between it and graph-photo is
//! graph-photo's own work.
//!
//! It runs on the runtime `main` builds, the one `graph-photo serve` builds, and on axum's own
//! `serve` (hyper's HTTP/1.1 connections, keep-alive).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;

use crate::Error;

/// Graph's upload limit, which graph-photo enforces too: 4 MiB.
const MAX_PHOTO_BYTES: usize = 4 * 1024 * 1024;

struct Photo {
    bytes: Bytes,
    etag: HeaderValue,
}

struct Floor {
    photos: Mutex<HashMap<String, Photo>>,
    versions: AtomicU64,
    thumbnail: Photo,
}

type Shared = Arc<Floor>;

pub(crate) async fn serve(listen: &str, thumbnail: &Path) -> Result<(), Error> {
    let floor = Arc::new(Floor {
        photos: Mutex::new(HashMap::new()),
        versions: AtomicU64::new(1),
        thumbnail: Photo {
            bytes: Bytes::from(std::fs::read(thumbnail)?),
            etag: HeaderValue::from_static("\"thumbnail\""),
        },
    });
    let app = Router::new()
        .route("/v1.0/users/{id}/photo/$value", put(store).get(photo))
        .route("/v1.0/users/{id}/photos/48x48/$value", get(small))
        .layer(DefaultBodyLimit::max(MAX_PHOTO_BYTES))
        .with_state(floor);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// graph-photo's answer to an update: 200, no body, `Content-Length: 0`, the new `ETag`.
async fn store(State(floor): State<Shared>, UrlPath(id): UrlPath<String>, body: Bytes) -> Response {
    let version = floor.versions.fetch_add(1, Ordering::Relaxed);
    let etag = HeaderValue::try_from(format!("\"{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    headers.insert(header::ETAG, etag.clone());
    let photo = Photo { bytes: body, etag };
    match floor.photos.lock() {
        Ok(mut photos) => {
            photos.insert(id, photo);
            response
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn photo(State(floor): State<Shared>, UrlPath(id): UrlPath<String>) -> Response {
    let found = match floor.photos.lock() {
        Ok(photos) => photos
            .get(&id)
            .map(|photo| (photo.bytes.clone(), photo.etag.clone())),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    match found {
        Some((bytes, etag)) => media(bytes, etag),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn small(State(floor): State<Shared>) -> Response {
    media(floor.thumbnail.bytes.clone(), floor.thumbnail.etag.clone())
}

/// graph-photo's media answer: the bytes, their type and length, the tag, `private`.
fn media(bytes: Bytes, etag: HeaderValue) -> Response {
    let length = bytes.len();
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    headers.insert(header::ETAG, etag);
    response
}
