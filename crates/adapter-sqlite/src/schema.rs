//! The schema: embedded migrations, and the checks made before a file is used.

use std::collections::HashMap;
use std::path::Path;

use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, SqlSafeStr};

use crate::error::{Failure, SqliteOpenError};

/// The migrations, embedded at compile time, by version. Append only: a released migration
/// is never edited (its checksum is recorded in every file it was applied to).
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "photos and renditions",
    include_str!("../migrations/0001_photos_and_renditions.sql"),
)];

/// The schema version this build writes: its newest migration.
pub(crate) const LATEST_VERSION: i64 = 1;

/// The table sqlx's migrator records applied migrations in.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// Where a file's schema stands relative to this build.
#[derive(Debug, PartialEq, Eq)]
enum Standing {
    Current,
    /// Migrations to apply (a new, empty file has all of them pending).
    Behind,
}

/// Checks the file behind `conn` and brings its schema to [`LATEST_VERSION`], or refuses it
/// without writing anything: not a database, another application's database, a newer
/// schema, a schema that differs from this build's.
///
/// Migrations run in one `BEGIN IMMEDIATE` transaction together with a second look at the
/// recorded versions: two processes opening the same new file at once cannot both migrate
/// it, and a crash mid-migration leaves the file as it was.
pub(crate) async fn prepare(
    path: &Path,
    conn: &mut SqliteConnection,
    read_only: bool,
    created: bool,
) -> Result<(), SqliteOpenError> {
    let needed = if created { "created" } else { "migrated" };
    let fail = |e: &sqlx::Error| open_error(path, needed, e);

    if check(path, conn).await.map_err(|e| match e {
        Check::Refused(refusal) => refusal,
        Check::Driver(e) => fail(&e),
    })? == Standing::Current
    {
        if !read_only {
            ensure_wal(path, conn).await?;
        }
        return Ok(());
    }
    if read_only {
        return Err(SqliteOpenError::ReadOnly {
            path: path.to_path_buf(),
            needed,
        });
    }
    // WAL is a property of the file, kept across connections: set once, here, where nothing
    // else holds the file yet in this process.
    ensure_wal(path, conn).await?;
    let mut tx = conn
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| fail(&e))?;
    match check(path, &mut tx).await {
        Ok(Standing::Current) => {}
        Ok(Standing::Behind) => {
            migrator().run(&mut *tx).await.map_err(|e| match e {
                MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => fail(&e),
                other => SqliteOpenError::SchemaMismatch {
                    path: path.to_path_buf(),
                    reason: migrate_reason(&other),
                },
            })?;
        }
        Err(Check::Refused(refusal)) => return Err(refusal),
        Err(Check::Driver(e)) => return Err(fail(&e)),
    }
    tx.commit().await.map_err(|e| fail(&e))
}

enum Check {
    Refused(SqliteOpenError),
    Driver(sqlx::Error),
}

impl From<sqlx::Error> for Check {
    fn from(e: sqlx::Error) -> Self {
        Self::Driver(e)
    }
}

/// Reads the file's tables and recorded migrations (nothing is written).
async fn check(path: &Path, conn: &mut SqliteConnection) -> Result<Standing, Check> {
    let refuse = |e| Err(Check::Refused(e));
    // The first read of the file: a file that is not a database fails here.
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_schema WHERE type = 'table'")
            .fetch_all(&mut *conn)
            .await?;
    if !tables.iter().any(|t| t == MIGRATIONS_TABLE) {
        if tables.iter().any(|t| !t.starts_with("sqlite_")) {
            return refuse(SqliteOpenError::ForeignDatabase {
                path: path.to_path_buf(),
            });
        }
        return Ok(Standing::Behind);
    }
    let applied: Vec<(i64, Vec<u8>, bool)> =
        sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await?;
    let mismatch = |reason: String| {
        Err(Check::Refused(SqliteOpenError::SchemaMismatch {
            path: path.to_path_buf(),
            reason,
        }))
    };
    if let Some(&(found, _, _)) = applied.last() {
        if found > LATEST_VERSION {
            return refuse(SqliteOpenError::NewerSchema {
                path: path.to_path_buf(),
                found,
                supported: LATEST_VERSION,
            });
        }
    }
    let known: HashMap<i64, Migration> =
        migrator().iter().map(|m| (m.version, m.clone())).collect();
    for (version, checksum, success) in &applied {
        let Some(migration) = known.get(version) else {
            return mismatch(format!("version {version} is not one of this build's"));
        };
        if !success {
            return mismatch(format!("migration {version} did not complete"));
        }
        if *migration.checksum != checksum[..] {
            return mismatch(format!(
                "migration {version} was applied with other content than this build's"
            ));
        }
    }
    if known.len() == applied.len() {
        Ok(Standing::Current)
    } else {
        Ok(Standing::Behind)
    }
}

async fn ensure_wal(path: &Path, conn: &mut SqliteConnection) -> Result<(), SqliteOpenError> {
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| open_error(path, "migrated", &e))?;
    if mode.eq_ignore_ascii_case("wal") {
        Ok(())
    } else {
        Err(SqliteOpenError::Open {
            path: path.to_path_buf(),
            reason: "the database cannot be switched to WAL mode".to_owned(),
        })
    }
}

fn migrate_reason(e: &MigrateError) -> String {
    match e {
        MigrateError::VersionMissing(v) => format!("version {v} is not one of this build's"),
        MigrateError::VersionMismatch(v) => {
            format!("migration {v} was applied with other content than this build's")
        }
        MigrateError::Dirty(v) => format!("migration {v} did not complete"),
        _ => "the migrations could not be applied".to_owned(),
    }
}

/// An open-time driver error, as [`SqliteOpenError`]. `needed` says what a read-only file
/// stood in the way of.
pub(crate) fn open_error(path: &Path, needed: &'static str, e: &sqlx::Error) -> SqliteOpenError {
    let path = path.to_path_buf();
    let failure = Failure::of(e);
    tracing::warn!(error = %e, path = %path.display(), "SQLite store: open failed: {failure}");
    match failure {
        Failure::NotADatabase => SqliteOpenError::NotADatabase { path },
        Failure::ReadOnly => SqliteOpenError::ReadOnly { path, needed },
        other => SqliteOpenError::Open {
            path,
            reason: other.text().to_owned(),
        },
    }
}
