use super::bmp::BI_RLE8;
use super::jpeg::JPEG_SOS;
use super::png::crc32;
use super::*;
use image::{DynamicImage, Rgb, RgbImage, Rgba, RgbaImage};
use proptest::prelude::*;

const ALL: [ImageFormat; 4] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::Gif,
    ImageFormat::Bmp,
];

fn rgb(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 37 % 256) as u8,
            (y * 53 % 256) as u8,
            ((x + y) * 11 % 256) as u8,
        ])
    }))
}

fn rgba(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgba8(RgbaImage::from_fn(width, height, |x, y| {
        Rgba([
            (x * 37 % 256) as u8,
            (y * 53 % 256) as u8,
            99,
            ((x ^ y) * 17 % 256) as u8,
        ])
    }))
}

fn encode_image(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, format.to_image_format())
        .expect("encode test image");
    out.into_inner()
}

/// A test image: `alpha` selects RGBA (PNG, BMP, GIF) over RGB; JPEG is always RGB.
fn encode(format: ImageFormat, width: u32, height: u32, alpha: bool) -> Vec<u8> {
    if alpha && format != ImageFormat::Jpeg {
        encode_image(&rgba(width, height), format)
    } else {
        encode_image(&rgb(width, height), format)
    }
}

fn progressive_jpeg(width: u16, height: u16) -> Vec<u8> {
    let pixels: Vec<u8> = (0..u32::from(width) * u32::from(height) * 3)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 85);
    encoder.set_progressive(true);
    encoder.set_restart_interval(2);
    encoder
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("encode progressive JPEG");
    out
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = Vec::new();
    chunk.extend_from_slice(&(data.len() as u32).to_be_bytes());
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    chunk.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
    chunk
}

/// A structurally complete PNG whose IHDR declares `width` x `height` (the IDAT is junk: the
/// header check must refuse it first).
fn png_with_header(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace.
    let mut png = PNG_MAGIC.to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

/// An APP1 Exif segment carrying only Orientation = `orientation` (big-endian TIFF).
fn exif_app1(orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\0*");
    tiff.extend_from_slice(&8u32.to_be_bytes()); // IFD0 offset.
    tiff.extend_from_slice(&1u16.to_be_bytes()); // One entry:
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation,
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT,
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count 1,
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes()); // No next IFD.
    let mut data = b"Exif\0\0".to_vec();
    data.extend(tiff);
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&((data.len() + 2) as u16).to_be_bytes());
    segment.extend(data);
    segment
}

fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend(exif_app1(orientation));
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Overwrites the SOF's height and width in a baseline JPEG.
fn jpeg_with_sof_size(jpeg: &[u8], width: u16, height: u16) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    let sof = out
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("baseline SOF");
    out[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    out[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    out
}

fn gif_with_screen_size(gif: &[u8], width: u16, height: u16) -> Vec<u8> {
    let mut out = gif.to_vec();
    out[6..8].copy_from_slice(&width.to_le_bytes());
    out[8..10].copy_from_slice(&height.to_le_bytes());
    out
}

fn bmp_with_size(bmp: &[u8], width: i32, height: i32) -> Vec<u8> {
    let mut out = bmp.to_vec();
    out[18..22].copy_from_slice(&width.to_le_bytes());
    out[22..26].copy_from_slice(&height.to_le_bytes());
    out
}

fn assert_bad_dimensions(bytes: &[u8]) {
    match validate(bytes) {
        Err(InvalidImage::BadDimensions { .. }) => {}
        other => panic!("expected BadDimensions, got {other:?}"),
    }
}

fn message(bytes: &[u8]) -> String {
    validate(bytes).expect_err("should be rejected").to_string()
}

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
fn accepts_progressive_jpeg_with_restart_markers() {
    let bytes = progressive_jpeg(48, 40);
    let sos_count = bytes.windows(2).filter(|w| w == &[0xFF, JPEG_SOS]).count();
    assert!(sos_count > 1, "expected several scans, found {sos_count}");
    assert_eq!(
        validate(&bytes),
        Ok(ImageInfo {
            format: ImageFormat::Jpeg,
            width: 48,
            height: 40
        })
    );
    let without_eoi = &bytes[..bytes.len() - 2];
    assert!(matches!(
        validate(without_eoi),
        Err(InvalidImage::Truncated { .. })
    ));
}

#[test]
fn exif_orientations_5_to_8_swap_width_and_height() {
    let jpeg = encode(ImageFormat::Jpeg, 40, 20, false);
    for orientation in 1..=8u16 {
        let info = validate(&with_exif_orientation(&jpeg, orientation)).expect("valid");
        let expected = if orientation >= 5 { (20, 40) } else { (40, 20) };
        assert_eq!(
            (info.width, info.height),
            expected,
            "orientation {orientation}"
        );
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

// --- Corrupt pixel data (the integrity pass) ---

fn assert_corrupt(bytes: &[u8], format: ImageFormat, what: &str) -> String {
    match validate(bytes) {
        Err(error @ InvalidImage::Corrupt { format: f, .. }) if f == format => {
            let text = error.to_string();
            assert!(
                text.starts_with(&format!("The {} image is corrupt: ", format.name())),
                "{text}"
            );
            assert!(text.ends_with('.') && !text.ends_with(".."), "{text}");
            text
        }
        other => panic!("{what}: expected Corrupt {format:?}, got {other:?}"),
    }
}

/// Deterministic pseudo-random bytes, never 0xFF (so a JPEG scan stays marker-free).
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8 % 0xFF
        })
        .collect()
}

/// The range of the first scan's entropy-coded data.
fn jpeg_scan_data(jpeg: &[u8]) -> std::ops::Range<usize> {
    let sos = jpeg
        .windows(2)
        .position(|w| w == [0xFF, JPEG_SOS])
        .expect("SOS");
    let start = sos + 2 + usize::from(u16::from_be_bytes([jpeg[sos + 2], jpeg[sos + 3]]));
    let end = start
        + jpeg[start..]
            .windows(2)
            .position(|w| w[0] == 0xFF && w[1] != 0 && !(0xD0..=0xD7).contains(&w[1]))
            .expect("end of scan");
    start..end
}

#[test]
fn jpeg_with_garbage_entropy_coded_data_is_corrupt() {
    for (seed, progressive) in [(1, false), (2, false), (3, false), (4, true), (5, true)] {
        let mut jpeg = if progressive {
            progressive_jpeg(64, 64)
        } else {
            encode(ImageFormat::Jpeg, 96, 80, false)
        };
        let scan = jpeg_scan_data(&jpeg);
        let junk = garbage(seed, scan.len());
        jpeg[scan].copy_from_slice(&junk);
        assert_corrupt(&jpeg, ImageFormat::Jpeg, &format!("seed {seed}"));
    }
}

#[test]
fn jpeg_whose_component_has_no_quantization_table_is_corrupt() {
    // Found by the render invariant: zune-jpeg refuses to decode such a frame.
    let mut jpeg = encode(ImageFormat::Jpeg, 64, 48, false);
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("SOF0");
    // Marker, length, precision, height, width, count; then id, sampling, table per component.
    jpeg[sof + 10 + 2] = 3;
    let text = assert_corrupt(&jpeg, ImageFormat::Jpeg, "no DQT");
    assert!(text.contains("quantization table"), "{text}");
}

#[test]
fn jpeg_whose_scan_ends_early_is_corrupt() {
    // The scan's data cut in half, the markers after it kept: structurally whole.
    let jpeg = encode(ImageFormat::Jpeg, 96, 96, false);
    let scan = jpeg_scan_data(&jpeg);
    let mut short = jpeg[..scan.start + scan.len() / 2].to_vec();
    short.extend_from_slice(&jpeg[scan.end..]);
    let text = assert_corrupt(&short, ImageFormat::Jpeg, "half a scan");
    assert!(text.contains("ends before the last block"), "{text}");
}

/// A zlib stream of stored blocks holding `data`, with its Adler-32.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(65_535).collect()
    };
    for (i, chunk) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&(b << 16 | a).to_be_bytes());
    out
}

/// A 4x3 8-bit greyscale PNG whose IDAT holds `idat` (chunk CRCs correct).
fn grey_png(idat: &[u8]) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&4u32.to_be_bytes());
    ihdr.extend_from_slice(&3u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut png = PNG_MAGIC.to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(b"IDAT", idat));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

#[test]
fn png_image_data_is_inflated_and_counted() {
    // 3 rows of a filter byte and 4 pixels.
    let rows: Vec<u8> = (0..3).flat_map(|r| [r % 5, 10, 20, 30, 40]).collect();
    assert_eq!(
        validate(&grey_png(&zlib_stored(&rows))),
        Ok(ImageInfo {
            format: ImageFormat::Png,
            width: 4,
            height: 3
        })
    );
    let text = assert_corrupt(
        &grey_png(&zlib_stored(&rows[..14])),
        ImageFormat::Png,
        "short",
    );
    assert!(text.contains("fewer than the 15"), "{text}");
    let mut long = rows.clone();
    long.push(0);
    let text = assert_corrupt(&grey_png(&zlib_stored(&long)), ImageFormat::Png, "long");
    assert!(text.contains("more than the 15"), "{text}");
    let mut bad_filter = rows.clone();
    bad_filter[5] = 9;
    let text = assert_corrupt(
        &grey_png(&zlib_stored(&bad_filter)),
        ImageFormat::Png,
        "filter",
    );
    assert!(text.contains("filter type (9)"), "{text}");
    let mut bad_adler = zlib_stored(&rows);
    let last = bad_adler.len() - 1;
    bad_adler[last] ^= 1;
    let text = assert_corrupt(&grey_png(&bad_adler), ImageFormat::Png, "adler");
    assert!(text.contains("Adler-32"), "{text}");
    assert_corrupt(&grey_png(&garbage(7, 40)), ImageFormat::Png, "garbage zlib");
    let mut unfinished = zlib_stored(&rows);
    unfinished.truncate(unfinished.len() - 6);
    assert_corrupt(
        &grey_png(&unfinished),
        ImageFormat::Png,
        "unfinished stream",
    );
}

#[test]
fn png_with_garbage_idat_and_valid_crcs_is_corrupt() {
    for seed in 1..6 {
        let png = encode(ImageFormat::Png, 60, 50, seed % 2 == 0);
        let at = png.windows(4).position(|w| w == b"IDAT").expect("IDAT") - 4;
        let len = u32::from_be_bytes(png[at..at + 4].try_into().expect("4 bytes")) as usize;
        // Keep the zlib header, garble the deflate data, fix the CRC.
        let mut data = png[at + 8..at + 8 + len].to_vec();
        let junk = garbage(seed, data.len() - 2);
        data[2..].copy_from_slice(&junk);
        let mut bad = png[..at].to_vec();
        bad.extend(png_chunk(b"IDAT", &data));
        bad.extend_from_slice(&png[at + 12 + len..]);
        assert_corrupt(&bad, ImageFormat::Png, &format!("seed {seed}"));
    }
}

/// The first image's LZW minimum code size position and its sub-blocks' range.
fn gif_image_data(gif: &[u8]) -> (usize, std::ops::Range<usize>) {
    let flags = gif[10];
    let mut pos = 13
        + if flags & 0x80 != 0 {
            3 << ((flags & 7) + 1)
        } else {
            0
        };
    loop {
        match gif[pos] {
            0x21 => {
                pos += 2;
                while gif[pos] != 0 {
                    pos += 1 + usize::from(gif[pos]);
                }
                pos += 1;
            }
            0x2C => {
                let local = gif[pos + 9];
                pos += 10
                    + if local & 0x80 != 0 {
                        3 << ((local & 7) + 1)
                    } else {
                        0
                    };
                let code_size = pos;
                let mut end = pos + 1;
                while gif[end] != 0 {
                    end += 1 + usize::from(gif[end]);
                }
                return (code_size, code_size + 1..end + 1);
            }
            other => panic!("unexpected GIF block {other:#x}"),
        }
    }
}

/// `gif` with its first image's data replaced by `code_size` and `data` in sub-blocks.
fn gif_with_image_data(gif: &[u8], code_size: u8, data: &[u8]) -> Vec<u8> {
    let (at, blocks) = gif_image_data(gif);
    let mut out = gif[..at].to_vec();
    out.push(code_size);
    for chunk in data.chunks(255) {
        out.push(chunk.len() as u8);
        out.extend_from_slice(chunk);
    }
    out.push(0);
    out.extend_from_slice(&gif[blocks.end..]);
    out
}

#[test]
fn gif_with_garbage_or_short_lzw_data_is_corrupt() {
    let gif = encode(ImageFormat::Gif, 64, 64, false);
    assert!(validate(&gif).is_ok());
    for seed in 1..6 {
        let bad = gif_with_image_data(&gif, 8, &garbage(seed, 2000));
        assert_corrupt(&bad, ImageFormat::Gif, &format!("seed {seed}"));
    }
    // Clear code, two pixels, end code (9-bit codes for code size 8): too few pixels.
    let short = gif_with_image_data(&gif, 8, &[0x00, 0x03, 0x04, 0x04, 0x10]);
    let text = assert_corrupt(&short, ImageFormat::Gif, "short");
    assert!(
        text.contains("first frame cannot be decoded (image truncated)"),
        "{text}"
    );
    let text = assert_corrupt(
        &gif_with_image_data(&gif, 12, &[0; 8]),
        ImageFormat::Gif,
        "code size",
    );
    assert!(text.contains("invalid minimal code size"), "{text}");
}

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
fn png_with_a_flipped_crc_byte_is_malformed() {
    let png = encode(ImageFormat::Png, 12, 12, true);
    // The last byte is IEND's CRC; also flip one inside the IDAT data.
    let mut bad_crc = png.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0x01;
    let error = validate(&bad_crc).expect_err("bad CRC");
    assert!(
        matches!(
            error,
            InvalidImage::Malformed {
                format: ImageFormat::Png,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("CRC"), "{error}");
    let idat = png.windows(4).position(|w| w == b"IDAT").expect("IDAT");
    let mut bad_data = png;
    bad_data[idat + 6] ^= 0x40;
    assert!(matches!(
        validate(&bad_data),
        Err(InvalidImage::Malformed { .. })
    ));
}

#[test]
fn crc32_matches_the_reference_value() {
    assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
    assert_eq!(crc32(&[b"1234", b"56789"]), 0xCBF4_3926);
    assert_eq!(crc32(&[b"IEND"]), 0xAE42_6082);
}

#[test]
fn jpeg_missing_eoi_is_truncated() {
    let jpeg = encode(ImageFormat::Jpeg, 20, 20, false);
    for cut in [1, 2] {
        let error = validate(&jpeg[..jpeg.len() - cut]).expect_err("no EOI");
        assert!(
            matches!(
                error,
                InvalidImage::Truncated {
                    format: ImageFormat::Jpeg,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .starts_with("The JPEG image is incomplete: "),
            "{error}"
        );
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
