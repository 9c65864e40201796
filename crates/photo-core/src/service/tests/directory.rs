//! D7 steps 4-5: the target kind from one directory lookup, 403 before 404.

use super::*;

#[test]
fn an_id_that_does_not_exist_gets_the_same_403_as_another_users() {
    let p = delegated(&["User.ReadWrite"]);
    let ghost = write_once(&p, &Target::User("ghost".into()));
    let other = write_once(&p, &Target::User(OTHER_UPN.into()));
    assert!(is_denied(&ghost), "{ghost:?}");
    assert_eq!(ghost, other);
    // With the rights for another user, the same ids are told apart: 404, then success.
    let admin = delegated_with_roles(
        &["User.ReadWrite.All"],
        &[crate::principal::USER_ADMINISTRATOR],
    );
    assert_eq!(
        write_once(&admin, &Target::User("ghost".into())),
        Err(PhotoError::ResourceNotFound("ghost".into()))
    );
    assert_eq!(write_once(&admin, &Target::User(OTHER.into())), Ok(()));
}

#[test]
fn the_caller_named_by_id_in_any_case_is_me() {
    // User.ReadWrite allows a write to me only: no directory role needed.
    let p = delegated(&["User.ReadWrite"]);
    for id in [ME, "ME-ID", "Me-Id"] {
        assert_eq!(write_once(&p, &Target::User(id.into())), Ok(()), "{id}");
    }
}

#[test]
fn a_missing_contact_of_the_caller_is_404_and_of_another_user_403() {
    let p = delegated(&["Contacts.ReadWrite"]);
    let mine = |folder| contact(ContactOwner::User(ME.to_uppercase()), folder, "missing");
    let theirs = |folder| contact(ContactOwner::User(OTHER_UPN.into()), folder, MY_CONTACT);
    assert_eq!(read_once(&p, &mine(None)), Err(PhotoError::ItemNotFound));
    assert_eq!(
        read_once(&p, &mine(Some("nope"))),
        Err(PhotoError::ItemNotFound)
    );
    assert_eq!(
        read_once(&p, &contact(ContactOwner::Me, Some("nope"), MY_CONTACT)),
        Err(PhotoError::ItemNotFound)
    );
    // Found or not, another user's contacts are closed to delegated tokens (spec D4/D5).
    for target in [
        theirs(None),
        theirs(Some(MY_FOLDER)),
        contact(ContactOwner::User("ghost".into()), None, MY_CONTACT),
    ] {
        let answer = read_once(&p, &target);
        assert!(is_denied(&answer), "{target:?}: {answer:?}");
    }
    // The caller's own contacts need a contacts permission, found or not.
    let no_contacts = delegated(&["User.Read"]);
    for target in [
        mine(None),
        contact(ContactOwner::User(ME.into()), None, MY_CONTACT),
    ] {
        let answer = read_once(&no_contacts, &target);
        assert!(is_denied(&answer), "{target:?}: {answer:?}");
    }
    assert!(matches!(
        read_once(
            &p,
            &contact(ContactOwner::User(ME.into()), Some(MY_FOLDER), MY_CONTACT)
        ),
        Err(PhotoError::PhotoNotFound)
    ));
}

#[test]
fn an_application_names_no_caller_and_is_told_404_after_authorization() {
    let reader = app(&["Contacts.Read", "User.Read.All", "Group.Read.All"]);
    assert_eq!(
        read_once(
            &reader,
            &contact(ContactOwner::User("ghost".into()), None, "c")
        ),
        Err(PhotoError::ResourceNotFound("ghost".into()))
    );
    assert_eq!(
        read_once(
            &reader,
            &contact(ContactOwner::User(OTHER.into()), None, "c")
        ),
        Err(PhotoError::ItemNotFound)
    );
    assert_eq!(
        read_once(&reader, &Target::Group("g".into())),
        Err(PhotoError::ResourceNotFound("g".into()))
    );
}

#[test]
fn denial_comes_before_the_lookup_when_the_path_tells_the_kind() {
    for (principal, target) in [
        (app(&[]), Target::User("ghost".into())),
        (
            app(&[]),
            contact(ContactOwner::User("ghost".into()), None, "c"),
        ),
        (delegated(&["User.Read"]), Target::Group("ghost".into())),
        (
            delegated(&["User.Read"]),
            contact(ContactOwner::Me, None, "c"),
        ),
        (delegated(&[]), Target::Me),
    ] {
        let mut dir = MockDirectory::new();
        dir.expect_lookup().never();
        let svc = service(dir, MockPhotoStore::new());
        let err = block_on(svc.get_photo(&principal, &target, None)).unwrap_err();
        assert!(matches!(err, PhotoError::AccessDenied(_)), "{err:?}");
    }
}

#[test]
fn me_reaches_the_directory_as_the_callers_object_id() {
    for (target, expected) in [
        (Target::Me, DirectoryQuery::User(ME.into())),
        (
            contact(ContactOwner::Me, Some(MY_FOLDER), MY_CONTACT),
            DirectoryQuery::Contact {
                owner: ME.into(),
                folder: Some(MY_FOLDER.into()),
                contact: MY_CONTACT.into(),
            },
        ),
    ] {
        let mut dir = MockDirectory::new();
        dir.expect_lookup()
            .withf(move |tenant, query| tenant.as_str() == TENANT && *query == expected)
            .times(1)
            .returning(|_, query| fake_lookup(query));
        let mut store = MockPhotoStore::new();
        store.expect_get().returning(|_| Ok(None));
        let svc = service(dir, store);
        let p = delegated(&["User.Read", "Contacts.Read"]);
        let err = block_on(svc.get_photo(&p, &target, None)).unwrap_err();
        assert_eq!(err, PhotoError::PhotoNotFound);
    }
}

#[test]
fn every_operation_asks_the_directory_once() {
    let p = delegated(&["User.ReadWrite", "Contacts.ReadWrite"]);
    for target in [
        Target::Me,
        Target::User(ME.into()),
        Target::User(OTHER.into()),
        Target::User("ghost".into()),
        contact(ContactOwner::User(ME.into()), None, MY_CONTACT),
        contact(ContactOwner::User(OTHER.into()), None, MY_CONTACT),
    ] {
        let _ = read_once(&p, &target);
        let _ = write_once(&p, &target);
        let mut store = MockPhotoStore::new();
        store.expect_get().returning(|_| Ok(None));
        let svc = service(directory_asked_once(), store);
        let _ = block_on(svc.list_sizes(&p, &target));
        let mut store = MockPhotoStore::new();
        store.expect_delete().returning(|_, _| Ok(()));
        let svc = service(directory_asked_once(), store);
        let _ = block_on(svc.delete(&p, &target, None));
    }
}

#[test]
fn an_unavailable_directory_is_503_even_before_authorization() {
    for target in [Target::User("anyone".into()), Target::Me] {
        let mut dir = MockDirectory::new();
        dir.expect_lookup()
            .times(1)
            .returning(|_, _| Err(DirectoryError::Unavailable("down".into())));
        let svc = service(dir, MockPhotoStore::new());
        // No permission at all: a 403 if the directory had answered.
        let err = block_on(svc.get_photo(&delegated(&["User.Read"]), &target, None));
        assert_eq!(
            err.unwrap_err(),
            PhotoError::Unavailable("down".into()),
            "{target:?}"
        );
    }
}

#[test]
fn application_tokens_on_me_are_bad_requests() {
    let mut dir = MockDirectory::new();
    dir.expect_lookup().never();
    let svc = service(dir, MockPhotoStore::new());
    let err = block_on(svc.get_photo(&app(&["User.Read.All"]), &Target::Me, None)).unwrap_err();
    assert_eq!(err, PhotoError::NoSignedInUser);
    let err = block_on(svc.get_photo(
        &app(&["Contacts.Read"]),
        &contact(ContactOwner::Me, None, "c"),
        None,
    ))
    .unwrap_err();
    assert_eq!(err, PhotoError::NoSignedInUser);
}

#[test]
fn unknown_users_are_404_with_the_id_as_given() {
    let svc = service(directory_with_me(), MockPhotoStore::new());
    let err = block_on(svc.get_photo(
        &app(&["User.Read.All"]),
        &Target::User("Nobody@x".into()),
        None,
    ))
    .unwrap_err();
    assert_eq!(err, PhotoError::ResourceNotFound("Nobody@x".into()));
}
