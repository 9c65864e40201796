//! Every error of the spec, reached over the router with real tokens, and the order of the
//! checks (spec D7).

use std::sync::atomic::Ordering;

use crate::support::*;
use adapter_memstore::seed::CONTOSO_TENANT;
use axum::body::Body;
use dev_tokens::TokenRequest;

const ACCESS_DENIED: &str = "Access is denied. Check credentials and try again.";
const ME: &str = "/v1.0/me/photo/$value";

/// A request with a declared `Content-Length` and a body that records whether it was read.
fn declared(
    method: &str,
    path: &str,
    token: Option<&str>,
    length: usize,
) -> (
    axum::http::Request<Body>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let (body, pulled) = counting_stream(length, 64 * 1024);
    let request = req(method, path, token)
        .header("content-length", length)
        .body(body)
        .unwrap();
    (request, pulled)
}

/// A chunked body (no Content-Length) of twice the limit, recording how much was read.
fn chunked(
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (
    axum::http::Request<Body>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let (body, pulled) = counting_stream(2 * LIMIT, 64 * 1024);
    (req(method, path, token).body(body).unwrap(), pulled)
}

// --- 401 (spec D1) ---------------------------------------------------------------------------

#[tokio::test]
async fn bad_tokens_are_401_with_www_authenticate() {
    let s = server().await;
    let now = now();

    let mut expired = adele_claims("User.ReadWrite");
    expired["iat"] = (now - 7200).into();
    expired["nbf"] = (now - 7200).into();
    expired["exp"] = (now - 3600).into();
    let mut not_yet = adele_claims("User.ReadWrite");
    not_yet["nbf"] = (now + 3600).into();
    let mut other_tenant_issuer = adele_claims("User.ReadWrite");
    other_tenant_issuer["iss"] = format!("https://sts.windows.net/{FABRIKAM_TENANT}/").into();
    let mut no_oid = adele_claims("User.ReadWrite");
    no_oid.as_object_mut().unwrap().remove("oid");

    let mut wrong_audience = TokenRequest::delegated(CONTOSO_TENANT, ADELE_ID, ["User.ReadWrite"]);
    wrong_audience.audience = "api://some-other-api".into();

    let good = adele(&["User.ReadWrite"]);
    let tampered = {
        // Flip one character in the middle of the signature.
        let (head, signature) = good.rsplit_once('.').unwrap();
        let mut sig: Vec<char> = signature.chars().collect();
        let mid = sig.len() / 2;
        sig[mid] = if sig[mid] == 'A' { 'B' } else { 'A' };
        format!("{head}.{}", sig.into_iter().collect::<String>())
    };
    let unsigned = {
        use base64::Engine;
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
            b64(&adele_claims("User.ReadWrite"))
        )
    };
    let other_key = other_key()
        .mint(&TokenRequest::delegated(
            CONTOSO_TENANT,
            ADELE_ID,
            ["User.ReadWrite"],
        ))
        .unwrap();

    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "Access token is empty."),
        (Some("Bearer".into()), "Access token is empty."),
        (Some("Bearer    ".into()), "Access token is empty."),
        (Some("Basic dXNlcjpwYXNz".into()), "Bearer scheme"),
        (Some("Bearer not-a-jwt".into()), "JWT is not well formed"),
        (Some("Bearer a.b.c".into()), "JWT is not well formed"),
        (
            Some(format!("Bearer {}", sign(&expired))),
            "Lifetime validation failed, the token is expired.",
        ),
        (Some(format!("Bearer {}", sign(&not_yet))), "not yet valid"),
        (
            Some(format!("Bearer {}", mint(&wrong_audience))),
            "Invalid audience.",
        ),
        (
            Some(format!("Bearer {}", sign(&other_tenant_issuer))),
            "Invalid issuer",
        ),
        (Some(format!("Bearer {}", sign(&no_oid))), "'oid'"),
        (
            Some(format!("Bearer {tampered}")),
            "Access token signature is invalid.",
        ),
        (
            Some(format!("Bearer {unsigned}")),
            "'none' is not supported",
        ),
        (Some(format!("Bearer {other_key}")), "unknown key"),
    ];
    for (authorization, expected) in &cases {
        for (method, body) in [("GET", vec![]), ("PUT", jpeg(48, 48)), ("DELETE", vec![])] {
            let mut builder = req(method, ME, None);
            if let Some(value) = authorization {
                builder = builder.header("authorization", value);
            }
            let resp = s.send(builder.body(Body::from(body)).unwrap()).await;
            let message = resp.assert_error(401, "InvalidAuthenticationToken");
            assert!(
                message.contains(expected),
                "{authorization:?}: {message:?} should contain {expected:?}"
            );
            assert!(resp
                .header("www-authenticate")
                .unwrap()
                .starts_with("Bearer"));
        }
    }
    // Nothing was written by any of them.
    let resp = s.get("/v1.0/me/photo", &good).await;
    resp.assert_error(404, "ErrorEntityNotFound");
}

/// Spec B1: header names and the scheme are case-insensitive.
#[tokio::test]
async fn authorization_header_and_scheme_in_any_case() {
    let s = server().await;
    let token = adele(&["User.ReadWrite"]);
    for value in [format!("bearer {token}"), format!("BEARER  {token}")] {
        let resp = s
            .send(
                req("PUT", ME, None)
                    .header("Authorization", value)
                    .body(Body::from(jpeg(48, 48)))
                    .unwrap(),
            )
            .await;
        resp.assert_updated();
    }
}

// --- 413 (spec B4) ---------------------------------------------------------------------------

#[tokio::test]
async fn declared_oversize_is_413_before_the_body_is_read() {
    let s = server().await;
    let token = adele(&["User.ReadWrite"]);
    let (request, pulled) = declared("PUT", ME, Some(&token), LIMIT + 1);
    let resp = s.send(request).await;
    let message = resp.assert_error(413, "RequestEntityTooLarge");
    assert!(
        message.contains("4194304") && message.contains("4194305"),
        "{message}"
    );
    assert_eq!(pulled.load(Ordering::SeqCst), 0, "the body was read");

    // Exactly the limit is not too large (zeros are no image, though).
    let resp = s
        .send(
            req("PUT", ME, Some(&token))
                .header("content-length", LIMIT)
                .body(Body::from(vec![0u8; LIMIT]))
                .unwrap(),
        )
        .await;
    resp.assert_error(400, "ErrorInvalidImage");
}

#[tokio::test]
async fn chunked_oversize_is_413_and_reading_stops_at_the_limit() {
    let s = server().await;
    let token = adele(&["User.ReadWrite"]);
    let (request, pulled) = chunked("PATCH", ME, Some(&token));
    let resp = s.send(request).await;
    let message = resp.assert_error(413, "RequestEntityTooLarge");
    assert!(message.contains("4194304"), "{message}");
    let read = pulled.load(Ordering::SeqCst);
    assert!(
        read > LIMIT && read <= LIMIT + 64 * 1024,
        "read {read} bytes of a {} byte body",
        2 * LIMIT
    );
    // One byte over, in one piece.
    let resp = s
        .send(
            req("PUT", ME, Some(&token))
                .body(Body::from_stream(futures::stream::iter([Ok::<
                    _,
                    std::io::Error,
                >(
                    axum::body::Bytes::from(vec![0u8; LIMIT + 1]),
                )])))
                .unwrap(),
        )
        .await;
    resp.assert_error(413, "RequestEntityTooLarge");
    s.get("/v1.0/me/photo", &token)
        .await
        .assert_error(404, "ErrorEntityNotFound");
}

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

// --- 412 (spec B7) ----------------------------------------------------------------------------

#[tokio::test]
async fn stale_if_match_is_412_and_leaves_the_store_unchanged() {
    let s = server().await;
    let token = adele(&["User.ReadWrite"]);
    let first = jpeg_seeded(48, 48, 1);
    let etag = s.upload(ME, &token, &first).await;
    let second = jpeg_seeded(48, 48, 2);
    let weak = format!("W/{etag}");

    for (method, path, if_match) in [
        ("PUT", ME, "\"0000000000000000\""),
        ("PATCH", ME, "\"0000000000000000\""),
        // If-Match is a strong comparison: a weak tag never matches.
        ("PUT", ME, weak.as_str()),
        ("DELETE", "/v1.0/me/photo", "\"0000000000000000\""),
        ("DELETE", ME, weak.as_str()),
    ] {
        let resp = s
            .send(
                req(method, path, Some(&token))
                    .header("if-match", if_match)
                    .body(Body::from(second.clone()))
                    .unwrap(),
            )
            .await;
        let message = resp.assert_error(412, "PreconditionFailed");
        assert!(!message.is_empty());
        let now = s.get(ME, &token).await;
        assert_eq!(now.body, first, "{method} {if_match} changed the photo");
        assert_eq!(now.header("etag"), Some(etag.as_str()));
    }
    // The stale check comes before the body is read, and before the body is validated.
    let stale = "\"0000000000000000\"";
    let (body, pulled) = counting_stream(2 * LIMIT, 64 * 1024);
    let resp = s
        .send(
            req("PUT", ME, Some(&token))
                .header("if-match", stale)
                .body(body)
                .unwrap(),
        )
        .await;
    resp.assert_error(412, "PreconditionFailed");
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
    let resp = s
        .send(
            req("PUT", ME, Some(&token))
                .header("if-match", stale)
                .body(Body::from("text"))
                .unwrap(),
        )
        .await;
    resp.assert_error(412, "PreconditionFailed");

    // The current tag (alone, in a list, or `*`) lets the write through.
    let resp = s
        .send(
            req("PUT", ME, Some(&token))
                .header("if-match", format!("\"nope\", {etag}"))
                .body(Body::from(second.clone()))
                .unwrap(),
        )
        .await;
    resp.assert_updated();
    let new_etag = resp.header("etag").unwrap().to_owned();
    assert_ne!(new_etag, etag);
    // The old tag is now stale.
    let resp = s
        .send(
            req("PUT", ME, Some(&token))
                .header("if-match", &etag)
                .body(Body::from(first.clone()))
                .unwrap(),
        )
        .await;
    resp.assert_error(412, "PreconditionFailed");
    let resp = s
        .send(
            req("PUT", ME, Some(&token))
                .header("if-match", "*")
                .body(Body::from(first.clone()))
                .unwrap(),
        )
        .await;
    resp.assert_updated();
    let resp = s
        .send(
            req("DELETE", "/v1.0/me/photo", Some(&token))
                .header("if-match", "*")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    resp.assert_status(204);
}

/// Spec B7: `If-Match` is applied atomically with the write. Two writers holding the same
/// ETag both pass the early check (their bodies are still arriving), then race: one wins, the
/// other gets 412 and writes nothing.
#[tokio::test]
async fn concurrent_conditional_writes_one_wins() {
    use futures::StreamExt as _;
    let s = server().await;
    let token = adele(&["User.ReadWrite"]);
    let etag = s.upload(ME, &token, &jpeg_seeded(48, 48, 0)).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let writer = |seed: u8| {
        let photo = jpeg_seeded(48, 48, seed);
        let (head, tail) = photo.split_at(100);
        let (head, tail) = (
            axum::body::Bytes::copy_from_slice(head),
            axum::body::Bytes::copy_from_slice(tail),
        );
        let barrier = std::sync::Arc::clone(&barrier);
        // The rest of the body comes once both requests have started reading theirs.
        let body = futures::stream::once(async move { Ok::<_, std::io::Error>(head) }).chain(
            futures::stream::once(async move {
                barrier.wait().await;
                Ok(tail)
            }),
        );
        let request = req("PUT", ME, Some(&token))
            .header("if-match", &etag)
            .body(Body::from_stream(body))
            .unwrap();
        (photo, request)
    };
    let (photo_a, request_a) = writer(1);
    let (photo_b, request_b) = writer(2);
    let (a, b) = tokio::join!(s.send(request_a), s.send(request_b));
    let (winner, loser) = match (a.status.as_u16(), b.status.as_u16()) {
        (200, _) => ((a, photo_a), b),
        (_, 200) => ((b, photo_b), a),
        other => panic!("no write succeeded: {other:?}"),
    };
    loser.assert_error(412, "PreconditionFailed");
    let stored = s.get(ME, &token).await;
    assert_eq!(stored.body, winner.1);
    assert_eq!(stored.header("etag"), winner.0.header("etag"));
}

#[tokio::test]
async fn if_match_without_a_photo_is_412() {
    let s = server().await;
    let token = adele(&["User.ReadWrite", "Group.ReadWrite.All"]);
    let group = format!("/v1.0/groups/{MARKETING_GROUP_ID}/photo/$value");
    for (method, path) in [
        ("PUT", ME),
        ("PATCH", group.as_str()),
        ("DELETE", ME),
        ("DELETE", group.as_str()),
    ] {
        for if_match in ["*", "\"ABCDEF0123456789\""] {
            let resp = s
                .send(
                    req(method, path, Some(&token))
                        .header("if-match", if_match)
                        .body(Body::from(jpeg(48, 48)))
                        .unwrap(),
                )
                .await;
            resp.assert_error(412, "PreconditionFailed");
            s.get(path, &token)
                .await
                .assert_error(404, "ErrorEntityNotFound");
        }
    }
    assert!(s.store.is_empty());
}

// --- 400 ErrorInvalidImage (spec B3, B5) ------------------------------------------------------

#[tokio::test]
async fn invalid_images_are_400() {
    let s = server().await;
    let token = adele(&["User.ReadWrite"]);
    let good = jpeg(64, 64);
    let png_good = png(64, 64);
    let mut bad_crc = png_good.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0xFF; // the IEND CRC
                           // Structurally whole, but the scan's entropy-coded data is garbage (no 0xFF, so no marker).
    let mut garbled = good.clone();
    let sos = garbled.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let scan_start =
        sos + 2 + usize::from(u16::from_be_bytes([garbled[sos + 2], garbled[sos + 3]]));
    let scan_end = garbled.len() - 2;
    for (i, byte) in garbled[scan_start..scan_end].iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(151).wrapping_add(7) % 0xFF;
    }
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![], "The request body is empty."),
        (b"hello, this is not an image".to_vec(), "not supported"),
        (
            b"{\"photo\":\"/9j/4AAQSkZJRg==\"}".to_vec(),
            "not supported",
        ),
        (
            b"RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0\x30\x01\0\x9d\x01\x2a".to_vec(),
            "WebP",
        ),
        (good[..good.len() / 2].to_vec(), "JPEG"),
        (good[..good.len() - 2].to_vec(), "JPEG"),
        (png_good[..png_good.len() - 12].to_vec(), "PNG"),
        (bad_crc, "PNG"),
        (garbled, "The JPEG image is corrupt"),
        (b"GIF89a".to_vec(), "GIF"),
        // Too wide (spec B5: at most 10,000 pixels a side).
        (png(10_001, 1), "10,001"),
    ];
    for (body, expected) in &cases {
        let resp = s.put(ME, &token, body).await;
        let message = resp.assert_error(400, "ErrorInvalidImage");
        assert!(
            message.contains(expected),
            "{:?}...: {message:?} should contain {expected:?}",
            &body[..body.len().min(12)]
        );
    }
    assert!(s.store.is_empty());
    // The whole JPEG is fine.
    s.upload(ME, &token, &good).await;
}

// --- 304 (spec B7) ----------------------------------------------------------------------------

#[tokio::test]
async fn if_none_match_gives_304_on_every_photo_read() {
    let s = server().await;
    let token = adele(&["User.ReadWrite"]);
    let etag = s.upload(ME, &token, &jpeg(100, 100)).await;
    let size_etag = s
        .get("/v1.0/me/photos/48x48", &token)
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    assert_ne!(size_etag, etag);
    for (path, tag) in [
        ("/v1.0/me/photo", &etag),
        ("/v1.0/me/photo/$value", &etag),
        ("/beta/me/photos/48x48", &size_etag),
        ("/v1.0/me/photos/48X48/$value", &size_etag),
    ] {
        for if_none_match in [
            tag.clone(),
            format!("W/{tag}"),
            format!("\"x\", {tag}"),
            "*".into(),
        ] {
            for method in ["GET", "HEAD"] {
                let resp = s
                    .send(
                        req(method, path, Some(&token))
                            .header("if-none-match", &if_none_match)
                            .body(Body::empty())
                            .unwrap(),
                    )
                    .await;
                resp.assert_status(304);
                assert!(resp.body.is_empty());
                assert_eq!(resp.header("etag"), Some(tag.as_str()), "{path}");
            }
        }
        // Another tag: the full answer.
        let resp = s
            .send(
                req("GET", path, Some(&token))
                    .header("if-none-match", "\"0000000000000000\"")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        resp.assert_status(200);
        assert_eq!(resp.header("etag"), Some(tag.as_str()));
    }
    // After an update, the old tags no longer match.
    s.upload(ME, &token, &jpeg(101, 100)).await;
    let resp = s
        .send(
            req("GET", "/v1.0/me/photos/48x48/$value", Some(&token))
                .header("if-none-match", &size_etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    resp.assert_status(200);
    assert_ne!(resp.header("etag"), Some(size_etag.as_str()));
}

// --- The order of checks (spec D7) ------------------------------------------------------------

#[tokio::test]
async fn routing_comes_before_authentication() {
    let s = server().await;
    let expired = {
        let mut claims = adele_claims("User.ReadWrite");
        claims["exp"] = (now() - 3600).into();
        sign(&claims)
    };
    for token in [None, Some("garbage"), Some(expired.as_str())] {
        s.call("PUT", "/v1.0/me/foto/$value", token, jpeg(48, 48))
            .await
            .assert_error(400, "BadRequest");
        s.call("POST", ME, token, jpeg(48, 48))
            .await
            .assert_error(405, "MethodNotAllowed");
        s.call("GET", "/v1.0/me/contacts/c/photos", token, Body::empty())
            .await
            .assert_error(400, "BadRequest");
    }
}

#[tokio::test]
async fn authentication_comes_before_the_size_limit() {
    let s = server().await;
    let (request, pulled) = declared("PUT", ME, None, LIMIT + 1);
    s.send(request)
        .await
        .assert_error(401, "InvalidAuthenticationToken");
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
    let (request, pulled) = chunked("PUT", ME, Some("not.a.token"));
    s.send(request)
        .await
        .assert_error(401, "InvalidAuthenticationToken");
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn declared_size_limit_comes_before_authorization_and_lookup() {
    let s = server().await;
    let cases = [
        // Not allowed to write (403 otherwise).
        (adele(&["User.Read"]), ME.to_owned()),
        // Another user without a role (403 otherwise).
        (
            adele(&["User.ReadWrite.All"]),
            format!("/v1.0/users/{ALEX_ID}/photo/$value"),
        ),
        // An unknown user (404 otherwise).
        (
            megan(&["User.ReadWrite.All"]),
            "/v1.0/users/nobody@x.com/photo/$value".to_owned(),
        ),
        // An application on /me (400 otherwise).
        (app(&["User.ReadWrite.All"]), ME.to_owned()),
        // A personal account under v1.0 (400 otherwise).
        (pat(&["User.ReadWrite"]), ME.to_owned()),
    ];
    for (token, path) in &cases {
        let (request, pulled) = declared("PUT", path, Some(token), LIMIT + 1);
        s.send(request)
            .await
            .assert_error(413, "RequestEntityTooLarge");
        assert_eq!(pulled.load(Ordering::SeqCst), 0);
    }
}

/// Step 4 before 5: a caller without rights on a kind of target gets the same 403 whether
/// or not the id exists, so ids cannot be probed.
#[tokio::test]
async fn forbidden_comes_before_not_found_and_does_not_leak() {
    let s = server().await;
    let adele_token = adele(&["User.ReadWrite", "Contacts.ReadWrite"]);
    let pairs = [
        (
            format!("/v1.0/users/{ALEX_ID}/photo/$value"),
            "/v1.0/users/nobody@contoso.onmicrosoft.com/photo/$value".to_owned(),
        ),
        (
            format!("/v1.0/groups/{MARKETING_GROUP_ID}/photo/$value"),
            "/v1.0/groups/no-such-group/photo/$value".to_owned(),
        ),
        (
            format!("/v1.0/users/{MEGAN_ID}/contacts/{MEGAN_CONTACT_ID}/photo/$value"),
            "/v1.0/users/nobody@x.com/contacts/nothing/photo/$value".to_owned(),
        ),
        // Another tenant's user looks like any other unknown user.
        (
            format!("/v1.0/users/{ALLAN_ID}/photo/$value"),
            format!("/v1.0/users/{MEGAN_ID}/photo/$value"),
        ),
    ];
    for (existing, missing) in &pairs {
        for method in ["PUT", "GET", "DELETE"] {
            let a = s
                .call(method, existing, Some(&adele_token), jpeg(48, 48))
                .await;
            let b = s
                .call(method, missing, Some(&adele_token), jpeg(48, 48))
                .await;
            if method == "DELETE" && existing.contains("/contacts/") {
                // Contact photos cannot be deleted: routing answers first.
                a.assert_error(405, "MethodNotAllowed");
                b.assert_error(405, "MethodNotAllowed");
                continue;
            }
            let message = a.assert_error(403, "ErrorAccessDenied");
            assert_eq!(b.assert_error(403, "ErrorAccessDenied"), message);
        }
    }
    // No body is read for a refused write.
    let (request, pulled) = chunked(
        "PUT",
        "/v1.0/users/nobody@x.com/photo/$value",
        Some(&adele_token),
    );
    s.send(request).await.assert_error(403, "ErrorAccessDenied");
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
}

/// Steps 5 and 8: a target that does not exist is 404 before the body is read or validated.
#[tokio::test]
async fn not_found_comes_before_the_body() {
    let s = server().await;
    let admin = megan(&["User.ReadWrite.All"]);
    let path = "/v1.0/users/nobody@contoso.onmicrosoft.com/photo/$value";
    let (request, pulled) = chunked("PUT", path, Some(&admin));
    s.send(request)
        .await
        .assert_error(404, "Request_ResourceNotFound");
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
    s.put(path, &admin, b"not an image")
        .await
        .assert_error(404, "Request_ResourceNotFound");
}

// --- Tokens as Entra issues them (spec D1) ------------------------------------------------------

#[tokio::test]
async fn entra_token_variants_are_accepted() {
    let s = server().await;
    let now = now();
    let mut v2_issuer = adele_claims("User.ReadWrite");
    v2_issuer["iss"] = format!("https://login.microsoftonline.com/{CONTOSO_TENANT}/v2.0").into();
    v2_issuer["ver"] = "2.0".into();
    let mut app_id_audience = adele_claims("User.ReadWrite");
    app_id_audience["aud"] = "00000003-0000-0000-c000-000000000000".into();
    // Within the 60 s of clock skew.
    let mut just_expired = adele_claims("User.ReadWrite");
    just_expired["exp"] = (now - 30).into();
    let mut upper_case_tenant = adele_claims("User.ReadWrite");
    let upper = CONTOSO_TENANT.to_uppercase();
    upper_case_tenant["tid"] = upper.clone().into();
    upper_case_tenant["iss"] = format!("https://sts.windows.net/{upper}/").into();
    // Many scopes, one of which counts; names in any case.
    let mut many_scopes = adele_claims("openid profile email user.readwrite Mail.Read");
    many_scopes.as_object_mut().unwrap().remove("idtyp");
    for claims in [
        v2_issuer,
        app_id_audience,
        just_expired,
        upper_case_tenant,
        many_scopes,
    ] {
        let resp = s.put(ME, &sign(&claims), &jpeg(48, 48)).await;
        assert_eq!(resp.status, 200, "{claims}: {}", resp.message());
    }
    // A directory role id in upper case still counts.
    let admin = delegated(
        CONTOSO_TENANT,
        MEGAN_ID,
        &["User.ReadWrite.All"],
        &[&photo_core::principal::USER_ADMINISTRATOR.to_uppercase()],
    );
    s.upload(
        &format!("/v1.0/users/{ALEX_ID}/photo/$value"),
        &admin,
        &jpeg(48, 48),
    )
    .await;
}

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
