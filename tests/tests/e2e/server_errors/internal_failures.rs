//! 503 and 500: failures inside the server never leak (spec F2, C7).

use super::*;

// --- 503 and 500: failures inside never leak (spec F2, C7) ---------------------------------------

#[tokio::test]
async fn an_unavailable_store_is_503_with_retry_after_and_no_detail() {
    use photo_core::ports::{MockPhotoStore, StoreError};
    let mut store = MockPhotoStore::new();
    store.expect_get().returning(|_| {
        Err(StoreError::Unavailable(
            "disk /srv/secret-volume failed".into(),
        ))
    });
    store.expect_put().returning(|_, _, _| {
        Err(StoreError::Unavailable(
            "disk /srv/secret-volume failed".into(),
        ))
    });
    store.expect_delete().returning(|_, _| {
        Err(StoreError::Unavailable(
            "disk /srv/secret-volume failed".into(),
        ))
    });
    let app = router_over(
        std::sync::Arc::new(directory()),
        std::sync::Arc::new(store),
        None,
    )
    .await;
    let s = TestServer {
        app,
        store: std::sync::Arc::new(adapter_memstore::MemPhotoStore::new()),
    };
    let token = adele(&["User.ReadWrite"]);
    for (method, path) in [
        ("GET", "/v1.0/me/photo"),
        ("GET", "/v1.0/me/photos"),
        ("PUT", ME),
        ("DELETE", "/v1.0/me/photo"),
    ] {
        let resp = s.call(method, path, Some(&token), jpeg(48, 48)).await;
        let message = resp.assert_error(503, "serviceNotAvailable");
        assert!(!message.contains("secret"), "{message}");
        assert!(resp.header("retry-after").is_some());
    }
}

#[tokio::test]
async fn a_panic_inside_is_a_500_envelope_without_detail() {
    use photo_core::ports::MockPhotoStore;
    let mut store = MockPhotoStore::new();
    store
        .expect_get()
        .returning(|_| panic!("bug with secret detail"));
    let app = router_over(
        std::sync::Arc::new(directory()),
        std::sync::Arc::new(store),
        None,
    )
    .await;
    let s = TestServer {
        app,
        store: std::sync::Arc::new(adapter_memstore::MemPhotoStore::new()),
    };
    let resp = s.get("/v1.0/me/photo", &adele(&["User.Read"])).await;
    // `send` checks the envelope, and that a 5xx says nothing but this.
    let message = resp.assert_error(500, "generalException");
    assert_eq!(message, "An internal server error occurred.");
}
