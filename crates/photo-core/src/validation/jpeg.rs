//! JPEG: the marker walk (spec B5) and the entropy-coded data check.
//!
//! The data check Huffman-decodes every scan (baseline, extended and progressive) without
//! dequantising, transforming or colour-converting anything: each code must exist in its table,
//! each block's coefficients must stay within the block, every block of the scan must be
//! there before its data ends, and restart markers must come where the restart interval puts
//! them. Progressive refinement scans need to know which coefficients earlier scans made
//! non-zero: one 64-bit mask per block is all that is kept (1.7 MB for 3000x3000 4:2:0).

use super::{be16, corrupt, malformed, truncated, ImageFormat, InvalidImage};

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

const JPEG_DHT: u8 = 0xC4;
const JPEG_DQT: u8 = 0xDB;
const JPEG_DRI: u8 = 0xDD;
/// Bits of a code looked up at once; longer codes take the slow path.
const LOOKUP_BITS: u32 = 11;

/// A Huffman table: a direct lookup for short codes, the canonical code ranges for the rest.
struct Huffman {
    /// Indexed by the next `LOOKUP_BITS` bits: `length << 8 | symbol`, or 0 when longer.
    lookup: Vec<u16>,
    /// For AC tables, indexed the same way: `(run + 1) << 8 | bits` when a non-zero
    /// coefficient's code and its extra bits fit in `LOOKUP_BITS` (most of them, in a photo),
    /// so that one lookup and one shift consume both; else 0.
    fast_ac: Vec<u16>,
    /// Per code length: the largest code (-1 when none), and the index of its first symbol
    /// minus its first code.
    max_code: [i32; 17],
    offset: [i32; 17],
    symbols: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8], symbols: &[u8]) -> Result<Self, String> {
        let mut max_code = [-1i32; 17];
        let mut offset = [0i32; 17];
        let mut lookup = vec![0u16; 1 << LOOKUP_BITS];
        let mut code = 0i32;
        let mut index = 0i32;
        for length in 1..=16usize {
            let count = i32::from(counts.get(length - 1).copied().unwrap_or_default());
            offset[length] = index - code;
            if count > 0 {
                for i in 0..count {
                    if length as u32 <= LOOKUP_BITS {
                        let symbol = symbols
                            .get((index + i) as usize)
                            .copied()
                            .unwrap_or_default();
                        let shift = LOOKUP_BITS - length as u32;
                        let first = ((code + i) as usize) << shift;
                        let entry = (length as u16) << 8 | u16::from(symbol);
                        for slot in lookup.iter_mut().skip(first).take(1 << shift) {
                            *slot = entry;
                        }
                    }
                }
                code += count;
                index += count;
                max_code[length] = code - 1;
            }
            if code > 1 << length {
                return Err("a Huffman table is over-subscribed".to_owned());
            }
            code <<= 1;
        }
        let fast_ac = lookup
            .iter()
            .map(|&entry| {
                let (length, symbol) = (entry >> 8, entry & 0xFF);
                let (run, size) = (symbol >> 4, symbol & 15);
                if length > 0 && size > 0 && u32::from(length + size) <= LOOKUP_BITS {
                    (run + 1) << 8 | (length + size)
                } else {
                    0
                }
            })
            .collect();
        Ok(Self {
            lookup,
            fast_ac,
            max_code,
            offset,
            symbols: symbols.to_vec(),
        })
    }
}

/// Reads entropy-coded bits, removing stuffed zero bytes and stopping at a marker. Past the end
/// of the data it supplies zero bits, counted, so running out is detected after the fact.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    count: u32,
    /// How many of the `count` bits are made up (past the data's end).
    padding: u32,
    at_marker: bool,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            acc: 0,
            count: 0,
            padding: 0,
            at_marker: false,
        }
    }

    #[inline]
    fn fill(&mut self) {
        // Fast path: the next bytes hold no 0xFF (no stuffing, no marker): take them at once.
        if !self.at_marker {
            if let Some(next) = self.data.get(self.pos..self.pos + 8) {
                let word = u64::from_be_bytes(next.try_into().unwrap_or([0xFF; 8]));
                // A byte is 0xFF exactly when its complement is zero (the classic has-zero test).
                let inverted = !word;
                let has_ff = inverted.wrapping_sub(0x0101_0101_0101_0101)
                    & !inverted
                    & 0x8080_8080_8080_8080;
                if has_ff == 0 {
                    let take = (63 - self.count) / 8;
                    self.acc |= (word >> (64 - 8 * take)) << (64 - 8 * take - self.count);
                    self.pos += take as usize;
                    self.count += 8 * take;
                    return;
                }
            }
        }
        while self.count <= 56 {
            let mut byte = 0u8;
            if !self.at_marker {
                match self.data.get(self.pos) {
                    Some(0xFF) => {
                        if self.data.get(self.pos + 1) == Some(&0x00) {
                            byte = 0xFF;
                            self.pos += 2;
                        } else {
                            self.at_marker = true;
                        }
                    }
                    Some(&b) => {
                        byte = b;
                        self.pos += 1;
                    }
                    None => self.at_marker = true,
                }
            }
            if self.at_marker {
                self.padding += 8;
            }
            self.acc |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
    }

    #[inline]
    fn peek(&mut self, n: u32) -> u32 {
        if self.count < n {
            self.fill();
        }
        (self.acc >> (64 - n)) as u32
    }

    #[inline]
    fn skip(&mut self, n: u32) {
        if n == 0 {
            return;
        }
        if self.count < n {
            self.fill();
        }
        self.acc <<= n;
        self.count -= n;
    }

    #[inline]
    fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let value = self.peek(n);
        self.skip(n);
        value
    }

    /// Makes sure that a code and its extra bits (at most 32 bits) are in the accumulator.
    #[inline]
    fn reserve(&mut self) {
        if self.count < 32 {
            self.fill();
        }
    }

    #[inline]
    fn decode(&mut self, table: &Huffman) -> Result<u8, String> {
        let peek = self.peek(16);
        let entry = table
            .lookup
            .get((peek >> (16 - LOOKUP_BITS)) as usize)
            .copied()
            .unwrap_or_default();
        if entry != 0 {
            self.skip(u32::from(entry >> 8));
            return Ok(entry as u8);
        }
        for length in LOOKUP_BITS as usize + 1..=16 {
            let code = (peek >> (16 - length)) as i32;
            if code <= table.max_code[length] {
                self.skip(length as u32);
                let index = (code + table.offset[length]) as usize;
                return table
                    .symbols
                    .get(index)
                    .copied()
                    .ok_or_else(|| "a Huffman code has no symbol".to_owned());
            }
        }
        Err("its entropy-coded data has an invalid Huffman code".to_owned())
    }

    /// Whether bits past the end of the data were used.
    fn overrun(&self) -> bool {
        self.count < self.padding
    }
}

#[derive(Clone, Copy)]
struct Component {
    id: u8,
    /// Its quantization table slot.
    quantization: u8,
    h: usize,
    v: usize,
    /// Blocks a row and rows of blocks in a non-interleaved scan.
    blocks_wide: usize,
    blocks_high: usize,
    /// Blocks a row of the MCU-padded grid (interleaved scans cover it all).
    stride: usize,
    /// Where its masks start in `Frame::masks`.
    first_mask: usize,
}

struct Frame {
    progressive: bool,
    components: Vec<Component>,
    mcus_wide: usize,
    mcus_high: usize,
    /// Per block of a progressive frame: which coefficients are non-zero so far.
    masks: Vec<u64>,
}

fn parse_frame(marker: u8, segment: &[u8]) -> Result<Frame, String> {
    let progressive = match marker {
        0xC0 | 0xC1 => false,
        0xC2 => true,
        other => {
            return Err(format!(
                "it uses an unsupported coding process (SOF marker FF{other:02X})"
            ))
        }
    };
    let (Some(&precision), Some(height), Some(width), Some(&count)) = (
        segment.first(),
        be16(segment, 1),
        be16(segment, 3),
        segment.get(5),
    ) else {
        return Err("its frame header is too short".to_owned());
    };
    if precision != 8 {
        return Err(format!(
            "it has {precision}-bit samples; only 8-bit samples are supported"
        ));
    }
    let (width, height) = (usize::from(width), usize::from(height));
    let mut components = Vec::new();
    for i in 0..usize::from(count) {
        let (Some(&id), Some(&sampling), Some(&quantization)) = (
            segment.get(6 + 3 * i),
            segment.get(7 + 3 * i),
            segment.get(8 + 3 * i),
        ) else {
            return Err("its frame header is too short".to_owned());
        };
        let (h, v) = (usize::from(sampling >> 4), usize::from(sampling & 15));
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
            return Err("its frame header has invalid sampling factors".to_owned());
        }
        if components.iter().any(|c: &Component| c.id == id) {
            return Err("its frame header names a component twice".to_owned());
        }
        components.push(Component {
            id,
            quantization,
            h,
            v,
            blocks_wide: 0,
            blocks_high: 0,
            stride: 0,
            first_mask: 0,
        });
    }
    if components.is_empty() || components.len() > 4 {
        return Err(format!("it has {} colour components", components.len()));
    }
    let h_max = components.iter().map(|c| c.h).max().unwrap_or(1);
    let v_max = components.iter().map(|c| c.v).max().unwrap_or(1);
    let mcus_wide = width.div_ceil(8 * h_max);
    let mcus_high = height.div_ceil(8 * v_max);
    let mut blocks = 0usize;
    for c in &mut components {
        c.blocks_wide = (width * c.h).div_ceil(h_max).div_ceil(8);
        c.blocks_high = (height * c.v).div_ceil(v_max).div_ceil(8);
        c.stride = mcus_wide * c.h;
        c.first_mask = blocks;
        blocks += c.stride * mcus_high * c.v;
    }
    let masks = if progressive {
        vec![0u64; blocks]
    } else {
        Vec::new()
    };
    Ok(Frame {
        progressive,
        components,
        mcus_wide,
        mcus_high,
        masks,
    })
}

/// One scan's parameters.
struct Scan {
    /// Indexes into `Frame::components`, with their DC and AC table slots.
    components: Vec<(usize, usize, usize)>,
    start: usize,
    end: usize,
    high: u8,
}

/// Walks the segments again, decoding each scan's entropy-coded data.
fn check_entropy_coded_data(bytes: &[u8]) -> Result<(), String> {
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

fn parse_scan(frame: &Frame, segment: &[u8]) -> Result<Scan, String> {
    let count = usize::from(segment.first().copied().unwrap_or_default());
    if count == 0 || count > 4 {
        return Err(format!("a scan has {count} components"));
    }
    let mut components = Vec::new();
    for i in 0..count {
        let (Some(&id), Some(&tables)) = (segment.get(1 + 2 * i), segment.get(2 + 2 * i)) else {
            return Err("a scan header is too short".to_owned());
        };
        let index = frame
            .components
            .iter()
            .position(|c| c.id == id)
            .ok_or("a scan names a component the frame does not have")?;
        let (dc, ac) = (usize::from(tables >> 4), usize::from(tables & 15));
        if dc > 3 || ac > 3 {
            return Err("a scan names an invalid Huffman table".to_owned());
        }
        components.push((index, dc, ac));
    }
    let at = 1 + 2 * count;
    let (Some(&start), Some(&end), Some(&approx)) =
        (segment.get(at), segment.get(at + 1), segment.get(at + 2))
    else {
        return Err("a scan header is too short".to_owned());
    };
    let (start, end, high, low) = (
        usize::from(start),
        usize::from(end),
        approx >> 4,
        approx & 15,
    );
    if frame.progressive {
        let dc_scan = start == 0;
        if (dc_scan && end != 0)
            || start > end
            || end > 63
            || (!dc_scan && count != 1)
            || low > 13
            || high > 13
        {
            return Err("a progressive scan has invalid parameters".to_owned());
        }
        Ok(Scan {
            components,
            start,
            end,
            high,
        })
    } else {
        // Sequential scans always carry all 64 coefficients of each block.
        Ok(Scan {
            components,
            start: 0,
            end: 63,
            high: 0,
        })
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
