//! Square renditions of a stored photo (spec C5): the sizes Graph serves, their ids, and the
//! rendering pipeline that produces them from the uploaded original.
//!
//! Pipeline of [`render_all`]:
//! 1. sniff the format (JPEG, PNG, GIF or BMP only) and read the header under [`image::Limits`];
//! 2. decode once, converting to 8-bit RGB (or RGBA when the decoded image has an alpha channel);
//! 3. centre-crop to a square of the shorter side and resize it, in one convolution pass
//!    (Lanczos3, SIMD where the CPU has it), to the largest available size;
//! 4. apply the EXIF orientation to that small square (cheaper than rotating the original; a
//!    centre square of the stored image is the centre square of the displayed one);
//! 5. derive each smaller size from the previous, larger rendition's pixels, and encode each
//!    one: JPEG (quality 85) or, when the original has a pixel with alpha below 255, RGBA PNG.
//!
//! Memory is bounded: at most [`MAX_SIDE`] pixels a side and [`MAX_PIXELS`] pixels in all (spec
//! B5), and the decoder's output buffer at most [`MAX_ALLOC`] bytes. The peak is that buffer plus
//! at most one 8-bit RGB(A) copy of it (a 10,000 x 4,000 RGBA image is 160 MB), plus, for a
//! transparent original, one premultiplied copy of the square crop.

use std::io::Cursor;

use bytes::Bytes;
use fast_image_resize as fr;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::metadata::Orientation;
use image::{
    DynamicImage, ExtendedColorType, ImageBuffer, ImageDecoder, ImageEncoder, ImageError,
    ImageFormat, ImageReader, Limits, Rgb, Rgba,
};

/// Square renditions Graph serves (spec C5).
pub const PHOTO_SIZES: [u32; 9] = [48, 64, 96, 120, 240, 360, 432, 504, 648];

/// Largest width or height of an original that is rendered.
const MAX_SIDE: u32 = 10_000;
/// Largest pixel count of an original that is rendered (spec B5).
const MAX_PIXELS: u64 = 40_000_000;
/// Largest decoder output buffer, in bytes (`image`'s own default).
const MAX_ALLOC: u64 = 512 * 1024 * 1024;
/// JPEG quality of the renditions.
const JPEG_QUALITY: u8 = 85;

/// Sizes available for an original of this displayed size: not larger than the shorter side.
pub fn available_sizes(width: u32, height: u32) -> Vec<u32> {
    let shorter = width.min(height);
    PHOTO_SIZES.into_iter().filter(|&s| s <= shorter).collect()
}

/// "48x48" / "48X48" -> Some(48) when it names one of PHOTO_SIZES (square); else None.
pub fn parse_size_id(id: &str) -> Option<u32> {
    let (width, height) = id.split_once(['x', 'X'])?;
    if width != height || width.starts_with('0') || !width.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let side: u32 = width.parse().ok()?;
    PHOTO_SIZES.contains(&side).then_some(side)
}

/// The id of a square rendition: `48` -> `"48x48"`.
pub fn size_id(side: u32) -> String {
    format!("{side}x{side}")
}

/// Encoding of a rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenditionFormat {
    Jpeg,
    Png,
}

impl RenditionFormat {
    /// The `Content-Type` a rendition of this format is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }
}

/// One encoded square rendition.
#[derive(Debug, Clone)]
pub struct Rendition {
    pub side: u32,
    pub format: RenditionFormat,
    pub bytes: Bytes,
}

/// Every rendition of one original, smallest first.
#[derive(Debug, Clone, Default)]
pub struct RenditionSet {
    pub renditions: Vec<Rendition>,
}

impl RenditionSet {
    /// The rendition `side` x `side`, when available.
    pub fn get(&self, side: u32) -> Option<&Rendition> {
        self.renditions.iter().find(|r| r.side == side)
    }
}

/// Why the renditions of an original could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("the image could not be decoded: {0}")]
    Decode(String),
    #[error("the image is too large to render: {0}")]
    TooLarge(String),
    #[error("a rendition could not be made: {0}")]
    Encode(String),
}

/// Renders every available size of `original` (any of JPEG/PNG/GIF/BMP bytes, already validated
/// by the upload path, but do not rely on it: never panic on any input).
///
/// An original whose shorter side is below 48 pixels yields an empty set (without decoding it).
pub fn render_all(original: &[u8]) -> Result<RenditionSet, RenderError> {
    let mut decoder = open_decoder(original)?;
    let (width, height) = decoder.dimensions();
    // Orientation swaps width and height at most: the shorter side is the same.
    let sizes = available_sizes(width, height);
    let Some(&largest) = sizes.last() else {
        return Ok(RenditionSet::default());
    };
    // A malformed Exif block is not worth failing the render for.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let decoded = DynamicImage::from_decoder(decoder).map_err(image_error)?;
    let source = Source::from_image(decoded);

    let side = width.min(height);
    let left = width.saturating_sub(side) / 2;
    let top = height.saturating_sub(side) / 2;
    let mut resizer = fr::Resizer::new();
    let first = resize_options(source.transparent).crop(
        f64::from(left),
        f64::from(top),
        f64::from(side),
        f64::from(side),
    );
    let src = fr::images::ImageRef::new(width, height, &source.pixels, source.pixel_type)
        .map_err(|e| RenderError::Encode(format!("resizing failed: {e}")))?;
    let mut dst = fr::images::Image::new(largest, largest, source.pixel_type);
    resizer
        .resize(&src, &mut dst, &first)
        .map_err(|e| RenderError::Encode(format!("resizing failed: {e}")))?;
    let (pixel_type, transparent) = (source.pixel_type, source.transparent);
    // Free the full-size pixels before encoding.
    drop(source);
    let mut current = orient(dst.into_vec(), largest, pixel_type, orientation)?;

    let options = resize_options(transparent);
    let mut current_side = largest;
    let mut renditions = Vec::with_capacity(sizes.len());
    for &side in sizes.iter().rev() {
        if side != current_side {
            let src = fr::images::ImageRef::new(current_side, current_side, &current, pixel_type)
                .map_err(|e| RenderError::Encode(format!("resizing failed: {e}")))?;
            let mut dst = fr::images::Image::new(side, side, pixel_type);
            resizer
                .resize(&src, &mut dst, &options)
                .map_err(|e| RenderError::Encode(format!("resizing failed: {e}")))?;
            current = dst.into_vec();
            current_side = side;
        }
        renditions.push(encode(&current, side, pixel_type, transparent)?);
    }
    renditions.reverse();
    Ok(RenditionSet { renditions })
}

/// The decoded original as 8-bit pixels, ready for `fast_image_resize`.
struct Source {
    pixels: Vec<u8>,
    /// `U8x3` (RGB) or `U8x4` (RGBA).
    pixel_type: fr::PixelType,
    /// Some pixel has alpha below 255 (only possible for `U8x4`).
    transparent: bool,
}

impl Source {
    /// Converts once (a no-op when the decoder already produced RGB8 / RGBA8). An opaque RGBA
    /// image stays RGBA: the JPEG encoder ignores the alpha channel, which saves a copy.
    fn from_image(image: DynamicImage) -> Self {
        if image.color().has_alpha() {
            let pixels = image.into_rgba8().into_raw();
            let transparent = pixels.chunks_exact(4).any(|p| p[3] != u8::MAX);
            Self {
                pixels,
                pixel_type: fr::PixelType::U8x4,
                transparent,
            }
        } else {
            Self {
                pixels: image.into_rgb8().into_raw(),
                pixel_type: fr::PixelType::U8x3,
                transparent: false,
            }
        }
    }
}

/// Sniffs the format, refuses anything but the four Graph accepts, and reads the header under
/// the memory limits.
fn open_decoder(original: &[u8]) -> Result<impl ImageDecoder + '_, RenderError> {
    let mut reader = ImageReader::new(Cursor::new(original))
        .with_guessed_format()
        .map_err(|e| RenderError::Decode(e.to_string()))?;
    match reader.format() {
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Gif | ImageFormat::Bmp) => {}
        Some(other) => {
            return Err(RenderError::Decode(format!(
                "unsupported image format {other:?}"
            )))
        }
        None => return Err(RenderError::Decode("unrecognised image format".into())),
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(image_error)?;

    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(RenderError::Decode(format!(
            "the image is {width}x{height} pixels"
        )));
    }
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(RenderError::TooLarge(format!(
            "{width}x{height} pixels; the limit is {MAX_SIDE} a side and {MAX_PIXELS} in all"
        )));
    }
    // `DynamicImage::from_decoder` allocates this much without consulting the limits.
    let total = decoder.total_bytes();
    if total > MAX_ALLOC {
        return Err(RenderError::TooLarge(format!(
            "decoding needs {total} bytes; the limit is {MAX_ALLOC}"
        )));
    }
    Ok(decoder)
}

fn image_error(error: ImageError) -> RenderError {
    match error {
        ImageError::Limits(e) => RenderError::TooLarge(e.to_string()),
        other => RenderError::Decode(other.to_string()),
    }
}

fn resize_options(transparent: bool) -> fr::ResizeOptions {
    fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3))
        // Premultiplying only matters when some alpha is below 255.
        .use_alpha(transparent)
}

/// Applies the EXIF orientation to a `side` x `side` buffer of `pixel_type` pixels.
fn orient(
    pixels: Vec<u8>,
    side: u32,
    pixel_type: fr::PixelType,
    orientation: Orientation,
) -> Result<Vec<u8>, RenderError> {
    if orientation == Orientation::NoTransforms {
        return Ok(pixels);
    }
    let bad_buffer = || RenderError::Encode("resized buffer has the wrong size".into());
    let mut image = if pixel_type == fr::PixelType::U8x4 {
        DynamicImage::ImageRgba8(
            ImageBuffer::<Rgba<u8>, _>::from_raw(side, side, pixels).ok_or_else(bad_buffer)?,
        )
    } else {
        DynamicImage::ImageRgb8(
            ImageBuffer::<Rgb<u8>, _>::from_raw(side, side, pixels).ok_or_else(bad_buffer)?,
        )
    };
    image.apply_orientation(orientation);
    Ok(match image {
        DynamicImage::ImageRgba8(buffer) => buffer.into_raw(),
        other => other.into_rgb8().into_raw(),
    })
}

fn encode(
    pixels: &[u8],
    side: u32,
    pixel_type: fr::PixelType,
    transparent: bool,
) -> Result<Rendition, RenderError> {
    let (format, bytes) = if transparent {
        let mut out = Vec::new();
        PngEncoder::new_with_quality(&mut out, CompressionType::Fast, PngFilter::Adaptive)
            .write_image(pixels, side, side, ExtendedColorType::Rgba8)
            .map_err(|e| RenderError::Encode(e.to_string()))?;
        (RenditionFormat::Png, out)
    } else {
        let color = if pixel_type == fr::PixelType::U8x4 {
            jpeg_encoder::ColorType::Rgba
        } else {
            jpeg_encoder::ColorType::Rgb
        };
        let side16 = u16::try_from(side)
            .map_err(|_| RenderError::Encode(format!("{side} pixels is too wide for JPEG")))?;
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY)
            .encode(pixels, side16, side16, color)
            .map_err(|e| RenderError::Encode(e.to_string()))?;
        (RenditionFormat::Jpeg, out)
    };
    Ok(Rendition {
        side,
        format,
        bytes: Bytes::from(bytes),
    })
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn size_ids() {
        assert_eq!(parse_size_id("48x48"), Some(48));
        assert_eq!(parse_size_id("648X648"), Some(648));
        assert_eq!(parse_size_id("240x240"), Some(240));
        for bad in [
            "",
            "x",
            "48",
            "48x",
            "x48",
            "48x64",
            "50x50",
            "1000x1000",
            "048x048",
            "+48x+48",
            " 48x48",
            "48x48 ",
            "48×48",
            "48x48x48",
            "-48x-48",
            "4294967344x4294967344",
        ] {
            assert_eq!(parse_size_id(bad), None, "{bad:?}");
        }
        assert_eq!(size_id(48), "48x48");
        assert_eq!(size_id(648), "648x648");
    }

    #[test]
    fn available_sizes_examples() {
        assert_eq!(available_sizes(47, 1000), Vec::<u32>::new());
        assert_eq!(available_sizes(48, 48), vec![48]);
        assert_eq!(
            available_sizes(700, 500),
            vec![48, 64, 96, 120, 240, 360, 432]
        );
        assert_eq!(available_sizes(648, 10_000), PHOTO_SIZES.to_vec());
        assert_eq!(available_sizes(647, 647).last(), Some(&504));
    }

    proptest! {
        #[test]
        fn available_sizes_are_exactly_those_that_fit(w in 0u32..2000, h in 0u32..2000) {
            let sizes = available_sizes(w, h);
            let shorter = w.min(h);
            prop_assert!(sizes.iter().all(|&s| s <= shorter));
            for s in PHOTO_SIZES {
                prop_assert_eq!(sizes.contains(&s), s <= shorter);
            }
        }

        #[test]
        fn size_ids_round_trip(i in 0usize..PHOTO_SIZES.len()) {
            let s = PHOTO_SIZES[i];
            let id = size_id(s);
            prop_assert_eq!(parse_size_id(&id), Some(s));
            prop_assert_eq!(parse_size_id(&id.to_uppercase()), Some(s));
        }

        #[test]
        fn parse_size_id_never_panics(id in ".{0,12}") {
            if let Some(s) = parse_size_id(&id) {
                prop_assert!(PHOTO_SIZES.contains(&s));
            }
        }
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
}
