//! The profile-photo domain: targets, principals, permissions, validation, the use cases and
//! the ports they need. No web framework, HTTP client, async runtime or storage engine here
//! (`cargo xtask arch` enforces it): adapters bring those.
//!
//! See `docs/ARCHITECTURE.md` for the map.

pub mod error;
pub mod etag;
pub mod limits;
pub mod policy;
pub mod ports;
pub mod principal;
pub mod renditions;
pub mod service;
pub mod target;
pub mod validation;

#[cfg(feature = "testkit")]
pub mod testkit;
