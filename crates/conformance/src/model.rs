//! The reference model: the spec's rules written out plainly, independent of photo-core.
//!
//! State is one optional photo per directory object (user, group, contact) of the fixture,
//! plus every ETag seen so far (spec C8: an ETag names one content). Given what a request
//! names and who sends it, [`Model::expect`] says what the answer must be, following the order
//! of checks of spec D7.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::fixture::{AccountKind, Claims, Fixture, UserEntry, CONSUMER_TENANT};
use crate::fixture::{GLOBAL_ADMINISTRATOR, PEOPLE_ADMINISTRATOR, USER_ADMINISTRATOR};
use crate::images::{Format, Verdict};
use crate::steps::{Version, SIZES};

// Spec D4 and D5, written out again (names compare case-insensitively, D2).
const READ_ME: &[&str] = &[
    "User.Read",
    "User.ReadWrite",
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "ProfilePhoto.Read.All",
    "ProfilePhoto.ReadWrite.All",
];
const READ_OTHER_USER_DELEGATED: &[&str] = &[
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "ProfilePhoto.Read.All",
    "ProfilePhoto.ReadWrite.All",
];
const READ_OTHER_USER_APP: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "ProfilePhoto.Read.All",
    "ProfilePhoto.ReadWrite.All",
];
const READ_GROUP: &[&str] = &[
    "Group.Read.All",
    "Group.ReadWrite.All",
    "ProfilePhoto.Read.All",
    "ProfilePhoto.ReadWrite.All",
];
const READ_CONTACT: &[&str] = &["Contacts.Read", "Contacts.ReadWrite"];
const WRITE_ME: &[&str] = &[
    "User.ReadWrite",
    "User.ReadWrite.All",
    "ProfilePhoto.ReadWrite.All",
];
const WRITE_OTHER_USER: &[&str] = &["User.ReadWrite.All", "ProfilePhoto.ReadWrite.All"];
const WRITE_GROUP: &[&str] = &["Group.ReadWrite.All", "ProfilePhoto.ReadWrite.All"];
const WRITE_CONTACT: &[&str] = &["Contacts.ReadWrite"];
const PHOTO_ADMIN_ROLES: &[&str] = &[
    GLOBAL_ADMINISTRATOR,
    USER_ADMINISTRATOR,
    PEOPLE_ADMINISTRATOR,
];

pub(crate) const ACCESS_DENIED: &str = "Access is denied. Check credentials and try again.";
pub(crate) const PHOTO_NOT_FOUND: &str = "The photo wasn't found.";
pub(crate) const ITEM_NOT_FOUND: &str = "The specified object was not found in the store.";
pub(crate) const ME_NEEDS_DELEGATED: &str =
    "/me request is only valid with delegated authentication flow.";

/// A directory object that can have a photo: an index into the fixture's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ObjKey {
    User(usize),
    Group(usize),
    Contact(usize),
}

/// What a request path names, decoded, as sent (ids in the case they were sent in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sent {
    Me,
    User(String),
    Group(String),
    Contact {
        owner: SentOwner,
        folder: Option<String>,
        id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SentOwner {
    Me,
    User(String),
}

impl Sent {
    pub(crate) fn is_contact(&self) -> bool {
        matches!(self, Sent::Contact { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

/// The kind of target for this caller (D7 step 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Me,
    OtherUser,
    Group,
    ContactOfMe,
    ContactOfOtherUser,
}

/// The stored photo, as the model knows it.
#[derive(Debug, Clone)]
pub(crate) struct Photo {
    pub(crate) bytes: Vec<u8>,
    pub(crate) hash: u64,
    pub(crate) mime: Option<&'static str>,
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Whether the original has a see-through pixel (renditions are PNG then, else JPEG).
    pub(crate) transparent: Option<bool>,
    /// The ETag the endpoint gave this content (on upload, or when first read).
    pub(crate) etag: String,
    /// ETags of sizes seen for this content.
    pub(crate) size_etags: BTreeMap<u32, String>,
}

impl Photo {
    /// The sizes that must be listed (spec C5): those not larger than the shorter side.
    pub(crate) fn sizes(&self) -> Vec<u32> {
        let min = self.width.min(self.height);
        SIZES.iter().copied().filter(|s| *s <= min).collect()
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "{} {}x{} ({} bytes), ETag {}",
            self.mime.unwrap_or("image"),
            self.width,
            self.height,
            self.bytes.len(),
            self.etag
        )
    }
}

pub(crate) fn content_hash(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

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

/// Steps 4 and 5 of D7: what the caller may do to this kind of target, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Gate {
    Refused(Expect),
    Found {
        key: ObjKey,
        kind: Kind,
        account: AccountKind,
    },
}

/// Every ETag seen, per object and per size, with the content it was given for (C8).
#[derive(Debug, Default, Clone)]
pub(crate) struct EtagBook {
    originals: HashMap<ObjKey, BTreeMap<String, u64>>,
    sizes: HashMap<(ObjKey, u32), BTreeMap<String, u64>>,
}

impl EtagBook {
    /// Records that `etag` was given to content `hash`; an error when it named other bytes.
    pub(crate) fn original(&mut self, key: ObjKey, etag: &str, hash: u64) -> Result<(), String> {
        record(
            self.originals.entry(key).or_default(),
            etag,
            hash,
            "the photo",
        )
    }

    pub(crate) fn size(
        &mut self,
        key: ObjKey,
        side: u32,
        etag: &str,
        hash: u64,
    ) -> Result<(), String> {
        record(
            self.sizes.entry((key, side)).or_default(),
            etag,
            hash,
            "this size",
        )
    }

    /// An ETag seen for this object but for other bytes than `current`.
    pub(crate) fn stale_original(&self, key: ObjKey, current: Option<u64>) -> Option<String> {
        stale(self.originals.get(&key), current)
    }

    pub(crate) fn stale_size(
        &self,
        key: ObjKey,
        side: u32,
        current: Option<u64>,
    ) -> Option<String> {
        stale(self.sizes.get(&(key, side)), current)
    }

    pub(crate) fn last_original(&self, key: ObjKey) -> Option<String> {
        self.originals
            .get(&key)
            .and_then(|m| m.keys().next().cloned())
    }
}

fn record(
    map: &mut BTreeMap<String, u64>,
    etag: &str,
    hash: u64,
    what: &str,
) -> Result<(), String> {
    match map.get(etag) {
        Some(h) if *h != hash => Err(format!(
            "ETag {etag} was already given to other bytes of {what}: an ETag must change whenever the bytes do"
        )),
        _ => {
            map.insert(etag.to_owned(), hash);
            Ok(())
        }
    }
}

fn stale(map: Option<&BTreeMap<String, u64>>, current: Option<u64>) -> Option<String> {
    map?.iter()
        .find(|(_, h)| Some(**h) != current)
        .map(|(e, _)| e.clone())
}

fn has_any(granted: &[String], wanted: &[&str]) -> bool {
    granted
        .iter()
        .any(|g| wanted.iter().any(|w| w.eq_ignore_ascii_case(g)))
}

/// The model of one sequence: the fixture's directory and the photos.
pub(crate) struct Model<'f> {
    pub(crate) fixture: &'f Fixture,
    pub(crate) photos: HashMap<ObjKey, Option<Photo>>,
    pub(crate) etags: EtagBook,
}

impl<'f> Model<'f> {
    pub(crate) fn new(fixture: &'f Fixture) -> Self {
        Model {
            fixture,
            photos: HashMap::new(),
            etags: EtagBook::default(),
        }
    }

    /// Every object that can have a photo.
    pub(crate) fn objects(&self) -> Vec<ObjKey> {
        let fx = self.fixture;
        (0..fx.users.len())
            .map(ObjKey::User)
            .chain((0..fx.groups.len()).map(ObjKey::Group))
            .chain((0..fx.contacts.len()).map(ObjKey::Contact))
            .collect()
    }

    pub(crate) fn photo(&self, key: ObjKey) -> Option<&Photo> {
        self.photos.get(&key).and_then(Option::as_ref)
    }

    /// `users('<id>')`, `groups('<id>')` or `users('<uid>')/contacts('<cid>')` (spec C2).
    pub(crate) fn odata_entity(&self, key: ObjKey) -> String {
        let lit = |s: &str| s.replace('\'', "''");
        let fx = self.fixture;
        match key {
            ObjKey::User(i) => format!("users('{}')", lit(&fx.users[i].id)),
            ObjKey::Group(i) => format!("groups('{}')", lit(&fx.groups[i].id)),
            ObjKey::Contact(i) => {
                let c = &fx.contacts[i];
                let owner = self
                    .user_by_id(&c.owner)
                    .map_or(c.owner.as_str(), |u| &u.id);
                format!("users('{}')/contacts('{}')", lit(owner), lit(&c.id))
            }
        }
    }

    pub(crate) fn describe(&self, key: ObjKey) -> String {
        let fx = self.fixture;
        match key {
            ObjKey::User(i) => format!("user {}", fx.users[i].upn),
            ObjKey::Group(i) => format!("group {}", fx.groups[i].id),
            ObjKey::Contact(i) => {
                let c = &fx.contacts[i];
                let owner = self
                    .user_by_id(&c.owner)
                    .map_or(c.owner.as_str(), |u| &u.upn);
                format!("contact {} of {owner}", c.id)
            }
        }
    }

    fn user_by_id(&self, id: &str) -> Option<&'f UserEntry> {
        self.fixture
            .users
            .iter()
            .find(|u| u.id.eq_ignore_ascii_case(id))
    }

    /// A user of `tenant` named by id (any case) or UPN (any case), with its index.
    fn user_in(&self, tenant: &str, name: &str) -> Option<(usize, &'f UserEntry)> {
        self.fixture.users.iter().enumerate().find(|(_, u)| {
            u.tenant.eq_ignore_ascii_case(tenant)
                && (u.id.eq_ignore_ascii_case(name) || u.upn.eq_ignore_ascii_case(name))
        })
    }

    /// Whether `name` is an id of an object of another tenant than `tenant` (spec D3).
    fn elsewhere(&self, tenant: &str, name: &str) -> bool {
        let fx = self.fixture;
        fx.users.iter().any(|u| {
            !u.tenant.eq_ignore_ascii_case(tenant)
                && (u.id.eq_ignore_ascii_case(name) || u.upn.eq_ignore_ascii_case(name))
        }) || fx
            .groups
            .iter()
            .any(|g| !g.tenant.eq_ignore_ascii_case(tenant) && g.id.eq_ignore_ascii_case(name))
    }

    /// Whether `name` (an id or UPN in a path) is the signed-in user.
    fn is_caller(&self, caller: &Claims, name: &str) -> bool {
        let Some(oid) = caller.user_id.as_deref().filter(|_| caller.is_delegated()) else {
            return false;
        };
        oid.eq_ignore_ascii_case(name)
            || self
                .user_in(&caller.tenant, name)
                .is_some_and(|(_, u)| u.id.eq_ignore_ascii_case(oid))
    }

    fn kind(&self, caller: &Claims, sent: &Sent) -> Kind {
        match sent {
            Sent::Me => Kind::Me,
            Sent::User(name) if self.is_caller(caller, name) => Kind::Me,
            Sent::User(_) => Kind::OtherUser,
            Sent::Group(_) => Kind::Group,
            Sent::Contact {
                owner: SentOwner::Me,
                ..
            } => Kind::ContactOfMe,
            Sent::Contact {
                owner: SentOwner::User(name),
                ..
            } if self.is_caller(caller, name) => Kind::ContactOfMe,
            Sent::Contact { .. } => Kind::ContactOfOtherUser,
        }
    }

    /// Spec D4/D5: whether the caller may, and which permissions would have allowed it.
    fn allowed(caller: &Claims, kind: Kind, access: Access) -> (bool, &'static str) {
        let granted = caller.permissions();
        let delegated = caller.is_delegated();
        let admin = caller
            .directory_roles
            .iter()
            .any(|r| PHOTO_ADMIN_ROLES.iter().any(|a| a.eq_ignore_ascii_case(r)));
        let (wanted, rule): (&[&str], _) = match (access, kind, delegated) {
            (Access::Read, Kind::Me, _) => (READ_ME, "D5"),
            (Access::Read, Kind::OtherUser, true) => (READ_OTHER_USER_DELEGATED, "D5"),
            (Access::Read, Kind::OtherUser, false) => (READ_OTHER_USER_APP, "D5"),
            (Access::Read, Kind::Group, _) => (READ_GROUP, "D5"),
            (Access::Read, Kind::ContactOfMe, _) => (READ_CONTACT, "D5"),
            (Access::Read, Kind::ContactOfOtherUser, true) => (&[], "D5"),
            (Access::Read, Kind::ContactOfOtherUser, false) => (READ_CONTACT, "D5"),
            (Access::Write, Kind::Me, _) => (WRITE_ME, "D4"),
            (Access::Write, Kind::OtherUser, true) => {
                if !admin {
                    return (false, "D4");
                }
                (WRITE_OTHER_USER, "D4")
            }
            (Access::Write, Kind::OtherUser, false) => (WRITE_OTHER_USER, "D4"),
            (Access::Write, Kind::Group, _) => (WRITE_GROUP, "D4"),
            (Access::Write, Kind::ContactOfMe, _) => (WRITE_CONTACT, "D4"),
            (Access::Write, Kind::ContactOfOtherUser, true) => (&[], "D4"),
            (Access::Write, Kind::ContactOfOtherUser, false) => (WRITE_CONTACT, "D4"),
        };
        (has_any(granted, wanted), rule)
    }

    /// D7 steps 4 (authorize the kind of target) and 5 (resolve it in the caller's tenant).
    pub(crate) fn gate(&self, caller: &Claims, sent: &Sent, access: Access) -> Gate {
        let kind = self.kind(caller, sent);
        let table = if access == Access::Read { "D5" } else { "D4" };
        let names_me = matches!(
            sent,
            Sent::Me
                | Sent::Contact {
                    owner: SentOwner::Me,
                    ..
                }
        );
        if names_me && !caller.is_delegated() {
            return Gate::Refused(Expect::error(
                400,
                table,
                "BadRequest",
                Msg::Exact(ME_NEEDS_DELEGATED.to_owned()),
                "an application token on a /me path",
            ));
        }
        let (ok, rule) = Self::allowed(caller, kind, access);
        if !ok {
            return Gate::Refused(Expect::error(
                403,
                rule,
                "ErrorAccessDenied",
                Msg::Prefix(ACCESS_DENIED),
                format!(
                    "{kind:?} target, {} access, and the token ({}) grants no permission of the table",
                    if access == Access::Read { "read" } else { "write" },
                    caller.summary()
                ),
            ));
        }

        let tenant = caller.tenant.as_str();
        let not_found_user = |name: &str| {
            let rule = if self.elsewhere(tenant, name) {
                "D3"
            } else {
                "D7"
            };
            Gate::Refused(Expect::error(
                404,
                rule,
                "Request_ResourceNotFound",
                Msg::Exact(format!(
                    "Resource '{name}' does not exist or one of its queried reference-property objects are not present."
                )),
                if rule == "D3" {
                    format!("'{name}' belongs to another tenant than the caller's ({tenant})")
                } else {
                    format!("'{name}' names nothing in the caller's tenant")
                },
            ))
        };
        let item_not_found = |why: String| {
            Gate::Refused(Expect::error(
                404,
                "D7",
                "ErrorItemNotFound",
                Msg::Exact(ITEM_NOT_FOUND.to_owned()),
                why,
            ))
        };
        let me = || {
            caller
                .user_id
                .as_deref()
                .and_then(|oid| self.user_in(tenant, oid))
        };
        match sent {
            Sent::Me | Sent::User(_) => {
                let found = match sent {
                    Sent::User(name) => self.user_in(tenant, name),
                    _ => me(),
                };
                match found {
                    Some((i, u)) => Gate::Found {
                        key: ObjKey::User(i),
                        kind,
                        account: u.account_kind,
                    },
                    None => not_found_user(match sent {
                        Sent::User(name) => name,
                        _ => "me",
                    }),
                }
            }
            Sent::Group(id) => {
                let found = self.fixture.groups.iter().position(|g| {
                    g.tenant.eq_ignore_ascii_case(tenant) && g.id.eq_ignore_ascii_case(id)
                });
                match found {
                    Some(i) => Gate::Found {
                        key: ObjKey::Group(i),
                        kind,
                        account: AccountKind::WorkOrSchool,
                    },
                    None => not_found_user(id),
                }
            }
            Sent::Contact { owner, folder, id } => {
                let owner = match owner {
                    SentOwner::Me => me(),
                    SentOwner::User(name) => match self.user_in(tenant, name) {
                        Some(found) => Some(found),
                        None => return not_found_user(name),
                    },
                };
                let Some((_, owner)) = owner else {
                    return not_found_user("me");
                };
                if let Some(folder) = folder {
                    let exists = self
                        .fixture
                        .contact_folders
                        .iter()
                        .any(|f| f.id == *folder && f.owner.eq_ignore_ascii_case(&owner.id));
                    if !exists {
                        return item_not_found(format!(
                            "{} has no contact folder '{folder}'",
                            owner.upn
                        ));
                    }
                }
                let found = self.fixture.contacts.iter().position(|c| {
                    c.id == *id
                        && c.owner.eq_ignore_ascii_case(&owner.id)
                        && (folder.is_none() || c.folder == *folder)
                });
                match found {
                    Some(i) => Gate::Found {
                        key: ObjKey::Contact(i),
                        kind,
                        account: owner.account_kind,
                    },
                    None => item_not_found(format!(
                        "{} has no contact '{id}'{}",
                        owner.upn,
                        folder
                            .as_ref()
                            .map(|f| format!(" in folder '{f}'"))
                            .unwrap_or_default()
                    )),
                }
            }
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{dev_tenant as dev, PrincipalEntry, TokenClaims};

    fn fixture() -> Fixture {
        Fixture::for_dev_server(|_: &TokenClaims| Ok::<_, String>(String::new())).unwrap()
    }

    fn delegated(oid: &str, tenant: &str, scopes: &[&str], wids: &[&str]) -> Claims {
        Claims {
            tenant: tenant.into(),
            user_id: Some(oid.into()),
            scopes: Some(scopes.iter().map(|s| (*s).to_owned()).collect()),
            roles: vec![],
            directory_roles: wids.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn app(tenant: &str, roles: &[&str]) -> Claims {
        Claims {
            tenant: tenant.into(),
            user_id: None,
            scopes: None,
            roles: roles.iter().map(|s| (*s).to_owned()).collect(),
            directory_roles: vec![],
        }
    }

    fn status(gate: Gate) -> u16 {
        match gate {
            Gate::Refused(e) => e.status,
            Gate::Found { .. } => 200,
        }
    }

    #[test]
    fn d4_tables() {
        let fx = fixture();
        let m = Model::new(&fx);
        let adele = delegated(dev::ADELE_ID, dev::CONTOSO_TENANT, &["User.ReadWrite"], &[]);
        let alex_upn = Sent::User(dev::ALEX_UPN.to_lowercase());
        assert_eq!(status(m.gate(&adele, &Sent::Me, Access::Write)), 200);
        // Own UPN in any case counts as me.
        let own = Sent::User(dev::ADELE_UPN.to_uppercase());
        assert_eq!(status(m.gate(&adele, &own, Access::Write)), 200);
        assert_eq!(status(m.gate(&adele, &alex_upn, Access::Write)), 403);
        let all = delegated(
            dev::ADELE_ID,
            dev::CONTOSO_TENANT,
            &["user.readwrite.all"],
            &[],
        );
        assert_eq!(status(m.gate(&all, &alex_upn, Access::Write)), 403);
        let admin = delegated(
            dev::ADELE_ID,
            dev::CONTOSO_TENANT,
            &["User.ReadWrite.All"],
            &[PEOPLE_ADMINISTRATOR],
        );
        assert_eq!(status(m.gate(&admin, &alex_upn, Access::Write)), 200);
        // Unknown user: 403 before 404 without rights, 404 with.
        let nobody = Sent::User("nobody@x".into());
        assert_eq!(status(m.gate(&adele, &nobody, Access::Write)), 403);
        assert_eq!(status(m.gate(&admin, &nobody, Access::Write)), 404);
        let a = app(dev::CONTOSO_TENANT, &["ProfilePhoto.ReadWrite.All"]);
        assert_eq!(status(m.gate(&a, &Sent::Me, Access::Read)), 400);
        assert_eq!(status(m.gate(&a, &alex_upn, Access::Write)), 200);
        // Another tenant's user: 404 with rule D3.
        let allan = Sent::User(dev::ALLAN_ID.into());
        match m.gate(&a, &allan, Access::Write) {
            Gate::Refused(e) => assert_eq!((e.status, e.rule), (404, "D3")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn contacts_resolve_by_owner_and_folder() {
        let fx = fixture();
        let m = Model::new(&fx);
        let adele = delegated(dev::ADELE_ID, dev::CONTOSO_TENANT, &["Contacts.Read"], &[]);
        let contact = |owner: SentOwner, folder: Option<&str>, id: &str| Sent::Contact {
            owner,
            folder: folder.map(str::to_owned),
            id: id.to_owned(),
        };
        let in_folder = contact(SentOwner::Me, None, dev::ADELE_FOLDER_CONTACT_ID);
        assert_eq!(status(m.gate(&adele, &in_folder, Access::Read)), 200);
        let via_folder = contact(
            SentOwner::Me,
            Some(dev::ADELE_FRIENDS_FOLDER_ID),
            dev::ADELE_CONTACT_ID,
        );
        assert_eq!(status(m.gate(&adele, &via_folder, Access::Read)), 404);
        let megans = contact(
            SentOwner::User(dev::MEGAN_ID.into()),
            None,
            dev::MEGAN_CONTACT_ID,
        );
        assert_eq!(status(m.gate(&adele, &megans, Access::Read)), 403);
        let a = app(dev::CONTOSO_TENANT, &["Contacts.Read"]);
        assert_eq!(status(m.gate(&a, &megans, Access::Read)), 200);
        assert_eq!(status(m.gate(&a, &megans, Access::Write)), 403);
        let _ = PrincipalEntry {
            name: String::new(),
            token: String::new(),
        };
    }

    #[test]
    fn weak_comparison() {
        assert!(weak_match("W/\"a\"", "\"a\""));
        assert!(weak_match("\"b\", \"a\"", "\"a\""));
        assert!(weak_match("*", "\"a\""));
        assert!(!weak_match("\"b\"", "\"a\""));
    }

    #[test]
    fn etag_book_spots_a_reused_etag() {
        let mut book = EtagBook::default();
        let k = ObjKey::User(0);
        book.original(k, "\"1\"", 1).unwrap();
        book.original(k, "\"1\"", 1).unwrap();
        assert!(book.original(k, "\"1\"", 2).is_err());
        assert_eq!(book.stale_original(k, Some(1)), None);
        book.original(k, "\"2\"", 2).unwrap();
        assert_eq!(book.stale_original(k, Some(2)).as_deref(), Some("\"1\""));
    }
}
