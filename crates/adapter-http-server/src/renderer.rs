//! Rendering off the async runtime: resizing is CPU-bound and would stall every other request
//! on the I/O threads.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use photo_core::ports::Renderer;
use photo_core::renditions::{render_all, RenderError, RenditionSet};
use tokio::sync::Semaphore;

/// Renders on tokio's blocking pool, at most `max_concurrent` at a time so that memory stays
/// bounded (each job holds one decoded original) and readers of cached sizes keep a core.
#[derive(Debug, Clone)]
pub struct TokioRenderer {
    permits: Arc<Semaphore>,
}

impl TokioRenderer {
    pub fn new(max_concurrent: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
        }
    }
}

impl Default for TokioRenderer {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores)
    }
}

#[async_trait]
impl Renderer for TokioRenderer {
    async fn render(&self, original: Bytes) -> Result<RenditionSet, RenderError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| RenderError::Decode("the renderer is shutting down".to_owned()))?;
        tokio::task::spawn_blocking(move || render_all(&original))
            .await
            .map_err(|_| RenderError::Decode("the rendering task failed".to_owned()))?
    }
}
