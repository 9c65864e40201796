//! Images and timings that the tests and benchmarks of `photo-core` (validation) and
//! `photo-render` (rendering) both need, in one place: deterministic pictures in every format
//! Graph accepts, a progressive JPEG, camera-like noise, and the medians the benchmarks report.
//! A dev-dependency only: nothing here is part of a product.

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
        let progressive = progressive_jpeg(16, 8);
        let image = image::load_from_memory(&progressive).expect("decodes");
        assert_eq!((image.width(), image.height()), (16, 8));
    }
}
