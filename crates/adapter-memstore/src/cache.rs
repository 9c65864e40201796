//! [`MemRenditionCache`]: a bounded LRU of rendered sizes.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use photo_core::etag::ETag;
use photo_core::ports::{PhotoKey, RenditionCache};
use photo_core::renditions::RenditionSet;

use crate::recover;

/// A [`RenditionCache`] in memory that keeps the renditions of at most `capacity` photo
/// versions, evicting the least recently used (read or written) one beyond that. One version
/// is kept per key: putting a new version of a photo replaces the old one.
///
/// Memory per entry is about the renditions' bytes: for a photo of at least 648 pixels a side,
/// nine JPEG squares from 48 to 648 pixels, typically 100-300 KB together; PNG renditions (for
/// originals with transparency) can reach a few MB. The default capacity of 256 versions is
/// thus tens of MB. A set handed out by [`get`](RenditionCache::get) stays alive while its
/// reader holds it, even when evicted.
pub struct MemRenditionCache {
    capacity: usize,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<PhotoKey, Entry>,
    /// Keys by last use, oldest first.
    by_use: BTreeMap<u64, PhotoKey>,
    clock: u64,
}

struct Entry {
    etag: ETag,
    set: Arc<RenditionSet>,
    last_use: u64,
}

impl Lru {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

impl MemRenditionCache {
    /// The number of photo versions kept by [`Default`].
    pub const DEFAULT_CAPACITY: usize = 256;

    /// A cache keeping at most `capacity` versions (`0` keeps nothing).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Lru::default()),
        }
    }

    /// How many versions it keeps at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many versions are kept now.
    pub fn len(&self) -> usize {
        recover(self.inner.lock()).entries.len()
    }

    /// Whether no version is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemRenditionCache {
    fn default() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }
}

impl fmt::Debug for MemRenditionCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemRenditionCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

#[async_trait]
impl RenditionCache for MemRenditionCache {
    async fn get(&self, key: &PhotoKey, etag: &ETag) -> Option<Arc<RenditionSet>> {
        let mut lru = recover(self.inner.lock());
        let now = lru.tick();
        let Lru {
            entries, by_use, ..
        } = &mut *lru;
        let entry = entries.get_mut(key).filter(|e| &e.etag == etag)?;
        by_use.remove(&entry.last_use);
        entry.last_use = now;
        by_use.insert(now, key.clone());
        Some(Arc::clone(&entry.set))
    }

    async fn put(&self, key: &PhotoKey, etag: &ETag, set: Arc<RenditionSet>) {
        if self.capacity == 0 {
            return;
        }
        let mut lru = recover(self.inner.lock());
        let now = lru.tick();
        let entry = Entry {
            etag: etag.clone(),
            set,
            last_use: now,
        };
        if let Some(old) = lru.entries.insert(key.clone(), entry) {
            lru.by_use.remove(&old.last_use);
        }
        lru.by_use.insert(now, key.clone());
        while lru.entries.len() > self.capacity {
            let Some((_, oldest)) = lru.by_use.pop_first() else {
                break;
            };
            lru.entries.remove(&oldest);
        }
    }

    async fn forget(&self, key: &PhotoKey) {
        let mut lru = recover(self.inner.lock());
        if let Some(old) = lru.entries.remove(key) {
            lru.by_use.remove(&old.last_use);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use photo_core::ports::PhotoOwner;
    use photo_core::principal::TenantId;

    fn key(id: &str) -> PhotoKey {
        PhotoKey {
            tenant: TenantId::new("t"),
            owner: PhotoOwner::User(id.into()),
        }
    }

    fn set() -> Arc<RenditionSet> {
        Arc::new(RenditionSet::default())
    }

    #[tokio::test]
    async fn third_version_evicts_the_least_recently_used() {
        let cache = MemRenditionCache::with_capacity(2);
        let (a, b, c) = (key("a"), key("b"), key("c"));
        let (ta, tb, tc) = (ETag::new("A"), ETag::new("B"), ETag::new("C"));
        let (sa, sb, sc) = (set(), set(), set());
        cache.put(&a, &ta, Arc::clone(&sa)).await;
        cache.put(&b, &tb, Arc::clone(&sb)).await;
        // Reading `a` makes `b` the least recently used.
        assert!(Arc::ptr_eq(&cache.get(&a, &ta).await.unwrap(), &sa));
        cache.put(&c, &tc, Arc::clone(&sc)).await;
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&b, &tb).await.is_none());
        assert!(Arc::ptr_eq(&cache.get(&a, &ta).await.unwrap(), &sa));
        assert!(Arc::ptr_eq(&cache.get(&c, &tc).await.unwrap(), &sc));
        // `c` was read after `a`: `a` is now the least recently used.
        cache.put(&b, &tb, Arc::clone(&sb)).await;
        assert!(cache.get(&a, &ta).await.is_none());
        assert!(cache.get(&c, &tc).await.is_some());
        assert!(cache.get(&b, &tb).await.is_some());
    }

    #[tokio::test]
    async fn never_returns_another_version() {
        let cache = MemRenditionCache::default();
        assert_eq!(cache.capacity(), MemRenditionCache::DEFAULT_CAPACITY);
        let k = key("k");
        cache.put(&k, &ETag::new("v1"), set()).await;
        assert!(cache.get(&k, &ETag::new("v2")).await.is_none());
        assert!(cache.get(&key("other"), &ETag::new("v1")).await.is_none());
        // A new version replaces the old one: one entry per key.
        cache.put(&k, &ETag::new("v2"), set()).await;
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&k, &ETag::new("v1")).await.is_none());
        assert!(cache.get(&k, &ETag::new("v2")).await.is_some());
    }

    #[tokio::test]
    async fn forget_drops_the_key() {
        let cache = MemRenditionCache::with_capacity(2);
        let k = key("k");
        cache.put(&k, &ETag::new("v1"), set()).await;
        cache.forget(&k).await;
        cache.forget(&k).await;
        assert!(cache.get(&k, &ETag::new("v1")).await.is_none());
        assert!(cache.is_empty());
        // The LRU order stays consistent after forgetting: two more fit.
        cache.put(&key("x"), &ETag::new("x"), set()).await;
        cache.put(&key("y"), &ETag::new("y"), set()).await;
        assert_eq!(cache.len(), 2);
    }

    #[tokio::test]
    async fn zero_capacity_keeps_nothing() {
        let cache = MemRenditionCache::with_capacity(0);
        cache.put(&key("k"), &ETag::new("v"), set()).await;
        assert!(cache.get(&key("k"), &ETag::new("v")).await.is_none());
        assert!(cache.is_empty());
    }
}
