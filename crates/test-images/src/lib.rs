//! Images and timings that the tests and benchmarks of `photo-core` (validation) and
//! `photo-render` (rendering) both need, in one place: deterministic pictures in every format
//! Graph accepts, a progressive JPEG, a photo-like picture, camera-like noise, and the medians
//! the benchmarks report. A dev-dependency of the libraries, and a dependency of the measuring
//! tool `graph-photo-bench` (whose HTTP benchmark uploads the photo-like picture): nothing here
//! is part of a product.

// Test support: a failure to encode a generated image is a bug of this crate, reported loudly.
#![allow(clippy::expect_used)]

use std::io::Cursor;
use std::time::Duration;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

/// An opaque picture with a gradient in each channel.
pub fn rgb(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 37 % 256) as u8,
            (y * 53 % 256) as u8,
            ((x + y) * 11 % 256) as u8,
        ])
    }))
}

/// A picture with varying transparency.
pub fn rgba(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgba8(RgbaImage::from_fn(width, height, |x, y| {
        Rgba([
            (x * 37 % 256) as u8,
            (y * 53 % 256) as u8,
            99,
            ((x ^ y) * 17 % 256) as u8,
        ])
    }))
}

/// `image` encoded as `format`.
pub fn encode_image(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode test image");
    out.into_inner()
}

/// A test image in `format`: `alpha` selects [`rgba`] (PNG, BMP, GIF) over [`rgb`]; JPEG is
/// always opaque.
pub fn encode(format: ImageFormat, width: u32, height: u32, alpha: bool) -> Vec<u8> {
    if alpha && format != ImageFormat::Jpeg {
        encode_image(&rgba(width, height), format)
    } else {
        encode_image(&rgb(width, height), format)
    }
}

/// A progressive JPEG with restart markers (every two MCUs).
pub fn progressive_jpeg(width: u16, height: u16) -> Vec<u8> {
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

/// xorshift64*: deterministic and fast; plenty for the noise of a benchmark's photo.
pub struct XorShift(pub u64);

impl XorShift {
    /// Roughly normal noise in about -1.5..1.5 (sum of three uniforms, centred).
    pub fn noise(&mut self) -> f32 {
        let mut sum = 0.0;
        for _ in 0..3 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
            sum += v as f32 / (1u64 << 24) as f32;
        }
        sum - 1.5
    }
}

/// The side, in pixels, of the scene [`photo_pixels`] draws: its shapes are placed for it.
pub const PHOTO_SCENE_SIDE: u32 = 3000;

/// A deterministic photo-like picture, `side` x `side` RGB pixels: a sky gradient over a darker
/// ground, a few soft bright shapes, a band of fine texture (foliage/fabric), and sensor-like
/// noise. The scene is drawn for [`PHOTO_SCENE_SIDE`] and scaled to `side`, the noise stays per
/// pixel, so a JPEG of it has about the same bytes per pixel at any side, as photos do.
pub fn photo_pixels(side: u32) -> Vec<u8> {
    let scene = PHOTO_SCENE_SIDE as f32;
    let scale = scene / side as f32;
    let side = side as usize;
    let mut pixels = vec![0u8; side * side * 3];
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let blobs = [
        (700.0, 900.0, 380.0, [90.0, 60.0, 20.0]),
        (2100.0, 1200.0, 520.0, [-40.0, 10.0, 60.0]),
        (1500.0, 2300.0, 650.0, [50.0, -20.0, -30.0]),
        (2600.0, 2600.0, 300.0, [-60.0, -50.0, -20.0]),
    ];
    for y in 0..side {
        let fy = y as f32 * scale;
        let t = fy / scene;
        // Sky (light blue to pale) above the horizon, ground (green-brown) below.
        for x in 0..side {
            let fx = x as f32 * scale;
            let ground_line = 1650.0 + 90.0 * (fx * 0.0021).sin() + 40.0 * (fx * 0.0063).cos();
            let mut rgb = if fy < ground_line {
                [
                    110.0 + 90.0 * t,
                    150.0 + 70.0 * t,
                    215.0 + 25.0 * t - 20.0 * (fx / scene),
                ]
            } else {
                let d = (fy - ground_line) / 1350.0;
                [95.0 - 30.0 * d, 120.0 - 40.0 * d, 60.0 - 20.0 * d]
            };
            for &(cx, cy, r, tint) in &blobs {
                let (dx, dy) = ((fx - cx) / r, (fy - cy) / r);
                let w = (-(dx * dx + dy * dy)).exp();
                for (c, t) in rgb.iter_mut().zip(tint) {
                    *c += w * t;
                }
            }
            // Fine texture below the horizon: foliage-like ripples of varying phase.
            if fy >= ground_line {
                let ripple = (fx * 0.31 + 6.0 * (fy * 0.013).sin()).sin()
                    * (fy * 0.23 + 4.0 * (fx * 0.011).cos()).sin();
                for c in &mut rgb {
                    *c += 26.0 * ripple;
                }
            }
            // Sensor noise: luminance mostly, a little chroma.
            let luma = rng.noise() * 18.0;
            let i = (y * side + x) * 3;
            for (k, c) in rgb.iter().enumerate() {
                let value = c + luma + rng.noise() * 3.5;
                pixels[i + k] = value.clamp(0.0, 255.0) as u8;
            }
        }
    }
    pixels
}

/// [`photo_pixels`] as a phone or camera writes it: baseline JPEG, 4:2:0, at `quality`.
pub fn photo_jpeg(side: u16, quality: u8) -> Vec<u8> {
    let pixels = photo_pixels(u32::from(side));
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder
        .encode(&pixels, side, side, jpeg_encoder::ColorType::Rgb)
        .expect("encode photo-like JPEG");
    out
}

/// `duration` in milliseconds.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The median of `samples`, in milliseconds (`NaN` for none).
pub fn median_ms(samples: &[Duration]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => ms(sorted[n / 2]),
        n => (ms(sorted[n / 2 - 1]) + ms(sorted[n / 2])) / 2.0,
    }
}

/// The fastest of `samples`, in milliseconds (`NaN` for none).
pub fn min_ms(samples: &[Duration]) -> f64 {
    samples.iter().min().map_or(f64::NAN, |d| ms(*d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        let d = |ms: u64| Duration::from_millis(ms);
        assert_eq!(median_ms(&[d(3), d(1), d(2)]), 2.0);
        assert_eq!(median_ms(&[d(4), d(1), d(2), d(3)]), 2.5);
        assert!(median_ms(&[]).is_nan());
        assert_eq!(min_ms(&[d(4), d(1)]), 1.0);
    }

    #[test]
    fn images_decode_as_what_was_asked() {
        for format in [
            ImageFormat::Jpeg,
            ImageFormat::Png,
            ImageFormat::Gif,
            ImageFormat::Bmp,
        ] {
            let bytes = encode(format, 7, 5, true);
            let image = image::load_from_memory(&bytes).expect("decodes");
            assert_eq!((image.width(), image.height()), (7, 5), "{format:?}");
        }
        let photo = photo_jpeg(40, 90);
        let image = image::load_from_memory(&photo).expect("decodes");
        assert_eq!((image.width(), image.height()), (40, 40));
        let progressive = progressive_jpeg(16, 8);
        let image = image::load_from_memory(&progressive).expect("decodes");
        assert_eq!((image.width(), image.height()), (16, 8));
    }
}
