//! [`PgStore`]: the [`PhotoStore`] and [`RenditionCache`] over one PostgreSQL database.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use photo_core::etag::{ETag, Precondition};
use photo_core::format::ImageFormat;
use photo_core::ports::{
    PhotoKey, PhotoOwner, PhotoStore, RenditionCache, StoreError, StoredPhoto, ValidatedPhoto,
};
use photo_core::principal::TenantId;
use photo_core::renditions::{Rendition, RenditionFormat, RenditionSet};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Row};

use crate::error::{open_error, unavailable, PgOpenError};
use crate::url::mask_password;

/// How a [`PgStore`] uses its database. Build with struct update syntax from
/// [`PgOptions::default()`] so that fields added later keep their defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// Most connections the store's pool opens (per replica). Default 10.
    pub max_connections: u32,
    /// How long an operation waits for a connection (pool exhausted, or the database down and
    /// being reconnected to) before it fails with [`StoreError::Unavailable`]. Default 5 s.
    pub acquire_timeout: Duration,
    /// How long [`PgStore::connect`] waits for the server's first answer. Default 5 s.
    pub connect_timeout: Duration,
    /// The server-side limit on one statement (PostgreSQL's `statement_timeout`), so that a
    /// statement stuck behind a lock fails rather than holding a request forever. Default 30 s.
    pub statement_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// Photos and their renditions in one PostgreSQL database, shared by every replica that
/// connects to it. Cheap to clone (the clones share one connection pool): give one clone to
/// the service as its [`PhotoStore`] and another as its [`RenditionCache`].
///
/// See the [crate documentation](crate) for the schema, atomicity and durability.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    display_url: Arc<str>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.display_url)
            .field("connections", &self.pool.size())
            .finish()
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, with
    /// libpq-style query parameters such as `sslmode`), brings its schema up to date, and
    /// returns the store over a pool of connections. TLS (`sslmode=require` and stricter; the
    /// default `prefer` uses it when the server offers it) needs the `tls` feature (default).
    ///
    /// Fails within about `options.connect_timeout` when no server answers. Refuses, changing
    /// nothing, a database whose schema a newer graph-photo wrote
    /// ([`PgOpenError::NewerSchema`]). Replicas starting together over one database are safe:
    /// they apply the migrations in turn under an advisory lock.
    pub async fn connect(url: &str, options: PgOptions) -> Result<PgStore, PgOpenError> {
        let display_url = mask_password(url);
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(PgOpenError::BadUrl {
                url: display_url,
                reason: "it must start with postgres:// or postgresql://",
            });
        }
        let statement_timeout_ms = options.statement_timeout.as_millis().to_string();
        let connect_options = PgConnectOptions::from_str(url)
            .map_err(|e| open_error(display_url.clone(), &e))?
            .application_name("graph-photo")
            .options([
                ("statement_timeout", statement_timeout_ms.as_str()),
                // The server default, set per session so that a server or role configured
                // otherwise cannot make a 2xx mean less than "flushed to the WAL".
                ("synchronous_commit", "on"),
            ]);

        // A first connection of our own rather than the pool's: the pool retries a refused
        // connection until its acquire timeout and then only says "timed out", while this
        // error says why (refused, credentials, no such database). It also runs the
        // migrations, and is closed afterwards.
        let conn =
            match tokio::time::timeout(options.connect_timeout, connect_options.connect()).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(error)) => return Err(open_error(display_url, &error)),
                Err(_) => {
                    return Err(PgOpenError::Unreachable {
                        url: display_url,
                        reason: format!(
                            "no answer within {} s",
                            options.connect_timeout.as_secs_f32()
                        ),
                    })
                }
            };
        crate::migrate::migrate(conn, &display_url).await?;

        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            // An idle connection is checked before use, so connections broken by a database
            // restart are replaced instead of failing a request: the pool recovers by itself.
            .test_before_acquire(true)
            .connect_lazy_with(connect_options);
        Ok(PgStore {
            pool,
            display_url: display_url.into(),
        })
    }

    /// The URL this store was opened with, its password masked: for banners and messages.
    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    /// Closes every connection; later operations fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// How long [`PhotoStore::check`] waits for the database: a readiness probe must be answered
/// quickly, and with the database down the pool keeps trying to connect until its acquire
/// timeout.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The key's four columns: tenant, owner kind, owner id, contact id ('' unless a contact).
fn key_columns(key: &PhotoKey) -> (&str, &'static str, &str, &str) {
    let (kind, owner, contact) = key.owner.to_columns();
    (key.tenant.as_str(), kind, owner, contact)
}

fn key_from_row(row: &PgRow) -> Result<PhotoKey, sqlx::Error> {
    let tenant: String = row.try_get("tenant")?;
    let kind: String = row.try_get("owner_kind")?;
    let owner_id: String = row.try_get("owner_id")?;
    let contact_id: String = row.try_get("contact_id")?;
    let owner = PhotoOwner::from_columns(&kind, &owner_id, &contact_id)
        .ok_or_else(|| bad_column("owner_kind"))?;
    Ok(PhotoKey {
        tenant: TenantId::new(tenant),
        owner,
    })
}

fn bad_column(name: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: name.to_owned(),
        source: "unexpected value".into(),
    }
}

fn photo_from_row(row: &PgRow) -> Result<StoredPhoto, sqlx::Error> {
    let bytes: Vec<u8> = row.try_get("bytes")?;
    let format: String = row.try_get("format")?;
    let width: i32 = row.try_get("width")?;
    let height: i32 = row.try_get("height")?;
    let etag: String = row.try_get("etag")?;
    Ok(StoredPhoto {
        bytes: Bytes::from(bytes),
        format: ImageFormat::from_stored_name(&format).ok_or_else(|| bad_column("format"))?,
        width: u32::try_from(width).map_err(|_| bad_column("width"))?,
        height: u32::try_from(height).map_err(|_| bad_column("height"))?,
        etag: ETag::new(etag),
    })
}

/// A side or dimension as the schema's INTEGER. Validation bounds them far below `i32::MAX`;
/// one above is refused rather than wrapped.
fn to_i32(value: u32, operation: &'static str) -> Result<i32, StoreError> {
    i32::try_from(value)
        .map_err(|_| StoreError::Unavailable(format!("{operation}: dimension out of range")))
}

// The upsert or the conditional update (`$10`; `$11` NULL for `Precondition::Exists`, else
// the tags one of which must be stored), then the purge of the other versions' renditions:
// migrations/0002_put_photo_function.sql says why this is atomic and race-free.
const PUT_PHOTO: &str = "\
    SELECT graph_photo_put($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

// The renditions go with the photo row through the foreign key's ON DELETE CASCADE.
const CONDITIONAL_DELETE: &str = "\
    DELETE FROM photos
    WHERE tenant = $1 AND owner_kind = $2 AND owner_id = $3 AND contact_id = $4
      AND ($5::text[] IS NULL OR etag = ANY($5::text[]))";

const SELECT_PHOTO: &str = "\
    SELECT bytes, format, width, height, etag FROM photos
    WHERE tenant = $1 AND owner_kind = $2 AND owner_id = $3 AND contact_id = $4";

const SELECT_KEYS: &str = "SELECT tenant, owner_kind, owner_id, contact_id FROM photos";

// Inserts only while the photo is at version `$5`, taking a share lock on its row: a put or
// delete of the photo either committed before (the row no longer matches, nothing is
// inserted) or waits until this commits (and then removes these rows in its own transaction).
// A version rendered twice (two replicas at once) keeps the first rows, which are the same.
const INSERT_RENDITIONS: &str = "\
    INSERT INTO renditions (tenant, owner_kind, owner_id, contact_id, etag, side, format, bytes)
    SELECT p.tenant, p.owner_kind, p.owner_id, p.contact_id, p.etag, r.side, r.format, r.bytes
    FROM photos p, UNNEST($6::int4[], $7::text[], $8::bytea[]) AS r (side, format, bytes)
    WHERE p.tenant = $1 AND p.owner_kind = $2 AND p.owner_id = $3 AND p.contact_id = $4
      AND p.etag = $5
    FOR SHARE OF p
    ON CONFLICT DO NOTHING";

const SELECT_RENDITIONS: &str = "\
    SELECT side, format, bytes FROM renditions
    WHERE tenant = $1 AND owner_kind = $2 AND owner_id = $3 AND contact_id = $4 AND etag = $5
    ORDER BY side";

const FORGET_RENDITIONS: &str = "\
    DELETE FROM renditions
    WHERE tenant = $1 AND owner_kind = $2 AND owner_id = $3 AND contact_id = $4";

/// The tags a condition requires, as the `text[]` parameter (NULL: any tag), or `None` for
/// [`Precondition::None`].
fn required_tags(condition: &Precondition) -> Option<Option<Vec<&str>>> {
    match condition {
        Precondition::None => None,
        Precondition::Exists => Some(None),
        Precondition::OneOf(tags) => Some(Some(tags.iter().map(ETag::opaque).collect())),
    }
}

impl PgStore {
    /// The write and the purge of other versions' renditions in one round trip (the
    /// function of migration 2); `false` when the precondition did not hold.
    async fn put_photo(
        &self,
        key: &PhotoKey,
        photo: &ValidatedPhoto,
        (width, height): (i32, i32),
        condition: &Precondition,
    ) -> Result<bool, sqlx::Error> {
        let (tenant, kind, owner, contact) = key_columns(key);
        let tags = required_tags(condition);
        sqlx::query_scalar::<_, bool>(PUT_PHOTO)
            .bind(tenant)
            .bind(kind)
            .bind(owner)
            .bind(contact)
            .bind(photo.bytes().as_ref())
            .bind(photo.format().stored_name())
            .bind(width)
            .bind(height)
            .bind(photo.etag().opaque())
            .bind(tags.is_some())
            .bind(tags.flatten())
            .fetch_one(&self.pool)
            .await
    }
}

#[async_trait]
impl PhotoStore for PgStore {
    async fn get(&self, key: &PhotoKey) -> Result<Option<StoredPhoto>, StoreError> {
        let (tenant, kind, owner, contact) = key_columns(key);
        let row = sqlx::query(SELECT_PHOTO)
            .bind(tenant)
            .bind(kind)
            .bind(owner)
            .bind(contact)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| unavailable("get", &e))?;
        row.as_ref()
            .map(photo_from_row)
            .transpose()
            .map_err(|e| unavailable("get", &e))
    }

    async fn put(
        &self,
        key: &PhotoKey,
        photo: ValidatedPhoto,
        condition: &Precondition,
    ) -> Result<StoredPhoto, StoreError> {
        let size = (
            to_i32(photo.width(), "put")?,
            to_i32(photo.height(), "put")?,
        );
        match self.put_photo(key, &photo, size, condition).await {
            Ok(true) => Ok(StoredPhoto::from(photo)),
            Ok(false) => Err(StoreError::PreconditionFailed),
            Err(e) => Err(unavailable("put", &e)),
        }
    }

    async fn delete(&self, key: &PhotoKey, condition: &Precondition) -> Result<(), StoreError> {
        let (tenant, kind, owner, contact) = key_columns(key);
        // One statement: with no precondition, no row deleted means no photo; with one, it
        // means the precondition failed, whether or not a photo was there (the port checks
        // the precondition before NotFound).
        let deleted = sqlx::query(CONDITIONAL_DELETE)
            .bind(tenant)
            .bind(kind)
            .bind(owner)
            .bind(contact)
            .bind(required_tags(condition).flatten())
            .execute(&self.pool)
            .await
            .map_err(|e| unavailable("delete", &e))?
            .rows_affected();
        match (deleted, condition) {
            (0, Precondition::None) => Err(StoreError::NotFound),
            (0, _) => Err(StoreError::PreconditionFailed),
            _ => Ok(()),
        }
    }

    /// `SELECT 1` through the pool, within 2 s (or the acquire timeout when
    /// shorter): with the database down, the pool would otherwise keep trying to connect for
    /// the whole acquire timeout.
    async fn check(&self) -> Result<(), StoreError> {
        let bound = CHECK_TIMEOUT.min(self.pool.options().get_acquire_timeout());
        let query = sqlx::query("SELECT 1").execute(&self.pool);
        match tokio::time::timeout(bound, query).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(unavailable("check", &e)),
            Err(_) => {
                tracing::warn!(
                    operation = "check",
                    "PostgreSQL store: no answer within {bound:?}"
                );
                Err(StoreError::Unavailable(format!(
                    "check: no answer within {bound:?}"
                )))
            }
        }
    }

    async fn keys(&self) -> Result<Vec<PhotoKey>, StoreError> {
        let rows = sqlx::query(SELECT_KEYS)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| unavailable("keys", &e))?;
        rows.iter()
            .map(key_from_row)
            .collect::<Result<_, _>>()
            .map_err(|e| unavailable("keys", &e))
    }
}

// The port's methods return no error: the cache only saves rendering. A failed `get` means the
// sizes are rendered again, a failed `put` that a later request renders them again, and a
// failed `forget` leaves nothing wrong behind, since `put` and `delete` of a photo already
// removed its other versions' renditions in their own transactions and `get` asks for one
// version only. Each failure is logged.
#[async_trait]
impl RenditionCache for PgStore {
    async fn get(&self, key: &PhotoKey, etag: &ETag) -> Option<Arc<RenditionSet>> {
        let (tenant, kind, owner, contact) = key_columns(key);
        let rows = sqlx::query(SELECT_RENDITIONS)
            .bind(tenant)
            .bind(kind)
            .bind(owner)
            .bind(contact)
            .bind(etag.opaque())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| unavailable("rendition get", &e))
            .ok()?;
        if rows.is_empty() {
            return None;
        }
        let renditions = rows
            .iter()
            .map(|row| {
                let side: i32 = row.try_get("side")?;
                let format: String = row.try_get("format")?;
                let bytes: Vec<u8> = row.try_get("bytes")?;
                Ok(Rendition {
                    side: u32::try_from(side).map_err(|_| bad_column("side"))?,
                    format: RenditionFormat::from_stored_name(&format)
                        .ok_or_else(|| bad_column("format"))?,
                    bytes: Bytes::from(bytes),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| unavailable("rendition get", &e))
            .ok()?;
        Some(Arc::new(RenditionSet { renditions }))
    }

    async fn put(&self, key: &PhotoKey, etag: &ETag, set: Arc<RenditionSet>) {
        // An empty set (an original under 48 px) is not kept: rendering it costs nothing.
        if set.renditions.is_empty() {
            return;
        }
        let Ok(sides) = set
            .renditions
            .iter()
            .map(|r| to_i32(r.side, "rendition put"))
            .collect::<Result<Vec<i32>, _>>()
        else {
            return;
        };
        let formats: Vec<&str> = set
            .renditions
            .iter()
            .map(|r| r.format.stored_name())
            .collect();
        let bytes: Vec<&[u8]> = set.renditions.iter().map(|r| r.bytes.as_ref()).collect();
        let (tenant, kind, owner, contact) = key_columns(key);
        // An error is logged by `unavailable`; there is nobody to tell (see above).
        let _ = sqlx::query(INSERT_RENDITIONS)
            .bind(tenant)
            .bind(kind)
            .bind(owner)
            .bind(contact)
            .bind(etag.opaque())
            .bind(sides)
            .bind(formats)
            .bind(bytes)
            .execute(&self.pool)
            .await
            .map_err(|e| unavailable("rendition put", &e));
    }

    async fn forget(&self, key: &PhotoKey) {
        let (tenant, kind, owner, contact) = key_columns(key);
        let _ = sqlx::query(FORGET_RENDITIONS)
            .bind(tenant)
            .bind(kind)
            .bind(owner)
            .bind(contact)
            .execute(&self.pool)
            .await
            .map_err(|e| unavailable("rendition forget", &e));
    }
}
