//! Routes (spec A1-A6), path parsing (A3), what the SDKs send (spec W), CORS and the
//! headers of every response (C6), in process over the in-memory adapters.

use crate::support::*;
use axum::body::{Body, Bytes};

const FOLDER: &str = ADELE_FRIENDS_FOLDER_ID;

/// Spec A1/A2/C1: every update route, PUT and PATCH, v1.0 and beta, by a principal D4 allows;
/// the stored photo is then readable through the same route, byte for byte.
#[tokio::test]
async fn every_update_route_succeeds_with_put_and_patch_under_both_versions() {
    let s = server().await;
    let me = adele(&[
        "User.ReadWrite",
        "Contacts.ReadWrite",
        "Group.ReadWrite.All",
    ]);
    let admin = megan(&["User.ReadWrite.All"]);
    let contacts_app = app(&["Contacts.ReadWrite"]);
    let routes = [
        ("me/photo/$value".to_owned(), &me),
        (format!("users/{ALEX_ID}/photo/$value"), &admin),
        (format!("users/{ADELE_UPN}/photo/$value"), &me),
        (format!("groups/{MARKETING_GROUP_ID}/photo/$value"), &me),
        (format!("me/contacts/{ADELE_CONTACT_ID}/photo/$value"), &me),
        (
            format!("users/{MEGAN_ID}/contacts/{MEGAN_CONTACT_ID}/photo/$value"),
            &contacts_app,
        ),
        (
            format!("me/contactfolders/{FOLDER}/contacts/{ADELE_FOLDER_CONTACT_ID}/photo/$value"),
            &me,
        ),
        (
            format!("users/{ADELE_ID}/contactfolders/{FOLDER}/contacts/{ADELE_FOLDER_CONTACT_ID}/photo/$value"),
            &me,
        ),
    ];
    let mut seed = 0u8;
    for version in ["v1.0", "beta"] {
        for method in ["PUT", "PATCH"] {
            for (route, token) in &routes {
                seed += 1;
                let path = format!("/{version}/{route}");
                let photo = jpeg_seeded(40, 36, seed);
                let resp = s
                    .call(method, &path, Some(token.as_str()), photo.clone())
                    .await;
                resp.assert_updated();
                let etag = resp.header("etag").unwrap().to_owned();

                let read = s.get(&path, token).await;
                read.assert_status(200);
                assert_eq!(read.body, photo, "{method} {path}");
                assert_eq!(read.header("content-type"), Some("image/jpeg"));
                assert_eq!(read.header("etag"), Some(etag.as_str()), "{method} {path}");
            }
        }
    }
}

/// `/me`, `/users/{id}` and `/users/{UPN}` name the same photo.
#[tokio::test]
async fn me_id_and_upn_are_the_same_photo() {
    let s = server().await;
    let token = adele(&["User.ReadWrite"]);
    let photo = jpeg(50, 50);
    let etag = s.upload("/v1.0/me/photo/$value", &token, &photo).await;
    for path in [
        format!("/v1.0/users/{ADELE_ID}/photo/$value"),
        format!("/beta/users/{}/photo/$value", ADELE_ID.to_uppercase()),
        format!("/v1.0/users/{ADELE_UPN}/photo/$value"),
        format!("/v1.0/users/{}/photo/$value", ADELE_UPN.to_uppercase()),
    ] {
        let resp = s.get(&path, &token).await;
        resp.assert_status(200);
        assert_eq!(resp.body, photo, "{path}");
        assert_eq!(resp.header("etag"), Some(etag.as_str()));
    }
}

/// Spec A3: `%2F` inside an id, `+` literal, `=` and `'` raw or encoded.
#[tokio::test]
async fn ids_are_split_before_decoding_and_plus_is_literal() {
    let s = server().await;
    let token = adele(&["Group.ReadWrite.All", "Contacts.ReadWrite"]);

    let photo = jpeg_seeded(48, 48, 1);
    s.upload(
        "/v1.0/groups/grp%2Fwith%2Fslash/photo/$value",
        &token,
        &photo,
    )
    .await;
    let meta = s.get("/v1.0/groups/grp%2Fwith%2Fslash/photo", &token).await;
    meta.assert_status(200);
    assert!(
        meta.json()["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/$metadata#groups('grp/with/slash')/photo/$entity"),
        "{}",
        meta.json()
    );
    // A raw `/` is a path separator: that is another path altogether.
    let raw = s
        .get("/v1.0/groups/grp/with/slash/photo/$value", &token)
        .await;
    raw.assert_error(400, "BadRequest");

    // The contact id is `AAMk/slash+plus=`.
    let photo = jpeg_seeded(48, 48, 2);
    s.upload(
        "/v1.0/me/contacts/AAMk%2Fslash%2Bplus%3D/photo/$value",
        &token,
        &photo,
    )
    .await;
    for path in [
        "/v1.0/me/contacts/AAMk%2Fslash+plus=/photo/$value",
        "/beta/me/contacts/AAMk%2fslash%2bplus%3d/photo/%24value",
    ] {
        let resp = s.get(path, &token).await;
        resp.assert_status(200);
        assert_eq!(resp.body, photo, "{path}");
    }
    // `+` is not a space.
    let resp = s
        .get("/v1.0/me/contacts/AAMk%2Fslash%20plus=/photo", &token)
        .await;
    resp.assert_error(404, "ErrorItemNotFound");
}

/// Spec A3: a UPN with `'`, `+`, `=`, `@`, raw or percent-encoded (Python SDK), any case.
#[tokio::test]
async fn upns_with_special_characters_raw_or_encoded_and_in_any_case() {
    let s = server().await;
    let admin = megan(&["User.ReadWrite.All"]);
    let photo = jpeg_seeded(60, 60, 9);
    let etag = s
        .upload(
            &format!("/v1.0/users/{ODD_UPN}/photo/$value"),
            &admin,
            &photo,
        )
        .await;
    for path in [
        format!("/v1.0/users/{ODD_ID}/photo/$value"),
        "/v1.0/users/o%27neil%2Bphotos%3D1%40contoso.onmicrosoft.com/photo/$value".to_owned(),
        "/beta/users/O'NEIL+PHOTOS=1@CONTOSO.ONMICROSOFT.COM/photo/$value".to_owned(),
    ] {
        let resp = s.get(&path, &admin).await;
        resp.assert_status(200);
        assert_eq!(resp.body, photo, "{path}");
        assert_eq!(resp.header("etag"), Some(etag.as_str()));
    }
    // With a space instead of the plus, it is nobody.
    let resp = s
        .get(
            "/v1.0/users/o'neil%20photos=1@contoso.onmicrosoft.com/photo",
            &admin,
        )
        .await;
    let message = resp.assert_error(404, "Request_ResourceNotFound");
    assert_eq!(
        message,
        "Resource 'o'neil photos=1@contoso.onmicrosoft.com' does not exist or one of its queried reference-property objects are not present."
    );
}

/// Spec A3: a guest UPN with `#EXT#`, which must be sent as `%23EXT%23`.
#[tokio::test]
async fn guest_upn_with_ext_marker() {
    let s = server().await;
    let admin = megan(&["User.ReadWrite.All"]);
    let photo = jpeg(64, 64);
    let encoded = LEE_UPN.replace('#', "%23");
    assert!(encoded.contains("%23EXT%23"));
    s.upload(
        &format!("/v1.0/users/{encoded}/photo/$value"),
        &admin,
        &photo,
    )
    .await;
    let resp = s
        .get(&format!("/v1.0/users/{LEE_ID}/photo/$value"), &admin)
        .await;
    resp.assert_status(200);
    assert_eq!(resp.body, photo);
    let resp = s
        .get(
            &format!("/v1.0/users/{}/photo/$value", encoded.to_lowercase()),
            &admin,
        )
        .await;
    assert_eq!(resp.body, photo);
}

/// Spec A3: segment names in any case, `$value` as `%24value`.
#[tokio::test]
async fn segment_names_are_case_insensitive_and_value_may_be_encoded() {
    let s = server().await;
    let token = adele(&["User.ReadWrite", "Contacts.ReadWrite"]);
    let photo = jpeg_seeded(50, 50, 4);
    s.upload("/v1.0/Me/Photo/%24value", &token, &photo).await;
    for path in [
        "/v1.0/me/photo/$value",
        "/V1.0/ME/PHOTO/%24VALUE",
        "/Beta/me/photo/%24Value",
    ] {
        let resp = s.get(path, &token).await;
        resp.assert_status(200);
        assert_eq!(resp.body, photo, "{path}");
    }
    let photo = jpeg_seeded(50, 50, 5);
    s.upload(
        &format!(
            "/beta/ME/ContactFolders/{FOLDER}/CONTACTS/{ADELE_FOLDER_CONTACT_ID}/photo/%24value"
        ),
        &token,
        &photo,
    )
    .await;
    let resp = s
        .get(
            &format!("/v1.0/me/contacts/{ADELE_FOLDER_CONTACT_ID}/photo/$value"),
            &token,
        )
        .await;
    assert_eq!(resp.body, photo);
    // A single trailing slash is tolerated.
    let resp = s.get("/v1.0/me/photo/", &token).await;
    resp.assert_status(200);
}

/// Spec A6: unknown segments name the first unknown one (or the last), without a token.
#[tokio::test]
async fn unknown_segments_are_400_naming_the_segment() {
    let s = server().await;
    for (path, segment) in [
        ("/v1.0/me/photo/foo", "foo"),
        ("/v2.0/me/photo/$value", "v2.0"),
        ("/v1.0/me", "me"),
        ("/v1.0/users", "users"),
        ("/v1.0/me/mailFolders/x/photo", "mailFolders"),
        ("/v1.0/things/x/photo", "things"),
        ("/v1.0/groups/g/contacts/c/photo", "contacts"),
        ("/v1.0/me/photo/$value/extra", "extra"),
        ("/", ""),
    ] {
        for method in ["GET", "PUT", "DELETE", "POST"] {
            let resp = s.call(method, path, None, Body::empty()).await;
            let message = resp.assert_error(400, "BadRequest");
            assert_eq!(
                message,
                format!("Resource not found for the segment '{segment}'."),
                "{method} {path}"
            );
        }
    }
}

/// Spec A4: contacts have no `/photos`: 400 naming the segment.
#[tokio::test]
async fn contacts_have_no_photos_collection() {
    let s = server().await;
    let token = adele(&["Contacts.ReadWrite"]);
    for path in [
        format!("/v1.0/me/contacts/{ADELE_CONTACT_ID}/photos"),
        format!("/beta/me/contacts/{ADELE_CONTACT_ID}/photos/48x48"),
        format!(
            "/v1.0/users/{ADELE_ID}/contactFolders/{FOLDER}/contacts/{ADELE_FOLDER_CONTACT_ID}/photos/48x48/$value"
        ),
    ] {
        for token in [Some(token.as_str()), None] {
            let resp = s.call("GET", &path, token, Body::empty()).await;
            let message = resp.assert_error(400, "BadRequest");
            assert!(message.contains("'photos'"), "{path}: {message}");
        }
    }
}

/// Spec A5/A6: a known path with the wrong method is 405 with `Allow`, before authentication.
#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let s = server().await;
    let contact_writer = adele(&["Contacts.ReadWrite", "User.ReadWrite"]);
    let cases = [
        ("POST", "/v1.0/me/photo/$value".to_owned(), "GET, HEAD, PUT, PATCH, DELETE"),
        ("PUT", "/v1.0/me/photo".to_owned(), "GET, HEAD, DELETE"),
        ("PATCH", format!("/beta/groups/{MARKETING_GROUP_ID}/photo"), "GET, HEAD, DELETE"),
        ("PUT", "/v1.0/me/photos/48x48/$value".to_owned(), "GET, HEAD"),
        ("DELETE", "/v1.0/me/photos".to_owned(), "GET, HEAD"),
        (
            "DELETE",
            format!("/v1.0/me/contacts/{ADELE_CONTACT_ID}/photo/$value"),
            "GET, HEAD, PUT, PATCH",
        ),
        ("DELETE", format!("/v1.0/me/contacts/{ADELE_CONTACT_ID}/photo"), "GET, HEAD"),
        (
            "DELETE",
            format!("/beta/users/{ADELE_ID}/contactfolders/{FOLDER}/contacts/{ADELE_FOLDER_CONTACT_ID}/photo/$value"),
            "GET, HEAD, PUT, PATCH",
        ),
    ];
    for (method, path, allow) in &cases {
        for token in [None, Some("not-a-token"), Some(contact_writer.as_str())] {
            let resp = s.call(method, path, token, Body::empty()).await;
            resp.assert_error(405, "MethodNotAllowed");
            assert_eq!(resp.header("allow"), Some(*allow), "{method} {path}");
        }
    }
}

/// Spec C6: `client-request-id` echoed when sent, else equal to the fresh `request-id`.
#[tokio::test]
async fn request_ids_on_success_and_error() {
    let s = server().await;
    let token = adele(&["User.ReadWrite"]);
    let client_id = "7d3e2c1b-aaaa-4bbb-8ccc-123456789abc";
    let photo = jpeg(48, 48);
    let mut seen = Vec::new();
    for (method, path, body) in [
        ("PUT", "/v1.0/me/photo/$value", photo.clone()),
        ("GET", "/v1.0/me/photo", vec![]),
        ("GET", "/v1.0/me/nothing", vec![]),
        ("GET", "/v1.0/users/nobody/photo", vec![]),
    ] {
        // `send` checks the echo (support::assert_c6) and the error envelope.
        let resp = s
            .send(
                req(method, path, Some(&token))
                    .header("client-request-id", client_id)
                    .body(Body::from(body.clone()))
                    .unwrap(),
            )
            .await;
        assert_eq!(resp.header("client-request-id"), Some(client_id));
        let resp = s.call(method, path, Some(&token), body).await;
        let request_id = resp.header("request-id").unwrap().to_owned();
        assert_eq!(resp.header("client-request-id"), Some(request_id.as_str()));
        seen.push(request_id);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "a fresh request-id per response");

    // An id that is not sane (too long) is not echoed.
    let long = "x".repeat(500);
    let resp = s
        .send_raw(
            req("GET", "/v1.0/me/photo", Some(&token))
                .header("client-request-id", &long)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.header("client-request-id"), resp.header("request-id"));
}

/// Spec W3, msgraph-sdk for Python: lower-case headers, octet-stream, encoded ids.
#[tokio::test]
async fn python_sdk_shaped_requests() {
    let s = server().await;
    let token = adele(&["User.ReadWrite", "Contacts.ReadWrite"]);
    let photo = jpeg(80, 60);
    let path =
        "/v1.0/users/AdeleV%40contoso.onmicrosoft.com/contacts/AAMkAGI2THVSAAA%3D/photo/$value";
    let resp = s
        .send(
            req("PUT", path, None)
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/octet-stream")
                .header("accept", "application/json")
                .header("content-length", photo.len())
                .body(Body::from(photo.clone()))
                .unwrap(),
        )
        .await;
    resp.assert_updated();
    let resp = s
        .send(
            req("GET", path, None)
                .header("authorization", format!("Bearer {token}"))
                .header("accept", "application/octet-stream, application/json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    resp.assert_status(200);
    assert_eq!(resp.body, photo);
    // Metadata comes back as exactly `application/json` (the SDK drops anything else).
    let resp = s
        .send(
            req("GET", "/v1.0/me/contacts/AAMkAGI2THVSAAA%3D/photo", None)
                .header("authorization", format!("Bearer {token}"))
                .header("accept", "application/json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    resp.assert_status(200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
}

/// Spec W7-W8, the JS SDK: `Content-Type: application/json` on a JPEG, raw `=` and `@`.
#[tokio::test]
async fn js_sdk_shaped_requests() {
    let s = server().await;
    let token = adele(&["User.ReadWrite", "Contacts.ReadWrite"]);
    let photo = jpeg(64, 64);
    let path = format!("/v1.0/users/{ADELE_UPN}/contacts/{ADELE_CONTACT_ID}/photo/$value");
    assert!(path.contains('@') && path.contains('='));
    let resp = s
        .send(
            req("PUT", &path, Some(&token))
                .header("Content-Type", "application/json")
                .body(Body::from(photo.clone()))
                .unwrap(),
        )
        .await;
    // 200 with no Content-Type: the JS SDK throws on 200 + application/json + empty body.
    resp.assert_updated();
    let resp = s.get(&path, &token).await;
    assert_eq!(resp.body, photo);
    assert_eq!(resp.header("content-type"), Some("image/jpeg"));
}

/// Spec B3: the declared type is not trusted; none at all is fine; a lie is ignored.
#[tokio::test]
async fn content_type_is_sniffed_not_trusted() {
    let s = server().await;
    let token = adele(&["User.ReadWrite"]);
    for (content_type, photo, served) in [
        (None, png(50, 50), "image/png"),
        (Some("image/png"), jpeg(50, 50), "image/jpeg"),
        (Some("text/plain"), gif(50, 50), "image/gif"),
        (Some("image/jpeg"), bmp(50, 50), "image/bmp"),
    ] {
        let mut builder = req("PUT", "/v1.0/me/photo/$value", Some(&token));
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        let resp = s
            .send(builder.body(Body::from(photo.clone())).unwrap())
            .await;
        resp.assert_updated();
        let resp = s.get("/v1.0/me/photo/$value", &token).await;
        assert_eq!(resp.body, photo);
        assert_eq!(resp.header("content-type"), Some(served));
    }
}

/// Spec B2, graph-rs-sdk: a streamed (chunked) body without Content-Type.
#[tokio::test]
async fn chunked_upload_without_content_type() {
    let s = server().await;
    let token = adele(&["User.ReadWrite"]);
    let photo = jpeg(120, 100);
    let chunks: Vec<Result<Bytes, std::io::Error>> = photo
        .chunks(97)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let body = Body::from_stream(futures::stream::iter(chunks));
    let resp = s
        .send(
            req("PUT", "/beta/me/photo/$value", Some(&token))
                .body(body)
                .unwrap(),
        )
        .await;
    resp.assert_updated();
    let resp = s.get("/v1.0/me/photo/$value", &token).await;
    assert_eq!(resp.body, photo);
}

/// Browsers: a preflight is answered with the Access-Control-Allow-* headers, and responses
/// (errors too) let scripts read the ETag and the request ids.
#[tokio::test]
async fn cors_preflight_and_exposed_headers() {
    let s = server().await;
    let origin = "https://app.example.com";
    let resp = s
        .send_raw(
            req("OPTIONS", "/v1.0/me/photo/$value", None)
                .header("origin", origin)
                .header("access-control-request-method", "PUT")
                .header(
                    "access-control-request-headers",
                    "authorization,content-type,if-match",
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(resp.status.is_success(), "{}", resp.status);
    assert_eq!(resp.header("access-control-allow-origin"), Some(origin));
    let methods = resp
        .header("access-control-allow-methods")
        .unwrap()
        .to_ascii_uppercase();
    for m in ["GET", "PUT", "PATCH", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let headers = resp
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in ["authorization", "content-type", "if-match"] {
        assert!(headers.contains(h), "{headers}");
    }
    assert!(resp.header("access-control-max-age").is_some());

    let token = adele(&["User.ReadWrite"]);
    s.upload("/v1.0/me/photo/$value", &token, &jpeg(48, 48))
        .await;
    for (path, token, status) in [
        ("/v1.0/me/photo", Some(token.as_str()), 200),
        ("/v1.0/me/photo", None, 401),
    ] {
        let resp = s
            .send(
                req("GET", path, token)
                    .header("origin", origin)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        resp.assert_status(status);
        assert_eq!(resp.header("access-control-allow-origin"), Some(origin));
        let exposed = resp
            .header("access-control-expose-headers")
            .unwrap()
            .to_ascii_lowercase();
        for h in [
            "etag",
            "request-id",
            "client-request-id",
            "www-authenticate",
        ] {
            assert!(exposed.contains(h), "{exposed}");
        }
    }
}
