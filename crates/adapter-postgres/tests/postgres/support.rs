//! Helpers shared by the tests.

use std::sync::Arc;
use std::time::Duration;

use adapter_postgres::test_support::TestDatabase;
use adapter_postgres::{PgOptions, PgStore};
use bytes::Bytes;
use photo_core::format::ImageFormat;
use photo_core::ports::{PhotoKey, PhotoOwner, ValidatedPhoto};
use photo_core::principal::TenantId;
use photo_core::testkit::SpawningStore;
use sqlx::{Connection, PgConnection};
use tokio::runtime::Handle;

/// A fresh database, or the test fails saying why there is none.
pub(crate) async fn database() -> TestDatabase {
    match TestDatabase::create().await {
        Ok(db) => db,
        Err(e) => panic!("{e}"),
    }
}

pub(crate) async fn open(url: &str) -> PgStore {
    open_with(url, PgOptions::default()).await
}

pub(crate) async fn open_with(url: &str, options: PgOptions) -> PgStore {
    match PgStore::connect(url, options).await {
        Ok(store) => store,
        Err(e) => panic!("{e}"),
    }
}

/// A raw connection, to look at or tamper with the database behind the store's back.
pub(crate) async fn raw(url: &str) -> PgConnection {
    PgConnection::connect(url).await.expect("raw connection")
}

pub(crate) fn key(id: &str) -> PhotoKey {
    PhotoKey {
        tenant: TenantId::new("4f0c2cf2-53b1-4b1c-9d43-1d0b4c5e7a10"),
        owner: PhotoOwner::User(id.into()),
    }
}

pub(crate) fn photo(label: &str) -> ValidatedPhoto {
    ValidatedPhoto::for_testkit(
        Bytes::from(format!("pg test photo <{label}>").into_bytes()),
        ImageFormat::Png,
        640,
        480,
    )
}

pub(crate) fn short_timeouts() -> PgOptions {
    PgOptions {
        acquire_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(2),
        ..PgOptions::default()
    }
}

/// The store driven on the test's runtime: the testkit polls its futures from plain OS threads
/// (`futures::executor::block_on`), where sqlx's sockets and timers have no runtime.
pub(crate) fn on_runtime(inner: PgStore) -> Arc<SpawningStore<PgStore>> {
    let handle = Handle::current();
    Arc::new(SpawningStore::new(Arc::new(inner), move |work| {
        handle.spawn(work);
    }))
}
