//! Conditional requests: `If-Match` (412) and `If-None-Match` (304), spec B7.

use super::*;

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
