//! The size limits of a photo (spec B4, B5), defined once: upload validation, the server's
//! `Content-Length` check and the renderer all read them from here.

/// The largest accepted body, in bytes (spec B4: 4 MiB).
pub const MAX_PHOTO_BYTES: usize = 4 * 1024 * 1024;
/// The largest accepted width or height, in pixels (spec B5).
pub const MAX_SIDE: u32 = 10_000;
/// The largest accepted pixel count, width × height (spec B5: 40 megapixels).
pub const MAX_PIXELS: u64 = 40_000_000;
