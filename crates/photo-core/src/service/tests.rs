use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use super::*;
use crate::ids::{ObjectId, UserRef};
use crate::ports::{
    AccountKind, MockDirectory, MockPhotoStore, MockRenditionCache, PhotoOwner, ValidatedPhoto,
};
use crate::principal::{ApplicationPrincipal, DelegatedPrincipal, Scope, TenantId};
use crate::renditions::{RenditionFormat, SizeId};
use crate::target::Owner;
use crate::validation::ImageFormat;

const TENANT: &str = "t1";
const ME: &str = "me-id";

fn delegated(scopes: &[&str]) -> Principal {
    delegated_with_roles(scopes, &[])
}

fn delegated_with_roles(scopes: &[&str], roles: &[&str]) -> Principal {
    Principal::Delegated(DelegatedPrincipal {
        tenant: TenantId::new(TENANT),
        user_id: ME.into(),
        scopes: scopes.iter().map(|s| Scope::from(*s)).collect(),
        directory_roles: roles.iter().map(|r| (*r).to_owned()).collect(),
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

const OTHER: &str = "other-id";
const OTHER_UPN: &str = "Other@t1.example";
const MY_CONTACT: &str = "my-contact";
const MY_FOLDER: &str = "my-folder";

/// A small directory: the caller (`ME`), another user (`OTHER`, also by UPN), the caller's
/// contact in the caller's folder; nothing else exists. Ids compare case-insensitively.
fn fake_lookup(query: &DirectoryQuery) -> Result<DirectoryEntry, DirectoryError> {
    let user = |user: &UserRef| match user.as_str() {
        u if u.eq_ignore_ascii_case(ME) => Ok(ObjectId::new(ME)),
        u if u.eq_ignore_ascii_case(OTHER) || u.eq_ignore_ascii_case(OTHER_UPN) => {
            Ok(ObjectId::new(OTHER))
        }
        _ => Err(DirectoryError::UserNotFound(user.clone())),
    };
    match query {
        DirectoryQuery::User(u) => Ok(entry(user(u)?.as_str())),
        DirectoryQuery::Group(g) => Err(DirectoryError::GroupNotFound(g.clone())),
        DirectoryQuery::Contact {
            owner,
            folder,
            contact,
        } => {
            let owner = user(owner)?;
            let mine = owner == ME;
            if folder.as_ref().is_some_and(|f| !(mine && f == MY_FOLDER)) {
                return Err(DirectoryError::ContactFolderNotFound {
                    owner,
                    folder: folder.clone().unwrap_or_default(),
                });
            }
            if !(mine && contact == MY_CONTACT) {
                return Err(DirectoryError::ContactNotFound {
                    owner,
                    contact: contact.clone(),
                });
            }
            Ok(DirectoryEntry {
                key: PhotoKey {
                    tenant: TenantId::new(TENANT),
                    owner: PhotoOwner::Contact {
                        user: owner,
                        contact: contact.as_str().into(),
                    },
                },
                account: AccountKind::WorkOrSchool,
            })
        }
    }
}

/// [`fake_lookup`] as a mock, any number of calls.
fn directory_with_me() -> MockDirectory {
    let mut dir = MockDirectory::new();
    dir.expect_lookup().returning(|_, query| fake_lookup(query));
    dir
}

/// [`fake_lookup`] as a mock that must be asked exactly once (checked when it is dropped).
fn directory_asked_once() -> MockDirectory {
    let mut dir = MockDirectory::new();
    dir.expect_lookup()
        .times(1)
        .returning(|_, query| fake_lookup(query));
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
                && *photo.bytes() == expected
                && photo.width() == 60
                && *photo.etag() == ETag::for_content(&expected)
                && *cond == Precondition::None
        })
        .times(1)
        .returning(|_, photo, _| Ok(StoredPhoto::from(photo)));
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

fn contact(owner: Owner, folder: Option<&str>, id: &str) -> Target {
    Target::Contact {
        owner,
        folder: folder.map(str::to_owned),
        id: id.to_owned(),
    }
}

/// The answer to a read of `target` by `principal`, from a service whose directory must be
/// asked exactly once, with a store that holds no photo.
fn read_once(principal: &Principal, target: &Target) -> Result<(), PhotoError> {
    let mut store = MockPhotoStore::new();
    store.expect_get().returning(|_| Ok(None));
    let svc = service(directory_asked_once(), store);
    block_on(svc.get_photo(principal, target, None)).map(|_| ())
}

/// The same, for the first half of an update.
fn write_once(principal: &Principal, target: &Target) -> Result<(), PhotoError> {
    let svc = service(directory_asked_once(), MockPhotoStore::new());
    block_on(svc.begin_update(principal, ApiVersion::V1, target, None)).map(|_| ())
}

fn is_denied(result: &Result<(), PhotoError>) -> bool {
    matches!(result, Err(PhotoError::AccessDenied(_)))
}

#[test]
fn an_id_that_does_not_exist_gets_the_same_403_as_another_users() {
    let p = delegated(&["User.ReadWrite"]);
    let ghost = write_once(&p, &Target::User("ghost".into()));
    let other = write_once(&p, &Target::User(OTHER_UPN.into()));
    assert!(is_denied(&ghost), "{ghost:?}");
    assert_eq!(ghost, other);
    // With the rights for another user, the same ids are told apart: 404, then success.
    let admin = delegated_with_roles(
        &["User.ReadWrite.All"],
        &[crate::principal::USER_ADMINISTRATOR],
    );
    assert_eq!(
        write_once(&admin, &Target::User("ghost".into())),
        Err(PhotoError::ResourceNotFound("ghost".into()))
    );
    assert_eq!(write_once(&admin, &Target::User(OTHER.into())), Ok(()));
}

#[test]
fn the_caller_named_by_id_in_any_case_is_me() {
    // User.ReadWrite allows a write to me only: no directory role needed.
    let p = delegated(&["User.ReadWrite"]);
    for id in [ME, "ME-ID", "Me-Id"] {
        assert_eq!(write_once(&p, &Target::User(id.into())), Ok(()), "{id}");
    }
}

#[test]
fn a_missing_contact_of_the_caller_is_404_and_of_another_user_403() {
    let p = delegated(&["Contacts.ReadWrite"]);
    let mine = |folder| contact(Owner::User(ME.to_uppercase()), folder, "missing");
    let theirs = |folder| contact(Owner::User(OTHER_UPN.into()), folder, MY_CONTACT);
    assert_eq!(read_once(&p, &mine(None)), Err(PhotoError::ItemNotFound));
    assert_eq!(
        read_once(&p, &mine(Some("nope"))),
        Err(PhotoError::ItemNotFound)
    );
    assert_eq!(
        read_once(&p, &contact(Owner::Me, Some("nope"), MY_CONTACT)),
        Err(PhotoError::ItemNotFound)
    );
    // Found or not, another user's contacts are closed to delegated tokens (spec D4/D5).
    for target in [
        theirs(None),
        theirs(Some(MY_FOLDER)),
        contact(Owner::User("ghost".into()), None, MY_CONTACT),
    ] {
        let answer = read_once(&p, &target);
        assert!(is_denied(&answer), "{target:?}: {answer:?}");
    }
    // The caller's own contacts need a contacts permission, found or not.
    let no_contacts = delegated(&["User.Read"]);
    for target in [
        mine(None),
        contact(Owner::User(ME.into()), None, MY_CONTACT),
    ] {
        let answer = read_once(&no_contacts, &target);
        assert!(is_denied(&answer), "{target:?}: {answer:?}");
    }
    assert!(matches!(
        read_once(
            &p,
            &contact(Owner::User(ME.into()), Some(MY_FOLDER), MY_CONTACT)
        ),
        Err(PhotoError::PhotoNotFound)
    ));
}

#[test]
fn an_application_names_no_caller_and_is_told_404_after_authorization() {
    let reader = app(&["Contacts.Read", "User.Read.All", "Group.Read.All"]);
    assert_eq!(
        read_once(&reader, &contact(Owner::User("ghost".into()), None, "c")),
        Err(PhotoError::ResourceNotFound("ghost".into()))
    );
    assert_eq!(
        read_once(&reader, &contact(Owner::User(OTHER.into()), None, "c")),
        Err(PhotoError::ItemNotFound)
    );
    assert_eq!(
        read_once(&reader, &Target::Group("g".into())),
        Err(PhotoError::ResourceNotFound("g".into()))
    );
}

#[test]
fn denial_comes_before_the_lookup_when_the_path_tells_the_kind() {
    for (principal, target) in [
        (app(&[]), Target::User("ghost".into())),
        (app(&[]), contact(Owner::User("ghost".into()), None, "c")),
        (delegated(&["User.Read"]), Target::Group("ghost".into())),
        (delegated(&["User.Read"]), contact(Owner::Me, None, "c")),
        (delegated(&[]), Target::Me),
    ] {
        let mut dir = MockDirectory::new();
        dir.expect_lookup().never();
        let svc = service(dir, MockPhotoStore::new());
        let err = block_on(svc.get_photo(&principal, &target, None)).unwrap_err();
        assert!(matches!(err, PhotoError::AccessDenied(_)), "{err:?}");
    }
}

#[test]
fn me_reaches_the_directory_as_the_callers_object_id() {
    for (target, expected) in [
        (Target::Me, DirectoryQuery::User(ME.into())),
        (
            contact(Owner::Me, Some(MY_FOLDER), MY_CONTACT),
            DirectoryQuery::Contact {
                owner: ME.into(),
                folder: Some(MY_FOLDER.into()),
                contact: MY_CONTACT.into(),
            },
        ),
    ] {
        let mut dir = MockDirectory::new();
        dir.expect_lookup()
            .withf(move |tenant, query| tenant.as_str() == TENANT && *query == expected)
            .times(1)
            .returning(|_, query| fake_lookup(query));
        let mut store = MockPhotoStore::new();
        store.expect_get().returning(|_| Ok(None));
        let svc = service(dir, store);
        let p = delegated(&["User.Read", "Contacts.Read"]);
        let err = block_on(svc.get_photo(&p, &target, None)).unwrap_err();
        assert_eq!(err, PhotoError::PhotoNotFound);
    }
}

#[test]
fn every_operation_asks_the_directory_once() {
    let p = delegated(&["User.ReadWrite", "Contacts.ReadWrite"]);
    for target in [
        Target::Me,
        Target::User(ME.into()),
        Target::User(OTHER.into()),
        Target::User("ghost".into()),
        contact(Owner::User(ME.into()), None, MY_CONTACT),
        contact(Owner::User(OTHER.into()), None, MY_CONTACT),
    ] {
        let _ = read_once(&p, &target);
        let _ = write_once(&p, &target);
        let mut store = MockPhotoStore::new();
        store.expect_get().returning(|_| Ok(None));
        let svc = service(directory_asked_once(), store);
        let _ = block_on(svc.list_sizes(&p, &target));
        let mut store = MockPhotoStore::new();
        store.expect_delete().returning(|_, _| Ok(()));
        let svc = service(directory_asked_once(), store);
        let _ = block_on(svc.delete(&p, &target, None));
    }
}

#[test]
fn an_unavailable_directory_is_503_even_before_authorization() {
    for target in [Target::User("anyone".into()), Target::Me] {
        let mut dir = MockDirectory::new();
        dir.expect_lookup()
            .times(1)
            .returning(|_, _| Err(DirectoryError::Unavailable("down".into())));
        let svc = service(dir, MockPhotoStore::new());
        // No permission at all: a 403 if the directory had answered.
        let err = block_on(svc.get_photo(&delegated(&["User.Read"]), &target, None));
        assert_eq!(
            err.unwrap_err(),
            PhotoError::Unavailable("down".into()),
            "{target:?}"
        );
    }
}

#[test]
fn application_tokens_on_me_are_bad_requests() {
    let mut dir = MockDirectory::new();
    dir.expect_lookup().never();
    let svc = service(dir, MockPhotoStore::new());
    let err = block_on(svc.get_photo(&app(&["User.Read.All"]), &Target::Me, None)).unwrap_err();
    assert_eq!(err, PhotoError::NoSignedInUser);
    let err = block_on(svc.get_photo(
        &app(&["Contacts.Read"]),
        &contact(Owner::Me, None, "c"),
        None,
    ))
    .unwrap_err();
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
    dir.expect_lookup().returning(|_, _| {
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
        let err = block_on(svc.update(&p, ApiVersion::V1, &Target::Me, None, body)).unwrap_err();
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
    let err = block_on(svc.get_photo(&delegated(&["User.Read"]), &Target::Me, None)).unwrap_err();
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
        &SizeId::new("48X48"),
        Some(&cond),
    ))
    .unwrap();
    assert!(matches!(got, Freshness::NotModified(tag) if tag == etag));
    let err = block_on(svc.get_size(
        &delegated(&["User.Read"]),
        &Target::Me,
        &SizeId::new("648x648"),
        None,
    ))
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
    let (small, larger) = (SizeId::new("48x48"), SizeId::new("96x96"));
    let results = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(async {
            futures::future::join_all((0..8).map(|i| {
                let size = if i % 2 == 0 { &small } else { &larger };
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
        _: ValidatedPhoto,
        _: &Precondition,
    ) -> Result<StoredPhoto, StoreError> {
        Err(StoreError::Unavailable("read-only".into()))
    }
    async fn delete(&self, _: &PhotoKey, _: &Precondition) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("read-only".into()))
    }
    async fn keys(&self) -> Result<Vec<PhotoKey>, StoreError> {
        Ok(Vec::new())
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
    match svc
        .get_size(&reader, &Target::Me, &SizeId::new(size), None)
        .await?
    {
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
        renderer.then(futures::future::ready(Err(RenderError::Unavailable("x".into()))).boxed());
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
