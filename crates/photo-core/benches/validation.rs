//! Benchmark of [`photo_core::validation::validate`] (the upload check, spec B3-B5) on
//! realistic near-4-MiB uploads of each format; see the "Upload validation" section of
//! `docs/PERFORMANCE.md`.
//!
//! `cargo bench -p photo-core --bench validation` generates each input deterministically (a
//! photo-like picture: gradients, soft shapes, fine texture, sensor-like noise), checks that
//! `validate` accepts it, warms up, then times `validate` (wall clock, input in memory)
//! `BENCH_RUNS` times (default 21, at least 5) and, for reference, a full decode of the same
//! input with `image` (what rendering starts with). Prints one line per input.

use std::error::Error;
use std::io::Cursor;
use std::time::Instant;

use test_images::{median_ms, min_ms, XorShift};

use photo_core::validation::validate;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const LIMIT: usize = photo_core::limits::MAX_PHOTO_BYTES;
const WARM_UPS: usize = 3;
const DEFAULT_RUNS: usize = 21;
const MIN_RUNS: usize = 5;

fn main() -> Result<()> {
    let runs = match std::env::var("BENCH_RUNS") {
        Ok(value) => value.parse::<usize>()?.max(MIN_RUNS),
        Err(_) => DEFAULT_RUNS,
    };
    let inputs = [
        (
            "JPEG 3000x3000 q93 4:2:0 baseline",
            jpeg(3000, 3000, false)?,
        ),
        ("JPEG 2800x2800 q90 progressive", jpeg(2800, 2800, true)?),
        ("PNG 1400x1400 RGB", png(1400, 1400)?),
        ("GIF 2000x2000 (one frame)", gif(2000, 2000)?),
        ("BMP 1180x1180 24-bit", bmp(1180, 1180)?),
        ("BMP 2000x1040 RLE8", bmp_rle8(2000, 1040)),
    ];
    println!(
        "{:<36} {:>10} {:>14} {:>11} {:>16}",
        "input", "bytes", "validate med", "min", "full decode med"
    );
    for (name, bytes) in &inputs {
        if bytes.len() > LIMIT {
            return Err(format!("{name}: {} bytes, over the upload limit", bytes.len()).into());
        }
        validate(bytes).map_err(|e| format!("{name}: refused: {e}"))?;
        for _ in 0..WARM_UPS {
            validate(bytes)?;
        }
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = Instant::now();
            let info = validate(bytes);
            samples.push(start.elapsed());
            std::hint::black_box(info)?;
        }
        let mut decode = Vec::new();
        for _ in 0..MIN_RUNS {
            let start = Instant::now();
            let image = image::load_from_memory(bytes)?;
            decode.push(start.elapsed());
            drop(image);
        }
        println!(
            "{:<36} {:>10} {:>11.2} ms {:>8.2} ms {:>13.1} ms",
            name,
            bytes.len(),
            median_ms(&samples),
            min_ms(&samples),
            median_ms(&decode),
        );
    }
    Ok(())
}

/// A photo-like RGB picture: sky gradient over textured ground, soft shapes, sensor noise.
/// `noise` scales the noise (it sets how well the picture compresses).
fn photo(width: u32, height: u32, noise: f32) -> Vec<u8> {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
    let (w, h) = (width as f32, height as f32);
    for y in 0..height {
        let fy = y as f32 / h;
        for x in 0..width {
            let fx = x as f32 / w;
            let horizon = 0.55 + 0.03 * (fx * 13.0).sin();
            let mut rgb = if fy < horizon {
                [110.0 + 90.0 * fy, 150.0 + 70.0 * fy, 215.0 - 20.0 * fx]
            } else {
                let ripple =
                    ((x as f32) * 0.31 + 6.0 * (fy * 40.0).sin()).sin() * ((y as f32) * 0.23).sin();
                [
                    95.0 + 26.0 * ripple,
                    120.0 + 26.0 * ripple,
                    60.0 + 20.0 * ripple,
                ]
            };
            let (dx, dy) = ((fx - 0.35) / 0.15, (fy - 0.3) / 0.15);
            let blob = (-(dx * dx + dy * dy)).exp();
            rgb[0] += 90.0 * blob;
            rgb[1] += 60.0 * blob;
            let luma = rng.noise() * noise;
            for c in rgb {
                pixels.push((c + luma + rng.noise() * noise * 0.2).clamp(0.0, 255.0) as u8);
            }
        }
    }
    pixels
}

fn jpeg(width: u32, height: u32, progressive: bool) -> Result<Vec<u8>> {
    let pixels = photo(width, height, 18.0);
    let mut out = Vec::new();
    let quality = if progressive { 90 } else { 93 };
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder.set_progressive(progressive);
    encoder.encode(
        &pixels,
        width as u16,
        height as u16,
        jpeg_encoder::ColorType::Rgb,
    )?;
    Ok(out)
}

fn png(width: u32, height: u32) -> Result<Vec<u8>> {
    let image = image::RgbImage::from_raw(width, height, photo(width, height, 6.0))
        .ok_or("pixel buffer size")?;
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// One frame, 256 grey-ish levels of the photo's luma, with a global colour table.
fn gif(width: u32, height: u32) -> Result<Vec<u8>> {
    let rgb = photo(width, height, 18.0);
    let indices: Vec<u8> = rgb
        .chunks_exact(3)
        .map(|p| ((u16::from(p[0]) + 2 * u16::from(p[1]) + u16::from(p[2])) / 4) as u8)
        .collect();
    let palette: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
    let mut out = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut out, width as u16, height as u16, &palette)?;
        let frame = gif::Frame::from_indexed_pixels(width as u16, height as u16, indices, None);
        encoder.write_frame(&frame)?;
    }
    Ok(out)
}

fn bmp(width: u32, height: u32) -> Result<Vec<u8>> {
    let image = image::RgbImage::from_raw(width, height, photo(width, height, 18.0))
        .ok_or("pixel buffer size")?;
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Bmp)?;
    Ok(out.into_inner())
}

/// An RLE8 bitmap written as encoded runs (count, index) of the photo's quantised luma.
fn bmp_rle8(width: u32, height: u32) -> Vec<u8> {
    let rgb = photo(width, height, 18.0);
    let indices: Vec<u8> = rgb.chunks_exact(3).map(|p| p[1] / 16).collect();
    let mut rle = Vec::new();
    // Bottom-up rows.
    for row in indices.chunks_exact(width as usize).rev() {
        let mut i = 0;
        while i < row.len() {
            let value = row[i];
            let run = row[i..]
                .iter()
                .take(255)
                .take_while(|&&v| v == value)
                .count();
            rle.extend_from_slice(&[run as u8, value]);
            i += run;
        }
        rle.extend_from_slice(&[0, 0]);
    }
    rle.extend_from_slice(&[0, 1]);
    let colours = 16u32;
    let offset = 14 + 40 + colours * 4;
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&(offset + rle.len() as u32).to_le_bytes());
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&offset.to_le_bytes());
    bmp.extend_from_slice(&40u32.to_le_bytes());
    bmp.extend_from_slice(&(width as i32).to_le_bytes());
    bmp.extend_from_slice(&(height as i32).to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&8u16.to_le_bytes());
    bmp.extend_from_slice(&1u32.to_le_bytes()); // BI_RLE8.
    bmp.extend_from_slice(&(rle.len() as u32).to_le_bytes());
    bmp.extend_from_slice(&[0; 8]);
    bmp.extend_from_slice(&colours.to_le_bytes());
    bmp.extend_from_slice(&0u32.to_le_bytes());
    for c in 0..colours {
        let v = (c * 17) as u8;
        bmp.extend_from_slice(&[v, v, v, 0]);
    }
    bmp.extend(rle);
    bmp
}
