//! A client of the Microsoft Graph profile-photo API, for real Graph or any stand-in
//! (`graph-photo serve`): plain `http` base URLs are accepted.
//!
//! - [`GraphClient::send`] performs one *logical* call: the retry policy (spec F1: `429`,
//!   `503`, `504` with `Retry-After`, transport failures of idempotent methods) is applied,
//!   and whatever status comes back last is answered as is. [`GraphClient::send_once`] makes
//!   a single attempt, for conformance testing.
//! - The typed operations ([`GraphClient::put_photo`], [`GraphClient::get_photo`], ...) build
//!   the URL from a [`photo_core::target::Target`] and map non-2xx answers to
//!   [`ClientError::Graph`] with the parsed Graph error envelope (spec C7).
//!
//! Depends on `photo-core` only among the workspace crates.

// `ClientError::Graph(GraphError)` carries the whole error envelope by value (the shape the
// conformance suite matches on); errors are rare next to the network round trip they report.
#![allow(clippy::result_large_err)]

mod client;
mod error;
mod retry;
mod token;

pub use client::{
    ClientConfig, GraphClient, PhotoBytes, PhotoMetadata, PhotoUpload, RawRequest, RawResponse,
    TlsTrust, Updated, WriteOptions, GRAPH_V1,
};
pub use error::{ClientError, GraphError};
pub use retry::{parse_retry_after, RetryPolicy};
pub use token::{CallbackToken, CommandToken, StaticToken, TokenError, TokenProvider};
