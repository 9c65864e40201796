//! The invariant upload validation exists for, checked against the real pipeline: whatever
//! `photo_core::validation::validate` accepts, `render_all` renders.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use photo_core::validation::{validate, ImageFormat};
use photo_render::render_all;
use proptest::prelude::*;
use test_images::progressive_jpeg;

fn to_image_format(format: ImageFormat) -> image::ImageFormat {
    match format {
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::Gif => image::ImageFormat::Gif,
        ImageFormat::Bmp => image::ImageFormat::Bmp,
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(data);
    hasher.finalize()
}

fn encode(format: ImageFormat, width: u32, height: u32, alpha: bool) -> Vec<u8> {
    test_images::encode(to_image_format(format), width, height, alpha)
}

fn format_strategy() -> impl Strategy<Value = ImageFormat> {
    prop_oneof![
        Just(ImageFormat::Jpeg),
        Just(ImageFormat::Png),
        Just(ImageFormat::Gif),
        Just(ImageFormat::Bmp),
    ]
}

/// Corrupts `bytes`: each flip sets a byte past the signature; for a PNG the chunk CRCs are
/// then recomputed, so that the damage reaches the image data check instead of stopping at
/// a bad CRC.
fn corrupt_image(format: ImageFormat, bytes: &mut [u8], flips: &[(usize, u8)]) {
    let len = bytes.len();
    for &(at, value) in flips {
        bytes[8.min(len - 1) + at % (len - 8.min(len - 1))] = value;
    }
    if format == ImageFormat::Png {
        let mut pos = 8;
        while pos + 12 <= len {
            let chunk_len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().expect("4")) as usize;
            let Some(end) = (pos + 8).checked_add(chunk_len).filter(|&e| e + 4 <= len) else {
                break;
            };
            let crc = crc32(&bytes[pos + 4..end]);
            bytes[end..end + 4].copy_from_slice(&crc.to_be_bytes());
            pos = end + 4;
        }
    }
}

/// Found by the `validate` fuzz target: a frame whose LZW data holds an invalid code after
/// its last pixel, which the `gif` crate (and so the renderer) still reads.
const FUZZ_GIF_1: &[u8] = &[
    71, 73, 70, 56, 57, 97, 251, 0, 255, 0, 128, 33, 249, 4, 4, 0, 0, 83, 0, 44, 0, 0, 0, 0, 12, 0,
    10, 0, 0, 4, 53, 16, 200, 9, 130, 189, 65, 232, 45, 134, 255, 3, 33, 142, 68, 105, 158, 133,
    161, 174, 198, 225, 190, 7, 34, 207, 72, 34, 159, 15, 202, 36, 16, 1, 0, 33, 249, 4, 132, 0, 0,
    0, 95, 0, 0, 246, 255, 255, 255, 255, 245, 255, 255, 4, 53, 48, 200, 25, 132, 189, 98, 232, 61,
    136, 255, 68, 33, 142, 133, 97, 158, 198, 161, 174, 7, 218, 190, 255, 255, 254, 247, 3, 0, 202,
    162, 239, 11, 227, 255, 140, 134, 142, 24, 112, 216, 112, 143, 135, 114, 57, 97, 251, 0, 255,
    0, 128, 33, 249, 4, 4, 0, 0, 83, 0, 44, 0, 0, 0, 0, 12, 0, 10, 0, 0, 4, 53, 16, 200, 9, 130,
    189, 65, 232, 45, 134, 255, 3, 33, 142, 68, 105, 158, 133, 161, 174, 198, 225, 190, 7, 34, 207,
    72, 34, 159, 15, 202, 36, 16, 1, 0, 33, 249, 4, 132, 0, 0, 0, 95, 0, 0, 0, 0, 0, 0, 0, 10, 0,
    0, 4, 53, 48, 200, 25, 132, 189, 98, 232, 61, 136, 255, 68, 33, 142, 133, 97, 158, 198, 161,
    174, 7, 218, 190, 255, 255, 254, 247, 3, 0, 202, 162, 239, 11, 227, 255, 140, 134, 142, 24,
    112, 216, 112, 143, 135, 114, 249, 50, 50, 50, 50, 50, 68, 16, 1, 0, 59,
];

#[test]
fn fuzz_found_gif_accepted_only_if_it_renders() {
    if validate(FUZZ_GIF_1).is_ok() {
        let rendered = render_all(FUZZ_GIF_1);
        assert!(rendered.is_ok(), "accepted but {rendered:?}");
    }
}

proptest! {
    /// The invariant the integrity pass exists for: whatever is accepted can be rendered.
    /// (Case counts come from `PROPTEST_CASES`, which `cargo xtask ci` bounds.)
    #[test]
    fn accepted_images_render(
        format in format_strategy(),
        width in 48u32..96,
        height in 48u32..96,
        alpha in any::<bool>(),
        progressive in any::<bool>(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
    ) {
        let mut bytes = if format == ImageFormat::Jpeg && progressive {
            progressive_jpeg(width as u16, height as u16)
        } else {
            encode(format, width, height, alpha)
        };
        corrupt_image(format, &mut bytes, &flips);
        if validate(&bytes).is_ok() {
            let rendered = render_all(&bytes);
            prop_assert!(rendered.is_ok(), "{:?} {}x{} flips {:?}: accepted but {:?}", format, width, height, flips, rendered.err());
        }
    }
}
