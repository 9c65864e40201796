//! Wiring: the `graph-photo` binary's subcommands put the adapters together around the core.
//! No business rule lives here.

pub mod archive_cmd;
pub mod cli;
pub mod conformance_cmd;
pub mod photo_cmd;
pub mod serve;
pub mod store;
pub mod sync_cmd;
pub mod telemetry;
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
    /// The conformance suite found the endpoint breaking rules (the report says which).
    #[error("{0} conformance failure(s)")]
    ConformanceFailed(usize),
}

/// Exit statuses by class of failure, so that a script can tell them apart (README, "Exit
/// codes"). clap's own usage errors exit with 2 as well.
pub mod exit {
    /// Any failure without a class of its own.
    pub const FAILURE: u8 = 1;
    /// Bad arguments or input: a file that is not what it should be, a bad option value.
    pub const USAGE: u8 = 2;
    /// No token, or the server refused it or its permissions (401, 403).
    pub const AUTH: u8 = 3;
    /// The target, or its photo, does not exist (404).
    pub const NOT_FOUND: u8 = 4;
    /// A precondition failed (412: the photo changed since its ETag was read).
    pub const PRECONDITION: u8 = 5;
    /// Throttled or unavailable (429, 503, 504) until the retries ran out.
    pub const THROTTLED: u8 = 6;
    /// The server could not be reached (connection refused or reset, DNS, TLS, timeout).
    pub const UNREACHABLE: u8 = 7;
}

impl AppError {
    /// The process's exit status for this failure (see [`exit`]).
    pub fn exit_code(&self) -> u8 {
        use adapter_graph_client::ClientError;
        fn client(error: &ClientError) -> u8 {
            match error {
                ClientError::GaveUp { last, .. } => client(last),
                ClientError::Transport(_) => exit::UNREACHABLE,
                ClientError::Token(_) => exit::AUTH,
                ClientError::Config(_) => exit::USAGE,
                ClientError::Graph(graph) => match graph.status {
                    401 | 403 => exit::AUTH,
                    404 => exit::NOT_FOUND,
                    412 => exit::PRECONDITION,
                    429 | 503 | 504 => exit::THROTTLED,
                    400 | 413 | 415 => exit::USAGE,
                    _ => exit::FAILURE,
                },
                ClientError::InvalidResponse(_) | ClientError::Io(_) => exit::FAILURE,
            }
        }
        match self {
            AppError::Usage(_) | AppError::Directory(_) | AppError::Fit(_) => exit::USAGE,
            AppError::Client(error) => client(error),
            _ => exit::FAILURE,
        }
    }
}

impl From<adapter_graph_client::ClientError> for AppError {
    fn from(error: adapter_graph_client::ClientError) -> Self {
        AppError::Client(Box::new(error))
    }
}
