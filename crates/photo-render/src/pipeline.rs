//! The rendering pipeline: the square renditions of a stored photo (spec C5) from the uploaded
//! original.
//!
//! Pipeline of [`render_all`]:
//! 1. sniff the format (JPEG, PNG, GIF or BMP only) and read the header under [`image::Limits`]
//!    (`png::Limits` for PNG, which the `png` crate decodes itself);
//! 2. decode once, to 8 bits a channel, converting to RGB, or RGBA when the decoded image has an
//!    alpha channel (premultiplied once when some alpha is below 255);
//! 3. centre-crop to a square of the shorter side and resize it, in one convolution pass
//!    (Catmull-Rom; `fast_image_resize` picks AVX2/SSE4.1/NEON at run time), to the largest
//!    available size, the two halves of the output on two threads;
//! 4. apply the EXIF orientation to that small square (cheaper than rotating the original; the
//!    centre square of the stored image is the centre square of the displayed one);
//! 5. derive each smaller size from the previous, larger rendition's pixels (Lanczos3), and
//!    encode each one (JPEG quality 85, or RGBA PNG when the original has a pixel with alpha below
//!    255) while the next is being made, on two threads.
//!
//! Memory is bounded: originals over the core's limits ([`photo_core::limits::MAX_SIDE`] a side,
//! [`photo_core::limits::MAX_PIXELS`] in all, spec B5) are refused with [`RenderError::TooLarge`]
//! before any pixel is decoded, as are those whose decoded buffer would exceed 512 MiB
//! (`image::Limits::max_alloc` and `png::Limits`, which the decoders also enforce on their own
//! allocations). PNGs are decoded by the `png` crate straight to
//! 8 bits a channel (`STRIP_16`), so a 40 MP 16-bit RGBA PNG needs one 160 MB buffer, not a 320 MB
//! 16-bit one plus a 160 MB 8-bit copy. The peak is the decoded buffer plus, for grey originals, its
//! RGB(A) copy, plus the decoder's own working memory (a progressive JPEG keeps every coefficient),
//! plus the renditions and codec buffers (16 MiB allowed): [`render_cost`] computes it from the
//! header, so that a caller can bound the renders in flight by memory before decoding anything.

use std::io::Cursor;
use std::sync::{mpsc, Mutex};
use std::thread;

use bytes::Bytes;
use fast_image_resize as fr;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::metadata::Orientation;
use image::{
    DynamicImage, ExtendedColorType, ImageBuffer, ImageDecoder, ImageEncoder, ImageError,
    ImageFormat, ImageReader, Limits, Rgb, Rgba,
};
use photo_core::limits::{MAX_PIXELS, MAX_SIDE};
use photo_core::renditions::{
    available_sizes, RenderError, Rendition, RenditionFormat, RenditionSet,
};

/// Largest decoder output buffer, in bytes (`image`'s own default): a 40 MP RGBA image with 16
/// bits a channel (320 MB) fits.
const MAX_ALLOC: u64 = 512 * 1024 * 1024;
/// JPEG quality of the renditions.
const JPEG_QUALITY: u8 = 85;
/// Filter of the first resize, from the original's square down to the largest rendition: the
/// ratio is large (3000 -> 648 is 4.6), so the window is wide; Catmull-Rom's is two thirds of
/// Lanczos3's (about a third less time) and looks the same at such ratios.
const FIRST_FILTER: fr::FilterType = fr::FilterType::CatmullRom;
/// Filter of each step from one rendition to the next smaller (ratios 1.2 to 2): cheap, so
/// the sharpest.
const STEP_FILTER: fr::FilterType = fr::FilterType::Lanczos3;
/// Below this shorter side the first resize is not worth a second thread.
const PARALLEL_RESIZE_MIN_SIDE: u32 = 1024;
/// Below this largest rendition the encoding is not worth a second thread.
const PARALLEL_ENCODE_MIN_SIDE: u32 = 240;

/// Renders every available size of `original` (any of JPEG/PNG/GIF/BMP bytes, already validated
/// by the upload path, but do not rely on it: never panic on any input).
///
/// An original whose shorter side is below 48 pixels yields an empty set (without decoding it).
/// Renditions come smallest first. Uses the calling thread and at most one more, and at most
/// [`render_cost`] bytes of pixel buffers.
pub fn render_all(original: &[u8]) -> Result<RenditionSet, RenderError> {
    let opened = open(original)?;
    let (width, height) = opened.dimensions();
    // Orientation swaps width and height at most: the shorter side is the same.
    let sizes = available_sizes(width, height);
    let Some(&largest) = sizes.last() else {
        return Ok(RenditionSet::default());
    };
    let (decoded, orientation) = opened.decode()?;
    let source = Source::from_image(decoded, width, height)?;
    let layout = source.layout;
    let first = resize_centre_square(&source, largest)?;
    // Free the full-size pixels before the rest.
    drop(source);
    let first = orient(first, largest, layout, orientation)?;
    let mut renditions = render_levels(first, &sizes, layout)?;
    renditions.sort_unstable_by_key(|r| r.side);
    Ok(RenditionSet { renditions })
}

/// The memory, in bytes, that [`render_all`] needs at its peak for `original`, computed from the
/// header alone (no pixel is decoded): the decoded pixels, the 8-bit RGB(A) copy when the decoder
/// produces another layout, the decoder's working memory, and the renditions.
///
/// Fails as `render_all` would on an original it refuses before decoding (unknown format, bad
/// header, too large).
pub fn render_cost(original: &[u8]) -> Result<u64, RenderError> {
    Ok(open(original)?.cost())
}

/// Room for the renditions and the decoders' and encoders' own buffers: measured peaks of 40 MP
/// renders exceed their decoded pixels (and copies) by 9-11 MiB.
const RENDITIONS_COST: u64 = 16 * 1024 * 1024;
/// Working memory of zune-jpeg for a progressive JPEG: every DCT coefficient as an `i16`, for up
/// to four components (CMYK) at full resolution.
const PROGRESSIVE_JPEG_BYTES_PER_PIXEL: u64 = 8;

/// An original whose header has been read and checked, ready to decode.
enum Opened<'a, D> {
    /// Decoded by the `png` crate itself, straight to 8 bits a channel.
    Png(Box<png::Reader<Cursor<&'a [u8]>>>),
    /// JPEG, GIF or BMP, through `image`.
    Other {
        decoder: D,
        format: ImageFormat,
        /// A progressive JPEG (the decoder keeps all coefficients in memory).
        progressive: bool,
    },
}

impl<D: ImageDecoder> Opened<'_, D> {
    fn dimensions(&self) -> (u32, u32) {
        match self {
            Self::Png(reader) => {
                let info = reader.info();
                (info.width, info.height)
            }
            Self::Other { decoder, .. } => decoder.dimensions(),
        }
    }

    /// See [`render_cost`].
    fn cost(&self) -> u64 {
        let (width, height) = self.dimensions();
        if available_sizes(width, height).is_empty() {
            // Not decoded at all.
            return 0;
        }
        let pixels = u64::from(width) * u64::from(height);
        let decoding = match self {
            Self::Png(reader) => {
                let decoded = reader
                    .output_buffer_size()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(u64::MAX);
                let copy = match reader.output_color_type().0 {
                    png::ColorType::Grayscale => pixels * 3,
                    png::ColorType::GrayscaleAlpha => pixels * 4,
                    _ => 0,
                };
                decoded.saturating_add(copy)
            }
            Self::Other {
                decoder,
                format,
                progressive,
            } => {
                let decoded = decoder.total_bytes();
                let copy = match decoder.color_type() {
                    image::ColorType::Rgb8 | image::ColorType::Rgba8 => 0,
                    other if other.has_alpha() => pixels * 4,
                    _ => pixels * 3,
                };
                let working = match format {
                    ImageFormat::Jpeg if *progressive => pixels * PROGRESSIVE_JPEG_BYTES_PER_PIXEL,
                    // The decoder composes the first frame in a buffer of its own.
                    ImageFormat::Gif => decoded,
                    _ => 0,
                };
                decoded.saturating_add(copy).saturating_add(working)
            }
        };
        decoding.saturating_add(RENDITIONS_COST)
    }

    /// Decodes the pixels and reads the Exif orientation.
    fn decode(self) -> Result<(DynamicImage, Orientation), RenderError> {
        match self {
            Self::Png(mut reader) => {
                // A malformed Exif block is not worth failing the render for.
                let orientation = reader
                    .info()
                    .exif_metadata
                    .as_deref()
                    .and_then(Orientation::from_exif_chunk)
                    .unwrap_or(Orientation::NoTransforms);
                let size = reader
                    .output_buffer_size()
                    .ok_or_else(|| RenderError::TooLarge("the decoded PNG is too large".into()))?;
                let mut pixels = vec![0u8; size];
                let frame = reader.next_frame(&mut pixels).map_err(png_error)?;
                pixels.truncate(frame.buffer_size());
                let (width, height) = (frame.width, frame.height);
                let wrong_size =
                    || RenderError::Decode("the decoded PNG has the wrong size".into());
                let image = match (frame.color_type, frame.bit_depth) {
                    (png::ColorType::Grayscale, png::BitDepth::Eight) => DynamicImage::ImageLuma8(
                        ImageBuffer::from_raw(width, height, pixels).ok_or_else(wrong_size)?,
                    ),
                    (png::ColorType::GrayscaleAlpha, png::BitDepth::Eight) => {
                        DynamicImage::ImageLumaA8(
                            ImageBuffer::from_raw(width, height, pixels).ok_or_else(wrong_size)?,
                        )
                    }
                    (png::ColorType::Rgb, png::BitDepth::Eight) => DynamicImage::ImageRgb8(
                        ImageBuffer::from_raw(width, height, pixels).ok_or_else(wrong_size)?,
                    ),
                    (png::ColorType::Rgba, png::BitDepth::Eight) => DynamicImage::ImageRgba8(
                        ImageBuffer::from_raw(width, height, pixels).ok_or_else(wrong_size)?,
                    ),
                    (color, depth) => {
                        return Err(RenderError::Decode(format!(
                            "unexpected decoded PNG layout {color:?} {depth:?}"
                        )))
                    }
                };
                Ok((image, orientation))
            }
            Self::Other { mut decoder, .. } => {
                let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
                let image = DynamicImage::from_decoder(decoder).map_err(image_error)?;
                Ok((image, orientation))
            }
        }
    }
}

/// How the pixels of every level are laid out.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// `U8x3` (RGB) or `U8x4` (RGBA).
    pixel_type: fr::PixelType,
    /// Some pixel of the original has alpha below 255 (only possible for `U8x4`); the pixels are
    /// then premultiplied by alpha, so that resizing does not bleed the colour of transparent
    /// pixels into their neighbours.
    transparent: bool,
}

/// The decoded original as 8-bit pixels, ready for `fast_image_resize`.
struct Source {
    pixels: Vec<u8>,
    width: u32,
    height: u32,
    layout: Layout,
}

impl Source {
    /// Converts once (a no-op when the decoder already produced RGB8 / RGBA8). An opaque RGBA
    /// image stays RGBA: the JPEG encoder ignores the alpha channel, which saves a copy.
    fn from_image(image: DynamicImage, width: u32, height: u32) -> Result<Self, RenderError> {
        if image.width() != width || image.height() != height {
            return Err(RenderError::Decode(
                "the decoded size differs from the header".into(),
            ));
        }
        if !image.color().has_alpha() {
            return Ok(Self {
                pixels: image.into_rgb8().into_raw(),
                width,
                height,
                layout: Layout {
                    pixel_type: fr::PixelType::U8x3,
                    transparent: false,
                },
            });
        }
        let mut pixels = image.into_rgba8().into_raw();
        let transparent = pixels.chunks_exact(4).any(|p| p[3] != u8::MAX);
        if transparent {
            let mut view =
                fr::images::Image::from_slice_u8(width, height, &mut pixels, fr::PixelType::U8x4)
                    .map_err(resize_error)?;
            fr::MulDiv::new()
                .multiply_alpha_inplace(&mut view)
                .map_err(resize_error)?;
        }
        Ok(Self {
            pixels,
            width,
            height,
            layout: Layout {
                pixel_type: fr::PixelType::U8x4,
                transparent,
            },
        })
    }
}

/// Sniffs the format, refuses anything but the four Graph accepts, and reads the header under
/// the memory limits.
fn open(original: &[u8]) -> Result<Opened<'_, impl ImageDecoder + '_>, RenderError> {
    // The core's sniffing, so that the renderer recognises exactly the formats validation does.
    let format = match photo_core::format::ImageFormat::sniff(original) {
        Some(photo_core::format::ImageFormat::Jpeg) => ImageFormat::Jpeg,
        Some(photo_core::format::ImageFormat::Png) => ImageFormat::Png,
        Some(photo_core::format::ImageFormat::Gif) => ImageFormat::Gif,
        Some(photo_core::format::ImageFormat::Bmp) => ImageFormat::Bmp,
        None => return Err(RenderError::Decode("unrecognised image format".into())),
    };
    let mut reader = ImageReader::with_format(Cursor::new(original), format);
    let opened = if format == ImageFormat::Png {
        let limits = png::Limits {
            bytes: usize::try_from(MAX_ALLOC).unwrap_or(usize::MAX),
        };
        let mut decoder = png::Decoder::new_with_limits(Cursor::new(original), limits);
        // EXPAND: palettes and low bit depths to 8 bits, tRNS to alpha (as `image` does);
        // STRIP_16: 16-bit samples to 8 as they are decoded, never a 16-bit buffer.
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        Opened::Png(Box::new(decoder.read_info().map_err(png_error)?))
    } else {
        let mut limits = Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        limits.max_alloc = Some(MAX_ALLOC);
        reader.limits(limits);
        Opened::Other {
            decoder: reader.into_decoder().map_err(image_error)?,
            format,
            progressive: format == ImageFormat::Jpeg && jpeg_is_progressive(original),
        }
    };

    let (width, height) = opened.dimensions();
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
    let total = match &opened {
        Opened::Png(reader) => reader
            .output_buffer_size()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(u64::MAX),
        Opened::Other { decoder, .. } => decoder.total_bytes(),
    };
    if total > MAX_ALLOC {
        return Err(RenderError::TooLarge(format!(
            "decoding needs {total} bytes; the limit is {MAX_ALLOC}"
        )));
    }
    Ok(opened)
}

/// Whether the frame header of a JPEG is a progressive one (SOF2, SOF6, SOF10, SOF14), by walking
/// the marker segments up to it. Anything unreadable counts as not progressive: the decoder will
/// refuse it before it allocates its coefficients.
fn jpeg_is_progressive(bytes: &[u8]) -> bool {
    // After SOI.
    let mut at = 2usize;
    while let (Some(0xFF), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) {
        match marker {
            // Fill byte.
            0xFF => {
                at += 1;
                continue;
            }
            // Start of frame (C4, C8 and CC are DHT, JPG and DAC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                return matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE)
            }
            // Start of scan before any frame: broken.
            0xDA => return false,
            // Markers without a length.
            0x01 | 0xD0..=0xD8 => {
                at += 2;
                continue;
            }
            _ => {}
        }
        let Some(&[high, low]) = bytes.get(at + 2..at + 4) else {
            return false;
        };
        at += 2 + usize::from(u16::from_be_bytes([high, low]));
    }
    false
}

fn png_error(error: png::DecodingError) -> RenderError {
    match error {
        png::DecodingError::LimitsExceeded => {
            RenderError::TooLarge("the PNG decoder's memory limit".into())
        }
        other => RenderError::Decode(other.to_string()),
    }
}

fn image_error(error: ImageError) -> RenderError {
    match error {
        ImageError::Limits(e) => RenderError::TooLarge(e.to_string()),
        other => RenderError::Decode(other.to_string()),
    }
}

fn resize_error(error: impl std::fmt::Display) -> RenderError {
    RenderError::Encode(format!("resizing failed: {error}"))
}

fn resize_options(filter: fr::FilterType) -> fr::ResizeOptions {
    fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(filter))
        // Transparent pixels are premultiplied once up front (`Source::from_image`).
        .use_alpha(false)
}

/// Resizes the centre square of `source` to `largest` x `largest`.
///
/// The output rows are cut in two bands resized on two threads. Each band resizes a horizontal
/// slice of the crop, and since `fast_image_resize` clamps the filter window to the image, not to
/// the crop box, a band reads the same source rows across the cut as a single pass would: the
/// result is the same.
fn resize_centre_square(source: &Source, largest: u32) -> Result<Vec<u8>, RenderError> {
    let pixel_type = source.layout.pixel_type;
    let src = fr::images::ImageRef::new(source.width, source.height, &source.pixels, pixel_type)
        .map_err(resize_error)?;
    let side = source.width.min(source.height);
    let crop = Crop {
        left: f64::from(source.width.saturating_sub(side) / 2),
        top: f64::from(source.height.saturating_sub(side) / 2),
        side: f64::from(side),
        largest,
    };
    let row_bytes = usize::try_from(largest)
        .ok()
        .and_then(|l| l.checked_mul(pixel_type.size()))
        .ok_or_else(|| resize_error("rendition too large"))?;
    let rows = |n: u32| {
        usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(row_bytes))
            .ok_or_else(|| resize_error("rendition too large"))
    };
    let mut out = vec![0u8; rows(largest)?];
    let split = if side >= PARALLEL_RESIZE_MIN_SIDE {
        largest / 2
    } else {
        largest
    };
    if split == largest {
        resize_band(&src, crop, 0, largest, &mut out)?;
        return Ok(out);
    }
    let (upper, lower) = out.split_at_mut(rows(split)?);
    let spawned = thread::scope(|scope| {
        let other = thread::Builder::new()
            .spawn_scoped(scope, || {
                resize_band(&src, crop, split, largest - split, lower)
            })
            .ok();
        resize_band(&src, crop, 0, split, upper)?;
        match other.map(|handle| handle.join()) {
            None => Ok(false),
            Some(Ok(result)) => result.map(|()| true),
            Some(Err(_)) => Err(resize_error("the resizing thread failed")),
        }
    })?;
    if !spawned {
        // No second thread to be had: do the lower band here.
        let start = rows(split)?;
        let lower = out
            .get_mut(start..)
            .ok_or_else(|| resize_error("bad band"))?;
        resize_band(&src, crop, split, largest - split, lower)?;
    }
    Ok(out)
}

/// The centre square of the source and the side it is resized to.
#[derive(Debug, Clone, Copy)]
struct Crop {
    left: f64,
    top: f64,
    side: f64,
    largest: u32,
}

/// Resizes the rows `first..first + count` of the `crop.largest`-square rendition into `dst`.
fn resize_band(
    src: &fr::images::ImageRef<'_>,
    crop: Crop,
    first: u32,
    count: u32,
    dst: &mut [u8],
) -> Result<(), RenderError> {
    if count == 0 {
        return Ok(());
    }
    let scale = crop.side / f64::from(crop.largest);
    let mut dst = fr::images::Image::from_slice_u8(crop.largest, count, dst, src.pixel_type())
        .map_err(resize_error)?;
    let band_top = crop.top + f64::from(first) * scale;
    let end = first.saturating_add(count);
    // The last band ends exactly where the crop does: `top + end * scale` can round past the
    // image's last row, which `fast_image_resize` refuses. (`band_top + (bottom - band_top)` is
    // exact here: both are multiples of the same power of two, below 2^14.)
    let band_bottom = if end >= crop.largest {
        crop.top + crop.side
    } else {
        crop.top + f64::from(end) * scale
    };
    let options =
        resize_options(FIRST_FILTER).crop(crop.left, band_top, crop.side, band_bottom - band_top);
    fr::Resizer::new()
        .resize(src, &mut dst, &options)
        .map_err(resize_error)
}

/// Applies the EXIF orientation to a `side` x `side` buffer.
fn orient(
    pixels: Vec<u8>,
    side: u32,
    layout: Layout,
    orientation: Orientation,
) -> Result<Vec<u8>, RenderError> {
    if orientation == Orientation::NoTransforms {
        return Ok(pixels);
    }
    let bad_buffer = || resize_error("resized buffer has the wrong size");
    let mut image = if layout.pixel_type == fr::PixelType::U8x4 {
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

/// The pixels of one rendition before encoding.
struct Level {
    side: u32,
    pixels: Vec<u8>,
}

/// Derives every size in `sizes` (ascending; the last one is `first`'s) from the previous larger
/// one, and encodes them. The calling thread resizes and hands each level over as soon as the next
/// one is made; a second thread encodes meanwhile, and the calling thread helps once it is done
/// resizing.
fn render_levels(
    first: Vec<u8>,
    sizes: &[u32],
    layout: Layout,
) -> Result<Vec<Rendition>, RenderError> {
    let Some(&largest) = sizes.last() else {
        return Ok(Vec::new());
    };
    let (sender, receiver) = mpsc::channel::<Level>();
    let receiver = Mutex::new(receiver);
    // Holding the lock while waiting is fine: the sender never takes it.
    let next = || receiver.lock().ok().and_then(|r| r.recv().ok());
    let encode_all = || -> Result<Vec<Rendition>, RenderError> {
        let mut done = Vec::new();
        while let Some(level) = next() {
            done.push(encode(&level, layout)?);
        }
        Ok(done)
    };
    thread::scope(|scope| {
        let helper = if largest >= PARALLEL_ENCODE_MIN_SIDE {
            thread::Builder::new().spawn_scoped(scope, encode_all).ok()
        } else {
            None
        };
        let made = derive_levels(first, largest, sizes, layout, &sender);
        drop(sender);
        let mut renditions = encode_all()?;
        made?;
        if let Some(helper) = helper {
            let theirs = helper
                .join()
                .map_err(|_| RenderError::Encode("the encoding thread failed".into()))??;
            renditions.extend(theirs);
        }
        Ok(renditions)
    })
}

/// Resizes level after level, each from the previous one, sending each level once the next one is
/// made from it.
fn derive_levels(
    first: Vec<u8>,
    largest: u32,
    sizes: &[u32],
    layout: Layout,
    sender: &mpsc::Sender<Level>,
) -> Result<(), RenderError> {
    let send = |level: Level| {
        sender
            .send(level)
            .map_err(|_| RenderError::Encode("the encoders stopped".into()))
    };
    let mut resizer = fr::Resizer::new();
    let options = resize_options(STEP_FILTER);
    let mut current = Level {
        side: largest,
        pixels: first,
    };
    for &side in sizes.iter().rev() {
        if side == current.side {
            continue;
        }
        let src = fr::images::ImageRef::new(
            current.side,
            current.side,
            &current.pixels,
            layout.pixel_type,
        )
        .map_err(resize_error)?;
        let mut dst = fr::images::Image::new(side, side, layout.pixel_type);
        resizer
            .resize(&src, &mut dst, &options)
            .map_err(resize_error)?;
        let next = Level {
            side,
            pixels: dst.into_vec(),
        };
        send(std::mem::replace(&mut current, next))?;
    }
    send(current)
}

fn encode(level: &Level, layout: Layout) -> Result<Rendition, RenderError> {
    let side = level.side;
    let (format, bytes) = if layout.transparent {
        // Undo the premultiplication.
        let src = fr::images::ImageRef::new(side, side, &level.pixels, fr::PixelType::U8x4)
            .map_err(resize_error)?;
        let mut straight = fr::images::Image::new(side, side, fr::PixelType::U8x4);
        fr::MulDiv::new()
            .divide_alpha(&src, &mut straight)
            .map_err(resize_error)?;
        let mut out = Vec::new();
        PngEncoder::new_with_quality(&mut out, CompressionType::Fast, PngFilter::Adaptive)
            .write_image(straight.buffer(), side, side, ExtendedColorType::Rgba8)
            .map_err(|e| RenderError::Encode(e.to_string()))?;
        (RenditionFormat::Png, out)
    } else {
        let color = if layout.pixel_type == fr::PixelType::U8x4 {
            jpeg_encoder::ColorType::Rgba
        } else {
            jpeg_encoder::ColorType::Rgb
        };
        let side16 = u16::try_from(side)
            .map_err(|_| RenderError::Encode(format!("{side} pixels is too wide for JPEG")))?;
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY)
            .encode(&level.pixels, side16, side16, color)
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
mod tests;
