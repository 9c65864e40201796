//! The expected answers: what a response must carry, and the model's expectation for each
//! update, delete and read (the order of checks of spec D7).

use crate::fixture::{AccountKind, Claims, CONSUMER_TENANT};
use crate::images::{Format, Verdict};
use crate::steps::Version;

use super::gate::{Gate, Sent};
use super::permissions::{Access, Kind};
use super::state::{Model, ObjKey};

pub(crate) const ACCESS_DENIED: &str = "Access is denied. Check credentials and try again.";
pub(crate) const PHOTO_NOT_FOUND: &str = "The photo wasn't found.";
pub(crate) const ITEM_NOT_FOUND: &str = "The specified object was not found in the store.";
pub(crate) const ME_NEEDS_DELEGATED: &str =
    "/me request is only valid with delegated authentication flow.";

/// An expected error: the code, and the message when the spec fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Msg {
    Exact(String),
    Prefix(&'static str),
    Contains(&'static str),
    Any,
}

/// What a successful answer must carry, checked beyond its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Success {
    /// An error was expected.
    None,
    /// 200 to PUT/PATCH: store these bytes.
    Updated {
        key: ObjKey,
        format: Format,
        width: u32,
        height: u32,
        transparent: bool,
    },
    /// 204 to DELETE.
    Deleted { key: ObjKey },
    /// 200 metadata or bytes of the original.
    Photo { key: ObjKey, value: bool },
    /// 304 carrying this ETag.
    NotModified { etag: String },
    /// 200 `/photos`.
    List { key: ObjKey },
    /// 200 metadata or bytes of a size.
    Size { key: ObjKey, side: u32, value: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expect {
    pub(crate) status: u16,
    /// The spec rule that decides this answer.
    pub(crate) rule: &'static str,
    /// Why, in words, for the report.
    pub(crate) why: String,
    pub(crate) code: Option<&'static str>,
    pub(crate) message: Msg,
    pub(crate) success: Success,
    /// For a 405: the methods `Allow` must not list.
    pub(crate) not_allowed: Option<&'static str>,
}

impl Expect {
    pub(crate) fn error(
        status: u16,
        rule: &'static str,
        code: &'static str,
        message: Msg,
        why: impl Into<String>,
    ) -> Expect {
        Expect {
            status,
            rule,
            why: why.into(),
            code: Some(code),
            message,
            success: Success::None,
            not_allowed: None,
        }
    }

    pub(crate) fn ok(
        status: u16,
        rule: &'static str,
        success: Success,
        why: impl Into<String>,
    ) -> Expect {
        Expect {
            status,
            rule,
            why: why.into(),
            code: None,
            message: Msg::Any,
            success,
            not_allowed: None,
        }
    }
}

impl<'f> Model<'f> {
    /// Expected answer to PUT/PATCH `.../photo/$value` (D7 steps 2-9; routing cannot fail).
    /// `if_match` is the header value sent, if any.
    pub(crate) fn expect_update(
        &self,
        caller: Option<&Claims>,
        version: Version,
        sent: &Sent,
        if_match: Option<&str>,
        verdict: &Verdict,
    ) -> Expect {
        let Some(caller) = caller else {
            return unauthenticated();
        };
        if *verdict == Verdict::TooLarge {
            return Expect::error(
                413,
                "B4",
                "RequestEntityTooLarge",
                Msg::Any,
                "Content-Length is over 4 MiB (decided before authorization, D7 step 3)",
            );
        }
        let (key, kind, account) = match self.gate(caller, sent, Access::Write) {
            Gate::Refused(e) => return e,
            Gate::Found { key, kind, account } => (key, kind, account),
        };
        let personal =
            caller.tenant.eq_ignore_ascii_case(CONSUMER_TENANT) || account == AccountKind::Personal;
        if version == Version::V1 && kind == Kind::Me && personal {
            return Expect::error(
                400,
                "B6",
                "ConsumerPhotoIsNotSupported",
                Msg::Any,
                "a personal account's own photo cannot be updated under /v1.0",
            );
        }
        if let Some(e) = self.if_match_fails(key, if_match) {
            return e;
        }
        match verdict {
            Verdict::Invalid { rule, message } => Expect::error(
                400,
                rule,
                "ErrorInvalidImage",
                message.map_or(Msg::Any, |m| Msg::Exact(m.to_owned())),
                "the body is not a whole JPEG, PNG, GIF or BMP image",
            ),
            Verdict::Accept {
                format,
                width,
                height,
                transparent,
            } => Expect::ok(
                200,
                "D4",
                Success::Updated {
                    key,
                    format: *format,
                    width: *width,
                    height: *height,
                    transparent: *transparent,
                },
                format!("{kind:?} target the token may write; a valid image"),
            ),
            Verdict::TooLarge => unauthenticated(),
        }
    }

    /// D7 step 7: `If-Match`, strong comparison; always fails without a photo (B7).
    fn if_match_fails(&self, key: ObjKey, if_match: Option<&str>) -> Option<Expect> {
        let header = if_match?;
        let photo = self.photo(key);
        let ok = match photo {
            None => false,
            Some(p) => header.trim() == "*" || header.trim() == p.etag,
        };
        (!ok).then(|| {
            Expect::error(
                412,
                "B7",
                "PreconditionFailed",
                Msg::Any,
                match photo {
                    None => format!("If-Match: {header} and there is no photo"),
                    Some(p) => format!(
                        "If-Match: {header} does not match the current ETag {} (strong comparison)",
                        p.etag
                    ),
                },
            )
        })
    }

    /// Expected answer to DELETE `.../photo` or `.../photo/$value`.
    pub(crate) fn expect_delete(
        &self,
        caller: Option<&Claims>,
        sent: &Sent,
        if_match: Option<&str>,
    ) -> Expect {
        if sent.is_contact() {
            let mut e = Expect::error(
                405,
                "A5",
                "MethodNotAllowed",
                Msg::Any,
                "contact photos cannot be deleted (decided by routing, before authentication)",
            );
            e.not_allowed = Some("DELETE");
            return e;
        }
        let Some(caller) = caller else {
            return unauthenticated();
        };
        let key = match self.gate(caller, sent, Access::Write) {
            Gate::Refused(e) => return e,
            Gate::Found { key, .. } => key,
        };
        if let Some(e) = self.if_match_fails(key, if_match) {
            return e;
        }
        if self.photo(key).is_none() {
            return no_photo("DELETE and there is no photo");
        }
        Expect::ok(204, "A5", Success::Deleted { key }, "the photo is deleted")
    }

    /// Expected answer to GET (or HEAD) of metadata, bytes, the list or a size.
    /// `if_none_match` is the header value sent, if any.
    pub(crate) fn expect_read(
        &self,
        caller: Option<&Claims>,
        sent: &Sent,
        what: ReadTarget,
        if_none_match: Option<&str>,
    ) -> Expect {
        if sent.is_contact() && !matches!(what, ReadTarget::Photo { .. }) {
            return Expect::error(
                400,
                "A4",
                "BadRequest",
                Msg::Contains("photos"),
                "contacts have no /photos (decided by routing, before authentication)",
            );
        }
        let Some(caller) = caller else {
            return unauthenticated();
        };
        let key = match self.gate(caller, sent, Access::Read) {
            Gate::Refused(e) => return e,
            Gate::Found { key, .. } => key,
        };
        let photo = self.photo(key);
        match what {
            ReadTarget::List => Expect::ok(
                200,
                "D5",
                Success::List { key },
                "the sizes of the photo (an empty list without one)",
            ),
            ReadTarget::Photo { value } => {
                let Some(photo) = photo else {
                    return no_photo("there is no photo");
                };
                if let Some(header) = if_none_match {
                    if weak_match(header, &photo.etag) {
                        return Expect::ok(
                            304,
                            "B7",
                            Success::NotModified {
                                etag: photo.etag.clone(),
                            },
                            format!(
                                "If-None-Match: {header} matches the current ETag {}",
                                photo.etag
                            ),
                        );
                    }
                }
                Expect::ok(
                    200,
                    "D5",
                    Success::Photo { key, value },
                    "the photo exists and the token may read it",
                )
            }
            ReadTarget::Size { side, value } => {
                let Some(photo) = photo else {
                    return no_photo("there is no photo");
                };
                let Some(side) = side.filter(|s| photo.sizes().contains(s)) else {
                    let mut e = no_photo(&format!(
                        "the size is not available for a {}x{} original (C5)",
                        photo.width, photo.height
                    ));
                    e.rule = "C5";
                    return e;
                };
                if let Some(header) = if_none_match {
                    let current = photo.size_etags.get(&side);
                    let matches =
                        header.trim() == "*" || current.is_some_and(|c| weak_match(header, c));
                    if matches {
                        let etag = current.cloned().unwrap_or_default();
                        return Expect::ok(
                            304,
                            "B7",
                            Success::NotModified { etag },
                            format!("If-None-Match: {header} matches the size's current ETag"),
                        );
                    }
                }
                Expect::ok(
                    200,
                    "C5",
                    Success::Size { key, side, value },
                    format!("size {side}x{side} is available"),
                )
            }
        }
    }
}

/// What a GET reads, once parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadTarget {
    Photo {
        value: bool,
    },
    List,
    /// `side` is `None` for a size id that is not one of the nine.
    Size {
        side: Option<u32>,
        value: bool,
    },
}

/// Weak comparison (RFC 9110 8.8.3.2): `*` matches anything, `W/` is ignored on both sides;
/// the header may list several tags.
pub(crate) fn weak_match(header: &str, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    header
        .split(',')
        .any(|t| t.trim() == "*" || strip(t) == strip(etag))
}

pub(crate) fn unauthenticated() -> Expect {
    Expect::error(
        401,
        "D1",
        "InvalidAuthenticationToken",
        Msg::Any,
        "no valid bearer token",
    )
}

fn no_photo(why: &str) -> Expect {
    Expect::error(
        404,
        "C4",
        "ErrorEntityNotFound",
        Msg::Exact(PHOTO_NOT_FOUND.to_owned()),
        why.to_owned(),
    )
}
