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
use crate::ids::ObjectId;
use crate::principal::TenantId;
use crate::renditions::{RenderError, RenditionSet};
use crate::target::Target;

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

/// A target found in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// Where the photo of this object is stored.
    pub key: PhotoKey,
    /// The account kind of the user the photo belongs to (the owner, for a contact).
    pub account: AccountKind,
}

/// Why the directory could not resolve a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// No user with this id or UPN in the tenant. Carries the id as the request gave it.
    #[error("user '{0}' not found")]
    UserNotFound(String),
    /// No group with this id in the tenant.
    #[error("group '{0}' not found")]
    GroupNotFound(String),
    /// No such contact folder for this user.
    #[error("contact folder '{0}' not found")]
    ContactFolderNotFound(String),
    /// No such contact for this user.
    #[error("contact '{0}' not found")]
    ContactNotFound(String),
    /// The directory cannot answer now; the caller may retry.
    #[error("directory unavailable: {0}")]
    Unavailable(String),
}

/// Users, groups, contact folders and contacts, per tenant (spec E1).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Directory: Send + Sync {
    /// Whether `user` (an object id or a userPrincipalName, as the request gave it) names the
    /// user with object id `caller_id` in `tenant`.
    ///
    /// MUST compare object ids and UPNs case-insensitively. MUST return `Ok(false)`, not an
    /// error, when `user` does not exist (a missing user is "another user", spec D7 step 4).
    async fn is_same_user(
        &self,
        tenant: &TenantId,
        caller_id: &str,
        user: &str,
    ) -> Result<bool, DirectoryError>;

    /// Finds `target` in `tenant`. `caller_id` is the signed-in user, used for `/me` paths.
    ///
    /// MUST look only inside `tenant` (an object of another tenant is not found, spec D3).
    /// MUST return `UserNotFound`/`GroupNotFound` carrying the id as given when the user or
    /// group does not exist (for `/me`, the caller id); `ContactFolderNotFound` when a folder
    /// in the path does not exist for that user; `ContactNotFound` when the contact does not
    /// exist for that user (in any folder when the path names none, else in that folder).
    /// MUST return the same key for every path naming the same object.
    async fn resolve<'a>(
        &self,
        tenant: &TenantId,
        caller_id: Option<&'a str>,
        target: &Target,
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
