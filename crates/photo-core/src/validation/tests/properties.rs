//! Properties over generated inputs: nothing panics, encoded images round-trip, truncations
//! and oversized bodies are refused.

use super::*;
use proptest::prelude::*;

fn format_strategy() -> impl Strategy<Value = ImageFormat> {
    prop_oneof![
        Just(ImageFormat::Jpeg),
        Just(ImageFormat::Png),
        Just(ImageFormat::Gif),
        Just(ImageFormat::Bmp),
    ]
}

fn magic_strategy() -> impl Strategy<Value = &'static [u8]> {
    prop_oneof![
        Just(JPEG_MAGIC),
        Just(&[0xFF, 0xD8, 0xFF, 0xDA][..]),
        Just(PNG_MAGIC),
        Just(&b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"[..]),
        Just(GIF87_MAGIC),
        Just(GIF89_MAGIC),
        Just(&b"BM\0\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0"[..]),
        Just(&b"BM\0\0\0\0\0\0\0\0\x1a\0\0\0\x0c\0\0\0"[..]),
    ]
}

/// Case counts come from `PROPTEST_CASES` (`cargo xtask ci` bounds it); a failure is
/// persisted under `proptest-regressions/`, to be committed with its fix.
fn config() -> ProptestConfig {
    ProptestConfig::default()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = validate(&bytes);
    }

    #[test]
    fn arbitrary_bytes_after_a_magic_never_panic(
        magic in magic_strategy(),
        tail in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut bytes = magic.to_vec();
        bytes.extend(tail);
        let _ = validate(&bytes);
    }

    #[test]
    fn corrupted_images_never_panic(
        format in format_strategy(),
        width in 1u32..48,
        height in 1u32..48,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = encode(format, width, height, false);
        for (at, value) in flips {
            let len = bytes.len();
            bytes[at % len] = value;
        }
        let _ = validate(&bytes);
    }

    #[test]
    fn encoded_images_report_their_format_and_size(
        format in format_strategy(),
        width in 1u32..64,
        height in 1u32..64,
        alpha in any::<bool>(),
    ) {
        let bytes = encode(format, width, height, alpha);
        prop_assert_eq!(validate(&bytes), Ok(ImageInfo { format, width, height }));
    }

    #[test]
    fn any_truncation_is_rejected(
        format in format_strategy(),
        width in 1u32..48,
        height in 1u32..48,
        alpha in any::<bool>(),
        cut in any::<usize>(),
    ) {
        let bytes = encode(format, width, height, alpha);
        let cut = 1 + cut % (bytes.len() - 1);
        let result = validate(&bytes[..cut]);
        prop_assert!(result.is_err(), "{:?} {}x{} cut at {}/{} accepted", format, width, height, cut, bytes.len());
    }

    #[test]
    fn any_truncation_of_a_progressive_jpeg_is_rejected(
        width in 1u16..48,
        height in 1u16..48,
        cut in any::<usize>(),
    ) {
        let bytes = progressive_jpeg(width, height);
        let cut = 1 + cut % (bytes.len() - 1);
        prop_assert!(validate(&bytes[..cut]).is_err(), "cut at {}/{} accepted", cut, bytes.len());
    }

    #[test]
    fn bodies_over_the_limit_are_too_large(
        extra in 1usize..65_536,
        fill in any::<u8>(),
        magic in magic_strategy(),
    ) {
        let mut bytes = vec![fill; MAX_PHOTO_BYTES + extra];
        bytes[..magic.len()].copy_from_slice(magic);
        prop_assert_eq!(
            validate(&bytes),
            Err(InvalidImage::TooLarge(TooLarge { size: Some((MAX_PHOTO_BYTES + extra) as u64) }))
        );
    }
}
