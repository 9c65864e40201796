//! The RenditionCache side of PgStore: versions, stale puts refused, forget, replicas.

use std::sync::Arc;

use adapter_postgres::PgStore;
use bytes::Bytes;
use photo_core::etag::{ETag, Precondition};
use photo_core::ports::{PhotoKey, PhotoStore, RenditionCache};
use photo_core::renditions::{Rendition, RenditionFormat, RenditionSet};
use sqlx::PgConnection;

use crate::support::{database, key, open, photo, raw};

fn set(label: &str) -> Arc<RenditionSet> {
    Arc::new(RenditionSet {
        renditions: [48, 64, 96]
            .into_iter()
            .map(|side| Rendition {
                side,
                format: if side == 64 {
                    RenditionFormat::Png
                } else {
                    RenditionFormat::Jpeg
                },
                bytes: Bytes::from(format!("{label} {side}x{side}").into_bytes()),
            })
            .collect(),
    })
}

fn contents(set: &RenditionSet) -> Vec<(u32, RenditionFormat, Bytes)> {
    set.renditions
        .iter()
        .map(|r| (r.side, r.format, r.bytes.clone()))
        .collect()
}

async fn cached(
    cache: &PgStore,
    k: &PhotoKey,
    etag: &ETag,
) -> Option<Vec<(u32, RenditionFormat, Bytes)>> {
    RenditionCache::get(cache, k, etag)
        .await
        .map(|s| contents(&s))
}

async fn rows(conn: &mut PgConnection, etag: &ETag) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM renditions WHERE etag = $1")
        .bind(etag.opaque())
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn keeps_one_version_refuses_stale_puts_and_is_shared_by_replicas() {
    let db = database().await;
    let (a, b) = (open(db.url()).await, open(db.url()).await);
    let mut conn = raw(db.url()).await;
    let k = key("rendered");

    // No photo: nothing is stored for it.
    let ghost = ETag::new("NOPHOTO");
    RenditionCache::put(&a, &k, &ghost, set("ghost")).await;
    assert_eq!(rows(&mut conn, &ghost).await, 0);

    let v1 = PhotoStore::put(&a, &k, photo("v1"), &Precondition::None)
        .await
        .unwrap()
        .etag;
    RenditionCache::put(&a, &k, &v1, set("v1")).await;
    assert_eq!(
        cached(&b, &k, &v1).await,
        Some(contents(&set("v1"))),
        "b serves a's renditions"
    );
    assert_eq!(
        cached(&b, &k, &ETag::new("OTHER")).await,
        None,
        "never another version"
    );
    // A second render of the same version (another replica) changes nothing.
    RenditionCache::put(&b, &k, &v1, set("v1 again")).await;
    assert_eq!(cached(&a, &k, &v1).await, Some(contents(&set("v1"))));

    // Writing the same bytes again keeps the version, and so its renditions.
    PhotoStore::put(&a, &k, photo("v1"), &Precondition::None)
        .await
        .unwrap();
    assert_eq!(cached(&b, &k, &v1).await, Some(contents(&set("v1"))));

    // Replacing the photo (through b) removes v1's renditions in the same transaction.
    let v2 = PhotoStore::put(&b, &k, photo("v2"), &Precondition::Exists)
        .await
        .unwrap()
        .etag;
    assert_eq!(cached(&a, &k, &v1).await, None);
    assert_eq!(rows(&mut conn, &v1).await, 0);

    // A render of v1 finishing after the replace stores nothing.
    RenditionCache::put(&a, &k, &v1, set("v1 late")).await;
    assert_eq!(rows(&mut conn, &v1).await, 0);
    assert_eq!(cached(&b, &k, &v1).await, None);

    RenditionCache::put(&a, &k, &v2, set("v2")).await;
    assert_eq!(cached(&b, &k, &v2).await, Some(contents(&set("v2"))));

    // forget drops the key's renditions, for every replica.
    RenditionCache::forget(&b, &k).await;
    assert_eq!(cached(&a, &k, &v2).await, None);
    assert_eq!(rows(&mut conn, &v2).await, 0);

    // Deleting the photo removes its renditions.
    RenditionCache::put(&a, &k, &v2, set("v2")).await;
    assert_eq!(rows(&mut conn, &v2).await, 3);
    PhotoStore::delete(&b, &k, &Precondition::None)
        .await
        .unwrap();
    assert_eq!(rows(&mut conn, &v2).await, 0);
    assert_eq!(cached(&a, &k, &v2).await, None);

    // Other keys are untouched by all of this.
    let other = key("other");
    let v = PhotoStore::put(&a, &other, photo("other"), &Precondition::None)
        .await
        .unwrap()
        .etag;
    RenditionCache::put(&a, &other, &v, set("other")).await;
    RenditionCache::forget(&a, &k).await;
    assert_eq!(cached(&b, &other, &v).await, Some(contents(&set("other"))));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_render_racing_a_replace_leaves_no_stale_rows() {
    const ROUNDS: usize = 20;
    let db = database().await;
    let (a, b) = (open(db.url()).await, open(db.url()).await);
    let mut conn = raw(db.url()).await;
    let k = key("race-render");
    for round in 0..ROUNDS {
        let old = PhotoStore::put(&a, &k, photo(&format!("old {round}")), &Precondition::None)
            .await
            .unwrap()
            .etag;
        let render = {
            let (a, k, old) = (a.clone(), k.clone(), old.clone());
            tokio::spawn(async move { RenditionCache::put(&a, &k, &old, set("old")).await })
        };
        let replace = {
            let (b, k) = (b.clone(), k.clone());
            tokio::spawn(async move {
                PhotoStore::put(&b, &k, photo(&format!("new {round}")), &Precondition::None)
                    .await
                    .unwrap()
            })
        };
        render.await.unwrap();
        let new = replace.await.unwrap().etag;
        assert_eq!(
            rows(&mut conn, &old).await,
            0,
            "round {round}: stale renditions kept"
        );
        assert_eq!(cached(&a, &k, &old).await, None);
        assert_eq!(
            PhotoStore::get(&a, &k).await.unwrap().map(|p| p.etag),
            Some(new)
        );
    }
}
