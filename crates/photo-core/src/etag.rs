//! Entity tags and conditional requests (spec B7, C8).

use std::fmt;

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
    /// (64 bits of BLAKE3, so an accidental collision is not a practical concern, and a
    /// deliberate one is out of reach). BLAKE3 rather than SHA-256 because this runs on every
    /// upload: it costs a fraction of a millisecond per 4 MB on one core where SHA-256 costs
    /// several (docs/PERFORMANCE.md).
    pub fn for_content(bytes: &[u8]) -> Self {
        Self::from_digest(blake3::hash(bytes).as_bytes())
    }

    /// The tag of one size of a photo: changes whenever the original's tag does (spec C2),
    /// and is known without rendering, so a `304` never costs a resize.
    pub fn for_rendition(original: &ETag, side: u32) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(original.0.as_bytes());
        hasher.update(b"/");
        hasher.update(&side.to_be_bytes());
        Self::from_digest(hasher.finalize().as_bytes())
    }

    /// Whether this tag is the content tag of `bytes`: as [`ETag::for_content`] makes it, or as
    /// it was made before BLAKE3 (the first 64 bits of SHA-256), so that an export written by
    /// an older version still proves its files unchanged.
    pub fn identifies(&self, bytes: &[u8]) -> bool {
        use sha2::Digest as _;
        *self == Self::for_content(bytes)
            || *self == Self::from_digest(&sha2::Sha256::digest(bytes).into())
    }

    fn from_digest(digest: &[u8; 32]) -> Self {
        Self(hex::encode_upper(&digest[..8]))
    }

    /// The tag without its quotes.
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
    /// Whether it was written `W/"..."`.
    pub weak: bool,
    /// The tag between the quotes.
    pub opaque: String,
}

/// The value of an `If-Match` or `If-None-Match` header.
///
/// ```
/// use photo_core::etag::{ETag, TagCondition};
///
/// let current = ETag::for_content(b"the stored photo's bytes");
/// let header = format!("W/\"old\", {current}");
///
/// // If-Match compares strongly: the strong tag matches, a weak one never would.
/// let if_match = TagCondition::parse(&header);
/// assert!(if_match.matches_strong(Some(&current)));
/// assert!(if_match.to_precondition().holds(Some(&current))); // what a store checks atomically
/// assert!(!if_match.matches_strong(None)); // no photo: 412
///
/// // If-None-Match compares weakly: true means "304 Not Modified".
/// assert!(TagCondition::parse(&format!("W/{current}")).matches_weak(&current));
/// // An unquoted tag is no entity tag: it matches nothing (a 412, never a blind write).
/// assert!(!TagCondition::parse(current.opaque()).matches_strong(Some(&current)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagCondition {
    /// `*`
    Any,
    /// A list of entity tags.
    Tags(Vec<ListedTag>),
    /// Not `*` nor a list of entity tags (an unquoted tag, say). It matches nothing: an
    /// `If-Match` that cannot be understood must not turn into an unconditional write
    /// (RFC 9110 13.1.1 evaluates to false, hence 412), and an `If-None-Match` that cannot be
    /// understood gets the full answer.
    Malformed,
}

impl TagCondition {
    /// Parses a header value strictly by RFC 9110 8.8.3 and 13.1.1: `*`, or a comma-separated
    /// list of `"tag"` / `W/"tag"` (empty list elements are allowed, as in every list header).
    pub fn parse(value: &str) -> TagCondition {
        let value = value.trim_matches([' ', '\t']);
        if value == "*" {
            return TagCondition::Any;
        }
        match parse_entity_tags(value) {
            Some(tags) if !tags.is_empty() => TagCondition::Tags(tags),
            _ => TagCondition::Malformed,
        }
    }

    /// `If-Match` semantics: strong comparison (RFC 9110 13.1.1). `current` is the stored
    /// photo's tag, `None` when there is none.
    pub fn matches_strong(&self, current: Option<&ETag>) -> bool {
        match (self, current) {
            (_, None) | (TagCondition::Malformed, _) => false,
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
            TagCondition::Malformed => false,
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
            // An empty list never holds.
            TagCondition::Malformed => Precondition::OneOf(Vec::new()),
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

/// `#entity-tag`, where `entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE` and
/// `etagc = %x21 / %x23-7E / obs-text` (`W/` is case-sensitive; a tag may hold a comma).
fn parse_entity_tags(value: &str) -> Option<Vec<ListedTag>> {
    const OWS: [char; 2] = [' ', '\t'];
    let etagc = |c: char| c == '\x21' || ('\x23'..='\x7e').contains(&c) || !c.is_ascii();
    let mut tags = Vec::new();
    let mut rest = value;
    loop {
        // Empty list elements are allowed (RFC 9110 5.6.1).
        rest = rest.trim_start_matches(|c| c == ',' || OWS.contains(&c));
        if rest.is_empty() {
            return Some(tags);
        }
        let (weak, quoted) = match rest.strip_prefix("W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let quoted = quoted.strip_prefix('"')?;
        let end = quoted.find('"')?;
        let opaque = &quoted[..end];
        if !opaque.chars().all(etagc) {
            return None;
        }
        tags.push(ListedTag {
            weak,
            opaque: opaque.to_owned(),
        });
        rest = quoted[end + 1..].trim_start_matches(OWS);
        if !rest.is_empty() {
            rest = rest.strip_prefix(',')?;
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
    fn content_tags_are_blake3_and_old_sha256_tags_are_still_recognised() {
        // Published test vectors: BLAKE3("abc") = 6437b3ac..., SHA-256("abc") = ba7816bf....
        assert_eq!(ETag::for_content(b"abc").opaque(), "6437B3AC38465133");
        let legacy = ETag::new("BA7816BF8F01CFEA");
        assert!(legacy.identifies(b"abc"));
        assert!(ETag::for_content(b"abc").identifies(b"abc"));
        assert!(!legacy.identifies(b"abd"));
        assert!(!ETag::new("6437B3AC38465134").identifies(b"abc"));
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
    }

    #[test]
    fn malformed_lists_match_nothing() {
        let tag = ETag::new("X1");
        for value in [
            "X1",
            "\"X1",
            "X1\"",
            "\"X1\", X1",
            "w/\"X1\"",
            "\"X\"1\"",
            "\"X 1\"",
            "",
            " , ",
            "*, \"X1\"",
            "W/ \"X1\"",
        ] {
            let condition = TagCondition::parse(value);
            assert_eq!(condition, TagCondition::Malformed, "{value:?}");
            assert!(!condition.matches_strong(Some(&tag)), "{value:?}");
            assert!(!condition.matches_weak(&tag), "{value:?}");
            assert!(!condition.to_precondition().holds(Some(&tag)), "{value:?}");
        }
        // Well-formed lists, with empty elements and odd spacing.
        assert!(TagCondition::parse(" \"A\" ,, \"X1\" ").matches_strong(Some(&tag)));
        assert!(TagCondition::parse("W/\"X1\"").matches_weak(&tag));
        assert!(TagCondition::parse("\"\"").matches_weak(&ETag::new("")));
        assert!(TagCondition::parse("\"a,b\"").matches_strong(Some(&ETag::new("a,b"))));
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
