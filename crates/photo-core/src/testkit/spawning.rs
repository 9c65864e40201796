//! [`SpawningStore`]: a store the kit's threads can drive when its futures need a runtime.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use futures::channel::oneshot;
use futures::future::BoxFuture;

use crate::etag::Precondition;
use crate::ports::{PhotoKey, PhotoStore, StoreError, StoredPhoto, ValidatedPhoto};

/// Runs a future to completion somewhere else, e.g. on a Tokio runtime:
/// `move |work| { handle.spawn(work); }` with a `tokio::runtime::Handle`.
pub type Spawn = Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync>;

/// Wraps a [`PhotoStore`] so that each call runs through a [`Spawn`]: [`check_photo_store`]
/// drives the store from plain OS threads with `futures::executor::block_on`, where a store
/// whose futures need their runtime (sqlx's sockets and timers need Tokio's) cannot run. The
/// answer comes back over a channel, so the waiting thread needs no runtime.
///
/// [`check_photo_store`]: crate::testkit::check_photo_store
pub struct SpawningStore<S> {
    inner: Arc<S>,
    spawn: Spawn,
}

impl<S: PhotoStore + 'static> SpawningStore<S> {
    /// `inner`, with every call run by `spawn`.
    pub fn new(
        inner: Arc<S>,
        spawn: impl Fn(BoxFuture<'static, ()>) + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner,
            spawn: Arc::new(spawn),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        (self.spawn)(Box::pin(async move {
            let _ = tx.send(work.await);
        }));
        rx.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the spawned call was dropped before it answered".into(),
            ))
        })
    }
}

#[async_trait]
impl<S: PhotoStore + 'static> PhotoStore for SpawningStore<S> {
    async fn get(&self, key: &PhotoKey) -> Result<Option<StoredPhoto>, StoreError> {
        let (inner, key) = (Arc::clone(&self.inner), key.clone());
        self.run(async move { inner.get(&key).await }).await
    }

    async fn put(
        &self,
        key: &PhotoKey,
        photo: ValidatedPhoto,
        condition: &Precondition,
    ) -> Result<StoredPhoto, StoreError> {
        let (inner, key, condition) = (Arc::clone(&self.inner), key.clone(), condition.clone());
        self.run(async move { inner.put(&key, photo, &condition).await })
            .await
    }

    async fn delete(&self, key: &PhotoKey, condition: &Precondition) -> Result<(), StoreError> {
        let (inner, key, condition) = (Arc::clone(&self.inner), key.clone(), condition.clone());
        self.run(async move { inner.delete(&key, &condition).await })
            .await
    }

    async fn check(&self) -> Result<(), StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move { inner.check().await }).await
    }

    async fn keys(&self) -> Result<Vec<PhotoKey>, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.run(async move { inner.keys().await }).await
    }
}
