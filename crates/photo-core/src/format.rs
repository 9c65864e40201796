//! The image formats Graph accepts (spec B3) and how a body's format is recognised from its
//! magic bytes. No codec here: what only needs to name a format (the client, the stores) builds
//! without the `codecs` feature.

/// The image formats Graph accepts for a profile photo (spec B3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ImageFormat {
    /// JPEG (`FF D8 FF`).
    Jpeg,
    /// PNG.
    Png,
    /// GIF, 87a or 89a.
    Gif,
    /// Windows bitmap (`BM`).
    Bmp,
}

pub(crate) const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];
pub(crate) const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
pub(crate) const GIF87_MAGIC: &[u8] = b"GIF87a";
pub(crate) const GIF89_MAGIC: &[u8] = b"GIF89a";
pub(crate) const BMP_MAGIC: &[u8] = b"BM";
/// DIB header sizes a BMP may carry (core, OS/2 2.x short, INFO, V2, V3, OS/2 2.x, V4, V5).
pub(crate) const BMP_DIB_SIZES: &[u32] = &[12, 16, 40, 52, 56, 64, 108, 124];

impl ImageFormat {
    /// The lower-case name stores persist (`jpeg`, `png`, `gif`, `bmp`).
    pub fn stored_name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Gif => "gif",
            Self::Bmp => "bmp",
        }
    }

    /// The inverse of [`stored_name`](Self::stored_name).
    pub fn from_stored_name(name: &str) -> Option<Self> {
        [Self::Jpeg, Self::Png, Self::Gif, Self::Bmp]
            .into_iter()
            .find(|f| f.stored_name() == name)
    }

    /// The media type, e.g. `image/jpeg`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Gif => "image/gif",
            Self::Bmp => "image/bmp",
        }
    }

    /// The format of a media type: the inverse of [`content_type`](Self::content_type),
    /// case-insensitive, ignoring parameters (`image/PNG; q=1`). Common aliases (`image/jpg`,
    /// `image/pjpeg`, `image/x-bmp`, `image/x-ms-bmp`) are recognised too.
    pub fn from_content_type(s: &str) -> Option<Self> {
        let essence = s.split(';').next().unwrap_or_default().trim();
        let is = |name: &str| essence.eq_ignore_ascii_case(name);
        if is("image/jpeg") || is("image/jpg") || is("image/pjpeg") {
            Some(Self::Jpeg)
        } else if is("image/png") {
            Some(Self::Png)
        } else if is("image/gif") {
            Some(Self::Gif)
        } else if is("image/bmp") || is("image/x-bmp") || is("image/x-ms-bmp") {
            Some(Self::Bmp)
        } else {
            None
        }
    }

    /// The format whose signature (magic bytes) `bytes` starts with. A body shorter than a
    /// signature that is a prefix of it (at least 2 bytes; 3 for GIF) also counts, so that a
    /// cut-short upload is reported as an incomplete image rather than an unknown format.
    ///
    /// ```
    /// use photo_core::format::ImageFormat;
    ///
    /// assert_eq!(ImageFormat::sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some(ImageFormat::Png));
    /// assert_eq!(ImageFormat::sniff(b"GIF89a"), Some(ImageFormat::Gif));
    /// assert_eq!(ImageFormat::sniff(b"\xFF\xD8"), Some(ImageFormat::Jpeg)); // cut short
    /// // WebP is no format Graph accepts (spec B3), whatever the Content-Type says.
    /// assert_eq!(ImageFormat::sniff(b"RIFF\0\0\0\0WEBPVP8 "), None);
    /// assert_eq!(ImageFormat::Png.content_type(), "image/png");
    /// ```
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if starts_with_magic(bytes, JPEG_MAGIC, 2) {
            Some(Self::Jpeg)
        } else if starts_with_magic(bytes, PNG_MAGIC, 2) {
            Some(Self::Png)
        } else if starts_with_magic(bytes, GIF87_MAGIC, 3)
            || starts_with_magic(bytes, GIF89_MAGIC, 3)
        {
            Some(Self::Gif)
        } else if bytes.starts_with(BMP_MAGIC) && plausible_bmp_dib_size(bytes) {
            Some(Self::Bmp)
        } else {
            None
        }
    }
}

fn starts_with_magic(bytes: &[u8], magic: &[u8], min_prefix: usize) -> bool {
    bytes.starts_with(magic)
        || (bytes.len() >= min_prefix && bytes.len() < magic.len() && magic.starts_with(bytes))
}

/// "BM" alone is weak (text can start with it): also require a known DIB header size, when the
/// body is long enough to have one.
fn plausible_bmp_dib_size(bytes: &[u8]) -> bool {
    match bytes
        .get(14..18)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
    {
        Some(size) => BMP_DIB_SIZES.contains(&size),
        None => true,
    }
}
