//! [`TieredRenditionCache`]: a memory cache in front of a shared (durable) one.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use photo_core::etag::ETag;
use photo_core::ports::{PhotoKey, RenditionCache};
use photo_core::renditions::RenditionSet;

use crate::MemRenditionCache;

/// Renditions kept in this process's memory first and in a shared cache behind it (the
/// database of a durable store): a size rendered once is served from memory by this replica and
/// from the shared cache by every other replica and after a restart.
///
/// A miss in memory that the shared cache answers fills the memory cache, so a hot version
/// costs one database read per replica. Both tiers are keyed by the photo version's ETag, so
/// a replica's memory never serves another version than the one its caller asked for, whatever
/// the other replicas wrote meanwhile.
pub struct TieredRenditionCache {
    front: MemRenditionCache,
    back: Arc<dyn RenditionCache>,
}

impl TieredRenditionCache {
    /// `front` in memory before `back`.
    pub fn new(front: MemRenditionCache, back: Arc<dyn RenditionCache>) -> Self {
        Self { front, back }
    }
}

impl fmt::Debug for TieredRenditionCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredRenditionCache")
            .field("front", &self.front)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl RenditionCache for TieredRenditionCache {
    async fn get(&self, key: &PhotoKey, etag: &ETag) -> Option<Arc<RenditionSet>> {
        if let Some(set) = self.front.get(key, etag).await {
            return Some(set);
        }
        let set = self.back.get(key, etag).await?;
        self.front.put(key, etag, Arc::clone(&set)).await;
        Some(set)
    }

    async fn put(&self, key: &PhotoKey, etag: &ETag, set: Arc<RenditionSet>) {
        self.front.put(key, etag, Arc::clone(&set)).await;
        self.back.put(key, etag, set).await;
    }

    async fn forget(&self, key: &PhotoKey) {
        self.front.forget(key).await;
        self.back.forget(key).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use photo_core::ports::PhotoOwner;
    use photo_core::principal::TenantId;
    use photo_core::renditions::{Rendition, RenditionFormat};

    fn key(id: &str) -> PhotoKey {
        PhotoKey {
            tenant: TenantId::new("t"),
            owner: PhotoOwner::User(id.into()),
        }
    }

    fn set(marker: &'static [u8]) -> Arc<RenditionSet> {
        Arc::new(RenditionSet {
            renditions: vec![Rendition {
                side: 48,
                format: RenditionFormat::Jpeg,
                bytes: bytes::Bytes::from_static(marker),
            }],
        })
    }

    /// Two replicas: each its own memory, one shared cache behind both.
    fn replicas() -> (
        TieredRenditionCache,
        TieredRenditionCache,
        Arc<MemRenditionCache>,
    ) {
        let shared = Arc::new(MemRenditionCache::default());
        let a = TieredRenditionCache::new(MemRenditionCache::default(), shared.clone());
        let b = TieredRenditionCache::new(MemRenditionCache::default(), shared.clone());
        (a, b, shared)
    }

    #[tokio::test]
    async fn a_set_put_by_one_replica_is_served_by_another() {
        let (a, b, _) = replicas();
        let k = key("k");
        let v1 = ETag::new("v1");
        a.put(&k, &v1, set(b"one")).await;
        let got = b.get(&k, &v1).await.map(|s| s.renditions[0].bytes.clone());
        assert_eq!(got.as_deref(), Some(&b"one"[..]));
        // Now in b's memory: served even when the shared tier has forgotten it.
        assert!(b.front.get(&k, &v1).await.is_some());
        assert!(b.get(&k, &ETag::new("v2")).await.is_none());
    }

    #[tokio::test]
    async fn forget_clears_both_tiers() {
        let (a, b, shared) = replicas();
        let k = key("k");
        let v1 = ETag::new("v1");
        a.put(&k, &v1, set(b"one")).await;
        a.forget(&k).await;
        assert!(a.get(&k, &v1).await.is_none());
        assert!(shared.get(&k, &v1).await.is_none());
        assert!(b.get(&k, &v1).await.is_none());
    }

    #[tokio::test]
    async fn memory_never_serves_another_version_than_asked() {
        let (a, b, _) = replicas();
        let k = key("k");
        let (v1, v2) = (ETag::new("v1"), ETag::new("v2"));
        a.put(&k, &v1, set(b"one")).await;
        assert!(a.get(&k, &v1).await.is_some());
        // Another replica stores the next version; `a` still holds v1 in memory but is asked
        // for v2 (the version its store now reports) and gets v2 from the shared tier.
        b.put(&k, &v2, set(b"two")).await;
        let got = a.get(&k, &v2).await.map(|s| s.renditions[0].bytes.clone());
        assert_eq!(got.as_deref(), Some(&b"two"[..]));
    }
}
