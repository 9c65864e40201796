//! `graph-photo export` / `import`: open the store, run the archive use case, report.

use crate::cli::ArchiveArgs;
use crate::store::Stores;
use crate::{default_data_dir, AppError};
use photo_archive as archive;

async fn open(args: &ArchiveArgs) -> Result<Stores, AppError> {
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    // No renditions are read or written: no memory tier.
    Stores::open(args.store.url(&data_dir)?, 0).await
}

/// Exports every photo; returns the line to print.
pub async fn export(args: &ArchiveArgs) -> Result<String, AppError> {
    let stores = open(args).await?;
    let count = archive::export(&*stores.photos, &args.folder).await?;
    Ok(format!(
        "exported {count} photo(s) from {} to {}",
        stores.url,
        args.folder.display()
    ))
}

/// Imports every photo; returns the line to print.
pub async fn import(args: &ArchiveArgs) -> Result<String, AppError> {
    let stores = open(args).await?;
    let count = archive::import(&*stores.photos, &args.folder).await?;
    Ok(format!(
        "imported {count} photo(s) from {} into {}",
        args.folder.display(),
        stores.url
    ))
}
