//! What a request names: the photo's owner (a [`Target`]), which representation of it
//! (a [`Resource`]) and under which API version, parsed from the URL path (spec A1-A6).
//!
//! The parser takes raw, still percent-encoded segments: Graph splits the path on `/` first
//! and decodes each segment afterwards, so an id may contain an encoded `/` (spec A3).

use std::fmt;

use crate::renditions::SizeId;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// `/v1.0` or `/beta` (spec A2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// `/v1.0`.
    V1,
    /// `/beta`.
    Beta,
}

impl ApiVersion {
    /// The path segment: `v1.0` or `beta`.
    pub fn segment(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1.0",
            ApiVersion::Beta => "beta",
        }
    }

    /// The version a path segment names (`v1.0`, `beta`, in any case, spec A2), if any: how
    /// the server's grammar and the clients' `--base` both read a version.
    pub fn from_segment(segment: &str) -> Option<Self> {
        if segment.eq_ignore_ascii_case("v1.0") {
            Some(ApiVersion::V1)
        } else if segment.eq_ignore_ascii_case("beta") {
            Some(ApiVersion::Beta)
        } else {
            None
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.segment())
    }
}

/// The user who owns a contact: the signed-in user, or a user named by id or UPN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ContactOwner {
    /// `/me`: the signed-in user.
    Me,
    /// `/users/{id | userPrincipalName}`.
    User(String),
}

/// Whose photo a request is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `/me`
    Me,
    /// `/users/{id | userPrincipalName}`
    User(String),
    /// `/groups/{id}`
    Group(String),
    /// `/{owner}/contacts/{id}` or `/{owner}/contactfolders/{folder}/contacts/{id}`
    Contact {
        /// The user whose contacts these are.
        owner: ContactOwner,
        /// The contact folder, when the path names one.
        folder: Option<String>,
        /// The contact's id.
        id: String,
    },
}

impl Target {
    /// Whether this is a contact's photo.
    pub fn is_contact(&self) -> bool {
        matches!(self, Target::Contact { .. })
    }

    /// The path of the target below the version segment, each id percent-encoded so that
    /// [`Route::parse_path`] reads back exactly this target.
    pub fn path(&self) -> String {
        fn owner_path(owner: &ContactOwner) -> String {
            match owner {
                ContactOwner::Me => "me".to_owned(),
                ContactOwner::User(id) => format!("users/{}", encode_id(id)),
            }
        }
        match self {
            Target::Me => "me".to_owned(),
            Target::User(id) => format!("users/{}", encode_id(id)),
            Target::Group(id) => format!("groups/{}", encode_id(id)),
            Target::Contact {
                owner,
                folder: None,
                id,
            } => format!("{}/contacts/{}", owner_path(owner), encode_id(id)),
            Target::Contact {
                owner,
                folder: Some(folder),
                id,
            } => format!(
                "{}/contactFolders/{}/contacts/{}",
                owner_path(owner),
                encode_id(folder),
                encode_id(id)
            ),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// Which representation of the target's photo.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `.../photo`: metadata of the original.
    Photo,
    /// `.../photo/$value`: the original's bytes.
    PhotoValue,
    /// `.../photos`: the list of available sizes.
    Photos,
    /// `.../photos/{size}`: metadata of one size. The id is kept as sent; whether it names an
    /// available size is decided later (404, spec C5).
    Size(SizeId),
    /// `.../photos/{size}/$value`
    SizeValue(SizeId),
}

impl Resource {
    /// The path below the version, percent-encoded: the inverse of parsing.
    pub fn path(&self) -> String {
        match self {
            Resource::Photo => "photo".to_owned(),
            Resource::PhotoValue => "photo/$value".to_owned(),
            Resource::Photos => "photos".to_owned(),
            Resource::Size(size) => format!("photos/{}", encode_id(size.as_str())),
            Resource::SizeValue(size) => format!("photos/{}/$value", encode_id(size.as_str())),
        }
    }
}

/// A parsed request path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    /// The API version of the path.
    pub version: ApiVersion,
    /// Whose photo.
    pub target: Target,
    /// Which photo resource.
    pub resource: Resource,
}

/// Which representation of a photo or size a read asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Representation {
    /// The JSON metadata (`.../photo`, `.../photos/{size}`).
    Metadata,
    /// The image bytes (`.../$value`).
    Value,
}

/// What a request asks to do, once path and method are known.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `PUT`/`PATCH .../photo/$value`
    Update,
    /// `GET .../photo` (metadata) or `.../photo/$value` (the bytes)
    GetPhoto(Representation),
    /// `GET .../photos`
    ListSizes,
    /// `GET .../photos/{size}` or `.../photos/{size}/$value`
    GetSize {
        /// The size id as the path gave it (`48x48`).
        size: SizeId,
        /// Metadata or bytes.
        representation: Representation,
    },
    /// `DELETE .../photo` or `.../photo/$value`
    Delete,
}

impl Operation {
    /// Writes need write permissions (spec D4); everything else is a read (spec D5).
    pub fn is_write(&self) -> bool {
        matches!(self, Operation::Update | Operation::Delete)
    }
}

/// Why a path or method was refused. Decided before authentication (spec A6, D7 step 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// 400 `BadRequest`: what Graph answers for a segment it does not know.
    #[error("Resource not found for the segment '{0}'.")]
    UnknownSegment(String),
    /// 400 `BadRequest`: a segment Graph knows but not on this kind of target (spec A4).
    #[error("Unsupported segment type '{segment}': {reason}")]
    UnsupportedSegment {
        /// The segment as the path gave it.
        segment: String,
        /// Why it does not apply here.
        reason: String,
    },
    /// 405 `MethodNotAllowed`, with the methods that are allowed on this path.
    #[error("The HTTP method '{method}' is not allowed on this resource. Allowed: {}.", allow.join(", "))]
    MethodNotAllowed {
        /// The method as the request gave it.
        method: String,
        /// The methods this path allows (`Allow`).
        allow: Vec<&'static str>,
    },
}

/// Characters left unencoded in ids: RFC 3986 unreserved. Everything else is encoded, which
/// matches what msgraph-sdk for Python sends for `@ = + /` (spec W3).
const ID_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode_id(id: &str) -> String {
    utf8_percent_encode(id, ID_ENCODE).to_string()
}

/// One segment, decoded. A segment whose escapes do not decode to UTF-8 cannot name anything.
fn decode(raw: &str) -> Result<String, RouteError> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| RouteError::UnknownSegment(raw.to_owned()))
}

struct Segments {
    decoded: Vec<String>,
    pos: usize,
}

impl Segments {
    fn next(&mut self) -> Option<&str> {
        let seg = self.decoded.get(self.pos)?;
        self.pos += 1;
        Some(seg)
    }

    fn next_is(&mut self, name: &str) -> Option<bool> {
        let seg = self.decoded.get(self.pos)?;
        let is = seg.eq_ignore_ascii_case(name);
        if is {
            self.pos += 1;
        }
        Some(is)
    }

    /// An unknown segment at the cursor, or the last one when the path ended too early.
    fn unknown_here(&self) -> RouteError {
        let seg = self
            .decoded
            .get(self.pos)
            .or_else(|| self.decoded.last())
            .cloned()
            .unwrap_or_default();
        RouteError::UnknownSegment(seg)
    }

    /// An id segment: any non-empty text.
    fn id(&mut self) -> Result<String, RouteError> {
        match self.decoded.get(self.pos) {
            Some(id) if !id.is_empty() => {
                self.pos += 1;
                Ok(id.clone())
            }
            _ => Err(self.unknown_here()),
        }
    }

    fn done(&self) -> bool {
        self.pos >= self.decoded.len()
    }
}

impl Route {
    /// Parses a raw request path such as `/v1.0/users/a%40b.com/photo/%24value`.
    /// A single trailing `/` is tolerated.
    ///
    /// ```
    /// use photo_core::target::{ApiVersion, Operation, Representation, Resource, Route, Target};
    ///
    /// let route = Route::parse_path("/v1.0/users/AdeleV%40contoso.com/photo/%24value")?;
    /// assert_eq!(route.version, ApiVersion::V1);
    /// assert_eq!(route.target, Target::User("AdeleV@contoso.com".to_owned()));
    /// assert_eq!(route.resource, Resource::PhotoValue);
    /// assert_eq!(route.operation("get")?, Operation::GetPhoto(Representation::Value));
    /// // Graph's grammar both ways: the canonical path parses back to the same route.
    /// assert_eq!(Route::parse_path(&route.path())?, route);
    ///
    /// // A segment Graph does not know is a 400, a method the path does not allow a 405.
    /// assert!(Route::parse_path("/v1.0/me/fotos").is_err());
    /// assert!(route.operation("POST").is_err());
    /// # Ok::<(), photo_core::target::RouteError>(())
    /// ```
    pub fn parse_path(raw_path: &str) -> Result<Route, RouteError> {
        let trimmed = raw_path.strip_prefix('/').unwrap_or(raw_path);
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let segments: Vec<&str> = trimmed.split('/').collect();
        Route::parse_segments(&segments)
    }

    /// Parses raw (still percent-encoded) segments, the version segment first.
    pub fn parse_segments(raw: &[&str]) -> Result<Route, RouteError> {
        let decoded = raw
            .iter()
            .map(|s| decode(s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut segs = Segments { decoded, pos: 0 };

        let version = match segs.next().and_then(ApiVersion::from_segment) {
            Some(version) => version,
            None => {
                segs.pos = 0;
                return Err(segs.unknown_here());
            }
        };

        // The owner: me, users/{id} or groups/{id}.
        let owner_seg = segs.next().map(str::to_ascii_lowercase);
        let (owner, is_group) = match owner_seg.as_deref() {
            Some("me") => (Target::Me, false),
            Some("users") => (Target::User(segs.id()?), false),
            Some("groups") => (Target::Group(segs.id()?), true),
            Some(_) => {
                segs.pos -= 1;
                return Err(segs.unknown_here());
            }
            None => return Err(segs.unknown_here()),
        };

        // Contacts hang off a user (me or users/{id}), never off a group.
        let target = if is_group {
            owner
        } else {
            let contact_owner = match &owner {
                Target::User(id) => ContactOwner::User(id.clone()),
                _ => ContactOwner::Me,
            };
            if segs.next_is("contacts") == Some(true) {
                Target::Contact {
                    owner: contact_owner,
                    folder: None,
                    id: segs.id()?,
                }
            } else if segs.next_is("contactfolders") == Some(true) {
                let folder = segs.id()?;
                if segs.next_is("contacts") != Some(true) {
                    return Err(segs.unknown_here());
                }
                Target::Contact {
                    owner: contact_owner,
                    folder: Some(folder),
                    id: segs.id()?,
                }
            } else {
                owner
            }
        };

        let resource = if segs.next_is("photo") == Some(true) {
            match segs.next_is("$value") {
                None => Resource::Photo,
                Some(true) => Resource::PhotoValue,
                Some(false) => return Err(segs.unknown_here()),
            }
        } else if segs.next_is("photos") == Some(true) {
            if target.is_contact() {
                return Err(RouteError::UnsupportedSegment {
                    segment: "photos".to_owned(),
                    reason: "a contact has a single photo, read it at '/photo'.".to_owned(),
                });
            }
            if segs.done() {
                Resource::Photos
            } else {
                let size = segs.id()?;
                match segs.next_is("$value") {
                    None => Resource::Size(SizeId::new(size)),
                    Some(true) => Resource::SizeValue(SizeId::new(size)),
                    Some(false) => return Err(segs.unknown_here()),
                }
            }
        } else {
            return Err(segs.unknown_here());
        };

        if !segs.done() {
            return Err(segs.unknown_here());
        }
        Ok(Route {
            version,
            target,
            resource,
        })
    }

    /// The methods this path answers (the `Allow` header of a 405).
    pub fn allowed_methods(&self) -> Vec<&'static str> {
        let contact = self.target.is_contact();
        match (&self.resource, contact) {
            // Contact photos cannot be deleted in Graph [profilephoto-delete.md].
            (Resource::Photo, true) => vec!["GET", "HEAD"],
            (Resource::Photo, false) => vec!["GET", "HEAD", "DELETE"],
            (Resource::PhotoValue, true) => vec!["GET", "HEAD", "PUT", "PATCH"],
            (Resource::PhotoValue, false) => vec!["GET", "HEAD", "PUT", "PATCH", "DELETE"],
            (Resource::Photos | Resource::Size(_) | Resource::SizeValue(_), _) => {
                vec!["GET", "HEAD"]
            }
        }
    }

    /// What `method` asks of this path, or 405 with the allowed methods.
    pub fn operation(&self, method: &str) -> Result<Operation, RouteError> {
        let method = method.to_ascii_uppercase();
        if !self.allowed_methods().contains(&method.as_str()) {
            return Err(RouteError::MethodNotAllowed {
                method,
                allow: self.allowed_methods(),
            });
        }
        Ok(match (method.as_str(), &self.resource) {
            ("PUT" | "PATCH", _) => Operation::Update,
            ("DELETE", _) => Operation::Delete,
            (_, Resource::Photo) => Operation::GetPhoto(Representation::Metadata),
            (_, Resource::PhotoValue) => Operation::GetPhoto(Representation::Value),
            (_, Resource::Photos) => Operation::ListSizes,
            (_, Resource::Size(size)) => Operation::GetSize {
                size: size.clone(),
                representation: Representation::Metadata,
            },
            (_, Resource::SizeValue(size)) => Operation::GetSize {
                size: size.clone(),
                representation: Representation::Value,
            },
        })
    }

    /// The path this route was parsed from, in canonical form (ids encoded).
    pub fn path(&self) -> String {
        format!(
            "/{}/{}/{}",
            self.version,
            self.target.path(),
            self.resource.path()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(p: &str) -> Result<Route, RouteError> {
        Route::parse_path(p)
    }

    fn route(version: ApiVersion, target: Target, resource: Resource) -> Route {
        Route {
            version,
            target,
            resource,
        }
    }

    #[test]
    fn every_update_route_of_a1_parses_under_both_versions() {
        for (v, version) in [("v1.0", ApiVersion::V1), ("beta", ApiVersion::Beta)] {
            let cases = [
                ("me/photo/$value", Target::Me),
                ("users/u1/photo/$value", Target::User("u1".into())),
                ("groups/g1/photo/$value", Target::Group("g1".into())),
                (
                    "me/contacts/c1/photo/$value",
                    Target::Contact {
                        owner: ContactOwner::Me,
                        folder: None,
                        id: "c1".into(),
                    },
                ),
                (
                    "users/u1/contacts/c1/photo/$value",
                    Target::Contact {
                        owner: ContactOwner::User("u1".into()),
                        folder: None,
                        id: "c1".into(),
                    },
                ),
                (
                    "me/contactfolders/f1/contacts/c1/photo/$value",
                    Target::Contact {
                        owner: ContactOwner::Me,
                        folder: Some("f1".into()),
                        id: "c1".into(),
                    },
                ),
                (
                    "users/u1/contactfolders/f1/contacts/c1/photo/$value",
                    Target::Contact {
                        owner: ContactOwner::User("u1".into()),
                        folder: Some("f1".into()),
                        id: "c1".into(),
                    },
                ),
            ];
            for (path, target) in cases {
                let r = parse(&format!("/{v}/{path}")).unwrap();
                assert_eq!(r, route(version, target, Resource::PhotoValue), "{path}");
                assert_eq!(r.operation("PUT").unwrap(), Operation::Update);
                assert_eq!(r.operation("patch").unwrap(), Operation::Update);
            }
        }
    }

    #[test]
    fn segment_names_are_case_insensitive_and_value_may_be_encoded() {
        let r = parse("/V1.0/Me/ContactFolders/f/Contacts/c/Photo/%24value").unwrap();
        assert_eq!(r.resource, Resource::PhotoValue);
        assert_eq!(
            r.target,
            Target::Contact {
                owner: ContactOwner::Me,
                folder: Some("f".into()),
                id: "c".into()
            }
        );
        assert_eq!(
            parse("/beta/USERS/x/PHOTO/%24VALUE").unwrap().resource,
            Resource::PhotoValue
        );
    }

    #[test]
    fn ids_are_split_before_decoding() {
        let r = parse("/v1.0/users/a%2Fb%40c.com/photo/$value").unwrap();
        assert_eq!(r.target, Target::User("a/b@c.com".into()));
    }

    #[test]
    fn plus_is_literal_and_specials_survive_raw_or_encoded() {
        for raw in [
            "ab+c=d@x.com",
            "ab%2Bc%3Dd%40x.com",
            "o'neil_contoso.com%23EXT%23@t.onmicrosoft.com",
        ] {
            let r = parse(&format!("/v1.0/users/{raw}/photo")).unwrap();
            let Target::User(id) = r.target else {
                panic!("not a user")
            };
            assert_eq!(id, percent_decode_str(raw).decode_utf8().unwrap(), "{raw}");
            assert!(!id.contains(' '));
        }
    }

    #[test]
    fn unknown_segments_are_named() {
        let unknown = |p: &str| match parse(p) {
            Err(RouteError::UnknownSegment(s)) => s,
            other => panic!("{p}: {other:?}"),
        };
        assert_eq!(unknown("/v2.0/me/photo"), "v2.0");
        assert_eq!(unknown("/v1.0/me"), "me");
        assert_eq!(unknown("/v1.0/users"), "users");
        assert_eq!(unknown("/v1.0/me/mailFolders/x"), "mailFolders");
        assert_eq!(unknown("/v1.0/me/photo/$value/extra"), "extra");
        assert_eq!(unknown("/v1.0/me/photo/value"), "value");
        assert_eq!(unknown("/v1.0/groups/g/contacts/c/photo"), "contacts");
        assert_eq!(unknown("/v1.0/things/x/photo"), "things");
        assert_eq!(unknown("/v1.0/me/contactfolders/f/photo"), "photo");
        assert_eq!(unknown("/"), "");
    }

    #[test]
    fn contacts_have_no_photos_collection() {
        assert!(matches!(
            parse("/v1.0/me/contacts/c/photos"),
            Err(RouteError::UnsupportedSegment { segment, .. }) if segment == "photos"
        ));
        assert!(matches!(
            parse("/beta/users/u/contactFolders/f/contacts/c/photos/48x48/$value"),
            Err(RouteError::UnsupportedSegment { .. })
        ));
    }

    #[test]
    fn read_routes_of_a4() {
        let r = parse("/v1.0/groups/g/photos/48X48/$value").unwrap();
        assert_eq!(r.resource, Resource::SizeValue(SizeId::new("48X48")));
        assert_eq!(
            r.operation("GET").unwrap(),
            Operation::GetSize {
                size: SizeId::new("48X48"),
                representation: Representation::Value
            }
        );
        assert_eq!(
            parse("/v1.0/me/photos").unwrap().operation("HEAD").unwrap(),
            Operation::ListSizes
        );
        assert_eq!(
            parse("/v1.0/me/photo").unwrap().operation("GET").unwrap(),
            Operation::GetPhoto(Representation::Metadata)
        );
    }

    #[test]
    fn wrong_methods_are_405_with_allow() {
        let method_not_allowed = |p: &str, m: &str| match parse(p).unwrap().operation(m) {
            Err(RouteError::MethodNotAllowed { allow, .. }) => allow,
            other => panic!("{m} {p}: {other:?}"),
        };
        assert_eq!(
            method_not_allowed("/v1.0/me/photo", "PUT"),
            vec!["GET", "HEAD", "DELETE"]
        );
        assert_eq!(
            method_not_allowed("/v1.0/me/photo/$value", "POST"),
            vec!["GET", "HEAD", "PUT", "PATCH", "DELETE"]
        );
        // Contact photos cannot be deleted (spec A5).
        assert_eq!(
            method_not_allowed("/v1.0/me/contacts/c/photo/$value", "DELETE"),
            vec!["GET", "HEAD", "PUT", "PATCH"]
        );
        assert_eq!(
            method_not_allowed("/v1.0/me/photos/48x48", "PUT"),
            vec!["GET", "HEAD"]
        );
    }

    fn arb_id() -> impl Strategy<Value = String> {
        // Anything but empty: ids may hold `/`, `%`, `+`, `#`, spaces, unicode.
        "[a-zA-Z0-9 /%+#@=':._~\u{e9}\u{4e2d}-]{1,24}"
    }

    fn arb_target() -> impl Strategy<Value = Target> {
        let owner = prop_oneof![
            Just(ContactOwner::Me),
            arb_id().prop_map(ContactOwner::User)
        ];
        prop_oneof![
            Just(Target::Me),
            arb_id().prop_map(Target::User),
            arb_id().prop_map(Target::Group),
            (owner, proptest::option::of(arb_id()), arb_id())
                .prop_map(|(owner, folder, id)| Target::Contact { owner, folder, id }),
        ]
    }

    proptest! {
        #[test]
        fn target_paths_round_trip(target in arb_target(), beta in any::<bool>(), value in any::<bool>()) {
            let version = if beta { ApiVersion::Beta } else { ApiVersion::V1 };
            let resource = if value { Resource::PhotoValue } else { Resource::Photo };
            let r = Route { version, target, resource };
            prop_assert_eq!(Route::parse_path(&r.path()).unwrap(), r);
        }

        #[test]
        fn parsing_never_panics(path in "\\PC{0,80}") {
            let _ = Route::parse_path(&path);
        }
    }
}
