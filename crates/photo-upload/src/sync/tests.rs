use super::state::JournalEntry;
use super::*;
use photo_core::target::ContactOwner;

#[test]
fn maps_parse_with_or_without_a_header() {
    let with = parse_map(
        "file,target\r\na.jpg,me\n\n# a comment\n b.png , users/u1 \nc.gif,me/contacts/c1,\n,,\n"
            .as_bytes(),
    );
    assert_eq!(with.errors, vec![]);
    assert_eq!(
        with.entries,
        vec![
            MapEntry {
                line: 2,
                file: "a.jpg".into(),
                target: Target::Me
            },
            MapEntry {
                line: 5,
                file: "b.png".into(),
                target: Target::User("u1".into())
            },
            MapEntry {
                line: 6,
                file: "c.gif".into(),
                target: Target::Contact {
                    owner: ContactOwner::Me,
                    folder: None,
                    id: "c1".into()
                }
            },
        ]
    );
    let without = parse_map("a.jpg,me\n\"with, comma.jpg\",groups/g1\n".as_bytes());
    assert_eq!(without.errors, vec![]);
    assert_eq!(without.entries.len(), 2);
    assert_eq!(without.entries[1].file, "with, comma.jpg");
    assert_eq!(without.entries[1].target, Target::Group("g1".into()));
}

#[test]
fn bad_rows_are_reported_with_their_line() {
    let map = parse_map(
        "file,target\nok.jpg,me\nonly-one-field\n,users/u\nx.jpg,things/1\ny.jpg,me\nz.jpg,a,b\nfile,target\n"
            .as_bytes(),
    );
    assert_eq!(map.entries.len(), 1);
    let lines: Vec<u64> = map.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 8]);
    assert!(map.errors[0].reason.contains("expected 2 fields"));
    assert!(map.errors[1].reason.contains("file name is empty"));
    assert!(
        map.errors[2].reason.contains("things"),
        "{:?}",
        map.errors[2]
    );
    assert!(map.errors[3].reason.contains("already mapped on line 2"));
    assert!(map.errors[4].reason.contains("found 3"));
    // A header row anywhere but first is not a header: `file` is no target.
    assert!(map.errors[5].reason.contains("not a photo target"));
}

#[test]
fn state_round_trips_and_decides_what_is_current() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    assert_eq!(SyncState::load(&path).unwrap(), SyncState::default());

    let mut state = SyncState::default();
    let user = Target::User("a/b@c.com".into());
    state.record(
        "http://h/v1.0",
        &user,
        UploadRecord {
            file: "a.jpg".into(),
            sha256: "aa".into(),
            sent_sha256: None,
            etag: Some("\"E\"".into()),
        },
    );
    state.save(&path).unwrap();
    let loaded = SyncState::load(&path).unwrap();
    assert_eq!(loaded, state);
    assert!(loaded.is_current("http://h/v1.0", &user, "aa"));
    assert!(
        !loaded.is_current("http://h/v1.0", &user, "bb"),
        "content changed"
    );
    assert!(
        !loaded.is_current("http://other/v1.0", &user, "aa"),
        "another server"
    );
    assert!(!loaded.is_current("http://h/v1.0", &Target::Me, "aa"));
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["state.json"]);

    std::fs::write(&path, "{not json").unwrap();
    let error = SyncState::load(&path).unwrap_err();
    assert!(matches!(error, SyncError::CorruptState { .. }), "{error:?}");
    assert!(error.to_string().contains("delete it"), "{error}");
}

fn record(file: &str, sha256: &str) -> UploadRecord {
    UploadRecord {
        file: file.into(),
        sha256: sha256.into(),
        sent_sha256: None,
        etag: Some(format!("\"{sha256}\"")),
    }
}

fn journal_line(server: &str, target: &Target, record: UploadRecord) -> String {
    let entry = JournalEntry {
        server: server.into(),
        target: target.path(),
        record,
    };
    format!("{}\n", serde_json::to_string(&entry).unwrap())
}

fn header_line(generation: u64) -> String {
    format!("{{\"graph_photo_sync_journal\":2,\"generation\":{generation}}}\n")
}

#[test]
fn the_journal_of_a_snapshot_is_replayed_and_a_torn_last_line_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let server = "http://h/v1.0";
    let (me, group, user) = (
        Target::Me,
        Target::Group("g".into()),
        Target::User("u".into()),
    );
    let mut state = SyncState::default();
    state.record(server, &me, record("old.jpg", "00"));
    state.save(&path).unwrap();
    assert!(state.generation > 0);

    // What a run killed in the middle of an append leaves.
    let torn = journal_line(server, &user, record("u.jpg", "33"));
    let journal = format!(
        "{}{}{}{}",
        header_line(state.generation),
        journal_line(server, &me, record("me.jpg", "11")),
        journal_line(server, &group, record("g.jpg", "22")),
        &torn[..torn.len() - 9],
    );
    std::fs::write(journal_path(&path), &journal).unwrap();
    let loaded = SyncState::load(&path).unwrap();
    assert!(loaded.is_current(server, &me, "11"), "a later record wins");
    assert!(loaded.is_current(server, &group, "22"));
    assert!(!loaded.servers[server].contains_key(&user.path()), "torn");

    // A zero-filled tail (a crash before the data blocks reached the disk) is skipped too,
    // and records after it still count.
    let zeros = format!(
        "{}{}\n{}",
        header_line(state.generation),
        "\0".repeat(40),
        journal_line(server, &user, record("u.jpg", "33"))
    );
    std::fs::write(journal_path(&path), zeros).unwrap();
    assert!(SyncState::load(&path)
        .unwrap()
        .is_current(server, &user, "33"));

    // A journal that names another snapshot is stale: ignored.
    std::fs::write(
        journal_path(&path),
        header_line(state.generation + 1) + &journal_line(server, &me, record("x", "99")),
    )
    .unwrap();
    assert_eq!(SyncState::load(&path).unwrap(), state);

    // Saving folds the state into a new snapshot and removes the journal.
    std::fs::write(journal_path(&path), &journal).unwrap();
    let mut folded = SyncState::load(&path).unwrap();
    folded.save(&path).unwrap();
    assert!(!journal_path(&path).exists());
    let reloaded = SyncState::load(&path).unwrap();
    assert_eq!(reloaded, folded);
    assert!(reloaded.is_current(server, &group, "22"));
}

#[test]
fn without_its_snapshot_a_journal_counts_for_nothing() {
    // Deleting the state file means "upload everything again", whatever lies beside it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut state = SyncState::default();
    state.save(&path).unwrap();
    let generation = state.generation;
    std::fs::remove_file(&path).unwrap();
    std::fs::write(
        journal_path(&path),
        header_line(generation) + &journal_line("http://h/v1.0", &Target::Me, record("a", "11")),
    )
    .unwrap();
    assert_eq!(SyncState::load(&path).unwrap(), SyncState::default());
}

#[test]
fn version_1_state_files_are_read_and_a_journal_beside_them_is_not_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::write(
        &path,
        r#"{"version": 1, "servers": {"http://h/v1.0": {"me": {"file": "a.jpg", "sha256": "aa", "etag": "\"E\""}}}}"#,
    )
    .unwrap();
    std::fs::write(
        journal_path(&path),
        header_line(0) + &journal_line("http://h/v1.0", &Target::Me, record("b.jpg", "bb")),
    )
    .unwrap();
    let state = SyncState::load(&path).unwrap();
    assert_eq!((state.version, state.generation), (1, 0));
    assert!(state.is_current("http://h/v1.0", &Target::Me, "aa"));

    std::fs::write(&path, r#"{"version": 3, "generation": 5}"#).unwrap();
    let error = SyncState::load(&path).unwrap_err();
    assert!(matches!(error, SyncError::StateVersion { version: 3, .. }));
    assert!(
        error.to_string().ends_with("reads versions 1 to 2)"),
        "{error}"
    );
}

/// Polls `path` until its state holds `count` records of `server` (the flusher writes on its
/// own schedule; the test waits for it, it does not time it).
async fn wait_for_records(path: &std::path::Path, server: &str, count: usize) -> SyncState {
    for _ in 0..1000 {
        let state = SyncState::load(path).unwrap();
        if state.servers.get(server).map_or(0, |t| t.len()) >= count {
            return state;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the journal never held {count} records");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_journals_its_records_before_it_ends_and_folds_them_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let server = "http://h/v1.0";
    let mut loaded = SyncState::default();
    loaded.record(server, &Target::Me, record("me.jpg", "00"));
    loaded.save(&path).unwrap();
    let before = loaded.generation;

    let journal = journal::Journal::start(path.clone(), Arc::new(loaded));
    let users: Vec<Target> = (0..journal::FLUSH_RECORDS + 3)
        .map(|i| Target::User(format!("u{i}")))
        .collect();
    for (i, user) in users.iter().enumerate() {
        journal.record(JournalEntry {
            server: server.into(),
            target: user.path(),
            record: record(&format!("{i}.jpg"), &format!("{i:02x}")),
        });
    }
    // Mid-run, as a crash would find it: a new snapshot (the loaded state) and its journal.
    let mid_run = wait_for_records(&path, server, users.len() + 1).await;
    assert_ne!(mid_run.generation, before);
    assert!(mid_run.is_current(server, &Target::Me, "00"));
    assert!(journal_path(&path).exists());

    journal.finish().await.unwrap();
    assert!(!journal_path(&path).exists(), "folded into the snapshot");
    let end = std::fs::read(&path).unwrap();
    let end: SyncState = serde_json::from_slice(&end).unwrap();
    assert_eq!(end.version, STATE_VERSION);
    assert_eq!(end.servers[server].len(), users.len() + 1);
    assert!(end.is_current(server, &users[7], "07"));
}

#[tokio::test]
async fn a_run_that_records_nothing_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let journal = journal::Journal::start(path.clone(), Arc::new(SyncState::default()));
    journal.finish().await.unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn a_state_file_that_cannot_be_written_is_an_error_of_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-folder").join("state.json");
    let journal = journal::Journal::start(path.clone(), Arc::new(SyncState::default()));
    journal.record(JournalEntry {
        server: "http://h/v1.0".into(),
        target: Target::Me.path(),
        record: record("a.jpg", "aa"),
    });
    let error = journal.finish().await.unwrap_err();
    assert!(error.contains("no-such-folder"), "{error}");
    assert!(error.contains("uploads them again"), "{error}");
}

#[test]
fn summaries_count_and_explain() {
    let report = SyncReport {
        items: vec![
            ItemReport {
                line: 1,
                file: "a.jpg".into(),
                target: Target::Me,
                outcome: Outcome::Uploaded {
                    etag: None,
                    bytes: 3,
                    fitted: false,
                },
            },
            ItemReport {
                line: 2,
                file: "b.txt".into(),
                target: Target::Group("g".into()),
                outcome: failed("ErrorInvalidImage", "ErrorInvalidImage: no.".into()),
            },
        ],
        bad_rows: vec![RowError {
            line: 3,
            reason: "bad".into(),
        }],
        dry_run: false,
        state_error: None,
    };
    assert_eq!(
        (report.uploaded(), report.skipped(), report.failed()),
        (1, 0, 2)
    );
    let text = report.summary();
    assert!(
        text.starts_with("uploaded 1, skipped 0, failed 2\n"),
        "{text}"
    );
    assert!(text.contains("failed: map line 3: bad"));
    assert!(text.contains("failed: b.txt -> groups/g (map line 2): ErrorInvalidImage: no."));

    let fitted = SyncReport {
        items: vec![ItemReport {
            line: 1,
            file: "big.png".into(),
            target: Target::Me,
            outcome: Outcome::Uploaded {
                etag: None,
                bytes: 3,
                fitted: true,
            },
        }],
        ..SyncReport::default()
    };
    assert_eq!(
        fitted.summary(),
        "uploaded 1, skipped 0, failed 0 (1 re-encoded to fit)\n"
    );

    let unrecorded = SyncReport {
        state_error: Some("the state file s could not be written (disk full)".into()),
        ..fitted
    };
    assert!(unrecorded
        .summary()
        .ends_with("\n  failed: the state file s could not be written (disk full)\n"));
}
