//! [`SqliteOptions`]: how a [`SqliteStore`](crate::SqliteStore) opens its file.

use std::time::Duration;

/// How a [`SqliteStore`](crate::SqliteStore) opens its file and bounds its waits.
///
/// Every wait is bounded: a caller waits at most about `acquire_timeout` for its turn in this
/// process (a free connection, or the writer's slot) and then at most `busy_timeout` for
/// another process holding the database's lock, after which the operation fails with
/// `StoreError::Unavailable` instead of hanging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Connections kept open at most. SQLite in WAL mode reads on all of them at once and
    /// writes on one at a time. Default 8; at least 1 is used.
    pub max_connections: u32,
    /// How long an operation waits for a free connection or for its turn to write in this
    /// process. Default 5 s.
    pub acquire_timeout: Duration,
    /// How long a statement waits for a lock held by another connection (another
    /// `graph-photo` process over the same file, a backup tool) before giving up. Default 5 s.
    pub busy_timeout: Duration,
    /// Bytes of recently read or written photos kept in memory, so that reading a hot photo
    /// costs a check of its ETag rather than a read of its bytes. `0` keeps none. Default
    /// 64 MiB.
    pub hot_cache_bytes: usize,
    /// Open the file read-only: it must exist with the current schema; reads work and every
    /// write answers `StoreError::Unavailable`. Default `false`.
    pub read_only: bool,
}

impl SqliteOptions {
    /// The default [`max_connections`](Self::max_connections).
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;
    /// The default [`acquire_timeout`](Self::acquire_timeout) and
    /// [`busy_timeout`](Self::busy_timeout).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// The default [`hot_cache_bytes`](Self::hot_cache_bytes).
    pub const DEFAULT_HOT_CACHE_BYTES: usize = 64 << 20;
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: Self::DEFAULT_TIMEOUT,
            busy_timeout: Self::DEFAULT_TIMEOUT,
            hot_cache_bytes: Self::DEFAULT_HOT_CACHE_BYTES,
            read_only: false,
        }
    }
}
