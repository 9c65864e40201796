//! Recording a run's uploads: an append-only journal beside the snapshot (the file layout and
//! why it is safe to interrupt are in [`super::state`]).
//!
//! The upload tasks never wait for the disk: [`Journal::record`] serialises one line and
//! pushes it under a lock held for a `Vec` push, O(1) whatever the size of the state. A
//! flusher task writes what is pending and fsyncs it on a blocking thread, after
//! [`FLUSH_RECORDS`] records or [`FLUSH_INTERVAL`], whichever comes first, so a crash loses at
//! most the records of about that much work (those photos are uploaded again by the next run).
//! [`Journal::finish`] flushes the rest and folds everything into a new snapshot.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use super::state::{journal_path, sync_dir, JournalEntry, JournalHeader, SyncState, STATE_VERSION};

/// Pending records that make the flusher write at once.
pub(crate) const FLUSH_RECORDS: usize = 512;
/// The longest a record waits to be written and fsynced.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_millis(250);

/// The run's recorder: upload tasks push to it; a flusher task writes.
pub(crate) struct Journal {
    shared: Arc<Shared>,
    writer: Arc<Mutex<Writer>>,
    flusher: Option<tokio::task::JoinHandle<()>>,
    state_path: PathBuf,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Notify,
}

#[derive(Default)]
struct Pending {
    /// Serialised lines not yet handed to the flusher.
    lines: Vec<u8>,
    /// How many records `lines` holds.
    count: usize,
    /// Every record of the run, for the snapshot written at its end.
    entries: Vec<JournalEntry>,
    /// No more records will come: the flusher writes what is left and stops.
    closed: bool,
}

/// The flusher's side: the journal file, and what it could not write yet.
struct Writer {
    state_path: PathBuf,
    /// The state as loaded, written as a new snapshot before the first append.
    loaded: Arc<SyncState>,
    /// The journal, once a first append needed it.
    file: Option<File>,
    /// Bytes of the journal known to be on disk; a failed append is cut back to this.
    durable_len: u64,
    /// Lines taken from [`Pending`] and not yet on disk (kept across a failed attempt).
    unwritten: Vec<u8>,
    /// The last write error, cleared by a successful flush.
    error: Option<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks leaves plain data (bytes, records): still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Journal {
    /// Starts the flusher for the state file at `state_path`, whose content is `loaded`.
    /// Nothing is written until the first record.
    pub(crate) fn start(state_path: PathBuf, loaded: Arc<SyncState>) -> Journal {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
        });
        let writer = Arc::new(Mutex::new(Writer {
            state_path: state_path.clone(),
            loaded,
            file: None,
            durable_len: 0,
            unwritten: Vec::new(),
            error: None,
        }));
        let flusher = tokio::spawn(flush_loop(Arc::clone(&shared), Arc::clone(&writer)));
        Journal {
            shared,
            writer,
            flusher: Some(flusher),
            state_path,
        }
    }

    /// Records one upload the server accepted. O(1): one line serialised, one push.
    pub(crate) fn record(&self, entry: JournalEntry) {
        let line = serde_json::to_vec(&entry).ok();
        let full = {
            let mut pending = lock(&self.shared.pending);
            if let Some(line) = line {
                pending.lines.extend_from_slice(&line);
                pending.lines.push(b'\n');
                pending.count += 1;
            }
            pending.entries.push(entry);
            pending.count == FLUSH_RECORDS
        };
        if full {
            self.shared.wake.notify_one();
        }
    }

    /// Ends the run's recording: writes what is pending, then the whole state (as loaded, plus
    /// this run's records) as a new snapshot, and removes the journal. `Err` says why some of
    /// this run's records may not be on disk (their photos would be uploaded again).
    pub(crate) async fn finish(mut self) -> Result<(), String> {
        self.close();
        if let Some(flusher) = self.flusher.take() {
            // The loop itself does not panic; a panic of a flush is seen as its error below.
            let _ = flusher.await;
        }
        let entries = std::mem::take(&mut lock(&self.shared.pending).entries);
        if entries.is_empty() {
            return Ok(());
        }
        let writer = Arc::clone(&self.writer);
        let state_path = self.state_path.clone();
        let compacted = tokio::task::spawn_blocking(move || {
            let writer = lock(&writer);
            let mut state = SyncState::clone(&writer.loaded);
            for entry in entries {
                state.apply(entry);
            }
            match state.save(&state_path) {
                Ok(()) => Ok(()),
                // The journal holds every record: the state on disk is whole, only longer.
                Err(_) if writer.unwritten.is_empty() && writer.error.is_none() => Ok(()),
                Err(error) => Err(format!(
                    "the state file {} could not be written ({error}{}): this run's uploads \
                     are not all recorded, and the next run uploads them again",
                    state_path.display(),
                    writer
                        .error
                        .as_ref()
                        .map(|e| format!("; its journal: {e}"))
                        .unwrap_or_default()
                )),
            }
        })
        .await;
        compacted.unwrap_or_else(|error| Err(format!("writing the state file failed: {error}")))
    }

    fn close(&self) {
        lock(&self.shared.pending).closed = true;
        self.shared.wake.notify_one();
    }
}

impl Drop for Journal {
    /// A run dropped before its end (cancelled): the flusher still writes what was recorded.
    fn drop(&mut self) {
        self.close();
    }
}

async fn flush_loop(shared: Arc<Shared>, writer: Arc<Mutex<Writer>>) {
    loop {
        let _ = tokio::time::timeout(FLUSH_INTERVAL, shared.wake.notified()).await;
        let (lines, closed) = {
            let mut pending = lock(&shared.pending);
            pending.count = 0;
            (std::mem::take(&mut pending.lines), pending.closed)
        };
        let has_work = {
            let mut writer = lock(&writer);
            writer.unwritten.extend_from_slice(&lines);
            !writer.unwritten.is_empty()
        };
        if has_work {
            let flushing = Arc::clone(&writer);
            let flushed = tokio::task::spawn_blocking(move || lock(&flushing).flush()).await;
            if let Err(error) = flushed {
                lock(&writer).error = Some(format!("the flush failed: {error}"));
            }
        }
        if closed {
            return;
        }
    }
}

impl Writer {
    /// Writes and fsyncs [`Writer::unwritten`]; on failure keeps it for the next attempt and
    /// remembers the error.
    fn flush(&mut self) {
        match self.append() {
            Ok(()) => {
                self.unwritten.clear();
                self.error = None;
            }
            Err(error) => {
                self.error = Some(error.to_string());
                if let Some(file) = &self.file {
                    // A half-written batch is cut off, so the retry does not follow a torn line.
                    let _ = file.set_len(self.durable_len);
                }
            }
        }
    }

    fn append(&mut self) -> std::io::Result<()> {
        let mut file = match self.file.take() {
            Some(file) => file,
            None => self.begin()?,
        };
        let appended = (|| {
            file.seek(SeekFrom::Start(self.durable_len))?;
            file.write_all(&self.unwritten)?;
            file.sync_data()
        })();
        self.file = Some(file);
        appended?;
        self.durable_len += self.unwritten.len() as u64;
        Ok(())
    }

    /// Before the first append: the loaded state (with what an earlier journal added) becomes a
    /// new snapshot, and the journal starts over with its generation. Each step leaves a state
    /// that loads correctly: until the rename, the old snapshot and its journal; after it, the
    /// new snapshot whole, the old journal stale (its header names the old generation).
    fn begin(&mut self) -> std::io::Result<File> {
        let mut snapshot = SyncState::clone(&self.loaded);
        snapshot.write_snapshot(&self.state_path)?;
        let path = journal_path(&self.state_path);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        let mut header = serde_json::to_vec(&JournalHeader {
            graph_photo_sync_journal: STATE_VERSION,
            generation: snapshot.generation,
        })
        .map_err(std::io::Error::other)?;
        header.push(b'\n');
        file.write_all(&header)?;
        file.sync_all()?;
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(dir);
        }
        self.durable_len = header.len() as u64;
        Ok(file)
    }
}
