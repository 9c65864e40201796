//! Schema versions at open: fresh files, newer files, files that are not ours.

use std::path::Path;

use adapter_sqlite::{SqliteOpenError, SqliteOptions, SqliteStore};
use photo_core::etag::Precondition;
use photo_core::ports::PhotoStore;
use sqlx::Connection;

use crate::support::{open, photo, raw, snapshot, user};

async fn open_err(path: &Path) -> SqliteOpenError {
    let err = SqliteStore::open(path, SqliteOptions::default())
        .await
        .expect_err("the open should be refused");
    // One line naming the file, whatever the error.
    let text = err.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    err
}

#[tokio::test]
async fn a_fresh_file_gets_the_current_schema_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.db");
    open(&path).await.close().await;
    // Opening again applies nothing twice.
    open(&path).await.close().await;

    let mut conn = raw(&path).await;
    let versions: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(versions, vec![(1, true)]);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(tables, ["photos", "rendition_sets", "renditions"]);
}

#[tokio::test]
async fn a_file_of_a_newer_graph_photo_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.db");
    let store = open(&path).await;
    let key = user("t", "u");
    let kept = store
        .put(&key, photo("kept", 300), &Precondition::None)
        .await
        .unwrap();
    store.close().await;
    drop(store);
    {
        let mut conn = raw(&path).await;
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (2, 'from the future', TRUE, x'00', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    }
    let before = snapshot(&path);
    match open_err(&path).await {
        SqliteOpenError::NewerSchema {
            found: 2,
            supported: 1,
            ..
        } => {}
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    assert!(
        snapshot(&path) == before,
        "a refused file must not be modified"
    );

    // Once that version is gone again (say, a downgrade undone), the data is all there.
    let mut conn = raw(&path).await;
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert_eq!(open(&path).await.get(&key).await.unwrap(), Some(kept));
}

#[tokio::test]
async fn a_changed_migration_is_a_schema_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edited.db");
    open(&path).await.close().await;
    let mut conn = raw(&path).await;
    sqlx::query("UPDATE _sqlx_migrations SET checksum = x'0102' WHERE version = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert!(matches!(
        open_err(&path).await,
        SqliteOpenError::SchemaMismatch { .. }
    ));
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "these are notes, not a database\n".repeat(200)).unwrap();
    let before = snapshot(&path);
    assert!(matches!(
        open_err(&path).await,
        SqliteOpenError::NotADatabase { .. }
    ));
    assert!(snapshot(&path) == before);
}

#[tokio::test]
async fn another_applications_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    let mut conn = {
        use sqlx::ConnectOptions;
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap()
    };
    sqlx::query("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let before = snapshot(&path);
    assert!(matches!(
        open_err(&path).await,
        SqliteOpenError::ForeignDatabase { .. }
    ));
    assert!(snapshot(&path) == before);
}

#[tokio::test]
async fn paths_that_cannot_hold_a_database() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the directory should be.
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"x").unwrap();
    assert!(matches!(
        open_err(&blocker.join("photos.db")).await,
        SqliteOpenError::CreateDirectory { .. }
    ));
    // A directory where the file should be.
    assert!(matches!(
        open_err(dir.path()).await,
        SqliteOpenError::Open { .. }
    ));
}
