//! 404: unknown users, groups, contacts and folders, no photo, sizes not available (spec D7 step 5,
//! C4, C5).

use super::*;

// --- 404 (spec D7 step 5, C4, C5) -------------------------------------------------------------

#[tokio::test]
async fn unknown_users_and_groups_are_request_resource_not_found() {
    let s = server().await;
    let reader = adele(&["User.ReadBasic.All", "Group.Read.All"]);
    let admin = megan(&["User.ReadWrite.All", "Group.ReadWrite.All"]);
    let writer_app = app(&["ProfilePhoto.ReadWrite.All"]);
    for (id, path) in [
        (
            "nobody@contoso.onmicrosoft.com",
            "/v1.0/users/nobody@contoso.onmicrosoft.com/photo",
        ),
        (
            "00000000-1111-4222-8333-444444444444",
            "/v1.0/users/00000000-1111-4222-8333-444444444444/photo",
        ),
        (
            "00000000-1111-4222-8333-444444444444",
            "/beta/groups/00000000-1111-4222-8333-444444444444/photo",
        ),
        // Objects of another tenant do not exist here (spec D3).
        (ALLAN_ID, &format!("/v1.0/users/{ALLAN_ID}/photo")),
        (
            FABRIKAM_GROUP_ID,
            &format!("/v1.0/groups/{FABRIKAM_GROUP_ID}/photo"),
        ),
    ] {
        let expected = format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        );
        let resp = s.get(path, &reader).await;
        assert_eq!(resp.assert_error(404, "Request_ResourceNotFound"), expected);
        for token in [&admin, &writer_app] {
            let value = format!("{path}/$value");
            let resp = s.put(&value, token, &jpeg(48, 48)).await;
            assert_eq!(resp.assert_error(404, "Request_ResourceNotFound"), expected);
            let resp = s.delete(path, token).await;
            assert_eq!(resp.assert_error(404, "Request_ResourceNotFound"), expected);
        }
    }
}

#[tokio::test]
async fn unknown_contacts_and_folders_are_item_not_found() {
    let s = server().await;
    let adele_token = adele(&["Contacts.ReadWrite"]);
    let contacts_app = app(&["Contacts.ReadWrite"]);
    let folder = ADELE_FRIENDS_FOLDER_ID;
    let cases = [
        (&adele_token, "/v1.0/me/contacts/AAMkNOPE=/photo".to_owned()),
        // Megan's contact is not Adele's.
        (&adele_token, format!("/v1.0/me/contacts/{MEGAN_CONTACT_ID}/photo")),
        (&adele_token, format!("/v1.0/me/contactFolders/nope/contacts/{ADELE_FOLDER_CONTACT_ID}/photo")),
        // Rob Young is in no folder.
        (&adele_token, format!("/v1.0/me/contactFolders/{folder}/contacts/{ADELE_CONTACT_ID}/photo")),
        (&contacts_app, format!("/v1.0/users/{MEGAN_ID}/contacts/{ADELE_CONTACT_ID}/photo")),
        (&contacts_app, format!("/beta/users/{MEGAN_ID}/contactFolders/{folder}/contacts/{ADELE_FOLDER_CONTACT_ID}/photo")),
    ];
    for (token, path) in &cases {
        let resp = s.get(path, token).await;
        let message = resp.assert_error(404, "ErrorItemNotFound");
        assert_eq!(message, "The specified object was not found in the store.");
        let resp = s.put(&format!("{path}/$value"), token, &jpeg(48, 48)).await;
        resp.assert_error(404, "ErrorItemNotFound");
    }
    // The owner of the contact must exist first.
    let resp = s
        .get(
            "/v1.0/users/nobody@contoso.onmicrosoft.com/contacts/c/photo",
            &contacts_app,
        )
        .await;
    resp.assert_error(404, "Request_ResourceNotFound");
}

#[tokio::test]
async fn no_photo_and_unavailable_sizes_are_entity_not_found() {
    let s = server().await;
    let token = adele(&["User.ReadWrite", "Contacts.ReadWrite"]);
    for (method, path) in [
        ("GET", "/v1.0/me/photo"),
        ("GET", "/v1.0/me/photo/$value"),
        ("HEAD", "/v1.0/me/photo/$value"),
        ("GET", "/v1.0/me/photos/48x48"),
        ("GET", "/beta/me/photos/48x48/$value"),
        ("DELETE", "/v1.0/me/photo"),
        ("DELETE", "/v1.0/me/photo/$value"),
        ("GET", "/v1.0/me/contacts/AAMkAGI2THVSAAA=/photo/$value"),
    ] {
        let resp = s.call(method, path, Some(&token), Body::empty()).await;
        let message = resp.assert_error(404, "ErrorEntityNotFound");
        if method != "HEAD" {
            assert_eq!(message, "The photo wasn't found.", "{method} {path}");
        }
    }
    // An empty list, not a 404.
    let resp = s.get("/v1.0/me/photos", &token).await;
    resp.assert_status(200);
    assert_eq!(resp.json()["value"], serde_json::json!([]));

    // 100 x 70: sizes up to 64 only.
    s.upload(ME, &token, &jpeg(100, 70)).await;
    for size in ["96x96", "648x648", "47x47", "48x64", "abc", "048x048"] {
        for suffix in ["", "/$value"] {
            let path = format!("/v1.0/me/photos/{size}{suffix}");
            let resp = s.get(&path, &token).await;
            let message = resp.assert_error(404, "ErrorEntityNotFound");
            assert!(message.starts_with("The photo wasn't found."), "{path}");
        }
    }
    s.get("/v1.0/me/photos/64X64/$value", &token)
        .await
        .assert_status(200);
}
