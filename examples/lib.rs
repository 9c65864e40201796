//! Runnable examples of embedding graph-photo in a host service; nothing to link against.
//!
//! - `mount_in_host`: the Graph photo API nested in a host's axum router, behind the host's
//!   own sign-in (an `Authenticate` over its sessions), photos in SQLite.
//! - `batch_import`: no HTTP at all: `PhotoService` imports a folder of photos into SQLite and
//!   renders their sizes.
//! - `own_directory`: a `Directory` over the host's own user table.
//! - `custom_store`: the smallest correct `PhotoStore`.
//!
//! The last two are checked by `photo_core::testkit`, as a host's own adapters would be.
