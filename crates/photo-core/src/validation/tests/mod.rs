//! Unit tests of [`validate`](super::validate), one module per format as in the source, with the
//! generators and assertions they share here.

use super::png::crc32;
use super::*;
use image::{DynamicImage, Rgb, RgbImage, Rgba, RgbaImage};

mod all_formats;
mod bmp;
mod gif;
mod jpeg;
mod png;
mod properties;

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
