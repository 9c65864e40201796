//! PostgreSQL adapter: the [`PhotoStore`](photo_core::ports::PhotoStore) and
//! [`RenditionCache`](photo_core::ports::RenditionCache) ports over one PostgreSQL database
//! (15 or later), so that any number of `graph-photo serve` replicas over that database behave
//! as one server.
//!
//! ```no_run
//! # async fn example() -> Result<(), adapter_postgres::PgOpenError> {
//! use adapter_postgres::{PgOptions, PgStore};
//! let store = PgStore::connect("postgres://graph:secret@db:5432/photos", PgOptions::default()).await?;
//! println!("photos in {}", store.display_url()); // postgres://graph:***@db:5432/photos
//! # Ok(()) }
//! ```
//!
//! # Schema
//!
//! Versioned migrations embedded in the binary (`migrations/`), applied by
//! [`PgStore::connect`] and recorded by sqlx in `_sqlx_migrations`:
//!
//! - `photos`: one row per photo, keyed by (`tenant`, `owner_kind` (`user`, `group`,
//!   `contact`), `owner_id`, `contact_id` (`''` unless a contact)), holding the original
//!   (`bytes BYTEA`), its `format`, `width`, `height` and `etag`.
//! - `renditions`: the rendered squares of one version, keyed by (the photo's key, `etag`,
//!   `side`), with `format` and `bytes`; a foreign key to `photos` with `ON DELETE CASCADE`.
//!
//! Replicas starting at once apply the migrations in turn (sqlx's advisory lock). A database
//! holding a schema version this build does not know (a newer graph-photo migrated it) is
//! refused with [`PgOpenError::NewerSchema`] and left untouched.
//!
//! # Atomicity
//!
//! Everything a photo is (bytes, format, size, tag) lives in one row, written by one
//! statement: a reader never sees a mix of two versions. Preconditions are checked by the
//! database in the writing statement itself (`UPDATE ... WHERE etag = ANY($tags)`,
//! `DELETE ... WHERE etag = ANY($tags)`, or an `INSERT ... ON CONFLICT DO UPDATE` when
//! unconditional), under the row lock PostgreSQL takes: of N writers on any replicas holding
//! the same tag, exactly one writes and the others get `PreconditionFailed`. A `put` removes
//! the renditions of other versions in the same transaction (write and purge are one round
//! trip: the `graph_photo_put` function of migration 2); a `delete` removes them by the
//! cascade, in the same statement. [`RenditionCache::put`](photo_core::ports::RenditionCache::put)
//! inserts only while the photo is at the rendered version (a share lock on the photo row in
//! the inserting statement), so a render finishing after a replace stores nothing.
//!
//! # Durability
//!
//! Every session runs with `synchronous_commit = on` (PostgreSQL's default, set explicitly so
//! that a server or role configured otherwise cannot weaken it): when `put` or `delete`
//! returns `Ok`, and so when the server answers 2xx, the commit is flushed to the WAL on disk
//! (and to synchronous standbys, if configured). This holds as long as the server itself keeps
//! `fsync = on`, its default. If the connection breaks while a commit is in flight, the outcome
//! is unknown to the client (as with any database client): the store answers
//! `StoreError::Unavailable` and a retry sees what was committed.
//!
//! # Replicas and failures
//!
//! Each [`PgStore`] holds a pool of at most [`PgOptions::max_connections`] connections. An
//! operation that gets no connection within [`PgOptions::acquire_timeout`] (pool exhausted,
//! database down) fails with `StoreError::Unavailable`; a statement is bounded by
//! [`PgOptions::statement_timeout`] on the server. Idle connections are checked before use, so
//! after an outage the pool reconnects by itself. Driver errors are logged (`tracing`) and
//! mapped to a short text of ours; none crosses the port.
//!
//! The rendition cache methods return no error (the port has none): a failed `get` is a miss,
//! a failed `put` or `forget` does nothing, and both are logged.

#![warn(missing_docs)]

mod error;
mod migrate;
mod store;
mod url;

#[cfg(feature = "test-support")]
pub mod test_support;

pub use error::PgOpenError;
pub use store::{PgOptions, PgStore};
