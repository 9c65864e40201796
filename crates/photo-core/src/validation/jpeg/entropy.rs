//! The entropy-coded data check: every scan Huffman-decoded, block by block, without
//! dequantising or transforming anything (what it checks: the parent module's docs).

use super::be16;
use super::headers::{parse_frame, parse_scan, Component, Frame, Scan};
use super::huffman::{Bits, Huffman, LOOKUP_BITS};
use super::{is_jpeg_sof, is_jpeg_standalone, JPEG_EOI, JPEG_SOS};

const JPEG_DHT: u8 = 0xC4;
const JPEG_DQT: u8 = 0xDB;
const JPEG_DRI: u8 = 0xDD;

/// Walks the segments again, decoding each scan's entropy-coded data.
pub(super) fn check_entropy_coded_data(bytes: &[u8]) -> Result<(), String> {
    let mut dc: [Option<Huffman>; 4] = [None, None, None, None];
    let mut ac: [Option<Huffman>; 4] = [None, None, None, None];
    let mut frame: Option<Frame> = None;
    let mut restart_interval = 0usize;
    // Decoders need every component's quantization table by the first scan.
    let mut quantization = [false; 4];
    let mut pos = 2usize;
    loop {
        while bytes.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let Some(&marker) = bytes.get(pos) else {
            return Ok(());
        };
        pos += 1;
        if marker == JPEG_EOI {
            return Ok(());
        }
        if is_jpeg_standalone(marker) {
            continue;
        }
        let length = usize::from(be16(bytes, pos).unwrap_or_default());
        let segment = bytes.get(pos + 2..pos + length.max(2)).unwrap_or_default();
        pos += length.max(2);
        match marker {
            JPEG_DHT => {
                let mut rest = segment;
                while let Some((&class_slot, tail)) = rest.split_first() {
                    let counts = tail.get(..16).ok_or("a Huffman table is cut short")?;
                    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    let symbols = tail
                        .get(16..16 + total)
                        .ok_or("a Huffman table is cut short")?;
                    let (class, slot) = (class_slot >> 4, usize::from(class_slot & 15));
                    let table = Huffman::new(counts, symbols)?;
                    match (class, slot) {
                        (0, 0..=3) => dc[slot] = Some(table),
                        (1, 0..=3) => ac[slot] = Some(table),
                        _ => return Err("a Huffman table has an invalid class or slot".to_owned()),
                    }
                    rest = tail.get(16 + total..).unwrap_or_default();
                }
            }
            JPEG_DQT => {
                let mut rest = segment;
                while let Some((&precision_slot, tail)) = rest.split_first() {
                    let size = if precision_slot >> 4 == 0 { 64 } else { 128 };
                    let slot = usize::from(precision_slot & 15);
                    if tail.len() < size || slot > 3 {
                        return Err("a quantization table is invalid".to_owned());
                    }
                    quantization[slot] = true;
                    rest = tail.get(size..).unwrap_or_default();
                }
            }
            JPEG_DRI => restart_interval = usize::from(be16(segment, 0).unwrap_or_default()),
            m if is_jpeg_sof(m) => {
                if frame.is_some() {
                    return Err("it has a second frame header".to_owned());
                }
                frame = Some(parse_frame(m, segment)?);
            }
            JPEG_SOS => {
                let frame = frame
                    .as_mut()
                    .ok_or("its image data comes before the frame header")?;
                let defined = |c: &Component| {
                    quantization
                        .get(usize::from(c.quantization))
                        .copied()
                        .unwrap_or(false)
                };
                if !frame.components.iter().all(defined) {
                    return Err("a component's quantization table is not defined".to_owned());
                }
                let scan = parse_scan(frame, segment)?;
                pos = decode_scan(bytes, pos, frame, &scan, &dc, &ac, restart_interval)?;
            }
            _ => {}
        }
    }
}

fn table<'t>(
    tables: &'t [Option<Huffman>; 4],
    slot: usize,
    kind: &str,
) -> Result<&'t Huffman, String> {
    tables
        .get(slot)
        .and_then(Option::as_ref)
        .ok_or_else(|| format!("a scan uses a {kind} Huffman table that is not defined"))
}

/// Decodes one scan whose data starts at `pos`; returns the position of the marker after it.
fn decode_scan(
    bytes: &[u8],
    pos: usize,
    frame: &mut Frame,
    scan: &Scan,
    dc: &[Option<Huffman>; 4],
    ac: &[Option<Huffman>; 4],
    restart_interval: usize,
) -> Result<usize, String> {
    let needs_dc = !frame.progressive || (scan.start == 0 && scan.high == 0);
    let needs_ac = !frame.progressive || scan.start > 0;
    let mut tables = Vec::new();
    for &(index, dc_slot, ac_slot) in &scan.components {
        let dc_table = if needs_dc {
            Some(table(dc, dc_slot, "DC")?)
        } else {
            None
        };
        let ac_table = if needs_ac {
            Some(table(ac, ac_slot, "AC")?)
        } else {
            None
        };
        let component = *frame
            .components
            .get(index)
            .ok_or("a scan component is missing")?;
        tables.push((component, dc_table, ac_table));
    }
    // Interleaved scans go MCU by MCU; a single-component scan goes block by block.
    let (units_wide, units_high) = match tables.as_slice() {
        [(c, _, _)] => (c.blocks_wide, c.blocks_high),
        _ => (frame.mcus_wide, frame.mcus_high),
    };
    let total = units_wide * units_high;
    let mut bits = Bits::new(bytes, pos);
    let mut eob_run = 0u32;
    for unit in 0..total {
        if restart_interval > 0 && unit > 0 && unit % restart_interval == 0 {
            if bits.overrun() {
                return Err(ENDS_EARLY.to_owned());
            }
            let marker = next_marker(bytes, bits.pos);
            match marker.and_then(|at| bytes.get(at + 1).map(|&m| (at, m))) {
                Some((at, 0xD0..=0xD7)) => bits = Bits::new(bytes, at + 2),
                _ => return Err("a restart marker is missing".to_owned()),
            }
            eob_run = 0;
        }
        let (ux, uy) = (unit % units_wide, unit / units_wide);
        for &(c, dc_table, ac_table) in &tables {
            let (per_x, per_y) = if tables.len() == 1 {
                (1, 1)
            } else {
                (c.h, c.v)
            };
            for by in 0..per_y {
                for bx in 0..per_x {
                    let block = c.first_mask + (uy * per_y + by) * c.stride + ux * per_x + bx;
                    if frame.progressive {
                        let mask = frame
                            .masks
                            .get_mut(block)
                            .ok_or("a block is outside the image")?;
                        decode_progressive(
                            &mut bits,
                            scan,
                            dc_table,
                            ac_table,
                            mask,
                            &mut eob_run,
                        )?;
                    } else if let (Some(dc_table), Some(ac_table)) = (dc_table, ac_table) {
                        decode_sequential(&mut bits, dc_table, ac_table)?;
                    }
                }
            }
        }
        if bits.overrun() {
            return Err(ENDS_EARLY.to_owned());
        }
    }
    // Bytes between the last block and the next marker are tolerated, as decoders do.
    Ok(next_after_scan(bytes, bits.pos))
}

const ENDS_EARLY: &str = "its entropy-coded data ends before the last block";

/// The position of the first marker (not a stuffed 0xFF00) at or after `pos`.
fn next_marker(bytes: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let at = pos + bytes.get(pos..)?.iter().position(|&b| b == 0xFF)?;
        match bytes.get(at + 1) {
            Some(0x00) => pos = at + 2,
            Some(0xFF) => pos = at + 1,
            Some(_) => return Some(at),
            None => return None,
        }
    }
}

/// The position of the first marker after a scan that is not a restart marker.
fn next_after_scan(bytes: &[u8], mut pos: usize) -> usize {
    loop {
        match next_marker(bytes, pos) {
            Some(at) if matches!(bytes.get(at + 1), Some(0xD0..=0xD7)) => pos = at + 2,
            Some(at) => return at,
            None => return bytes.len(),
        }
    }
}

/// The size category of a DC difference (at most 11 for 8-bit samples).
fn dc_size(bits: &mut Bits<'_>, table: &Huffman) -> Result<u32, String> {
    let size = u32::from(bits.decode(table)?);
    if size > 11 {
        return Err("a DC coefficient is out of range".to_owned());
    }
    Ok(size)
}

fn decode_sequential(bits: &mut Bits<'_>, dc: &Huffman, ac: &Huffman) -> Result<(), String> {
    bits.reserve();
    let size = dc_size(bits, dc)?;
    bits.skip(size);
    let mut k = 1u32;
    while k < 64 {
        bits.reserve();
        let index = (bits.acc >> (64 - LOOKUP_BITS)) as usize;
        let fast = ac.fast_ac.get(index).copied().unwrap_or_default();
        if fast != 0 {
            // k + run is the coefficient's index: it must be inside the block.
            k += u32::from(fast >> 8);
            if k > 64 {
                return Err(OUTSIDE_BLOCK.to_owned());
            }
            bits.skip(u32::from(fast & 0xFF));
            continue;
        }
        let rs = bits.decode(ac)?;
        let (run, size) = (u32::from(rs >> 4), u32::from(rs & 15));
        if size == 0 {
            if run != 15 {
                break;
            }
            k += 16;
            continue;
        }
        k += run;
        if k > 63 || size > 10 {
            return Err(OUTSIDE_BLOCK.to_owned());
        }
        bits.skip(size);
        k += 1;
    }
    if k > 64 {
        return Err(OUTSIDE_BLOCK.to_owned());
    }
    Ok(())
}

const OUTSIDE_BLOCK: &str = "its entropy-coded data puts a coefficient outside its block";

fn decode_progressive(
    bits: &mut Bits<'_>,
    scan: &Scan,
    dc: Option<&Huffman>,
    ac: Option<&Huffman>,
    mask: &mut u64,
    eob_run: &mut u32,
) -> Result<(), String> {
    if scan.start == 0 {
        if scan.high == 0 {
            if let Some(dc) = dc {
                let size = dc_size(bits, dc)?;
                bits.skip(size);
            }
        } else {
            bits.skip(1);
        }
        return Ok(());
    }
    let Some(ac) = ac else {
        return Ok(());
    };
    let (start, end) = (scan.start as u32, scan.end as u32);
    if scan.high == 0 {
        // First AC scan of a band.
        if *eob_run > 0 {
            *eob_run -= 1;
            return Ok(());
        }
        let mut k = start;
        while k <= end {
            let rs = bits.decode(ac)?;
            let (run, size) = (u32::from(rs >> 4), u32::from(rs & 15));
            if size == 0 {
                if run < 15 {
                    *eob_run = (1 << run) - 1 + bits.bits(run);
                    break;
                }
                k += 16;
                continue;
            }
            k += run;
            if k > end || size > 10 {
                return Err(OUTSIDE_BLOCK.to_owned());
            }
            bits.skip(size);
            *mask |= 1 << k;
            k += 1;
        }
        if k > end + 1 {
            return Err(OUTSIDE_BLOCK.to_owned());
        }
        return Ok(());
    }
    // Refinement of a band: one correction bit per coefficient already non-zero, new
    // coefficients of magnitude 1 placed after runs of zero ones (ITU T.81 G.1.2.3).
    let mut k = start;
    if *eob_run == 0 {
        while k <= end {
            let rs = bits.decode(ac)?;
            let (mut run, size) = (i32::from(rs >> 4), rs & 15);
            if size != 0 {
                if size != 1 {
                    return Err("its entropy-coded data has an invalid refinement code".to_owned());
                }
                bits.skip(1);
            } else if run != 15 {
                *eob_run = (1 << run) + bits.bits(run as u32);
                break;
            }
            while k <= end {
                if *mask & (1 << k) != 0 {
                    bits.skip(1);
                } else {
                    run -= 1;
                    if run < 0 {
                        break;
                    }
                }
                k += 1;
            }
            if size != 0 {
                if k > end {
                    return Err(OUTSIDE_BLOCK.to_owned());
                }
                *mask |= 1 << k;
            }
            k += 1;
        }
    }
    if *eob_run > 0 {
        while k <= end {
            if *mask & (1 << k) != 0 {
                bits.skip(1);
            }
            k += 1;
        }
        *eob_run -= 1;
    }
    Ok(())
}
