//! [`CommitWatch`]: whether anyone committed to the file since a moment, without asking
//! SQLite.
//!
//! In WAL mode every connection to the file, in any process, shares the WAL index: the
//! `-shm` file next to the database, whose header SQLite rewrites on every commit (the last
//! frame, page count, salts and checksums change; <https://www.sqlite.org/walformat.html>,
//! a format every SQLite version sharing a file must agree on). Reading those bytes is one
//! `pread` from the page cache, against a trip to the connection's worker thread for any
//! statement: it lets the hot cache serve a photo validated earlier as long as nothing at
//! all was committed since.
//!
//! The header is kept twice; SQLite writes the second copy, then the first, and readers
//! trust it only when both agree. So does [`CommitWatch::stamp`]: any doubt (copies differ,
//! not initialised, unknown version, read error) is "unknown", and the caller asks the
//! database.
//!
//! Two things keep the file we read the one SQLite uses: the store holds a connection open
//! for its whole life (SQLite removes or reinitialises `-shm` only when the last connection
//! closes or the first one opens), and the watch is enabled only after a commit made at open
//! was seen to change what it reads.

use std::fs::File;
use std::path::Path;

/// One state of the WAL index header: equal stamps, no commit in between.
pub(crate) type Stamp = [u8; HEADER];

/// Bytes of one copy of the WAL index header.
const HEADER: usize = 48;
/// `iVersion`, the WAL index format this reads.
const WAL_INDEX_VERSION: u32 = 3_007_000;

pub(crate) struct CommitWatch {
    shm: File,
}

impl CommitWatch {
    /// The watch over the database at `path`, or `None` where there is none to read.
    pub(crate) fn open(path: &Path) -> Option<Self> {
        // SQLite names the index after the database's full path, symbolic links resolved.
        let mut shm = std::fs::canonicalize(path).ok()?.into_os_string();
        shm.push("-shm");
        Some(Self {
            shm: File::open(shm).ok()?,
        })
    }

    /// The current header, or `None` when it cannot be trusted.
    #[cfg(unix)]
    pub(crate) fn stamp(&self) -> Option<Stamp> {
        use std::os::unix::fs::FileExt;
        let mut both = [0u8; 2 * HEADER];
        self.shm.read_exact_at(&mut both, 0).ok()?;
        let (first, second) = both.split_at(HEADER);
        let version = u32::from_ne_bytes(first[..4].try_into().ok()?);
        let initialised = first[12] == 1;
        if first != second || version != WAL_INDEX_VERSION || !initialised {
            return None;
        }
        first.try_into().ok()
    }

    /// Elsewhere the hot cache validates every read with the database.
    #[cfg(not(unix))]
    pub(crate) fn stamp(&self) -> Option<Stamp> {
        None
    }
}
