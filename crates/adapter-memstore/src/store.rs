//! [`MemPhotoStore`]: photos in memory.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;

use async_trait::async_trait;
use photo_core::etag::Precondition;
use photo_core::ports::{PhotoKey, PhotoStore, StoreError, StoredPhoto, ValidatedPhoto};

use crate::recover;

/// A [`PhotoStore`] in memory, partitioned per tenant by the [`PhotoKey`] (which carries the
/// tenant). Tags come with the validated photo (content-derived): writing the same bytes
/// again keeps the tag (spec C8). Preconditions are checked and the write made under one write lock,
/// so a conditional write is a compare-and-swap (spec B7).
///
/// Memory: the photos' bytes (at most 4 MiB each, spec B4) plus a small entry per key. Nothing
/// is ever evicted; this is a development and test store.
#[derive(Default)]
pub struct MemPhotoStore {
    photos: RwLock<HashMap<PhotoKey, StoredPhoto>>,
}

impl MemPhotoStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many photos are stored, over all tenants.
    pub fn len(&self) -> usize {
        recover(self.photos.read()).len()
    }

    /// Whether no photo is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for MemPhotoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemPhotoStore")
            .field("photos", &self.len())
            .finish()
    }
}

#[async_trait]
impl PhotoStore for MemPhotoStore {
    async fn get(&self, key: &PhotoKey) -> Result<Option<StoredPhoto>, StoreError> {
        // `Bytes` clones share the buffer: no copy of the photo.
        Ok(recover(self.photos.read()).get(key).cloned())
    }

    async fn put(
        &self,
        key: &PhotoKey,
        photo: ValidatedPhoto,
        condition: &Precondition,
    ) -> Result<StoredPhoto, StoreError> {
        let stored = StoredPhoto::from(photo);
        let mut photos = recover(self.photos.write());
        if !condition.holds(photos.get(key).map(|p| &p.etag)) {
            return Err(StoreError::PreconditionFailed);
        }
        photos.insert(key.clone(), stored.clone());
        Ok(stored)
    }

    async fn delete(&self, key: &PhotoKey, condition: &Precondition) -> Result<(), StoreError> {
        let mut photos = recover(self.photos.write());
        if !condition.holds(photos.get(key).map(|p| &p.etag)) {
            return Err(StoreError::PreconditionFailed);
        }
        photos.remove(key).map(|_| ()).ok_or(StoreError::NotFound)
    }

    async fn keys(&self) -> Result<Vec<PhotoKey>, StoreError> {
        Ok(recover(self.photos.read()).keys().cloned().collect())
    }

    /// Always ready: the photos are in this process.
    async fn check(&self) -> Result<(), StoreError> {
        Ok(())
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

    #[tokio::test]
    async fn tags_are_content_derived() {
        let store = MemPhotoStore::new();
        let key = PhotoKey {
            tenant: TenantId::new("t"),
            owner: PhotoOwner::User("u".into()),
        };
        let photo = ValidatedPhoto::for_testkit(Bytes::from_static(b"abc"), ImageFormat::Png, 1, 1);
        let a = store
            .put(&key, photo.clone(), &Precondition::None)
            .await
            .unwrap();
        let b = store
            .put(&key, photo, &Precondition::OneOf(vec![a.etag.clone()]))
            .await
            .unwrap();
        assert_eq!(a.etag, ETag::for_content(b"abc"));
        assert_eq!(a.etag, b.etag);
        assert_eq!(store.len(), 1);
        store.delete(&key, &Precondition::Exists).await.unwrap();
        assert!(store.is_empty());
    }
}
