//! The profile-photo domain: targets, principals, permissions, validation, the use cases and
//! the ports they need. No web framework, HTTP client, async runtime or storage engine here
//! (`cargo xtask arch` enforces it): adapters bring those.
//!
//! Cargo feature `codecs` (default): upload validation (`validation`, which reads image headers
//! and checks the pixel data with the image decoders' own crates), the use cases that need it
//! (`service`) and their error (`error`). Without it, the core is what a client or a store
//! needs (targets and the path grammar, principals, policy, ETags, formats, limits, ports) and
//! builds no image codec: `adapter-graph-client` depends on it that way.
//!
//! See `docs/ARCHITECTURE.md` for the map.

#![warn(missing_docs)]

#[cfg(feature = "codecs")]
pub mod error;
pub mod etag;
pub mod format;
pub mod ids;
pub mod limits;
pub mod policy;
pub mod ports;
pub mod principal;
pub mod renditions;
#[cfg(feature = "codecs")]
pub mod service;
pub mod target;
#[cfg(feature = "codecs")]
pub mod validation;

#[cfg(feature = "testkit")]
pub mod testkit;
