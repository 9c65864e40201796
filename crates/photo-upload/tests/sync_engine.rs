//! The sync engine as a library user calls it: against a scripted Graph (wiremock), with a
//! progress listener.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapter_graph_client::{ClientConfig, GraphClient, RetryPolicy, StaticToken};
use photo_core::target::Target;
use photo_upload::sync::{
    journal_path, parse_map, sync, sync_with_progress, ItemReport, Outcome, Progress, SyncOptions,
    SyncState,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0];

/// Every call, in order, as text.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl Progress for Recorder {
    fn started(&self, total: u64) {
        self.0.lock().unwrap().push(format!("started {total}"));
    }
    fn item_done(&self, item: &ItemReport) {
        self.0.lock().unwrap().push(format!("done {}", item.file));
    }
    fn finished(&self) {
        self.0.lock().unwrap().push("finished".into());
    }
}

async fn graph() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/v1.0/me/photo/$value"))
        .respond_with(ResponseTemplate::new(200).insert_header("ETag", "\"E1\""))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/v1.0/groups/g1/photo/$value"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": "ErrorInvalidImage", "message": "The photo is not an image.",
            "innerError": {"request-id": "rid-1"}}})))
        .mount(&server)
        .await;
    server
}

fn client(server: &MockServer) -> GraphClient {
    GraphClient::new(
        ClientConfig {
            base_url: format!("{}/v1.0", server.uri()),
            retry: RetryPolicy {
                base_delay: Duration::from_millis(5),
                ..RetryPolicy::default()
            },
            timeout: Duration::from_secs(30),
            tls: Default::default(),
        },
        Arc::new(StaticToken("test-token".into())),
    )
    .unwrap()
}

fn options(dir: &Path) -> SyncOptions {
    SyncOptions {
        dir: dir.to_owned(),
        state_path: dir.join("state.json"),
        concurrency: 2,
        dry_run: false,
        fit: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reports_each_row_to_the_listener_and_resumes_from_its_state() {
    let server = graph().await;
    let client = client(&server);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jpg"), JPEG).unwrap();
    std::fs::write(dir.path().join("b.jpg"), JPEG).unwrap();
    let map_text = "a.jpg,me\nb.jpg,groups/g1\nmissing.jpg,users/u1\nc.jpg,things/x\n";

    let recorder = Recorder::default();
    let report = sync_with_progress(
        &client,
        parse_map(map_text.as_bytes()),
        &options(dir.path()),
        &recorder,
    )
    .await
    .unwrap();

    // The unusable row is not processed, so not counted in `started`.
    let events = recorder.events();
    assert_eq!(events.first().map(String::as_str), Some("started 3"));
    assert_eq!(events.last().map(String::as_str), Some("finished"));
    let mut done = events[1..events.len() - 1].to_vec();
    done.sort();
    assert_eq!(done, ["done a.jpg", "done b.jpg", "done missing.jpg"]);

    let outcomes: Vec<&Outcome> = report.items.iter().map(|i| &i.outcome).collect();
    assert_eq!(
        outcomes[0],
        &Outcome::Uploaded {
            etag: Some("\"E1\"".into()),
            bytes: JPEG.len(),
            fitted: false
        }
    );
    assert!(
        matches!(outcomes[1], Outcome::Failed { code, reason, .. }
            if code == "ErrorInvalidImage" && reason.contains("The photo is not an image.")),
        "{:?}",
        outcomes[1]
    );
    assert!(
        matches!(outcomes[2], Outcome::Failed { code, .. } if code == "FileError"),
        "{:?}",
        outcomes[2]
    );
    assert_eq!(report.bad_rows.len(), 1);
    assert_eq!(report.bad_rows[0].line, 4);
    assert_eq!(
        (report.uploaded(), report.skipped(), report.failed()),
        (1, 0, 3)
    );

    // Only the successful upload is remembered, under this API root.
    let state = SyncState::load(&dir.path().join("state.json")).unwrap();
    let base = format!("{}/v1.0", server.uri());
    let record = &state.servers[&base][&Target::Me.path()];
    assert_eq!(record.file, "a.jpg");
    assert_eq!(record.etag.as_deref(), Some("\"E1\""));
    assert_eq!(record.sha256, hex::encode(Sha256::digest(JPEG)));
    assert!(state.is_current(&base, &Target::Me, &record.sha256));
    assert_eq!(state.servers[&base].len(), 1);

    // A second run, without a listener: the unchanged file is skipped, nothing re-sent to me.
    let puts_before = server.received_requests().await.unwrap().len();
    let again = sync(
        &client,
        parse_map("a.jpg,me\n".as_bytes()),
        &options(dir.path()),
    )
    .await
    .unwrap();
    assert_eq!(again.items[0].outcome, Outcome::Skipped);
    assert_eq!(server.received_requests().await.unwrap().len(), puts_before);
}

#[tokio::test]
async fn an_unreadable_state_file_stops_the_run_before_any_upload() {
    let server = graph().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jpg"), JPEG).unwrap();
    std::fs::write(dir.path().join("state.json"), r#"{"version": 99}"#).unwrap();
    let recorder = Recorder::default();
    let error = sync_with_progress(
        &client(&server),
        parse_map("a.jpg,me\n".as_bytes()),
        &options(dir.path()),
        &recorder,
    )
    .await
    .unwrap_err();
    assert!(
        error.to_string().ends_with(
            "state.json: state version 99 is not supported (this build reads versions 1 to 2)"
        ),
        "{error}"
    );
    assert_eq!(recorder.events(), Vec::<String>::new());
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_runs_journal_is_honoured_and_a_version_1_state_upgraded() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200).insert_header("ETag", "\"E2\""))
        .mount(&server)
        .await;
    let base = format!("{}/v1.0", server.uri());
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("state.json");
    let sha = hex::encode(Sha256::digest(JPEG));
    for name in ["a.jpg", "b.jpg", "c.jpg"] {
        std::fs::write(dir.path().join(name), JPEG).unwrap();
    }
    // Version 1 (the snapshot alone) says me got a.jpg.
    std::fs::write(
        &state_path,
        json!({"version": 1, "servers": {&base: {"me": {"file": "a.jpg", "sha256": sha}}}})
            .to_string(),
    )
    .unwrap();
    let map = "a.jpg,me\nb.jpg,users/u1\nc.jpg,users/u2\n";

    let report = sync(
        &server_client(&base),
        parse_map(map.as_bytes()),
        &options(dir.path()),
    )
    .await
    .unwrap();
    assert_eq!(report.state_error, None);
    assert_eq!((report.uploaded(), report.skipped()), (2, 1));
    let snapshot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    assert_eq!(snapshot["version"], 2, "rewritten in the current format");
    assert!(!journal_path(&state_path).exists());

    // A run killed after journaling u2's new upload and before its end: the snapshot does
    // not have it yet, its journal does. The next run skips u2 and uploads only u1's change.
    std::fs::write(dir.path().join("c.jpg"), [JPEG, b"2"].concat()).unwrap();
    std::fs::write(dir.path().join("b.jpg"), [JPEG, b"1"].concat()).unwrap();
    let generation = snapshot["generation"].as_u64().unwrap();
    let sha_c = hex::encode(Sha256::digest([JPEG, b"2"].concat()));
    std::fs::write(
        journal_path(&state_path),
        format!(
            "{}\n{}\n",
            json!({"graph_photo_sync_journal": 2, "generation": generation}),
            json!({"server": &base, "target": "users/u2", "file": "c.jpg", "sha256": sha_c})
        ),
    )
    .unwrap();
    let puts_before = server.received_requests().await.unwrap().len();
    let report = sync(
        &server_client(&base),
        parse_map(map.as_bytes()),
        &options(dir.path()),
    )
    .await
    .unwrap();
    let outcomes: Vec<bool> = report
        .items
        .iter()
        .map(|i| matches!(i.outcome, Outcome::Uploaded { .. }))
        .collect();
    assert_eq!(
        outcomes,
        [false, true, false],
        "only b.jpg (users/u1) is sent"
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), puts_before + 1);
    assert_eq!(
        requests[puts_before].url.path(),
        "/v1.0/users/u1/photo/$value"
    );
    let state = SyncState::load(&state_path).unwrap();
    assert!(state.is_current(&base, &Target::User("u2".into()), &sha_c));
    assert!(!journal_path(&state_path).exists());
}

#[tokio::test]
async fn uploads_the_state_file_cannot_record_fail_the_run() {
    let server = graph().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jpg"), JPEG).unwrap();
    let options = SyncOptions {
        state_path: dir.path().join("gone").join("state.json"),
        ..options(dir.path())
    };
    let report = sync(
        &client(&server),
        parse_map("a.jpg,me\n".as_bytes()),
        &options,
    )
    .await
    .unwrap();
    assert_eq!(report.uploaded(), 1);
    let error = report.state_error.as_deref().unwrap();
    assert!(error.contains("gone"), "{error}");
    assert!(report.summary().contains(error));
}

fn server_client(base: &str) -> GraphClient {
    GraphClient::new(
        ClientConfig {
            base_url: base.to_owned(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            tls: Default::default(),
        },
        Arc::new(StaticToken("test-token".into())),
    )
    .unwrap()
}
