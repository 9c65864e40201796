//! The paths the suite sends: ids encoded one way or another, segment names in varied case,
//! and the routes that must not exist.

use super::*;

/// No cosmetic variation.
pub(super) const PLAIN: Style = Style {
    bits: 0,
    client_request_id: false,
};

/// A segment name, capitalised when the style says so (A3: names are case-insensitive).
pub(super) fn seg(name: &str, style: Style) -> String {
    if style.bits & 2 == 0 {
        return name.to_owned();
    }
    let mut c = name.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `{prefix}/$value`, with `$` encoded when the style says so (A3).
pub(super) fn value_path(prefix: &str, style: Style) -> String {
    let prefix = if prefix == "photo" {
        seg("photo", style)
    } else {
        prefix.to_owned()
    };
    if style.bits & 1 == 0 {
        format!("{prefix}/$value")
    } else {
        format!("{prefix}/%24value")
    }
}

pub(super) fn enc(id: &str, style: Style) -> String {
    let set = if style.bits & 4 == 0 {
        ID_ENCODE
    } else {
        ID_ENCODE_RAW_AT
    };
    utf8_percent_encode(id, set).to_string()
}

/// The path of a target below the version segment.
pub(super) fn target_path(sent: &Sent, style: Style) -> String {
    let owner = |o: &SentOwner| match o {
        SentOwner::Me => seg("me", style),
        SentOwner::User(u) => format!("{}/{}", seg("users", style), enc(u, style)),
    };
    match sent {
        Sent::Me => seg("me", style),
        Sent::User(u) => format!("{}/{}", seg("users", style), enc(u, style)),
        Sent::Group(g) => format!("{}/{}", seg("groups", style), enc(g, style)),
        Sent::Contact {
            owner: o,
            folder: None,
            id,
        } => format!("{}/{}/{}", owner(o), seg("contacts", style), enc(id, style)),
        Sent::Contact {
            owner: o,
            folder: Some(f),
            id,
        } => format!(
            "{}/{}/{}/{}/{}",
            owner(o),
            if style.bits & 2 == 0 {
                "contactFolders".to_owned()
            } else {
                "contactfolders".to_owned()
            },
            enc(f, style),
            seg("contacts", style),
            enc(id, style)
        ),
    }
}

/// A request that is not a route, and its answer (A6: decided before authentication).
pub(super) fn bad_route(route: BadRoute) -> (&'static str, String, Expect, Option<Vec<u8>>) {
    let unknown = |seg: &str| {
        Expect::error(
            400,
            "A6",
            "BadRequest",
            Msg::Exact(format!("Resource not found for the segment '{seg}'.")),
            format!("'{seg}' is not a segment of any route"),
        )
    };
    let method_not_allowed = |method: &'static str| {
        let mut e = Expect::error(
            405,
            "A6",
            "MethodNotAllowed",
            Msg::Any,
            format!("{method} is not allowed on this path"),
        );
        e.not_allowed = Some(method);
        e
    };
    let text = Some(b"not a photo".to_vec());
    match route {
        BadRoute::UnknownVersion => ("GET", "/v2.0/me/photo".into(), unknown("v2.0"), None),
        BadRoute::NoPhotoSegment => ("GET", "/v1.0/me".into(), unknown("me"), None),
        BadRoute::TrailingSegment => (
            "GET",
            "/v1.0/me/photo/$value/extra".into(),
            unknown("extra"),
            None,
        ),
        BadRoute::UnknownCollection => (
            "GET",
            "/v1.0/me/mailFolders/inbox/photo".into(),
            unknown("mailFolders"),
            None,
        ),
        BadRoute::PostValue => (
            "POST",
            "/v1.0/me/photo/$value".into(),
            method_not_allowed("POST"),
            text,
        ),
        BadRoute::PutMetadata => (
            "PUT",
            "/v1.0/me/photo".into(),
            method_not_allowed("PUT"),
            text,
        ),
    }
}
