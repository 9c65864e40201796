//! The hot-photo cache: recently read or written photo versions, bounded by their bytes.
//!
//! An entry is never trusted on its own: the database may have been written since by another
//! process (or by a racing call in this one). Each entry carries the [`Stamp`] of the WAL
//! index read before the database last confirmed it: while the stamp has not changed, no
//! commit happened and the entry is served as is. Otherwise (or without a stamp) the reader
//! asks the database for the current ETag, in the statement that would read the bytes, and
//! uses the entry's bytes when it matches.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use photo_core::ports::{PhotoKey, StoredPhoto};

use crate::watch::Stamp;

pub(crate) struct HotCache {
    capacity_bytes: usize,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<PhotoKey, Entry>,
    /// Keys by last use, oldest first.
    by_use: BTreeMap<u64, PhotoKey>,
    clock: u64,
    bytes: usize,
}

struct Entry {
    photo: StoredPhoto,
    /// The WAL index before the database last confirmed this version; `None` until then.
    confirmed: Option<Stamp>,
    last_use: u64,
}

impl HotCache {
    pub(crate) fn new(capacity_bytes: usize) -> Self {
        Self {
            capacity_bytes,
            inner: Mutex::new(Lru::default()),
        }
    }

    // A panic while the lock was held cannot leave the map half-updated in a way that matters:
    // every entry is validated against the database before use.
    fn lock(&self) -> MutexGuard<'_, Lru> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached version of `key` and the stamp it was confirmed at, if any, marked as used.
    /// `Bytes` clones share the buffer.
    pub(crate) fn get(&self, key: &PhotoKey) -> Option<(StoredPhoto, Option<Stamp>)> {
        let mut lru = self.lock();
        lru.clock += 1;
        let now = lru.clock;
        let Lru {
            entries, by_use, ..
        } = &mut *lru;
        let entry = entries.get_mut(key)?;
        by_use.remove(&entry.last_use);
        entry.last_use = now;
        by_use.insert(now, key.clone());
        Some((entry.photo.clone(), entry.confirmed))
    }

    /// Keeps `photo` as the version of `key`, confirmed by the database after the WAL index
    /// read `confirmed`, evicting the least recently used beyond the capacity. A photo larger
    /// than the whole capacity is not kept.
    pub(crate) fn insert(&self, key: &PhotoKey, photo: StoredPhoto, confirmed: Option<Stamp>) {
        let size = photo.bytes.len();
        if size > self.capacity_bytes {
            self.remove(key);
            return;
        }
        let mut lru = self.lock();
        lru.clock += 1;
        let now = lru.clock;
        if let Some(old) = lru.entries.insert(
            key.clone(),
            Entry {
                photo,
                confirmed,
                last_use: now,
            },
        ) {
            lru.by_use.remove(&old.last_use);
            lru.bytes -= old.photo.bytes.len();
        }
        lru.by_use.insert(now, key.clone());
        lru.bytes += size;
        while lru.bytes > self.capacity_bytes {
            let Some((_, oldest)) = lru.by_use.pop_first() else {
                break;
            };
            if let Some(evicted) = lru.entries.remove(&oldest) {
                lru.bytes -= evicted.photo.bytes.len();
            }
        }
    }

    pub(crate) fn remove(&self, key: &PhotoKey) {
        let mut lru = self.lock();
        if let Some(old) = lru.entries.remove(key) {
            lru.by_use.remove(&old.last_use);
            lru.bytes -= old.photo.bytes.len();
        }
    }

    #[cfg(test)]
    fn len_and_bytes(&self) -> (usize, usize) {
        let lru = self.lock();
        (lru.entries.len(), lru.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use photo_core::etag::ETag;
    use photo_core::format::ImageFormat;
    use photo_core::ports::PhotoOwner;
    use photo_core::principal::TenantId;

    fn key(id: &str) -> PhotoKey {
        PhotoKey {
            tenant: TenantId::new("t"),
            owner: PhotoOwner::User(id.into()),
        }
    }

    fn photo(len: usize) -> StoredPhoto {
        StoredPhoto {
            bytes: Bytes::from(vec![7; len]),
            format: ImageFormat::Png,
            width: 1,
            height: 1,
            etag: ETag::new(format!("len{len}")),
        }
    }

    #[test]
    fn bounded_by_bytes_evicting_the_least_recently_used() {
        let cache = HotCache::new(100);
        cache.insert(&key("a"), photo(40), None);
        cache.insert(&key("b"), photo(40), None);
        assert!(cache.get(&key("a")).is_some());
        // 120 > 100: `b` (least recently used) goes.
        cache.insert(&key("c"), photo(40), None);
        assert_eq!(cache.len_and_bytes(), (2, 80));
        assert!(cache.get(&key("b")).is_none());
        assert!(cache.get(&key("a")).is_some());
        // Replacing an entry accounts for the old one's bytes.
        cache.insert(&key("a"), photo(10), None);
        assert_eq!(cache.len_and_bytes(), (2, 50));
        // Too large for the whole cache: not kept, and the old version is dropped.
        cache.insert(&key("c"), photo(101), None);
        assert_eq!(cache.len_and_bytes(), (1, 10));
        cache.remove(&key("a"));
        assert_eq!(cache.len_and_bytes(), (0, 0));
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let cache = HotCache::new(0);
        cache.insert(&key("a"), photo(1), None);
        assert!(cache.get(&key("a")).is_none());
    }
}
