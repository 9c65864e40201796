//! The registered claims: lifetime (`exp`, `nbf`), types, audience, issuer and tenant.

use super::*;

// ---------------------------------------------------------------- lifetime

#[tokio::test]
async fn expired_beyond_leeway_is_refused_within_leeway_accepted() {
    let request = TokenRequest {
        lifetime: Duration::from_secs(600),
        ..delegated_request()
    };
    // Expired 120 s ago: beyond the 60 s leeway.
    let old = KEY_A.mint_at(&request, now() - 720).expect("mint");
    assert_eq!(check(&old).await, Err(AuthError::Expired));
    assert_eq!(
        AuthError::Expired.to_string(),
        "Lifetime validation failed, the token is expired."
    );
    // Expired 30 s ago: within the leeway.
    let recent = KEY_A.mint_at(&request, now() - 630).expect("mint");
    assert!(check(&recent).await.is_ok());
}

#[tokio::test]
async fn nbf_in_the_future_is_refused() {
    let future = KEY_A
        .mint_at(&delegated_request(), now() + 600)
        .expect("mint");
    assert_eq!(check(&future).await, Err(AuthError::NotYetValid));
    // Within the leeway.
    let soon = KEY_A
        .mint_at(&delegated_request(), now() + 30)
        .expect("mint");
    assert!(check(&soon).await.is_ok());
}

#[tokio::test]
async fn missing_exp_is_refused() {
    assert_eq!(
        check(&without(base_claims(), "exp")).await,
        Err(AuthError::MissingClaim("exp"))
    );
    assert_eq!(
        check(&with(base_claims(), "exp", json!("tomorrow"))).await,
        Err(AuthError::InvalidClaim("exp"))
    );
}

/// A correctly signed token with one registered claim of the wrong JSON type is refused
/// (jsonwebtoken 9 skips an `nbf` it cannot parse: a string `nbf` ten years ahead passed).
#[tokio::test]
async fn claims_of_the_wrong_type_are_refused() {
    let later = now() + 10 * 365 * 24 * 3600;
    let cases = [
        ("exp", json!((now() + 3600).to_string())),
        ("exp", json!(null)),
        ("exp", json!([now() + 3600])),
        ("nbf", json!(later.to_string())),
        ("nbf", json!(null)),
        ("nbf", json!({"at": later})),
        ("nbf", json!(true)),
        ("iat", json!(now().to_string())),
        ("iat", json!(null)),
        ("aud", json!(42)),
        ("aud", json!(null)),
        ("aud", json!({"aud": "https://graph.microsoft.com"})),
        ("aud", json!(["https://graph.microsoft.com", 7])),
        ("iss", json!([format!("https://sts.windows.net/{TENANT}/")])),
        ("iss", json!(null)),
        ("iss", json!(42)),
        ("tid", json!(7)),
        ("tid", json!(null)),
        ("tid", json!([TENANT])),
        ("oid", json!({"id": USER})),
        ("oid", json!(null)),
        ("oid", json!(1)),
        ("scp", json!(["User.Read"])),
        ("scp", json!(null)),
        ("scp", json!(1)),
        ("roles", json!("User.Read.All")),
        ("roles", json!(null)),
        ("roles", json!([1, 2])),
        ("wids", json!(GLOBAL_ADMINISTRATOR)),
        ("wids", json!(null)),
        ("wids", json!([{"id": GLOBAL_ADMINISTRATOR}])),
    ];
    for (name, value) in cases {
        let token = with(base_claims(), name, value.clone());
        let result = check(&token).await;
        let expected_name: &'static str = CLAIMS.iter().find(|c| **c == name).unwrap();
        assert_eq!(
            result,
            Err(AuthError::InvalidClaim(expected_name)),
            "{name} = {value}"
        );
    }
    // The same claims with the right types pass, numbers given as floats included.
    let mut good = base_claims();
    good.insert("nbf".into(), json!(now() as f64 - 0.5));
    good.insert(
        "aud".into(),
        json!(["api://x", "https://graph.microsoft.com"]),
    );
    good.insert("roles".into(), json!([]));
    good.insert("wids".into(), json!([GLOBAL_ADMINISTRATOR]));
    assert!(check(&signed(good)).await.is_ok());
    // A number nbf in the future is refused on its value, as before.
    assert_eq!(
        check(&with(base_claims(), "nbf", json!(later))).await,
        Err(AuthError::NotYetValid)
    );
    assert_eq!(
        check(&with(base_claims(), "nbf", json!(later as f64 + 0.5))).await,
        Err(AuthError::NotYetValid)
    );
    assert_eq!(
        check(&with(base_claims(), "exp", json!(now() as f64 - 3600.5))).await,
        Err(AuthError::Expired)
    );
}

const CLAIMS: [&str; 10] = [
    "exp", "nbf", "iat", "aud", "iss", "tid", "oid", "scp", "roles", "wids",
];

// ---------------------------------------------------------------- audience, issuer, tenant

#[tokio::test]
async fn audience_must_be_one_of_the_configured() {
    assert_eq!(
        check(&with(base_claims(), "aud", json!("api://something-else"))).await,
        Err(AuthError::InvalidAudience)
    );
    assert_eq!(AuthError::InvalidAudience.to_string(), "Invalid audience.");
    assert_eq!(
        check(&with(
            base_claims(),
            "aud",
            json!("https://graph.microsoft.com/")
        ))
        .await,
        Err(AuthError::InvalidAudience),
        "compared exactly"
    );
    assert!(check(&with(
        base_claims(),
        "aud",
        json!("00000003-0000-0000-c000-000000000000")
    ))
    .await
    .is_ok());
    assert_eq!(
        check(&without(base_claims(), "aud")).await,
        Err(AuthError::MissingClaim("aud"))
    );

    let custom = Authenticator::new(AuthConfig {
        audiences: vec!["api://photos".into()],
        ..AuthConfig::new(JwksSource::Static(KEY_A.jwks()))
    })
    .await
    .unwrap();
    let token = with(base_claims(), "aud", json!("api://photos"));
    assert!(custom.authenticate(Some(&bearer(&token))).await.is_ok());
    let graph = signed(base_claims());
    assert_eq!(
        custom.authenticate(Some(&bearer(&graph))).await,
        Err(AuthError::InvalidAudience)
    );
}

#[tokio::test]
async fn issuer_is_required_and_must_match_tid() {
    assert_eq!(
        check(&without(base_claims(), "iss")).await,
        Err(AuthError::MissingClaim("iss"))
    );
    assert_eq!(
        check(&with(
            base_claims(),
            "iss",
            json!(format!("https://sts.windows.net/{OTHER_TENANT}/"))
        ))
        .await,
        Err(AuthError::InvalidIssuer)
    );
    assert_eq!(
        check(&with(base_claims(), "iss", json!("https://evil.example/"))).await,
        Err(AuthError::InvalidIssuer)
    );
    assert_eq!(
        check(&with(base_claims(), "iss", json!(42))).await,
        Err(AuthError::InvalidClaim("iss"))
    );
    // The v2.0 form.
    assert!(check(&with(
        base_claims(),
        "iss",
        json!(format!("https://login.microsoftonline.com/{TENANT}/v2.0"))
    ))
    .await
    .is_ok());
    // The tenant id compares case-insensitively.
    let principal = check(&with(
        base_claims(),
        "iss",
        json!(format!(
            "https://sts.windows.net/{}/",
            TENANT.to_ascii_uppercase()
        )),
    ))
    .await
    .expect("valid");
    assert_eq!(principal.tenant(), &TenantId::new(TENANT));
}

#[tokio::test]
async fn tid_is_required() {
    assert_eq!(
        check(&without(base_claims(), "tid")).await,
        Err(AuthError::MissingClaim("tid"))
    );
    assert_eq!(
        check(&with(base_claims(), "tid", json!(""))).await,
        Err(AuthError::MissingClaim("tid"))
    );
    assert_eq!(
        check(&with(base_claims(), "tid", json!(7))).await,
        Err(AuthError::InvalidClaim("tid"))
    );
}
