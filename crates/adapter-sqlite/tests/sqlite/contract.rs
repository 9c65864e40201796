//! The port test kit, unchanged, against the store; and the hot cache's validation.

use std::sync::Arc;

use adapter_sqlite::{SqliteOptions, SqliteStore};
use photo_core::etag::Precondition;
use photo_core::ports::{PhotoStore, StoreError};
use photo_core::testkit::check_photo_store;

use crate::support::{on_runtime, open, photo, user};

#[tokio::test(flavor = "multi_thread")]
async fn passes_the_photo_store_contract_twice_and_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    // A directory that does not exist yet: open creates it.
    let path = dir.path().join("data").join("graph-photo.db");
    let store = Arc::new(open(&path).await);
    assert_eq!(store.path(), path);
    check_photo_store(on_runtime(&store)).await;
    // The kit writes under fresh tenants each run: a store holding data passes again.
    check_photo_store(on_runtime(&store)).await;
    let before = store.keys().await.unwrap().len();
    store.close().await;
    drop(store);

    // Reopened without the hot cache, so that every read comes from the file.
    let options = SqliteOptions {
        hot_cache_bytes: 0,
        ..SqliteOptions::default()
    };
    let store = Arc::new(SqliteStore::open(&path, options).await.unwrap());
    assert_eq!(store.keys().await.unwrap().len(), before);
    check_photo_store(on_runtime(&store)).await;
}

/// Two stores over one file stand for two `graph-photo` processes: a photo cached by one
/// must not be served after the other replaced or deleted it.
#[tokio::test(flavor = "multi_thread")]
async fn a_cached_photo_is_validated_against_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let (a, b) = (open(&path).await, open(&path).await);
    let key = user("t", "hot");

    let v1 = a
        .put(&key, photo("one", 1000), &Precondition::None)
        .await
        .unwrap();
    assert_eq!(a.get(&key).await.unwrap().as_ref(), Some(&v1));
    assert_eq!(a.get(&key).await.unwrap().as_ref(), Some(&v1), "a hot read");

    let v2 = b
        .put(&key, photo("two", 2000), &Precondition::None)
        .await
        .unwrap();
    assert_eq!(
        a.get(&key).await.unwrap().as_ref(),
        Some(&v2),
        "a's cached v1 is stale"
    );

    // a's cache now holds v2; b deletes it, and a conditional write by a on v2 must see that.
    b.delete(&key, &Precondition::None).await.unwrap();
    assert_eq!(a.get(&key).await.unwrap(), None);
    assert_eq!(
        a.put(
            &key,
            photo("three", 10),
            &Precondition::OneOf(vec![v2.etag.clone()])
        )
        .await,
        Err(StoreError::PreconditionFailed)
    );

    // Back to v1's bytes through b: a's read agrees byte for byte.
    let again = b
        .put(&key, photo("one", 1000), &Precondition::None)
        .await
        .unwrap();
    assert_eq!(again.etag, v1.etag);
    assert_eq!(a.get(&key).await.unwrap().as_ref(), Some(&v1));
}

const CHILD_ENV: &str = "ADAPTER_SQLITE_WRITER_CHILD";

/// Not a test of its own: the other process of the test below. Without the variable (a
/// normal test run) it returns at once.
#[tokio::test]
async fn writer_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (path, action) = spec.rsplit_once('|').unwrap();
    let store = open(std::path::Path::new(path)).await;
    let key = user("t", "shared");
    match action {
        "put" => {
            store
                .put(&key, photo("from the child", 3000), &Precondition::None)
                .await
                .unwrap();
        }
        _ => store.delete(&key, &Precondition::None).await.unwrap(),
    }
}

/// The hot cache against a real second process writing the file (its own SQLite library
/// instance, its own mapping of the WAL index).
#[tokio::test(flavor = "multi_thread")]
async fn a_hot_photo_replaced_by_another_process_is_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let store = open(&path).await;
    let key = user("t", "shared");
    let mine = store
        .put(&key, photo("mine", 1000), &Precondition::None)
        .await
        .unwrap();
    // Read twice: confirmed by the database, then served from memory.
    for _ in 0..2 {
        assert_eq!(store.get(&key).await.unwrap().as_ref(), Some(&mine));
    }
    let child = |action: &str| {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "contract::writer_child_process",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, format!("{}|{action}", path.display()))
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "the child failed: {status}");
    };
    child("put");
    let theirs = store.get(&key).await.unwrap().expect("the child's photo");
    assert_eq!(theirs.bytes, photo("from the child", 3000).bytes());
    assert_eq!(store.get(&key).await.unwrap().as_ref(), Some(&theirs));
    child("delete");
    assert_eq!(store.get(&key).await.unwrap(), None);
}
