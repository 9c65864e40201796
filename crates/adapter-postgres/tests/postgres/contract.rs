//! The port test kit, unchanged.

use photo_core::testkit::check_photo_store;

use crate::support::{database, on_runtime, open};

// multi_thread: the kit blocks the calling thread while its threads drive the store, whose
// futures run on the runtime's other workers.
#[tokio::test(flavor = "multi_thread")]
async fn honours_the_photo_store_contract_twice_on_one_database() {
    let db = database().await;
    let store = open(db.url()).await;
    check_photo_store(on_runtime(store.clone())).await;
    // Again on the same database (new keys, the first run's rows still there).
    check_photo_store(on_runtime(store)).await;
}
