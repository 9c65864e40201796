//! In-memory adapters of the photo-core ports:
//!
//! - [`MemDirectory`] ([`Directory`](photo_core::ports::Directory)): an immutable directory
//!   loaded from a directory file (spec E2, see [`DirectoryData`]) or the seeded development
//!   tenant ([`MemDirectory::seeded`], ids in [`seed`]);
//! - [`MemPhotoStore`] ([`PhotoStore`](photo_core::ports::PhotoStore)): photos in a map, with
//!   content-derived ETags and preconditions applied under its lock;
//! - [`MemRenditionCache`] ([`RenditionCache`](photo_core::ports::RenditionCache)): a bounded
//!   LRU of rendered sizes; [`TieredRenditionCache`] puts one in front of a shared, durable
//!   rendition cache (a database store's).
//!
//! Everything is thread-safe; no lock is held across an `.await`, and a lock poisoned by a
//! panicking thread is recovered (the guarded maps are never left half-updated).
//!
//! For development, tests and hosts whose photos need not outlive the process: nothing here
//! touches a disk. A host keeps [`MemDirectory`] (or its own directory) and puts its photos in
//! a durable store (`adapter-sqlite`, `adapter-postgres`) behind a [`TieredRenditionCache`].

#![warn(missing_docs)]

mod cache;
mod directory;
pub mod seed;
mod store;
mod tiered;

pub use cache::MemRenditionCache;
pub use directory::{
    ContactData, ContactFolderData, DirectoryData, DirectoryDataError, GroupData, MemDirectory,
    TenantData, UserData,
};
pub use store::MemPhotoStore;
pub use tiered::TieredRenditionCache;

use std::sync::{LockResult, PoisonError};

/// Takes a lock guard whether or not another thread panicked while holding it: every critical
/// section of this crate leaves its map consistent before anything can panic.
fn recover<G>(result: LockResult<G>) -> G {
    result.unwrap_or_else(PoisonError::into_inner)
}
