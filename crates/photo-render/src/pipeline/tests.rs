use super::*;
use image::codecs::jpeg::JpegEncoder;
use image::{GenericImageView, RgbImage, RgbaImage};
use proptest::prelude::*;

fn jpeg_of(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 95)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

fn png_of(image: &RgbaImage) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgba8,
        )
        .unwrap();
    out
}

/// A JPEG with an Exif APP1 segment carrying `orientation`, inserted right after SOI.
fn with_exif_orientation(jpeg: &[u8], orientation: u8) -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\0\x2a\0\0\0\x08"); // big-endian, IFD0 at offset 8
    tiff.extend_from_slice(&[0, 1]); // one entry
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0]);
    tiff.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let length = u16::try_from(payload.len() + 2).unwrap();
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn close(a: Rgb<u8>, b: [u8; 3], tolerance: u8) -> bool {
    a.0.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= tolerance)
}

const RED: [u8; 3] = [255, 0, 0];
const GREEN: [u8; 3] = [0, 255, 0];
const BLUE: [u8; 3] = [0, 0, 255];

#[test]
fn jpeg_700x500_yields_the_sizes_up_to_500_as_jpeg_squares() {
    let image = RgbImage::from_fn(700, 500, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    let set = render_all(&jpeg_of(&image)).unwrap();
    let sides: Vec<u32> = set.renditions.iter().map(|r| r.side).collect();
    assert_eq!(sides, vec![48, 64, 96, 120, 240, 360, 432]);
    for rendition in &set.renditions {
        assert_eq!(rendition.format, RenditionFormat::Jpeg);
        assert_eq!(
            image::guess_format(&rendition.bytes).unwrap(),
            ImageFormat::Jpeg
        );
        let decoded = image::load_from_memory(&rendition.bytes).unwrap();
        assert_eq!(decoded.dimensions(), (rendition.side, rendition.side));
    }
    assert!(set.get(432).is_some());
    assert!(set.get(504).is_none());
    assert_eq!(set.get(48).unwrap().format.content_type(), "image/jpeg");
}

#[test]
fn rgba_png_with_one_transparent_pixel_yields_png_with_alpha() {
    let mut image = RgbaImage::from_pixel(100, 80, Rgba([10, 200, 30, 255]));
    image.put_pixel(0, 0, Rgba([0, 0, 0, 0]));
    let set = render_all(&png_of(&image)).unwrap();
    let sides: Vec<u32> = set.renditions.iter().map(|r| r.side).collect();
    assert_eq!(sides, vec![48, 64]);
    for rendition in &set.renditions {
        assert_eq!(rendition.format, RenditionFormat::Png);
        assert_eq!(rendition.format.content_type(), "image/png");
        assert_eq!(
            image::guess_format(&rendition.bytes).unwrap(),
            ImageFormat::Png
        );
        let decoded = image::load_from_memory(&rendition.bytes).unwrap();
        assert!(decoded.color().has_alpha());
        assert_eq!(decoded.dimensions(), (rendition.side, rendition.side));
    }
}

#[test]
fn transparent_pixels_do_not_bleed_their_colour() {
    // Left half fully transparent *red*, right half opaque blue: along the edge the alpha
    // falls off, but the colour stays blue (alpha is premultiplied while resizing).
    let image = RgbaImage::from_fn(100, 100, |x, _| {
        Rgba(if x < 50 {
            [255, 0, 0, 0]
        } else {
            [0, 0, 255, 255]
        })
    });
    let set = render_all(&png_of(&image)).unwrap();
    assert_eq!(set.renditions.len(), 3);
    for rendition in &set.renditions {
        let s = rendition.side;
        let pixels = image::load_from_memory(&rendition.bytes)
            .unwrap()
            .into_rgba8();
        assert_eq!(pixels.get_pixel(2, s / 2)[3], 0, "{s}: left is transparent");
        assert_eq!(
            *pixels.get_pixel(s - 3, s / 2),
            Rgba([0, 0, 255, 255]),
            "{s}: right is opaque blue"
        );
        for x in 0..s {
            let pixel = *pixels.get_pixel(x, s / 2);
            if pixel[3] >= 32 {
                assert!(pixel[0] <= 16, "{s}: ({x}) is {pixel:?}");
            }
        }
    }
}

#[test]
fn opaque_rgba_png_yields_jpeg() {
    let image = RgbaImage::from_pixel(100, 80, Rgba([10, 200, 30, 255]));
    let set = render_all(&png_of(&image)).unwrap();
    assert_eq!(set.renditions.len(), 2);
    for rendition in &set.renditions {
        assert_eq!(rendition.format, RenditionFormat::Jpeg);
        let decoded = image::load_from_memory(&rendition.bytes)
            .unwrap()
            .into_rgb8();
        assert_eq!(decoded.dimensions(), (rendition.side, rendition.side));
        assert!(close(*decoded.get_pixel(20, 20), [10, 200, 30], 12));
    }
}

/// Asserts the colours of the four corners (top-left, top-right, bottom-left, bottom-right)
/// of every rendition in `set`.
fn encoded(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).unwrap();
    bytes.into_inner()
}

#[test]
fn sixteen_bit_pngs_render_in_their_colours() {
    // Opaque RGBA16: JPEG renditions of the colour's high bytes.
    let rgba16 = image::ImageBuffer::<Rgba<u16>, _>::from_pixel(
        120,
        100,
        Rgba([0x0A00, 0xC8FF, 0x1E80, u16::MAX]),
    );
    let set = render_all(&encoded(
        DynamicImage::ImageRgba16(rgba16),
        ImageFormat::Png,
    ))
    .unwrap();
    assert_eq!(set.renditions.len(), 3);
    for rendition in &set.renditions {
        assert_eq!(rendition.format, RenditionFormat::Jpeg);
        let pixels = image::load_from_memory(&rendition.bytes)
            .unwrap()
            .into_rgb8();
        assert!(pixels.pixels().all(|p| close(*p, [10, 200, 30], 6)));
    }
    // Grey with alpha, 16 bits: a transparent corner keeps the PNG with alpha.
    let mut la16 = image::ImageBuffer::<image::LumaA<u16>, _>::from_pixel(
        64,
        64,
        image::LumaA([0x8000, u16::MAX]),
    );
    la16.put_pixel(0, 0, image::LumaA([0, 0]));
    let set = render_all(&encoded(DynamicImage::ImageLumaA16(la16), ImageFormat::Png)).unwrap();
    assert_eq!(set.renditions.len(), 2);
    assert_eq!(set.renditions[0].format, RenditionFormat::Png);
    let pixels = image::load_from_memory(&set.renditions[1].bytes)
        .unwrap()
        .into_rgba8();
    let centre = pixels.get_pixel(32, 32).0;
    assert!(
        centre[..3].iter().all(|&c| c.abs_diff(128) <= 2),
        "{centre:?}"
    );
    assert_eq!(centre[3], 255);
}

#[test]
fn render_cost_counts_the_decoded_pixels_from_the_header() {
    let mib = 1024 * 1024;
    // 16-bit RGBA is decoded straight to 8 bits: 4 bytes a pixel, no copy.
    let rgba16 = image::ImageBuffer::<Rgba<u16>, _>::from_pixel(200, 100, Rgba([1, 2, 3, 4]));
    let png = encoded(DynamicImage::ImageRgba16(rgba16), ImageFormat::Png);
    assert_eq!(render_cost(&png).unwrap(), 200 * 100 * 4 + 16 * mib);
    // Grey: 1 byte a pixel, plus its RGB copy.
    let grey = image::GrayImage::from_pixel(200, 100, image::Luma([9]));
    let png = encoded(DynamicImage::ImageLuma8(grey.clone()), ImageFormat::Png);
    assert_eq!(render_cost(&png).unwrap(), 200 * 100 * (1 + 3) + 16 * mib);
    // An RGB JPEG decodes to RGB: 3 bytes a pixel.
    let jpeg = jpeg_of(&RgbImage::from_pixel(200, 100, Rgb(RED)));
    assert!(!jpeg_is_progressive(&jpeg));
    assert_eq!(render_cost(&jpeg).unwrap(), 200 * 100 * 3 + 16 * mib);
    // Too small to render: nothing is decoded.
    let tiny = jpeg_of(&RgbImage::from_pixel(40, 400, Rgb(RED)));
    assert_eq!(render_cost(&tiny).unwrap(), 0);
    // Refused as render_all refuses it.
    assert!(matches!(render_cost(b"hello"), Err(RenderError::Decode(_))));
    let mut huge = png_of(&RgbaImage::from_pixel(1, 1, Rgba([0, 0, 0, 255])));
    huge[16..20].copy_from_slice(&20_000u32.to_be_bytes());
    huge[20..24].copy_from_slice(&20_000u32.to_be_bytes());
    assert!(render_cost(&huge).is_err());
}

#[test]
fn progressive_jpegs_are_recognised_by_their_frame_header() {
    let mut jpeg = jpeg_of(&RgbImage::from_pixel(64, 64, Rgb(RED)));
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline frame header");
    jpeg[sof + 1] = 0xC2;
    assert!(jpeg_is_progressive(&jpeg));
    assert!(!jpeg_is_progressive(b""));
    assert!(!jpeg_is_progressive(&[0xFF, 0xD8, 0xFF, 0xE0, 0xFF]));
}

fn assert_corners(set: &RenditionSet, corners: [[u8; 3]; 4], what: &str) {
    assert_eq!(set.renditions.len(), 3, "{what}");
    for rendition in &set.renditions {
        let s = rendition.side;
        let pixels = image::load_from_memory(&rendition.bytes)
            .unwrap()
            .into_rgb8();
        let (near, far) = (4, s - 5);
        let points = [(near, near), (far, near), (near, far), (far, far)];
        for ((x, y), colour) in points.into_iter().zip(corners) {
            let pixel = *pixels.get_pixel(x, y);
            assert!(
                close(pixel, colour, 40),
                "{what}, {s}x{s}: ({x},{y}) is {pixel:?}, expected {colour:?}"
            );
        }
    }
}

#[test]
fn exif_orientation_is_applied_before_the_crop() {
    // Stored 200x100: left half red, right half blue; the stored centre square is red on
    // the left, blue on the right.
    let stored = RgbImage::from_fn(200, 100, |x, _| Rgb(if x < 100 { RED } else { BLUE }));
    let jpeg = jpeg_of(&stored);
    assert_corners(
        &render_all(&jpeg).unwrap(),
        [RED, BLUE, RED, BLUE],
        "no Exif",
    );
    // Orientation 6, "rotate 90° CW to display": displayed 100x200, top half red, bottom
    // half blue, so the displayed centre square is red on top and blue below.
    assert_corners(
        &render_all(&with_exif_orientation(&jpeg, 6)).unwrap(),
        [RED, RED, BLUE, BLUE],
        "orientation 6",
    );
    // Orientation 8, "rotate 90° CCW to display": blue on top.
    assert_corners(
        &render_all(&with_exif_orientation(&jpeg, 8)).unwrap(),
        [BLUE, BLUE, RED, RED],
        "orientation 8",
    );
    // Orientation 1 written explicitly changes nothing.
    assert_corners(
        &render_all(&with_exif_orientation(&jpeg, 1)).unwrap(),
        [RED, BLUE, RED, BLUE],
        "orientation 1",
    );
}

#[test]
fn the_crop_is_centred() {
    // Outer thirds red, middle third green: the centre square is all green.
    let image = RgbImage::from_fn(300, 100, |x, _| {
        Rgb(if (100..200).contains(&x) { GREEN } else { RED })
    });
    let set = render_all(&jpeg_of(&image)).unwrap();
    assert_eq!(set.renditions.len(), 3);
    for rendition in &set.renditions {
        let pixels = image::load_from_memory(&rendition.bytes)
            .unwrap()
            .into_rgb8();
        for (x, y, pixel) in pixels.enumerate_pixels() {
            assert!(
                close(*pixel, GREEN, 40),
                "{}: ({x},{y}) is {pixel:?}",
                rendition.side
            );
        }
    }
    // Tall too.
    let image = RgbImage::from_fn(100, 300, |_, y| {
        Rgb(if (100..200).contains(&y) { GREEN } else { RED })
    });
    let set = render_all(&jpeg_of(&image)).unwrap();
    let pixels = image::load_from_memory(&set.get(96).unwrap().bytes)
        .unwrap()
        .into_rgb8();
    assert!(pixels.pixels().all(|p| close(*p, GREEN, 40)));
}

#[test]
fn the_two_band_resize_matches_a_single_pass() {
    // Odd sizes, so the crop offset and the band boundary are not round numbers; with a
    // crop ending on the last row, 1307 / 648 * 324 + 1307 / 648 * 324 rounds above 1307.
    let (width, height) = (1501u32, 1307u32);
    let pixels: Vec<u8> = (0..width * height * 3)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let source = Source {
        pixels,
        width,
        height,
        layout: Layout {
            pixel_type: fr::PixelType::U8x3,
            transparent: false,
        },
    };
    let banded = resize_centre_square(&source, 648).unwrap();
    let src =
        fr::images::ImageRef::new(width, height, &source.pixels, fr::PixelType::U8x3).unwrap();
    let crop = Crop {
        left: 97.0,
        top: 0.0,
        side: 1307.0,
        largest: 648,
    };
    let mut single = vec![0u8; 648 * 648 * 3];
    resize_band(&src, crop, 0, 648, &mut single).unwrap();
    let worst = banded
        .iter()
        .zip(&single)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(worst <= 1, "bands differ from a single pass by {worst}");
}

#[test]
fn small_originals_yield_an_empty_set() {
    let image = RgbImage::from_pixel(47, 400, Rgb(RED));
    assert!(render_all(&jpeg_of(&image)).unwrap().renditions.is_empty());
    let image = RgbImage::from_pixel(48, 48, Rgb(RED));
    let set = render_all(&jpeg_of(&image)).unwrap();
    assert_eq!(set.renditions.len(), 1);
    assert_eq!(set.renditions[0].side, 48);
}

#[test]
fn grey_gif_and_bmp_originals_render() {
    let grey = image::GrayImage::from_pixel(64, 64, image::Luma([128]));
    let mut jpeg = Vec::new();
    JpegEncoder::new(&mut jpeg)
        .write_image(grey.as_raw(), 64, 64, ExtendedColorType::L8)
        .unwrap();
    let set = render_all(&jpeg).unwrap();
    assert_eq!(set.renditions.len(), 2);

    let rgb = DynamicImage::ImageRgb8(RgbImage::from_pixel(60, 50, Rgb(BLUE)));
    for format in [ImageFormat::Gif, ImageFormat::Bmp] {
        let mut bytes = Cursor::new(Vec::new());
        rgb.write_to(&mut bytes, format).unwrap();
        let set = render_all(bytes.get_ref()).unwrap();
        assert_eq!(set.renditions.len(), 1, "{format:?}");
        assert_eq!(set.renditions[0].side, 48);
        assert_eq!(set.renditions[0].format, RenditionFormat::Jpeg);
    }
}

#[test]
fn bad_inputs_are_errors() {
    assert!(matches!(render_all(b""), Err(RenderError::Decode(_))));
    assert!(matches!(
        render_all(b"hello, world"),
        Err(RenderError::Decode(_))
    ));
    let image = RgbImage::from_pixel(200, 200, Rgb(RED));
    let jpeg = jpeg_of(&image);
    // Truncated: an error or a partial decode, never a panic.
    let _ = render_all(&jpeg[..jpeg.len() / 2]);
    // A PNG header claiming 20,000 x 20,000 pixels.
    let png = png_of(&RgbaImage::from_pixel(1, 1, Rgba([0, 0, 0, 255])));
    let mut huge = png.clone();
    huge[16..20].copy_from_slice(&20_000u32.to_be_bytes());
    huge[20..24].copy_from_slice(&20_000u32.to_be_bytes());
    assert!(render_all(&huge).is_err());
}

fn sample_originals() -> Vec<Vec<u8>> {
    let rgb = RgbImage::from_fn(60, 50, |x, y| Rgb([x as u8, y as u8, 7]));
    let mut rgba = RgbaImage::from_pixel(50, 60, Rgba([1, 2, 3, 255]));
    rgba.put_pixel(3, 3, Rgba([0, 0, 0, 10]));
    let mut out = vec![with_exif_orientation(&jpeg_of(&rgb), 8), png_of(&rgba)];
    for format in [ImageFormat::Gif, ImageFormat::Bmp] {
        let mut bytes = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(rgb.clone())
            .write_to(&mut bytes, format)
            .unwrap();
        out.push(bytes.into_inner());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = render_all(&bytes);
    }

    #[test]
    fn damaged_images_never_panic(
        which in 0usize..4,
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let mut bytes = sample_originals().swap_remove(which);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= value;
        }
        let len = cut.index(bytes.len() + 1);
        bytes.truncate(len.max(bytes.len() / 2));
        let _ = render_all(&bytes);
    }
}
