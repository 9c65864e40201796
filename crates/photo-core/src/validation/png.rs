//! PNG: the chunk walk (spec B5) and the image data check.
//!
//! The data check inflates the concatenated IDAT stream (fdeflate, the inflater the `png` crate
//! itself uses, with its Adler-32 check) into a small sliding window and counts the bytes: it
//! must be exactly the filtered rows the header promises, each starting with a known filter
//! type. Rows are never unfiltered, so no image-sized buffer is allocated.

use super::{be32, corrupt, malformed, truncated, ImageFormat, InvalidImage, PNG_MAGIC};

/// CRC-32 (ISO 3309 / ITU-T V.42, as PNG uses) over the concatenation of `parts`.
pub(super) fn crc32(parts: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize()
}

/// What the chunk walk found that the data check needs.
struct Chunks<'a> {
    ihdr: &'a [u8],
    idat: Vec<&'a [u8]>,
}

/// The chunk walk alone (spec B5).
pub(super) fn check_structure(bytes: &[u8]) -> Result<(), InvalidImage> {
    walk(bytes).map(drop)
}

/// The chunk walk, then the image data check.
pub(super) fn check(bytes: &[u8]) -> Result<(), InvalidImage> {
    let chunks = walk(bytes)?;
    check_image_data(&chunks)
}

/// Walks the chunks after the signature: each one whole, with a valid type and CRC; IHDR first;
/// at least one IDAT; through IEND. Bytes after IEND are allowed.
fn walk(bytes: &[u8]) -> Result<Chunks<'_>, InvalidImage> {
    let f = ImageFormat::Png;
    if !bytes.starts_with(PNG_MAGIC) {
        return Err(truncated(f, "its signature is cut short"));
    }
    let mut pos = PNG_MAGIC.len();
    let mut ihdr: Option<&[u8]> = None;
    let mut idat = Vec::new();
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
        match (kind, ihdr) {
            (b"IHDR", None) => ihdr = Some(data),
            (_, None) => return Err(malformed(f, format!("its first chunk is {name}, not IHDR"))),
            (b"IHDR", Some(_)) => return Err(malformed(f, "it has a second IHDR chunk")),
            (b"IDAT", Some(_)) => idat.push(data),
            (b"IEND", Some(ihdr)) if !idat.is_empty() => return Ok(Chunks { ihdr, idat }),
            (b"IEND", Some(_)) => return Err(malformed(f, "it has no image data (IDAT chunk)")),
            _ => {}
        }
        pos = data_end.saturating_add(4);
    }
}

/// The Adam7 passes: (first column, first row, column step, row step).
const ADAM7: [(u64, u64, u64, u64); 7] = [
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
];

/// Deflate's window: how far back a match may reach.
const WINDOW: usize = 32 * 1024;
/// The inflate buffer: the window plus room for each call's output.
const INFLATE_BUFFER: usize = 4 * WINDOW;

/// Where the rows start in the decompressed stream: (rows, bytes a row including its filter
/// byte) per pass, walked as the bytes come.
struct Rows {
    passes: Vec<(u64, u64)>,
    pass: usize,
    rows_left: u64,
    next_row: u64,
    total: u64,
}

impl Rows {
    fn new(ihdr: &[u8]) -> Result<Self, InvalidImage> {
        let f = ImageFormat::Png;
        let (Some(width), Some(height), Some(&depth), Some(&colour), Some(&interlace)) = (
            be32(ihdr, 0),
            be32(ihdr, 4),
            ihdr.get(8),
            ihdr.get(9),
            ihdr.get(12),
        ) else {
            return Err(malformed(f, "its IHDR chunk is too short"));
        };
        let channels: u64 = match colour {
            0 | 3 => 1,
            2 => 3,
            4 => 2,
            6 => 4,
            other => {
                return Err(malformed(
                    f,
                    format!("it has an unknown colour type ({other})"),
                ))
            }
        };
        let bits_per_pixel = channels * u64::from(depth);
        let (width, height) = (u64::from(width), u64::from(height));
        let whole = [(0, 0, 1, 1)];
        let passes: &[(u64, u64, u64, u64)] = if interlace == 0 { &whole } else { &ADAM7 };
        let passes: Vec<(u64, u64)> = passes
            .iter()
            .filter_map(|&(x0, y0, dx, dy)| {
                let columns = width.saturating_sub(x0).div_ceil(dx);
                let rows = height.saturating_sub(y0).div_ceil(dy);
                let row_bytes = 1 + (columns * bits_per_pixel).div_ceil(8);
                (columns > 0 && rows > 0).then_some((rows, row_bytes))
            })
            .collect();
        let total = passes.iter().map(|&(rows, bytes)| rows * bytes).sum();
        let rows_left = passes.first().map_or(0, |&(rows, _)| rows);
        Ok(Self {
            passes,
            pass: 0,
            rows_left,
            next_row: 0,
            total,
        })
    }

    /// Checks `chunk`, the decompressed bytes at stream offset `offset`: not beyond the image
    /// data, and a filter type (0-4) at each row start.
    fn check(&mut self, chunk: &[u8], offset: u64) -> Result<(), InvalidImage> {
        let end = offset + chunk.len() as u64;
        if end > self.total {
            return Err(corrupt(
                ImageFormat::Png,
                format!(
                    "its image data holds more than the {} bytes its size needs",
                    self.total
                ),
            ));
        }
        while self.next_row < end {
            let at = usize::try_from(self.next_row - offset).unwrap_or(usize::MAX);
            match chunk.get(at) {
                Some(0..=4) => {}
                Some(filter) => {
                    return Err(corrupt(
                        ImageFormat::Png,
                        format!("a row has an unknown filter type ({filter})"),
                    ))
                }
                None => break,
            }
            let Some(&(_, row_bytes)) = self.passes.get(self.pass) else {
                break;
            };
            self.next_row += row_bytes;
            self.rows_left -= 1;
            if self.rows_left == 0 {
                self.pass += 1;
                match self.passes.get(self.pass) {
                    Some(&(rows, _)) => self.rows_left = rows,
                    None => self.next_row = u64::MAX,
                }
            }
        }
        Ok(())
    }
}

fn inflate_reason(error: &fdeflate::DecompressionError) -> String {
    use fdeflate::DecompressionError as E;
    match error {
        E::WrongChecksum => "its image data fails its Adler-32 checksum".to_owned(),
        E::InsufficientInput => {
            "its compressed image data ends before the end of the stream".to_owned()
        }
        E::BadZlibHeader => "its compressed image data has an invalid zlib header".to_owned(),
        other => format!("its compressed image data is invalid ({other:?})"),
    }
}

/// Inflates the IDAT stream, checking its length, its row filter types and its checksum.
fn check_image_data(chunks: &Chunks<'_>) -> Result<(), InvalidImage> {
    let f = ImageFormat::Png;
    let mut rows = Rows::new(chunks.ihdr)?;
    let mut inflater = fdeflate::Decompressor::new();
    let mut buffer = vec![0u8; INFLATE_BUFFER];
    let mut pos = 0usize;
    let mut produced = 0u64;
    let last = chunks.idat.len().saturating_sub(1);
    'chunks: for (i, data) in chunks.idat.iter().enumerate() {
        let mut input: &[u8] = data;
        loop {
            if pos > INFLATE_BUFFER - WINDOW {
                buffer.copy_within(pos - WINDOW..pos, 0);
                pos = WINDOW;
            }
            let (consumed, written) = inflater
                .read(input, &mut buffer, pos, i == last)
                .map_err(|e| corrupt(f, inflate_reason(&e)))?;
            let out = buffer.get(pos..pos + written).unwrap_or_default();
            rows.check(out, produced)?;
            produced += written as u64;
            pos += written;
            input = input.get(consumed..).unwrap_or_default();
            if inflater.is_done() {
                // Bytes after the end of the zlib stream are ignored, as decoders do.
                break 'chunks;
            }
            if consumed == 0 && written == 0 {
                break;
            }
        }
    }
    if !inflater.is_done() {
        return Err(corrupt(
            f,
            "its compressed image data ends before the end of the stream",
        ));
    }
    if produced < rows.total {
        return Err(corrupt(
            f,
            format!(
                "its image data holds {produced} bytes, fewer than the {} its size needs",
                rows.total
            ),
        ));
    }
    Ok(())
}
