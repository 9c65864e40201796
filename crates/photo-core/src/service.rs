//! The use cases: update, read, list sizes, delete, in the order of checks of spec D7.
//!
//! Routing (step 1), authentication (2) and the `Content-Length` limit (3) happen at the edge
//! before a use case is called; everything after that is here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared};

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
    Modified(T),
    NotModified(ETag),
}

/// The original photo and where it lives.
#[derive(Debug, Clone)]
pub struct PhotoView {
    pub entry: DirectoryEntry,
    pub photo: StoredPhoto,
}

/// One available size, as listed by `/photos`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeInfo {
    pub side: u32,
    pub etag: ETag,
}

#[derive(Debug, Clone)]
pub struct SizesView {
    pub entry: DirectoryEntry,
    /// Ascending; empty when there is no photo.
    pub sizes: Vec<SizeInfo>,
}

/// One rendered size.
#[derive(Debug, Clone)]
pub struct SizeView {
    pub entry: DirectoryEntry,
    pub etag: ETag,
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
    pub fn entry(&self) -> &DirectoryEntry {
        &self.entry
    }
}

type RenderJob = Shared<BoxFuture<'static, Result<Arc<RenditionSet>, RenderError>>>;

/// The profile-photo use cases over the ports.
pub struct PhotoService {
    directory: Arc<dyn Directory>,
    store: Arc<dyn PhotoStore>,
    cache: Arc<dyn RenditionCache>,
    renderer: Arc<dyn Renderer>,
    /// Renders under way, so concurrent first reads of a version share one render.
    rendering: Mutex<HashMap<(PhotoKey, ETag), RenderJob>>,
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
            rendering: Mutex::new(HashMap::new()),
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
    /// ask at the same time.
    async fn renditions(
        &self,
        key: &PhotoKey,
        photo: &StoredPhoto,
    ) -> Result<Arc<RenditionSet>, PhotoError> {
        if let Some(set) = self.cache.get(key, &photo.etag).await {
            return Ok(set);
        }
        let job_key = (key.clone(), photo.etag.clone());
        let job = lock(&self.rendering)
            .entry(job_key.clone())
            .or_insert_with(|| {
                let renderer = Arc::clone(&self.renderer);
                let cache = Arc::clone(&self.cache);
                let (key, etag, bytes) = (key.clone(), photo.etag.clone(), photo.bytes.clone());
                async move {
                    let set = Arc::new(renderer.render(bytes).await?);
                    cache.put(&key, &etag, Arc::clone(&set)).await;
                    Ok(set)
                }
                .boxed()
                .shared()
            })
            .clone();
        let result = job.await;
        lock(&self.rendering).remove(&job_key);
        result.map_err(PhotoError::RenditionFailed)
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
            Arc::new(crate::ports::InlineRenderer),
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
        let huge = Bytes::from(vec![0u8; crate::validation::MAX_PHOTO_BYTES + 1]);
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
            crate::renditions::render_all(&original)
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
}
