//! Rendering on the caller's thread, for code without an async runtime and for tests.

use async_trait::async_trait;
use bytes::Bytes;
use photo_core::ports::Renderer;
use photo_core::renditions::{RenderError, RenditionSet};

use crate::pipeline::render_all;

/// Renders on the calling thread, within one poll of its future: dropping the future either
/// never starts the work or comes after it ended, so it meets the [`Renderer`] contract without
/// a runtime. Nothing bounds concurrent renders but the caller's own threads.
#[derive(Debug, Clone, Copy, Default)]
pub struct InlineRenderer;

#[async_trait]
impl Renderer for InlineRenderer {
    async fn render(&self, original: Bytes) -> Result<RenditionSet, RenderError> {
        render_all(&original)
    }
}
