//! GIF: the LZW-coded image data.

use super::*;

/// The first image's LZW minimum code size position and its sub-blocks' range.
fn gif_image_data(gif: &[u8]) -> (usize, std::ops::Range<usize>) {
    let flags = gif[10];
    let mut pos = 13
        + if flags & 0x80 != 0 {
            3 << ((flags & 7) + 1)
        } else {
            0
        };
    loop {
        match gif[pos] {
            0x21 => {
                pos += 2;
                while gif[pos] != 0 {
                    pos += 1 + usize::from(gif[pos]);
                }
                pos += 1;
            }
            0x2C => {
                let local = gif[pos + 9];
                pos += 10
                    + if local & 0x80 != 0 {
                        3 << ((local & 7) + 1)
                    } else {
                        0
                    };
                let code_size = pos;
                let mut end = pos + 1;
                while gif[end] != 0 {
                    end += 1 + usize::from(gif[end]);
                }
                return (code_size, code_size + 1..end + 1);
            }
            other => panic!("unexpected GIF block {other:#x}"),
        }
    }
}

/// `gif` with its first image's data replaced by `code_size` and `data` in sub-blocks.
fn gif_with_image_data(gif: &[u8], code_size: u8, data: &[u8]) -> Vec<u8> {
    let (at, blocks) = gif_image_data(gif);
    let mut out = gif[..at].to_vec();
    out.push(code_size);
    for chunk in data.chunks(255) {
        out.push(chunk.len() as u8);
        out.extend_from_slice(chunk);
    }
    out.push(0);
    out.extend_from_slice(&gif[blocks.end..]);
    out
}

#[test]
fn gif_with_garbage_or_short_lzw_data_is_corrupt() {
    let gif = encode(ImageFormat::Gif, 64, 64, false);
    assert!(validate(&gif).is_ok());
    for seed in 1..6 {
        let bad = gif_with_image_data(&gif, 8, &garbage(seed, 2000));
        assert_corrupt(&bad, ImageFormat::Gif, &format!("seed {seed}"));
    }
    // Clear code, two pixels, end code (9-bit codes for code size 8): too few pixels.
    let short = gif_with_image_data(&gif, 8, &[0x00, 0x03, 0x04, 0x04, 0x10]);
    let text = assert_corrupt(&short, ImageFormat::Gif, "short");
    assert!(
        text.contains("first frame cannot be decoded (image truncated)"),
        "{text}"
    );
    let text = assert_corrupt(
        &gif_with_image_data(&gif, 12, &[0; 8]),
        ImageFormat::Gif,
        "code size",
    );
    assert!(text.contains("invalid minimal code size"), "{text}");
}
