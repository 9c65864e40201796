//! Naming what an unsupported body looks like, for [`InvalidImage::UnsupportedFormat`](super::InvalidImage::UnsupportedFormat).

use super::be32;

/// Names what an unsupported body looks like, for [`InvalidImage::UnsupportedFormat`](super::InvalidImage::UnsupportedFormat).
pub(super) fn describe_unsupported(bytes: &[u8]) -> String {
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
