//! Schema versions: applied once by concurrent replicas; a newer schema refused untouched.

use adapter_postgres::{PgOpenError, PgOptions, PgStore};
use photo_core::etag::Precondition;
use photo_core::ports::PhotoStore;
use sqlx::PgConnection;

use crate::support::{database, key, open, photo, raw};

async fn applied_versions(conn: &mut PgConnection) -> Vec<(i64, bool)> {
    sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_migrating_a_fresh_database_at_once_all_succeed() {
    let db = database().await;
    let opened = futures_join_all(4, db.url()).await;
    for result in &opened {
        assert!(result.is_ok(), "a replica failed to open: {result:?}");
    }
    let mut conn = raw(db.url()).await;
    assert_eq!(
        applied_versions(&mut conn).await,
        vec![(1, true), (2, true)]
    );

    // Every replica works on the one schema, and opening again (already migrated) works.
    let k = key("after-migration");
    let first = opened[0].as_ref().unwrap();
    let stored = first
        .put(&k, photo("m"), &Precondition::None)
        .await
        .unwrap();
    for store in opened.iter().flatten() {
        assert_eq!(store.get(&k).await.unwrap(), Some(stored.clone()));
    }
    let again = open(db.url()).await;
    assert_eq!(again.get(&k).await.unwrap(), Some(stored));
    assert_eq!(
        applied_versions(&mut conn).await,
        vec![(1, true), (2, true)]
    );
}

async fn futures_join_all(n: usize, url: &str) -> Vec<Result<PgStore, PgOpenError>> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let url = url.to_owned();
            tokio::spawn(async move { PgStore::connect(&url, PgOptions::default()).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schema_written_by_a_newer_build_is_refused_and_left_untouched() {
    let db = database().await;
    let k = key("kept");
    let stored = {
        let store = open(db.url()).await;
        let stored = store
            .put(&k, photo("kept"), &Precondition::None)
            .await
            .unwrap();
        store.close().await;
        stored
    };
    // What a newer graph-photo would have left: a version this build does not know.
    let mut conn = raw(db.url()).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', TRUE, '\\x00', 1)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query("CREATE TABLE future_table (x INT)")
        .execute(&mut conn)
        .await
        .unwrap();

    let url_with_password =
        db.url()
            .replacen("postgres://postgres@", "postgres://postgres:hunter2@", 1);
    let error = PgStore::connect(&url_with_password, PgOptions::default())
        .await
        .unwrap_err();
    match &error {
        PgOpenError::NewerSchema { found, known, url } => {
            assert_eq!((*found, *known), (9999, 2));
            assert!(!url.contains("hunter2"), "password shown: {url}");
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("schema version 9999") && message.contains("newer"),
        "{message}"
    );
    assert!(
        !message.contains("hunter2") && !message.contains('\n'),
        "{message}"
    );

    // Nothing changed: the versions, the tables and the photo are as they were.
    assert_eq!(
        applied_versions(&mut conn).await,
        vec![(1, true), (2, true), (9999, true)]
    );
    let (bytes, etag): (Vec<u8>, String) = sqlx::query_as("SELECT bytes, etag FROM photos")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        (&bytes[..], etag.as_str()),
        (&stored.bytes[..], stored.etag.opaque())
    );
    let future_tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'future_table'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(future_tables, 1);

    // The failed open released the migration lock: other sessions can still take it.
    let locks: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(locks, 0, "an advisory lock survived the refused open");
}
