//! The `Authorization` header and the token's shape: schemes, malformed input, algorithms, key
//! ids and signatures.

use super::*;

// ---------------------------------------------------------------- header and shape

#[tokio::test]
async fn missing_or_empty_header_is_an_empty_token() {
    let auth = auth().await;
    assert_eq!(auth.authenticate(None).await, Err(AuthError::MissingToken));
    assert_eq!(
        auth.authenticate(Some("")).await,
        Err(AuthError::MissingToken)
    );
    assert_eq!(
        auth.authenticate(Some("  ")).await,
        Err(AuthError::MissingToken)
    );
    assert_eq!(
        auth.authenticate(Some("Bearer")).await,
        Err(AuthError::MissingToken)
    );
    assert_eq!(
        auth.authenticate(Some("Bearer   ")).await,
        Err(AuthError::MissingToken)
    );
    assert_eq!(
        AuthError::MissingToken.to_string(),
        "Access token is empty."
    );
}

#[tokio::test]
async fn other_schemes_are_refused_and_bearer_is_case_insensitive() {
    let auth = auth().await;
    assert_eq!(
        auth.authenticate(Some("Basic dXNlcjpwYXNz")).await,
        Err(AuthError::NotBearer)
    );
    let token = KEY_A.mint(&delegated_request()).expect("mint");
    assert_eq!(
        auth.authenticate(Some(&token)).await,
        Err(AuthError::NotBearer),
        "a bare token has no scheme"
    );
    for scheme in ["bearer", "BEARER", "Bearer", "bEaReR"] {
        let value = format!("{scheme}  {token} ");
        assert!(
            auth.authenticate(Some(&value)).await.is_ok(),
            "{scheme} accepted"
        );
    }
}

#[tokio::test]
async fn garbage_is_malformed() {
    for token in [
        "garbage",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "....",
        "%%%.%%%.%%%",
        "eyJhbGciOiJSUzI1NiJ9",
        // A header that is base64 of something that is not JSON.
        "bm90IGpzb24.e30.c2ln",
        // A JSON header that is not an object.
        "WzFd.e30.c2ln",
    ] {
        let result = check(token).await;
        assert!(
            matches!(result, Err(AuthError::Malformed(_))),
            "{token}: {result:?}"
        );
    }
    let too_long = "a".repeat(20_000);
    assert!(matches!(
        check(&too_long).await,
        Err(AuthError::Malformed(_))
    ));
}

#[tokio::test]
async fn alg_none_is_refused() {
    let header = b64(&json!({"alg": "none", "typ": "JWT", "kid": KEY_A.kid()}));
    let payload = b64(&Value::Object(base_claims()));
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}.x"),
    ] {
        assert_eq!(
            check(&token).await,
            Err(AuthError::UnsupportedAlgorithm("none".into()))
        );
    }
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    // Alg confusion: an attacker signs with HMAC using the public key's bytes as secret.
    let jwks = serde_json::to_vec(&KEY_A.jwks()).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(KEY_A.kid().to_owned());
    let token = jsonwebtoken::encode(
        &header,
        &Value::Object(base_claims()),
        &jsonwebtoken::EncodingKey::from_secret(&jwks),
    )
    .unwrap();
    assert_eq!(
        check(&token).await,
        Err(AuthError::UnsupportedAlgorithm("HS256".into()))
    );
    let err = AuthError::UnsupportedAlgorithm("HS256".into()).to_string();
    assert!(err.contains("HS256") && err.contains("RS256"), "{err}");
}

#[tokio::test]
async fn missing_kid_and_unknown_kid_are_refused() {
    let token_b = KEY_B.mint(&delegated_request()).expect("mint");
    let mut parts = token_b.splitn(2, '.');
    let _ = parts.next();
    let rest = parts.next().unwrap();
    let no_kid = format!("{}.{rest}", b64(&json!({"alg": "RS256", "typ": "JWT"})));
    assert_eq!(check(&no_kid).await, Err(AuthError::MissingKeyId));

    assert_eq!(
        check(&token_b).await,
        Err(AuthError::UnknownSigningKey(KEY_B.kid().to_owned()))
    );
}

#[tokio::test]
async fn tampered_payload_or_foreign_signature_is_a_bad_signature() {
    let token = KEY_A.mint(&delegated_request()).expect("mint");
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["scp"] = json!("User.ReadWrite.All");
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    assert_eq!(check(&tampered).await, Err(AuthError::InvalidSignature));
    assert_eq!(
        AuthError::InvalidSignature.to_string(),
        "Access token signature is invalid."
    );

    // Key B's signature under key A's kid.
    let token_b = KEY_B.mint(&delegated_request()).expect("mint");
    let sig_b = token_b.rsplit('.').next().unwrap();
    let forged = format!("{}.{}.{sig_b}", parts[0], parts[1]);
    assert_eq!(check(&forged).await, Err(AuthError::InvalidSignature));

    let bad_b64_sig = format!("{}.{}.!!!", parts[0], parts[1]);
    assert!(check(&bad_b64_sig).await.is_err());
}

#[tokio::test]
async fn odd_inputs_never_panic() {
    let auth = auth().await;
    let header = b64(&json!({"alg": "RS256", "kid": KEY_A.kid()}));
    let inputs = [
        "Bearer \u{0}".to_owned(),
        "Bearer ..".to_owned(),
        "Bearer é.é.é".to_owned(),
        format!("Bearer {header}.."),
        format!("Bearer {header}.e30."),
        format!("Bearer {header}.{}.AAAA", b64(&json!([1]))),
        format!(
            "Bearer {}.e30.AAAA",
            b64(&json!({"alg": "RS256", "kid": 5}))
        ),
        format!("Bearer {}.e30.AAAA", b64(&json!({"alg": 5}))),
        format!(
            "Bearer {}.e30.AAAA",
            b64(&json!({"alg": "RS256", "kid": KEY_A.kid(), "crit": ["x"]}))
        ),
        format!(
            "Bearer {}.e30.AAAA",
            b64(&json!({"alg": "RS256", "kid": "é".repeat(500)}))
        ),
    ];
    for input in inputs {
        assert!(auth.authenticate(Some(&input)).await.is_err(), "{input}");
    }
    // Claims of every odd type, signed for real.
    for value in [
        json!(null),
        json!(-1),
        json!(1e300),
        json!(u64::MAX),
        json!({}),
        json!([]),
    ] {
        for name in [
            "exp", "nbf", "aud", "iss", "tid", "oid", "scp", "roles", "wids", "appid", "idtyp",
        ] {
            let _ = check(&with(base_claims(), name, value.clone())).await;
        }
    }
    // A long unknown kid is cut short in the message.
    let long_kid = "k".repeat(500);
    let token = format!(
        "{}.e30.AAAA",
        b64(&json!({"alg": "RS256", "kid": long_kid}))
    );
    let Err(AuthError::UnknownSigningKey(kid)) = check(&token).await else {
        panic!("expected an unknown key")
    };
    assert!(kid.chars().count() <= 65);
}
