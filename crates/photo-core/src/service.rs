//! The use cases: update, read, list sizes, delete, in the order of checks of spec D7.
//!
//! Routing (step 1), authentication (2) and the `Content-Length` limit (3) happen at the edge
//! before a use case is called; everything after that is here.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared, WeakShared};

use crate::error::PhotoError;
use crate::etag::{ETag, Precondition, TagCondition};
use crate::ids::{ObjectId, UserRef};
use crate::policy::{authorize, Access, TargetKind};
use crate::ports::{
    Directory, DirectoryEntry, DirectoryError, DirectoryQuery, PhotoKey, PhotoStore, Renderer,
    RenditionCache, StoreError, StoredPhoto, ValidatedPhoto,
};
use crate::principal::Principal;
use crate::renditions::{self, RenderError, Rendition, RenditionSet, SizeId};
use crate::target::{ApiVersion, ContactOwner, Target};

/// A read answered with `304`: the client's copy is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness<T> {
    /// The representation, to be sent.
    Modified(T),
    /// The client's copy is current: answer `304` with this tag.
    NotModified(ETag),
}

/// The original photo and where it lives.
#[derive(Debug, Clone)]
pub struct PhotoView {
    /// The owner of the photo.
    pub entry: DirectoryEntry,
    /// The stored original.
    pub photo: StoredPhoto,
}

/// One available size, as listed by `/photos`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeInfo {
    /// Width and height of the size, in pixels.
    pub side: u32,
    /// The size's own tag.
    pub etag: ETag,
}

/// The sizes available for a photo (`GET .../photos`).
#[derive(Debug, Clone)]
pub struct SizesView {
    /// The owner of the photo.
    pub entry: DirectoryEntry,
    /// Ascending; empty when there is no photo.
    pub sizes: Vec<SizeInfo>,
}

/// One rendered size.
#[derive(Debug, Clone)]
pub struct SizeView {
    /// The owner of the photo.
    pub entry: DirectoryEntry,
    /// The size's own tag.
    pub etag: ETag,
    /// The encoded size.
    pub rendition: Rendition,
}

/// An update that passed every check that does not need the body (D7 steps 4-7).
/// Finish it with [`PhotoService::finish_update`] once the body has been read.
#[derive(Debug, Clone)]
pub struct PendingUpdate {
    entry: DirectoryEntry,
    condition: Precondition,
}

impl PendingUpdate {
    /// The owner of the photo, whatever the freshness.
    pub fn entry(&self) -> &DirectoryEntry {
        &self.entry
    }
}

type RenderOutcome = Result<Arc<RenditionSet>, RenderError>;
type RenderFuture = BoxFuture<'static, RenderOutcome>;
/// A photo version: its key and its original's tag.
type VersionKey = (PhotoKey, ETag);
type InFlight = Mutex<HashMap<VersionKey, InFlightJob>>;

/// How many versions whose rendering failed are remembered (their error is the answer).
const REMEMBERED_FAILURES: usize = 1024;

/// A render under way. Only its waiters keep it alive: the map holds a weak handle, so once
/// every waiter has gone the job is dropped (with the renderer's future, which lets go of what
/// it holds, see [`Renderer`]) instead of lingering unpolled.
struct InFlightJob {
    /// Tells this job from a later one for the same version.
    id: u64,
    job: WeakShared<RenderFuture>,
}

/// Owned by a job's future: removes the job's entry when the job ends or is dropped, unless
/// the entry already belongs to a later job of the same version.
struct Deregister {
    jobs: Weak<InFlight>,
    version: VersionKey,
    id: u64,
}

impl Drop for Deregister {
    fn drop(&mut self) {
        // Never runs under the map's lock: the service drops no job future while holding it.
        if let Some(jobs) = self.jobs.upgrade() {
            let mut jobs = lock(&jobs);
            if jobs.get(&self.version).is_some_and(|job| job.id == self.id) {
                jobs.remove(&self.version);
            }
        }
    }
}

/// Versions whose rendering failed for a reason that lies in the image, oldest forgotten first.
#[derive(Default)]
struct FailedRenders {
    errors: HashMap<VersionKey, RenderError>,
    order: VecDeque<VersionKey>,
}

impl FailedRenders {
    fn get(&self, version: &VersionKey) -> Option<RenderError> {
        self.errors.get(version).cloned()
    }

    fn remember(&mut self, version: VersionKey, error: RenderError) {
        if self.errors.insert(version.clone(), error).is_none() {
            self.order.push_back(version);
        }
        while self.order.len() > REMEMBERED_FAILURES {
            if let Some(oldest) = self.order.pop_front() {
                self.errors.remove(&oldest);
            }
        }
    }
}

/// The profile-photo use cases over the ports.
pub struct PhotoService {
    directory: Arc<dyn Directory>,
    store: Arc<dyn PhotoStore>,
    cache: Arc<dyn RenditionCache>,
    renderer: Arc<dyn Renderer>,
    /// Renders under way, so concurrent first reads of a version share one render.
    rendering: Arc<InFlight>,
    next_job: AtomicU64,
    /// Failed renders: answered at once, never rendered again.
    failed: Arc<Mutex<FailedRenders>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the map inconsistent (one insert/remove).
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl From<DirectoryError> for PhotoError {
    fn from(error: DirectoryError) -> Self {
        match error {
            DirectoryError::UserNotFound(user) => PhotoError::ResourceNotFound(user.to_string()),
            DirectoryError::GroupNotFound(id) => PhotoError::ResourceNotFound(id),
            DirectoryError::ContactFolderNotFound { .. }
            | DirectoryError::ContactNotFound { .. } => PhotoError::ItemNotFound,
            DirectoryError::Unavailable(detail) => PhotoError::Unavailable(detail),
        }
    }
}

impl From<StoreError> for PhotoError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => PhotoError::PhotoNotFound,
            StoreError::PreconditionFailed => PhotoError::PreconditionFailed,
            StoreError::Unavailable(detail) => PhotoError::Unavailable(detail),
        }
    }
}

impl PhotoService {
    /// A service over these ports.
    pub fn new(
        directory: Arc<dyn Directory>,
        store: Arc<dyn PhotoStore>,
        cache: Arc<dyn RenditionCache>,
        renderer: Arc<dyn Renderer>,
    ) -> Self {
        Self {
            directory,
            store,
            cache,
            renderer,
            rendering: Arc::new(Mutex::new(HashMap::new())),
            next_job: AtomicU64::new(0),
            failed: Arc::new(Mutex::new(FailedRenders::default())),
        }
    }

    /// D7 steps 4 and 5: authorize the kind of target, then find it in the caller's tenant,
    /// with one directory lookup.
    ///
    /// When the kind depends on who a user id or UPN names (a delegated caller may name
    /// themselves), the lookup comes first and its answer, found or not, decides the kind; a
    /// "not found" is only answered after authorization, so a caller without rights gets the
    /// same 403 whether or not the id exists. Otherwise authorization comes first and a denied
    /// request never reaches the directory.
    async fn authorize_and_resolve(
        &self,
        principal: &Principal,
        target: &Target,
        access: Access,
    ) -> Result<(TargetKind, DirectoryEntry), PhotoError> {
        let tenant = principal.tenant();
        let caller = principal.user_id().map(ObjectId::new);
        let (kind, found) = match (kind_without_lookup(target), &caller) {
            (None, Some(caller)) => {
                let query = directory_query(target, Some(caller))?;
                let found = self.directory.lookup(tenant, &query).await;
                if let Err(DirectoryError::Unavailable(detail)) = found {
                    return Err(PhotoError::Unavailable(detail));
                }
                let kind = kind_from_lookup(target, &found, caller);
                authorize(principal, kind, access)?;
                (kind, found)
            }
            (known, _) => {
                // An application has no user of its own: a user it names is another user.
                let kind = known.unwrap_or(if target.is_contact() {
                    TargetKind::ContactOfOtherUser
                } else {
                    TargetKind::OtherUser
                });
                authorize(principal, kind, access)?;
                let query = directory_query(target, caller.as_ref())?;
                (kind, self.directory.lookup(tenant, &query).await)
            }
        };
        Ok((kind, found?))
    }

    /// D7 steps 4-7 of an update, before the body is read.
    pub async fn begin_update(
        &self,
        principal: &Principal,
        version: ApiVersion,
        target: &Target,
        if_match: Option<&TagCondition>,
    ) -> Result<PendingUpdate, PhotoError> {
        let (kind, entry) = self
            .authorize_and_resolve(principal, target, Access::Write)
            .await?;
        // Step 6 (spec B6): v1.0 cannot update a personal account's own photo.
        let personal = principal.tenant().is_consumer()
            || entry.account == crate::ports::AccountKind::Personal;
        if version == ApiVersion::V1 && kind == TargetKind::Me && personal {
            return Err(PhotoError::ConsumerPhotoNotSupported);
        }
        // Step 7: fail early on a stale If-Match; the store checks again atomically (step 9).
        let condition = match if_match {
            Some(cond) => {
                let current = self.store.get(&entry.key).await?;
                if !cond.matches_strong(current.as_ref().map(|p| &p.etag)) {
                    return Err(PhotoError::PreconditionFailed);
                }
                cond.to_precondition()
            }
            None => Precondition::None,
        };
        Ok(PendingUpdate { entry, condition })
    }

    /// D7 steps 8-9: validate the body and store it, atomically with the `If-Match` condition.
    pub async fn finish_update(
        &self,
        pending: PendingUpdate,
        body: Bytes,
    ) -> Result<StoredPhoto, PhotoError> {
        let photo = ValidatedPhoto::check(body)?;
        self.store_update(pending, photo).await
    }

    /// D7 step 9 for a body the caller validated itself (an HTTP adapter does it off its
    /// async threads): store it, atomically with the `If-Match` condition.
    pub async fn store_update(
        &self,
        pending: PendingUpdate,
        photo: ValidatedPhoto,
    ) -> Result<StoredPhoto, PhotoError> {
        let stored = self
            .store
            .put(&pending.entry.key, photo, &pending.condition)
            .await?;
        self.cache.forget(&pending.entry.key).await;
        Ok(stored)
    }

    /// The whole update, for callers that already hold the body.
    pub async fn update(
        &self,
        principal: &Principal,
        version: ApiVersion,
        target: &Target,
        if_match: Option<&TagCondition>,
        body: Bytes,
    ) -> Result<StoredPhoto, PhotoError> {
        let pending = self
            .begin_update(principal, version, target, if_match)
            .await?;
        self.finish_update(pending, body).await
    }

    /// The target's photo for a reader: authorized, resolved, and present (else 404, spec C4).
    async fn readable_photo(
        &self,
        principal: &Principal,
        target: &Target,
    ) -> Result<(DirectoryEntry, StoredPhoto), PhotoError> {
        let (_, entry) = self
            .authorize_and_resolve(principal, target, Access::Read)
            .await?;
        let photo = self
            .store
            .get(&entry.key)
            .await?
            .ok_or(PhotoError::PhotoNotFound)?;
        Ok((entry, photo))
    }

    /// The original photo (`/photo` metadata and `/photo/$value`).
    pub async fn get_photo(
        &self,
        principal: &Principal,
        target: &Target,
        if_none_match: Option<&TagCondition>,
    ) -> Result<Freshness<PhotoView>, PhotoError> {
        let (entry, photo) = self.readable_photo(principal, target).await?;
        if if_none_match.is_some_and(|c| c.matches_weak(&photo.etag)) {
            return Ok(Freshness::NotModified(photo.etag));
        }
        Ok(Freshness::Modified(PhotoView { entry, photo }))
    }

    /// The sizes available for the target's photo (`/photos`): none when there is no photo.
    pub async fn list_sizes(
        &self,
        principal: &Principal,
        target: &Target,
    ) -> Result<SizesView, PhotoError> {
        let (_, entry) = self
            .authorize_and_resolve(principal, target, Access::Read)
            .await?;
        let sizes = match self.store.get(&entry.key).await? {
            Some(photo) => renditions::available_sizes(photo.width, photo.height)
                .into_iter()
                .map(|side| SizeInfo {
                    side,
                    etag: ETag::for_rendition(&photo.etag, side),
                })
                .collect(),
            None => Vec::new(),
        };
        Ok(SizesView { entry, sizes })
    }

    /// One size of the target's photo (`/photos/{size}` and its `$value`).
    pub async fn get_size(
        &self,
        principal: &Principal,
        target: &Target,
        size: &SizeId,
        if_none_match: Option<&TagCondition>,
    ) -> Result<Freshness<SizeView>, PhotoError> {
        let (entry, photo) = self.readable_photo(principal, target).await?;
        let side = size
            .side()
            .filter(|side| renditions::available_sizes(photo.width, photo.height).contains(side))
            .ok_or(PhotoError::PhotoNotFound)?;
        let etag = ETag::for_rendition(&photo.etag, side);
        if if_none_match.is_some_and(|c| c.matches_weak(&etag)) {
            return Ok(Freshness::NotModified(etag));
        }
        let set = self.renditions(&entry.key, &photo).await?;
        let rendition = set.get(side).cloned().ok_or(PhotoError::PhotoNotFound)?;
        Ok(Freshness::Modified(SizeView {
            entry,
            etag,
            rendition,
        }))
    }

    /// Whether the photo store can serve requests now (a readiness probe): the store's own
    /// [`PhotoStore::check`], bounded in time by the store. `Err` carries the store's reason,
    /// for the log; a client is told only that the service is not ready.
    pub async fn check_store(&self) -> Result<(), StoreError> {
        self.store.check().await
    }

    /// Deletes the photo of a user or group (contacts are refused by routing, spec A5).
    pub async fn delete(
        &self,
        principal: &Principal,
        target: &Target,
        if_match: Option<&TagCondition>,
    ) -> Result<(), PhotoError> {
        let (_, entry) = self
            .authorize_and_resolve(principal, target, Access::Write)
            .await?;
        let condition = if_match
            .map(TagCondition::to_precondition)
            .unwrap_or_default();
        self.store.delete(&entry.key, &condition).await?;
        self.cache.forget(&entry.key).await;
        Ok(())
    }

    /// The renditions of this version: from the cache, or rendered once however many readers
    /// ask at the same time; a version that failed to render fails again at once.
    async fn renditions(
        &self,
        key: &PhotoKey,
        photo: &StoredPhoto,
    ) -> Result<Arc<RenditionSet>, PhotoError> {
        if let Some(set) = self.cache.get(key, &photo.etag).await {
            return Ok(set);
        }
        let version = (key.clone(), photo.etag.clone());
        let job = {
            let mut jobs = lock(&self.rendering);
            // Under the map's lock, so that a job that fails either is still in the map or has
            // already recorded its failure (it records it before leaving the map).
            if let Some(error) = lock(&self.failed).get(&version) {
                return Err(render_error(error));
            }
            match jobs.get(&version).and_then(|entry| entry.job.upgrade()) {
                Some(job) => job,
                None => {
                    let id = self.next_job.fetch_add(1, Ordering::Relaxed);
                    let job = self.render_job(version.clone(), id, photo.bytes.clone());
                    // A job that was never polled has not completed, so this is always `Some`.
                    if let Some(weak) = job.downgrade() {
                        jobs.insert(version, InFlightJob { id, job: weak });
                    }
                    job
                }
            }
        };
        job.await.map_err(render_error)
    }

    /// Renders one version and caches the result; owns the removal of its own map entry.
    fn render_job(&self, version: VersionKey, id: u64, original: Bytes) -> Shared<RenderFuture> {
        let deregister = Deregister {
            jobs: Arc::downgrade(&self.rendering),
            version: version.clone(),
            id,
        };
        let renderer = Arc::clone(&self.renderer);
        let store = Arc::clone(&self.store);
        let cache = Arc::clone(&self.cache);
        let failed = Arc::clone(&self.failed);
        async move {
            let _deregister = deregister;
            let (key, etag) = &version;
            match renderer.render(original).await {
                Ok(set) => {
                    let set = Arc::new(set);
                    // A version replaced while it rendered is not cached: in a cache that keeps
                    // one version per photo it would evict the current version's sizes.
                    let current = store.get(key).await.ok().flatten();
                    if current.is_some_and(|photo| photo.etag == *etag) {
                        cache.put(key, etag, Arc::clone(&set)).await;
                    }
                    Ok(set)
                }
                Err(error) => {
                    if error.is_permanent() {
                        lock(&failed).remember(version.clone(), error.clone());
                    }
                    Err(error)
                }
            }
        }
        .boxed()
        .shared()
    }
}

/// The kind of target when the path alone tells it (D7 step 4): `None` for a user named by id
/// or UPN, who may be the caller.
fn kind_without_lookup(target: &Target) -> Option<TargetKind> {
    match target {
        Target::Me => Some(TargetKind::Me),
        Target::Group(_) => Some(TargetKind::Group),
        Target::Contact {
            owner: ContactOwner::Me,
            ..
        } => Some(TargetKind::ContactOfMe),
        Target::User(_)
        | Target::Contact {
            owner: ContactOwner::User(_),
            ..
        } => None,
    }
}

/// The kind of a target named by id or UPN, from the directory's answer (D7 step 4): the
/// caller's own if the user found (or the owner of a contact not found) is the caller; a user
/// that does not exist is another user.
fn kind_from_lookup(
    target: &Target,
    found: &Result<DirectoryEntry, DirectoryError>,
    caller: &ObjectId,
) -> TargetKind {
    let user = match found {
        Ok(entry) => entry.owning_user(),
        Err(error) => error.owning_user(),
    };
    // User object ids are GUIDs, which compare case-insensitively; the token's `oid` need not
    // be spelled as the directory spells it.
    let is_caller = user.is_some_and(|user| user.as_str().eq_ignore_ascii_case(caller.as_str()));
    match (target.is_contact(), is_caller) {
        (false, true) => TargetKind::Me,
        (false, false) => TargetKind::OtherUser,
        (true, true) => TargetKind::ContactOfMe,
        (true, false) => TargetKind::ContactOfOtherUser,
    }
}

/// The directory's question for `target`: `/me` becomes the caller's object id here, so no
/// directory adapter needs to know about `/me`.
fn directory_query(
    target: &Target,
    caller: Option<&ObjectId>,
) -> Result<DirectoryQuery, PhotoError> {
    let me = || caller.map(UserRef::from).ok_or(PhotoError::NoSignedInUser);
    Ok(match target {
        Target::Me => DirectoryQuery::User(me()?),
        Target::User(user) => DirectoryQuery::User(UserRef::new(user.as_str())),
        Target::Group(group) => DirectoryQuery::Group(group.clone()),
        Target::Contact { owner, folder, id } => DirectoryQuery::Contact {
            owner: match owner {
                ContactOwner::Me => me()?,
                ContactOwner::User(user) => UserRef::new(user.as_str()),
            },
            folder: folder.clone(),
            contact: id.clone(),
        },
    })
}

/// A renderer that cannot run now is a 503 (retry), not a fact about the photo.
fn render_error(error: RenderError) -> PhotoError {
    match error {
        RenderError::Unavailable(detail) => PhotoError::Unavailable(detail),
        other => PhotoError::RenditionFailed(other),
    }
}

#[cfg(test)]
mod tests;
