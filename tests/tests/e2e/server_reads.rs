//! The read side (spec A4, C2-C5): metadata, bytes, sizes, DELETE, HEAD.

use crate::support::*;
use axum::body::Body;
use serde_json::json;

const ME: &str = "/v1.0/me/photo/$value";

fn get_with_host(path: &str, token: &str, host: &str) -> axum::http::Request<Body> {
    req("GET", path, Some(token))
        .header("host", host)
        .body(Body::empty())
        .unwrap()
}

/// Spec C2: the exact metadata document, `@odata.context` naming users for `/me` too.
#[tokio::test]
async fn photo_metadata_has_the_exact_graph_shape() {
    let s = server().await;
    let token = adele(&["User.ReadWrite", "User.ReadBasic.All"]);
    let etag = s.upload(ME, &token, &jpeg(130, 90)).await;
    for (path, version) in [
        ("/v1.0/me/photo".to_owned(), "v1.0"),
        (format!("/beta/users/{ADELE_UPN}/photo"), "beta"),
        (
            format!("/v1.0/users/{}/photo", ADELE_ID.to_uppercase()),
            "v1.0",
        ),
    ] {
        let resp = s
            .send(get_with_host(&path, &token, "photos.test:8443"))
            .await;
        resp.assert_status(200);
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert_eq!(resp.header("etag"), Some(etag.as_str()));
        assert_eq!(
            resp.header("content-length"),
            Some(resp.body.len().to_string().as_str())
        );
        assert_eq!(
            resp.json(),
            json!({
                "@odata.context": format!("http://photos.test:8443/{version}/$metadata#users('{ADELE_ID}')/photo/$entity"),
                "@odata.mediaContentType": "image/jpeg",
                "@odata.mediaEtag": etag,
                "id": "130x90",
                "width": 130,
                "height": 90,
            }),
            "{path}"
        );
    }
}

/// Spec C2: with a configured public URL, and for groups and contacts (also via a folder).
#[tokio::test]
async fn odata_context_names_the_target() {
    let s = server_with_base(Some("https://graph.example.com/")).await;
    let token = adele(&[
        "User.ReadWrite",
        "Group.ReadWrite.All",
        "Contacts.ReadWrite",
    ]);
    let group = format!("/v1.0/groups/{MARKETING_GROUP_ID}/photo");
    let contact = format!("/beta/me/contacts/{ADELE_CONTACT_ID}/photo");
    let in_folder = format!(
        "/v1.0/users/{ADELE_UPN}/contactFolders/{ADELE_FRIENDS_FOLDER_ID}/contacts/{ADELE_FOLDER_CONTACT_ID}/photo"
    );
    for path in [&group, &contact, &in_folder] {
        s.upload(&format!("{path}/$value"), &token, &png(64, 48))
            .await;
    }
    for (path, context) in [
        (
            "/v1.0/me/photo".to_owned(),
            format!("https://graph.example.com/v1.0/$metadata#users('{ADELE_ID}')/photo/$entity"),
        ),
        (
            group.clone(),
            format!("https://graph.example.com/v1.0/$metadata#groups('{MARKETING_GROUP_ID}')/photo/$entity"),
        ),
        (
            contact.clone(),
            format!("https://graph.example.com/beta/$metadata#users('{ADELE_ID}')/contacts('{ADELE_CONTACT_ID}')/photo/$entity"),
        ),
        (
            in_folder.clone(),
            format!("https://graph.example.com/v1.0/$metadata#users('{ADELE_ID}')/contacts('{ADELE_FOLDER_CONTACT_ID}')/photo/$entity"),
        ),
    ] {
        if path == "/v1.0/me/photo" {
            s.upload(ME, &token, &png(64, 48)).await;
        }
        let resp = s.send(get_with_host(&path, &token, "ignored.test")).await;
        resp.assert_status(200);
        let meta = resp.json();
        assert_eq!(meta["@odata.context"], context, "{path}");
        assert_eq!(meta["@odata.mediaContentType"], "image/png");
        assert_eq!(meta["id"], "64x48");
        assert_eq!(meta["@odata.mediaEtag"].as_str(), resp.header("etag"));
    }
    let resp = s
        .send(get_with_host(
            &format!("/v1.0/groups/{MARKETING_GROUP_ID}/photos"),
            &token,
            "ignored.test",
        ))
        .await;
    assert_eq!(
        resp.json()["@odata.context"],
        format!("https://graph.example.com/v1.0/$metadata#groups('{MARKETING_GROUP_ID}')/photos")
    );
}

/// `@odata.context` quotes ids as OData literals: a `'` is doubled.
#[tokio::test]
async fn odata_context_quotes_ids() {
    let s = server().await;
    let token = adele(&["Group.ReadWrite.All"]);
    s.upload("/v1.0/groups/o%27group/photo/$value", &token, &jpeg(48, 48))
        .await;
    let meta = s.get("/v1.0/groups/o'group/photo", &token).await.json();
    assert_eq!(
        meta["@odata.context"],
        "http://localhost/v1.0/$metadata#groups('o''group')/photo/$entity"
    );
}

/// Spec C3: `$value` is exactly the uploaded bytes, typed by the sniffed format.
#[tokio::test]
async fn value_returns_the_uploaded_bytes_with_their_type() {
    let s = server().await;
    let token = adele(&["User.ReadWrite"]);
    for (photo, content_type) in [
        (jpeg(70, 50), "image/jpeg"),
        (png(70, 50), "image/png"),
        (gif(70, 50), "image/gif"),
        (bmp(70, 50), "image/bmp"),
    ] {
        let etag = s.upload(ME, &token, &photo).await;
        let resp = s.get(ME, &token).await;
        resp.assert_status(200);
        assert_eq!(resp.body, photo);
        assert_eq!(resp.header("content-type"), Some(content_type));
        assert_eq!(resp.header("cache-control"), Some("private"));
        assert_eq!(resp.header("etag"), Some(etag.as_str()));
        assert_eq!(
            resp.header("content-length"),
            Some(photo.len().to_string().as_str())
        );
        let meta = s.get("/v1.0/me/photo", &token).await.json();
        assert_eq!(meta["@odata.mediaEtag"], etag);
        assert_eq!(meta["@odata.mediaContentType"], content_type);
        assert_eq!(
            (meta["width"].clone(), meta["height"].clone()),
            (json!(70), json!(50))
        );
    }
}

/// C8: a new photo has a new strong ETag; the old one is gone.
#[tokio::test]
async fn replacing_a_photo_changes_everything() {
    let s = server().await;
    let token = adele(&["User.ReadWrite"]);
    let first = jpeg_seeded(100, 100, 1);
    let second = jpeg_seeded(100, 100, 2);
    let e1 = s.upload(ME, &token, &first).await;
    let size1 = s.get("/v1.0/me/photos/96x96/$value", &token).await;
    let e2 = s.upload(ME, &token, &second).await;
    assert_ne!(e1, e2);
    assert!(!e2.starts_with("W/"));
    assert_eq!(s.get(ME, &token).await.body, second);
    let size2 = s.get("/v1.0/me/photos/96x96/$value", &token).await;
    assert_ne!(size1.header("etag"), size2.header("etag"));
    assert_ne!(size1.body, size2.body, "a stale rendition was served");
}

/// Spec C5: sizes up to the shorter side, each a centre-cropped square of its size.
#[tokio::test]
async fn sizes_list_and_renditions() {
    let s = server().await;
    let token = adele(&["User.ReadWrite"]);
    let etag = s.upload(ME, &token, &jpeg(250, 130)).await;
    let list = s.get("/v1.0/me/photos", &token).await;
    list.assert_status(200);
    assert_eq!(list.header("content-type"), Some("application/json"));
    let list = list.json();
    assert!(list["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/v1.0/$metadata#users('{ADELE_ID}')/photos")));
    let entries = list["value"].as_array().unwrap();
    let ids: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["48x48", "64x64", "96x96", "120x120"]);
    let mut tags = vec![etag.clone()];
    for entry in entries {
        let id = entry["id"].as_str().unwrap();
        let side: u32 = id.split('x').next().unwrap().parse().unwrap();
        assert_eq!(entry["width"], side);
        assert_eq!(entry["height"], side);
        assert_eq!(entry.as_object().unwrap().len(), 4, "{entry}");
        let tag = entry["@odata.mediaEtag"].as_str().unwrap().to_owned();
        assert_strong_etag(&tag);
        tags.push(tag.clone());

        let meta = s.get(&format!("/v1.0/me/photos/{id}"), &token).await;
        meta.assert_status(200);
        assert_eq!(meta.header("etag"), Some(tag.as_str()));
        let meta = meta.json();
        assert_eq!(meta["id"], id);
        assert_eq!(meta["width"], side);
        assert_eq!(meta["height"], side);
        assert_eq!(meta["@odata.mediaEtag"], tag);
        assert_eq!(meta["@odata.mediaContentType"], "image/jpeg");
        assert!(meta["@odata.context"]
            .as_str()
            .unwrap()
            .contains("/$metadata#users('"));

        // The size id matches case-insensitively (Graph returns 48X48 in places).
        let upper = id.to_uppercase();
        let bytes = s
            .get(&format!("/beta/me/photos/{upper}/$value"), &token)
            .await;
        bytes.assert_status(200);
        assert_eq!(bytes.header("content-type"), Some("image/jpeg"));
        assert_eq!(bytes.header("cache-control"), Some("private"));
        assert_eq!(bytes.header("etag"), Some(tag.as_str()));
        let (format, w, h, _) = decode(&bytes.body);
        assert_eq!((format, w, h), (image::ImageFormat::Jpeg, side, side));
    }
    tags.sort();
    tags.dedup();
    assert_eq!(tags.len(), 5, "every size has its own ETag");

    // The boundary: a size equal to the shorter side is available.
    s.upload(ME, &token, &jpeg(240, 300)).await;
    let list = s.get("/v1.0/me/photos", &token).await.json();
    let ids: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["48x48", "64x64", "96x96", "120x120", "240x240"]);
    let (_, w, h, _) = decode(&s.get("/v1.0/me/photos/240x240/$value", &token).await.body);
    assert_eq!((w, h), (240, 240));

    // Below 48 pixels: no sizes at all, but the photo is there.
    s.upload(ME, &token, &jpeg(47, 200)).await;
    let list = s.get("/v1.0/me/photos", &token).await.json();
    assert_eq!(list["value"], json!([]));
    s.get("/v1.0/me/photos/48x48", &token)
        .await
        .assert_error(404, "ErrorEntityNotFound");
}

/// Spec C5: renditions are JPEG, or PNG when the original has transparency.
#[tokio::test]
async fn transparent_originals_give_png_renditions() {
    let s = server().await;
    let token = adele(&["User.ReadWrite", "Group.ReadWrite.All"]);
    s.upload(ME, &token, &png_transparent(120, 100)).await;
    let meta = s.get("/v1.0/me/photos/48x48", &token).await.json();
    assert_eq!(meta["@odata.mediaContentType"], "image/png");
    for side in [48u32, 64, 96] {
        let resp = s
            .get(&format!("/v1.0/me/photos/{side}x{side}/$value"), &token)
            .await;
        assert_eq!(resp.header("content-type"), Some("image/png"));
        let (format, w, h, alpha) = decode(&resp.body);
        assert_eq!(
            (format, w, h, alpha),
            (image::ImageFormat::Png, side, side, true)
        );
        let image = image::load_from_memory(&resp.body).unwrap().into_rgba8();
        // The left of the centre square is transparent, the right is not.
        assert!(image.get_pixel(1, side / 2)[3] < 128);
        assert!(image.get_pixel(side - 2, side / 2)[3] > 128);
    }
    // Opaque originals, whatever their format, give JPEG.
    let group = format!("/v1.0/groups/{MARKETING_GROUP_ID}/photo/$value");
    for photo in [png(60, 60), gif(60, 60), bmp(60, 60)] {
        s.upload(&group, &token, &photo).await;
        let resp = s
            .get(
                &format!("/v1.0/groups/{MARKETING_GROUP_ID}/photos/48x48/$value"),
                &token,
            )
            .await;
        assert_eq!(resp.header("content-type"), Some("image/jpeg"));
        let (format, w, h, _) = decode(&resp.body);
        assert_eq!((format, w, h), (image::ImageFormat::Jpeg, 48, 48));
    }
}

/// Spec B5/C2: width and height as displayed, after the EXIF orientation.
#[tokio::test]
async fn exif_orientation_is_applied_to_the_dimensions() {
    let s = server().await;
    let token = adele(&["User.ReadWrite"]);
    let plain = jpeg(120, 60);
    // An APP1 Exif segment (big-endian TIFF, one IFD entry: Orientation = 6) after SOI.
    let mut exif = vec![0xFF, 0xE1, 0x00, 34];
    exif.extend_from_slice(b"Exif\0\0MM\0\x2A\0\0\0\x08");
    exif.extend_from_slice(&[0x00, 0x01, 0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1, 0, 6, 0, 0]);
    exif.extend_from_slice(&[0, 0, 0, 0]);
    let mut rotated = plain[..2].to_vec();
    rotated.extend_from_slice(&exif);
    rotated.extend_from_slice(&plain[2..]);
    s.upload(ME, &token, &rotated).await;
    let meta = s.get("/v1.0/me/photo", &token).await.json();
    assert_eq!(
        (
            meta["id"].clone(),
            meta["width"].clone(),
            meta["height"].clone()
        ),
        (json!("60x120"), json!(60), json!(120))
    );
    assert_eq!(
        s.get(ME, &token).await.body,
        rotated,
        "the original is kept as uploaded"
    );
    let (_, w, h, _) = decode(&s.get("/v1.0/me/photos/48x48/$value", &token).await.body);
    assert_eq!((w, h), (48, 48));
}

/// Spec A5: DELETE answers 204, then every read is 404 and the list is empty.
#[tokio::test]
async fn delete_then_not_found() {
    let s = server().await;
    let token = adele(&["User.ReadWrite", "Group.ReadWrite.All"]);
    for (target, delete_path) in [
        ("/v1.0/me", "/v1.0/me/photo"),
        ("/beta/me", "/beta/me/photo/$value"),
        (
            &*format!("/v1.0/groups/{MARKETING_GROUP_ID}"),
            &*format!("/v1.0/groups/{MARKETING_GROUP_ID}/photo"),
        ),
    ] {
        s.upload(&format!("{target}/photo/$value"), &token, &jpeg(64, 64))
            .await;
        s.get(&format!("{target}/photos/48x48/$value"), &token)
            .await
            .assert_status(200);
        let resp = s.delete(delete_path, &token).await;
        resp.assert_status(204);
        assert!(resp.body.is_empty());
        for path in [
            "photo",
            "photo/$value",
            "photos/48x48",
            "photos/48x48/$value",
        ] {
            s.get(&format!("{target}/{path}"), &token)
                .await
                .assert_error(404, "ErrorEntityNotFound");
        }
        assert_eq!(
            s.get(&format!("{target}/photos"), &token).await.json()["value"],
            json!([])
        );
        s.delete(delete_path, &token)
            .await
            .assert_error(404, "ErrorEntityNotFound");
    }
    assert!(s.store.is_empty());
    // And a new upload works again.
    s.upload(ME, &token, &jpeg(48, 48)).await;
}

/// Spec A6: HEAD answers like GET, without the body.
#[tokio::test]
async fn head_is_get_without_a_body() {
    let s = server().await;
    let token = adele(&["User.ReadWrite"]);
    s.upload(ME, &token, &jpeg(100, 100)).await;
    for path in [
        "/v1.0/me/photo",
        "/v1.0/me/photo/$value",
        "/v1.0/me/photos",
        "/v1.0/me/photos/96x96",
        "/v1.0/me/photos/96x96/$value",
    ] {
        let get = s.get(path, &token).await;
        get.assert_status(200);
        let head = s.call("HEAD", path, Some(&token), Body::empty()).await;
        head.assert_status(200);
        assert!(head.body.is_empty(), "{path}");
        for name in ["content-type", "content-length", "etag", "cache-control"] {
            assert_eq!(head.header(name), get.header(name), "{name} of HEAD {path}");
        }
        assert!(get.header("content-length").is_some());
    }
}
