//! JPEG: the marker walk (spec B5) and the entropy-coded data check.
//!
//! The data check Huffman-decodes every scan (baseline, extended and progressive) without
//! dequantising, transforming or colour-converting anything: each code must exist in its table,
//! each block's coefficients must stay within the block, every block of the scan must be
//! there before its data ends, and restart markers must come where the restart interval puts
//! them. Progressive refinement scans need to know which coefficients earlier scans made
//! non-zero: one 64-bit mask per block is all that is kept (1.7 MB for 3000x3000 4:2:0).

use super::{be16, corrupt, malformed, truncated, ImageFormat, InvalidImage};

mod entropy;
mod headers;
mod huffman;

use entropy::check_entropy_coded_data;

const JPEG_SOI: u8 = 0xD8;
const JPEG_EOI: u8 = 0xD9;
pub(super) const JPEG_SOS: u8 = 0xDA;
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
pub(super) fn check_structure(bytes: &[u8]) -> Result<(), InvalidImage> {
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
pub(super) fn jpeg_frame_dimensions(bytes: &[u8]) -> Option<(u64, u64)> {
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

/// The marker walk, then the entropy-coded data check.
pub(super) fn check(bytes: &[u8]) -> Result<(), InvalidImage> {
    check_structure(bytes)?;
    check_entropy_coded_data(bytes).map_err(|reason| corrupt(ImageFormat::Jpeg, reason))
}
