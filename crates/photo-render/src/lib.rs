//! Rendering of profile photos: the pipeline that turns an uploaded original into the square
//! sizes Graph serves (decode, EXIF orientation, crop and resize, encode: [`render_all`]), the
//! memory it needs ([`render_cost`]), and the adapters of photo-core's
//! [`Renderer`](photo_core::ports::Renderer) port that run it: [`TokioRenderer`] (production:
//! tokio's blocking pool under a CPU and a memory bound) and [`InlineRenderer`] (the caller's
//! thread).
//!
//! A crate of its own so that what only needs the domain (the Graph client, the stores) does not
//! build the image stack, and so that the core stays free of an async runtime: the production
//! renderer needs tokio, which the core must not depend on, and is not HTTP, so it does not
//! belong to the server either.

#![warn(missing_docs)]

mod inline;
pub mod pipeline;
mod tokio_renderer;

pub use inline::InlineRenderer;
pub use pipeline::{render_all, render_cost};
pub use tokio_renderer::{
    TokioRenderer, DEFAULT_RENDER_MEMORY, RENDERS, RENDERS_RUNNING, RENDERS_WAITING,
    RENDER_DURATION,
};
