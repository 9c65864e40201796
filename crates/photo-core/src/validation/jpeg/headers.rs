//! The frame header (SOF) and scan header (SOS) of a JPEG, as the entropy-coded data check
//! needs them: components, sampling, block grid and each scan's band.

use super::be16;

#[derive(Clone, Copy)]
pub(super) struct Component {
    pub(super) id: u8,
    /// Its quantization table slot.
    pub(super) quantization: u8,
    pub(super) h: usize,
    pub(super) v: usize,
    /// Blocks a row and rows of blocks in a non-interleaved scan.
    pub(super) blocks_wide: usize,
    pub(super) blocks_high: usize,
    /// Blocks a row of the MCU-padded grid (interleaved scans cover it all).
    pub(super) stride: usize,
    /// Where its masks start in `Frame::masks`.
    pub(super) first_mask: usize,
}

pub(super) struct Frame {
    pub(super) progressive: bool,
    pub(super) components: Vec<Component>,
    pub(super) mcus_wide: usize,
    pub(super) mcus_high: usize,
    /// Per block of a progressive frame: which coefficients are non-zero so far.
    pub(super) masks: Vec<u64>,
}

pub(super) fn parse_frame(marker: u8, segment: &[u8]) -> Result<Frame, String> {
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
pub(super) struct Scan {
    /// Indexes into `Frame::components`, with their DC and AC table slots.
    pub(super) components: Vec<(usize, usize, usize)>,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) high: u8,
}

pub(super) fn parse_scan(frame: &Frame, segment: &[u8]) -> Result<Scan, String> {
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
