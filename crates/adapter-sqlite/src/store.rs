//! [`SqliteStore`]: the `PhotoStore` and `RenditionCache` over one SQLite file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use photo_core::etag::{ETag, Precondition};
use photo_core::format::ImageFormat;
use photo_core::ports::{
    PhotoKey, PhotoOwner, PhotoStore, RenditionCache, StoreError, StoredPhoto, ValidatedPhoto,
};
use photo_core::principal::TenantId;
use photo_core::renditions::{Rendition, RenditionFormat, RenditionSet};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row, Sqlite, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::{unavailable, Failure, SqliteOpenError};
use crate::hot::HotCache;
use crate::options::SqliteOptions;
use crate::schema;
use crate::watch::CommitWatch;

/// Photos and their renditions in one SQLite file (WAL mode, `synchronous=FULL`): a
/// [`PhotoStore`] and a [`RenditionCache`]. Cheap to share behind an `Arc`; see the crate
/// docs for the guarantees.
pub struct SqliteStore {
    path: PathBuf,
    pool: SqlitePool,
    /// Writers of this process take turns here before they ask SQLite for its write lock:
    /// SQLite lets one writer in at a time anyway, and a writer waiting on SQLite's lock
    /// polls with sleeps of up to 100 ms, which under contention costs far more than the
    /// write. Other processes still meet at SQLite's lock (`busy_timeout`).
    writer: Mutex<()>,
    acquire_timeout: std::time::Duration,
    hot: HotCache,
    /// Whether anything was committed since a hot entry was confirmed; `None` where it
    /// cannot be used (read-only, no hot cache, not proven at open).
    watch: Option<CommitWatch>,
    /// A connection held for the store's whole life, outside the pool: while it is open,
    /// SQLite neither removes nor reinitialises the WAL index the watch reads, whatever the
    /// pool does with its own connections.
    anchor: std::sync::Mutex<Option<SqliteConnection>>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it and its directory if missing, unless read-only) the store in the
    /// file at `path`, brings its schema up to date, and sets WAL mode and
    /// `synchronous=FULL`.
    ///
    /// Must be called within a Tokio runtime, like every method of the store.
    ///
    /// # Errors
    ///
    /// A [`SqliteOpenError`] naming `path`: see its variants. Nothing is written to a file
    /// that is refused.
    ///
    /// # Example
    ///
    /// One file serves as both of the ports photo-core's `PhotoService` needs storage for:
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use adapter_sqlite::{SqliteOptions, SqliteStore};
    /// use photo_core::ports::{PhotoKey, PhotoOwner, PhotoStore, RenditionCache};
    /// use photo_core::principal::TenantId;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let dir = tempfile::tempdir()?;
    /// let file = dir.path().join("graph-photo.db");
    /// let store = Arc::new(SqliteStore::open(&file, SqliteOptions::default()).await?);
    ///
    /// let photos: Arc<dyn PhotoStore> = store.clone();
    /// let renditions: Arc<dyn RenditionCache> = store.clone();
    ///
    /// let key = PhotoKey {
    ///     tenant: TenantId::new("3f2a7c10-5d4e-4b8a-9c1f-2e6d8a0b4c7e"),
    ///     owner: PhotoOwner::User("0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9".into()),
    /// };
    /// assert!(photos.get(&key).await?.is_none());
    /// # drop(renditions);
    /// store.close().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn open(path: &Path, options: SqliteOptions) -> Result<Self, SqliteOpenError> {
        Self::open_with(path, options, |c| c).await
    }

    /// [`open`](Self::open), with a last say on every connection's options (for tests that
    /// need a pragma the public options do not offer).
    pub(crate) async fn open_with(
        path: &Path,
        options: SqliteOptions,
        tweak: impl Fn(SqliteConnectOptions) -> SqliteConnectOptions,
    ) -> Result<Self, SqliteOpenError> {
        let file = path.to_path_buf();
        let exists = tokio::fs::try_exists(&file).await.unwrap_or(false);
        if options.read_only && !exists {
            return Err(SqliteOpenError::Open {
                path: file,
                reason: "it does not exist (opened read-only, so it is not created)".to_owned(),
            });
        }
        if !options.read_only {
            if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                tokio::fs::create_dir_all(parent).await.map_err(|e| {
                    SqliteOpenError::CreateDirectory {
                        path: file.clone(),
                        reason: e.kind().to_string(),
                    }
                })?;
            }
        }
        let needed = if exists { "migrated" } else { "created" };
        let connect = tweak(
            SqliteConnectOptions::new()
                .filename(&file)
                .create_if_missing(!options.read_only)
                .read_only(options.read_only)
                .busy_timeout(options.busy_timeout)
                .foreign_keys(true)
                .synchronous(SqliteSynchronous::Full),
        );

        let mut setup: SqliteConnection = connect.connect().await.map_err(|e| {
            // The directory exists (it was just made or found): a new file that cannot be
            // made there is a directory we may not write to.
            let denied = matches!(
                Failure::of(&e),
                Failure::CannotOpen | Failure::Permission | Failure::ReadOnly
            );
            match schema::open_error(&file, needed, &e) {
                SqliteOpenError::Open { path, .. } if !exists && denied => {
                    SqliteOpenError::ReadOnly { path, needed }
                }
                other => other,
            }
        })?;
        if let Err(refused) = schema::prepare(&file, &mut setup, options.read_only, !exists).await {
            // Closing is tidy-up; the refusal is the answer.
            let _ = setup.close().await;
            return Err(refused);
        }
        let watch = if options.read_only || options.hot_cache_bytes == 0 {
            None
        } else {
            prove_watch(&file, &mut setup).await
        };

        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            // A liveness ping per acquire would double the cost of a hot read; a connection
            // that broke answers its next statement with an error, which maps to Unavailable.
            .test_before_acquire(false)
            .connect_with(connect)
            .await
            .map_err(|e| schema::open_error(&file, needed, &e))?;
        Ok(Self {
            path: file,
            pool,
            writer: Mutex::new(()),
            acquire_timeout: options.acquire_timeout,
            hot: HotCache::new(options.hot_cache_bytes),
            watch,
            anchor: std::sync::Mutex::new(Some(setup)),
        })
    }

    /// The database file, as given to [`open`](Self::open).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes every connection, waiting for those in use to come back. Later calls answer
    /// `StoreError::Unavailable`. Not needed for durability: every acknowledged write is
    /// already on disk; it only ends the store's use of the file tidily.
    pub async fn close(&self) {
        self.pool.close().await;
        let anchor = self
            .anchor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(anchor) = anchor {
            let _ = anchor.close().await;
        }
    }

    /// This process's turn to write, waited for at most the acquire timeout.
    async fn writer_turn(&self, doing: &'static str) -> Result<MutexGuard<'_, ()>, StoreError> {
        tokio::time::timeout(self.acquire_timeout, self.writer.lock())
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "{doing}: no turn to write came in time (too many writers)"
                ))
            })
    }

    /// A write transaction that holds SQLite's write lock from its first statement, so that
    /// what it reads cannot change before it writes (compare-and-swap).
    async fn begin_write(
        &self,
        doing: &'static str,
    ) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| unavailable(doing, &e))
    }
}

/// The watch over `path`'s WAL index, once a commit made through `conn` was seen to change
/// it: proof that it reads the index SQLite uses. The commit records the schema version in
/// the file's header (`user_version`), a harmless write. `None` (reads then always ask the
/// database) when anything stands in the way: no index file, a lock, a read-only file.
async fn prove_watch(path: &Path, conn: &mut SqliteConnection) -> Option<CommitWatch> {
    let watch = CommitWatch::open(path)?;
    let before = watch.stamp()?;
    let mark = format!("PRAGMA user_version = {}", schema::LATEST_VERSION);
    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(mark))
        .execute(&mut *conn)
        .await
    {
        tracing::debug!(error = %e, "SQLite store: hot reads will ask the database");
        return None;
    }
    let after = watch.stamp()?;
    (after != before).then_some(watch)
}

/// A [`PhotoKey`] as the four columns of the `photos` table's unique key.
struct KeyColumns<'a> {
    tenant: &'a str,
    kind: &'static str,
    owner: &'a str,
    contact: &'a str,
}

impl<'a> KeyColumns<'a> {
    fn of(key: &'a PhotoKey) -> Self {
        let (kind, owner, contact) = key.owner.to_columns();
        Self {
            tenant: key.tenant.as_str(),
            kind,
            owner,
            contact,
        }
    }
}

/// Binds a [`KeyColumns`] to a query as its parameters `?1` to `?4`.
macro_rules! bind_key {
    ($query:expr, $cols:expr) => {
        $query
            .bind($cols.tenant.to_owned())
            .bind($cols.kind)
            .bind($cols.owner.to_owned())
            .bind($cols.contact.to_owned())
    };
}

/// The `WHERE` clause naming one photo by its key, parameters `?1` to `?4`.
macro_rules! by_key {
    () => {
        "tenant = ?1 AND owner_kind = ?2 AND owner_id = ?3 AND contact_id = ?4"
    };
}

/// `head` (ending in `WHERE `) completed with the photo's key (`?1` to `?4`) and
/// `condition`: the tags of `OneOf` are parameters `?first` on.
fn conditional(head: &str, condition: &Precondition, first: usize) -> String {
    let mut sql = format!("{head}{}", by_key!());
    if let Precondition::OneOf(tags) = condition {
        let list: Vec<String> = (first..first + tags.len())
            .map(|i| format!("?{i}"))
            .collect();
        sql.push_str(&format!(" AND etag IN ({})", list.join(", ")));
    }
    sql
}

/// How long [`PhotoStore::check`] waits for the database: a readiness probe must be answered
/// quickly, whatever the pool's own timeouts.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A row the schema's CHECK constraints should have kept out: written by hand or damaged.
fn bad_row(doing: &'static str) -> StoreError {
    tracing::warn!("SQLite store: {doing}: a row holds values this build cannot read");
    StoreError::Unavailable(format!("{doing}: a stored row cannot be read"))
}

/// The photo in a `(etag, format, width, height, bytes)` row; `bytes` is NULL when the
/// caller holds them already (`cached`, which is then returned).
fn photo_of(
    row: &SqliteRow,
    cached: Option<StoredPhoto>,
    doing: &'static str,
) -> Result<StoredPhoto, StoreError> {
    let get = || -> Result<_, sqlx::Error> {
        Ok((
            row.try_get::<String, _>(0)?,
            row.try_get::<String, _>(1)?,
            row.try_get::<i64, _>(2)?,
            row.try_get::<i64, _>(3)?,
            row.try_get::<Option<Vec<u8>>, _>(4)?,
        ))
    };
    let (etag, format, width, height, bytes) = get().map_err(|e| unavailable(doing, &e))?;
    match (bytes, cached) {
        (None, Some(cached)) if cached.etag.opaque() == etag => Ok(cached),
        (Some(bytes), _) => Ok(StoredPhoto {
            bytes: Bytes::from(bytes),
            format: ImageFormat::from_stored_name(&format).ok_or_else(|| bad_row(doing))?,
            width: u32::try_from(width).map_err(|_| bad_row(doing))?,
            height: u32::try_from(height).map_err(|_| bad_row(doing))?,
            etag: ETag::new(etag),
        }),
        (None, _) => Err(bad_row(doing)),
    }
}

#[async_trait]
impl PhotoStore for SqliteStore {
    async fn get(&self, key: &PhotoKey) -> Result<Option<StoredPhoto>, StoreError> {
        const DOING: &str = "reading a photo";
        let cols = KeyColumns::of(key);
        // Read before the database is asked: a commit after this point changes the stamp.
        let now = self.watch.as_ref().and_then(CommitWatch::stamp);
        let cached = match self.hot.get(key) {
            Some((photo, Some(confirmed))) if Some(confirmed) == now => return Ok(Some(photo)),
            Some((photo, _)) => Some(photo),
            None => None,
        };
        // One statement either way: the blob is read only when the cached version (if any)
        // is not the stored one. `etag = NULL` is never true, so without a cached version
        // the bytes always come.
        let row = bind_key!(
            sqlx::query(concat!(
                "SELECT etag, format, width, height, CASE WHEN etag = ?5 THEN NULL ELSE bytes END \
                 FROM photos WHERE ",
                by_key!()
            )),
            cols
        )
        .bind(cached.as_ref().map(|c| c.etag.opaque().to_owned()))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| unavailable(DOING, &e))?;
        let Some(row) = row else {
            self.hot.remove(key);
            return Ok(None);
        };
        let photo = photo_of(&row, cached, DOING)?;
        self.hot.insert(key, photo.clone(), now);
        Ok(Some(photo))
    }

    async fn put(
        &self,
        key: &PhotoKey,
        photo: ValidatedPhoto,
        condition: &Precondition,
    ) -> Result<StoredPhoto, StoreError> {
        const DOING: &str = "storing a photo";
        let cols = KeyColumns::of(key);
        let stored = StoredPhoto::from(photo);
        // Writers take turns anyway; taking the turn before binding means that only the
        // writer whose turn it is holds its copy of the bytes for the driver (sqlx binds an
        // owned Vec and SQLite copies that again), not every upload waiting behind it: with
        // 16 concurrent 4 MB uploads that was 60 MB more at the peak.
        let _turn = self.writer_turn(DOING).await?;
        // Each case is one statement, so its own transaction: SQLite takes the write lock as
        // the statement starts (as BEGIN IMMEDIATE would) and holds it through the check in
        // its WHERE clause and the write, a compare-and-swap. The renditions of the version
        // replaced go in the same statement (trigger `photo_replaced`). One statement is
        // also one trip to the connection's thread: a durable put costs what a bare insert
        // costs.
        let statement = match condition {
            Precondition::None => bind_key!(
                sqlx::query(
                    "INSERT INTO photos \
                 (tenant, owner_kind, owner_id, contact_id, format, width, height, etag, bytes) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (tenant, owner_kind, owner_id, contact_id) DO UPDATE SET \
                 format = excluded.format, width = excluded.width, \
                 height = excluded.height, etag = excluded.etag, bytes = excluded.bytes"
                ),
                cols
            ),
            Precondition::OneOf(tags) if tags.is_empty() => {
                return Err(StoreError::PreconditionFailed)
            }
            // If-Match: only a stored photo can match, so an UPDATE: no row, no write.
            Precondition::Exists | Precondition::OneOf(_) => bind_key!(
                sqlx::query(sqlx::AssertSqlSafe(conditional(
                    "UPDATE photos SET format = ?5, width = ?6, height = ?7, etag = ?8, \
                     bytes = ?9 WHERE ",
                    condition,
                    10,
                ))),
                cols
            ),
        };
        let mut statement = statement
            .bind(stored.format.stored_name())
            .bind(i64::from(stored.width))
            .bind(i64::from(stored.height))
            .bind(stored.etag.opaque().to_owned())
            .bind(stored.bytes.to_vec());
        if let Precondition::OneOf(tags) = condition {
            for tag in tags {
                statement = statement.bind(tag.opaque().to_owned());
            }
        }
        let written = statement
            .execute(&self.pool)
            .await
            .map_err(|e| unavailable(DOING, &e))?;
        if written.rows_affected() == 0 {
            return Err(StoreError::PreconditionFailed);
        }
        // Not confirmed: another process may commit right after this one.
        self.hot.insert(key, stored.clone(), None);
        Ok(stored)
    }

    async fn delete(&self, key: &PhotoKey, condition: &Precondition) -> Result<(), StoreError> {
        const DOING: &str = "deleting a photo";
        let cols = KeyColumns::of(key);
        if matches!(condition, Precondition::OneOf(tags) if tags.is_empty()) {
            return Err(StoreError::PreconditionFailed);
        }
        // One statement, checked and applied under the write lock as for `put`; its
        // renditions go with it (ON DELETE CASCADE).
        let mut statement = bind_key!(
            sqlx::query(sqlx::AssertSqlSafe(conditional(
                "DELETE FROM photos WHERE ",
                condition,
                5
            ))),
            cols
        );
        if let Precondition::OneOf(tags) = condition {
            for tag in tags {
                statement = statement.bind(tag.opaque().to_owned());
            }
        }
        let _turn = self.writer_turn(DOING).await?;
        let deleted = statement
            .execute(&self.pool)
            .await
            .map_err(|e| unavailable(DOING, &e))?;
        self.hot.remove(key);
        match (deleted.rows_affected(), condition) {
            (0, Precondition::None) => Err(StoreError::NotFound),
            // With a condition, a missing photo fails it too: the port checks the condition
            // before NotFound.
            (0, _) => Err(StoreError::PreconditionFailed),
            _ => Ok(()),
        }
    }

    /// One read of the photos table (no row, no blob) through the pool, under a bound:
    /// a database file that cannot be read, or a pool that has no connection to give,
    /// answers `Unavailable` within 2 s.
    async fn check(&self) -> Result<(), StoreError> {
        const DOING: &str = "checking the store";
        let query = sqlx::query("SELECT 1 FROM photos LIMIT 0").execute(&self.pool);
        match tokio::time::timeout(CHECK_TIMEOUT, query).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(unavailable(DOING, &e)),
            Err(_) => {
                tracing::warn!("SQLite store: {DOING}: no answer within {CHECK_TIMEOUT:?}");
                Err(StoreError::Unavailable(format!(
                    "{DOING}: no answer within {CHECK_TIMEOUT:?}"
                )))
            }
        }
    }

    async fn keys(&self) -> Result<Vec<PhotoKey>, StoreError> {
        const DOING: &str = "listing photos";
        let rows: Vec<(String, String, String, String)> =
            sqlx::query_as("SELECT tenant, owner_kind, owner_id, contact_id FROM photos")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| unavailable(DOING, &e))?;
        rows.into_iter()
            .map(|(tenant, kind, owner, contact)| {
                let owner = PhotoOwner::from_columns(&kind, &owner, &contact)
                    .ok_or_else(|| bad_row(DOING))?;
                Ok(PhotoKey {
                    tenant: TenantId::new(tenant),
                    owner,
                })
            })
            .collect()
    }
}

/// For the rendition cache, which answers no error: the failure only goes to the log.
fn log_failure(doing: &'static str, e: &sqlx::Error) {
    let _ = unavailable(doing, e);
}

fn log_bad_row(doing: &'static str) {
    let _ = bad_row(doing);
}

/// Ends a transaction that must not commit. Dropping it would roll back too, but only once
/// the connection is next used; this gives SQLite's write lock back at once.
async fn rollback(tx: Transaction<'static, Sqlite>) {
    if let Err(e) = tx.rollback().await {
        tracing::warn!(error = %e, "SQLite store: rollback failed");
    }
}

// RenditionCache methods cannot fail (the port has no error): renditions can always be made
// again from the original, so a database that cannot answer is a miss (`get` gives `None`)
// or a write skipped (`put`, `forget`), logged for the operator. The service then renders,
// exactly as after an eviction.
#[async_trait]
impl RenditionCache for SqliteStore {
    async fn get(&self, key: &PhotoKey, etag: &ETag) -> Option<Arc<RenditionSet>> {
        const DOING: &str = "reading renditions";
        let cols = KeyColumns::of(key);
        // One statement, one snapshot: the set row joined to its renditions, none (a set of
        // zero renditions) giving one row of NULLs. No row at all: no set for this version.
        let rows: Vec<(Option<i64>, Option<String>, Option<Vec<u8>>)> = bind_key!(
            sqlx::query_as(concat!(
                "SELECT r.side, r.format, r.bytes FROM photos p \
                 JOIN rendition_sets s ON s.photo_id = p.id AND s.etag = p.etag \
                 LEFT JOIN renditions r ON r.photo_id = s.photo_id \
                 WHERE p.etag = ?5 AND p.",
                "tenant = ?1 AND p.owner_kind = ?2 AND p.owner_id = ?3 AND p.contact_id = ?4 \
                 ORDER BY r.side"
            )),
            cols
        )
        .bind(etag.opaque().to_owned())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| unavailable(DOING, &e))
        .ok()?;
        if rows.is_empty() {
            return None;
        }
        let mut set = RenditionSet::default();
        for row in rows {
            match row {
                (Some(side), Some(format), Some(bytes)) => set.renditions.push(Rendition {
                    side: u32::try_from(side).ok()?,
                    format: RenditionFormat::from_stored_name(&format)?,
                    bytes: Bytes::from(bytes),
                }),
                (None, None, None) => {}
                _ => {
                    log_bad_row(DOING);
                    return None;
                }
            }
        }
        Some(Arc::new(set))
    }

    async fn put(&self, key: &PhotoKey, etag: &ETag, set: Arc<RenditionSet>) {
        const DOING: &str = "storing renditions";
        let cols = KeyColumns::of(key);
        let Ok(_turn) = self.writer_turn(DOING).await else {
            return;
        };
        let Ok(mut tx) = self.begin_write(DOING).await else {
            return;
        };
        let stored = async {
            // Only for the version stored now: a render that finished after the photo was
            // replaced or deleted must leave nothing behind.
            let Some((id,)) = bind_key!(sqlx::query_as::<_, (i64,)>(concat!(
                    "SELECT id FROM photos WHERE etag = ?5 AND ",
                    by_key!()
                )), cols)
                .bind(etag.opaque().to_owned())
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(false);
            };
            sqlx::query("DELETE FROM rendition_sets WHERE photo_id = ?1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO rendition_sets (photo_id, etag) VALUES (?1, ?2)")
                .bind(id)
                .bind(etag.opaque().to_owned())
                .execute(&mut *tx)
                .await?;
            for r in &set.renditions {
                sqlx::query(
                    "INSERT INTO renditions (photo_id, side, format, bytes) VALUES (?1, ?2, ?3, ?4)",
                )
                .bind(id)
                .bind(i64::from(r.side))
                .bind(r.format.stored_name())
                .bind(r.bytes.to_vec())
                .execute(&mut *tx)
                .await?;
            }
            Ok::<_, sqlx::Error>(true)
        }
        .await;
        match stored {
            Ok(true) => {
                if let Err(e) = tx.commit().await {
                    log_failure(DOING, &e);
                }
            }
            Ok(false) => rollback(tx).await,
            Err(e) => {
                log_failure(DOING, &e);
                rollback(tx).await;
            }
        }
    }

    async fn forget(&self, key: &PhotoKey) {
        const DOING: &str = "forgetting renditions";
        let cols = KeyColumns::of(key);
        let Ok(_turn) = self.writer_turn(DOING).await else {
            return;
        };
        // One statement: its own transaction; the sets' renditions cascade.
        if let Err(e) = bind_key!(
            sqlx::query(concat!(
                "DELETE FROM rendition_sets WHERE photo_id IN (SELECT id FROM photos WHERE ",
                by_key!(),
                ")"
            )),
            cols
        )
        .fetch_optional(&self.pool)
        .await
        {
            log_failure(DOING, &e);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn key(id: &str) -> PhotoKey {
        PhotoKey {
            tenant: TenantId::new("t"),
            owner: PhotoOwner::User(id.into()),
        }
    }

    fn photo(len: usize) -> ValidatedPhoto {
        ValidatedPhoto::for_testkit(Bytes::from(vec![b'x'; len]), ImageFormat::Jpeg, 10, 10)
    }

    /// The hot path's watch is in use on a normal store, and it sees commits made through
    /// another store (another process's, as far as the watch can tell).
    #[tokio::test]
    async fn the_commit_watch_is_proven_and_sees_other_writers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watch.db");
        let a = SqliteStore::open(&path, SqliteOptions::default())
            .await
            .unwrap();
        let b = SqliteStore::open(&path, SqliteOptions::default())
            .await
            .unwrap();
        let watch = a
            .watch
            .as_ref()
            .expect("the watch should be proven at open");
        let before = watch.stamp().unwrap();
        assert_eq!(watch.stamp(), Some(before), "no commit, no change");
        PhotoStore::put(&b, &key("x"), photo(10), &Precondition::None)
            .await
            .unwrap();
        assert_ne!(watch.stamp(), Some(before));

        let no_cache = SqliteOptions {
            hot_cache_bytes: 0,
            ..SqliteOptions::default()
        };
        let c = SqliteStore::open(&path, no_cache).await.unwrap();
        assert!(c.watch.is_none());
    }

    /// The durability settings are those of every connection the store writes through.
    #[tokio::test]
    async fn every_connection_is_wal_and_synchronous_full() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db"), SqliteOptions::default())
            .await
            .unwrap();
        let mut held = Vec::new();
        for _ in 0..SqliteOptions::DEFAULT_MAX_CONNECTIONS {
            let mut conn = store.pool.acquire().await.unwrap();
            let pragmas: (String, i64, i64, i64) = sqlx::query_as(
                "SELECT * FROM pragma_journal_mode, pragma_synchronous, pragma_foreign_keys, \
                 pragma_busy_timeout",
            )
            .fetch_one(&mut *conn)
            .await
            .unwrap();
            // synchronous: 2 is FULL.
            assert_eq!(pragmas, ("wal".to_owned(), 2, 1, 5000));
            held.push(conn);
        }
    }

    /// A full disk, staged with SQLite's own cap on the file's size (`max_page_count` cannot
    /// go below the current size, so `1` means "not one page more"): writes answer
    /// Unavailable, reads go on, and nothing half-written is left.
    #[tokio::test]
    async fn a_full_database_refuses_writes_and_keeps_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("full.db");
        let store = SqliteStore::open(&path, SqliteOptions::default())
            .await
            .unwrap();
        let kept = PhotoStore::put(&store, &key("a"), photo(1000), &Precondition::None)
            .await
            .unwrap();
        store.close().await;

        let full = SqliteStore::open_with(&path, SqliteOptions::default(), |c| {
            c.pragma("max_page_count", "1")
        })
        .await
        .unwrap();
        let put = PhotoStore::put(&full, &key("b"), photo(200_000), &Precondition::None).await;
        assert_eq!(
            put,
            Err(StoreError::Unavailable(
                "storing a photo: the disk or the database is full".into()
            ))
        );
        let replace = PhotoStore::put(&full, &key("a"), photo(300_000), &Precondition::None).await;
        assert!(
            matches!(replace, Err(StoreError::Unavailable(_))),
            "{replace:?}"
        );
        assert_eq!(PhotoStore::get(&full, &key("a")).await.unwrap(), Some(kept));
        assert_eq!(PhotoStore::get(&full, &key("b")).await.unwrap(), None);
        assert_eq!(full.keys().await.unwrap(), vec![key("a")]);
    }
}
