//! PNG: the inflated IDAT data, chunk CRCs and the CRC-32 itself.

use super::*;

/// A zlib stream of stored blocks holding `data`, with its Adler-32.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(65_535).collect()
    };
    for (i, chunk) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&(b << 16 | a).to_be_bytes());
    out
}

/// A 4x3 8-bit greyscale PNG whose IDAT holds `idat` (chunk CRCs correct).
fn grey_png(idat: &[u8]) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&4u32.to_be_bytes());
    ihdr.extend_from_slice(&3u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut png = PNG_MAGIC.to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(b"IDAT", idat));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

#[test]
fn png_image_data_is_inflated_and_counted() {
    // 3 rows of a filter byte and 4 pixels.
    let rows: Vec<u8> = (0..3).flat_map(|r| [r % 5, 10, 20, 30, 40]).collect();
    assert_eq!(
        validate(&grey_png(&zlib_stored(&rows))),
        Ok(ImageInfo {
            format: ImageFormat::Png,
            width: 4,
            height: 3
        })
    );
    let text = assert_corrupt(
        &grey_png(&zlib_stored(&rows[..14])),
        ImageFormat::Png,
        "short",
    );
    assert!(text.contains("fewer than the 15"), "{text}");
    let mut long = rows.clone();
    long.push(0);
    let text = assert_corrupt(&grey_png(&zlib_stored(&long)), ImageFormat::Png, "long");
    assert!(text.contains("more than the 15"), "{text}");
    let mut bad_filter = rows.clone();
    bad_filter[5] = 9;
    let text = assert_corrupt(
        &grey_png(&zlib_stored(&bad_filter)),
        ImageFormat::Png,
        "filter",
    );
    assert!(text.contains("filter type (9)"), "{text}");
    let mut bad_adler = zlib_stored(&rows);
    let last = bad_adler.len() - 1;
    bad_adler[last] ^= 1;
    let text = assert_corrupt(&grey_png(&bad_adler), ImageFormat::Png, "adler");
    assert!(text.contains("Adler-32"), "{text}");
    assert_corrupt(&grey_png(&garbage(7, 40)), ImageFormat::Png, "garbage zlib");
    let mut unfinished = zlib_stored(&rows);
    unfinished.truncate(unfinished.len() - 6);
    assert_corrupt(
        &grey_png(&unfinished),
        ImageFormat::Png,
        "unfinished stream",
    );
}

#[test]
fn png_with_garbage_idat_and_valid_crcs_is_corrupt() {
    for seed in 1..6 {
        let png = encode(ImageFormat::Png, 60, 50, seed % 2 == 0);
        let at = png.windows(4).position(|w| w == b"IDAT").expect("IDAT") - 4;
        let len = u32::from_be_bytes(png[at..at + 4].try_into().expect("4 bytes")) as usize;
        // Keep the zlib header, garble the deflate data, fix the CRC.
        let mut data = png[at + 8..at + 8 + len].to_vec();
        let junk = garbage(seed, data.len() - 2);
        data[2..].copy_from_slice(&junk);
        let mut bad = png[..at].to_vec();
        bad.extend(png_chunk(b"IDAT", &data));
        bad.extend_from_slice(&png[at + 12 + len..]);
        assert_corrupt(&bad, ImageFormat::Png, &format!("seed {seed}"));
    }
}

#[test]
fn png_with_a_flipped_crc_byte_is_malformed() {
    let png = encode(ImageFormat::Png, 12, 12, true);
    // The last byte is IEND's CRC; also flip one inside the IDAT data.
    let mut bad_crc = png.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0x01;
    let error = validate(&bad_crc).expect_err("bad CRC");
    assert!(
        matches!(
            error,
            InvalidImage::Malformed {
                format: ImageFormat::Png,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("CRC"), "{error}");
    let idat = png.windows(4).position(|w| w == b"IDAT").expect("IDAT");
    let mut bad_data = png;
    bad_data[idat + 6] ^= 0x40;
    assert!(matches!(
        validate(&bad_data),
        Err(InvalidImage::Malformed { .. })
    ));
}

#[test]
fn crc32_matches_the_reference_value() {
    assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
    assert_eq!(crc32(&[b"1234", b"56789"]), 0xCBF4_3926);
    assert_eq!(crc32(&[b"IEND"]), 0xAE42_6082);
}
