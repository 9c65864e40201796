//! What holds for every format: acceptance, the size limit, sniffing, dimensions and messages.

use super::*;

#[test]
fn accepts_each_format_with_its_dimensions() {
    for format in ALL {
        for alpha in [false, true] {
            let bytes = encode(format, 37, 21, alpha);
            assert_eq!(
                validate(&bytes),
                Ok(ImageInfo {
                    format,
                    width: 37,
                    height: 21
                }),
                "{format:?} alpha={alpha}"
            );
        }
    }
}

#[test]
fn accepts_one_pixel_images() {
    for format in ALL {
        let info = validate(&encode(format, 1, 1, false)).expect("1x1");
        assert_eq!((info.width, info.height), (1, 1), "{format:?}");
    }
}

#[test]
fn bytes_after_the_end_are_allowed() {
    for format in ALL {
        let mut bytes = encode(format, 9, 9, false);
        bytes.extend_from_slice(b"trailing garbage");
        assert!(validate(&bytes).is_ok(), "{format:?}");
    }
}

#[test]
fn empty_body() {
    assert_eq!(validate(&[]), Err(InvalidImage::Empty));
    assert_eq!(message(&[]), "The request body is empty.");
}

#[test]
fn over_four_mib_is_too_large() {
    let mut bytes = encode(ImageFormat::Png, 8, 8, false);
    bytes.resize(MAX_PHOTO_BYTES + 1, 0);
    let error = validate(&bytes).expect_err("too large");
    assert_eq!(
        error,
        InvalidImage::TooLarge(TooLarge {
            size: Some(MAX_PHOTO_BYTES as u64 + 1)
        })
    );
    // The same error, and so the same message, as a too-large Content-Length.
    assert_eq!(
        error.to_string(),
        "The request body exceeds the maximum photo size of 4194304 bytes (4 MB); \
         it is at least 4194305 bytes."
    );
    // Exactly at the limit is not too large (the zero padding lies after IEND, where bytes
    // are allowed).
    bytes.truncate(MAX_PHOTO_BYTES);
    assert!(validate(&bytes).is_ok());
}

#[test]
fn unsupported_formats_are_named() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0".to_vec(), "WebP image"),
        (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec(), "HEIC image"),
        (
            b"\0\0\0\x1cftypmif1\0\0\0\0mif1avifmiaf".to_vec(),
            "AVIF image",
        ),
        (b"\0\0\0\x18ftypavif\0\0\0\0avifmif1".to_vec(), "AVIF image"),
        (b"\0\0\0\x18ftypisom\0\0\0\0isommp41".to_vec(), "MP4"),
        (b"II*\0\x08\0\0\0".to_vec(), "TIFF image"),
        (vec![0, 0, 1, 0, 1, 0, 16, 16], "ICO icon"),
        (b"%PDF-1.7\n".to_vec(), "PDF document"),
        (
            b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec(),
            "SVG image",
        ),
        (b"<svg></svg>".to_vec(), "SVG image"),
        (b"hello, this is a photo".to_vec(), "text"),
        (b"{\"photo\": \"...\"}".to_vec(), "JSON text"),
        (b"/9j/4AAQSkZJRgABAQ".to_vec(), "base64"),
        (
            vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            "unknown binary data (first bytes 00 01 02 03 04 05 06 07 ...)",
        ),
    ];
    for (bytes, expected) in cases {
        let error = validate(&bytes).expect_err("unsupported");
        let InvalidImage::UnsupportedFormat { found } = &error else {
            panic!("expected UnsupportedFormat for {expected}, got {error:?}");
        };
        assert!(
            found.contains(expected),
            "{found:?} should mention {expected:?}"
        );
        let text = error.to_string();
        assert!(text.contains(expected), "{text}");
        assert!(text.contains("JPEG, PNG, GIF and BMP"), "{text}");
        assert!(text.ends_with('.'), "{text}");
    }
}

#[test]
fn declared_types_are_not_needed_and_content_types_round_trip() {
    for format in ALL {
        assert_eq!(
            ImageFormat::from_content_type(format.content_type()),
            Some(format)
        );
        let shouted = format!("{}; charset=binary", format.content_type().to_uppercase());
        assert_eq!(ImageFormat::from_content_type(&shouted), Some(format));
        assert_eq!(
            ImageFormat::sniff(&encode(format, 3, 3, false)),
            Some(format)
        );
    }
    assert_eq!(
        ImageFormat::from_content_type("application/octet-stream"),
        None
    );
    assert_eq!(ImageFormat::from_content_type("image/webp"), None);
    assert_eq!(ImageFormat::from_content_type(""), None);
    assert_eq!(
        ImageFormat::sniff(b"BMW is a car maker, not a bitmap."),
        None
    );
}

#[test]
fn zero_pixel_headers_are_bad_dimensions() {
    assert_bad_dimensions(&png_with_header(0, 10));
    assert_bad_dimensions(&png_with_header(10, 0));
    let jpeg = encode(ImageFormat::Jpeg, 16, 16, false);
    assert_bad_dimensions(&jpeg_with_sof_size(&jpeg, 0, 16));
    let gif = encode(ImageFormat::Gif, 16, 16, false);
    assert_bad_dimensions(&gif_with_screen_size(&gif, 0, 16));
    let bmp = encode(ImageFormat::Bmp, 16, 16, false);
    assert_bad_dimensions(&bmp_with_size(&bmp, 16, 0));
}

#[test]
fn sides_over_ten_thousand_are_bad_dimensions() {
    assert_bad_dimensions(&png_with_header(10_001, 1));
    assert_bad_dimensions(&png_with_header(1, 10_001));
    assert_bad_dimensions(&png_with_header(u32::MAX, u32::MAX));
    let jpeg = encode(ImageFormat::Jpeg, 16, 16, false);
    assert_bad_dimensions(&jpeg_with_sof_size(&jpeg, 10_001, 16));
    let gif = encode(ImageFormat::Gif, 16, 16, false);
    assert_bad_dimensions(&gif_with_screen_size(&gif, 16, 10_001));
    let bmp = encode(ImageFormat::Bmp, 16, 16, false);
    assert_bad_dimensions(&bmp_with_size(&bmp, 10_001, 16));
    let error = validate(&png_with_header(10_001, 1)).expect_err("too wide");
    assert_eq!(
        error.to_string(),
        "The image is 10,001 x 1 pixels, which is not allowed: each side must be at most 10,000 pixels."
    );
}

#[test]
fn over_forty_megapixels_is_bad_dimensions() {
    assert_bad_dimensions(&png_with_header(10_000, 4_001));
    assert_bad_dimensions(&png_with_header(8_000, 6_000));
    let jpeg = encode(ImageFormat::Jpeg, 16, 16, false);
    assert_bad_dimensions(&jpeg_with_sof_size(&jpeg, 9_000, 9_000));
    let message = validate(&png_with_header(8_000, 6_000))
        .expect_err("48 MP")
        .to_string();
    assert!(message.contains("40,000,000 pixels"), "{message}");
    // Exactly 40 MP is allowed by the dimension check; the junk IDAT is then refused.
    assert!(matches!(
        validate(&png_with_header(10_000, 4_000)),
        Err(InvalidImage::Corrupt {
            format: ImageFormat::Png,
            ..
        })
    ));
}

#[test]
fn messages_are_one_sentence_ending_with_a_period() {
    let jpeg = encode(ImageFormat::Jpeg, 8, 8, false);
    let png = encode(ImageFormat::Png, 8, 8, false);
    let mut bad_crc = png.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 1;
    for bytes in [
        &[][..],
        &jpeg[..jpeg.len() - 1],
        &png[..png.len() / 2],
        &bad_crc[..],
        &png_with_header(0, 0)[..],
        b"text",
    ] {
        let text = message(bytes);
        assert!(text.ends_with('.') && !text.ends_with(".."), "{text}");
        assert!(!text.contains('\n'), "{text}");
        assert!(text.starts_with("The "), "{text}");
    }
    let error = InvalidImage::Malformed {
        format: ImageFormat::Gif,
        reason: "it is odd.".to_owned(),
    };
    assert_eq!(error.to_string(), "The GIF image is malformed: it is odd.");
}

#[test]
fn truncated_images_are_reported_as_incomplete() {
    for format in ALL {
        let bytes = encode(format, 30, 30, false);
        let error = validate(&bytes[..bytes.len() * 2 / 3]).expect_err("cut");
        assert!(
            matches!(error, InvalidImage::Truncated { format: f, .. } if f == format),
            "{format:?}: {error:?}"
        );
    }
}
