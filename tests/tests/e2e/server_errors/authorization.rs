//! 403 and the other refusals of who may do what: denied permissions (spec D6), an application
//! token on `/me` (D4), a personal account's own photo under v1.0 (B6).

use super::*;

// --- 403 (spec D6) ---------------------------------------------------------------------------

#[tokio::test]
async fn denied_is_403_naming_what_would_allow_it() {
    let s = server().await;
    let reader = adele(&["User.Read"]);
    let resp = s.put(ME, &reader, &jpeg(48, 48)).await;
    let message = resp.assert_error(403, "ErrorAccessDenied");
    assert!(message.starts_with(ACCESS_DENIED), "{message}");
    for permission in [
        "User.ReadWrite",
        "User.ReadWrite.All",
        "ProfilePhoto.ReadWrite.All",
    ] {
        assert!(message.contains(permission), "{message}");
    }
    // Another user, delegated: the permission and a directory role.
    let resp = s
        .put(
            &format!("/v1.0/users/{ALEX_ID}/photo/$value"),
            &adele(&["User.ReadWrite.All"]),
            &jpeg(48, 48),
        )
        .await;
    let message = resp.assert_error(403, "ErrorAccessDenied");
    assert!(message.starts_with(ACCESS_DENIED), "{message}");
    assert!(message.contains("User Administrator"), "{message}");
    // DELETE is a write too.
    let resp = s.delete("/v1.0/me/photo", &reader).await;
    resp.assert_error(403, "ErrorAccessDenied");
}

/// Spec D4: an application token on any `/me` path.
#[tokio::test]
async fn application_token_on_me_is_400() {
    let s = server().await;
    let token = app(&[
        "User.ReadWrite.All",
        "ProfilePhoto.ReadWrite.All",
        "Contacts.ReadWrite",
        "User.Read.All",
    ]);
    for (method, path) in [
        ("PUT", ME.to_owned()),
        ("PATCH", "/beta/me/photo/$value".to_owned()),
        ("GET", "/v1.0/me/photo".to_owned()),
        ("GET", "/v1.0/me/photos".to_owned()),
        ("GET", "/v1.0/me/photos/48x48/$value".to_owned()),
        ("DELETE", "/v1.0/me/photo".to_owned()),
        ("GET", format!("/v1.0/me/contacts/{ADELE_CONTACT_ID}/photo")),
        (
            "PUT",
            format!("/v1.0/me/contactFolders/{ADELE_FRIENDS_FOLDER_ID}/contacts/{ADELE_FOLDER_CONTACT_ID}/photo/$value"),
        ),
    ] {
        let resp = s.call(method, &path, Some(&token), jpeg(48, 48)).await;
        let message = resp.assert_error(400, "BadRequest");
        assert_eq!(
            message, "/me request is only valid with delegated authentication flow.",
            "{method} {path}"
        );
    }
}

// --- 400 ConsumerPhotoIsNotSupported (spec B6) ------------------------------------------------

#[tokio::test]
async fn personal_accounts_cannot_update_their_photo_in_v1() {
    let s = server().await;
    let token = pat(&["User.ReadWrite"]);
    let photo = jpeg(48, 48);
    for (method, path) in [
        ("PUT", ME.to_owned()),
        ("PATCH", ME.to_owned()),
        ("PUT", format!("/v1.0/users/{PAT_ID}/photo/$value")),
        ("PUT", "/v1.0/users/PAT@outlook.com/photo/$value".to_owned()),
    ] {
        let resp = s.call(method, &path, Some(&token), photo.clone()).await;
        let message = resp.assert_error(400, "ConsumerPhotoIsNotSupported");
        assert!(message.contains("/beta"), "{message}");
        assert!(message.contains("work or school"), "{message}");
    }
    // Nothing was stored; /beta works; reads and DELETE are not affected under v1.0.
    s.get("/v1.0/me/photo", &token)
        .await
        .assert_error(404, "ErrorEntityNotFound");
    let etag = s.upload("/beta/me/photo/$value", &token, &photo).await;
    let resp = s.get(ME, &token).await;
    resp.assert_status(200);
    assert_eq!(resp.body, photo);
    assert_eq!(resp.header("etag"), Some(etag.as_str()));
    s.upload(
        &format!("/beta/users/{PAT_ID}/photo/$value"),
        &token,
        &jpeg(50, 50),
    )
    .await;
    s.delete("/v1.0/me/photo", &token).await.assert_status(204);
    // The rule is checked after the body-free checks and before the body is read.
    let (request, pulled) = chunked("PUT", ME, Some(&token));
    s.send(request)
        .await
        .assert_error(400, "ConsumerPhotoIsNotSupported");
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
}
