//! What `connect` says when it cannot open: typed, one line, password masked, never a hang.

use std::time::{Duration, Instant};

use adapter_postgres::{PgOpenError, PgOptions, PgStore};

use crate::support::{database, short_timeouts};

async fn open_error(url: &str, options: PgOptions) -> PgOpenError {
    let started = Instant::now();
    let result = PgStore::connect(url, options.clone()).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < options.connect_timeout + Duration::from_secs(2),
        "connect took {elapsed:?}"
    );
    let error = result.expect_err("connect should fail");
    let message = error.to_string();
    assert!(!message.contains("hunter2"), "password shown: {message}");
    assert!(!message.contains('\n'), "not one line: {message}");
    error
}

#[tokio::test]
async fn a_bad_url_is_named_with_its_password_masked() {
    for url in [
        "mysql://app:hunter2@db/photos",
        "postgres://app:hunter2@db:notaport/photos",
        "photos",
    ] {
        let error = open_error(url, short_timeouts()).await;
        assert!(
            matches!(error, PgOpenError::BadUrl { .. }),
            "{url}: {error:?}"
        );
    }
    let error = open_error("mysql://app:hunter2@db/photos", short_timeouts()).await;
    assert!(
        error.to_string().contains("mysql://app:***@db/photos"),
        "{error}"
    );
}

#[tokio::test]
async fn no_server_is_unreachable_within_the_connect_timeout() {
    // A port nobody listens on: refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://app:hunter2@127.0.0.1:{port}/photos");
    let error = open_error(&url, short_timeouts()).await;
    assert!(
        matches!(error, PgOpenError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(error
        .to_string()
        .contains(&format!("postgres://app:***@127.0.0.1:{port}/photos")));

    // A server that accepts the connection and never answers: the timeout, not a hang.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let url = format!("postgres://app:hunter2@127.0.0.1:{port}/photos?sslmode=disable");
    let options = PgOptions {
        connect_timeout: Duration::from_secs(1),
        ..short_timeouts()
    };
    let error = open_error(&url, options).await;
    assert!(
        matches!(error, PgOpenError::Unreachable { .. }),
        "{error:?}"
    );
    drop(silent);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_role_and_missing_database_are_told_apart() {
    let db = database().await;
    let (scheme_and_user, rest) = db.url().split_once('@').unwrap();
    let (scheme, _) = scheme_and_user.split_once("://").unwrap();
    let no_role = format!("{scheme}://graph_photo_no_such_role:hunter2@{rest}");
    let error = open_error(&no_role, short_timeouts()).await;
    assert!(
        matches!(error, PgOpenError::Authentication { .. }),
        "{error:?}"
    );

    let no_database = db.url().replace(db.name(), "graph_photo_no_such_database");
    let error = open_error(&no_database, short_timeouts()).await;
    assert!(
        matches!(error, PgOpenError::DatabaseMissing { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("graph_photo_no_such_database"),
        "{error}"
    );
}
