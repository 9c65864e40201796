//! Photos and their renditions in one SQLite file: the embedded, durable store of
//! graph-photo.
//!
//! [`SqliteStore`] implements both [`PhotoStore`](photo_core::ports::PhotoStore) and
//! [`RenditionCache`](photo_core::ports::RenditionCache) over a single database file (plus
//! SQLite's `-wal` and `-shm` files next to it while it is open). It passes the port test kit
//! (`photo_core::testkit`) unchanged.
//!
//! # What is stored
//!
//! One row per photo key (tenant, owner kind, owner id, contact id) holding the image bytes,
//! format, displayed size and the ETag validation computed: written by one statement inside
//! one transaction, so a reader never sees a mix of two versions. Rendered sizes are stored
//! per photo version (the original's ETag); replacing or deleting a photo removes the
//! renditions of other versions in the same transaction, and renditions of a version that is
//! no longer stored are never written. The schema is in `migrations/`, applied at
//! [`SqliteStore::open`]; a file written by a newer graph-photo is refused
//! ([`SqliteOpenError::NewerSchema`]) and left untouched.
//!
//! # Durability
//!
//! The file is in WAL mode with `synchronous=FULL`: a write returns only after its commit
//! record is written and fsynced to the write-ahead log. So once `put` or `delete` has
//! returned `Ok`, the change survives the process being killed at any moment and, where the
//! operating system and disk honour fsync, power loss. A transaction cut short by a crash is
//! rolled back when the file is next opened: nothing is ever half-written.
//!
//! Conditional writes (`If-Match`) are a compare-and-swap: each put or delete is one SQL
//! statement whose `WHERE` clause holds the condition, and SQLite takes its write lock as a
//! write statement starts (as `BEGIN IMMEDIATE` would) and keeps it until the statement's
//! implicit transaction commits. So exactly one of several concurrent writers holding the
//! same ETag wins, also across processes sharing the file. Writers of one process take turns
//! before asking SQLite, whose own wait for its lock polls with sleeps.
//!
//! # Files
//!
//! Everything lives in the one file given to [`SqliteStore::open`]; while it is open SQLite
//! keeps `<file>-wal` (the write-ahead log) and `<file>-shm` (its index) next to it, folded
//! back and removed when the last connection closes. Copying the three together, or the file
//! alone once closed, is a backup. Several `graph-photo` processes may open the same file.
//!
//! # Hot photos
//!
//! Recently read or written photo versions are kept in memory (bounded by
//! [`SqliteOptions::hot_cache_bytes`]). A cached version is never served on trust, since
//! another process may have written the file since: it is served as is only while nothing at
//! all was committed to the file since the database last confirmed it (the header of the
//! WAL index, `-shm`, which every connection in every process updates on commit, is
//! unchanged: one `pread`, no trip to the database). After any commit, the read asks the
//! database for the photo's current ETag, in the same statement that would read the bytes,
//! and the bytes are read from the file only when the ETag differs from the cached one.
//!
//! # Failures
//!
//! Every wait is bounded ([`SqliteOptions`]): a busy or locked database, an exhausted pool, a
//! read-only or full file answer `StoreError::Unavailable` with a short text of ours (the
//! driver's own error goes to the `tracing` log only). Reads keep working when writes fail.
//!
//! All methods must run within a Tokio runtime.

#![warn(missing_docs)]

mod error;
mod hot;
mod options;
mod schema;
mod store;
mod watch;

pub use error::SqliteOpenError;
pub use options::SqliteOptions;
pub use store::SqliteStore;
