//! `graph-photo conformance` against the real `graph-photo serve`: the command a user runs to
//! check an endpoint, with the default fixture (seeded tenant, tokens from the dev key).

use crate::support::{run, Server};

#[test]
fn conformance_command_passes_against_our_server_and_fails_against_nothing() {
    let data = crate::support::data_dir();
    let dir = data.path().to_str().unwrap();
    let server = Server::start(data.path(), &[]);
    let base = server.url("");

    let out = run(&[
        "conformance",
        "--base",
        &base,
        "--cases",
        "4",
        "--max-steps",
        "8",
        "--seed",
        "7",
        "--data-dir",
        dir,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "conformance failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("D7") || stdout.contains("D4"),
        "no per-rule report:\n{stdout}"
    );
    // The default fixture carries the development key: every invalid token variant is sent.
    for class in ["D1 expired", "D1 alg-none", "D1 foreign-key", "D2 tid-null"] {
        assert!(stdout.contains(class), "{class} not sent:\n{stdout}");
    }

    // Nothing listens on the server's port once it is gone: the run must fail, not pass.
    drop(server);
    let out = run(&[
        "conformance",
        "--base",
        &base,
        "--cases",
        "2",
        "--max-steps",
        "4",
        "--seed",
        "7",
        "--data-dir",
        dir,
    ]);
    assert!(!out.status.success(), "a run against no server passed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "FAILURE 1 (connection): cannot reach {base}: connection refused"
        )),
        "no connection diagnosis:\n{stdout}"
    );
}

/// `conformance fixture` writes what a run against `serve` uses, a run reads it back with
/// `--fixture`, and `--output json` gives the report to a program; a failure is exit 1.
#[test]
fn the_written_fixture_drives_a_run_reported_as_json() {
    let data = crate::support::data_dir();
    let dir = data.path().to_str().unwrap();
    let server = Server::start(data.path(), &[]);
    let fixture = data.path().join("fixture.json");
    let out = run(&[
        "conformance",
        "fixture",
        "--out",
        fixture.to_str().unwrap(),
        "--data-dir",
        dir,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    assert!(written["principals"]
        .as_array()
        .is_some_and(|p| !p.is_empty()));
    assert!(written["signingKey"]["privateKeyPem"]
        .as_str()
        .is_some_and(|pem| pem.contains("PRIVATE KEY")));

    let base = format!("{}/v1.0", server.url(""));
    let args = |base: &str| {
        vec![
            "conformance".to_owned(),
            "--base".into(),
            base.into(),
            "--fixture".into(),
            fixture.to_str().unwrap().into(),
            "--cases".into(),
            "3".into(),
            "--max-steps".into(),
            "6".into(),
            "--seed".into(),
            "11".into(),
            "--output".into(),
            "json".into(),
        ]
    };
    let argv = args(&base);
    let out = run(&argv.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["seed"], 11);
    assert_eq!(report["failures"], serde_json::json!([]));
    assert!(report["per_token"]["D1 expired"]["passed"].as_u64() >= Some(1));

    drop(server);
    let argv = args(&base);
    let out = run(&argv.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failures"][0]["rule"], "connection");
}
