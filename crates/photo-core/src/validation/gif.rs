//! GIF: the block walk (spec B5) and the LZW data check.
//!
//! The data check LZW-decodes every frame (weezl, the decoder the `gif` crate uses) into a small
//! scratch buffer and counts the pixels, without colour mapping or compositing: each frame must
//! decode without an invalid code to at least as many pixels as its size (more are ignored, as
//! decoders do).

use super::{corrupt, le16, malformed, truncated, ImageFormat, InvalidImage, MAX_PIXELS};

const GIF_NO_TRAILER: &str = "it ends before the GIF trailer";
/// A bound on the work of checking an animation: pixels decoded over all its frames.
const MAX_TOTAL_PIXELS: u64 = 4 * MAX_PIXELS;
/// Extension labels decoders know (plain text, graphic control, comment, application); the
/// `gif` crate refuses any other.
const KNOWN_EXTENSIONS: [u8; 4] = [0x01, 0xF9, 0xFE, 0xFF];

/// Size in bytes of a colour table announced by a packed-fields byte.
fn gif_colour_table_len(packed: u8) -> usize {
    if packed & 0x80 == 0 {
        0
    } else {
        3 << ((packed & 0x07) + 1)
    }
}

/// One image of the file, as its descriptor declares it.
struct Frame {
    width: u64,
    height: u64,
    has_palette: bool,
    /// The position of its LZW minimum code size byte (its data sub-blocks follow).
    data: usize,
}

/// The block walk alone (spec B5).
pub(super) fn check_structure(bytes: &[u8]) -> Result<(), InvalidImage> {
    walk(bytes).map(drop)
}

/// The block walk, then the LZW data check of every frame.
pub(super) fn check(bytes: &[u8]) -> Result<(), InvalidImage> {
    let frames = walk(bytes)?;
    let f = ImageFormat::Gif;
    // The renderer shows the first frame as the `gif` crate decodes it, which reads past the
    // frame's last pixel in ways a plain LZW pass does not (a fuzz finding): decode that frame
    // with the same crate, indexed (no colour mapping).
    first_frame_decodes(bytes)
        .map_err(|e| corrupt(f, format!("its first frame cannot be decoded ({e})")))?;
    let mut budget = MAX_TOTAL_PIXELS;
    let mut scratch = vec![0u8; 16 * 1024];
    for (index, frame) in frames.iter().enumerate() {
        let n = index + 1;
        if !frame.has_palette {
            return Err(corrupt(f, format!("frame {n} has no colour table")));
        }
        let pixels = frame.width * frame.height;
        if pixels == 0 {
            return Err(corrupt(f, format!("frame {n} has no pixels")));
        }
        if pixels > MAX_PIXELS {
            return Err(corrupt(
                f,
                format!(
                    "frame {n} is {} x {} pixels, larger than an image may be",
                    frame.width, frame.height
                ),
            ));
        }
        budget = budget.checked_sub(pixels).ok_or_else(|| {
            corrupt(
                f,
                format!("its frames hold more than {MAX_TOTAL_PIXELS} pixels in all"),
            )
        })?;
        if index == 0 {
            // Decoded above, by the gif crate.
            continue;
        }
        let decoded = decode_frame(bytes, frame.data, pixels, &mut scratch)
            .map_err(|reason| corrupt(f, format!("frame {n}'s {reason}")))?;
        if decoded < pixels {
            return Err(corrupt(
                f,
                format!(
                    "frame {n}'s image data decodes to {decoded} pixels, fewer than its {} x {}",
                    frame.width, frame.height
                ),
            ));
        }
    }
    Ok(())
}

/// LZW-decodes the frame data at `pos` (code size byte, then sub-blocks) to its end, keeping at
/// most `pixels`; returns how many were decoded.
fn decode_frame(
    bytes: &[u8],
    mut pos: usize,
    pixels: u64,
    scratch: &mut [u8],
) -> Result<u64, String> {
    let Some(&code_size) = bytes.get(pos) else {
        return Ok(0);
    };
    // The `gif` crate's bounds: LZW codes are at most 12 bits.
    if !(1..=11).contains(&code_size) {
        return Err(format!("LZW minimum code size ({code_size}) is invalid"));
    }
    pos += 1;
    let mut decoder = weezl::decode::Decoder::new(weezl::BitOrder::Lsb, code_size);
    let mut decoded = 0u64;
    let mut ended = false;
    while let Some(&size) = bytes.get(pos) {
        let block = bytes.get(pos + 1..pos + 1 + usize::from(size));
        pos += 1 + usize::from(size);
        // The terminator: flush what the decoder still holds.
        let mut input = block.unwrap_or_default();
        let terminator = size == 0;
        // Decoders keep feeding the frame's remaining data to the LZW decoder once the frame is
        // full (with no room for output): an invalid code there fails them too.
        while !ended {
            let room =
                usize::try_from(pixels - decoded).map_or(scratch.len(), |r| r.min(scratch.len()));
            let out = scratch.get_mut(..room).unwrap_or_default();
            let result = decoder.decode_bytes(input, out);
            decoded += result.consumed_out as u64;
            input = input.get(result.consumed_in..).unwrap_or_default();
            match result.status {
                Err(_) => return Err("LZW data has an invalid code".to_owned()),
                Ok(weezl::LzwStatus::Done) => ended = true,
                Ok(weezl::LzwStatus::NoProgress) => break,
                Ok(weezl::LzwStatus::Ok) => {
                    if result.consumed_in == 0 && result.consumed_out == 0 {
                        break;
                    }
                    if input.is_empty() && !terminator && result.consumed_out < room {
                        break;
                    }
                }
            }
        }
        if terminator || ended {
            break;
        }
    }
    Ok(decoded)
}

/// Walks the blocks after the header and logical screen descriptor (skipping colour tables):
/// extensions and image descriptors with their data sub-blocks, through the trailer (0x3B).
fn walk(bytes: &[u8]) -> Result<Vec<Frame>, InvalidImage> {
    let f = ImageFormat::Gif;
    let Some(&screen_flags) = bytes.get(10) else {
        return Err(truncated(f, "its header is cut short"));
    };
    let global_palette = screen_flags & 0x80 != 0;
    let mut pos = 13usize.saturating_add(gif_colour_table_len(screen_flags));
    let mut frames = Vec::new();
    loop {
        let Some(&introducer) = bytes.get(pos) else {
            return Err(truncated(f, GIF_NO_TRAILER));
        };
        match introducer {
            0x3B if !frames.is_empty() => return Ok(frames),
            0x3B => return Err(malformed(f, "it contains no image")),
            // Extension: introducer, label, sub-blocks.
            0x21 => {
                if let Some(&label) = bytes.get(pos.saturating_add(1)) {
                    if !KNOWN_EXTENSIONS.contains(&label) {
                        return Err(malformed(
                            f,
                            format!("it has an unknown extension block (label 0x{label:02X}) at byte {pos}"),
                        ));
                    }
                }
                pos = skip_gif_sub_blocks(bytes, pos.saturating_add(2))?;
            }
            // Image: descriptor (10 bytes), local colour table, LZW code size, sub-blocks.
            0x2C => {
                let Some(&image_flags) = bytes.get(pos.saturating_add(9)) else {
                    return Err(truncated(f, GIF_NO_TRAILER));
                };
                let width = le16(bytes, pos + 5).unwrap_or_default();
                let height = le16(bytes, pos + 7).unwrap_or_default();
                pos = pos
                    .saturating_add(10)
                    .saturating_add(gif_colour_table_len(image_flags));
                frames.push(Frame {
                    width: u64::from(width),
                    height: u64::from(height),
                    has_palette: global_palette || image_flags & 0x80 != 0,
                    data: pos,
                });
                pos = skip_gif_sub_blocks(bytes, pos.saturating_add(1))?;
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

fn first_frame_decodes(bytes: &[u8]) -> Result<(), ::gif::DecodingError> {
    let mut options = ::gif::DecodeOptions::new();
    options.set_color_output(::gif::ColorOutput::Indexed);
    let mut decoder = options.read_info(std::io::Cursor::new(bytes))?;
    decoder.read_next_frame()?;
    Ok(())
}
