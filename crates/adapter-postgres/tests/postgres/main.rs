//! PgStore against a real PostgreSQL: one test binary (one link), one database per test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of test crates panic by design

mod cache;
mod contract;
mod migrations;
mod open_errors;
mod outage;
mod replicas;
mod support;
