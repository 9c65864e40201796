//! The state file: what earlier runs uploaded, so that a re-run skips it.
//!
//! On disk it is two files. The **snapshot** (`<state>`, JSON, written whole and atomically)
//! and its **journal** (`<state>.journal`, JSON lines appended during a run, see
//! [`super::journal`]). A run appends one line per upload, in batches, so recording an upload
//! costs the same whether the state holds ten targets or a hundred thousand; at its end the run
//! folds the journal into a new snapshot and removes the journal. Loading reads the snapshot and
//! replays its journal, so a run that was killed loses at most its last unflushed batch: those
//! photos are uploaded again by the next run, never skipped without having been uploaded.
//!
//! A journal belongs to one snapshot: its first line names the snapshot's `generation` (a new
//! one at each write of the snapshot). A journal whose first line names another generation, or
//! whose snapshot is missing, is stale and ignored; this is what makes each step of a snapshot
//! rewrite safe to interrupt, and a deleted snapshot mean "upload everything again".

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use photo_core::target::Target;
use serde::{Deserialize, Serialize};

use super::SyncError;

/// The state file's usual name, in the folder of the photos (`graph-photo sync` uses it unless
/// `--state` names another file).
pub const DEFAULT_STATE_FILE: &str = ".graph-photo-sync.json";
/// The state format this crate writes: 2, a snapshot with a `generation` and a journal beside
/// it. It also reads version 1 (a snapshot alone, rewritten whole after each upload).
pub const STATE_VERSION: u32 = 2;
/// The oldest state format this crate reads.
pub const OLDEST_STATE_VERSION: u32 = 1;

/// What earlier runs uploaded: per API root, per target (its canonical path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    /// [`STATE_VERSION`] (or [`OLDEST_STATE_VERSION`] as read from an old file).
    pub version: u32,
    /// Which journal belongs to this snapshot (its first line names it); 0 when the snapshot
    /// has never been written by this version, so that no journal belongs to it.
    #[serde(default)]
    pub generation: u64,
    /// API root (e.g. `https://graph.microsoft.com/v1.0`) -> target path -> its last upload.
    #[serde(default)]
    pub servers: BTreeMap<String, BTreeMap<String, UploadRecord>>,
}

impl Default for SyncState {
    fn default() -> Self {
        SyncState {
            version: STATE_VERSION,
            generation: 0,
            servers: BTreeMap::new(),
        }
    }
}

/// One successful upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// The file, as named in the map.
    pub file: String,
    /// SHA-256 (hex) of the file's content: what a re-run compares.
    pub sha256: String,
    /// SHA-256 of what was sent, when `--fit` re-encoded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_sha256: Option<String>,
    /// The ETag the server gave the photo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// The first line of a journal: which snapshot it continues.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct JournalHeader {
    pub(crate) graph_photo_sync_journal: u32,
    pub(crate) generation: u64,
}

/// Every other line of a journal: one upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JournalEntry {
    pub(crate) server: String,
    pub(crate) target: String,
    #[serde(flatten)]
    pub(crate) record: UploadRecord,
}

/// The journal that goes with the state file at `path`: `<path>.journal`.
pub fn journal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

impl SyncState {
    /// The state at `path`: the snapshot, then the records of its journal (a torn or unreadable
    /// line, as a crash in the middle of an append leaves, is skipped). No snapshot yet is an
    /// empty state.
    pub fn load(path: &Path) -> Result<SyncState, SyncError> {
        let read_error = |error| SyncError::ReadState {
            path: path.to_owned(),
            error,
        };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SyncState::default()),
            Err(error) => return Err(read_error(error)),
        };
        let mut state: SyncState =
            serde_json::from_slice(&bytes).map_err(|error| SyncError::CorruptState {
                path: path.to_owned(),
                error,
            })?;
        if !(OLDEST_STATE_VERSION..=STATE_VERSION).contains(&state.version) {
            return Err(SyncError::StateVersion {
                path: path.to_owned(),
                version: state.version,
            });
        }
        if state.version < STATE_VERSION {
            // Version 1 had no journal: whatever lies beside it is not its own.
            state.generation = 0;
        }
        if state.generation != 0 {
            let journal_path = journal_path(path);
            match std::fs::read(&journal_path) {
                Ok(journal) => state.replay(&journal),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(SyncError::ReadState {
                        path: journal_path,
                        error,
                    })
                }
            }
        }
        Ok(state)
    }

    /// Applies the records of `journal` when its header names this snapshot's generation.
    fn replay(&mut self, journal: &[u8]) {
        let mut lines = journal.split(|b| *b == b'\n');
        let header = lines
            .next()
            .and_then(|line| serde_json::from_slice::<JournalHeader>(line).ok());
        if header.is_none_or(|h| h.generation != self.generation) {
            return; // stale: it continues another snapshot
        }
        for line in lines {
            // A record is a whole JSON object: a line cut short or zero-filled by a crash does
            // not parse, so whatever parses is a record the run wrote in full.
            if let Ok(entry) = serde_json::from_slice::<JournalEntry>(line) {
                self.apply(entry);
            }
        }
    }

    pub(crate) fn apply(&mut self, entry: JournalEntry) {
        self.servers
            .entry(entry.server)
            .or_default()
            .insert(entry.target, entry.record);
    }

    /// Writes the whole state as a new snapshot (the current [`STATE_VERSION`], a new
    /// generation) atomically, then removes the journal beside it, whose records this state is
    /// expected to hold. Once the snapshot is written the journal is stale whether or not it
    /// could be removed (its header names the old generation), so only the snapshot's errors
    /// are errors.
    pub fn save(&mut self, path: &Path) -> std::io::Result<()> {
        self.write_snapshot(path)?;
        let _ = std::fs::remove_file(journal_path(path));
        Ok(())
    }

    /// Writes the snapshot under a new generation (journal left alone).
    pub(crate) fn write_snapshot(&mut self, path: &Path) -> std::io::Result<()> {
        self.version = STATE_VERSION;
        self.generation = next_generation(self.generation);
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomically(path, &json)
    }

    /// Whether `target` of `server` already got content hashing to `sha256`.
    pub fn is_current(&self, server: &str, target: &Target, sha256: &str) -> bool {
        self.servers
            .get(server)
            .and_then(|targets| targets.get(&target.path()))
            .is_some_and(|record| record.sha256 == sha256)
    }

    /// Remembers that `target` of `server` got `record` (replacing what it got before).
    pub fn record(&mut self, server: &str, target: &Target, record: UploadRecord) {
        self.servers
            .entry(server.to_owned())
            .or_default()
            .insert(target.path(), record);
    }
}

/// A generation that differs from `previous` and from the generations of other snapshots
/// written at other times (the clock in nanoseconds), so that a journal left from another
/// file is not taken for this one's.
fn next_generation(previous: u64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    now.max(previous.saturating_add(1)).max(1)
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so that
/// readers (and an interrupted run) see the old content or the new, never half of it. The
/// folder is synced after the rename (where the platform allows it), so that a step taken
/// after this returns is never on disk before it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path has no file name",
        )
    })?;
    let temp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    sync_dir(dir);
    Ok(())
}

/// Makes a rename or a new file in `dir` durable. Best effort: some platforms cannot open a
/// folder as a file, and there the rename is as durable as they make it.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
}
