//! Entity tags and conditional requests (spec B7, C8).

use std::fmt;

use sha2::{Digest, Sha256};

/// A strong entity tag. Holds the opaque tag without quotes; `Display` adds them, which is
/// the form of the `ETag` header and of `@odata.mediaEtag`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ETag(String);

impl ETag {
    /// An opaque tag as given (without quotes).
    pub fn new(opaque: impl Into<String>) -> Self {
        Self(opaque.into())
    }

    /// A content-derived tag: equal bytes give equal tags, different bytes different tags
    /// (64 bits of SHA-256, so an accidental collision is not a practical concern).
    pub fn for_content(bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        Self(hex::encode_upper(&digest[..8]))
    }

    /// The tag of one size of a photo: changes whenever the original's tag does (spec C2),
    /// and is known without rendering, so a `304` never costs a resize.
    pub fn for_rendition(original: &ETag, side: u32) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(original.0.as_bytes());
        hasher.update(b"/");
        hasher.update(side.to_string().as_bytes());
        Self(hex::encode_upper(&hasher.finalize()[..8]))
    }

    pub fn opaque(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0)
    }
}

/// One entity tag of an `If-Match`/`If-None-Match` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTag {
    pub weak: bool,
    pub opaque: String,
}

/// The value of an `If-Match` or `If-None-Match` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagCondition {
    /// `*`
    Any,
    Tags(Vec<ListedTag>),
}

impl TagCondition {
    /// Parses a header value: `*`, or a comma-separated list of `"tag"` / `W/"tag"`.
    /// An unquoted token is taken as a strong tag: clients pasting an ETag without its quotes
    /// mean that tag, and refusing them would turn a safe conditional write into none at all.
    pub fn parse(value: &str) -> TagCondition {
        let value = value.trim();
        if value == "*" {
            return TagCondition::Any;
        }
        let tags = value
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                let (weak, rest) = match t.strip_prefix("W/").or_else(|| t.strip_prefix("w/")) {
                    Some(rest) => (true, rest),
                    None => (false, t),
                };
                let opaque = rest
                    .strip_prefix('"')
                    .and_then(|r| r.strip_suffix('"'))
                    .unwrap_or(rest);
                ListedTag {
                    weak,
                    opaque: opaque.to_owned(),
                }
            })
            .collect();
        TagCondition::Tags(tags)
    }

    /// `If-Match` semantics: strong comparison (RFC 9110 13.1.1). `current` is the stored
    /// photo's tag, `None` when there is none.
    pub fn matches_strong(&self, current: Option<&ETag>) -> bool {
        match (self, current) {
            (_, None) => false,
            (TagCondition::Any, Some(_)) => true,
            (TagCondition::Tags(tags), Some(etag)) => {
                tags.iter().any(|t| !t.weak && t.opaque == etag.opaque())
            }
        }
    }

    /// `If-None-Match` semantics: weak comparison (RFC 9110 13.1.2); true means "not modified".
    pub fn matches_weak(&self, current: &ETag) -> bool {
        match self {
            TagCondition::Any => true,
            TagCondition::Tags(tags) => tags.iter().any(|t| t.opaque == current.opaque()),
        }
    }

    /// The store-level condition equivalent to this `If-Match`.
    pub fn to_precondition(&self) -> Precondition {
        match self {
            TagCondition::Any => Precondition::Exists,
            TagCondition::Tags(tags) => Precondition::OneOf(
                tags.iter()
                    .filter(|t| !t.weak)
                    .map(|t| ETag::new(t.opaque.clone()))
                    .collect(),
            ),
        }
    }
}

/// The condition a store applies atomically with a write (compare-and-swap).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Precondition {
    /// Unconditional.
    #[default]
    None,
    /// A photo must exist (`If-Match: *`).
    Exists,
    /// A photo must exist and its tag be one of these (an empty list never holds).
    OneOf(Vec<ETag>),
}

impl Precondition {
    /// Whether the condition holds for the stored photo's tag (`None` when there is none).
    pub fn holds(&self, current: Option<&ETag>) -> bool {
        match (self, current) {
            (Precondition::None, _) => true,
            (_, None) => false,
            (Precondition::Exists, Some(_)) => true,
            (Precondition::OneOf(tags), Some(etag)) => tags.contains(etag),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_tags_follow_the_bytes() {
        assert_eq!(ETag::for_content(b"abc"), ETag::for_content(b"abc"));
        assert_ne!(ETag::for_content(b"abc"), ETag::for_content(b"abd"));
        assert_eq!(ETag::for_content(b"abc").to_string().len(), 18);
        assert!(ETag::for_content(b"abc").to_string().starts_with('"'));
    }

    #[test]
    fn rendition_tags_differ_per_size_and_version() {
        let a = ETag::for_content(b"a");
        let b = ETag::for_content(b"b");
        assert_ne!(ETag::for_rendition(&a, 48), ETag::for_rendition(&a, 64));
        assert_ne!(ETag::for_rendition(&a, 48), ETag::for_rendition(&b, 48));
        assert_ne!(ETag::for_rendition(&a, 48), a);
    }

    #[test]
    fn if_match_is_strong() {
        let tag = ETag::new("X1");
        assert!(TagCondition::parse("\"X1\"").matches_strong(Some(&tag)));
        assert!(TagCondition::parse("\"A\", \"X1\"").matches_strong(Some(&tag)));
        assert!(!TagCondition::parse("W/\"X1\"").matches_strong(Some(&tag)));
        assert!(TagCondition::parse("*").matches_strong(Some(&tag)));
        assert!(!TagCondition::parse("*").matches_strong(None));
        assert!(!TagCondition::parse("\"X1\"").matches_strong(None));
        assert!(TagCondition::parse("X1").matches_strong(Some(&tag)));
    }

    #[test]
    fn if_none_match_is_weak() {
        let tag = ETag::new("X1");
        assert!(TagCondition::parse("W/\"X1\"").matches_weak(&tag));
        assert!(TagCondition::parse("\"X1\"").matches_weak(&tag));
        assert!(TagCondition::parse("*").matches_weak(&tag));
        assert!(!TagCondition::parse("\"X2\"").matches_weak(&tag));
    }

    #[test]
    fn preconditions() {
        let tag = ETag::new("X1");
        assert!(Precondition::None.holds(None));
        assert!(!Precondition::Exists.holds(None));
        assert!(Precondition::Exists.holds(Some(&tag)));
        assert!(TagCondition::parse("\"X1\"")
            .to_precondition()
            .holds(Some(&tag)));
        assert!(!TagCondition::parse("W/\"X1\"")
            .to_precondition()
            .holds(Some(&tag)));
        assert!(!Precondition::OneOf(vec![]).holds(Some(&tag)));
    }
}
