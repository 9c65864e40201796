//! The model's state: the fixture's objects, the photo each has, and every ETag seen (C8).

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::fixture::{Fixture, UserEntry};
use crate::steps::SIZES;

/// A directory object that can have a photo: an index into the fixture's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ObjKey {
    User(usize),
    Group(usize),
    Contact(usize),
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
    pub(super) fn user_in(&self, tenant: &str, name: &str) -> Option<(usize, &'f UserEntry)> {
        self.fixture.users.iter().enumerate().find(|(_, u)| {
            u.tenant.eq_ignore_ascii_case(tenant)
                && (u.id.eq_ignore_ascii_case(name) || u.upn.eq_ignore_ascii_case(name))
        })
    }

    /// Whether `name` is an id of an object of another tenant than `tenant` (spec D3).
    pub(super) fn elsewhere(&self, tenant: &str, name: &str) -> bool {
        let fx = self.fixture;
        fx.users.iter().any(|u| {
            !u.tenant.eq_ignore_ascii_case(tenant)
                && (u.id.eq_ignore_ascii_case(name) || u.upn.eq_ignore_ascii_case(name))
        }) || fx
            .groups
            .iter()
            .any(|g| !g.tenant.eq_ignore_ascii_case(tenant) && g.id.eq_ignore_ascii_case(name))
    }
}
