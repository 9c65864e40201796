//! BMP: the headers, the pixel data's length (spec B5) and the RLE data check.
//!
//! An uncompressed bitmap's pixels cannot be corrupt once all its bytes are there (every bit
//! pattern is a colour); an RLE one's can, so its runs are walked as the decoder reads them.

use super::{
    corrupt, group_digits, le16, le32, malformed, truncated, ImageFormat, InvalidImage,
    BMP_DIB_SIZES,
};

pub(super) struct BmpHeader {
    pixel_offset: u64,
    dib_size: u32,
    pub(super) width: i64,
    pub(super) height: i64,
    bits_per_pixel: u16,
    compression: u32,
    image_size: u32,
}

const BI_RGB: u32 = 0;
pub(super) const BI_RLE8: u32 = 1;
const BI_RLE4: u32 = 2;
const BI_BITFIELDS: u32 = 3;
const BI_JPEG: u32 = 4;
const BI_PNG: u32 = 5;
const BI_ALPHABITFIELDS: u32 = 6;

pub(super) fn parse_bmp(bytes: &[u8]) -> Result<BmpHeader, InvalidImage> {
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
pub(super) fn check_structure(bytes: &[u8]) -> Result<(), InvalidImage> {
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

/// The structural checks, then, for an RLE bitmap, the walk over its runs.
pub(super) fn check(bytes: &[u8]) -> Result<(), InvalidImage> {
    check_structure(bytes)?;
    let header = parse_bmp(bytes)?;
    match header.compression {
        BI_RLE8 | BI_RLE4 => {
            check_rle(bytes, &header).map_err(|reason| corrupt(ImageFormat::Bmp, reason))
        }
        _ => Ok(()),
    }
}

/// Walks the runs of an RLE8/RLE4 bitmap the way the `image` decoder reads them (from the pixel
/// data offset to the end of the file): every run, absolute run and delta must stay inside its
/// row and the image, and the data must reach the end-of-bitmap code or fill every row. An RLE8
/// run longer than its row is tolerated (the decoder clips it: ImageMagick writes such files).
fn check_rle(bytes: &[u8], header: &BmpHeader) -> Result<(), String> {
    let rle4 = header.compression == BI_RLE4;
    let width = header.width.unsigned_abs();
    let rows = header.height.unsigned_abs();
    let start = usize::try_from(header.pixel_offset).unwrap_or(usize::MAX);
    let data = bytes.get(start..).unwrap_or_default();
    const ENDS: &str = "its compressed pixel data ends before the end-of-bitmap code";
    let mut pos = 0usize;
    let mut next = || -> Result<u8, String> {
        let byte = data.get(pos).copied().ok_or_else(|| ENDS.to_owned())?;
        pos += 1;
        Ok(byte)
    };
    let mut row = 0u64;
    while row < rows {
        // `x` counts the pixels the codes cover; `filled` those written into the row.
        let (mut x, mut filled) = (0u64, 0u64);
        loop {
            let (first, second) = (next()?, next()?);
            match (first, second) {
                (0, 0) => break,
                (0, 1) => return Ok(()),
                (0, 2) => {
                    let (dx, dy) = (u64::from(next()?), u64::from(next()?));
                    if dy > 0 {
                        row += dy;
                        if row >= rows {
                            return Err("a delta code moves below the last row".to_owned());
                        }
                        if x > width {
                            return Err("a delta code moves past the end of a row".to_owned());
                        }
                        filled = x;
                    }
                    if filled + dx > width {
                        return Err("a delta code moves past the end of a row".to_owned());
                    }
                    filled += dx;
                    x += dx;
                }
                (0, count) => {
                    let count = u64::from(count);
                    let mut stored = if rle4 { count.div_ceil(2) } else { count };
                    stored += stored & 1;
                    for _ in 0..stored {
                        next()?;
                    }
                    if filled + count > width {
                        return Err("an absolute run goes past the end of a row".to_owned());
                    }
                    filled += count;
                    x += count;
                }
                (count, _) => {
                    let count = u64::from(count);
                    if filled + count > width {
                        if rle4 {
                            return Err("a run goes past the end of a row".to_owned());
                        }
                        filled = width;
                    } else {
                        filled += count;
                    }
                    x += count;
                }
            }
        }
        row += 1;
    }
    Ok(())
}
