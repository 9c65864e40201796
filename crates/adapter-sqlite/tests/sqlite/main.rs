//! The SQLite store against the real engine, in temporary directories. One test binary (one
//! link on CI's two cores), one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod contract;
mod durability;
mod failures;
mod migrations;
mod renditions;
mod support;
