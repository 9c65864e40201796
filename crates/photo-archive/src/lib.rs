//! Every photo of a [`PhotoStore`] to a plain folder and back (`graph-photo export` and
//! `import`), to move between stores (memory, SQLite, PostgreSQL) or to back one up. A use case
//! over the port, so it works with any store; the layout is documented in docs/STORES.md
//! ("Export folder").
//!
//! Import validates every photo again (a folder is input like any upload) and checks that its
//! content tag is the one in the manifest, so a damaged file is refused rather than stored.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use photo_core::etag::{ETag, Precondition};
use photo_core::format::ImageFormat;
use photo_core::ports::{PhotoKey, PhotoOwner, PhotoStore, StoreError, ValidatedPhoto};
use photo_core::principal::TenantId;
use serde::{Deserialize, Serialize};

/// The manifest's file name inside the export folder.
pub const MANIFEST: &str = "manifest.json";
/// What the manifest's `format` field says.
const FORMAT_NAME: &str = "graph-photo-export";
/// The layout version this build writes and reads.
const FORMAT_VERSION: u32 = 1;

/// The manifest: what each photo file is and whose photo it is.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always `graph-photo-export`.
    pub format: String,
    /// The layout version (1).
    pub version: u32,
    /// One entry per photo.
    pub photos: Vec<ManifestPhoto>,
}

/// One photo of the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ManifestPhoto {
    /// The tenant id.
    pub tenant: String,
    /// The owning object.
    pub owner: ManifestOwner,
    /// The file, relative to the folder (`photos/000001.jpg`).
    pub file: String,
    /// The image's media type (`image/jpeg`).
    pub content_type: String,
    /// Displayed width, in pixels.
    pub width: u32,
    /// Displayed height, in pixels.
    pub height: u32,
    /// The photo's ETag without quotes (content-derived: import checks it).
    pub etag: String,
}

/// The object a photo belongs to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ManifestOwner {
    /// A user's photo.
    User {
        /// The user's object id.
        id: String,
    },
    /// A group's photo.
    Group {
        /// The group's object id.
        id: String,
    },
    /// A contact's photo.
    Contact {
        /// The owning user's object id.
        user: String,
        /// The contact's id.
        id: String,
    },
}

impl ManifestOwner {
    fn of(owner: &PhotoOwner) -> Self {
        match owner {
            PhotoOwner::User(id) => Self::User { id: id.to_string() },
            PhotoOwner::Group(id) => Self::Group { id: id.to_string() },
            PhotoOwner::Contact { user, contact } => Self::Contact {
                user: user.to_string(),
                id: contact.to_string(),
            },
        }
    }

    fn to_owner(&self) -> PhotoOwner {
        match self {
            Self::User { id } => PhotoOwner::User(id.as_str().into()),
            Self::Group { id } => PhotoOwner::Group(id.as_str().into()),
            Self::Contact { user, id } => PhotoOwner::Contact {
                user: user.as_str().into(),
                contact: id.as_str().into(),
            },
        }
    }
}

/// Why an export or import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The store failed (nothing more is written to it).
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A file or folder could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
    /// Export goes into a new or empty folder only: it never mixes two exports.
    #[error("{0}: the export folder must be new or empty")]
    NotEmpty(PathBuf),
    /// The manifest is not one this build reads.
    #[error("{path}: {reason}")]
    BadManifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A photo file is not the photo the manifest describes.
    #[error("{file}: {reason}")]
    BadPhoto {
        /// The photo file, relative to the folder.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ArchiveError + '_ {
    move |error| ArchiveError::Io {
        path: path.to_owned(),
        error,
    }
}

fn extension(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "jpg",
        ImageFormat::Png => "png",
        ImageFormat::Gif => "gif",
        ImageFormat::Bmp => "bmp",
    }
}

/// Writes every photo of `store` into `dir` (created if missing; must be empty) and the
/// manifest last, so that a folder with a manifest is a complete export. Returns the number of
/// photos written. Photos deleted while the export runs are left out.
pub async fn export(store: &dyn PhotoStore, dir: &Path) -> Result<usize, ArchiveError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    if fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
        return Err(ArchiveError::NotEmpty(dir.to_owned()));
    }
    let photos_dir = dir.join("photos");
    fs::create_dir(&photos_dir).map_err(io(&photos_dir))?;
    let mut keys = store.keys().await?;
    // A stable order: two exports of the same store give the same manifest.
    keys.sort();
    let mut manifest = Manifest {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        photos: Vec::with_capacity(keys.len()),
    };
    for key in keys {
        let Some(photo) = store.get(&key).await? else {
            continue;
        };
        let file = format!(
            "photos/{:06}.{}",
            manifest.photos.len() + 1,
            extension(photo.format)
        );
        write_synced(&dir.join(&file), &photo.bytes)?;
        manifest.photos.push(ManifestPhoto {
            tenant: key.tenant.to_string(),
            owner: ManifestOwner::of(&key.owner),
            file,
            content_type: photo.format.content_type().into(),
            width: photo.width,
            height: photo.height,
            etag: photo.etag.opaque().into(),
        });
    }
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| ArchiveError::BadManifest {
        path: dir.join(MANIFEST),
        reason: e.to_string(),
    })?;
    // Written under a temporary name and renamed: the manifest appears whole or not at all.
    let partial = dir.join(format!("{MANIFEST}.partial"));
    write_synced(&partial, &json)?;
    let target = dir.join(MANIFEST);
    fs::rename(&partial, &target).map_err(io(&target))?;
    Ok(manifest.photos.len())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), ArchiveError> {
    let mut file = fs::File::create(path).map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

/// Reads the manifest of `dir`.
pub fn read_manifest(dir: &Path) -> Result<Manifest, ArchiveError> {
    let path = dir.join(MANIFEST);
    let text = fs::read(&path).map_err(io(&path))?;
    let bad = |reason: String| ArchiveError::BadManifest {
        path: path.clone(),
        reason,
    };
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
    if manifest.format != FORMAT_NAME {
        return Err(bad(format!(
            "not a graph-photo export (format is '{}')",
            manifest.format
        )));
    }
    if manifest.version != FORMAT_VERSION {
        return Err(bad(format!(
            "export layout version {} is not readable by this build (reads {FORMAT_VERSION})",
            manifest.version
        )));
    }
    Ok(manifest)
}

/// Stores every photo of the export in `dir` into `store`, replacing what is there under the
/// same keys. Every file is checked first (a valid photo, of the manifest's format, size and
/// tag); nothing is written unless all are good. Returns the number of photos stored.
pub async fn import(store: &dyn PhotoStore, dir: &Path) -> Result<usize, ArchiveError> {
    let manifest = read_manifest(dir)?;
    // Two passes, so that a bad file stops the import before anything is written, without
    // holding every photo in memory at once (an export may hold thousands of 4 MiB photos).
    for entry in &manifest.photos {
        check_photo(dir, entry)?;
    }
    for entry in &manifest.photos {
        let photo = check_photo(dir, entry)?;
        let key = PhotoKey {
            tenant: TenantId::new(&entry.tenant),
            owner: entry.owner.to_owner(),
        };
        store.put(&key, photo, &Precondition::None).await?;
    }
    Ok(manifest.photos.len())
}

fn check_photo(dir: &Path, entry: &ManifestPhoto) -> Result<ValidatedPhoto, ArchiveError> {
    let bad = |reason: String| ArchiveError::BadPhoto {
        file: entry.file.clone(),
        reason,
    };
    // The file must stay inside the folder: a manifest is input too.
    let relative = Path::new(&entry.file);
    if relative.is_absolute()
        || relative
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(bad(
            "the file must be a path inside the export folder".into()
        ));
    }
    let path = dir.join(relative);
    let bytes = fs::read(&path).map_err(io(&path))?;
    let photo = ValidatedPhoto::check(Bytes::from(bytes))
        .map_err(|e| bad(format!("not an acceptable photo: {e}")))?;
    // An export made before the tags became BLAKE3 holds SHA-256 tags: still a valid proof.
    if !ETag::new(entry.etag.as_str()).identifies(photo.bytes()) {
        return Err(bad(format!(
            "its content has tag {} but the manifest says \"{}\": the file changed since the export",
            photo.etag(),
            entry.etag
        )));
    }
    if photo.format().content_type() != entry.content_type
        || (photo.width(), photo.height()) != (entry.width, entry.height)
    {
        return Err(bad(format!(
            "it is a {} {}x{} image but the manifest says {} {}x{}",
            photo.format().content_type(),
            photo.width(),
            photo.height(),
            entry.content_type,
            entry.width,
            entry.height
        )));
    }
    Ok(photo)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use adapter_memstore::MemPhotoStore;

    fn png(seed: u8) -> Vec<u8> {
        let image = image::RgbImage::from_fn(20, 10, |x, y| image::Rgb([seed, x as u8, y as u8]));
        let mut out = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(image)
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
        out.into_inner()
    }

    fn key(owner: PhotoOwner) -> PhotoKey {
        PhotoKey {
            tenant: TenantId::new("t1"),
            owner,
        }
    }

    async fn store_with_photos() -> (MemPhotoStore, Vec<(PhotoKey, Vec<u8>)>) {
        let store = MemPhotoStore::new();
        let photos = vec![
            (key(PhotoOwner::User("u1".into())), png(1)),
            (key(PhotoOwner::Group("g1".into())), png(2)),
            (
                key(PhotoOwner::Contact {
                    user: "u1".into(),
                    contact: "AAMk/c+1=".into(),
                }),
                png(3),
            ),
        ];
        for (k, bytes) in &photos {
            let photo = ValidatedPhoto::check(Bytes::from(bytes.clone())).unwrap();
            store.put(k, photo, &Precondition::None).await.unwrap();
        }
        (store, photos)
    }

    #[tokio::test]
    async fn a_round_trip_keeps_keys_bytes_and_tags() {
        let (from, photos) = store_with_photos().await;
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("export");
        assert_eq!(export(&from, &folder).await.unwrap(), 3);
        assert!(!folder.join(format!("{MANIFEST}.partial")).exists());
        let to = MemPhotoStore::new();
        assert_eq!(import(&to, &folder).await.unwrap(), 3);
        for (k, bytes) in photos {
            let (a, b) = (
                from.get(&k).await.unwrap().unwrap(),
                to.get(&k).await.unwrap(),
            );
            let b = b.unwrap();
            assert_eq!(b.bytes, bytes);
            assert_eq!((a.etag, a.format, a.width), (b.etag, b.format, b.width));
        }
        // Importing again leaves the same photos.
        assert_eq!(import(&to, &folder).await.unwrap(), 3);
        assert_eq!(to.len(), 3);
        // A second export into the same folder is refused.
        assert!(matches!(
            export(&from, &folder).await,
            Err(ArchiveError::NotEmpty(_))
        ));
    }

    #[tokio::test]
    async fn a_bad_file_stops_the_import_before_anything_is_written() {
        let (from, _) = store_with_photos().await;
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("export");
        export(&from, &folder).await.unwrap();
        let manifest = read_manifest(&folder).unwrap();
        // The last file is the one changed: the earlier ones must not be written either.
        let last = &manifest.photos[2].file;
        fs::write(folder.join(last), png(99)).unwrap();
        let to = MemPhotoStore::new();
        let error = import(&to, &folder).await.unwrap_err().to_string();
        assert!(
            error.contains(last.as_str()) && error.contains("manifest"),
            "{error}"
        );
        assert!(to.is_empty());
        // Not an image at all.
        fs::write(folder.join(last), b"not a photo").unwrap();
        let error = import(&to, &folder).await.unwrap_err().to_string();
        assert!(error.contains("not an acceptable photo"), "{error}");
        assert!(to.is_empty());
    }

    #[tokio::test]
    async fn an_export_with_the_older_sha256_tags_still_imports() {
        use sha2::Digest as _;
        let (from, photos) = store_with_photos().await;
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("export");
        export(&from, &folder).await.unwrap();
        let mut manifest = read_manifest(&folder).unwrap();
        for entry in &mut manifest.photos {
            let bytes = fs::read(folder.join(&entry.file)).unwrap();
            entry.etag = hex::encode_upper(&sha2::Sha256::digest(&bytes)[..8]);
        }
        let text = serde_json::to_string_pretty(&manifest).unwrap();
        fs::write(folder.join(MANIFEST), text).unwrap();
        let to = MemPhotoStore::new();
        assert_eq!(import(&to, &folder).await.unwrap(), photos.len());
        // A SHA-256 tag of other bytes is still refused.
        manifest.photos[0].etag = hex::encode_upper(&sha2::Sha256::digest(b"other")[..8]);
        let text = serde_json::to_string_pretty(&manifest).unwrap();
        fs::write(folder.join(MANIFEST), text).unwrap();
        let error = import(&MemPhotoStore::new(), &folder).await.unwrap_err();
        assert!(error.to_string().contains("manifest"), "{error}");
    }

    #[tokio::test]
    async fn a_manifest_cannot_point_outside_its_folder_or_be_from_elsewhere() {
        let (from, _) = store_with_photos().await;
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("export");
        export(&from, &folder).await.unwrap();
        let path = folder.join(MANIFEST);
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.replacen("photos/000001", "../../etc/000001", 1)).unwrap();
        let to = MemPhotoStore::new();
        let error = import(&to, &folder).await.unwrap_err().to_string();
        assert!(error.contains("inside the export folder"), "{error}");
        fs::write(&path, text.replace("\"version\": 1", "\"version\": 2")).unwrap();
        let error = import(&to, &folder).await.unwrap_err().to_string();
        assert!(error.contains("version 2"), "{error}");
        fs::write(&path, text.replace("graph-photo-export", "something-else")).unwrap();
        let error = import(&to, &folder).await.unwrap_err().to_string();
        assert!(error.contains("not a graph-photo export"), "{error}");
        assert!(to.is_empty());
    }
}
