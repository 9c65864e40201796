//! Errors: why a store could not be opened, and driver errors mapped into the port's error.

use photo_core::ports::StoreError;

/// Why [`PgStore::connect`](crate::PgStore::connect) failed. Each message is one line naming the
/// URL with its password masked, fit to print and exit with; none carries driver text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PgOpenError {
    /// The URL is not a PostgreSQL URL (`postgres://` or `postgresql://`) the driver accepts.
    #[error("bad PostgreSQL URL {url}: {reason}")]
    BadUrl {
        /// The URL, password masked.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No PostgreSQL server answered in time at that address.
    #[error("cannot reach PostgreSQL at {url}: {reason}")]
    Unreachable {
        /// The URL, password masked.
        url: String,
        /// What happened (refused, timed out, TLS failure...).
        reason: String,
    },
    /// The server refused the user name or password.
    #[error("PostgreSQL at {url} refused the credentials: wrong user name or password")]
    Authentication {
        /// The URL, password masked.
        url: String,
    },
    /// The server has no database of that name.
    #[error("PostgreSQL at {url}: the database does not exist (create it first)")]
    DatabaseMissing {
        /// The URL, password masked.
        url: String,
    },
    /// The server refused the connection for another reason (too many connections, shutting
    /// down, ...), named by its SQLSTATE code.
    #[error("PostgreSQL at {url} refused the connection (SQLSTATE {code})")]
    Refused {
        /// The URL, password masked.
        url: String,
        /// The SQLSTATE error code.
        code: String,
    },
    /// The database holds a schema version this build does not know: a newer graph-photo
    /// wrote it. Nothing was changed.
    #[error(
        "the database at {url} has schema version {found}, newer than this graph-photo knows \
         (up to {known}); run a newer graph-photo (the database was not changed)"
    )]
    NewerSchema {
        /// The URL, password masked.
        url: String,
        /// A schema version applied to the database and unknown here.
        found: i64,
        /// The newest schema version this build knows.
        known: i64,
    },
    /// The schema could not be brought up to date.
    #[error("cannot migrate the database at {url}: {reason}")]
    Migration {
        /// The URL, password masked.
        url: String,
        /// What went wrong, in our words.
        reason: String,
    },
}

/// The first error of `connect` mapped into [`PgOpenError`].
pub(crate) fn open_error(url: String, error: &sqlx::Error) -> PgOpenError {
    match error {
        sqlx::Error::Configuration(_) => PgOpenError::BadUrl {
            url,
            reason: "the driver does not accept it",
        },
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // invalid_password, invalid_authorization_specification (no such role, no
            // pg_hba.conf entry)
            Some("28P01" | "28000") => PgOpenError::Authentication { url },
            // invalid_catalog_name
            Some("3D000") => PgOpenError::DatabaseMissing { url },
            code => PgOpenError::Refused {
                url,
                code: code.unwrap_or("unknown").to_owned(),
            },
        },
        sqlx::Error::Io(io) => PgOpenError::Unreachable {
            url,
            reason: match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                std::io::ErrorKind::NotFound => "no such host or socket".to_owned(),
                std::io::ErrorKind::TimedOut => "timed out".to_owned(),
                _ => "network error".to_owned(),
            },
        },
        sqlx::Error::Tls(_) => PgOpenError::Unreachable {
            url,
            reason: if cfg!(feature = "tls") {
                "the TLS handshake failed"
            } else {
                "the URL's sslmode asks for TLS, and this build has none (adapter-postgres \
                 without its `tls` feature)"
            }
            .to_owned(),
        },
        _ => PgOpenError::Unreachable {
            url,
            reason: "the server did not answer as PostgreSQL".to_owned(),
        },
    }
}

/// A driver error mapped into the port's error: a short text of ours, and the driver's own
/// text in the log only (it may name tables, values or hosts, and must not reach a client).
pub(crate) fn unavailable(operation: &'static str, error: &sqlx::Error) -> StoreError {
    let what = describe(error);
    tracing::warn!(operation, %error, "PostgreSQL store: {what}");
    StoreError::Unavailable(format!("{operation}: {what}"))
}

/// Our words for a driver error, for logs and [`StoreError::Unavailable`].
pub(crate) fn describe(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::PoolTimedOut => "no database connection within the acquire timeout",
        sqlx::Error::PoolClosed => "the store is closed",
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => {
            "the database connection failed"
        }
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("57014") => "the database statement timed out",
            Some(code) if code.starts_with("08") => "the database connection failed",
            Some(code) if code.starts_with("57") => "the database is shutting down",
            Some(code) if code.starts_with("53") => "the database is out of resources",
            _ => "the database refused the statement",
        },
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            "the database holds a row this build cannot read"
        }
        _ => "database error",
    }
}
