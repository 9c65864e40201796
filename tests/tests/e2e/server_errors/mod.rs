//! Every error of the spec, reached over the router with real tokens, and the order of the
//! checks (spec D7). One module per area of error; the request helpers they share are here.

use std::sync::atomic::Ordering;

use crate::support::*;
use adapter_memstore::seed::CONTOSO_TENANT;
use axum::body::Body;
use dev_tokens::TokenRequest;

mod authentication;
mod authorization;
mod bodies;
mod check_order;
mod internal_failures;
mod not_found;
mod preconditions;

const ACCESS_DENIED: &str = "Access is denied. Check credentials and try again.";
const ME: &str = "/v1.0/me/photo/$value";

/// A request with a declared `Content-Length` and a body that records whether it was read.
fn declared(
    method: &str,
    path: &str,
    token: Option<&str>,
    length: usize,
) -> (
    axum::http::Request<Body>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let (body, pulled) = counting_stream(length, 64 * 1024);
    let request = req(method, path, token)
        .header("content-length", length)
        .body(body)
        .unwrap();
    (request, pulled)
}

/// A chunked body (no Content-Length) of twice the limit, recording how much was read.
fn chunked(
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (
    axum::http::Request<Body>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let (body, pulled) = counting_stream(2 * LIMIT, 64 * 1024);
    (req(method, path, token).body(body).unwrap(), pulled)
}
