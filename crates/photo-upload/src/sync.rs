//! Many uploads from a `file,target` map (what `graph-photo sync DIR --map FILE.csv` runs): in
//! parallel (bounded: Graph allows 4 concurrent photo requests per app, spec F1), retried by the
//! client, resumable through a state file that remembers what content each target got.
//!
//! [`parse_map`] reads the map, [`sync`] (or [`sync_with_progress`]) runs it and returns a
//! [`SyncReport`]; [`SyncReport::summary`] is the text a person reads at the end.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use adapter_graph_client::{ClientError, GraphClient, PhotoUpload, WriteOptions};
use bytes::Bytes;
use futures::StreamExt;
use photo_core::target::Target;
use sha2::{Digest, Sha256};

use crate::fit::{fit, Fitted};
use crate::parse_target;

mod journal;
mod state;

use journal::Journal;
use state::JournalEntry;
pub use state::{
    journal_path, write_atomically, SyncState, UploadRecord, DEFAULT_STATE_FILE,
    OLDEST_STATE_VERSION, STATE_VERSION,
};

/// Why a run could not start. Failures of single rows are not errors: they are in the
/// [`SyncReport`].
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The state file exists but could not be read.
    #[error("{}: {error}", path.display())]
    ReadState {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The state file is not JSON of the expected shape.
    #[error(
        "{}: not a sync state file ({error}); delete it to upload everything again",
        path.display()
    )]
    CorruptState {
        path: PathBuf,
        error: serde_json::Error,
    },
    /// The state file was written by a version of this crate with another format.
    #[error(
        "{}: state version {version} is not supported (this build reads versions \
         {OLDEST_STATE_VERSION} to {STATE_VERSION})",
        path.display()
    )]
    StateVersion { path: PathBuf, version: u32 },
}

// ---------------------------------------------------------------------------------------------
// The map.

/// One `file,target` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    /// The row's line in the CSV file (1-based).
    pub line: u64,
    /// As written, relative to DIR.
    pub file: String,
    /// Whose photo the file becomes.
    pub target: Target,
}

/// A row that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The row's line in the CSV file (1-based).
    pub line: u64,
    /// What is wrong with it, for a person.
    pub reason: String,
}

/// A parsed map: the usable rows and the others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncMap {
    /// The usable rows, in map order.
    pub entries: Vec<MapEntry>,
    /// The rows that cannot be used, in map order.
    pub errors: Vec<RowError>,
}

/// Reads `file,target` rows (CSV: a field may be quoted, `"with, comma.jpg"`). A first row
/// `file,target` is a header and skipped; blank lines and lines starting with `#` are ignored;
/// fields are trimmed; a target mapped twice is an error on its second row (two uploads to one
/// target would race). Each row is one line, so that errors name the right line.
pub fn parse_map(reader: impl std::io::BufRead) -> SyncMap {
    let mut map = SyncMap::default();
    let mut seen: HashMap<Target, u64> = HashMap::new();
    let mut first_row = true;
    for (index, raw) in reader.split(b'\n').enumerate() {
        let line = index as u64 + 1;
        let mut error = |reason: String| map.errors.push(RowError { line, reason });
        let raw = match raw {
            Ok(raw) => raw,
            Err(e) => {
                error(format!("cannot read the map: {e}"));
                break;
            }
        };
        let Ok(text) = String::from_utf8(raw) else {
            error("the row is not UTF-8 text".into());
            continue;
        };
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let fields = match split_row(text) {
            Ok(fields) => fields,
            Err(reason) => {
                error(reason);
                continue;
            }
        };
        if fields.is_empty() {
            continue; // `,,` as spreadsheets export blank rows
        }
        if std::mem::replace(&mut first_row, false)
            && fields.len() == 2
            && fields[0].eq_ignore_ascii_case("file")
            && fields[1].eq_ignore_ascii_case("target")
        {
            continue;
        }
        let [file, target] = &fields[..] else {
            error(format!(
                "expected 2 fields (file,target), found {}",
                fields.len()
            ));
            continue;
        };
        if file.is_empty() {
            error("the file name is empty".into());
            continue;
        }
        let target = match parse_target(target) {
            Ok(target) => target,
            Err(reason) => {
                error(reason);
                continue;
            }
        };
        if let Some(previous) = seen.get(&target) {
            error(format!(
                "target {target} is already mapped on line {previous}"
            ));
            continue;
        }
        seen.insert(target.clone(), line);
        map.entries.push(MapEntry {
            line,
            file: file.clone(),
            target,
        });
    }
    map
}

/// The trimmed fields of one CSV line, trailing empty fields dropped.
fn split_row(text: &str) -> Result<Vec<String>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(_) => {}
        Err(e) => return Err(format!("unreadable row: {e}")),
    }
    let mut fields: Vec<String> = record.iter().map(str::to_owned).collect();
    while fields.last().is_some_and(String::is_empty) {
        fields.pop();
    }
    Ok(fields)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ---------------------------------------------------------------------------------------------
// The run.

/// What happened to one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Uploaded: the ETag the server gave, the bytes sent, whether they were re-encoded to fit.
    Uploaded {
        etag: Option<String>,
        bytes: usize,
        fitted: bool,
    },
    /// The content is what the target got last time.
    Skipped,
    /// `--dry-run`: would be uploaded.
    WouldUpload { bytes: usize, fitted: bool },
    /// `code` is the Graph error code or the kind of local failure; `reason` says it all;
    /// `request_id` is the server's `request-id` of the refused call, when it answered.
    Failed {
        code: String,
        reason: String,
        request_id: Option<String>,
    },
}

/// One row of a run as a machine reads it (`graph-photo sync --output json`: one JSON object
/// per line, in map order). Field names are stable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncRecord {
    /// The row's line in the map.
    pub line: u64,
    /// The file, as named in the map; `None` for a row that could not be read.
    pub file: Option<String>,
    /// The target's path (`users/ID`, `me`, ...); `None` for a row that could not be read.
    pub target: Option<String>,
    /// `uploaded`, `skipped`, `would_upload` (dry run) or `failed`.
    pub outcome: &'static str,
    /// The ETag the server gave the upload.
    pub etag: Option<String>,
    /// Bytes sent (or that a dry run would send).
    pub bytes: Option<usize>,
    /// Whether the photo was re-encoded to fit (`--fit`).
    pub fitted: bool,
    /// The Graph error code, or the kind of local failure (`FileError`, `BadRow`, ...).
    pub code: Option<String>,
    /// What went wrong, for a person.
    pub message: Option<String>,
    /// The server's `request-id` of the failed call.
    pub request_id: Option<String>,
}

/// One row of the map and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemReport {
    /// The row's line in the map.
    pub line: u64,
    /// The file, as named in the map.
    pub file: String,
    pub target: Target,
    pub outcome: Outcome,
}

/// The result of a run, rows in map order.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    /// Every usable row of the map.
    pub items: Vec<ItemReport>,
    /// The rows of the map that could not be used (each counts as a failure).
    pub bad_rows: Vec<RowError>,
    /// Whether nothing was uploaded on purpose ([`SyncOptions::dry_run`]).
    pub dry_run: bool,
    /// Why some of this run's uploads may be missing from the state file (it could not be
    /// written): they are done, but the next run uploads them again. A failure of the run.
    pub state_error: Option<String>,
}

impl SyncReport {
    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.items.iter().filter(|i| f(&i.outcome)).count()
    }

    /// Rows uploaded (or that a dry run would upload).
    pub fn uploaded(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Uploaded { .. } | Outcome::WouldUpload { .. }))
    }

    /// Rows whose content the target already got.
    pub fn skipped(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Skipped))
    }

    /// Failed rows, unusable map rows included.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed { .. })) + self.bad_rows.len()
    }

    /// All rows, unusable ones included.
    pub fn total(&self) -> usize {
        self.items.len() + self.bad_rows.len()
    }

    /// One record per row, usable and unusable, in map order: what `--output json` prints.
    pub fn records(&self) -> Vec<SyncRecord> {
        let mut records: Vec<SyncRecord> = self
            .items
            .iter()
            .map(|item| {
                let mut record = SyncRecord {
                    line: item.line,
                    file: Some(item.file.clone()),
                    target: Some(item.target.path()),
                    outcome: "",
                    etag: None,
                    bytes: None,
                    fitted: false,
                    code: None,
                    message: None,
                    request_id: None,
                };
                match &item.outcome {
                    Outcome::Uploaded {
                        etag,
                        bytes,
                        fitted,
                    } => {
                        record.outcome = "uploaded";
                        record.etag.clone_from(etag);
                        record.bytes = Some(*bytes);
                        record.fitted = *fitted;
                    }
                    Outcome::Skipped => record.outcome = "skipped",
                    Outcome::WouldUpload { bytes, fitted } => {
                        record.outcome = "would_upload";
                        record.bytes = Some(*bytes);
                        record.fitted = *fitted;
                    }
                    Outcome::Failed {
                        code,
                        reason,
                        request_id,
                    } => {
                        record.outcome = "failed";
                        record.code = Some(code.clone());
                        record.message = Some(reason.clone());
                        record.request_id.clone_from(request_id);
                    }
                }
                record
            })
            .collect();
        records.extend(self.bad_rows.iter().map(|row| SyncRecord {
            line: row.line,
            file: None,
            target: None,
            outcome: "failed",
            etag: None,
            bytes: None,
            fitted: false,
            code: Some("BadRow".into()),
            message: Some(row.reason.clone()),
            request_id: None,
        }));
        records.sort_by_key(|r| r.line);
        records
    }

    /// What a person reads at the end: the plan (dry run), the counts, every failure.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        if self.dry_run {
            for item in &self.items {
                let _ = match &item.outcome {
                    Outcome::WouldUpload { bytes, fitted } => writeln!(
                        out,
                        "would upload {} -> {} ({bytes} bytes{})",
                        item.file,
                        item.target,
                        if *fitted { ", re-encoded to fit" } else { "" }
                    ),
                    Outcome::Skipped => writeln!(
                        out,
                        "would skip   {} -> {} (unchanged since the last upload)",
                        item.file, item.target
                    ),
                    _ => Ok(()),
                };
            }
        }
        let _ = write!(
            out,
            "{}uploaded {}, skipped {}, failed {}",
            if self.dry_run {
                "dry run: would have "
            } else {
                ""
            },
            self.uploaded(),
            self.skipped(),
            self.failed()
        );
        let fitted = self.count(|o| {
            matches!(
                o,
                Outcome::Uploaded { fitted: true, .. } | Outcome::WouldUpload { fitted: true, .. }
            )
        });
        if fitted > 0 {
            let _ = write!(out, " ({fitted} re-encoded to fit)");
        }
        out.push('\n');
        for row in &self.bad_rows {
            let _ = writeln!(out, "  failed: map line {}: {}", row.line, row.reason);
        }
        for item in &self.items {
            if let Outcome::Failed { reason, .. } = &item.outcome {
                let _ = writeln!(
                    out,
                    "  failed: {} -> {} (map line {}): {reason}",
                    item.file, item.target, item.line
                );
            }
        }
        if let Some(error) = &self.state_error {
            let _ = writeln!(out, "  failed: {error}");
        }
        out
    }
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// File names are relative to it.
    pub dir: PathBuf,
    pub state_path: PathBuf,
    /// Uploads in flight at once (at least 1).
    pub concurrency: usize,
    /// Read, hash and fit every file, upload nothing; the report says what would happen.
    pub dry_run: bool,
    /// Re-encode the photos Graph would refuse ([`crate::fit::fit`]).
    pub fit: bool,
}

/// Told how a run goes, e.g. to draw a progress bar. The methods are called from the run's
/// tasks and should return quickly; by default they do nothing.
pub trait Progress: Send + Sync {
    /// The run starts with `total` rows to process (the state file has been read).
    fn started(&self, total: u64) {
        let _ = total;
    }
    /// One row is done, whatever its outcome; rows finish in any order.
    fn item_done(&self, item: &ItemReport) {
        let _ = item;
    }
    /// Every row is done.
    fn finished(&self) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

struct Context {
    client: GraphClient,
    server: String,
    options: SyncOptions,
    /// The state as the run found it. Never changed during the run: a map names each target
    /// once, so no row needs to see another row's upload, and lookups take no lock.
    state: Arc<SyncState>,
    journal: Journal,
}

/// Uploads every entry of `map` that the state does not show as current, recording each
/// upload in the state file's journal as it goes (in batches) and writing the whole state at
/// the end. Fails only when the state file cannot be read; every row's failure is in the
/// report, and a state file that could not be written is its
/// [`state_error`](SyncReport::state_error).
pub async fn sync(
    client: &GraphClient,
    map: SyncMap,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    sync_with_progress(client, map, options, &NoProgress).await
}

/// [`sync`], telling `progress` how it goes.
pub async fn sync_with_progress(
    client: &GraphClient,
    map: SyncMap,
    options: &SyncOptions,
    progress: &dyn Progress,
) -> Result<SyncReport, SyncError> {
    let state = Arc::new(SyncState::load(&options.state_path)?);
    let context = Context {
        client: client.clone(),
        server: client.base_url().to_owned(),
        options: options.clone(),
        journal: Journal::start(options.state_path.clone(), Arc::clone(&state)),
        state,
    };
    progress.started(map.entries.len() as u64);

    let mut items: Vec<ItemReport> = futures::stream::iter(map.entries)
        .map(|entry| {
            let context = &context;
            async move {
                let outcome = process(context, &entry).await;
                let item = ItemReport {
                    line: entry.line,
                    file: entry.file,
                    target: entry.target,
                    outcome,
                };
                progress.item_done(&item);
                item
            }
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    let state_error = context.journal.finish().await.err();
    progress.finished();
    items.sort_by_key(|item| item.line);
    Ok(SyncReport {
        items,
        bad_rows: map.errors,
        dry_run: options.dry_run,
        state_error,
    })
}

fn failed(code: &str, reason: String) -> Outcome {
    Outcome::Failed {
        code: code.to_owned(),
        reason,
        request_id: None,
    }
}

fn client_failure(error: &ClientError) -> Outcome {
    let reason = match error {
        ClientError::Graph(graph) => graph.to_string(),
        ClientError::GaveUp { .. } => error.to_string(),
        other => format!("{}: {other}", other.code()),
    };
    Outcome::Failed {
        code: error.code(),
        reason,
        request_id: error.graph().and_then(|g| g.request_id.clone()),
    }
}

/// A dry run's failure for a photo the server would refuse: the Graph code it would answer
/// (spec B3-B5) and its message.
fn would_be_refused(refused: &photo_core::validation::InvalidImage, fit: bool) -> Outcome {
    use photo_core::validation::InvalidImage;
    let code = match refused {
        InvalidImage::TooLarge(_) => "RequestEntityTooLarge",
        _ => "ErrorInvalidImage",
    };
    let hint = if !fit && matches!(refused, InvalidImage::TooLarge(_)) {
        " (--fit would downscale and re-encode it)"
    } else {
        ""
    };
    failed(
        code,
        format!("{code}: {refused}{hint} (checked locally: dry run)"),
    )
}

async fn process(context: &Context, entry: &MapEntry) -> Outcome {
    let options = &context.options;
    let path = options.dir.join(&entry.file);

    // Reading, hashing and fitting are blocking or CPU-bound: off the async workers.
    let read = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::read(&path).map(|bytes| {
                let sha = sha256_hex(&bytes);
                (bytes, sha)
            })
        })
        .await
    };
    let (content, sha256) = match read {
        Ok(Ok(read)) => read,
        Ok(Err(error)) => {
            return failed(
                "FileError",
                format!("FileError: cannot read {}: {error}", path.display()),
            )
        }
        Err(error) => return failed("InternalError", format!("InternalError: {error}")),
    };

    if context
        .state
        .is_current(&context.server, &entry.target, &sha256)
    {
        return Outcome::Skipped;
    }

    let (body, fitted) = if options.fit {
        let fitting = tokio::task::spawn_blocking(move || {
            let fitted = fit(&content);
            (content, fitted)
        })
        .await;
        match fitting {
            Ok((content, Ok(Fitted::Unchanged))) => (content, false),
            Ok((_, Ok(Fitted::Reencoded { bytes, .. }))) => (bytes, true),
            Ok((_, Err(error))) => return failed("FitError", format!("FitError: {error}")),
            Err(error) => return failed("InternalError", format!("InternalError: {error}")),
        }
    } else {
        (content, false)
    };
    let size = body.len();
    if options.dry_run {
        // A dry run checks each photo as Graph's rules would (format, size, dimensions,
        // integrity: spec B3-B5), so that "would upload" means the upload would be accepted.
        let checked =
            tokio::task::spawn_blocking(move || photo_core::validation::validate(&body)).await;
        return match checked {
            Ok(Ok(_)) => Outcome::WouldUpload {
                bytes: size,
                fitted,
            },
            Ok(Err(refused)) => would_be_refused(&refused, options.fit),
            Err(error) => failed("InternalError", format!("InternalError: {error}")),
        };
    }

    let sent_sha256 = fitted.then(|| sha256_hex(&body));
    let upload = context
        .client
        .put_photo(
            &entry.target,
            PhotoUpload::Bytes(Bytes::from(body)),
            &WriteOptions::default(),
        )
        .await;
    match upload {
        Ok(updated) => {
            context.journal.record(JournalEntry {
                server: context.server.clone(),
                target: entry.target.path(),
                record: UploadRecord {
                    file: entry.file.clone(),
                    sha256,
                    sent_sha256,
                    etag: updated.etag.clone(),
                },
            });
            Outcome::Uploaded {
                etag: updated.etag,
                bytes: size,
                fitted,
            }
        }
        Err(error) => {
            let mut outcome = client_failure(&error);
            if let Outcome::Failed { reason, .. } = &mut outcome {
                if !options.fit && error.graph().is_some_and(|g| g.status == 413) {
                    reason.push_str(" (--fit would downscale and re-encode it)");
                }
            }
            outcome
        }
    }
}

#[cfg(test)]
mod tests;
