//! The port contract test kit: checks that an adapter honours the contracts documented on
//! [`PhotoStore`](crate::ports::PhotoStore) and [`Directory`](crate::ports::Directory) (and spec B7, C8, D3, D7, E1).
//!
//! Every check panics with a message that starts with `PhotoStore contract violated:` or
//! `Directory contract violated:` and names the broken contract, so a failing adapter test
//! says what to fix.
//!
//! # Using the kit in an adapter
//!
//! Enable the `testkit` feature in the adapter's dev-dependencies only:
//!
//! ```toml
//! [dev-dependencies]
//! photo-core = { workspace = true, features = ["testkit"] }
//! tokio = { workspace = true }
//! ```
//!
//! and run the checks from an integration test (e.g. `tests/contract.rs`):
//!
//! ```text
//! use std::sync::Arc;
//! use photo_core::principal::TenantId;
//! use photo_core::testkit::{check_directory, check_photo_store, DirectoryFixture};
//!
//! #[tokio::test]
//! async fn my_store_honours_the_photo_store_contract() {
//!     check_photo_store(Arc::new(MyStore::new())).await;
//! }
//!
//! #[tokio::test]
//! async fn my_directory_honours_the_directory_contract() {
//!     // Ids of objects the directory under test holds (see `DirectoryFixture`).
//!     let fixture = DirectoryFixture { tenant: TenantId::new("..."), /* ... */ };
//!     check_directory(Arc::new(MyDirectory::load("dir.json")?), &fixture).await;
//! }
//! ```
//!
//! [`check_photo_store`] writes only under keys it makes up for the run (tenants named
//! `testkit-...`), so it may run against a store that already holds data, and twice against
//! the same store. It writes from several OS threads at once, driving the store's futures with
//! `futures::executor::block_on`: a store whose futures need a particular async runtime
//! (e.g. they use Tokio I/O) must enter that runtime itself, or be wrapped in a
//! [`SpawningStore`] that runs each call on it:
//! `SpawningStore::new(store, move |work| { handle.spawn(work); })`. While those threads run, the
//! calling task blocks; with `#[tokio::test]` that is harmless.
//!
//! [`check_directory`] only reads; the directory must hold the objects the
//! [`DirectoryFixture`] names.

mod directory;
mod spawning;
mod store;

pub use directory::{check_directory, DirectoryFixture};
pub use spawning::{Spawn, SpawningStore};
pub use store::check_photo_store;
