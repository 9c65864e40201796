//! Upload validation (spec B3-B5).
//!
//! [`validate`] decides whether an uploaded body is a photo Graph would accept, and that its
//! sizes can be rendered, without fully decoding its pixels. The checks run in this order, and
//! the first failure is reported:
//!
//! 1. the body is not empty ([`InvalidImage::Empty`]);
//! 2. it is at most [`MAX_PHOTO_BYTES`] ([`InvalidImage::TooLarge`]);
//! 3. its format, sniffed from the magic bytes (a declared `Content-Type` is never trusted), is
//!    JPEG, PNG, GIF or BMP ([`InvalidImage::UnsupportedFormat`], naming what was found);
//! 4. its header is readable ([`InvalidImage::Malformed`]) — read with the `image` crate's
//!    decoders under [`image::Limits`], which parse headers only;
//! 5. its dimensions are 1..=[`MAX_SIDE`] a side and at most [`MAX_PIXELS`] in all
//!    ([`InvalidImage::BadDimensions`]);
//! 6. its container is structurally complete ([`InvalidImage::Truncated`] /
//!    [`InvalidImage::Malformed`]);
//! 7. its compressed pixel data decodes ([`InvalidImage::Corrupt`]).
//!
//! Step 6 is a small hand-written walk over the container (a missing JPEG EOI, PNG IEND or GIF
//! trailer, or BMP pixel bytes the header promises: what an interrupted upload leaves).
//! Step 7 is an integrity pass that is much cheaper than a full decode (which costs tens to
//! hundreds of milliseconds and up to ~160 MB for a 40 MP image): it undoes only the entropy
//! coding and counts what comes out — JPEG: Huffman decoding without dequantisation or IDCT
//! (`jpeg/`); PNG: inflating without unfiltering (`png.rs`); GIF: LZW decoding without colour
//! mapping (`gif.rs`); BMP: walking the RLE runs (`bmp.rs`). It is at least as strict as the
//! decoders the renderer (`photo-render`'s `render_all`) uses, so that whatever is accepted can be rendered
//! (a test and the fuzz targets hold this invariant). Measured costs: docs/PERFORMANCE.md.

mod bmp;
mod describe;
mod gif;
mod jpeg;
mod png;

use std::io::Cursor;

use image::metadata::Orientation;
use image::{ImageDecoder, ImageError, ImageReader, Limits};

use describe::describe_unsupported;

// Re-exported where they were first defined, for callers that name them through validation.
use crate::limits::{check_photo_size, TooLarge};
pub use crate::limits::{MAX_PHOTO_BYTES, MAX_PIXELS, MAX_SIDE};

/// What a decoder may allocate while reading a header (ICC profiles, text chunks, ...).
const HEADER_ALLOC_LIMIT: u64 = 64 * 1024 * 1024;

pub use crate::format::ImageFormat;
use crate::format::{BMP_DIB_SIZES, PNG_MAGIC};
#[cfg(test)]
use crate::format::{GIF87_MAGIC, GIF89_MAGIC, JPEG_MAGIC};

impl ImageFormat {
    /// The human name used in messages.
    fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "JPEG",
            Self::Png => "PNG",
            Self::Gif => "GIF",
            Self::Bmp => "BMP",
        }
    }
    fn to_image_format(self) -> image::ImageFormat {
        match self {
            Self::Jpeg => image::ImageFormat::Jpeg,
            Self::Png => image::ImageFormat::Png,
            Self::Gif => image::ImageFormat::Gif,
            Self::Bmp => image::ImageFormat::Bmp,
        }
    }
}

/// A valid photo: its format and its size as displayed (after the EXIF orientation is applied,
/// so orientations 5-8 swap width and height).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    /// The sniffed format.
    pub format: ImageFormat,
    /// Width as displayed, in pixels.
    pub width: u32,
    /// Height as displayed, in pixels.
    pub height: u32,
}

/// Why a body is not an acceptable photo. The `Display` text is the Graph `error.message`
/// (`400 ErrorInvalidImage`; `413` for [`TooLarge`](Self::TooLarge)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidImage {
    /// No body at all.
    #[error("The request body is empty.")]
    Empty,
    /// Over [`MAX_PHOTO_BYTES`]: `413`, not `400`.
    #[error(transparent)]
    TooLarge(TooLarge),
    /// Not JPEG, PNG, GIF or BMP (spec B3).
    #[error(
        "The image format is not supported: found {found}; only JPEG, PNG, GIF and BMP images are accepted."
    )]
    UnsupportedFormat {
        /// What the body looks like instead.
        found: String,
    },
    /// The container ends early: an interrupted upload.
    #[error("The {} image is incomplete: {}.", format.name(), sentence_part(reason))]
    Truncated {
        /// The sniffed format.
        format: ImageFormat,
        /// What is missing.
        reason: String,
    },
    /// The header or container is not well-formed.
    #[error("The {} image is malformed: {}.", format.name(), sentence_part(reason))]
    Malformed {
        /// The sniffed format.
        format: ImageFormat,
        /// What is wrong.
        reason: String,
    },
    /// The compressed pixel data does not decode.
    #[error("The {} image is corrupt: {}.", format.name(), sentence_part(reason))]
    Corrupt {
        /// The sniffed format.
        format: ImageFormat,
        /// What the integrity pass met.
        reason: String,
    },
    /// Zero, or over [`MAX_SIDE`] a side or [`MAX_PIXELS`] in all (spec B5).
    #[error(
        "The image is {} x {} pixels, which is not allowed: {}.",
        group_digits(*width),
        group_digits(*height),
        sentence_part(reason)
    )]
    BadDimensions {
        /// Width as stored, in pixels.
        width: u64,
        /// Height as stored, in pixels.
        height: u64,
        /// Which limit it breaks.
        reason: String,
    },
}

/// Checks an uploaded body (spec B3-B5) and returns its format and displayed size.
pub fn validate(bytes: &[u8]) -> Result<ImageInfo, InvalidImage> {
    if bytes.is_empty() {
        return Err(InvalidImage::Empty);
    }
    check_photo_size(u64::try_from(bytes.len()).unwrap_or(u64::MAX))
        .map_err(InvalidImage::TooLarge)?;
    let format = ImageFormat::sniff(bytes).ok_or_else(|| InvalidImage::UnsupportedFormat {
        found: describe_unsupported(bytes),
    })?;
    let header = read_header(format, bytes)?;
    check_dimensions(u64::from(header.width), u64::from(header.height))?;
    check_contents(format, bytes)?;
    let swaps = matches!(
        header.orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    let (width, height) = if swaps {
        (header.height, header.width)
    } else {
        (header.width, header.height)
    };
    Ok(ImageInfo {
        format,
        width,
        height,
    })
}

// ---------------------------------------------------------------------------------------------
// Messages.

/// `reason` as a clause inside a sentence: one line, no trailing period.
fn sentence_part(reason: &str) -> String {
    let one_line = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.trim_end_matches('.').to_owned()
}

/// `4194304` -> `4,194,304`.
fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
        .collect();
    groups.reverse();
    groups.join(",")
}

// ---------------------------------------------------------------------------------------------
// Header and dimensions.

struct Header {
    width: u32,
    height: u32,
    orientation: Orientation,
}

/// Reads the stored width, height and EXIF orientation with the `image` decoders, which parse the
/// header only (no pixel data is decoded). Limits keep a hostile header from allocating much.
fn read_header(format: ImageFormat, bytes: &[u8]) -> Result<Header, InvalidImage> {
    // A decoder bug must not take the request down with it: a panic on hostile input is turned
    // into a rejection.
    let outcome = std::panic::catch_unwind(|| decode_header(format, bytes));
    match outcome {
        Ok(Ok(header)) => Ok(header),
        Ok(Err(error)) => Err(header_failure(format, bytes, decoder_reason(&error))),
        Err(_) => Err(header_failure(
            format,
            bytes,
            "its header could not be read".to_owned(),
        )),
    }
}

fn decode_header(format: ImageFormat, bytes: &[u8]) -> Result<Header, ImageError> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(HEADER_ALLOC_LIMIT);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.to_image_format());
    reader.limits(limits);
    let mut decoder = reader.into_decoder()?;
    let (width, height) = decoder.dimensions();
    // Unreadable EXIF is not a reason to refuse a photo: it is then shown as stored.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    Ok(Header {
        width,
        height,
        orientation,
    })
}

/// The error for a header the decoder refused: out-of-range dimensions (the decoders refuse zero
/// sizes and, under our limits, sides over [`MAX_SIDE`]), else a truncated or malformed container
/// if the structural walk says so, else the decoder's reason.
fn header_failure(format: ImageFormat, bytes: &[u8], reason: String) -> InvalidImage {
    if let Some((width, height)) = raw_dimensions(format, bytes) {
        if let Err(error) = check_dimensions(width, height) {
            return error;
        }
    }
    if let Err(error) = check_structure(format, bytes) {
        return error;
    }
    InvalidImage::Malformed { format, reason }
}

fn decoder_reason(error: &ImageError) -> String {
    match error {
        ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "its header is cut short".to_owned()
        }
        ImageError::Decoding(e) => match std::error::Error::source(e) {
            Some(cause) => format!("its header could not be read ({cause})"),
            None => "its header could not be read".to_owned(),
        },
        ImageError::Limits(_) => "its header exceeds the decoder's limits".to_owned(),
        ImageError::Unsupported(e) => format!("it uses an unsupported feature ({e})"),
        other => format!("its header could not be read ({other})"),
    }
}

fn check_dimensions(width: u64, height: u64) -> Result<(), InvalidImage> {
    let reason = if width == 0 || height == 0 {
        "the width and height must each be at least 1 pixel".to_owned()
    } else if width > u64::from(MAX_SIDE) || height > u64::from(MAX_SIDE) {
        format!(
            "each side must be at most {} pixels",
            group_digits(u64::from(MAX_SIDE))
        )
    } else if width.saturating_mul(height) > MAX_PIXELS {
        format!(
            "the image must have at most {} pixels ({} megapixels) in all",
            group_digits(MAX_PIXELS),
            MAX_PIXELS / 1_000_000
        )
    } else {
        return Ok(());
    };
    Err(InvalidImage::BadDimensions {
        width,
        height,
        reason,
    })
}

/// The stored width and height as the header declares them, read by hand (used only to explain
/// why the decoder refused a header).
fn raw_dimensions(format: ImageFormat, bytes: &[u8]) -> Option<(u64, u64)> {
    match format {
        ImageFormat::Jpeg => jpeg::jpeg_frame_dimensions(bytes),
        ImageFormat::Png => {
            if bytes.get(12..16) != Some(b"IHDR".as_slice()) {
                return None;
            }
            Some((u64::from(be32(bytes, 16)?), u64::from(be32(bytes, 20)?)))
        }
        ImageFormat::Gif => Some((u64::from(le16(bytes, 6)?), u64::from(le16(bytes, 8)?))),
        ImageFormat::Bmp => {
            let header = bmp::parse_bmp(bytes).ok()?;
            Some((header.width.unsigned_abs(), header.height.unsigned_abs()))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Structural completeness and pixel data integrity.

/// The container walk alone (step 6).
fn check_structure(format: ImageFormat, bytes: &[u8]) -> Result<(), InvalidImage> {
    match format {
        ImageFormat::Jpeg => jpeg::check_structure(bytes),
        ImageFormat::Png => png::check_structure(bytes),
        ImageFormat::Gif => gif::check_structure(bytes),
        ImageFormat::Bmp => bmp::check_structure(bytes),
    }
}

/// The container walk, then the pixel data check (steps 6 and 7).
fn check_contents(format: ImageFormat, bytes: &[u8]) -> Result<(), InvalidImage> {
    match format {
        ImageFormat::Jpeg => jpeg::check(bytes),
        ImageFormat::Png => png::check(bytes),
        ImageFormat::Gif => gif::check(bytes),
        ImageFormat::Bmp => bmp::check(bytes),
    }
}

fn truncated(format: ImageFormat, reason: impl Into<String>) -> InvalidImage {
    InvalidImage::Truncated {
        format,
        reason: reason.into(),
    }
}

fn malformed(format: ImageFormat, reason: impl Into<String>) -> InvalidImage {
    InvalidImage::Malformed {
        format,
        reason: reason.into(),
    }
}

fn corrupt(format: ImageFormat, reason: impl Into<String>) -> InvalidImage {
    InvalidImage::Corrupt {
        format,
        reason: reason.into(),
    }
}

fn be16(bytes: &[u8], offset: usize) -> Option<u16> {
    let raw = bytes.get(offset..offset.checked_add(2)?)?;
    Some(u16::from_be_bytes(raw.try_into().ok()?))
}

fn be32(bytes: &[u8], offset: usize) -> Option<u32> {
    let raw = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_be_bytes(raw.try_into().ok()?))
}

fn le16(bytes: &[u8], offset: usize) -> Option<u16> {
    let raw = bytes.get(offset..offset.checked_add(2)?)?;
    Some(u16::from_le_bytes(raw.try_into().ok()?))
}

fn le32(bytes: &[u8], offset: usize) -> Option<u32> {
    let raw = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes(raw.try_into().ok()?))
}

#[cfg(test)]
mod tests;
