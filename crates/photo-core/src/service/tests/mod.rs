//! Unit tests of the use cases over mock and hand-written ports, by area.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use super::*;
use crate::ids::{ObjectId, UserRef};
use crate::ports::{
    AccountKind, MockDirectory, MockPhotoStore, MockRenditionCache, PhotoOwner, ValidatedPhoto,
};
use crate::principal::{ApplicationPrincipal, DelegatedPrincipal, Scope, TenantId};
use crate::renditions::{RenditionFormat, SizeId};
use crate::target::ContactOwner;
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

fn contact(owner: ContactOwner, folder: Option<&str>, id: &str) -> Target {
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

mod directory;
mod reads;
mod render_jobs;
mod updates;
