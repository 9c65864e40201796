//! JPEG: progressive scans, EXIF orientation, the entropy-coded data check and a missing EOI.

use super::*;
use crate::validation::jpeg::JPEG_SOS;

/// An APP1 Exif segment carrying only Orientation = `orientation` (big-endian TIFF).
fn exif_app1(orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\0*");
    tiff.extend_from_slice(&8u32.to_be_bytes()); // IFD0 offset.
    tiff.extend_from_slice(&1u16.to_be_bytes()); // One entry:
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation,
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT,
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count 1,
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes()); // No next IFD.
    let mut data = b"Exif\0\0".to_vec();
    data.extend(tiff);
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&((data.len() + 2) as u16).to_be_bytes());
    segment.extend(data);
    segment
}

fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend(exif_app1(orientation));
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn accepts_progressive_jpeg_with_restart_markers() {
    let bytes = progressive_jpeg(48, 40);
    let sos_count = bytes.windows(2).filter(|w| w == &[0xFF, JPEG_SOS]).count();
    assert!(sos_count > 1, "expected several scans, found {sos_count}");
    assert_eq!(
        validate(&bytes),
        Ok(ImageInfo {
            format: ImageFormat::Jpeg,
            width: 48,
            height: 40
        })
    );
    let without_eoi = &bytes[..bytes.len() - 2];
    assert!(matches!(
        validate(without_eoi),
        Err(InvalidImage::Truncated { .. })
    ));
}

#[test]
fn exif_orientations_5_to_8_swap_width_and_height() {
    let jpeg = encode(ImageFormat::Jpeg, 40, 20, false);
    for orientation in 1..=8u16 {
        let info = validate(&with_exif_orientation(&jpeg, orientation)).expect("valid");
        let expected = if orientation >= 5 { (20, 40) } else { (40, 20) };
        assert_eq!(
            (info.width, info.height),
            expected,
            "orientation {orientation}"
        );
    }
}

/// The range of the first scan's entropy-coded data.
fn jpeg_scan_data(jpeg: &[u8]) -> std::ops::Range<usize> {
    let sos = jpeg
        .windows(2)
        .position(|w| w == [0xFF, JPEG_SOS])
        .expect("SOS");
    let start = sos + 2 + usize::from(u16::from_be_bytes([jpeg[sos + 2], jpeg[sos + 3]]));
    let end = start
        + jpeg[start..]
            .windows(2)
            .position(|w| w[0] == 0xFF && w[1] != 0 && !(0xD0..=0xD7).contains(&w[1]))
            .expect("end of scan");
    start..end
}

#[test]
fn jpeg_with_garbage_entropy_coded_data_is_corrupt() {
    for (seed, progressive) in [(1, false), (2, false), (3, false), (4, true), (5, true)] {
        let mut jpeg = if progressive {
            progressive_jpeg(64, 64)
        } else {
            encode(ImageFormat::Jpeg, 96, 80, false)
        };
        let scan = jpeg_scan_data(&jpeg);
        let junk = garbage(seed, scan.len());
        jpeg[scan].copy_from_slice(&junk);
        assert_corrupt(&jpeg, ImageFormat::Jpeg, &format!("seed {seed}"));
    }
}

#[test]
fn jpeg_whose_component_has_no_quantization_table_is_corrupt() {
    // Found by the render invariant: zune-jpeg refuses to decode such a frame.
    let mut jpeg = encode(ImageFormat::Jpeg, 64, 48, false);
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("SOF0");
    // Marker, length, precision, height, width, count; then id, sampling, table per component.
    jpeg[sof + 10 + 2] = 3;
    let text = assert_corrupt(&jpeg, ImageFormat::Jpeg, "no DQT");
    assert!(text.contains("quantization table"), "{text}");
}

#[test]
fn jpeg_whose_scan_ends_early_is_corrupt() {
    // The scan's data cut in half, the markers after it kept: structurally whole.
    let jpeg = encode(ImageFormat::Jpeg, 96, 96, false);
    let scan = jpeg_scan_data(&jpeg);
    let mut short = jpeg[..scan.start + scan.len() / 2].to_vec();
    short.extend_from_slice(&jpeg[scan.end..]);
    let text = assert_corrupt(&short, ImageFormat::Jpeg, "half a scan");
    assert!(text.contains("ends before the last block"), "{text}");
}

#[test]
fn jpeg_missing_eoi_is_truncated() {
    let jpeg = encode(ImageFormat::Jpeg, 20, 20, false);
    for cut in [1, 2] {
        let error = validate(&jpeg[..jpeg.len() - cut]).expect_err("no EOI");
        assert!(
            matches!(
                error,
                InvalidImage::Truncated {
                    format: ImageFormat::Jpeg,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .starts_with("The JPEG image is incomplete: "),
            "{error}"
        );
    }
}
