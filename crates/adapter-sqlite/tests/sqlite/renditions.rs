//! The store as a `RenditionCache`: versions, stale writes, forget, and reopen.

use std::sync::Arc;

use adapter_sqlite::SqliteStore;
use bytes::Bytes;
use photo_core::etag::{ETag, Precondition};
use photo_core::ports::{PhotoKey, PhotoStore};

// Its `get`/`put` share names with PhotoStore's: called by path, not imported.
use crate::support::rc;
use photo_core::renditions::{Rendition, RenditionFormat, RenditionSet};

use crate::support::{open, photo, user};

fn set(label: &str, sides: &[u32]) -> Arc<RenditionSet> {
    Arc::new(RenditionSet {
        renditions: sides
            .iter()
            .map(|&side| Rendition {
                side,
                format: if side % 2 == 0 {
                    RenditionFormat::Jpeg
                } else {
                    RenditionFormat::Png
                },
                bytes: Bytes::from(format!("{label} {side}x{side}").repeat(side as usize)),
            })
            .collect(),
    })
}

/// Same sides, formats and bytes, in order (`RenditionSet` has no `PartialEq`).
fn summary(set: &RenditionSet) -> Vec<(u32, RenditionFormat, Bytes)> {
    set.renditions
        .iter()
        .map(|r| (r.side, r.format, r.bytes.clone()))
        .collect()
}

async fn cached(
    store: &SqliteStore,
    key: &PhotoKey,
    etag: &ETag,
) -> Option<Vec<(u32, RenditionFormat, Bytes)>> {
    rc::get(store, key, etag).await.map(|s| summary(&s))
}

#[tokio::test(flavor = "multi_thread")]
async fn keeps_the_renditions_of_the_stored_version_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let store = open(&path).await;
    let key = user("t", "renditions");
    let other = user("t", "other");

    // No photo, no set: a put for a key that holds nothing stores nothing.
    let p1 = photo("v1", 5000);
    rc::put(&store, &key, p1.etag(), set("v1", &[48, 64])).await;
    assert_eq!(cached(&store, &key, p1.etag()).await, None);

    let v1 = store.put(&key, p1, &Precondition::None).await.unwrap();
    let s1 = set("v1", &[48, 64, 96]);
    rc::put(&store, &key, &v1.etag, Arc::clone(&s1)).await;
    assert_eq!(cached(&store, &key, &v1.etag).await, Some(summary(&s1)));
    assert_eq!(
        cached(&store, &key, &ETag::new("other")).await,
        None,
        "another version"
    );
    assert_eq!(cached(&store, &other, &v1.etag).await, None, "another key");

    // A second set for the same version replaces the first.
    let s1b = set("v1 again", &[48]);
    rc::put(&store, &key, &v1.etag, Arc::clone(&s1b)).await;
    assert_eq!(cached(&store, &key, &v1.etag).await, Some(summary(&s1b)));

    // Writing the same bytes again is the same version: its renditions stay.
    store
        .put(&key, photo("v1", 5000), &Precondition::None)
        .await
        .unwrap();
    assert_eq!(cached(&store, &key, &v1.etag).await, Some(summary(&s1b)));

    // Replacing the photo removes the old version's renditions in the same transaction...
    let v2 = store
        .put(&key, photo("v2", 6000), &Precondition::None)
        .await
        .unwrap();
    assert_eq!(cached(&store, &key, &v2.etag).await, None);
    // ...and a render of v1 that finishes now leaves nothing behind.
    rc::put(&store, &key, &v1.etag, set("late v1", &[48])).await;
    assert_eq!(cached(&store, &key, &v1.etag).await, None);
    assert_eq!(cached(&store, &key, &v2.etag).await, None);
    // Even once the photo is back at v1's bytes: those renditions were never stored.
    store
        .put(&key, photo("v1", 5000), &Precondition::None)
        .await
        .unwrap();
    assert_eq!(cached(&store, &key, &v1.etag).await, None);

    // Deleting the photo removes its renditions.
    rc::put(&store, &key, &v1.etag, Arc::clone(&s1)).await;
    assert!(cached(&store, &key, &v1.etag).await.is_some());
    store.delete(&key, &Precondition::None).await.unwrap();
    assert_eq!(cached(&store, &key, &v1.etag).await, None);
    store
        .put(&key, photo("v1", 5000), &Precondition::None)
        .await
        .unwrap();
    assert_eq!(
        cached(&store, &key, &v1.etag).await,
        None,
        "gone with the deleted photo"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_set_is_kept_and_forget_drops_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("r.db")).await;
    let (a, b) = (user("t", "a"), user("t", "b"));
    let va = store
        .put(&a, photo("a", 100), &Precondition::None)
        .await
        .unwrap();
    let vb = store
        .put(&b, photo("b", 100), &Precondition::None)
        .await
        .unwrap();

    // An original under 48 px has no size: "rendered, nothing to serve" is kept too.
    rc::put(&store, &a, &va.etag, set("a", &[])).await;
    assert_eq!(cached(&store, &a, &va.etag).await, Some(vec![]));
    rc::put(&store, &b, &vb.etag, set("b", &[48])).await;

    rc::forget(&store, &a).await;
    assert_eq!(cached(&store, &a, &va.etag).await, None);
    assert!(
        cached(&store, &b, &vb.etag).await.is_some(),
        "other keys stay"
    );
    rc::forget(&store, &a).await;
    rc::forget(&store, &user("t", "never")).await;
    // The photo itself is not touched.
    assert_eq!(store.get(&a).await.unwrap(), Some(va));
}

#[tokio::test(flavor = "multi_thread")]
async fn renditions_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let key = user("t", "reopen");
    let s = set("kept", &[48, 64, 96, 120, 240, 360, 432, 504, 648]);
    let etag = {
        let store = open(&path).await;
        let v = store
            .put(&key, photo("kept", 50_000), &Precondition::None)
            .await
            .unwrap();
        rc::put(&store, &key, &v.etag, Arc::clone(&s)).await;
        store.close().await;
        v.etag
    };
    let store = open(&path).await;
    assert_eq!(cached(&store, &key, &etag).await, Some(summary(&s)));
}
