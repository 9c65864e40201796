//! Test images in every format, decoding what the API serves, and large 16-bit PNGs for the
//! render tests.

use std::io::Cursor;

fn encode(image: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

fn rgb(width: u32, height: u32, seed: u8) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x as u8).wrapping_mul(3).wrapping_add(seed),
            (y as u8).wrapping_mul(5),
            seed.wrapping_mul(17),
        ])
    })
}

/// A JPEG; `seed` varies the pixels (so the bytes and the ETag).
pub(crate) fn jpeg_seeded(width: u32, height: u32, seed: u8) -> Vec<u8> {
    encode(
        image::DynamicImage::ImageRgb8(rgb(width, height, seed)),
        image::ImageFormat::Jpeg,
    )
}

pub(crate) fn jpeg(width: u32, height: u32) -> Vec<u8> {
    jpeg_seeded(width, height, 0)
}

/// A small PNG whose bytes (and so ETag) differ for every `n`.
pub(crate) fn unique_png(n: u32) -> Vec<u8> {
    let [a, b, c, d] = n.to_be_bytes();
    // 64 px a side: the 48x48 size exists.
    let image = image::RgbImage::from_fn(64, 64, |x, y| match (x + y * 64) % 4 {
        0 => image::Rgb([a, b, c]),
        1 => image::Rgb([d, a, 7]),
        2 => image::Rgb([b, c, d]),
        _ => image::Rgb([x as u8, y as u8, 90]),
    });
    encode(
        image::DynamicImage::ImageRgb8(image),
        image::ImageFormat::Png,
    )
}

/// An opaque PNG (RGB).
pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    encode(
        image::DynamicImage::ImageRgb8(rgb(width, height, 7)),
        image::ImageFormat::Png,
    )
}

/// A PNG whose left half is transparent.
pub(crate) fn png_transparent(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_fn(width, height, |x, y| {
        let alpha = if x < width / 2 { 0 } else { 255 };
        image::Rgba([x as u8, y as u8, 90, alpha])
    });
    encode(
        image::DynamicImage::ImageRgba8(image),
        image::ImageFormat::Png,
    )
}

pub(crate) fn gif(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([(x * 4) as u8, (y * 4) as u8, 0, 255])
    });
    encode(
        image::DynamicImage::ImageRgba8(image),
        image::ImageFormat::Gif,
    )
}

pub(crate) fn bmp(width: u32, height: u32) -> Vec<u8> {
    encode(
        image::DynamicImage::ImageRgb8(rgb(width, height, 3)),
        image::ImageFormat::Bmp,
    )
}

/// Decodes an image served by the API: (format, width, height, has an alpha channel).
pub(crate) fn decode(bytes: &[u8]) -> (image::ImageFormat, u32, u32, bool) {
    let format = image::guess_format(bytes).expect("a known image format");
    let image = image::load_from_memory(bytes).expect("decodes");
    (
        format,
        image.width(),
        image.height(),
        image.color().has_alpha(),
    )
}

/// A `side` x `side` PNG with 16 bits a channel (RGB, or RGBA with `alpha`), one colour (from
/// `seed`) but for narrow stripes: a few hundred KB that decode to `side`² x 6 (or 8) bytes and
/// take a while to render. Written row by row, so even 40 MP costs the test little memory.
pub(crate) fn striped_png16(side: u32, seed: u8, alpha: bool) -> Vec<u8> {
    use std::io::Write;

    /// The stream writer wants to own its sink.
    struct Sink(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let out = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut encoder = png::Encoder::new(Sink(std::rc::Rc::clone(&out)), side, side);
    encoder.set_color(if alpha {
        png::ColorType::Rgba
    } else {
        png::ColorType::Rgb
    });
    encoder.set_depth(png::BitDepth::Sixteen);
    let mut writer = encoder
        .write_header()
        .unwrap()
        .into_stream_writer()
        .unwrap();
    let row: Vec<u8> = (0..side)
        .flat_map(|x| {
            let level = if x % 97 < 3 { 0x20 } else { seed };
            let rgb = [level, 0x11, 0x80, seed, 0x40, 0x00];
            let opaque: &[u8] = if alpha { &[0xFF, 0xFF] } else { &[] };
            rgb.into_iter()
                .chain(opaque.iter().copied())
                .collect::<Vec<u8>>()
        })
        .collect();
    for _ in 0..side {
        writer.write_all(&row).unwrap();
    }
    writer.finish().unwrap();
    out.take()
}
