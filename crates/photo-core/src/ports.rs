//! The ports: what the domain needs from the outside world, named for what the domain needs.
//!
//! Every port is object-safe, `Send + Sync`, and used as `Arc<dyn Port>`. Adapters map their
//! own failures into the port's error type; no adapter error type crosses a port.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::etag::{ETag, Precondition};
use crate::format::ImageFormat;
use crate::ids::{ObjectId, UserRef};
use crate::principal::TenantId;
use crate::renditions::{RenderError, RenditionSet};

/// The directory object that owns a photo.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PhotoOwner {
    /// A user, by object id.
    User(ObjectId),
    /// A group, by object id.
    Group(ObjectId),
    /// A contact, by its owner's object id and the contact's id.
    Contact {
        /// The owning user's object id.
        user: ObjectId,
        /// The contact's id.
        contact: ObjectId,
    },
}

impl PhotoOwner {
    /// The owner as a durable store keeps it in columns: (kind, owner id, contact id), with
    /// kind `user`, `group` or `contact` and an empty contact id unless a contact. Every store
    /// writes the same names, so a database or an export reads the same in any adapter.
    pub fn to_columns(&self) -> (&'static str, &str, &str) {
        match self {
            Self::User(id) => ("user", id.as_str(), ""),
            Self::Group(id) => ("group", id.as_str(), ""),
            Self::Contact { user, contact } => ("contact", user.as_str(), contact.as_str()),
        }
    }

    /// The inverse of [`to_columns`](Self::to_columns); `None` for an unknown kind.
    pub fn from_columns(kind: &str, owner_id: &str, contact_id: &str) -> Option<Self> {
        match kind {
            "user" => Some(Self::User(owner_id.into())),
            "group" => Some(Self::Group(owner_id.into())),
            "contact" => Some(Self::Contact {
                user: owner_id.into(),
                contact: contact_id.into(),
            }),
            _ => None,
        }
    }
}

/// Where a photo lives: the tenant and the owning object, by canonical ids. Two paths naming
/// the same object (`/me`, `/users/{id}`, `/users/{UPN}`) give the same key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhotoKey {
    /// The tenant the object belongs to.
    pub tenant: TenantId,
    /// The object that owns the photo.
    pub owner: PhotoOwner,
}

impl fmt::Display for PhotoKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.owner {
            PhotoOwner::User(id) => write!(f, "{}/users/{id}", self.tenant),
            PhotoOwner::Group(id) => write!(f, "{}/groups/{id}", self.tenant),
            PhotoOwner::Contact { user, contact } => {
                write!(f, "{}/users/{user}/contacts/{contact}", self.tenant)
            }
        }
    }
}

/// Work or school (Entra) account, or a personal Microsoft account (spec B6, E1).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub enum AccountKind {
    /// A work or school account (Entra ID).
    #[default]
    WorkOrSchool,
    /// A personal Microsoft account (spec B6).
    Personal,
}

/// What the service asks the directory for: an object named as the request named it, except
/// that `/me` never reaches the directory: the service has already replaced it with the
/// caller's object id (a [`UserRef`] made from an [`ObjectId`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DirectoryQuery {
    /// A user, by object id or userPrincipalName.
    User(UserRef),
    /// A group, by object id as the request gave it.
    Group(String),
    /// A contact of a user: in any of the user's folders when `folder` is `None`, else in
    /// that folder only (spec E1). Folder and contact ids as the request gave them.
    Contact {
        /// The user whose contact this is.
        owner: UserRef,
        /// The contact folder, when the path names one.
        folder: Option<String>,
        /// The contact's id.
        contact: String,
    },
}

/// An object found in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// Where the photo of this object is stored. Its ids are canonical (as the directory spells
    /// them): for a user or a contact, it names the owning user's object id.
    pub key: PhotoKey,
    /// The account kind of the user the photo belongs to (the owner, for a contact).
    pub account: AccountKind,
}

impl DirectoryEntry {
    /// The user this photo belongs to (a user's own id, a contact's owner); `None` for a group.
    /// With the caller's object id, it tells whether the target is "me" (spec D7 step 4).
    pub fn owning_user(&self) -> Option<&ObjectId> {
        match &self.key.owner {
            PhotoOwner::User(id) | PhotoOwner::Contact { user: id, .. } => Some(id),
            PhotoOwner::Group(_) => None,
        }
    }
}

/// Why the directory could not find what it was asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// No user with this id or UPN in the tenant (for a contact, its owner). Carries the
    /// reference as the query gave it.
    #[error("user '{0}' not found")]
    UserNotFound(UserRef),
    /// No group with this id in the tenant. Carries the id as the query gave it.
    #[error("group '{0}' not found")]
    GroupNotFound(String),
    /// The user exists but has no such contact folder.
    #[error("contact folder '{folder}' of user {owner} not found")]
    ContactFolderNotFound {
        /// The object id of the user the query named (who exists).
        owner: ObjectId,
        /// The folder id as the query gave it.
        folder: String,
    },
    /// The user exists but has no such contact (in that folder, when the query names one).
    #[error("contact '{contact}' of user {owner} not found")]
    ContactNotFound {
        /// The object id of the user the query named (who exists).
        owner: ObjectId,
        /// The contact id as the query gave it.
        contact: String,
    },
    /// The directory cannot answer now; the caller may retry.
    #[error("directory unavailable: {0}")]
    Unavailable(String),
}

impl DirectoryError {
    /// The user the query named, when they exist but the contact or folder does not: enough to
    /// tell a contact of the caller from one of another user without asking again.
    pub fn owning_user(&self) -> Option<&ObjectId> {
        match self {
            DirectoryError::ContactFolderNotFound { owner, .. }
            | DirectoryError::ContactNotFound { owner, .. } => Some(owner),
            _ => None,
        }
    }
}

/// Users, groups, contact folders and contacts, per tenant (spec E1).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Directory: Send + Sync {
    /// Finds the object `query` names in `tenant`: one call answers all the service needs to
    /// know about a request's target (who owns it, whether it exists, its account kind).
    ///
    /// MUST look only inside `tenant` (an object of another tenant is not found, spec D3).
    /// MUST compare user object ids, userPrincipalNames and group ids case-insensitively.
    /// MUST return the same entry for every query naming the same object, with the ids as the
    /// directory spells them; for a user or a contact, the key MUST name the owning user's
    /// object id.
    /// MUST return, when the object does not exist:
    /// - `UserNotFound` carrying the [`UserRef`] as the query gave it, when the user (for a
    ///   contact, its owner) does not exist;
    /// - `GroupNotFound` carrying the id as given, when the group does not exist;
    /// - `ContactFolderNotFound` when the folder the query names is not one of the user's;
    /// - `ContactNotFound` when the user has no such contact (in any folder when the query
    ///   names none, else in that folder);
    ///
    /// the last two carrying the id as given and the user's object id, as in an entry (the
    /// service decides 403 before 404 from it, spec D7). MUST return `Unavailable` only for
    /// failures that say nothing about the object.
    async fn lookup(
        &self,
        tenant: &TenantId,
        query: &DirectoryQuery,
    ) -> Result<DirectoryEntry, DirectoryError>;
}

/// An upload that passed validation (spec B3-B5): the only thing a [`PhotoStore`] is given to
/// store. Its fields are private so that nothing but validation (and, behind the `testkit`
/// feature, the port test kit) can make one: a store never sees unchecked bytes, and the format,
/// the displayed size and the ETag always belong to these bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedPhoto {
    bytes: Bytes,
    format: ImageFormat,
    width: u32,
    height: u32,
    etag: ETag,
}

impl ValidatedPhoto {
    /// Validates an uploaded body (spec B3-B5) and tags it: the whole of steps 8 of spec D7.
    #[cfg(feature = "codecs")]
    pub fn check(bytes: Bytes) -> Result<Self, crate::validation::InvalidImage> {
        let info = crate::validation::validate(&bytes)?;
        Ok(Self::trusted(bytes, info.format, info.width, info.height))
    }

    /// A photo whose bytes the test kit made up: store contracts do not depend on pixels.
    #[cfg(feature = "testkit")]
    pub fn for_testkit(bytes: Bytes, format: ImageFormat, width: u32, height: u32) -> Self {
        Self::trusted(bytes, format, width, height)
    }

    #[cfg(any(feature = "codecs", feature = "testkit"))]
    // The ETag is computed here, once, so that every store (and every replica over one
    // database) gives the same bytes the same tag (spec C8).
    fn trusted(bytes: Bytes, format: ImageFormat, width: u32, height: u32) -> Self {
        let etag = ETag::for_content(&bytes);
        Self {
            bytes,
            format,
            width,
            height,
            etag,
        }
    }

    /// The image as uploaded.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
    /// Its format, as sniffed by validation.
    pub fn format(&self) -> ImageFormat {
        self.format
    }
    /// Its width as displayed (after the EXIF orientation), in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Its height as displayed (after the EXIF orientation), in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }
    /// The strong tag of these bytes (spec C8).
    pub fn etag(&self) -> &ETag {
        &self.etag
    }
}

impl From<ValidatedPhoto> for StoredPhoto {
    fn from(photo: ValidatedPhoto) -> Self {
        Self {
            bytes: photo.bytes,
            format: photo.format,
            width: photo.width,
            height: photo.height,
            etag: photo.etag,
        }
    }
}

/// A stored photo, as a store gives it back. Public fields: a durable store rebuilds it from
/// what it wrote, which was a [`ValidatedPhoto`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPhoto {
    /// The image as uploaded.
    pub bytes: Bytes,
    /// Its format.
    pub format: ImageFormat,
    /// Its displayed width, in pixels.
    pub width: u32,
    /// Its displayed height, in pixels.
    pub height: u32,
    /// The tag of these bytes.
    pub etag: ETag,
}

/// Why a photo store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// `delete` of a key with no photo, without a precondition.
    #[error("no photo stored")]
    NotFound,
    /// The precondition did not hold; nothing was written.
    #[error("precondition failed")]
    PreconditionFailed,
    /// The store cannot answer now. Nothing was written, except when the connection to a
    /// networked database was lost while it committed: then the outcome is unknown (as with any
    /// client of a remote database), and a later `get` tells. The caller may retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Where photos live, keyed by [`PhotoKey`].
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PhotoStore: Send + Sync {
    /// The photo stored under `key`, or `None`.
    async fn get(&self, key: &PhotoKey) -> Result<Option<StoredPhoto>, StoreError>;

    /// Stores `photo` under `key` if `condition` holds for what is stored now, atomically:
    /// no other write to `key` may come between the check and the write.
    ///
    /// MUST return `PreconditionFailed` (and write nothing) when the condition does not hold.
    /// MUST keep the photo's own [`ValidatedPhoto::etag`] (content-derived, spec C8) and return
    /// the photo as stored. MUST write bytes, format, size and tag together: a `get` never sees
    /// a mix of two versions. Once `put` returned `Ok`, a `get` MUST see this photo (or a later
    /// one); a durable store MUST have made it durable by then.
    async fn put(
        &self,
        key: &PhotoKey,
        photo: ValidatedPhoto,
        condition: &Precondition,
    ) -> Result<StoredPhoto, StoreError>;

    /// Removes the photo under `key` if `condition` holds, atomically.
    ///
    /// MUST check the condition first: `PreconditionFailed` when it does not hold (also when
    /// there is no photo and the condition is not `None`); then `NotFound` when there is no
    /// photo.
    async fn delete(&self, key: &PhotoKey, condition: &Precondition) -> Result<(), StoreError>;

    /// The keys of every stored photo, over all tenants, in any order: what `export` walks to
    /// move or back up a store.
    ///
    /// MUST list each key that holds a photo exactly once, and no key whose photo was deleted
    /// before the call began.
    async fn keys(&self) -> Result<Vec<PhotoKey>, StoreError>;

    /// Whether the store can serve requests now: what a readiness probe asks (`/readyz`).
    ///
    /// MUST return `Ok` when `get` and `put` can reach where the photos live (a cheap round
    /// trip for a networked or file store: a query that reads no photo), and `Unavailable`
    /// when they cannot. MUST answer within a few seconds, never wait for an outage to end:
    /// a store that waits for connections bounds the wait itself. A store always in reach
    /// (memory) answers `Ok`. MUST NOT write anything.
    async fn check(&self) -> Result<(), StoreError>;
}

/// Rendered sizes of a photo version, so each version is rendered at most once.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RenditionCache: Send + Sync {
    /// The renditions of the photo under `key` whose original has tag `etag`, if kept.
    /// MUST NOT return renditions of another version.
    async fn get(&self, key: &PhotoKey, etag: &ETag) -> Option<Arc<RenditionSet>>;
    /// Keeps `set` as the renditions of version `etag`; MAY drop those of other versions.
    async fn put(&self, key: &PhotoKey, etag: &ETag, set: Arc<RenditionSet>);
    /// Drops whatever is kept for `key` (the photo was replaced or deleted).
    async fn forget(&self, key: &PhotoKey);
}

/// Runs the CPU-bound rendering. An async server runs it off its I/O threads; embedding code
/// without a runtime can use `photo_render::InlineRenderer`. The production adapters live in the
/// `photo-render` crate.
///
/// The caller may drop the future of [`Renderer::render`] at any point (every client waiting for
/// the sizes went away). The renderer MUST NOT need that future to be polled again to make
/// progress or to give back what it holds: once the future is dropped, work not yet started MUST
/// NOT start, and work already running MUST run to completion on its own and then release every
/// resource it holds (threads, permits, memory budget, the original). A renderer that bounds its
/// concurrency MUST count each render against its bound until the CPU work really ends, not
/// until its future is dropped. MUST return [`RenderError::Unavailable`] only for failures that
/// say nothing about the image (a later render of the same bytes may succeed); the caller
/// remembers every other error as the answer for those bytes.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Renderer: Send + Sync {
    /// Renders every available size of `original`.
    async fn render(&self, original: Bytes) -> Result<RenditionSet, RenderError>;
}
