//! Upload validation: the first byte picks a format whose signature the input is forced to start
//! with (so that every run reaches the format's checks), the rest is the body.
//! Invariants: no panic; an accepted image has sane dimensions; a small accepted image renders
//! (`render_all`), which is what the integrity pass promises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use photo_render::render_all;
use photo_core::validation::{validate, ImageFormat, MAX_PIXELS, MAX_SIDE};

const MAGIC: [(&[u8], ImageFormat); 5] = [
    (&[0xFF, 0xD8, 0xFF], ImageFormat::Jpeg),
    (b"\x89PNG\r\n\x1a\n", ImageFormat::Png),
    (b"GIF89a", ImageFormat::Gif),
    (b"GIF87a", ImageFormat::Gif),
    (b"BM", ImageFormat::Bmp),
];

/// Rendering costs about a full decode: keep it to small images so runs stay fast.
const RENDER_MAX_PIXELS: u64 = 256 * 256;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (magic, _) = MAGIC[usize::from(selector) % MAGIC.len()];
    let body: std::borrow::Cow<'_, [u8]> = if rest.starts_with(magic) {
        rest.into()
    } else {
        [magic, rest].concat().into()
    };
    if let Ok(info) = validate(&body) {
        assert!((1..=MAX_SIDE).contains(&info.width) && (1..=MAX_SIDE).contains(&info.height));
        let pixels = u64::from(info.width) * u64::from(info.height);
        assert!(pixels <= MAX_PIXELS);
        if pixels <= RENDER_MAX_PIXELS {
            if let Err(error) = render_all(&body) {
                panic!("accepted {info:?} but cannot render it: {error}");
            }
        }
    }
});
