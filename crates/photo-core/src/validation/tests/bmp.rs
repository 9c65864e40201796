//! BMP: RLE runs, missing pixel rows and the image size field of compressed bitmaps.

use super::*;
use crate::validation::bmp::BI_RLE8;

/// A 4x2 RLE bitmap (RLE8, or RLE4 when `rle4`) of 16 grey levels holding `rle`.
fn rle_bmp(rle4: bool, rle: &[u8]) -> Vec<u8> {
    let offset = 14 + 40 + 16 * 4;
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&((offset + rle.len()) as u32).to_le_bytes());
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&(offset as u32).to_le_bytes());
    bmp.extend_from_slice(&40u32.to_le_bytes());
    bmp.extend_from_slice(&4i32.to_le_bytes());
    bmp.extend_from_slice(&2i32.to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&(if rle4 { 4u16 } else { 8 }).to_le_bytes());
    bmp.extend_from_slice(&(if rle4 { 2u32 } else { BI_RLE8 }).to_le_bytes());
    bmp.extend_from_slice(&(rle.len() as u32).to_le_bytes());
    bmp.extend_from_slice(&[0; 8]);
    bmp.extend_from_slice(&16u32.to_le_bytes());
    bmp.extend_from_slice(&0u32.to_le_bytes());
    for c in 0..16u8 {
        bmp.extend_from_slice(&[c * 17, c * 17, c * 17, 0]);
    }
    bmp.extend_from_slice(rle);
    bmp
}

#[test]
fn rle_bitmaps_whose_runs_leave_the_image_are_corrupt() {
    let good: &[&[u8]] = &[
        &[4, 1, 0, 0, 4, 2, 0, 1],
        // Absolute run of 3, padded to an even length; delta one row down; end.
        &[0, 3, 1, 2, 3, 0, 1, 5, 0, 2, 0, 1, 0, 1],
        // No end-of-bitmap code, but every row ends.
        &[4, 1, 0, 0, 4, 2, 0, 0],
    ];
    for rle in good {
        assert!(validate(&rle_bmp(false, rle)).is_ok(), "{rle:?}");
    }
    // RLE8 runs longer than the row are clipped by decoders (ImageMagick writes them).
    assert!(validate(&rle_bmp(false, &[9, 1, 0, 0, 4, 2, 0, 1])).is_ok());
    let bad: &[(bool, &[u8], &str)] = &[
        (true, &[9, 0x11, 0, 1], "a run goes past the end of a row"),
        (
            false,
            &[0, 5, 1, 2, 3, 4, 5, 0, 0, 1],
            "an absolute run goes past",
        ),
        (
            false,
            &[0, 2, 0, 2, 0, 1],
            "a delta code moves below the last row",
        ),
        (
            false,
            &[0, 2, 5, 0, 0, 1],
            "a delta code moves past the end of a row",
        ),
        (
            false,
            &[4, 1, 0, 0, 4, 2],
            "ends before the end-of-bitmap code",
        ),
    ];
    for (rle4, rle, reason) in bad {
        let text = assert_corrupt(&rle_bmp(*rle4, rle), ImageFormat::Bmp, reason);
        assert!(text.contains(reason), "{text}");
    }
}

#[test]
fn bmp_missing_pixel_rows_is_truncated() {
    let bmp = encode(ImageFormat::Bmp, 20, 20, false);
    let error = validate(&bmp[..bmp.len() - 1]).expect_err("short");
    assert!(
        matches!(
            error,
            InvalidImage::Truncated {
                format: ImageFormat::Bmp,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn compressed_bmp_uses_the_image_size_field() {
    // 2x1 RLE8 bitmap: one run of 2 pixels of colour 1, end of line, end of bitmap.
    let rle: [u8; 6] = [2, 1, 0, 0, 0, 1];
    let palette_len = 2 * 4;
    let offset = 14 + 40 + palette_len;
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&((offset + rle.len()) as u32).to_le_bytes());
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&(offset as u32).to_le_bytes());
    bmp.extend_from_slice(&40u32.to_le_bytes());
    bmp.extend_from_slice(&2i32.to_le_bytes());
    bmp.extend_from_slice(&1i32.to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes()); // Planes.
    bmp.extend_from_slice(&8u16.to_le_bytes()); // Bits per pixel.
    bmp.extend_from_slice(&BI_RLE8.to_le_bytes());
    bmp.extend_from_slice(&(rle.len() as u32).to_le_bytes());
    bmp.extend_from_slice(&[0; 8]); // Resolution.
    bmp.extend_from_slice(&2u32.to_le_bytes()); // Colours used.
    bmp.extend_from_slice(&0u32.to_le_bytes());
    bmp.extend_from_slice(&[0, 0, 0, 0, 255, 255, 255, 0]);
    bmp.extend_from_slice(&rle);
    assert_eq!(
        validate(&bmp),
        Ok(ImageInfo {
            format: ImageFormat::Bmp,
            width: 2,
            height: 1
        })
    );
    assert!(matches!(
        validate(&bmp[..bmp.len() - 1]),
        Err(InvalidImage::Truncated {
            format: ImageFormat::Bmp,
            ..
        })
    ));
}
