//! Wiring: the `graph-photo` binary's subcommands put the adapters together around the core.
//! No business rule lives here.

pub mod archive_cmd;
pub mod cli;
pub mod conformance_cmd;
pub mod photo_cmd;
pub mod serve;
pub mod store;
pub mod sync_cmd;
pub mod token;

use std::path::PathBuf;

/// Where the development signing key and the default SQLite store live: stable across
/// restarts so that tokens minted earlier keep working and photos stay.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("graph-photo");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".local/share/graph-photo");
    }
    PathBuf::from(".graph-photo")
}

/// Why a subcommand failed; printed to the user as is.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Directory(#[from] adapter_memstore::DirectoryDataError),
    #[error("development key: {0}")]
    DevKey(#[from] dev_tokens::DevKeyError),
    #[error("authentication setup: {0}")]
    AuthSetup(#[from] adapter_http_server::auth::AuthSetupError),
    #[error("cannot listen on {addr}: {error}")]
    Listen { addr: String, error: std::io::Error },
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error("{0}")]
    Usage(String),
    /// A Graph call failed: `code: message (request-id ...)`.
    #[error("{0}")]
    Client(Box<adapter_graph_client::ClientError>),
    #[error("{0}")]
    Fit(#[from] photo_upload::fit::FitError),
    #[error("{0}")]
    Sync(#[from] photo_upload::sync::SyncError),
    #[error("{failed} of {total} uploads failed")]
    SyncFailed { failed: usize, total: usize },
    /// Every upload went through, but the state file could not record them all.
    #[error("{0}")]
    SyncState(String),
    /// The store could not be opened: the adapter's one line, naming the file or the URL
    /// (password masked).
    #[error("{0}")]
    Store(String),
    #[error("{0}")]
    Archive(#[from] photo_archive::ArchiveError),
}

impl From<adapter_graph_client::ClientError> for AppError {
    fn from(error: adapter_graph_client::ClientError) -> Self {
        AppError::Client(Box::new(error))
    }
}
