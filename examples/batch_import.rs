//! No HTTP at all: a batch job that imports a folder of photos with `PhotoService` directly,
//! into the SQLite store, and renders their sizes ahead of the first reader.
//!
//! Each file of the folder is named for the user whose photo it is (`AdeleV@contoso.onmicrosoft.com.jpg`).
//! The job acts as an application with `ProfilePhoto.ReadWrite.All`, so the same rules as an
//! upload through the API apply: the user must exist in the tenant, the image must be one Graph
//! accepts (JPEG, PNG, GIF or BMP, at most 4 MiB, spec B3-B5), and each photo is stored whole
//! or not at all. A file that breaks a rule is reported with Graph's own message and the job
//! goes on.
//!
//! ```text
//! cargo run -p graph-photo-examples --example batch_import                       # a demo folder
//! cargo run -p graph-photo-examples --example batch_import -- FOLDER photos.db   # your own
//! ```
//!
//! The users are the development tenant's (`MemDirectory::seeded`, the people
//! `graph-photo serve` knows out of the box); a host passes its own `Directory`. The database
//! is the one `graph-photo serve --store sqlite:photos.db` serves from.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use adapter_memstore::seed::CONTOSO_TENANT;
use adapter_memstore::MemDirectory;
use adapter_sqlite::{SqliteOptions, SqliteStore};
use bytes::Bytes;
use photo_core::principal::{ApplicationPrincipal, Principal, Scope, TenantId};
use photo_core::renditions::SizeId;
use photo_core::service::{Freshness, PhotoService};
use photo_core::target::{ApiVersion, Target};
use photo_render::{TokioRenderer, DEFAULT_RENDER_MEMORY};

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored, with the photo's ETag and the sizes rendered for it.
    Imported {
        /// The stored photo's ETag.
        etag: String,
        /// The sides rendered (48, 64, ...), smallest first.
        sizes: Vec<u32>,
    },
    /// Refused: Graph's message for it; nothing was written for this file.
    Refused(String),
}

/// The job's report: one line per file, in file-name order.
pub type Report = Vec<(PathBuf, Outcome)>;

/// Imports every file of `folder` into the SQLite database at `database`.
pub async fn import_folder(
    folder: &Path,
    database: &Path,
) -> Result<Report, Box<dyn std::error::Error>> {
    // The files to import, listed before the database is opened: a database kept in the same
    // folder (and its `-wal` and `-shm` files) is not a photo.
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|path| path.is_file() && !is_database_file(path, database));
    files.sort();

    let store = Arc::new(SqliteStore::open(database, SqliteOptions::default()).await?);
    // The SQLite store is also the rendition cache: sizes rendered here are served by
    // `graph-photo serve` over the same file without rendering again.
    let service = PhotoService::new(
        Arc::new(MemDirectory::seeded()),
        store.clone(),
        store.clone(),
        Arc::new(TokioRenderer::for_cores(DEFAULT_RENDER_MEMORY)),
    );
    let job = Principal::Application(ApplicationPrincipal {
        tenant: TenantId::new(CONTOSO_TENANT),
        app_id: "batch-import".into(),
        roles: vec![Scope::ProfilePhotoReadWriteAll],
    });

    let mut report = Report::new();
    for path in files {
        let outcome = import_one(&service, &job, &path).await;
        report.push((path, outcome));
    }
    // Everything acknowledged above is already durable (each put was fsynced); closing
    // checkpoints the write-ahead log so the file alone holds it.
    store.close().await;
    Ok(report)
}

/// Whether `path` is `database` or one of SQLite's files beside it (`-wal`, `-shm`).
fn is_database_file(path: &Path, database: &Path) -> bool {
    let canonical_dir = |p: &Path| match p.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::canonicalize(dir).ok(),
        _ => std::fs::canonicalize(".").ok(),
    };
    let (Some(name), Some(db_name)) = (path.file_name(), database.file_name()) else {
        return false;
    };
    name.to_string_lossy()
        .starts_with(&*db_name.to_string_lossy())
        && canonical_dir(path) == canonical_dir(database)
}

async fn import_one(service: &PhotoService, job: &Principal, path: &Path) -> Outcome {
    // The user is the file name without its extension: an object id or a userPrincipalName.
    let Some(user) = path.file_stem().and_then(|s| s.to_str()) else {
        return Outcome::Refused("the file name is not a user".into());
    };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => Bytes::from(bytes),
        Err(e) => return Outcome::Refused(format!("cannot read the file: {e}")),
    };
    let target = Target::User(user.to_owned());
    // Validation (format, size, integrity), the permission and directory checks, and the
    // write, exactly as `PUT /users/{user}/photo/$value` does them.
    let stored = match service
        .update(job, ApiVersion::V1, &target, None, bytes)
        .await
    {
        Ok(stored) => stored,
        Err(refused) => return Outcome::Refused(refused.to_string()),
    };
    // Render now rather than on the first reader's request. Asking for one size renders all
    // of them, once, and keeps them with this version of the photo.
    let sizes = match service.list_sizes(job, &target).await {
        Ok(view) => view.sizes.iter().map(|s| s.side).collect::<Vec<_>>(),
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    if let Some(&smallest) = sizes.first() {
        match service
            .get_size(job, &target, &SizeId::of(smallest), None)
            .await
        {
            Ok(Freshness::Modified(_)) | Ok(Freshness::NotModified(_)) => {}
            Err(e) => {
                return Outcome::Refused(format!("stored, but its sizes failed to render: {e}"))
            }
        }
    }
    Outcome::Imported {
        etag: stored.etag.to_string(),
        sizes,
    }
}

/// A folder as a person would hand one over: two good photos, one for a user who does not
/// exist, and one file that is not an image.
fn demo_folder(dir: &Path) -> std::io::Result<()> {
    let jpeg = |w: u32, h: u32| -> std::io::Result<Vec<u8>> {
        let picture = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        picture
            .write_to(&mut out, image::ImageFormat::Jpeg)
            .map_err(std::io::Error::other)?;
        Ok(out.into_inner())
    };
    std::fs::write(
        dir.join("AdeleV@contoso.onmicrosoft.com.jpg"),
        jpeg(640, 480)?,
    )?;
    std::fs::write(
        dir.join("MeganB@contoso.onmicrosoft.com.jpg"),
        jpeg(96, 96)?,
    )?;
    std::fs::write(
        dir.join("nobody@contoso.onmicrosoft.com.jpg"),
        jpeg(64, 64)?,
    )?;
    std::fs::write(
        dir.join("AlexW@contoso.onmicrosoft.com.txt"),
        b"not a photo",
    )?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let demo = tempfile::tempdir()?;
    let (folder, database) = match args.as_slice() {
        [folder, database] => (PathBuf::from(folder), PathBuf::from(database)),
        [] => {
            let folder = demo.path().join("photos");
            std::fs::create_dir(&folder)?;
            demo_folder(&folder)?;
            (folder, demo.path().join("photos.db"))
        }
        _ => return Err("usage: batch_import [FOLDER DATABASE]".into()),
    };
    let report = import_folder(&folder, &database).await?;
    let mut refused = 0;
    for (path, outcome) in &report {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        match outcome {
            Outcome::Imported { etag, sizes } => {
                println!("imported {name}: ETag {etag}, sizes {sizes:?}")
            }
            Outcome::Refused(why) => {
                refused += 1;
                println!("refused  {name}: {why}");
            }
        }
    }
    println!(
        "{} imported, {refused} refused, into {}{}",
        report.len() - refused,
        database.display(),
        if args.is_empty() {
            " (a demo: removed on exit)"
        } else {
            ""
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapter_memstore::seed::ADELE_ID;
    use photo_core::ports::{PhotoKey, PhotoOwner, PhotoStore, RenditionCache};

    #[tokio::test]
    async fn the_demo_folder_imports_what_graph_accepts_and_reports_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let photos = dir.path().join("in");
        std::fs::create_dir(&photos).unwrap();
        demo_folder(&photos).unwrap();
        let database = dir.path().join("photos.db");

        let report = import_folder(&photos, &database).await.unwrap();
        let by_name = |name: &str| {
            report
                .iter()
                .find(|(p, _)| p.file_name().unwrap() == name)
                .map(|(_, o)| o.clone())
                .unwrap()
        };
        match by_name("AdeleV@contoso.onmicrosoft.com.jpg") {
            Outcome::Imported { sizes, .. } => {
                assert_eq!(sizes, vec![48, 64, 96, 120, 240, 360, 432])
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            by_name("MeganB@contoso.onmicrosoft.com.jpg"),
            Outcome::Imported { .. }
        ));
        assert!(
            matches!(by_name("nobody@contoso.onmicrosoft.com.jpg"), Outcome::Refused(m) if m.contains("nobody"))
        );
        assert!(matches!(
            by_name("AlexW@contoso.onmicrosoft.com.txt"),
            Outcome::Refused(_)
        ));

        // Reopened, the database holds Adele's photo and its rendered sizes: what a server
        // over this file would serve without rendering.
        let store = SqliteStore::open(&database, SqliteOptions::default())
            .await
            .unwrap();
        let key = PhotoKey {
            tenant: TenantId::new(CONTOSO_TENANT),
            owner: PhotoOwner::User(ADELE_ID.into()),
        };
        let stored = PhotoStore::get(&store, &key).await.unwrap().unwrap();
        assert_eq!((stored.width, stored.height), (640, 480));
        assert_eq!(
            stored.bytes.as_ref(),
            std::fs::read(photos.join("AdeleV@contoso.onmicrosoft.com.jpg")).unwrap()
        );
        let sizes = RenditionCache::get(&store, &key, &stored.etag)
            .await
            .unwrap();
        assert!(sizes.get(48).is_some());
        // Nothing was written for the refused files.
        assert_eq!(store.keys().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_database_kept_in_the_folder_is_not_imported() {
        let dir = tempfile::tempdir().unwrap();
        demo_folder(dir.path()).unwrap();
        let database = dir.path().join("photos.db");
        let first = import_folder(dir.path(), &database).await.unwrap();
        let again = import_folder(dir.path(), &database).await.unwrap();
        assert_eq!(first.len(), 4);
        assert_eq!(
            again, first,
            "the second run sees the same four files, not the database"
        );
    }
}
