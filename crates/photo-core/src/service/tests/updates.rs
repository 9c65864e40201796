//! Updates: storing, the personal-account rule, If-Match, invalid images, an unavailable store.

use super::*;

#[test]
fn update_stores_a_valid_photo_unconditionally() {
    let body = png(60);
    let mut store = MockPhotoStore::new();
    let expected = body.clone();
    store
        .expect_put()
        .withf(move |k, photo, cond| {
            *k == key(ME)
                && *photo.bytes() == expected
                && photo.width() == 60
                && *photo.etag() == ETag::for_content(&expected)
                && *cond == Precondition::None
        })
        .times(1)
        .returning(|_, photo, _| Ok(StoredPhoto::from(photo)));
    let svc = service(directory_with_me(), store);
    let stored = block_on(svc.update(
        &delegated(&["User.ReadWrite"]),
        ApiVersion::V1,
        &Target::Me,
        None,
        body.clone(),
    ))
    .expect("update");
    assert_eq!(stored.etag, ETag::for_content(&body));
}

#[test]
fn personal_accounts_cannot_update_their_own_photo_in_v1_only() {
    let mut dir = MockDirectory::new();
    dir.expect_lookup().returning(|_, _| {
        Ok(DirectoryEntry {
            key: key(ME),
            account: AccountKind::Personal,
        })
    });
    let mut store = MockPhotoStore::new();
    store.expect_get().returning(|_| Ok(None));
    let svc = service(dir, store);
    let p = delegated(&["User.ReadWrite"]);
    let err = block_on(svc.begin_update(&p, ApiVersion::V1, &Target::Me, None)).unwrap_err();
    assert_eq!(err, PhotoError::ConsumerPhotoNotSupported);
    assert!(block_on(svc.begin_update(&p, ApiVersion::Beta, &Target::Me, None)).is_ok());
    // Reads are not affected.
    assert_eq!(
        block_on(svc.get_photo(&p, &Target::Me, None)).unwrap_err(),
        PhotoError::PhotoNotFound
    );
}

#[test]
fn stale_if_match_fails_before_the_body_and_is_enforced_by_the_store() {
    let mut store = MockPhotoStore::new();
    store
        .expect_get()
        .returning(|_| Ok(Some(stored(b"old", 100))));
    store.expect_put().never();
    let svc = service(directory_with_me(), store);
    let p = delegated(&["User.ReadWrite"]);
    let stale = TagCondition::parse("\"NOT-IT\"");
    let err =
        block_on(svc.begin_update(&p, ApiVersion::V1, &Target::Me, Some(&stale))).unwrap_err();
    assert_eq!(err, PhotoError::PreconditionFailed);

    // The current tag passes the early check and becomes the store's condition.
    let current = TagCondition::parse(&ETag::for_content(b"old").to_string());
    let pending =
        block_on(svc.begin_update(&p, ApiVersion::V1, &Target::Me, Some(&current))).unwrap();
    assert_eq!(
        pending.condition,
        Precondition::OneOf(vec![ETag::for_content(b"old")])
    );
}

#[test]
fn a_lost_race_at_the_store_is_412() {
    let mut store = MockPhotoStore::new();
    store
        .expect_get()
        .returning(|_| Ok(Some(stored(b"old", 100))));
    store
        .expect_put()
        .returning(|_, _, _| Err(StoreError::PreconditionFailed));
    let svc = service(directory_with_me(), store);
    let current = TagCondition::parse(&ETag::for_content(b"old").to_string());
    let err = block_on(svc.update(
        &delegated(&["User.ReadWrite"]),
        ApiVersion::V1,
        &Target::Me,
        Some(&current),
        png(50),
    ))
    .unwrap_err();
    assert_eq!(err, PhotoError::PreconditionFailed);
}

#[test]
fn invalid_images_are_never_stored() {
    let mut store = MockPhotoStore::new();
    store.expect_put().never();
    let svc = service(directory_with_me(), store);
    let p = delegated(&["User.ReadWrite"]);
    for body in [
        Bytes::new(),
        Bytes::from_static(b"hello"),
        png(50).slice(..40),
    ] {
        let err = block_on(svc.update(&p, ApiVersion::V1, &Target::Me, None, body)).unwrap_err();
        assert!(matches!(err, PhotoError::InvalidImage(_)), "{err:?}");
    }
    let huge = Bytes::from(vec![0u8; crate::limits::MAX_PHOTO_BYTES + 1]);
    let err = block_on(svc.update(&p, ApiVersion::V1, &Target::Me, None, huge)).unwrap_err();
    assert!(matches!(err, PhotoError::TooLarge { .. }), "{err:?}");
}

#[test]
fn an_unavailable_store_is_503_material() {
    let mut store = MockPhotoStore::new();
    store
        .expect_get()
        .returning(|_| Err(StoreError::Unavailable("disk on fire".into())));
    let svc = service(directory_with_me(), store);
    let err = block_on(svc.get_photo(&delegated(&["User.Read"]), &Target::Me, None)).unwrap_err();
    assert!(matches!(err, PhotoError::Unavailable(_)));
}
