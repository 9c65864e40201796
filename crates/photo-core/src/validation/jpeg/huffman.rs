//! The entropy decoder's tools: a Huffman table and the bit reader that decodes with it.

/// Bits of a code looked up at once; longer codes take the slow path.
pub(super) const LOOKUP_BITS: u32 = 11;

/// A Huffman table: a direct lookup for short codes, the canonical code ranges for the rest.
pub(super) struct Huffman {
    /// Indexed by the next `LOOKUP_BITS` bits: `length << 8 | symbol`, or 0 when longer.
    lookup: Vec<u16>,
    /// For AC tables, indexed the same way: `(run + 1) << 8 | bits` when a non-zero
    /// coefficient's code and its extra bits fit in `LOOKUP_BITS` (most of them, in a photo),
    /// so that one lookup and one shift consume both; else 0.
    pub(super) fast_ac: Vec<u16>,
    /// Per code length: the largest code (-1 when none), and the index of its first symbol
    /// minus its first code.
    max_code: [i32; 17],
    offset: [i32; 17],
    symbols: Vec<u8>,
}

impl Huffman {
    pub(super) fn new(counts: &[u8], symbols: &[u8]) -> Result<Self, String> {
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
pub(super) struct Bits<'a> {
    data: &'a [u8],
    pub(super) pos: usize,
    pub(super) acc: u64,
    count: u32,
    /// How many of the `count` bits are made up (past the data's end).
    padding: u32,
    at_marker: bool,
}

impl<'a> Bits<'a> {
    pub(super) fn new(data: &'a [u8], pos: usize) -> Self {
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
    pub(super) fn skip(&mut self, n: u32) {
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
    pub(super) fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let value = self.peek(n);
        self.skip(n);
        value
    }

    /// Makes sure that a code and its extra bits (at most 32 bits) are in the accumulator.
    #[inline]
    pub(super) fn reserve(&mut self) {
        if self.count < 32 {
            self.fill();
        }
    }

    #[inline]
    pub(super) fn decode(&mut self, table: &Huffman) -> Result<u8, String> {
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
    pub(super) fn overrun(&self) -> bool {
        self.count < self.padding
    }
}
