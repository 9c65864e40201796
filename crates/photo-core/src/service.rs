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
use crate::policy::{authorize, Access, TargetKind};
use crate::ports::{
    Directory, DirectoryEntry, DirectoryError, NewPhoto, PhotoKey, PhotoStore, Renderer,
    RenditionCache, StoreError, StoredPhoto,
};
use crate::principal::Principal;
use crate::renditions::{self, RenderError, Rendition, RenditionSet};
use crate::target::{ApiVersion, Owner, Target};
use crate::validation;

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
            DirectoryError::UserNotFound(id) | DirectoryError::GroupNotFound(id) => {
                PhotoError::ResourceNotFound(id)
            }
            DirectoryError::ContactFolderNotFound(_) | DirectoryError::ContactNotFound(_) => {
                PhotoError::ItemNotFound
            }
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

    /// What kind of target this is for this principal (D7 step 4: a user id or UPN that does
    /// not resolve to the caller counts as another user).
    async fn kind_of(
        &self,
        principal: &Principal,
        target: &Target,
    ) -> Result<TargetKind, PhotoError> {
        let is_caller = |user: &str| {
            let user = user.to_owned();
            async move {
                match principal {
                    Principal::Delegated(d) => {
                        self.directory
                            .is_same_user(&d.tenant, &d.user_id, &user)
                            .await
                    }
                    Principal::Application(_) => Ok(false),
                }
            }
        };
        Ok(match target {
            Target::Me => TargetKind::Me,
            Target::User(user) => {
                if is_caller(user).await? {
                    TargetKind::Me
                } else {
                    TargetKind::OtherUser
                }
            }
            Target::Group(_) => TargetKind::Group,
            Target::Contact {
                owner: Owner::Me, ..
            } => TargetKind::ContactOfMe,
            Target::Contact {
                owner: Owner::User(user),
                ..
            } => {
                if is_caller(user).await? {
                    TargetKind::ContactOfMe
                } else {
                    TargetKind::ContactOfOtherUser
                }
            }
        })
    }

    /// D7 steps 4 and 5: authorize the kind of target, then find it in the caller's tenant.
    async fn authorize_and_resolve(
        &self,
        principal: &Principal,
        target: &Target,
        access: Access,
    ) -> Result<(TargetKind, DirectoryEntry), PhotoError> {
        let kind = self.kind_of(principal, target).await?;
        authorize(principal, kind, access)?;
        let entry = self
            .directory
            .resolve(principal.tenant(), principal.user_id(), target)
            .await?;
        Ok((kind, entry))
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
        let info = validation::validate(&body)?;
        let photo = NewPhoto {
            bytes: body,
            format: info.format,
            width: info.width,
            height: info.height,
        };
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
        size_id: &str,
        if_none_match: Option<&TagCondition>,
    ) -> Result<Freshness<SizeView>, PhotoError> {
        let (entry, photo) = self.readable_photo(principal, target).await?;
        let side = renditions::parse_size_id(size_id)
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

/// A renderer that cannot run now is a 503 (retry), not a fact about the photo.
fn render_error(error: RenderError) -> PhotoError {
    match error {
        RenderError::Unavailable(detail) => PhotoError::Unavailable(detail),
        other => PhotoError::RenditionFailed(other),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::ports::{
        AccountKind, MockDirectory, MockPhotoStore, MockRenditionCache, PhotoOwner,
    };
    use crate::principal::{ApplicationPrincipal, DelegatedPrincipal, Scope, TenantId};
    use crate::renditions::RenditionFormat;
    use crate::validation::ImageFormat;

    const TENANT: &str = "t1";
    const ME: &str = "me-id";

    fn delegated(scopes: &[&str]) -> Principal {
        Principal::Delegated(DelegatedPrincipal {
            tenant: TenantId::new(TENANT),
            user_id: ME.into(),
            scopes: scopes.iter().map(|s| Scope::from(*s)).collect(),
            directory_roles: vec![],
            app_id: None,
        })
    }

    fn app(roles: &[&str]) -> Principal {
        Principal::Application(ApplicationPrincipal {
            tenant: TenantId::new(TENANT),
            app_id: "app".into(),
            roles: roles.iter().map(|s| Scope::from(*s)).collect(),
        })
    }

    fn key(id: &str) -> PhotoKey {
        PhotoKey {
            tenant: TenantId::new(TENANT),
            owner: PhotoOwner::User(id.into()),
        }
    }

    fn entry(id: &str) -> DirectoryEntry {
        DirectoryEntry {
            key: key(id),
            account: AccountKind::WorkOrSchool,
        }
    }

    fn stored(bytes: &[u8], side: u32) -> StoredPhoto {
        StoredPhoto {
            bytes: Bytes::copy_from_slice(bytes),
            format: ImageFormat::Png,
            width: side,
            height: side,
            etag: ETag::for_content(bytes),
        }
    }

    fn png(side: u32) -> Bytes {
        let image = image::RgbImage::from_pixel(side, side, image::Rgb([200, 10, 10]));
        let mut out = std::io::Cursor::new(Vec::new());
        image
            .write_to(&mut out, image::ImageFormat::Png)
            .expect("encode");
        Bytes::from(out.into_inner())
    }

    /// A stand-in for the rendering pipeline (which lives in `photo-render`): every available
    /// size, a plain resize of the whole image to a JPEG square. The service only needs sizes
    /// and colours that come from the original.
    fn simple_render(original: &[u8]) -> Result<RenditionSet, RenderError> {
        let image =
            image::load_from_memory(original).map_err(|e| RenderError::Decode(e.to_string()))?;
        let renditions = renditions::available_sizes(image.width(), image.height())
            .into_iter()
            .map(|side| {
                let square = image
                    .resize_exact(side, side, image::imageops::FilterType::Triangle)
                    .into_rgb8();
                let mut out = std::io::Cursor::new(Vec::new());
                square
                    .write_to(&mut out, image::ImageFormat::Jpeg)
                    .map_err(|e| RenderError::Encode(e.to_string()))?;
                Ok(Rendition {
                    side,
                    format: RenditionFormat::Jpeg,
                    bytes: Bytes::from(out.into_inner()),
                })
            })
            .collect::<Result<_, RenderError>>()?;
        Ok(RenditionSet { renditions })
    }

    /// Renders with [`simple_render`] within one poll, as `photo_render::InlineRenderer` does.
    struct SimpleRenderer;

    #[async_trait]
    impl Renderer for SimpleRenderer {
        async fn render(&self, original: Bytes) -> Result<RenditionSet, RenderError> {
            simple_render(&original)
        }
    }

    /// A directory where `/me` and the caller's id resolve and nothing else exists.
    fn directory_with_me() -> MockDirectory {
        let mut dir = MockDirectory::new();
        dir.expect_is_same_user()
            .returning(|_, caller, user| Ok(caller == user));
        dir.expect_resolve()
            .returning(|_, caller, target| match target {
                Target::Me => Ok(entry(caller.unwrap_or_default())),
                Target::User(id) if id == ME => Ok(entry(ME)),
                Target::User(id) | Target::Group(id) => {
                    Err(DirectoryError::UserNotFound(id.clone()))
                }
                _ => Err(DirectoryError::ContactNotFound("c".into())),
            });
        dir
    }

    fn quiet_cache() -> MockRenditionCache {
        let mut cache = MockRenditionCache::new();
        cache.expect_get().returning(|_, _| None);
        cache.expect_put().returning(|_, _, _| ());
        cache.expect_forget().returning(|_| ());
        cache
    }

    fn service(dir: MockDirectory, store: MockPhotoStore) -> PhotoService {
        PhotoService::new(
            Arc::new(dir),
            Arc::new(store),
            Arc::new(quiet_cache()),
            Arc::new(SimpleRenderer),
        )
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn update_stores_a_valid_photo_unconditionally() {
        let body = png(60);
        let mut store = MockPhotoStore::new();
        let expected = body.clone();
        store
            .expect_put()
            .withf(move |k, photo, cond| {
                *k == key(ME)
                    && photo.bytes == expected
                    && photo.width == 60
                    && *cond == Precondition::None
            })
            .times(1)
            .returning(|_, photo, _| {
                Ok(StoredPhoto {
                    etag: ETag::for_content(&photo.bytes),
                    bytes: photo.bytes,
                    format: photo.format,
                    width: photo.width,
                    height: photo.height,
                })
            });
        let svc = service(directory_with_me(), store);
        let stored = block_on(svc.update(
            &delegated(&["User.ReadWrite"]),
            ApiVersion::V1,
            &Target::Me,
            None,
            body.clone(),
        ))
        .expect("update");
        assert_eq!(stored.etag, ETag::for_content(&body));
    }

    #[test]
    fn denial_comes_before_lookup_so_unknown_ids_do_not_leak() {
        let mut dir = MockDirectory::new();
        dir.expect_is_same_user().returning(|_, _, _| Ok(false));
        dir.expect_resolve().never();
        let mut store = MockPhotoStore::new();
        store.expect_put().never();
        let svc = service(dir, store);
        let err = block_on(svc.begin_update(
            &delegated(&["User.ReadWrite"]),
            ApiVersion::V1,
            &Target::User("ghost".into()),
            None,
        ))
        .unwrap_err();
        assert!(matches!(err, PhotoError::AccessDenied(_)), "{err:?}");
    }

    #[test]
    fn application_tokens_on_me_are_bad_requests() {
        let mut dir = MockDirectory::new();
        dir.expect_resolve().never();
        let svc = service(dir, MockPhotoStore::new());
        let err = block_on(svc.get_photo(&app(&["User.Read.All"]), &Target::Me, None)).unwrap_err();
        assert_eq!(err, PhotoError::NoSignedInUser);
    }

    #[test]
    fn unknown_users_are_404_with_the_id_as_given() {
        let svc = service(directory_with_me(), MockPhotoStore::new());
        let err = block_on(svc.get_photo(
            &app(&["User.Read.All"]),
            &Target::User("Nobody@x".into()),
            None,
        ))
        .unwrap_err();
        assert_eq!(err, PhotoError::ResourceNotFound("Nobody@x".into()));
    }

    #[test]
    fn personal_accounts_cannot_update_their_own_photo_in_v1_only() {
        let mut dir = MockDirectory::new();
        dir.expect_is_same_user().returning(|_, _, _| Ok(true));
        dir.expect_resolve().returning(|_, _, _| {
            Ok(DirectoryEntry {
                key: key(ME),
                account: AccountKind::Personal,
            })
        });
        let mut store = MockPhotoStore::new();
        store.expect_get().returning(|_| Ok(None));
        let svc = service(dir, store);
        let p = delegated(&["User.ReadWrite"]);
        let err = block_on(svc.begin_update(&p, ApiVersion::V1, &Target::Me, None)).unwrap_err();
        assert_eq!(err, PhotoError::ConsumerPhotoNotSupported);
        assert!(block_on(svc.begin_update(&p, ApiVersion::Beta, &Target::Me, None)).is_ok());
        // Reads are not affected.
        assert_eq!(
            block_on(svc.get_photo(&p, &Target::Me, None)).unwrap_err(),
            PhotoError::PhotoNotFound
        );
    }

    #[test]
    fn stale_if_match_fails_before_the_body_and_is_enforced_by_the_store() {
        let mut store = MockPhotoStore::new();
        store
            .expect_get()
            .returning(|_| Ok(Some(stored(b"old", 100))));
        store.expect_put().never();
        let svc = service(directory_with_me(), store);
        let p = delegated(&["User.ReadWrite"]);
        let stale = TagCondition::parse("\"NOT-IT\"");
        let err =
            block_on(svc.begin_update(&p, ApiVersion::V1, &Target::Me, Some(&stale))).unwrap_err();
        assert_eq!(err, PhotoError::PreconditionFailed);

        // The current tag passes the early check and becomes the store's condition.
        let current = TagCondition::parse(&ETag::for_content(b"old").to_string());
        let pending =
            block_on(svc.begin_update(&p, ApiVersion::V1, &Target::Me, Some(&current))).unwrap();
        assert_eq!(
            pending.condition,
            Precondition::OneOf(vec![ETag::for_content(b"old")])
        );
    }

    #[test]
    fn a_lost_race_at_the_store_is_412() {
        let mut store = MockPhotoStore::new();
        store
            .expect_get()
            .returning(|_| Ok(Some(stored(b"old", 100))));
        store
            .expect_put()
            .returning(|_, _, _| Err(StoreError::PreconditionFailed));
        let svc = service(directory_with_me(), store);
        let current = TagCondition::parse(&ETag::for_content(b"old").to_string());
        let err = block_on(svc.update(
            &delegated(&["User.ReadWrite"]),
            ApiVersion::V1,
            &Target::Me,
            Some(&current),
            png(50),
        ))
        .unwrap_err();
        assert_eq!(err, PhotoError::PreconditionFailed);
    }

    #[test]
    fn invalid_images_are_never_stored() {
        let mut store = MockPhotoStore::new();
        store.expect_put().never();
        let svc = service(directory_with_me(), store);
        let p = delegated(&["User.ReadWrite"]);
        for body in [
            Bytes::new(),
            Bytes::from_static(b"hello"),
            png(50).slice(..40),
        ] {
            let err =
                block_on(svc.update(&p, ApiVersion::V1, &Target::Me, None, body)).unwrap_err();
            assert!(matches!(err, PhotoError::InvalidImage(_)), "{err:?}");
        }
        let huge = Bytes::from(vec![0u8; crate::limits::MAX_PHOTO_BYTES + 1]);
        let err = block_on(svc.update(&p, ApiVersion::V1, &Target::Me, None, huge)).unwrap_err();
        assert!(matches!(err, PhotoError::TooLarge { .. }), "{err:?}");
    }

    #[test]
    fn an_unavailable_store_is_503_material() {
        let mut store = MockPhotoStore::new();
        store
            .expect_get()
            .returning(|_| Err(StoreError::Unavailable("disk on fire".into())));
        let svc = service(directory_with_me(), store);
        let err =
            block_on(svc.get_photo(&delegated(&["User.Read"]), &Target::Me, None)).unwrap_err();
        assert!(matches!(err, PhotoError::Unavailable(_)));
    }

    #[test]
    fn sizes_list_only_what_the_original_covers() {
        let mut store = MockPhotoStore::new();
        store.expect_get().returning(|_| {
            let mut p = stored(b"x", 0);
            p.width = 500;
            p.height = 130;
            Ok(Some(p))
        });
        let svc = service(directory_with_me(), store);
        let view = block_on(svc.list_sizes(&delegated(&["User.Read"]), &Target::Me)).unwrap();
        let sides: Vec<u32> = view.sizes.iter().map(|s| s.side).collect();
        assert_eq!(sides, vec![48, 64, 96, 120]);
    }

    #[test]
    fn if_none_match_answers_not_modified_without_rendering() {
        let mut store = MockPhotoStore::new();
        store
            .expect_get()
            .returning(|_| Ok(Some(stored(b"x", 100))));
        let mut renderer = crate::ports::MockRenderer::new();
        renderer.expect_render().never();
        let svc = PhotoService::new(
            Arc::new(directory_with_me()),
            Arc::new(store),
            Arc::new(quiet_cache()),
            Arc::new(renderer),
        );
        let etag = ETag::for_rendition(&ETag::for_content(b"x"), 48);
        let cond = TagCondition::parse(&format!("W/{etag}"));
        let got = block_on(svc.get_size(
            &delegated(&["User.Read"]),
            &Target::Me,
            "48X48",
            Some(&cond),
        ))
        .unwrap();
        assert!(matches!(got, Freshness::NotModified(tag) if tag == etag));
        let err = block_on(svc.get_size(&delegated(&["User.Read"]), &Target::Me, "648x648", None))
            .unwrap_err();
        assert_eq!(err, PhotoError::PhotoNotFound);
    }

    /// Counts renders; each takes a little while so concurrent readers overlap.
    struct CountingRenderer(AtomicUsize);

    #[async_trait]
    impl Renderer for CountingRenderer {
        async fn render(&self, original: Bytes) -> Result<RenditionSet, RenderError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            simple_render(&original)
        }
    }

    #[test]
    fn concurrent_first_reads_render_once() {
        let body = png(100);
        let photo = StoredPhoto {
            etag: ETag::for_content(&body),
            bytes: body,
            format: ImageFormat::Png,
            width: 100,
            height: 100,
        };
        let mut store = MockPhotoStore::new();
        store
            .expect_get()
            .returning(move |_| Ok(Some(photo.clone())));
        let renderer = Arc::new(CountingRenderer(AtomicUsize::new(0)));
        let svc = PhotoService::new(
            Arc::new(directory_with_me()),
            Arc::new(store),
            Arc::new(quiet_cache()),
            renderer.clone(),
        );
        let p = delegated(&["User.Read"]);
        let results = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(async {
                futures::future::join_all((0..8).map(|i| {
                    let size = if i % 2 == 0 { "48x48" } else { "96x96" };
                    svc.get_size(&p, &Target::Me, size, None)
                }))
                .await
            });
        for result in results {
            let Freshness::Modified(view) = result.unwrap() else {
                panic!("expected a rendition")
            };
            assert_eq!(view.rendition.format, RenditionFormat::Jpeg);
        }
        assert_eq!(renderer.0.load(Ordering::SeqCst), 1);
    }

    /// A store holding one photo, replaced at will (a new upload).
    struct OnePhotoStore(Mutex<Option<StoredPhoto>>);

    impl OnePhotoStore {
        fn upload(&self, bytes: Bytes, side: u32) -> ETag {
            let etag = ETag::for_content(&bytes);
            *lock(&self.0) = Some(StoredPhoto {
                bytes,
                format: ImageFormat::Png,
                width: side,
                height: side,
                etag: etag.clone(),
            });
            etag
        }
    }

    #[async_trait]
    impl PhotoStore for OnePhotoStore {
        async fn get(&self, _: &PhotoKey) -> Result<Option<StoredPhoto>, StoreError> {
            Ok(lock(&self.0).clone())
        }
        async fn put(
            &self,
            _: &PhotoKey,
            _: NewPhoto,
            _: &Precondition,
        ) -> Result<StoredPhoto, StoreError> {
            Err(StoreError::Unavailable("read-only".into()))
        }
        async fn delete(&self, _: &PhotoKey, _: &Precondition) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("read-only".into()))
        }
    }

    /// Keeps one version per photo, as `MemRenditionCache` does.
    #[derive(Default)]
    struct OneVersionCache(Mutex<HashMap<PhotoKey, (ETag, Arc<RenditionSet>)>>);

    #[async_trait]
    impl RenditionCache for OneVersionCache {
        async fn get(&self, key: &PhotoKey, etag: &ETag) -> Option<Arc<RenditionSet>> {
            lock(&self.0)
                .get(key)
                .filter(|(kept, _)| kept == etag)
                .map(|(_, set)| Arc::clone(set))
        }
        async fn put(&self, key: &PhotoKey, etag: &ETag, set: Arc<RenditionSet>) {
            lock(&self.0).insert(key.clone(), (etag.clone(), set));
        }
        async fn forget(&self, key: &PhotoKey) {
            lock(&self.0).remove(key);
        }
    }

    /// What one render call waits for before it renders (`Ok`) or fails.
    type Gate = BoxFuture<'static, Result<(), RenderError>>;

    /// A renderer driven by the test: each call takes the next gate (none left: render at once)
    /// and counts calls and dropped, unfinished renders.
    #[derive(Default)]
    struct ScriptedRenderer {
        gates: Mutex<VecDeque<Gate>>,
        calls: AtomicUsize,
        abandoned: Arc<AtomicUsize>,
    }

    impl ScriptedRenderer {
        fn then(&self, gate: Gate) {
            lock(&self.gates).push_back(gate);
        }
        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
        fn abandoned(&self) -> usize {
            self.abandoned.load(Ordering::SeqCst)
        }
    }

    /// Counts a render future dropped before it finished.
    struct Unfinished(Arc<AtomicUsize>, bool);

    impl Drop for Unfinished {
        fn drop(&mut self) {
            if !self.1 {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    #[async_trait]
    impl Renderer for ScriptedRenderer {
        async fn render(&self, original: Bytes) -> Result<RenditionSet, RenderError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut unfinished = Unfinished(Arc::clone(&self.abandoned), false);
            let gate = lock(&self.gates).pop_front();
            if let Some(gate) = gate {
                gate.await?;
            }
            unfinished.1 = true;
            simple_render(&original)
        }
    }

    /// A gate the test opens: `Ok` renders, `Err` fails the render.
    fn gate() -> (tokio::sync::oneshot::Sender<Result<(), RenderError>>, Gate) {
        let (open, wait) = tokio::sync::oneshot::channel();
        let gate = async move {
            wait.await
                .unwrap_or_else(|_| Err(RenderError::Unavailable("gate dropped".into())))
        };
        (open, gate.boxed())
    }

    fn coloured_png(side: u32, colour: [u8; 3]) -> Bytes {
        let image = image::RgbImage::from_pixel(side, side, image::Rgb(colour));
        let mut out = std::io::Cursor::new(Vec::new());
        image
            .write_to(&mut out, image::ImageFormat::Png)
            .expect("encode");
        Bytes::from(out.into_inner())
    }

    fn scripted_service(
        store: Arc<OnePhotoStore>,
        renderer: Arc<ScriptedRenderer>,
    ) -> Arc<PhotoService> {
        Arc::new(PhotoService::new(
            Arc::new(directory_with_me()),
            store,
            Arc::new(OneVersionCache::default()),
            renderer,
        ))
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    }

    /// Reads one size as Adele; the 48x48 JPEG's bytes.
    async fn read_size(svc: Arc<PhotoService>, size: &str) -> Result<Bytes, PhotoError> {
        let reader = delegated(&["User.Read"]);
        match svc.get_size(&reader, &Target::Me, size, None).await? {
            Freshness::Modified(view) => Ok(view.rendition.bytes),
            Freshness::NotModified(_) => panic!("no If-None-Match was sent"),
        }
    }

    /// Waits (bounded) until the renderer has been called `n` times.
    async fn renders_started(renderer: &ScriptedRenderer, n: usize) {
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while renderer.calls() < n {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the render started");
    }

    fn the_colour_of(jpeg: &[u8]) -> [u8; 3] {
        image::load_from_memory(jpeg)
            .expect("a rendition")
            .into_rgb8()
            .get_pixel(24, 24)
            .0
    }

    fn near(a: [u8; 3], b: [u8; 3]) -> bool {
        a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 16)
    }

    #[test]
    fn a_render_whose_readers_all_left_is_dropped_and_the_next_reader_gets_an_answer() {
        let store = Arc::new(OnePhotoStore(Mutex::new(None)));
        let etag = store.upload(coloured_png(100, [200, 10, 10]), 100);
        let renderer = Arc::new(ScriptedRenderer::default());
        // The first render never ends by itself: only dropping it ends it.
        let (_never_opened, hangs) = gate();
        renderer.then(hangs);
        let svc = scripted_service(store, Arc::clone(&renderer));
        runtime().block_on(async {
            let readers = futures::future::join(
                read_size(Arc::clone(&svc), "48x48"),
                read_size(Arc::clone(&svc), "96x96"),
            );
            let waited = tokio::time::timeout(std::time::Duration::from_millis(50), readers);
            assert!(waited.await.is_err(), "the first render should still run");
            // Both readers went away (the timeout dropped them).
            assert_eq!(renderer.calls(), 1);
            assert_eq!(renderer.abandoned(), 1, "the render's future is dropped");
            assert!(
                !lock(&svc.rendering).contains_key(&(key(ME), etag.clone())),
                "the abandoned job left its entry behind"
            );
            // A new reader starts a new render and gets its answer.
            let fresh = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                read_size(Arc::clone(&svc), "48x48"),
            )
            .await
            .expect("a new reader is answered");
            assert!(near(
                the_colour_of(&fresh.expect("rendered")),
                [200, 10, 10]
            ));
            assert_eq!(renderer.calls(), 2);
            assert!(lock(&svc.rendering).is_empty());
        });
    }

    #[test]
    fn a_failed_render_is_remembered_and_answered_at_once() {
        let store = Arc::new(OnePhotoStore(Mutex::new(None)));
        store.upload(coloured_png(100, [1, 2, 3]), 100);
        let renderer = Arc::new(ScriptedRenderer::default());
        let broken = RenderError::Decode("broken pixels".into());
        renderer.then(futures::future::ready(Err(broken.clone())).boxed());
        let svc = scripted_service(Arc::clone(&store), Arc::clone(&renderer));
        runtime().block_on(async {
            for size in ["48x48", "96x96", "48x48"] {
                let error = read_size(Arc::clone(&svc), size).await.unwrap_err();
                assert_eq!(error, PhotoError::RenditionFailed(broken.clone()));
            }
            assert_eq!(
                renderer.calls(),
                1,
                "a failed version is never rendered again"
            );

            // A renderer that could not run says nothing about the image: 503, and the next
            // reader renders.
            store.upload(coloured_png(100, [4, 5, 6]), 100);
            renderer
                .then(futures::future::ready(Err(RenderError::Unavailable("x".into()))).boxed());
            let error = read_size(Arc::clone(&svc), "48x48").await.unwrap_err();
            assert_eq!(error, PhotoError::Unavailable("x".into()));
            assert!(read_size(Arc::clone(&svc), "48x48").await.is_ok());
            assert_eq!(renderer.calls(), 3);
        });
    }

    #[test]
    fn an_old_version_finishing_after_a_new_upload_does_not_poison_the_new_one() {
        const OLD: [u8; 3] = [10, 10, 200];
        const NEW: [u8; 3] = [200, 10, 10];
        let store = Arc::new(OnePhotoStore(Mutex::new(None)));
        let old_tag = store.upload(coloured_png(100, OLD), 100);
        let renderer = Arc::new(ScriptedRenderer::default());
        let (open_old, old_gate) = gate();
        let (open_new, new_gate) = gate();
        renderer.then(old_gate);
        renderer.then(new_gate);
        let svc = scripted_service(Arc::clone(&store), Arc::clone(&renderer));
        runtime().block_on(async {
            let old_reader = tokio::spawn(read_size(Arc::clone(&svc), "48x48"));
            renders_started(&renderer, 1).await;
            let new_tag = store.upload(coloured_png(100, NEW), 100);
            let new_reader = tokio::spawn(read_size(Arc::clone(&svc), "48x48"));
            renders_started(&renderer, 2).await;

            // The new version finishes first, then the old one.
            open_new.send(Ok(())).expect("the new render waits");
            let new = new_reader.await.expect("joined").expect("rendered");
            assert!(near(the_colour_of(&new), NEW));
            assert!(lock(&svc.rendering).contains_key(&(key(ME), old_tag.clone())));
            assert!(!lock(&svc.rendering).contains_key(&(key(ME), new_tag.clone())));
            open_old.send(Ok(())).expect("the old render waits");
            let old = old_reader.await.expect("joined").expect("rendered");
            assert!(
                near(the_colour_of(&old), OLD),
                "a reader gets the version it read"
            );
            assert!(lock(&svc.rendering).is_empty());

            // The new version is still cached and still the new one.
            let again = read_size(Arc::clone(&svc), "48x48").await.expect("cached");
            assert!(near(the_colour_of(&again), NEW));
            assert_eq!(renderer.calls(), 2, "the new version was rendered once");
        });
    }
}
