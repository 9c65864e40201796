//! The database going away and coming back; a pool with no free connection.

use std::time::{Duration, Instant};

use adapter_postgres::test_support::PrivateServer;
use adapter_postgres::PgOptions;
use photo_core::etag::Precondition;
use photo_core::ports::{PhotoStore, RenditionCache, StoreError};
use sqlx::Connection;

use crate::support::{database, key, open_with, photo, raw, short_timeouts};

/// Runs blocking `work` on the server off the runtime's workers.
async fn on_server<T: Send + 'static>(
    mut server: PrivateServer,
    work: impl FnOnce(&mut PrivateServer) -> T + Send + 'static,
) -> (PrivateServer, T) {
    tokio::task::spawn_blocking(move || {
        let out = work(&mut server);
        (server, out)
    })
    .await
    .unwrap()
}

fn assert_unavailable<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    started: Instant,
    what: &str,
) {
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{what} during the outage: {result:?}"
    );
    assert!(elapsed < Duration::from_secs(10), "{what} took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outage_answers_unavailable_quickly_and_the_same_store_recovers() {
    let server = tokio::task::spawn_blocking(PrivateServer::start)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
    let store = open_with(&server.url(), short_timeouts()).await;
    let k = key("outage");
    let before = PhotoStore::put(&store, &k, photo("before"), &Precondition::None)
        .await
        .unwrap();

    let (server, stopped) = on_server(server, PrivateServer::stop).await;
    stopped.unwrap();
    assert!(!server.is_running());

    let started = Instant::now();
    assert_unavailable(PhotoStore::get(&store, &k).await, started, "get");
    let started = Instant::now();
    assert_unavailable(
        PhotoStore::put(&store, &k, photo("during"), &Precondition::None).await,
        started,
        "put",
    );
    let started = Instant::now();
    assert_unavailable(
        PhotoStore::delete(&store, &k, &Precondition::None).await,
        started,
        "delete",
    );
    let started = Instant::now();
    assert!(RenditionCache::get(&store, &k, &before.etag)
        .await
        .is_none());
    assert!(started.elapsed() < Duration::from_secs(10));
    // The readiness check says so within its own bound, shorter than the acquire timeout.
    let started = Instant::now();
    let checked = PhotoStore::check(&store).await;
    assert!(
        matches!(checked, Err(StoreError::Unavailable(_))),
        "check during the outage: {checked:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "check took {:?}",
        started.elapsed()
    );

    let (server, restarted) = on_server(server, PrivateServer::restart).await;
    restarted.unwrap();

    // The same store, no reconnect by hand: ready again, the acknowledged photo is there,
    // writes work.
    PhotoStore::check(&store).await.unwrap();
    assert_eq!(
        PhotoStore::get(&store, &k).await.unwrap(),
        Some(before.clone())
    );
    let after = PhotoStore::put(
        &store,
        &k,
        photo("after"),
        &Precondition::OneOf(vec![before.etag.clone()]),
    )
    .await
    .unwrap();
    assert_eq!(PhotoStore::get(&store, &k).await.unwrap(), Some(after));
    drop(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exhausted_pool_and_a_stuck_statement_answer_unavailable_in_bounded_time() {
    let db = database().await;
    let options = PgOptions {
        max_connections: 1,
        acquire_timeout: Duration::from_secs(1),
        statement_timeout: Duration::from_secs(2),
        ..PgOptions::default()
    };
    let store = open_with(db.url(), options).await;
    let k = key("locked");
    let first = PhotoStore::put(&store, &k, photo("first"), &Precondition::None)
        .await
        .unwrap();

    // Another session holds the photo's row lock: the store's one connection waits on it.
    let mut locker = raw(db.url()).await;
    let mut tx = locker.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM photos FOR UPDATE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let blocked = {
        let (store, k) = (store.clone(), k.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let result = PhotoStore::put(&store, &k, photo("second"), &Precondition::None).await;
            (result, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The pool's only connection is busy: the acquire timeout answers.
    let started = Instant::now();
    assert_unavailable(
        PhotoStore::get(&store, &k).await,
        started,
        "get on an exhausted pool",
    );
    assert!(started.elapsed() >= Duration::from_millis(900));

    // The stuck statement is ended by the statement timeout; nothing was written.
    let (result, elapsed) = blocked.await.unwrap();
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "stuck put took {elapsed:?}"
    );
    tx.rollback().await.unwrap();
    assert_eq!(PhotoStore::get(&store, &k).await.unwrap(), Some(first));
}
