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
