//! Request bodies: valid images of the four accepted formats (spec B3) and the ways a body can
//! be wrong (B3-B5), made deterministically from a small description so that a failing
//! sequence can be printed and replayed.

use std::io::Cursor;

use image::codecs::bmp::BmpEncoder;
use image::codecs::gif::GifEncoder;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};

/// The spec's upload limit (B4).
pub(crate) const MAX_BODY: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Jpeg,
    Png,
    Gif,
    Bmp,
}

impl Format {
    pub(crate) fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Gif => "image/gif",
            Format::Bmp => "image/bmp",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "JPEG",
            Format::Png => "PNG",
            Format::Gif => "GIF",
            Format::Bmp => "BMP",
        }
    }
}

/// A valid image: format, size, whether it has transparent pixels (PNG only) and a seed for
/// its pixels (so that two images of the same size differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ValidImage {
    pub(crate) format: Format,
    pub(crate) width: u16,
    pub(crate) height: u16,
    pub(crate) alpha: bool,
    pub(crate) seed: u8,
}

/// What a PUT carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Body {
    Valid(ValidImage),
    /// The image cut short: only `keep_permille`/1000 of its bytes (at least one byte less).
    Truncated {
        image: ValidImage,
        keep_permille: u16,
    },
    /// A PNG with one byte changed after the signature: a chunk CRC no longer matches.
    CorruptPng {
        image: ValidImage,
        at_permille: u16,
    },
    /// A well-formed PNG whose header claims too many pixels (B5: 10,000 a side, 40 MP).
    Bomb {
        too_wide: bool,
    },
    /// A RIFF/WEBP header and junk (B3: not an accepted format).
    WebP,
    /// Plain text.
    Text,
    /// No bytes at all (B5).
    Empty,
    /// One byte over the limit, zero-filled (B4).
    Oversize,
}

/// How the reference model sees a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Accepted: the stored original has this format and size.
    Accept {
        format: Format,
        width: u32,
        height: u32,
        transparent: bool,
    },
    /// `400 ErrorInvalidImage`, with the rule that refuses it and, when the spec fixes it,
    /// the message.
    Invalid {
        rule: &'static str,
        message: Option<&'static str>,
    },
    /// `413 RequestEntityTooLarge` (decided on `Content-Length`, D7 step 3).
    TooLarge,
}

impl Body {
    pub(crate) fn verdict(&self) -> Verdict {
        match self {
            Body::Valid(image) => Verdict::Accept {
                format: image.format,
                width: u32::from(image.width),
                height: u32::from(image.height),
                transparent: image.alpha && image.format == Format::Png,
            },
            Body::Truncated { .. } | Body::CorruptPng { .. } | Body::Bomb { .. } => {
                Verdict::Invalid {
                    rule: "B5",
                    message: None,
                }
            }
            Body::WebP | Body::Text => Verdict::Invalid {
                rule: "B3",
                message: None,
            },
            Body::Empty => Verdict::Invalid {
                rule: "B5",
                message: Some("The request body is empty."),
            },
            Body::Oversize => Verdict::TooLarge,
        }
    }

    pub(crate) fn bytes(&self) -> Vec<u8> {
        match self {
            Body::Valid(image) => encode(image),
            Body::Truncated {
                image,
                keep_permille,
            } => {
                let mut bytes = encode(image);
                let keep = (bytes.len() * usize::from(*keep_permille) / 1000)
                    .clamp(1, bytes.len().saturating_sub(1));
                bytes.truncate(keep);
                // A GIF must not end on its trailer byte by chance.
                while image.format == Format::Gif && bytes.last() == Some(&0x3B) && bytes.len() > 1
                {
                    bytes.pop();
                }
                bytes
            }
            Body::CorruptPng { image, at_permille } => {
                let png = ValidImage {
                    format: Format::Png,
                    ..*image
                };
                let mut bytes = encode(&png);
                // Past the 8-byte signature, anywhere in a chunk (length, type, data or CRC).
                let span = bytes.len().saturating_sub(8).max(1);
                let at = 8 + (span * usize::from(*at_permille) / 1000).min(span - 1);
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= 0x5A;
                }
                bytes
            }
            Body::Bomb { too_wide } => {
                let (w, h) = if *too_wide {
                    (10_001, 1)
                } else {
                    (8_000, 6_000)
                };
                png_with_claimed_size(w, h)
            }
            Body::WebP => {
                let mut b = b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00".to_vec();
                b.extend_from_slice(&[0x30, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x01, 0x00]);
                b.extend_from_slice(&[0x01, 0x00, 0x02, 0x00, 0x34, 0x25, 0xa4, 0x00]);
                b.extend_from_slice(&[0x03, 0x70, 0x00, 0xfe, 0xfb, 0x94, 0x00, 0x00]);
                b
            }
            Body::Text => b"This is not an image, just some text.\n".to_vec(),
            Body::Empty => Vec::new(),
            Body::Oversize => vec![0; MAX_BODY + 1],
        }
    }

    /// For reports: `PNG 64x48 with transparency (1234 bytes)`.
    pub(crate) fn describe(&self, len: usize) -> String {
        let image = |i: &ValidImage| {
            let alpha = if i.alpha && i.format == Format::Png {
                " with transparency"
            } else {
                ""
            };
            format!(
                "{} {}x{}{alpha} (pixel seed {})",
                i.format.name(),
                i.width,
                i.height,
                i.seed
            )
        };
        let what = match self {
            Body::Valid(i) => image(i),
            Body::Truncated { image: i, .. } => format!("truncated {}", image(i)),
            Body::CorruptPng { image: i, .. } => format!(
                "corrupt PNG (one byte changed) of {}",
                image(&ValidImage {
                    format: Format::Png,
                    ..*i
                })
            ),
            Body::Bomb { too_wide: true } => "PNG claiming 10001x1 pixels".to_owned(),
            Body::Bomb { too_wide: false } => "PNG claiming 8000x6000 pixels (48 MP)".to_owned(),
            Body::WebP => "WebP header and junk".to_owned(),
            Body::Text => "plain text".to_owned(),
            Body::Empty => "empty body".to_owned(),
            Body::Oversize => "zero bytes, one over the 4 MiB limit".to_owned(),
        };
        format!("{what} ({len} bytes)")
    }
}

/// Pixels from the seed: gradients and a checker pattern, so renditions have content.
fn pixels(image: &ValidImage, channels: usize) -> Vec<u8> {
    let (w, h) = (usize::from(image.width), usize::from(image.height));
    let seed = usize::from(image.seed);
    let mut out = Vec::with_capacity(w * h * channels);
    for y in 0..h {
        for x in 0..w {
            let checker = ((x / 8 + y / 8 + seed) % 2) * 64;
            out.push(((x * 255 / w.max(1) + seed * 37) % 256) as u8);
            out.push(((y * 255 / h.max(1) + seed * 11 + checker) % 256) as u8);
            out.push(((x ^ y ^ (seed * 5)) % 256) as u8);
            if channels == 4 {
                // The first pixel is always see-through, so the image has transparency.
                let a = if (x + y) % 3 == 0 { 96 } else { 255 };
                out.push(a);
            }
        }
    }
    out
}

fn encode(image: &ValidImage) -> Vec<u8> {
    let (w, h) = (u32::from(image.width), u32::from(image.height));
    let mut buf = Vec::new();
    let result = match image.format {
        Format::Png if image.alpha => {
            PngEncoder::new(&mut buf).write_image(&pixels(image, 4), w, h, ExtendedColorType::Rgba8)
        }
        Format::Png => {
            PngEncoder::new(&mut buf).write_image(&pixels(image, 3), w, h, ExtendedColorType::Rgb8)
        }
        Format::Jpeg => JpegEncoder::new_with_quality(&mut buf, 85).write_image(
            &pixels(image, 3),
            w,
            h,
            ExtendedColorType::Rgb8,
        ),
        Format::Bmp => {
            BmpEncoder::new(&mut buf).write_image(&pixels(image, 3), w, h, ExtendedColorType::Rgb8)
        }
        Format::Gif => {
            let mut rgba = pixels(image, 4);
            for px in rgba.chunks_mut(4) {
                if let Some(a) = px.get_mut(3) {
                    *a = 255;
                }
            }
            let mut encoder = GifEncoder::new_with_speed(Cursor::new(&mut buf), 30);
            let result = encoder.encode(&rgba, w, h, ExtendedColorType::Rgba8);
            drop(encoder);
            result
        }
    };
    // Encoding in memory of a valid size cannot fail; should it, the model would expect an
    // accepted image and the endpoint's refusal shows the problem in the report.
    let _ = result;
    buf
}

/// A complete, CRC-correct PNG whose IHDR claims `width` x `height`.
fn png_with_claimed_size(width: u32, height: u32) -> Vec<u8> {
    let mut png = encode(&ValidImage {
        format: Format::Png,
        width: 1,
        height: 1,
        alpha: false,
        seed: 0,
    });
    // Signature (8), then IHDR: length (4) at 8, type at 12, width at 16, height at 20,
    // 5 more data bytes, CRC at 29 over bytes 12..29.
    if png.len() >= 33 {
        png[16..20].copy_from_slice(&width.to_be_bytes());
        png[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
    }
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Width and height of an encoded image, read from its header.
pub(crate) fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
}

/// Whether an image has a pixel with alpha below 255 (decodes it fully).
pub(crate) fn has_transparency(bytes: &[u8]) -> Option<bool> {
    let image = image::load_from_memory(bytes).ok()?;
    if !image.color().has_alpha() {
        return Some(false);
    }
    Some(image.to_rgba8().pixels().any(|p| p.0[3] < 255))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(format: Format, w: u16, h: u16, alpha: bool) -> ValidImage {
        ValidImage {
            format,
            width: w,
            height: h,
            alpha,
            seed: 3,
        }
    }

    #[test]
    fn valid_images_decode_to_their_size() {
        for format in [Format::Jpeg, Format::Png, Format::Gif, Format::Bmp] {
            for (w, h) in [(1, 1), (48, 64), (120, 49)] {
                let bytes = Body::Valid(valid(format, w, h, true)).bytes();
                let decoded = image::load_from_memory(&bytes).unwrap();
                assert_eq!(
                    (decoded.width(), decoded.height()),
                    (u32::from(w), u32::from(h)),
                    "{format:?}"
                );
                assert_eq!(dimensions(&bytes), Some((u32::from(w), u32::from(h))));
            }
        }
        let png = Body::Valid(valid(Format::Png, 4, 4, true)).bytes();
        assert_eq!(has_transparency(&png), Some(true));
        let opaque = Body::Valid(valid(Format::Png, 4, 4, false)).bytes();
        assert_eq!(has_transparency(&opaque), Some(false));
    }

    #[test]
    fn broken_bodies_are_broken() {
        let image = valid(Format::Png, 20, 20, false);
        let whole = Body::Valid(image).bytes();
        // Truncated: the IEND chunk is gone (decoders may still read the pixels).
        let cut = Body::Truncated {
            image,
            keep_permille: 999,
        }
        .bytes();
        assert!(cut.len() < whole.len() && whole.starts_with(&cut));
        assert!(!cut.ends_with(b"IEND\xAE\x42\x60\x82"));
        // Corrupt: exactly one byte differs, after the signature.
        let corrupt = Body::CorruptPng {
            image,
            at_permille: 500,
        }
        .bytes();
        let diffs: Vec<usize> = (0..whole.len())
            .filter(|i| whole[*i] != corrupt[*i])
            .collect();
        assert_eq!(diffs.len(), 1);
        assert!(diffs[0] >= 8);
        assert_eq!(
            dimensions(&Body::Bomb { too_wide: true }.bytes()),
            Some((10_001, 1))
        );
        assert_eq!(
            dimensions(&Body::Bomb { too_wide: false }.bytes()),
            Some((8000, 6000))
        );
        let gif = Body::Truncated {
            image: valid(Format::Gif, 30, 30, false),
            keep_permille: 999,
        }
        .bytes();
        assert_ne!(gif.last(), Some(&0x3B));
        assert_eq!(Body::Oversize.bytes().len(), MAX_BODY + 1);
    }
}
