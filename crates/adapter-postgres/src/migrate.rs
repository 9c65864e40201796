//! The schema's versions, embedded in the binary, and applying them on open.

use std::borrow::Cow;

use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::{Connection, PgConnection, SqlSafeStr};

use crate::error::PgOpenError;

/// Every schema version, oldest first: (version, description, SQL). A released entry is never
/// edited (its checksum is recorded in the database); a change is a new entry.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "photos and renditions",
        include_str!("../migrations/0001_photos_and_renditions.sql"),
    ),
    (
        2,
        "put photo function",
        include_str!("../migrations/0002_put_photo_function.sql"),
    ),
];

/// The newest schema version this build knows.
pub(crate) fn known_version() -> i64 {
    MIGRATIONS.last().map_or(0, |(version, _, _)| *version)
}

fn migrator() -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    // The default, said out loud: replicas starting together over one database take turns
    // (a PostgreSQL advisory lock per database) instead of applying a version twice.
    migrator.set_locking(true);
    // Off (the default): an applied version we do not know means a newer graph-photo wrote
    // the schema, and this build must refuse rather than use or change it.
    migrator.set_ignore_missing(false);
    migrator
}

/// Brings the schema up to date on `conn`, then closes it. Closing ends the session, which
/// releases the migrator's advisory lock even when it failed half-way (sqlx unlocks only on
/// success; a pooled connection would keep the lock and stall every other replica).
pub(crate) async fn migrate(mut conn: PgConnection, url: &str) -> Result<(), PgOpenError> {
    // `run_direct` on the connection itself: `run(&mut conn)` goes through `Acquire`, whose
    // higher-ranked bound makes the future not `Send` ("not general enough"), and `connect`
    // must be spawnable. sqlx keeps `run_direct` public for exactly this.
    let result = migrator().run_direct(None, &mut conn, false).await;
    if let Err(error) = conn.close().await {
        tracing::debug!(%error, "closing the migration connection failed");
    }
    result.map_err(|error| migrate_error(url, &error))
}

fn migrate_error(url: &str, error: &MigrateError) -> PgOpenError {
    let url = url.to_owned();
    match error {
        MigrateError::VersionMissing(found) => PgOpenError::NewerSchema {
            url,
            found: *found,
            known: known_version(),
        },
        MigrateError::VersionMismatch(version) => PgOpenError::Migration {
            url,
            reason: format!(
                "schema version {version} in the database differs from this build's; \
                 it was not written by a released graph-photo"
            ),
        },
        MigrateError::Dirty(version) => PgOpenError::Migration {
            url,
            reason: format!("schema version {version} was left half-applied"),
        },
        MigrateError::Execute(error) | MigrateError::ExecuteMigration(error, _) => {
            tracing::warn!(%error, "PostgreSQL migration failed");
            PgOpenError::Migration {
                url,
                reason: match error {
                    sqlx::Error::Database(db) => format!(
                        "the database refused a statement (SQLSTATE {})",
                        db.code().as_deref().unwrap_or("unknown")
                    ),
                    other => crate::error::describe(other).to_owned(),
                },
            }
        }
        other => {
            tracing::warn!(error = %other, "PostgreSQL migration failed");
            PgOpenError::Migration {
                url,
                reason: "the migrator failed".to_owned(),
            }
        }
    }
}
