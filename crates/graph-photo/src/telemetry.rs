//! Metrics wiring (issue 14): the process's Prometheus recorder, and the decorators that time
//! the photo store and count rendition cache hits around whatever adapters `--store` opened.
//!
//! The adapters and `photo-render` record through the `metrics` facade; this module installs
//! the one recorder they record into, and hands the router a way to render it (`/metrics`).
//! The decorators live here, not in each store, so that every store (and a host's own) is
//! measured the same way and no adapter knows about metrics it does not produce itself.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use photo_core::etag::{ETag, Precondition};
use photo_core::ports::{
    PhotoKey, PhotoStore, RenditionCache, StoreError, StoredPhoto, ValidatedPhoto,
};
use photo_core::renditions::RenditionSet;

/// Seconds a store operation took, by `operation` (histogram).
pub const STORE_DURATION: &str = "graph_photo_store_operation_duration_seconds";
/// Store operations that failed because the store could not answer, by `operation`.
pub const STORE_UNAVAILABLE: &str = "graph_photo_store_unavailable_total";
/// Rendition cache lookups, by `result` (`hit`, `miss`).
pub const RENDITION_CACHE: &str = "graph_photo_rendition_cache_requests_total";

/// The buckets of every `_seconds` histogram: from half a millisecond (a cached read) to ten
/// seconds (a large render waiting for memory).
const SECONDS_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples are folded into their buckets when nobody scrapes: the
/// exporter keeps each sample until then, so this bounds its memory.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The process's Prometheus recorder, installed on first call: `None` when another recorder
/// was installed first (a host's), in which case `/metrics` is not served. Later calls return
/// the same handle (in-process servers in tests share it).
pub fn prometheus() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    describe();
                    let upkeep = handle.clone();
                    let spawned = std::thread::Builder::new()
                        .name("metrics-upkeep".into())
                        .spawn(move || loop {
                            std::thread::sleep(UPKEEP_INTERVAL);
                            upkeep.run_upkeep();
                        });
                    if let Err(error) = spawned {
                        tracing::warn!(%error, "metrics: no upkeep thread; histograms are folded only when scraped");
                    }
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics: cannot install the Prometheus recorder; /metrics is not served");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    metrics::describe_histogram!(
        STORE_DURATION,
        metrics::Unit::Seconds,
        "Time a photo store operation took, by operation (get, put, delete, keys, check)."
    );
    metrics::describe_counter!(
        STORE_UNAVAILABLE,
        "Photo store operations that failed because the store could not answer."
    );
    metrics::describe_counter!(
        RENDITION_CACHE,
        "Rendition cache lookups by result: hit (served from the cache) or miss (rendered, or joined a render in progress)."
    );
}

/// A [`PhotoStore`] that times every call of the store it wraps.
pub struct MeteredPhotoStore {
    inner: Arc<dyn PhotoStore>,
}

impl MeteredPhotoStore {
    /// Measures `inner`.
    pub fn new(inner: Arc<dyn PhotoStore>) -> Self {
        Self { inner }
    }
}

/// Records one call: its duration, and whether the store could not answer. The operation is a
/// literal at each call site, so the labels are static (no allocation per call).
macro_rules! measured {
    ($operation:literal, $call:expr) => {{
        let started = Instant::now();
        let result = $call.await;
        metrics::histogram!(STORE_DURATION, "operation" => $operation)
            .record(started.elapsed().as_secs_f64());
        if let Err(StoreError::Unavailable(_)) = &result {
            metrics::counter!(STORE_UNAVAILABLE, "operation" => $operation).increment(1);
        }
        result
    }};
}

#[async_trait]
impl PhotoStore for MeteredPhotoStore {
    async fn get(&self, key: &PhotoKey) -> Result<Option<StoredPhoto>, StoreError> {
        measured!("get", self.inner.get(key))
    }

    async fn put(
        &self,
        key: &PhotoKey,
        photo: ValidatedPhoto,
        condition: &Precondition,
    ) -> Result<StoredPhoto, StoreError> {
        measured!("put", self.inner.put(key, photo, condition))
    }

    async fn delete(&self, key: &PhotoKey, condition: &Precondition) -> Result<(), StoreError> {
        measured!("delete", self.inner.delete(key, condition))
    }

    async fn keys(&self) -> Result<Vec<PhotoKey>, StoreError> {
        measured!("keys", self.inner.keys())
    }

    async fn check(&self) -> Result<(), StoreError> {
        measured!("check", self.inner.check())
    }
}

/// A [`RenditionCache`] that counts hits and misses of the cache it wraps.
pub struct MeteredRenditionCache {
    inner: Arc<dyn RenditionCache>,
}

impl MeteredRenditionCache {
    /// Counts lookups in `inner`.
    pub fn new(inner: Arc<dyn RenditionCache>) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl RenditionCache for MeteredRenditionCache {
    async fn get(&self, key: &PhotoKey, etag: &ETag) -> Option<Arc<RenditionSet>> {
        let found = self.inner.get(key, etag).await;
        if found.is_some() {
            metrics::counter!(RENDITION_CACHE, "result" => "hit").increment(1);
        } else {
            metrics::counter!(RENDITION_CACHE, "result" => "miss").increment(1);
        }
        found
    }

    async fn put(&self, key: &PhotoKey, etag: &ETag, set: Arc<RenditionSet>) {
        self.inner.put(key, etag, set).await;
    }

    async fn forget(&self, key: &PhotoKey) {
        self.inner.forget(key).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use adapter_memstore::{MemPhotoStore, MemRenditionCache};
    use bytes::Bytes;
    use photo_core::format::ImageFormat;
    use photo_core::ports::PhotoOwner;
    use photo_core::principal::TenantId;
    use photo_core::renditions::{Rendition, RenditionFormat};

    use super::*;

    fn key() -> PhotoKey {
        PhotoKey {
            tenant: TenantId::new("t"),
            owner: PhotoOwner::User("u".into()),
        }
    }

    #[test]
    fn decorators_time_the_store_and_count_cache_hits_and_misses() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(async {
                let store = MeteredPhotoStore::new(Arc::new(MemPhotoStore::new()));
                let photo = ValidatedPhoto::for_testkit(
                    Bytes::from_static(b"photo"),
                    ImageFormat::Png,
                    10,
                    10,
                );
                let stored = store.put(&key(), photo, &Precondition::None).await.unwrap();
                store.get(&key()).await.unwrap();
                store.get(&key()).await.unwrap();
                store.check().await.unwrap();

                let cache = MeteredRenditionCache::new(Arc::new(MemRenditionCache::default()));
                assert!(cache.get(&key(), &stored.etag).await.is_none());
                let set = Arc::new(RenditionSet {
                    renditions: vec![Rendition {
                        side: 48,
                        format: RenditionFormat::Jpeg,
                        bytes: Bytes::from_static(b"48"),
                    }],
                });
                cache.put(&key(), &stored.etag, set).await;
                assert!(cache.get(&key(), &stored.etag).await.is_some());
                assert!(cache.get(&key(), &stored.etag).await.is_some());
            });
        });
        let text = handle.render();
        let has = |line: &str| text.lines().any(|l| l == line);
        assert!(
            has(r#"graph_photo_rendition_cache_requests_total{result="hit"} 2"#),
            "{text}"
        );
        assert!(
            has(r#"graph_photo_rendition_cache_requests_total{result="miss"} 1"#),
            "{text}"
        );
        // No buckets configured here: the exporter renders a summary, with a count.
        assert!(
            has(r#"graph_photo_store_operation_duration_seconds_count{operation="get"} 2"#),
            "{text}"
        );
        assert!(
            has(r#"graph_photo_store_operation_duration_seconds_count{operation="put"} 1"#),
            "{text}"
        );
        assert!(
            has(r#"graph_photo_store_operation_duration_seconds_count{operation="check"} 1"#),
            "{text}"
        );
    }
}
