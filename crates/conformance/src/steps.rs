//! The symbolic steps of a generated sequence and their proptest strategies.
//!
//! A step names fixture objects by index and conditions symbolically (`If-Match: current`),
//! so it does not depend on what earlier steps did: the executor resolves it against the
//! model's state when it runs. Sequences are plain `Vec<Step>`, which proptest shrinks by
//! dropping steps and simplifying each one.

use proptest::prelude::*;

use crate::images::{Body, Format, ValidImage};
use crate::tokens::TokenVariant;

/// An index into a list of the fixture, taken modulo the list's length (shrinks to 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Index(pub(crate) u16);

impl Index {
    /// The index in a list of `len` items; `len` must not be 0.
    pub(crate) fn index(self, len: usize) -> usize {
        usize::from(self.0) % len.max(1)
    }
}

impl Arbitrary for Index {
    type Parameters = ();
    type Strategy = prop::strategy::Map<std::ops::Range<u16>, fn(u16) -> Index>;

    fn arbitrary_with((): ()) -> Self::Strategy {
        (0..u16::MAX).prop_map(Index)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    Beta,
}

impl Version {
    pub(crate) fn segment(self) -> &'static str {
        match self {
            Version::V1 => "v1.0",
            Version::Beta => "beta",
        }
    }
}

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    /// The sequence's focus principal ([`Sequence::focus_who`]).
    Focus,
    /// A principal of the fixture, by index.
    Principal(usize),
    /// No `Authorization` header.
    Anonymous,
    /// `Authorization: Bearer not-a-jwt`.
    Garbage,
    /// A valid token the suite minted with the fixture's signing key, with the claims of the
    /// principal of this index: answered as that principal's own token.
    Minted(usize),
    /// The principal of this index's claims, minted by the suite and made invalid in one way
    /// (only with a signing key). For a variant that needs a delegated principal, the index
    /// counts among the delegated principals.
    Forged(usize, TokenVariant),
    /// A token of the fixture's `invalidTokens`.
    Listed(Index),
}

/// How a user is named in a path (spec A3: UPNs case-insensitive, ids GUIDs of any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserRef {
    Id,
    IdUpper,
    Upn,
    UpnLower,
    UpnUpper,
}

/// Whose photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TargetPick {
    /// The sequence's focus target ([`Sequence::focus_target`]).
    Focus,
    Me,
    User(Index, UserRef),
    Group(Index),
    /// An id of the fixture's `missingIds`, as a user or a group.
    MissingUser(Index),
    MissingGroup(Index),
    Contact {
        owner: OwnerPick,
        contact: ContactPick,
        folder: FolderPick,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OwnerPick {
    /// `/me/contacts/...`
    Me,
    /// `/users/{the contact's owner}/contacts/...`
    ContactOwner(UserRef),
    /// `/users/{any user}/contacts/...`
    User(Index, UserRef),
    /// `/users/{missing id}/contacts/...`
    Missing(Index),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ContactPick {
    Contact(Index),
    Missing(Index),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FolderPick {
    /// `/contacts/{id}`
    None,
    /// `/contactFolders/{the contact's folder, if it has one}/contacts/{id}`
    Own,
    /// Any folder of the fixture.
    Any(Index),
    Missing(Index),
}

/// A size id in a path: one of the nine (as `48x48` or `48X48`), or one that is never
/// available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SizePick {
    Standard { index: usize, upper: bool },
    NotASize,
    NotSquare,
}

pub(crate) const SIZES: [u32; 9] = [48, 64, 96, 120, 240, 360, 432, 504, 648];

impl SizePick {
    pub(crate) fn id(self) -> String {
        match self {
            SizePick::Standard { index, upper } => {
                let side = SIZES.get(index).copied().unwrap_or(48);
                format!("{side}{}{side}", if upper { "X" } else { "x" })
            }
            SizePick::NotASize => "50x50".to_owned(),
            SizePick::NotSquare => "48x64".to_owned(),
        }
    }

    /// The side it names, when it is one of the nine.
    pub(crate) fn side(self) -> Option<u32> {
        match self {
            SizePick::Standard { index, .. } => SIZES.get(index).copied(),
            _ => None,
        }
    }
}

/// What a GET reads (spec A4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadWhat {
    Photo,
    PhotoValue,
    Photos,
    Size(SizePick),
    SizeValue(SizePick),
}

/// An `If-Match` / `If-None-Match` value, resolved against the model when the step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cond {
    /// The ETag the model knows for the current photo (or size).
    Current,
    /// The same, as a weak tag `W/"..."`.
    CurrentWeak,
    /// An ETag seen earlier for other bytes, else a made-up one.
    Stale,
    /// `*`
    Star,
}

/// Paths that are not routes, or routes with a wrong method (spec A6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadRoute {
    /// `GET /v2.0/me/photo`
    UnknownVersion,
    /// `GET /v1.0/me`
    NoPhotoSegment,
    /// `GET /v1.0/me/photo/$value/extra`
    TrailingSegment,
    /// `GET /v1.0/me/mailFolders/inbox/photo`
    UnknownCollection,
    /// `POST /v1.0/me/photo/$value`
    PostValue,
    /// `PUT /v1.0/me/photo` (no `$value`)
    PutMetadata,
}

/// Cosmetic variations of a request (spec A3, C6): bit 0 `$value` as `%24value`, bit 1
/// capitalised segment names, bit 2 `@` raw in ids; `client_request_id` sends one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Style {
    pub(crate) bits: u8,
    pub(crate) client_request_id: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Put {
        version: Version,
        patch: bool,
        who: Who,
        target: TargetPick,
        body: Body,
        if_match: Option<Cond>,
        style: Style,
    },
    Get {
        version: Version,
        head: bool,
        who: Who,
        target: TargetPick,
        what: ReadWhat,
        if_none_match: Option<Cond>,
        style: Style,
    },
    Delete {
        version: Version,
        who: Who,
        target: TargetPick,
        value: bool,
        if_match: Option<Cond>,
        style: Style,
    },
    BadRoute {
        who: Who,
        route: BadRoute,
        style: Style,
    },
}

/// How many principals the fixture has, how many of them are preferred, and which token
/// classes it allows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub(crate) principals: usize,
    pub(crate) preferred: usize,
    /// The fixture has a signing key: the suite mints valid and invalid tokens.
    pub(crate) forge: bool,
    /// Some principal is delegated (for the variants that need one).
    pub(crate) delegated: bool,
    /// The fixture lists invalid tokens.
    pub(crate) listed: bool,
}

/// The token variants a fixture of this shape can make.
pub(crate) fn variants(shape: Shape) -> Vec<TokenVariant> {
    if !shape.forge {
        return Vec::new();
    }
    TokenVariant::ALL
        .into_iter()
        .filter(|v| shape.delegated || !v.needs_delegated())
        .collect()
}

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::V1), Just(Version::Beta)]
}

/// A principal, the first three (the most privileged) and the preferred ones more often.
fn principal(shape: Shape) -> impl Strategy<Value = usize> {
    let n = shape.principals.max(1);
    let m = shape.preferred.clamp(1, n);
    prop_oneof![
        6 => 0..m.min(3),
        4 => 0..m,
        3 => 0..n,
    ]
}

fn who(shape: Shape) -> BoxedStrategy<Who> {
    let mut classes: Vec<(u32, BoxedStrategy<Who>)> = vec![
        (10, Just(Who::Focus).boxed()),
        (8, principal(shape).prop_map(Who::Principal).boxed()),
        (1, Just(Who::Anonymous).boxed()),
        (1, Just(Who::Garbage).boxed()),
    ];
    let variants = variants(shape);
    if !variants.is_empty() {
        classes.push((1, principal(shape).prop_map(Who::Minted).boxed()));
        classes.push((
            3,
            (principal(shape), prop::sample::select(variants))
                .prop_map(|(p, v)| Who::Forged(p, v))
                .boxed(),
        ));
    }
    if shape.listed {
        classes.push((1, any::<Index>().prop_map(Who::Listed).boxed()));
    }
    prop::strategy::Union::new_weighted(classes).boxed()
}

fn user_ref() -> impl Strategy<Value = UserRef> {
    prop_oneof![
        4 => Just(UserRef::Id),
        1 => Just(UserRef::IdUpper),
        3 => Just(UserRef::Upn),
        1 => Just(UserRef::UpnLower),
        1 => Just(UserRef::UpnUpper),
    ]
}

/// The focus of a sequence: an object that can have a photo, named as the caller may.
fn focus_target() -> impl Strategy<Value = TargetPick> {
    let first = Just(Index(0));
    prop_oneof![
        4 => Just(TargetPick::Me),
        2 => (prop_oneof![first, any::<Index>()], user_ref())
            .prop_map(|(i, r)| TargetPick::User(i, r)),
        2 => prop_oneof![first, any::<Index>()].prop_map(TargetPick::Group),
        2 => (
            prop_oneof![Just(OwnerPick::Me), user_ref().prop_map(OwnerPick::ContactOwner)],
            any::<Index>().prop_map(ContactPick::Contact),
            prop_oneof![Just(FolderPick::None), Just(FolderPick::Own)],
        )
            .prop_map(|(owner, contact, folder)| TargetPick::Contact {
                owner,
                contact,
                folder
            }),
    ]
}

fn target() -> impl Strategy<Value = TargetPick> {
    let owner = prop_oneof![
        5 => Just(OwnerPick::Me),
        4 => user_ref().prop_map(OwnerPick::ContactOwner),
        2 => (any::<Index>(), user_ref()).prop_map(|(i, r)| OwnerPick::User(i, r)),
        1 => any::<Index>().prop_map(OwnerPick::Missing),
    ];
    let contact = prop_oneof![
        8 => any::<Index>().prop_map(ContactPick::Contact),
        1 => any::<Index>().prop_map(ContactPick::Missing),
    ];
    let folder = prop_oneof![
        5 => Just(FolderPick::None),
        4 => Just(FolderPick::Own),
        1 => any::<Index>().prop_map(FolderPick::Any),
        1 => any::<Index>().prop_map(FolderPick::Missing),
    ];
    prop_oneof![
        40 => Just(TargetPick::Focus),
        10 => Just(TargetPick::Me),
        12 => (any::<Index>(), user_ref()).prop_map(|(i, r)| TargetPick::User(i, r)),
        7 => any::<Index>().prop_map(TargetPick::Group),
        1 => any::<Index>().prop_map(TargetPick::MissingUser),
        1 => any::<Index>().prop_map(TargetPick::MissingGroup),
        8 => (owner, contact, folder).prop_map(|(owner, contact, folder)| TargetPick::Contact {
            owner,
            contact,
            folder
        }),
    ]
}

fn valid_image() -> impl Strategy<Value = ValidImage> {
    let format = prop_oneof![
        4 => Just(Format::Png),
        4 => Just(Format::Jpeg),
        1 => Just(Format::Gif),
        1 => Just(Format::Bmp),
    ];
    // Mostly big enough for some sizes (a shorter side of 48 or more), never over 200 px.
    let side = prop_oneof![1 => 1u16..48, 4 => 48u16..=200];
    (format, side.clone(), side, any::<bool>(), any::<u8>()).prop_map(
        |(format, width, height, alpha, seed)| ValidImage {
            format,
            width,
            height,
            alpha,
            seed,
        },
    )
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        40 => valid_image().prop_map(Body::Valid),
        2 => (valid_image(), 0u16..1000).prop_map(|(image, keep_permille)| Body::Truncated {
            image,
            keep_permille
        }),
        2 => (valid_image(), 0u16..1000).prop_map(|(image, at_permille)| Body::CorruptPng {
            image,
            at_permille
        }),
        1 => any::<bool>().prop_map(|too_wide| Body::Bomb { too_wide }),
        1 => Just(Body::WebP),
        1 => Just(Body::Text),
        1 => Just(Body::Empty),
        // Rare: 4 MiB per request is slow in debug builds.
        1 => (0u8..4).prop_map(|n| if n == 0 { Body::Oversize } else { Body::Empty }),
    ]
}

fn cond() -> impl Strategy<Value = Cond> {
    prop_oneof![
        4 => Just(Cond::Current),
        1 => Just(Cond::CurrentWeak),
        2 => Just(Cond::Stale),
        1 => Just(Cond::Star),
    ]
}

fn size() -> impl Strategy<Value = SizePick> {
    prop_oneof![
        10 => (0..SIZES.len(), any::<bool>())
            .prop_map(|(index, upper)| SizePick::Standard { index, upper: upper && index % 2 == 0 }),
        1 => Just(SizePick::NotASize),
        1 => Just(SizePick::NotSquare),
    ]
}

fn read_what() -> impl Strategy<Value = ReadWhat> {
    prop_oneof![
        4 => Just(ReadWhat::Photo),
        4 => Just(ReadWhat::PhotoValue),
        4 => Just(ReadWhat::Photos),
        2 => size().prop_map(ReadWhat::Size),
        3 => size().prop_map(ReadWhat::SizeValue),
    ]
}

fn style() -> impl Strategy<Value = Style> {
    (
        prop_oneof![3 => Just(0u8), 1 => 0u8..8],
        prop::bool::weighted(0.3),
    )
        .prop_map(|(bits, client_request_id)| Style {
            bits,
            client_request_id,
        })
}

fn bad_route() -> impl Strategy<Value = BadRoute> {
    prop_oneof![
        Just(BadRoute::UnknownVersion),
        Just(BadRoute::NoPhotoSegment),
        Just(BadRoute::TrailingSegment),
        Just(BadRoute::UnknownCollection),
        Just(BadRoute::PostValue),
        Just(BadRoute::PutMetadata),
    ]
}

/// One step: mostly uploads and reads, some deletes, a few bad routes.
pub(crate) fn step(shape: Shape) -> impl Strategy<Value = Step> {
    let put = (
        version(),
        prop::bool::weighted(0.3),
        who(shape),
        target(),
        body(),
        prop::option::weighted(0.25, cond()),
        style(),
    )
        .prop_map(
            |(version, patch, who, target, body, if_match, style)| Step::Put {
                version,
                patch,
                who,
                target,
                body,
                if_match,
                style,
            },
        );
    let get = (
        version(),
        prop::bool::weighted(0.05),
        who(shape),
        target(),
        read_what(),
        prop::option::weighted(0.25, cond()),
        style(),
    )
        .prop_map(
            |(version, head, who, target, what, if_none_match, style)| Step::Get {
                version,
                head,
                who,
                target,
                what,
                if_none_match,
                style,
            },
        );
    let delete = (
        version(),
        who(shape),
        target(),
        any::<bool>(),
        prop::option::weighted(0.3, cond()),
        style(),
    )
        .prop_map(
            |(version, who, target, value, if_match, style)| Step::Delete {
                version,
                who,
                target,
                value,
                if_match,
                style,
            },
        );
    let bad = (who(shape), bad_route(), style()).prop_map(|(who, route, style)| Step::BadRoute {
        who,
        route,
        style,
    });
    prop_oneof![
        30 => put,
        45 => get,
        7 => delete,
        2 => bad,
    ]
}

/// One generated sequence. Most steps use its focus principal and target, so that uploads
/// are followed by reads, conditions and deletes of the same photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sequence {
    pub(crate) focus_who: usize,
    pub(crate) focus_target: TargetPick,
    pub(crate) steps: Vec<Step>,
}

/// A sequence of 1 to `max_steps` steps.
pub(crate) fn sequence(shape: Shape, max_steps: usize) -> impl Strategy<Value = Sequence> {
    (
        principal(shape),
        focus_target(),
        prop::collection::vec(step(shape), 1..=max_steps.max(1)),
    )
        .prop_map(|(focus_who, focus_target, steps)| Sequence {
            focus_who,
            focus_target,
            steps,
        })
}

/// Every invalid token class once, before the random sequences: a `GET` of the first user's
/// photo with each token variant (with a signing key) and each of the fixture's invalid
/// tokens, so that a run of any length tries them all. Each must be answered `401` whatever
/// the endpoint holds, so a failure needs no other request.
pub(crate) fn token_sweep(shape: Shape, listed: usize) -> Sequence {
    let get = |who| Step::Get {
        version: Version::V1,
        head: false,
        who,
        target: TargetPick::User(Index(0), UserRef::Id),
        what: ReadWhat::Photo,
        if_none_match: None,
        style: Style {
            bits: 0,
            client_request_id: false,
        },
    };
    let mut steps: Vec<Step> = variants(shape)
        .into_iter()
        .map(|v| get(Who::Forged(0, v)))
        .collect();
    if shape.listed {
        steps.extend((0..listed).map(|i| get(Who::Listed(Index(i as u16)))));
    }
    Sequence {
        focus_who: 0,
        focus_target: TargetPick::Me,
        steps,
    }
}
