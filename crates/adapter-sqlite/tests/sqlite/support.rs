//! Helpers shared by the modules.

use std::path::Path;
use std::sync::Arc;

use adapter_sqlite::{SqliteOptions, SqliteStore};
use bytes::Bytes;
use photo_core::format::ImageFormat;
use photo_core::ports::{PhotoKey, PhotoOwner, PhotoStore, ValidatedPhoto};
use photo_core::principal::TenantId;
use photo_core::testkit::SpawningStore;

/// `store` as a `PhotoStore` the test kit's threads can drive: each call runs on the current
/// Tokio runtime, where sqlx's timers live. Call from within the runtime.
pub(crate) fn on_runtime(store: &Arc<SqliteStore>) -> Arc<dyn PhotoStore> {
    let handle = tokio::runtime::Handle::current();
    Arc::new(SpawningStore::new(Arc::clone(store), move |work| {
        handle.spawn(work);
    }))
}

pub(crate) async fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path, SqliteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

pub(crate) fn user(tenant: &str, id: &str) -> PhotoKey {
    PhotoKey {
        tenant: TenantId::new(tenant),
        owner: PhotoOwner::User(id.into()),
    }
}

/// A photo whose bytes are `label` repeated to about `len` bytes (the store does not look
/// at pixels).
pub(crate) fn photo(label: &str, len: usize) -> ValidatedPhoto {
    let mut bytes = label.as_bytes().repeat(len / label.len().max(1) + 1);
    bytes.truncate(len.max(1));
    ValidatedPhoto::for_testkit(Bytes::from(bytes), ImageFormat::Png, 640, 480)
}

/// The connection a test uses to look at, or tamper with, the file behind the store's back.
pub(crate) async fn raw(path: &Path) -> sqlx::SqliteConnection {
    use sqlx::ConnectOptions;
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await
        .unwrap()
}

/// The file's bytes, and whether a `-wal` file sits next to it: to show a refused file was
/// not touched.
pub(crate) fn snapshot(path: &Path) -> (Vec<u8>, bool) {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    (std::fs::read(path).unwrap(), Path::new(&wal).exists())
}

/// The store's `RenditionCache` methods, by name (the trait's `get`/`put` would clash with
/// `PhotoStore`'s if both traits were in scope).
pub(crate) mod rc {
    use std::sync::Arc;

    use adapter_sqlite::SqliteStore;
    use photo_core::etag::ETag;
    use photo_core::ports::{PhotoKey, RenditionCache};
    use photo_core::renditions::RenditionSet;

    pub(crate) async fn get(
        store: &SqliteStore,
        key: &PhotoKey,
        etag: &ETag,
    ) -> Option<Arc<RenditionSet>> {
        RenditionCache::get(store, key, etag).await
    }

    pub(crate) async fn put(
        store: &SqliteStore,
        key: &PhotoKey,
        etag: &ETag,
        set: Arc<RenditionSet>,
    ) {
        RenditionCache::put(store, key, etag, set).await;
    }

    pub(crate) async fn forget(store: &SqliteStore, key: &PhotoKey) {
        RenditionCache::forget(store, key).await;
    }
}
