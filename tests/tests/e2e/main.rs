//! The end-to-end tests, one test binary (one link, one process): the router over the real
//! adapters in process (tower `oneshot`, real sockets, HTTPS), the real `graph-photo` binary used
//! as a person would, and the official SDKs against it. One module per area; shared helpers in
//! `support`.
//!
//! Tests share this process and run in parallel: nothing here may change process-wide state
//! (environment variables, the working directory) except the open file limit, which is only
//! ever raised (`server_hostile_clients`).

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod binary;
mod cli_client;
mod conformance_cli;
mod durable_postgres;
mod durable_store;
mod official_sdks;
mod operate;
mod server_errors;
mod server_host_auth;
mod server_hostile_clients;
mod server_openapi;
mod server_permissions;
mod server_reads;
mod server_render_liveness;
mod server_render_memory;
mod server_robustness;
mod server_routes;
mod server_socket;
mod server_tls;
mod server_upload_limits;
mod support;
mod throttling;
