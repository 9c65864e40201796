//! The smallest correct `PhotoStore`: a map behind one lock, checked by the port test kit.
//!
//! A host with a store of its own (a key-value service, an object store, a table in its own
//! database) implements `photo_core::ports::PhotoStore` and runs
//! `photo_core::testkit::check_photo_store` against it. Each `MUST` of the trait's
//! documentation is marked below where this store meets it; the test kit checks every one.
//!
//! ```text
//! cargo run -p graph-photo-examples --example custom_store
//! ```
//!
//! The store in a host's `Cargo.toml` needs only the core's ports, not its image codecs:
//!
//! ```toml
//! photo-core = { version = "0.1", default-features = false }
//! async-trait = "0.1"
//! # tests: photo-core = { ..., features = ["testkit"] }
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use photo_core::etag::Precondition;
use photo_core::ports::{PhotoKey, PhotoStore, StoreError, StoredPhoto, ValidatedPhoto};
use photo_core::testkit::check_photo_store;

/// Photos in a map from key to photo. One value per key holds bytes, format, size and ETag
/// together, so a reader can never see half of one version and half of another.
#[derive(Default)]
pub struct KvPhotoStore {
    photos: Mutex<BTreeMap<PhotoKey, StoredPhoto>>,
}

impl KvPhotoStore {
    fn map(&self) -> MutexGuard<'_, BTreeMap<PhotoKey, StoredPhoto>> {
        // A writer that panicked mid-call cannot leave the map half-updated (one insert or
        // remove), so the data behind a poisoned lock is still consistent.
        self.photos.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl PhotoStore for KvPhotoStore {
    async fn get(&self, key: &PhotoKey) -> Result<Option<StoredPhoto>, StoreError> {
        // `Bytes` clones share the buffer: no copy of the photo.
        Ok(self.map().get(key).cloned())
    }

    async fn put(
        &self,
        key: &PhotoKey,
        photo: ValidatedPhoto,
        condition: &Precondition,
    ) -> Result<StoredPhoto, StoreError> {
        // MUST keep the photo's own ETag: it is content-derived, so every store (and every
        // replica) gives the same bytes the same tag. `From` keeps it; never make up a tag.
        let stored = StoredPhoto::from(photo);
        // MUST check and write atomically: the check and the insert happen under one lock, so
        // of two writers holding the same If-Match tag exactly one wins. Checking under one
        // lock and writing under another would let both win.
        let mut photos = self.map();
        if !condition.holds(photos.get(key).map(|p| &p.etag)) {
            // MUST write nothing when the condition fails.
            return Err(StoreError::PreconditionFailed);
        }
        photos.insert(key.clone(), stored.clone());
        // MUST make the photo visible to every later `get` before answering `Ok` (a durable
        // store MUST also have made it durable: fsync, commit). Here, the lock release does it.
        Ok(stored)
    }

    async fn delete(&self, key: &PhotoKey, condition: &Precondition) -> Result<(), StoreError> {
        let mut photos = self.map();
        // MUST check the condition first: a conditional delete of a missing photo is a
        // PreconditionFailed (412), not a NotFound (404).
        if !condition.holds(photos.get(key).map(|p| &p.etag)) {
            return Err(StoreError::PreconditionFailed);
        }
        photos.remove(key).map(|_| ()).ok_or(StoreError::NotFound)
    }

    async fn keys(&self) -> Result<Vec<PhotoKey>, StoreError> {
        // MUST list each stored key once, over all tenants: `export` walks this.
        Ok(self.map().keys().cloned().collect())
    }

    async fn check(&self) -> Result<(), StoreError> {
        // MUST say whether the store can serve now (`/readyz` asks), within a few seconds: a
        // database would run a cheap query under a timeout. A map in memory is always there.
        Ok(())
    }
}

#[tokio::main]
async fn main() {
    // The kit drives the store from several OS threads of its own (blocking this task while
    // they race); a store whose futures need a runtime (Tokio I/O) would be wrapped in
    // `photo_core::testkit::SpawningStore`. This one needs none.
    check_photo_store(Arc::new(KvPhotoStore::default())).await;
    println!("KvPhotoStore honours every PhotoStore contract of photo_core::testkit");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn kv_store_honours_the_photo_store_contract() {
        check_photo_store(Arc::new(KvPhotoStore::default())).await;
    }

    /// The kit is not vacuous here: a store that forgets a precondition is caught.
    #[tokio::test]
    async fn a_store_that_ignores_preconditions_is_caught() {
        struct Careless(KvPhotoStore);
        #[async_trait]
        impl PhotoStore for Careless {
            async fn get(&self, key: &PhotoKey) -> Result<Option<StoredPhoto>, StoreError> {
                self.0.get(key).await
            }
            async fn put(
                &self,
                key: &PhotoKey,
                photo: ValidatedPhoto,
                _condition: &Precondition,
            ) -> Result<StoredPhoto, StoreError> {
                self.0.put(key, photo, &Precondition::None).await
            }
            async fn delete(&self, key: &PhotoKey, c: &Precondition) -> Result<(), StoreError> {
                self.0.delete(key, c).await
            }
            async fn keys(&self) -> Result<Vec<PhotoKey>, StoreError> {
                self.0.keys().await
            }
            async fn check(&self) -> Result<(), StoreError> {
                self.0.check().await
            }
        }
        let outcome = tokio::spawn(check_photo_store(Arc::new(Careless(
            KvPhotoStore::default(),
        ))))
        .await;
        let message = outcome
            .err()
            .filter(tokio::task::JoinError::is_panic)
            .and_then(|e| e.into_panic().downcast::<String>().ok())
            .map(|m| *m)
            .unwrap_or_default();
        assert!(
            message.starts_with("PhotoStore contract violated:"),
            "expected a contract violation, got {message:?}"
        );
    }
}
