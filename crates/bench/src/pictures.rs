//! The bodies the benchmarks upload.

use std::path::Path;

use crate::Error;

/// A JPEG of noise of about `bytes` (the store benchmark's body).
pub(crate) fn noise_jpeg(bytes: usize, out: &Path) -> Result<serde_json::Value, Error> {
    // Noise compresses to roughly a constant number of bytes per pixel: grow the side until
    // the file reaches the size asked for.
    let mut side = 64u32;
    loop {
        let mut state = 0x9e37_79b9u32;
        let image = image::RgbImage::from_fn(side, side, |_, _| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let [a, b, c, _] = state.to_le_bytes();
            image::Rgb([a, b, c])
        });
        let mut encoded = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(image).write_to(&mut encoded, image::ImageFormat::Jpeg)?;
        let encoded = encoded.into_inner();
        if encoded.len() >= bytes || side >= 4096 {
            std::fs::write(out, &encoded)?;
            return Ok(serde_json::json!({ "bytes": encoded.len(), "side": side }));
        }
        side += 8;
    }
}

/// The quality phones and cameras write at their "fine" setting (and the rendition benchmark's).
const PHOTO_QUALITY: u8 = 93;
/// Close enough to the size asked for.
const TOLERANCE: f64 = 0.03;

/// The photo-like picture of the rendition benchmark (`test_images::photo_jpeg`), square, at
/// the side whose JPEG comes within 3% of `bytes`: a JPEG's size grows with its pixel count,
/// so the side is corrected by the square root of the ratio, a few times.
pub(crate) fn photo_jpeg(bytes: usize, out: &Path) -> Result<serde_json::Value, Error> {
    // 0.43 bytes per pixel at quality 93: the 3000x3000 picture is 3.9 MB.
    let mut side = ((bytes as f64 / 0.43).sqrt() as u32).clamp(16, 4096);
    let mut best: Option<(u32, Vec<u8>)> = None;
    for _ in 0..6 {
        let side16 = u16::try_from(side).map_err(|_| "side out of range")?;
        let encoded = test_images::photo_jpeg(side16, PHOTO_QUALITY);
        let error = |len: usize| (len as f64 - bytes as f64).abs() / bytes as f64;
        let closer = best
            .as_ref()
            .is_none_or(|(_, b)| error(encoded.len()) < error(b.len()));
        let ratio = bytes as f64 / encoded.len() as f64;
        let done = error(encoded.len()) <= TOLERANCE;
        if closer {
            best = Some((side, encoded));
        }
        if done {
            break;
        }
        side = ((f64::from(side) * ratio.sqrt()) as u32).clamp(16, 4096);
    }
    let (side, encoded) = best.ok_or("no picture made")?;
    std::fs::write(out, &encoded)?;
    Ok(serde_json::json!({ "bytes": encoded.len(), "side": side }))
}
