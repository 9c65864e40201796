//! Unit tests of [`validate`](super::validate), one module per format as in the source, with the
//! generators and assertions they share here.

use super::png::crc32;
use super::*;
use test_images::progressive_jpeg;

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

/// A test image in `format` (see `test_images::encode`).
fn encode(format: ImageFormat, width: u32, height: u32, alpha: bool) -> Vec<u8> {
    test_images::encode(format.to_image_format(), width, height, alpha)
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
