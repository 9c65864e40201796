//! Square renditions of a stored photo (spec C5): the sizes Graph serves, their ids, and the
//! types a renderer produces. The rendering pipeline itself (decoding, resizing, encoding) lives
//! in the `photo-render` crate, behind the [`Renderer`](crate::ports::Renderer) port, so that the
//! core does not build the image stack.

use bytes::Bytes;

/// Square renditions Graph serves (spec C5).
pub const PHOTO_SIZES: [u32; 9] = [48, 64, 96, 120, 240, 360, 432, 504, 648];

/// Sizes available for an original of this displayed size: not larger than the shorter side.
pub fn available_sizes(width: u32, height: u32) -> Vec<u32> {
    let shorter = width.min(height);
    PHOTO_SIZES.into_iter().filter(|&s| s <= shorter).collect()
}

/// The id of a size as a path names it (`48x48` in `/photos/48x48`), kept as sent: whether it
/// names a size Graph serves, and one this photo has, is decided when it is served (a `404`
/// otherwise, spec C5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SizeId(String);

impl SizeId {
    /// A size id as sent.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id of the square of `side` pixels: `48` -> `48x48`.
    pub fn of(side: u32) -> Self {
        Self(size_id(side))
    }

    /// The id as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The side of the square it names, when it is one of [`PHOTO_SIZES`] (`48x48`, `48X48`).
    pub fn side(&self) -> Option<u32> {
        parse_size_id(&self.0)
    }
}

impl std::fmt::Display for SizeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
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
    /// JPEG, for opaque originals.
    Jpeg,
    /// PNG with alpha, for originals with transparency.
    Png,
}

impl RenditionFormat {
    /// The lower-case name stores persist (`jpeg`, `png`).
    pub fn stored_name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
        }
    }

    /// The inverse of [`stored_name`](Self::stored_name).
    pub fn from_stored_name(name: &str) -> Option<Self> {
        [Self::Jpeg, Self::Png]
            .into_iter()
            .find(|f| f.stored_name() == name)
    }

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
    /// Width and height, in pixels.
    pub side: u32,
    /// How `bytes` are encoded.
    pub format: RenditionFormat,
    /// The encoded image.
    pub bytes: Bytes,
}

/// Every rendition of one original, smallest first.
#[derive(Debug, Clone, Default)]
pub struct RenditionSet {
    /// The renditions, smallest first.
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
    /// The original could not be decoded.
    #[error("the image could not be decoded: {0}")]
    Decode(String),
    /// The original is over a size or memory limit.
    #[error("the image is too large to render: {0}")]
    TooLarge(String),
    /// A rendition could not be resized or encoded.
    #[error("a rendition could not be made: {0}")]
    Encode(String),
    /// The renderer cannot run now (shutting down, its worker failed): nothing is known about
    /// the image, and a later request may succeed. Every other variant is a property of the image.
    #[error("the renderer is unavailable: {0}")]
    Unavailable(String),
}

impl RenderError {
    /// Whether rendering the same bytes again would fail again.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, Self::Unavailable(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
}
