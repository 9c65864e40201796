//! Upload validation (spec B3-B5).
//!
//! [`validate`] decides whether an uploaded body is a photo Graph would accept, without decoding
//! its pixels. The checks run in this order, and the first failure is reported:
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
//!    [`InvalidImage::Malformed`]).
//!
//! Step 6 is a small hand-written walk over the container, not a pixel decode: fully decoding a
//! 40 MP image on every upload costs hundreds of milliseconds and ~160 MB of memory, while the
//! failure that actually happens — truncation, e.g. an interrupted upload — is caught structurally
//! (a missing JPEG EOI, PNG IEND or GIF trailer, or BMP pixel bytes the header promises).

use std::io::Cursor;

use image::metadata::Orientation;
use image::{ImageDecoder, ImageError, ImageReader, Limits};

/// The largest accepted body, in bytes (spec B4: 4 MiB).
pub const MAX_PHOTO_BYTES: usize = 4 * 1024 * 1024;
/// The largest accepted width or height, in pixels (spec B5).
pub const MAX_SIDE: u32 = 10_000;
/// The largest accepted pixel count, width × height (spec B5: 40 megapixels).
pub const MAX_PIXELS: u64 = 40_000_000;

/// What a decoder may allocate while reading a header (ICC profiles, text chunks, ...).
const HEADER_ALLOC_LIMIT: u64 = 64 * 1024 * 1024;

/// The image formats Graph accepts for a profile photo (spec B3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Gif,
    Bmp,
}

const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
const GIF87_MAGIC: &[u8] = b"GIF87a";
const GIF89_MAGIC: &[u8] = b"GIF89a";
const BMP_MAGIC: &[u8] = b"BM";
/// DIB header sizes a BMP may carry (core, OS/2 2.x short, INFO, V2, V3, OS/2 2.x, V4, V5).
const BMP_DIB_SIZES: &[u32] = &[12, 16, 40, 52, 56, 64, 108, 124];

impl ImageFormat {
    /// The media type, e.g. `image/jpeg`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Gif => "image/gif",
            Self::Bmp => "image/bmp",
        }
    }

    /// The format of a media type: the inverse of [`content_type`](Self::content_type),
    /// case-insensitive, ignoring parameters (`image/PNG; q=1`). Common aliases (`image/jpg`,
    /// `image/pjpeg`, `image/x-bmp`, `image/x-ms-bmp`) are recognised too.
    pub fn from_content_type(s: &str) -> Option<Self> {
        let essence = s.split(';').next().unwrap_or_default().trim();
        let is = |name: &str| essence.eq_ignore_ascii_case(name);
        if is("image/jpeg") || is("image/jpg") || is("image/pjpeg") {
            Some(Self::Jpeg)
        } else if is("image/png") {
            Some(Self::Png)
        } else if is("image/gif") {
            Some(Self::Gif)
        } else if is("image/bmp") || is("image/x-bmp") || is("image/x-ms-bmp") {
            Some(Self::Bmp)
        } else {
            None
        }
    }

    /// The format whose signature (magic bytes) `bytes` starts with. A body shorter than a
    /// signature that is a prefix of it (at least 2 bytes; 3 for GIF) also counts, so that a
    /// cut-short upload is reported as an incomplete image rather than an unknown format.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if starts_with_magic(bytes, JPEG_MAGIC, 2) {
            Some(Self::Jpeg)
        } else if starts_with_magic(bytes, PNG_MAGIC, 2) {
            Some(Self::Png)
        } else if starts_with_magic(bytes, GIF87_MAGIC, 3)
            || starts_with_magic(bytes, GIF89_MAGIC, 3)
        {
            Some(Self::Gif)
        } else if bytes.starts_with(BMP_MAGIC) && plausible_bmp_dib_size(bytes) {
            Some(Self::Bmp)
        } else {
            None
        }
    }

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

fn starts_with_magic(bytes: &[u8], magic: &[u8], min_prefix: usize) -> bool {
    bytes.starts_with(magic)
        || (bytes.len() >= min_prefix && bytes.len() < magic.len() && magic.starts_with(bytes))
}

/// "BM" alone is weak (text can start with it): also require a known DIB header size, when the
/// body is long enough to have one.
fn plausible_bmp_dib_size(bytes: &[u8]) -> bool {
    match le32(bytes, 14) {
        Some(size) => BMP_DIB_SIZES.contains(&size),
        None => true,
    }
}

/// A valid photo: its format and its size as displayed (after the EXIF orientation is applied,
/// so orientations 5-8 swap width and height).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

/// Why a body is not an acceptable photo. The `Display` text is the Graph `error.message`
/// (`400 ErrorInvalidImage`; `413` for [`TooLarge`](Self::TooLarge)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidImage {
    #[error("The request body is empty.")]
    Empty,
    #[error(
        "The photo is {} bytes, more than the limit of {}.",
        group_digits(*size as u64),
        describe_limit(*limit)
    )]
    TooLarge { size: usize, limit: usize },
    #[error(
        "The image format is not supported: found {found}; only JPEG, PNG, GIF and BMP images are accepted."
    )]
    UnsupportedFormat { found: String },
    #[error("The {} image is incomplete: {}.", format.name(), sentence_part(reason))]
    Truncated { format: ImageFormat, reason: String },
    #[error("The {} image is malformed: {}.", format.name(), sentence_part(reason))]
    Malformed { format: ImageFormat, reason: String },
    #[error(
        "The image is {} x {} pixels, which is not allowed: {}.",
        group_digits(*width),
        group_digits(*height),
        sentence_part(reason)
    )]
    BadDimensions {
        width: u64,
        height: u64,
        reason: String,
    },
}

/// Checks an uploaded body (spec B3-B5) and returns its format and displayed size.
pub fn validate(bytes: &[u8]) -> Result<ImageInfo, InvalidImage> {
    if bytes.is_empty() {
        return Err(InvalidImage::Empty);
    }
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(InvalidImage::TooLarge {
            size: bytes.len(),
            limit: MAX_PHOTO_BYTES,
        });
    }
    let format = ImageFormat::sniff(bytes).ok_or_else(|| InvalidImage::UnsupportedFormat {
        found: describe_unsupported(bytes),
    })?;
    let header = read_header(format, bytes)?;
    check_dimensions(u64::from(header.width), u64::from(header.height))?;
    check_structure(format, bytes)?;
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

fn describe_limit(limit: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if limit >= MIB && limit / MIB * MIB == limit {
        format!("{} bytes ({} MiB)", group_digits(limit as u64), limit / MIB)
    } else {
        format!("{} bytes", group_digits(limit as u64))
    }
}

/// Names what an unsupported body looks like, for [`InvalidImage::UnsupportedFormat`].
fn describe_unsupported(bytes: &[u8]) -> String {
    let at = |offset: usize, magic: &[u8]| {
        offset
            .checked_add(magic.len())
            .and_then(|end| bytes.get(offset..end))
            == Some(magic)
    };
    if at(0, b"RIFF") {
        return if at(8, b"WEBP") {
            "WebP image"
        } else if at(8, b"AVI ") {
            "AVI video"
        } else if at(8, b"WAVE") {
            "WAV audio"
        } else {
            "RIFF data"
        }
        .to_owned();
    }
    if at(4, b"ftyp") {
        return describe_iso_media(bytes);
    }
    if at(0, b"II*\0") || at(0, b"MM\0*") {
        return "TIFF image".to_owned();
    }
    if at(0, &[0, 0, 1, 0]) {
        return "ICO icon".to_owned();
    }
    if at(0, &[0, 0, 2, 0]) {
        return "CUR cursor".to_owned();
    }
    if at(0, b"%PDF-") {
        return "PDF document".to_owned();
    }
    if at(0, &[0xFF, 0x0A]) || at(0, b"\0\0\0\x0CJXL \r\n\x87\n") {
        return "JPEG XL image".to_owned();
    }
    if at(0, b"\0\0\0\x0CjP  \r\n\x87\n") || at(0, &[0xFF, 0x4F, 0xFF, 0x51]) {
        return "JPEG 2000 image".to_owned();
    }
    if at(0, b"8BPS") {
        return "Photoshop (PSD) document".to_owned();
    }
    if at(0, b"qoif") {
        return "QOI image".to_owned();
    }
    if at(0, b"PK\x03\x04") {
        return "ZIP archive".to_owned();
    }
    if at(0, &[0x1F, 0x8B]) {
        return "gzip-compressed data".to_owned();
    }
    if at(0, &[0xFF, 0xFE]) || at(0, &[0xFE, 0xFF]) {
        return "UTF-16 text".to_owned();
    }
    if let Some(text) = text_sample(bytes) {
        return describe_text(&text);
    }
    let shown = bytes.get(..8).unwrap_or(bytes);
    let hex = shown
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ");
    let more = if bytes.len() > shown.len() {
        " ..."
    } else {
        ""
    };
    format!("unknown binary data (first bytes {hex}{more})")
}

/// An ISO base media file (`ftyp` box): HEIC/HEIF/AVIF images, MP4/QuickTime videos, ...
fn describe_iso_media(bytes: &[u8]) -> String {
    // The ftyp box's size (0 means "to the end of the file"); only its first 256 bytes matter.
    let box_end = match be32(bytes, 0).and_then(|n| usize::try_from(n).ok()) {
        Some(len) if len >= 16 => len.min(bytes.len()),
        _ => bytes.len(),
    }
    .min(256);
    let brand_at = |offset: usize| -> Option<[u8; 4]> {
        let end = offset.checked_add(4)?;
        if end > box_end {
            return None;
        }
        bytes.get(offset..end)?.try_into().ok()
    };
    let major = brand_at(8);
    // Compatible brands follow the major brand and the minor version.
    let compatible: Vec<[u8; 4]> = (16..box_end).step_by(4).filter_map(brand_at).collect();
    let has = |brand: &[u8; 4]| major.as_ref() == Some(brand) || compatible.contains(brand);
    if has(b"avif") || has(b"avis") {
        return "AVIF image".to_owned();
    }
    const HEIC_BRANDS: [&[u8; 4]; 8] = [
        b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs",
    ];
    if HEIC_BRANDS.iter().any(|brand| has(brand)) {
        return "HEIC image".to_owned();
    }
    if has(b"mif1") || has(b"msf1") {
        return "HEIF image".to_owned();
    }
    if has(b"crx ") {
        return "Canon CR3 raw image".to_owned();
    }
    if has(b"qt  ") {
        return "QuickTime video".to_owned();
    }
    match major {
        Some(brand) if brand.iter().all(|b| b.is_ascii_graphic() || *b == b' ') => format!(
            "ISO media file such as MP4 (brand '{}')",
            String::from_utf8_lossy(&brand).trim_end()
        ),
        _ => "ISO media file such as MP4".to_owned(),
    }
}

/// The first KiB of `bytes` as text, if it is text (UTF-8 without control characters, possibly
/// cut inside a character at the end of the sample).
fn text_sample(bytes: &[u8]) -> Option<String> {
    let sample = bytes.get(..1024).unwrap_or(bytes);
    let text = match std::str::from_utf8(sample) {
        Ok(text) => text,
        Err(e) if e.error_len().is_none() && e.valid_up_to() > 0 => {
            std::str::from_utf8(sample.get(..e.valid_up_to())?).ok()?
        }
        Err(_) => return None,
    };
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let printable = text
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\u{0C}'));
    (printable && !text.is_empty()).then(|| text.to_owned())
}

fn describe_text(text: &str) -> String {
    let trimmed = text.trim_start();
    let lower = trimmed.to_ascii_lowercase();
    let found = if lower.starts_with("data:") && lower.contains(";base64,") {
        "data URL text (the body must be the raw image bytes)"
    } else if ["/9j/", "ivborw0kggo", "r0lgod"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        "base64 text (the body must be the raw image bytes, not base64)"
    } else if lower.contains("<svg") {
        "SVG image"
    } else if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        "HTML document"
    } else if lower.starts_with("<?xml") || lower.starts_with('<') {
        "XML document"
    } else if lower.starts_with('{') || lower.starts_with('[') {
        "JSON text"
    } else {
        "text"
    };
    found.to_owned()
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
        ImageFormat::Jpeg => jpeg_frame_dimensions(bytes),
        ImageFormat::Png => {
            if bytes.get(12..16) != Some(b"IHDR".as_slice()) {
                return None;
            }
            Some((u64::from(be32(bytes, 16)?), u64::from(be32(bytes, 20)?)))
        }
        ImageFormat::Gif => Some((u64::from(le16(bytes, 6)?), u64::from(le16(bytes, 8)?))),
        ImageFormat::Bmp => {
            let header = parse_bmp(bytes).ok()?;
            Some((header.width.unsigned_abs(), header.height.unsigned_abs()))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Structural completeness.

fn check_structure(format: ImageFormat, bytes: &[u8]) -> Result<(), InvalidImage> {
    match format {
        ImageFormat::Jpeg => check_jpeg(bytes),
        ImageFormat::Png => check_png(bytes),
        ImageFormat::Gif => check_gif(bytes),
        ImageFormat::Bmp => check_bmp(bytes),
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

// --- JPEG ---

const JPEG_SOI: u8 = 0xD8;
const JPEG_EOI: u8 = 0xD9;
const JPEG_SOS: u8 = 0xDA;
const JPEG_NO_EOI: &str = "it ends before the end-of-image marker (FFD9)";

/// Start-of-frame markers: C0-CF except DHT (C4), JPG (C8) and DAC (CC).
fn is_jpeg_sof(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

/// Markers without a length field: TEM and the restart markers.
fn is_jpeg_standalone(marker: u8) -> bool {
    matches!(marker, 0x01 | 0xD0..=0xD7)
}

/// Walks the marker segments from SOI: there must be a frame header (SOF) before the first scan,
/// and after the first scan an EOI marker; each scan's entropy-coded data is skipped (byte
/// stuffing and restart markers included), and a progressive JPEG's later scans, tables and
/// other segments between scans are walked the same way. Bytes after EOI are allowed.
fn check_jpeg(bytes: &[u8]) -> Result<(), InvalidImage> {
    let f = ImageFormat::Jpeg;
    if !bytes.starts_with(&[0xFF, JPEG_SOI]) {
        return Err(truncated(f, JPEG_NO_EOI));
    }
    let mut pos: usize = 2;
    let mut seen_sof = false;
    let mut seen_sos = false;
    loop {
        match bytes.get(pos) {
            None => return Err(truncated(f, JPEG_NO_EOI)),
            Some(0xFF) => {}
            Some(other) => {
                return Err(malformed(
                    f,
                    format!("a marker was expected at byte {pos} but 0x{other:02X} was found"),
                ))
            }
        }
        // Any number of 0xFF fill bytes may precede a marker.
        while bytes.get(pos) == Some(&0xFF) {
            pos = pos.saturating_add(1);
        }
        let Some(&marker) = bytes.get(pos) else {
            return Err(truncated(f, JPEG_NO_EOI));
        };
        pos = pos.saturating_add(1);
        match marker {
            JPEG_EOI if seen_sos => return Ok(()),
            JPEG_EOI => return Err(malformed(f, "it ends (EOI marker) before any image data")),
            JPEG_SOI => return Err(malformed(f, "it has a second start-of-image marker")),
            0x00 => {
                return Err(malformed(
                    f,
                    format!("it has a stray 0xFF00 at byte {}", pos.saturating_sub(2)),
                ))
            }
            m if is_jpeg_standalone(m) => {}
            m => {
                let Some(length) = be16(bytes, pos) else {
                    return Err(truncated(
                        f,
                        format!("a marker segment (FF{m:02X}) is cut short"),
                    ));
                };
                if length < 2 {
                    return Err(malformed(
                        f,
                        format!("a marker segment (FF{m:02X}) has an invalid length"),
                    ));
                }
                let end = pos.saturating_add(usize::from(length));
                if end > bytes.len() {
                    return Err(truncated(
                        f,
                        format!("a marker segment (FF{m:02X}) is cut short"),
                    ));
                }
                pos = end;
                if is_jpeg_sof(m) {
                    seen_sof = true;
                }
                if m == JPEG_SOS {
                    if !seen_sof {
                        return Err(malformed(
                            f,
                            "its image data starts before the frame header (SOF marker)",
                        ));
                    }
                    seen_sos = true;
                    pos = skip_entropy_coded_data(bytes, pos)?;
                }
            }
        }
    }
}

/// Returns the position of the 0xFF of the first marker after a scan's entropy-coded data.
fn skip_entropy_coded_data(bytes: &[u8], mut pos: usize) -> Result<usize, InvalidImage> {
    loop {
        let next_ff = bytes
            .get(pos..)
            .and_then(|rest| rest.iter().position(|&b| b == 0xFF));
        let Some(offset) = next_ff else {
            return Err(truncated(ImageFormat::Jpeg, JPEG_NO_EOI));
        };
        pos = pos.saturating_add(offset);
        match bytes.get(pos.saturating_add(1)) {
            None => return Err(truncated(ImageFormat::Jpeg, JPEG_NO_EOI)),
            // Stuffed 0xFF data byte, or a restart marker: still inside the scan.
            Some(0x00 | 0xD0..=0xD7) => pos = pos.saturating_add(2),
            // A fill byte before a marker.
            Some(0xFF) => pos = pos.saturating_add(1),
            Some(_) => return Ok(pos),
        }
    }
}

/// The width and height of the first frame header, walking segments up to the first scan.
fn jpeg_frame_dimensions(bytes: &[u8]) -> Option<(u64, u64)> {
    let mut pos: usize = 2;
    loop {
        if *bytes.get(pos)? != 0xFF {
            return None;
        }
        while bytes.get(pos) == Some(&0xFF) {
            pos = pos.saturating_add(1);
        }
        let marker = *bytes.get(pos)?;
        pos = pos.saturating_add(1);
        if is_jpeg_standalone(marker) {
            continue;
        }
        if matches!(marker, 0x00 | JPEG_SOI | JPEG_EOI | JPEG_SOS) {
            return None;
        }
        let length = be16(bytes, pos)?;
        if is_jpeg_sof(marker) {
            // Length, precision, height, width.
            let height = be16(bytes, pos.checked_add(3)?)?;
            let width = be16(bytes, pos.checked_add(5)?)?;
            return Some((u64::from(width), u64::from(height)));
        }
        if length < 2 {
            return None;
        }
        pos = pos.checked_add(usize::from(length))?;
    }
}

// --- PNG ---

const CRC_TABLE: [u32; 256] = make_crc_table();

const fn make_crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
}

/// CRC-32 (ISO 3309 / ITU-T V.42, as PNG uses) over the concatenation of `parts`.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = 0xFFFF_FFFF_u32;
    for part in parts {
        for &byte in *part {
            crc = CRC_TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
        }
    }
    crc ^ 0xFFFF_FFFF
}

/// Walks the chunks after the signature: each one whole, with a valid type and CRC; IHDR first;
/// at least one IDAT; through IEND. Bytes after IEND are allowed.
fn check_png(bytes: &[u8]) -> Result<(), InvalidImage> {
    let f = ImageFormat::Png;
    if !bytes.starts_with(PNG_MAGIC) {
        return Err(truncated(f, "its signature is cut short"));
    }
    let mut pos = PNG_MAGIC.len();
    let mut first = true;
    let mut seen_idat = false;
    loop {
        if pos >= bytes.len() {
            return Err(truncated(f, "it ends before the IEND chunk"));
        }
        let (Some(length), Some(kind)) = (be32(bytes, pos), bytes.get(pos + 4..pos + 8)) else {
            return Err(truncated(f, "a chunk header is cut short"));
        };
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(malformed(
                f,
                format!("the chunk at byte {pos} has an invalid type"),
            ));
        }
        let name = String::from_utf8_lossy(kind);
        if length > 0x7FFF_FFFF {
            return Err(malformed(
                f,
                format!("the {name} chunk has an invalid length"),
            ));
        }
        let data_start = pos + 8;
        let data_end = data_start.saturating_add(length as usize);
        let (Some(data), Some(stored_crc)) =
            (bytes.get(data_start..data_end), be32(bytes, data_end))
        else {
            return Err(truncated(f, format!("the {name} chunk is cut short")));
        };
        if crc32(&[kind, data]) != stored_crc {
            return Err(malformed(
                f,
                format!("the {name} chunk has a bad CRC (checksum)"),
            ));
        }
        match kind {
            b"IHDR" if first => {}
            _ if first => return Err(malformed(f, format!("its first chunk is {name}, not IHDR"))),
            b"IHDR" => return Err(malformed(f, "it has a second IHDR chunk")),
            b"IDAT" => seen_idat = true,
            b"IEND" if seen_idat => return Ok(()),
            b"IEND" => return Err(malformed(f, "it has no image data (IDAT chunk)")),
            _ => {}
        }
        first = false;
        pos = data_end.saturating_add(4);
    }
}

// --- GIF ---

const GIF_NO_TRAILER: &str = "it ends before the GIF trailer";

/// Size in bytes of a colour table announced by a packed-fields byte.
fn gif_colour_table_len(packed: u8) -> usize {
    if packed & 0x80 == 0 {
        0
    } else {
        3 << ((packed & 0x07) + 1)
    }
}

/// Walks the blocks after the header and logical screen descriptor (skipping colour tables):
/// extensions and image descriptors with their data sub-blocks, through the trailer (0x3B).
fn check_gif(bytes: &[u8]) -> Result<(), InvalidImage> {
    let f = ImageFormat::Gif;
    let Some(&screen_flags) = bytes.get(10) else {
        return Err(truncated(f, "its header is cut short"));
    };
    let mut pos = 13usize.saturating_add(gif_colour_table_len(screen_flags));
    let mut images = 0usize;
    loop {
        let Some(&introducer) = bytes.get(pos) else {
            return Err(truncated(f, GIF_NO_TRAILER));
        };
        match introducer {
            0x3B if images > 0 => return Ok(()),
            0x3B => return Err(malformed(f, "it contains no image")),
            // Extension: introducer, label, sub-blocks.
            0x21 => pos = skip_gif_sub_blocks(bytes, pos.saturating_add(2))?,
            // Image: descriptor (10 bytes), local colour table, LZW code size, sub-blocks.
            0x2C => {
                let Some(&image_flags) = bytes.get(pos.saturating_add(9)) else {
                    return Err(truncated(f, GIF_NO_TRAILER));
                };
                pos = pos
                    .saturating_add(10)
                    .saturating_add(gif_colour_table_len(image_flags))
                    .saturating_add(1);
                pos = skip_gif_sub_blocks(bytes, pos)?;
                images = images.saturating_add(1);
            }
            other => {
                return Err(malformed(
                    f,
                    format!("it has an unexpected byte 0x{other:02X} at byte {pos}"),
                ))
            }
        }
    }
}

/// Returns the position after the block terminator of the data sub-blocks starting at `pos`.
fn skip_gif_sub_blocks(bytes: &[u8], mut pos: usize) -> Result<usize, InvalidImage> {
    loop {
        let Some(&size) = bytes.get(pos) else {
            return Err(truncated(ImageFormat::Gif, GIF_NO_TRAILER));
        };
        pos = pos.saturating_add(1);
        if size == 0 {
            return Ok(pos);
        }
        pos = pos.saturating_add(usize::from(size));
    }
}

// --- BMP ---

struct BmpHeader {
    pixel_offset: u64,
    dib_size: u32,
    width: i64,
    height: i64,
    bits_per_pixel: u16,
    compression: u32,
    image_size: u32,
}

const BI_RGB: u32 = 0;
const BI_RLE8: u32 = 1;
const BI_RLE4: u32 = 2;
const BI_BITFIELDS: u32 = 3;
const BI_JPEG: u32 = 4;
const BI_PNG: u32 = 5;
const BI_ALPHABITFIELDS: u32 = 6;

fn parse_bmp(bytes: &[u8]) -> Result<BmpHeader, InvalidImage> {
    let f = ImageFormat::Bmp;
    let (Some(pixel_offset), Some(dib_size)) = (le32(bytes, 10), le32(bytes, 14)) else {
        return Err(truncated(f, "its file header is cut short"));
    };
    if !BMP_DIB_SIZES.contains(&dib_size) {
        return Err(malformed(
            f,
            format!("its DIB header has an unknown size ({dib_size} bytes)"),
        ));
    }
    if bytes.len() < 14 + dib_size as usize {
        return Err(truncated(f, "its DIB header is cut short"));
    }
    let field16 = |offset: usize| le16(bytes, offset).unwrap_or_default();
    let field32 = |offset: usize| le32(bytes, offset).unwrap_or_default();
    let header = if dib_size == 12 {
        // BITMAPCOREHEADER: unsigned 16-bit sizes, no compression.
        BmpHeader {
            pixel_offset: u64::from(pixel_offset),
            dib_size,
            width: i64::from(field16(18)),
            height: i64::from(field16(20)),
            bits_per_pixel: field16(24),
            compression: BI_RGB,
            image_size: 0,
        }
    } else {
        // BITMAPINFOHEADER and its extensions: signed 32-bit sizes (negative height: top-down).
        BmpHeader {
            pixel_offset: u64::from(pixel_offset),
            dib_size,
            width: i64::from(field32(18) as i32),
            height: i64::from(field32(22) as i32),
            bits_per_pixel: field16(28),
            compression: if dib_size >= 20 { field32(30) } else { BI_RGB },
            image_size: if dib_size >= 24 { field32(34) } else { 0 },
        }
    };
    Ok(header)
}

/// The headers must be whole; an uncompressed bitmap must hold all the rows its header promises
/// (offset + row stride × |height|); a compressed one, its image-size field when that is not 0.
fn check_bmp(bytes: &[u8]) -> Result<(), InvalidImage> {
    let f = ImageFormat::Bmp;
    let header = parse_bmp(bytes)?;
    let len = bytes.len() as u64;
    if header.pixel_offset < 14 + u64::from(header.dib_size) {
        return Err(malformed(
            f,
            "its pixel data offset points inside the header",
        ));
    }
    let needed = match header.compression {
        BI_RGB | BI_BITFIELDS | BI_ALPHABITFIELDS => {
            if header.bits_per_pixel == 0 {
                return Err(malformed(f, "it declares 0 bits per pixel"));
            }
            let row_bits =
                u64::from(header.bits_per_pixel).saturating_mul(header.width.unsigned_abs());
            let stride = row_bits.div_ceil(32).saturating_mul(4);
            header
                .pixel_offset
                .saturating_add(stride.saturating_mul(header.height.unsigned_abs()))
        }
        BI_RLE8 | BI_RLE4 | BI_JPEG | BI_PNG => header
            .pixel_offset
            .saturating_add(u64::from(header.image_size)),
        other => {
            return Err(malformed(
                f,
                format!("it uses an unknown compression method ({other})"),
            ))
        }
    };
    if needed > len {
        return Err(truncated(
            f,
            format!(
                "its header promises {} bytes but the file has only {}",
                group_digits(needed),
                group_digits(len)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, Rgb, RgbImage, Rgba, RgbaImage};
    use proptest::prelude::*;

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

    /// An APP1 Exif segment carrying only Orientation = `orientation` (big-endian TIFF).
    fn exif_app1(orientation: u16) -> Vec<u8> {
        let mut tiff = Vec::new();
        tiff.extend_from_slice(b"MM\0*");
        tiff.extend_from_slice(&8u32.to_be_bytes()); // IFD0 offset.
        tiff.extend_from_slice(&1u16.to_be_bytes()); // One entry:
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation,
        tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT,
        tiff.extend_from_slice(&1u32.to_be_bytes()); // count 1,
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0]);
        tiff.extend_from_slice(&0u32.to_be_bytes()); // No next IFD.
        let mut data = b"Exif\0\0".to_vec();
        data.extend(tiff);
        let mut segment = vec![0xFF, 0xE1];
        segment.extend_from_slice(&((data.len() + 2) as u16).to_be_bytes());
        segment.extend(data);
        segment
    }

    fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        out.extend(exif_app1(orientation));
        out.extend_from_slice(&jpeg[2..]);
        out
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

    #[test]
    fn accepts_each_format_with_its_dimensions() {
        for format in ALL {
            for alpha in [false, true] {
                let bytes = encode(format, 37, 21, alpha);
                assert_eq!(
                    validate(&bytes),
                    Ok(ImageInfo {
                        format,
                        width: 37,
                        height: 21
                    }),
                    "{format:?} alpha={alpha}"
                );
            }
        }
    }

    #[test]
    fn accepts_one_pixel_images() {
        for format in ALL {
            let info = validate(&encode(format, 1, 1, false)).expect("1x1");
            assert_eq!((info.width, info.height), (1, 1), "{format:?}");
        }
    }

    #[test]
    fn accepts_progressive_jpeg_with_restart_markers() {
        let bytes = progressive_jpeg(48, 40);
        let sos_count = bytes.windows(2).filter(|w| w == &[0xFF, JPEG_SOS]).count();
        assert!(sos_count > 1, "expected several scans, found {sos_count}");
        assert_eq!(
            validate(&bytes),
            Ok(ImageInfo {
                format: ImageFormat::Jpeg,
                width: 48,
                height: 40
            })
        );
        let without_eoi = &bytes[..bytes.len() - 2];
        assert!(matches!(
            validate(without_eoi),
            Err(InvalidImage::Truncated { .. })
        ));
    }

    #[test]
    fn exif_orientations_5_to_8_swap_width_and_height() {
        let jpeg = encode(ImageFormat::Jpeg, 40, 20, false);
        for orientation in 1..=8u16 {
            let info = validate(&with_exif_orientation(&jpeg, orientation)).expect("valid");
            let expected = if orientation >= 5 { (20, 40) } else { (40, 20) };
            assert_eq!(
                (info.width, info.height),
                expected,
                "orientation {orientation}"
            );
        }
    }

    #[test]
    fn bytes_after_the_end_are_allowed() {
        for format in ALL {
            let mut bytes = encode(format, 9, 9, false);
            bytes.extend_from_slice(b"trailing garbage");
            assert!(validate(&bytes).is_ok(), "{format:?}");
        }
    }

    #[test]
    fn empty_body() {
        assert_eq!(validate(&[]), Err(InvalidImage::Empty));
        assert_eq!(message(&[]), "The request body is empty.");
    }

    #[test]
    fn over_four_mib_is_too_large() {
        let mut bytes = encode(ImageFormat::Png, 8, 8, false);
        bytes.resize(MAX_PHOTO_BYTES + 1, 0);
        let error = validate(&bytes).expect_err("too large");
        assert_eq!(
            error,
            InvalidImage::TooLarge {
                size: MAX_PHOTO_BYTES + 1,
                limit: MAX_PHOTO_BYTES
            }
        );
        assert_eq!(
            error.to_string(),
            "The photo is 4,194,305 bytes, more than the limit of 4,194,304 bytes (4 MiB)."
        );
        // Exactly at the limit is not too large (the zero padding lies after IEND, where bytes
        // are allowed).
        bytes.truncate(MAX_PHOTO_BYTES);
        assert!(validate(&bytes).is_ok());
    }

    #[test]
    fn unsupported_formats_are_named() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0".to_vec(), "WebP image"),
            (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec(), "HEIC image"),
            (
                b"\0\0\0\x1cftypmif1\0\0\0\0mif1avifmiaf".to_vec(),
                "AVIF image",
            ),
            (b"\0\0\0\x18ftypavif\0\0\0\0avifmif1".to_vec(), "AVIF image"),
            (b"\0\0\0\x18ftypisom\0\0\0\0isommp41".to_vec(), "MP4"),
            (b"II*\0\x08\0\0\0".to_vec(), "TIFF image"),
            (vec![0, 0, 1, 0, 1, 0, 16, 16], "ICO icon"),
            (b"%PDF-1.7\n".to_vec(), "PDF document"),
            (
                b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec(),
                "SVG image",
            ),
            (b"<svg></svg>".to_vec(), "SVG image"),
            (b"hello, this is a photo".to_vec(), "text"),
            (b"{\"photo\": \"...\"}".to_vec(), "JSON text"),
            (b"/9j/4AAQSkZJRgABAQ".to_vec(), "base64"),
            (
                vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
                "unknown binary data (first bytes 00 01 02 03 04 05 06 07 ...)",
            ),
        ];
        for (bytes, expected) in cases {
            let error = validate(&bytes).expect_err("unsupported");
            let InvalidImage::UnsupportedFormat { found } = &error else {
                panic!("expected UnsupportedFormat for {expected}, got {error:?}");
            };
            assert!(
                found.contains(expected),
                "{found:?} should mention {expected:?}"
            );
            let text = error.to_string();
            assert!(text.contains(expected), "{text}");
            assert!(text.contains("JPEG, PNG, GIF and BMP"), "{text}");
            assert!(text.ends_with('.'), "{text}");
        }
    }

    #[test]
    fn declared_types_are_not_needed_and_content_types_round_trip() {
        for format in ALL {
            assert_eq!(
                ImageFormat::from_content_type(format.content_type()),
                Some(format)
            );
            let shouted = format!("{}; charset=binary", format.content_type().to_uppercase());
            assert_eq!(ImageFormat::from_content_type(&shouted), Some(format));
            assert_eq!(
                ImageFormat::sniff(&encode(format, 3, 3, false)),
                Some(format)
            );
        }
        assert_eq!(
            ImageFormat::from_content_type("application/octet-stream"),
            None
        );
        assert_eq!(ImageFormat::from_content_type("image/webp"), None);
        assert_eq!(ImageFormat::from_content_type(""), None);
        assert_eq!(
            ImageFormat::sniff(b"BMW is a car maker, not a bitmap."),
            None
        );
    }

    #[test]
    fn zero_pixel_headers_are_bad_dimensions() {
        assert_bad_dimensions(&png_with_header(0, 10));
        assert_bad_dimensions(&png_with_header(10, 0));
        let jpeg = encode(ImageFormat::Jpeg, 16, 16, false);
        assert_bad_dimensions(&jpeg_with_sof_size(&jpeg, 0, 16));
        let gif = encode(ImageFormat::Gif, 16, 16, false);
        assert_bad_dimensions(&gif_with_screen_size(&gif, 0, 16));
        let bmp = encode(ImageFormat::Bmp, 16, 16, false);
        assert_bad_dimensions(&bmp_with_size(&bmp, 16, 0));
    }

    #[test]
    fn sides_over_ten_thousand_are_bad_dimensions() {
        assert_bad_dimensions(&png_with_header(10_001, 1));
        assert_bad_dimensions(&png_with_header(1, 10_001));
        assert_bad_dimensions(&png_with_header(u32::MAX, u32::MAX));
        let jpeg = encode(ImageFormat::Jpeg, 16, 16, false);
        assert_bad_dimensions(&jpeg_with_sof_size(&jpeg, 10_001, 16));
        let gif = encode(ImageFormat::Gif, 16, 16, false);
        assert_bad_dimensions(&gif_with_screen_size(&gif, 16, 10_001));
        let bmp = encode(ImageFormat::Bmp, 16, 16, false);
        assert_bad_dimensions(&bmp_with_size(&bmp, 10_001, 16));
        let error = validate(&png_with_header(10_001, 1)).expect_err("too wide");
        assert_eq!(
            error.to_string(),
            "The image is 10,001 x 1 pixels, which is not allowed: each side must be at most 10,000 pixels."
        );
    }

    #[test]
    fn over_forty_megapixels_is_bad_dimensions() {
        assert_bad_dimensions(&png_with_header(10_000, 4_001));
        assert_bad_dimensions(&png_with_header(8_000, 6_000));
        let jpeg = encode(ImageFormat::Jpeg, 16, 16, false);
        assert_bad_dimensions(&jpeg_with_sof_size(&jpeg, 9_000, 9_000));
        let message = validate(&png_with_header(8_000, 6_000))
            .expect_err("48 MP")
            .to_string();
        assert!(message.contains("40,000,000 pixels"), "{message}");
        // Exactly 40 MP is allowed; the pixel data is never decoded, so the junk IDAT is not
        // noticed (the structure is complete).
        assert!(validate(&png_with_header(10_000, 4_000)).is_ok());
    }

    #[test]
    fn png_with_a_flipped_crc_byte_is_malformed() {
        let png = encode(ImageFormat::Png, 12, 12, true);
        // The last byte is IEND's CRC; also flip one inside the IDAT data.
        let mut bad_crc = png.clone();
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 0x01;
        let error = validate(&bad_crc).expect_err("bad CRC");
        assert!(
            matches!(
                error,
                InvalidImage::Malformed {
                    format: ImageFormat::Png,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("CRC"), "{error}");
        let idat = png.windows(4).position(|w| w == b"IDAT").expect("IDAT");
        let mut bad_data = png;
        bad_data[idat + 6] ^= 0x40;
        assert!(matches!(
            validate(&bad_data),
            Err(InvalidImage::Malformed { .. })
        ));
    }

    #[test]
    fn crc32_matches_the_reference_value() {
        assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[b"1234", b"56789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[b"IEND"]), 0xAE42_6082);
    }

    #[test]
    fn jpeg_missing_eoi_is_truncated() {
        let jpeg = encode(ImageFormat::Jpeg, 20, 20, false);
        for cut in [1, 2] {
            let error = validate(&jpeg[..jpeg.len() - cut]).expect_err("no EOI");
            assert!(
                matches!(
                    error,
                    InvalidImage::Truncated {
                        format: ImageFormat::Jpeg,
                        ..
                    }
                ),
                "{error:?}"
            );
            assert!(
                error
                    .to_string()
                    .starts_with("The JPEG image is incomplete: "),
                "{error}"
            );
        }
    }

    #[test]
    fn bmp_missing_pixel_rows_is_truncated() {
        let bmp = encode(ImageFormat::Bmp, 20, 20, false);
        let error = validate(&bmp[..bmp.len() - 1]).expect_err("short");
        assert!(
            matches!(
                error,
                InvalidImage::Truncated {
                    format: ImageFormat::Bmp,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn compressed_bmp_uses_the_image_size_field() {
        // 2x1 RLE8 bitmap: one run of 2 pixels of colour 1, end of line, end of bitmap.
        let rle: [u8; 6] = [2, 1, 0, 0, 0, 1];
        let palette_len = 2 * 4;
        let offset = 14 + 40 + palette_len;
        let mut bmp = b"BM".to_vec();
        bmp.extend_from_slice(&((offset + rle.len()) as u32).to_le_bytes());
        bmp.extend_from_slice(&[0; 4]);
        bmp.extend_from_slice(&(offset as u32).to_le_bytes());
        bmp.extend_from_slice(&40u32.to_le_bytes());
        bmp.extend_from_slice(&2i32.to_le_bytes());
        bmp.extend_from_slice(&1i32.to_le_bytes());
        bmp.extend_from_slice(&1u16.to_le_bytes()); // Planes.
        bmp.extend_from_slice(&8u16.to_le_bytes()); // Bits per pixel.
        bmp.extend_from_slice(&BI_RLE8.to_le_bytes());
        bmp.extend_from_slice(&(rle.len() as u32).to_le_bytes());
        bmp.extend_from_slice(&[0; 8]); // Resolution.
        bmp.extend_from_slice(&2u32.to_le_bytes()); // Colours used.
        bmp.extend_from_slice(&0u32.to_le_bytes());
        bmp.extend_from_slice(&[0, 0, 0, 0, 255, 255, 255, 0]);
        bmp.extend_from_slice(&rle);
        assert_eq!(
            validate(&bmp),
            Ok(ImageInfo {
                format: ImageFormat::Bmp,
                width: 2,
                height: 1
            })
        );
        assert!(matches!(
            validate(&bmp[..bmp.len() - 1]),
            Err(InvalidImage::Truncated {
                format: ImageFormat::Bmp,
                ..
            })
        ));
    }

    #[test]
    fn messages_are_one_sentence_ending_with_a_period() {
        let jpeg = encode(ImageFormat::Jpeg, 8, 8, false);
        let png = encode(ImageFormat::Png, 8, 8, false);
        let mut bad_crc = png.clone();
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 1;
        for bytes in [
            &[][..],
            &jpeg[..jpeg.len() - 1],
            &png[..png.len() / 2],
            &bad_crc[..],
            &png_with_header(0, 0)[..],
            b"text",
        ] {
            let text = message(bytes);
            assert!(text.ends_with('.') && !text.ends_with(".."), "{text}");
            assert!(!text.contains('\n'), "{text}");
            assert!(text.starts_with("The "), "{text}");
        }
        let error = InvalidImage::Malformed {
            format: ImageFormat::Gif,
            reason: "it is odd.".to_owned(),
        };
        assert_eq!(error.to_string(), "The GIF image is malformed: it is odd.");
    }

    #[test]
    fn truncated_images_are_reported_as_incomplete() {
        for format in ALL {
            let bytes = encode(format, 30, 30, false);
            let error = validate(&bytes[..bytes.len() * 2 / 3]).expect_err("cut");
            assert!(
                matches!(error, InvalidImage::Truncated { format: f, .. } if f == format),
                "{format:?}: {error:?}"
            );
        }
    }

    fn format_strategy() -> impl Strategy<Value = ImageFormat> {
        prop_oneof![
            Just(ImageFormat::Jpeg),
            Just(ImageFormat::Png),
            Just(ImageFormat::Gif),
            Just(ImageFormat::Bmp),
        ]
    }

    fn magic_strategy() -> impl Strategy<Value = &'static [u8]> {
        prop_oneof![
            Just(JPEG_MAGIC),
            Just(&[0xFF, 0xD8, 0xFF, 0xDA][..]),
            Just(PNG_MAGIC),
            Just(&b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"[..]),
            Just(GIF87_MAGIC),
            Just(GIF89_MAGIC),
            Just(&b"BM\0\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0"[..]),
            Just(&b"BM\0\0\0\0\0\0\0\0\x1a\0\0\0\x0c\0\0\0"[..]),
        ]
    }

    /// Case counts come from `PROPTEST_CASES` (`cargo xtask ci` bounds it); a failure is
    /// persisted under `proptest-regressions/`, to be committed with its fix.
    fn config() -> ProptestConfig {
        ProptestConfig::default()
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = validate(&bytes);
        }

        #[test]
        fn arbitrary_bytes_after_a_magic_never_panic(
            magic in magic_strategy(),
            tail in proptest::collection::vec(any::<u8>(), 0..4096),
        ) {
            let mut bytes = magic.to_vec();
            bytes.extend(tail);
            let _ = validate(&bytes);
        }

        #[test]
        fn corrupted_images_never_panic(
            format in format_strategy(),
            width in 1u32..48,
            height in 1u32..48,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        ) {
            let mut bytes = encode(format, width, height, false);
            for (at, value) in flips {
                let len = bytes.len();
                bytes[at % len] = value;
            }
            let _ = validate(&bytes);
        }

        #[test]
        fn encoded_images_report_their_format_and_size(
            format in format_strategy(),
            width in 1u32..64,
            height in 1u32..64,
            alpha in any::<bool>(),
        ) {
            let bytes = encode(format, width, height, alpha);
            prop_assert_eq!(validate(&bytes), Ok(ImageInfo { format, width, height }));
        }

        #[test]
        fn any_truncation_is_rejected(
            format in format_strategy(),
            width in 1u32..48,
            height in 1u32..48,
            alpha in any::<bool>(),
            cut in any::<usize>(),
        ) {
            let bytes = encode(format, width, height, alpha);
            let cut = 1 + cut % (bytes.len() - 1);
            let result = validate(&bytes[..cut]);
            prop_assert!(result.is_err(), "{:?} {}x{} cut at {}/{} accepted", format, width, height, cut, bytes.len());
        }

        #[test]
        fn any_truncation_of_a_progressive_jpeg_is_rejected(
            width in 1u16..48,
            height in 1u16..48,
            cut in any::<usize>(),
        ) {
            let bytes = progressive_jpeg(width, height);
            let cut = 1 + cut % (bytes.len() - 1);
            prop_assert!(validate(&bytes[..cut]).is_err(), "cut at {}/{} accepted", cut, bytes.len());
        }

        #[test]
        fn bodies_over_the_limit_are_too_large(
            extra in 1usize..65_536,
            fill in any::<u8>(),
            magic in magic_strategy(),
        ) {
            let mut bytes = vec![fill; MAX_PHOTO_BYTES + extra];
            bytes[..magic.len()].copy_from_slice(magic);
            prop_assert_eq!(
                validate(&bytes),
                Err(InvalidImage::TooLarge { size: MAX_PHOTO_BYTES + extra, limit: MAX_PHOTO_BYTES })
            );
        }
    }
}
