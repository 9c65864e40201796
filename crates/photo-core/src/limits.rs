//! The size limits of a photo (spec B4, B5), defined once: upload validation, the server's
//! `Content-Length` check and the renderer all read them from here.

/// The largest accepted body, in bytes (spec B4: 4 MiB).
pub const MAX_PHOTO_BYTES: usize = 4 * 1024 * 1024;
/// The largest accepted width or height, in pixels (spec B5).
pub const MAX_SIDE: u32 = 10_000;
/// The largest accepted pixel count, width × height (spec B5: 40 megapixels).
pub const MAX_PIXELS: u64 = 40_000_000;

/// A body over [`MAX_PHOTO_BYTES`] (spec B4, `413 RequestEntityTooLarge`): the one shape of
/// "too large", wherever it is found (a declared `Content-Length`, a body as it is read, upload
/// validation). The `Display` text is the Graph `error.message`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "The request body exceeds the maximum photo size of {MAX_PHOTO_BYTES} bytes (4 MB){}.",
    match .size { Some(s) => format!("; it is at least {s} bytes"), None => String::new() }
)]
pub struct TooLarge {
    /// The body's size (or a lower bound of it) when known: unknown for a chunked body refused
    /// as soon as it passed the limit.
    pub size: Option<u64>,
}

/// Refuses a body of `size` bytes when it is over [`MAX_PHOTO_BYTES`].
pub fn check_photo_size(size: u64) -> Result<(), TooLarge> {
    if size > MAX_PHOTO_BYTES as u64 {
        Err(TooLarge { size: Some(size) })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_inclusive_and_the_message_names_both_sizes() {
        assert_eq!(check_photo_size(MAX_PHOTO_BYTES as u64), Ok(()));
        let error = check_photo_size(MAX_PHOTO_BYTES as u64 + 1).unwrap_err();
        assert_eq!(
            error.to_string(),
            "The request body exceeds the maximum photo size of 4194304 bytes (4 MB); \
             it is at least 4194305 bytes."
        );
        assert_eq!(
            TooLarge { size: None }.to_string(),
            "The request body exceeds the maximum photo size of 4194304 bytes (4 MB)."
        );
    }
}
