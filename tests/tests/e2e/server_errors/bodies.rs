//! What is wrong with the body: over the size limit (413, spec B4) or not an image (400,
//! spec B3, B5).

use super::*;

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
