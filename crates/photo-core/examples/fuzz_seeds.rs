//! Writes the seed corpus of the `validate` fuzz target (fuzz/seeds/validate): small real images
//! of each format and variant the integrity pass handles, each prefixed with the target's format
//! selector byte. `cargo run -p photo-core --example fuzz_seeds -- fuzz/seeds/validate`

use std::error::Error;
use std::io::Cursor;
use std::path::PathBuf;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

/// The selector bytes of fuzz/fuzz_targets/validate.rs.
const JPEG: u8 = 0;
const PNG: u8 = 1;
const GIF: u8 = 2;
const BMP: u8 = 4;

fn rgb(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x * 37) as u8, (y * 53) as u8, ((x + y) * 11) as u8])
    }))
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Result<Vec<u8>, Box<dyn Error>> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format)?;
    Ok(out.into_inner())
}

fn jpeg(
    width: u16,
    height: u16,
    progressive: bool,
    restart: u16,
) -> Result<Vec<u8>, Box<dyn Error>> {
    let pixels: Vec<u8> = (0..u32::from(width) * u32::from(height) * 3)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
    encoder.set_progressive(progressive);
    encoder.set_restart_interval(restart);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder.encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)?;
    Ok(out)
}

fn animated_gif() -> Result<Vec<u8>, Box<dyn Error>> {
    let palette: Vec<u8> = (0..16u8)
        .flat_map(|v| [v * 17, 255 - v * 17, 128])
        .collect();
    let mut out = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut out, 12, 10, &palette)?;
        for shift in 0..2u8 {
            let pixels: Vec<u8> = (0..120u8).map(|i| (i / 7 + shift) % 16).collect();
            let frame = gif::Frame::from_indexed_pixels(12, 10, pixels, None);
            encoder.write_frame(&frame)?;
        }
    }
    Ok(out)
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: fuzz_seeds DIR")?);
    std::fs::create_dir_all(&dir)?;
    let rgba = DynamicImage::ImageRgba8(RgbaImage::from_fn(14, 9, |x, y| {
        Rgba([(x * 17) as u8, (y * 29) as u8, 90, ((x ^ y) * 19) as u8])
    }));
    let seeds: Vec<(&str, u8, Vec<u8>)> = vec![
        (
            "jpeg-baseline",
            JPEG,
            encode(&rgb(20, 14), ImageFormat::Jpeg)?,
        ),
        ("jpeg-420-restart", JPEG, jpeg(33, 17, false, 1)?),
        ("jpeg-progressive", JPEG, jpeg(24, 16, true, 0)?),
        (
            "jpeg-grey",
            JPEG,
            encode(
                &DynamicImage::ImageLuma8(rgb(16, 9).to_luma8()),
                ImageFormat::Jpeg,
            )?,
        ),
        ("png-rgb", PNG, encode(&rgb(13, 7), ImageFormat::Png)?),
        ("png-rgba", PNG, encode(&rgba, ImageFormat::Png)?),
        (
            "png-grey16",
            PNG,
            encode(
                &DynamicImage::ImageLuma16(rgb(9, 5).to_luma16()),
                ImageFormat::Png,
            )?,
        ),
        ("gif-still", GIF, encode(&rgb(11, 6), ImageFormat::Gif)?),
        ("gif-animated", GIF, animated_gif()?),
        ("bmp-rgb", BMP, encode(&rgb(7, 5), ImageFormat::Bmp)?),
        ("bmp-rgba", BMP, encode(&rgba, ImageFormat::Bmp)?),
    ];
    for (name, selector, bytes) in seeds {
        photo_core::validation::validate(&bytes).map_err(|e| format!("{name}: {e}"))?;
        let mut seed = vec![selector];
        seed.extend(bytes);
        std::fs::write(dir.join(name), seed)?;
    }
    Ok(())
}
