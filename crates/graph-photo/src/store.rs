//! `--store URL`: which store adapter `serve`, `export` and `import` open.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use adapter_memstore::{MemPhotoStore, MemRenditionCache, TieredRenditionCache};
use adapter_postgres::{PgOptions, PgStore};
use adapter_sqlite::{SqliteOptions, SqliteStore};
use photo_core::ports::{PhotoStore, RenditionCache};

use crate::AppError;

/// The file of the default store inside the data directory.
pub const DEFAULT_SQLITE_FILE: &str = "graph-photo.db";

/// A store, as `--store` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `memory`: photos live as long as the process.
    Memory,
    /// `sqlite:PATH`: one SQLite file (the embedded default).
    Sqlite(PathBuf),
    /// `postgres://...` or `postgresql://...`: one database behind any number of replicas.
    Postgres(String),
}

impl StoreUrl {
    /// Parses `memory`, `sqlite:PATH` (also `sqlite://PATH`) and `postgres[ql]://...`.
    pub fn parse(url: &str) -> Result<Self, AppError> {
        let url = url.trim();
        if url.eq_ignore_ascii_case("memory") || url.eq_ignore_ascii_case("memory:") {
            return Ok(Self::Memory);
        }
        if let Some(rest) = strip_prefix_ignore_case(url, "sqlite:") {
            // `sqlite:///abs/path` and `sqlite://rel` as well as `sqlite:path`.
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(AppError::Usage(
                    "--store sqlite: needs a file, e.g. sqlite:/var/lib/graph-photo/graph-photo.db"
                        .into(),
                ));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if strip_prefix_ignore_case(url, "postgres://").is_some()
            || strip_prefix_ignore_case(url, "postgresql://").is_some()
        {
            return Ok(Self::Postgres(url.to_owned()));
        }
        Err(AppError::Usage(format!(
            "unknown store '{}': use memory, sqlite:PATH or postgres://USER@HOST/DATABASE",
            mask_password(url)
        )))
    }

    /// The embedded default: `sqlite:<data dir>/graph-photo.db`.
    pub fn default_in(data_dir: &Path) -> Self {
        Self::Sqlite(data_dir.join(DEFAULT_SQLITE_FILE))
    }
}

/// Shown in banners and errors: never with a password.
impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::Postgres(url) => f.write_str(&mask_password(url)),
        }
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `scheme://user:secret@host/db?password=secret` -> `scheme://user:***@host/db?password=***`.
pub fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                        format!("{name}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// How long `serve` waits for a connection from the pool (or for a locked SQLite file) before a
/// request gets `503 serviceNotAvailable` (spec F2).
pub const STORE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The opened store: the photo store and the rendition cache over it.
pub struct Stores {
    /// Where photos live.
    pub photos: Arc<dyn PhotoStore>,
    /// Rendered sizes: this process's memory, in front of the database for durable stores.
    pub renditions: Arc<dyn RenditionCache>,
    /// The store as the banner says it.
    pub url: StoreUrl,
}

impl Stores {
    /// Opens `url`: creates a SQLite file and applies migrations, or connects to PostgreSQL
    /// and applies migrations. `rendition_memory` is the number of photo versions whose sizes
    /// this process keeps in memory.
    pub async fn open(url: StoreUrl, rendition_memory: usize) -> Result<Self, AppError> {
        let front = MemRenditionCache::with_capacity(rendition_memory);
        // The adapters' open errors name the file or the (masked) URL themselves.
        let fail = |error: String| AppError::Store(error);
        let (photos, renditions): (Arc<dyn PhotoStore>, Arc<dyn RenditionCache>) = match &url {
            StoreUrl::Memory => (Arc::new(MemPhotoStore::new()), Arc::new(front)),
            StoreUrl::Sqlite(path) => {
                let options = SqliteOptions {
                    acquire_timeout: STORE_ACQUIRE_TIMEOUT,
                    ..SqliteOptions::default()
                };
                let store = Arc::new(
                    SqliteStore::open(path, options)
                        .await
                        .map_err(|e| fail(e.to_string()))?,
                );
                (
                    store.clone(),
                    Arc::new(TieredRenditionCache::new(front, store)),
                )
            }
            StoreUrl::Postgres(conn) => {
                let options = PgOptions {
                    acquire_timeout: STORE_ACQUIRE_TIMEOUT,
                    ..PgOptions::default()
                };
                let store = Arc::new(
                    PgStore::connect(conn, options)
                        .await
                        .map_err(|e| fail(e.to_string()))?,
                );
                (
                    store.clone(),
                    Arc::new(TieredRenditionCache::new(front, store)),
                )
            }
        };
        Ok(Self {
            photos,
            renditions,
            url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_kinds() {
        assert_eq!(StoreUrl::parse("memory").unwrap(), StoreUrl::Memory);
        assert_eq!(
            StoreUrl::parse("sqlite:/var/lib/gp.db").unwrap(),
            StoreUrl::Sqlite("/var/lib/gp.db".into())
        );
        assert_eq!(
            StoreUrl::parse("sqlite:///var/lib/gp.db").unwrap(),
            StoreUrl::Sqlite("/var/lib/gp.db".into())
        );
        assert_eq!(
            StoreUrl::parse("SQLite:photos.db").unwrap(),
            StoreUrl::Sqlite("photos.db".into())
        );
        assert_eq!(
            StoreUrl::parse("postgresql://u@h/db").unwrap(),
            StoreUrl::Postgres("postgresql://u@h/db".into())
        );
        assert!(StoreUrl::parse("sqlite:").is_err());
    }

    #[test]
    fn an_unknown_url_is_named_without_its_password() {
        let error = StoreUrl::parse("mysql://root:hunter2@db/photos")
            .unwrap_err()
            .to_string();
        assert!(error.contains("mysql://root:***@db/photos"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn passwords_are_masked_everywhere() {
        assert_eq!(
            mask_password("postgres://app:s3cr@t@db.example:5432/photos?sslmode=require"),
            "postgres://app:***@db.example:5432/photos?sslmode=require"
        );
        assert_eq!(
            mask_password("postgres://db/photos?user=app&password=s3cret"),
            "postgres://db/photos?user=app&password=***"
        );
        assert_eq!(
            mask_password("postgres://app@db/photos"),
            "postgres://app@db/photos"
        );
        let url = StoreUrl::parse("postgres://app:pw@db/photos").unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db/photos");
    }
}
