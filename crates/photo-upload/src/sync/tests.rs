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
}
