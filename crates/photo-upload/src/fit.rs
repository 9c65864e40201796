//! Fitting (`graph-photo photo put --fit`, `sync --fit`): make a photo acceptable to Graph
//! (spec B3-B5) by downscaling and re-encoding it, and leave every photo that already fits
//! byte-for-byte alone.

use std::io::Cursor;

use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage};
use photo_core::validation::{validate, InvalidImage, MAX_PHOTO_BYTES, MAX_SIDE};

/// The longer side of a re-encoded photo, at most: large enough for any rendition (the largest
/// is 648 px) and for the original as viewed, small enough to stay well under 4 MiB.
pub const FIT_MAX_SIDE: u32 = 4096;
/// JPEG qualities tried in turn until the result is under [`MAX_PHOTO_BYTES`].
const QUALITIES: [u8; 6] = [90, 80, 70, 60, 50, 40];
/// Below this longer side, giving up beats a postage stamp.
const MIN_SIDE: u32 = 256;
/// What decoding one photo may allocate.
const DECODE_ALLOC_LIMIT: u64 = 2 * 1024 * 1024 * 1024;

/// What [`fit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fitted {
    /// The photo is acceptable as it is (or cannot be helped: the server will say why).
    Unchanged,
    /// The photo was decoded, oriented, scaled and encoded as JPEG.
    Reencoded {
        bytes: Vec<u8>,
        width: u32,
        height: u32,
        quality: u8,
        /// Why it had to be re-encoded.
        reason: String,
    },
}

/// Why a photo that needs fitting could not be fitted.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// The photo needs fitting (`reason`) but its pixels cannot be decoded.
    #[error("cannot decode the image to fit it ({reason}): {error}")]
    Decode { reason: String, error: String },
    /// The JPEG encoder failed.
    #[error("cannot encode the fitted image: {0}")]
    Encode(String),
    /// Even scaled down to 256 px on its longer side, at the lowest quality, it
    /// would not fit.
    #[error("cannot make the image fit in {MAX_PHOTO_BYTES} bytes")]
    TooBig,
}

/// Whether `bytes` would be refused for its size, dimensions or format (what re-encoding can
/// cure), and why.
pub fn needs_fit(bytes: &[u8]) -> Option<String> {
    match validate(bytes) {
        Err(e @ (InvalidImage::TooLarge(_) | InvalidImage::BadDimensions { .. })) => {
            Some(e.to_string())
        }
        Err(e @ InvalidImage::UnsupportedFormat { .. }) => Some(e.to_string()),
        // Acceptable, or empty/truncated/malformed: re-encoding would hide a real problem.
        _ => None,
    }
}

/// Makes `bytes` acceptable when it is too large, too big a side, or decodable in another
/// format: EXIF orientation applied, the longer side at most [`FIT_MAX_SIDE`], JPEG at the
/// highest quality (90, 80, ... 40) that fits in [`MAX_PHOTO_BYTES`]. Photos that already fit
/// come back [`Fitted::Unchanged`].
pub fn fit(bytes: &[u8]) -> Result<Fitted, FitError> {
    let Some(reason) = needs_fit(bytes) else {
        return Ok(Fitted::Unchanged);
    };
    let unsupported_format = matches!(validate(bytes), Err(InvalidImage::UnsupportedFormat { .. }));
    let image = match decode_oriented(bytes) {
        Ok(image) => image,
        // Not an image we can read at all: let the server explain (ErrorInvalidImage).
        Err(_) if unsupported_format => return Ok(Fitted::Unchanged),
        Err(error) => return Err(FitError::Decode { reason, error }),
    };
    let rgb = flatten(image);
    let mut max_side = FIT_MAX_SIDE.min(MAX_SIDE);
    loop {
        let scaled = scale_down(&rgb, max_side);
        for quality in QUALITIES {
            let encoded = encode_jpeg(&scaled, quality)?;
            if encoded.len() <= MAX_PHOTO_BYTES {
                return Ok(Fitted::Reencoded {
                    bytes: encoded,
                    width: scaled.width(),
                    height: scaled.height(),
                    quality,
                    reason,
                });
            }
        }
        max_side = max_side * 3 / 4;
        if max_side < MIN_SIDE {
            return Err(FitError::TooBig);
        }
    }
}

fn decode_oriented(bytes: &[u8]) -> Result<DynamicImage, String> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(DECODE_ALLOC_LIMIT);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| e.to_string())?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// RGB, with any transparency composed over white (JPEG has no alpha).
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over_white = |c: u8| {
            let (c, a) = (u32::from(c), u32::from(a));
            // (c*a + 255*(255-a)) / 255, rounded; at most 255.
            u8::try_from((c * a + 255 * (255 - a) + 127) / 255).unwrap_or(u8::MAX)
        };
        image::Rgb([over_white(r), over_white(g), over_white(b)])
    })
}

/// The image with its longer side at most `max_side` (aspect ratio kept, each side at least 1).
fn scale_down(image: &RgbImage, max_side: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    let longer = w.max(h);
    if longer <= max_side {
        return image.clone();
    }
    let scale = |side: u32| {
        let scaled =
            (u64::from(side) * u64::from(max_side) + u64::from(longer) / 2) / u64::from(longer);
        u32::try_from(scaled).unwrap_or(max_side).clamp(1, max_side)
    };
    image::imageops::resize(image, scale(w), scale(h), FilterType::CatmullRom)
}

fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, FitError> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(image)
        .map_err(|e| FitError::Encode(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, Rgb, Rgba, RgbaImage};
    use photo_core::validation::ImageFormat;

    fn png(image: &DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    /// Pseudo-random bytes (xorshift): noise does not compress.
    fn noise(len: usize) -> Vec<u8> {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect()
    }

    /// A minimal big-endian TIFF/EXIF block with only an Orientation tag.
    fn exif_orientation(value: u16) -> Vec<u8> {
        let mut tiff = b"MM\0\x2A\0\0\0\x08".to_vec();
        tiff.extend_from_slice(&1u16.to_be_bytes()); // one IFD entry
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_be_bytes()); // count
        tiff.extend_from_slice(&value.to_be_bytes());
        tiff.extend_from_slice(&[0, 0]); // padding of the value field
        tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
        tiff
    }

    fn decode(bytes: &[u8]) -> RgbImage {
        image::load_from_memory(bytes).unwrap().into_rgb8()
    }

    #[test]
    fn photos_that_fit_are_untouched() {
        let small = png(&DynamicImage::ImageRgb8(RgbImage::from_pixel(
            64,
            48,
            Rgb([1, 2, 3]),
        )));
        assert_eq!(fit(&small).unwrap(), Fitted::Unchanged);
        assert_eq!(needs_fit(&small), None);
        // Broken or non-image bodies are left for the server to explain.
        assert_eq!(fit(b"").unwrap(), Fitted::Unchanged);
        assert_eq!(fit(b"just some text").unwrap(), Fitted::Unchanged);
        assert_eq!(fit(&small[..small.len() - 5]).unwrap(), Fitted::Unchanged);
    }

    #[test]
    fn a_noisy_png_over_4_mib_becomes_a_jpeg_under_the_limit() {
        let (w, h) = (1400u32, 1100u32);
        let pixels = RgbImage::from_raw(w, h, noise((w * h * 3) as usize)).unwrap();
        let big = png(&DynamicImage::ImageRgb8(pixels));
        assert!(big.len() > MAX_PHOTO_BYTES, "{} bytes", big.len());
        assert!(needs_fit(&big)
            .unwrap()
            .contains("exceeds the maximum photo size"));

        let Fitted::Reencoded {
            bytes,
            width,
            height,
            quality,
            ..
        } = fit(&big).unwrap()
        else {
            panic!("not re-encoded")
        };
        assert!(bytes.len() <= MAX_PHOTO_BYTES);
        assert_eq!((width, height), (w, h), "no need to scale");
        assert!(quality <= 90);
        let info = validate(&bytes).unwrap();
        assert_eq!(info.format, ImageFormat::Jpeg);
        assert_eq!((info.width, info.height), (w, h));
    }

    #[test]
    fn a_too_wide_image_is_scaled_and_exif_orientation_applied() {
        // 10,500 x 10: left half red, right half blue; EXIF 6 = rotate 90° clockwise to view,
        // so viewed it is 10 x 10,500 with red at the top.
        let source = RgbImage::from_fn(10_500, 10, |x, _| {
            if x < 5_250 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let mut jpeg = Vec::new();
        let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95);
        encoder.set_exif_metadata(exif_orientation(6)).unwrap();
        encoder.encode_image(&source).unwrap();
        assert!(
            matches!(validate(&jpeg), Err(InvalidImage::BadDimensions { .. })),
            "{:?}",
            validate(&jpeg)
        );

        let Fitted::Reencoded {
            bytes,
            width,
            height,
            ..
        } = fit(&jpeg).unwrap()
        else {
            panic!("not re-encoded")
        };
        assert_eq!((width, height), (4, FIT_MAX_SIDE));
        let info = validate(&bytes).unwrap();
        assert_eq!(
            (info.format, info.width, info.height),
            (ImageFormat::Jpeg, 4, 4096)
        );
        let viewed = decode(&bytes);
        let top = viewed.get_pixel(2, 10).0;
        let bottom = viewed.get_pixel(2, 4085).0;
        assert!(top[0] > 200 && top[2] < 60, "top {top:?} should be red");
        assert!(
            bottom[2] > 200 && bottom[0] < 60,
            "bottom {bottom:?} should be blue"
        );
    }

    #[test]
    fn transparency_is_flattened_onto_white() {
        // Too tall, half transparent.
        let rgba = RgbaImage::from_fn(80, 10_001, |x, _| {
            if x < 40 {
                Rgba([0, 0, 0, 0])
            } else {
                Rgba([0, 0, 0, 255])
            }
        });
        let big = png(&DynamicImage::ImageRgba8(rgba));
        let Fitted::Reencoded { bytes, .. } = fit(&big).unwrap() else {
            panic!("not re-encoded")
        };
        let viewed = decode(&bytes);
        assert!(viewed.get_pixel(0, 100).0.iter().all(|&c| c > 220));
        assert!(viewed
            .get_pixel(viewed.width() - 1, 100)
            .0
            .iter()
            .all(|&c| c < 40));
    }

    /// What `--fit` promises: a photo in a format Graph refuses but this client decodes comes
    /// back as a JPEG the server accepts, whatever its size.
    #[test]
    fn formats_graph_refuses_are_converted_to_jpeg() {
        let picture = DynamicImage::ImageRgb8(RgbImage::from_fn(120, 80, |x, y| {
            Rgb([(x * 2) as u8, (y * 3) as u8, 77])
        }));
        for format in [
            image::ImageFormat::WebP,
            image::ImageFormat::Tiff,
            image::ImageFormat::Ico,
            image::ImageFormat::Pnm,
            image::ImageFormat::Qoi,
        ] {
            // Icons carry alpha (image's ICO decoder reads only RGBA PNG inside).
            let picture = match format {
                image::ImageFormat::Ico => DynamicImage::ImageRgba8(picture.to_rgba8()),
                _ => picture.clone(),
            };
            let mut bytes = Vec::new();
            picture
                .write_to(&mut Cursor::new(&mut bytes), format)
                .unwrap();
            assert!(
                matches!(
                    validate(&bytes),
                    Err(InvalidImage::UnsupportedFormat { .. })
                ),
                "{format:?} is refused as it is"
            );
            match fit(&bytes).unwrap() {
                Fitted::Reencoded {
                    bytes: jpeg,
                    width,
                    height,
                    ..
                } => {
                    let info = validate(&jpeg).unwrap();
                    assert_eq!(info.format, ImageFormat::Jpeg, "{format:?}");
                    assert_eq!((width, height), (120, 80), "{format:?}");
                    assert_eq!((info.width, info.height), (120, 80), "{format:?}");
                }
                other => panic!("{format:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn undecodable_oversized_bodies_are_an_error() {
        let mut fake = b"\x89PNG\r\n\x1a\n".to_vec();
        fake.resize(MAX_PHOTO_BYTES + 1, 0);
        assert!(matches!(fit(&fake), Err(FitError::Decode { .. })));
    }
}
