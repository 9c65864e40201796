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
