//! [`SqliteOpenError`], and the one place driver errors are turned into texts of ours.

use std::fmt;
use std::path::PathBuf;

use photo_core::ports::StoreError;

/// Why [`SqliteStore::open`](crate::SqliteStore::open) failed. Each message is one line that
/// names the file; none carries the driver's own text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqliteOpenError {
    /// The directory the file goes in does not exist and could not be created.
    #[error("cannot create the directory of the SQLite store {}: {reason}", .path.display())]
    CreateDirectory {
        /// The database file.
        path: PathBuf,
        /// Why, in our words.
        reason: String,
    },
    /// The file could not be created or opened (permissions, a directory in its place, a
    /// lock held too long by another process, an I/O error, a damaged file).
    #[error("cannot open the SQLite store {}: {reason}", .path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why, in our words.
        reason: String,
    },
    /// The file exists but is not a SQLite database.
    #[error("{} is not a SQLite database", .path.display())]
    NotADatabase {
        /// The file.
        path: PathBuf,
    },
    /// The file is a SQLite database of something else: it holds tables but not this
    /// store's schema. It is left untouched.
    #[error(
        "{} is a SQLite database of another application (tables, but no graph-photo schema); refusing to use it",
        .path.display()
    )]
    ForeignDatabase {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by a newer graph-photo: its schema has migrations this build
    /// does not know. It is left untouched.
    #[error(
        "{} has schema version {found}, newer than this build of graph-photo knows ({supported}); upgrade graph-photo to open it",
        .path.display()
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The highest schema version applied to the file.
        found: i64,
        /// The highest schema version this build knows.
        supported: i64,
    },
    /// The file's recorded schema does not match this build's (a migration this build knows
    /// was applied with different content, or a gap in the versions): it was not written by
    /// a released graph-photo, or was edited by hand.
    #[error("the schema of the SQLite store {} does not match this build: {reason}", .path.display())]
    SchemaMismatch {
        /// The database file.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// The file or its directory is read-only (or the store was opened read-only), but the
    /// file needed to be created or its schema migrated.
    #[error("the SQLite store {} is read-only but needs to be {needed}", .path.display())]
    ReadOnly {
        /// The database file.
        path: PathBuf,
        /// What was needed: "created" or "migrated" (to the current schema).
        needed: &'static str,
    },
}

/// What a driver error means, in a few words of ours: what a `StoreError::Unavailable` or a
/// [`SqliteOpenError`] says. The driver's own text (which may name tables, SQL or paths) only
/// goes to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    Busy,
    ReadOnly,
    Full,
    Io,
    Corrupt,
    NotADatabase,
    CannotOpen,
    Permission,
    PoolTimedOut,
    Closed,
    Other,
}

impl Failure {
    /// SQLite's primary result codes (the low byte of an extended code),
    /// <https://www.sqlite.org/rescode.html>.
    fn of_sqlite_code(extended: i32) -> Self {
        match extended & 0xff {
            5 | 6 => Self::Busy,        // SQLITE_BUSY, SQLITE_LOCKED
            8 => Self::ReadOnly,        // SQLITE_READONLY
            13 => Self::Full,           // SQLITE_FULL
            10 | 15 => Self::Io,        // SQLITE_IOERR, SQLITE_PROTOCOL
            11 => Self::Corrupt,        // SQLITE_CORRUPT
            26 => Self::NotADatabase,   // SQLITE_NOTADB
            14 => Self::CannotOpen,     // SQLITE_CANTOPEN
            3 | 23 => Self::Permission, // SQLITE_PERM, SQLITE_AUTH
            _ => Self::Other,
        }
    }

    pub(crate) fn of(error: &sqlx::Error) -> Self {
        match error {
            sqlx::Error::Database(e) => e
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .map_or(Self::Other, Self::of_sqlite_code),
            sqlx::Error::PoolTimedOut => Self::PoolTimedOut,
            sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => Self::Closed,
            sqlx::Error::Io(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                Self::Permission
            }
            sqlx::Error::Io(_) => Self::Io,
            _ => Self::Other,
        }
    }

    pub(crate) fn text(self) -> &'static str {
        match self {
            Self::Busy => "the database is locked by another connection",
            Self::ReadOnly => "the database is read-only",
            Self::Full => "the disk or the database is full",
            Self::Io => "an I/O error on the database file",
            Self::Corrupt => "the database file is damaged",
            Self::NotADatabase => "the file is not a SQLite database",
            Self::CannotOpen => "the file cannot be opened",
            Self::Permission => "permission denied",
            Self::PoolTimedOut => "no database connection became free in time",
            Self::Closed => "the store is closed",
            Self::Other => "a database error",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// Maps a driver error to the port's error, logging the driver's text (for the operator)
/// and handing the caller only ours.
pub(crate) fn unavailable(doing: &'static str, error: &sqlx::Error) -> StoreError {
    let failure = Failure::of(error);
    tracing::warn!(%error, "SQLite store: {doing} failed: {failure}");
    StoreError::Unavailable(format!("{doing}: {failure}"))
}
