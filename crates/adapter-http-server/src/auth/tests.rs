use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use photo_core::principal::{Principal, Scope, TenantId, GLOBAL_ADMINISTRATOR};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use dev_tokens::{DevKey, TokenRequest, DEV_APP_ID};

use super::*;

const TENANT: &str = "3f2a7c10-5d4e-4b8a-9c1f-2e6d8a0b4c7e";
const OTHER_TENANT: &str = "9a8b7c6d-1e2f-4a3b-8c4d-5e6f7a8b9c0d";
const USER: &str = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9";
const APP: &str = "c0ffee00-1234-4321-abcd-0123456789ab";

// The committed test keys: generating RSA keys would cost seconds per key.
static KEY_A: LazyLock<&DevKey> = LazyLock::new(DevKey::test_key);
static KEY_B: LazyLock<&DevKey> = LazyLock::new(DevKey::other_test_key);
static KEY_C: LazyLock<&DevKey> = LazyLock::new(DevKey::third_test_key);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

async fn auth_with(key: &DevKey) -> Authenticator {
    Authenticator::new(AuthConfig::new(JwksSource::Static(key.jwks())))
        .await
        .expect("authenticator")
}

async fn auth() -> Authenticator {
    auth_with(&KEY_A).await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn delegated_request() -> TokenRequest {
    TokenRequest {
        upn: Some("adele@contoso.example".into()),
        directory_roles: vec![GLOBAL_ADMINISTRATOR.into()],
        ..TokenRequest::delegated(TENANT, USER, ["User.ReadWrite", "openid"])
    }
}

/// Entra-shaped claims for hand-built tokens.
fn base_claims() -> serde_json::Map<String, Value> {
    let now = now();
    let Value::Object(map) = json!({
        "aud": "https://graph.microsoft.com",
        "iss": format!("https://sts.windows.net/{TENANT}/"),
        "iat": now, "nbf": now, "exp": now + 3600,
        "tid": TENANT, "oid": USER, "sub": USER,
        "scp": "User.Read", "idtyp": "user", "appid": APP, "ver": "1.0",
    }) else {
        unreachable!()
    };
    map
}

fn signed(claims: serde_json::Map<String, Value>) -> String {
    KEY_A
        .sign_claims(&Value::Object(claims))
        .expect("sign claims")
}

fn with(mut claims: serde_json::Map<String, Value>, name: &str, value: Value) -> String {
    claims.insert(name.into(), value);
    signed(claims)
}

fn without(mut claims: serde_json::Map<String, Value>, name: &str) -> String {
    claims.remove(name);
    signed(claims)
}

async fn check(token: &str) -> Result<Principal, AuthError> {
    auth().await.authenticate(Some(&bearer(token))).await
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

// ---------------------------------------------------------------- round trips

#[tokio::test]
async fn delegated_token_round_trips() {
    let token = KEY_A.mint(&delegated_request()).expect("mint");
    let principal = check(&token).await.expect("valid");
    let Principal::Delegated(d) = principal else {
        panic!("expected delegated, got {principal:?}")
    };
    assert_eq!(d.tenant, TenantId::new(TENANT));
    assert_eq!(d.user_id, USER);
    assert_eq!(
        d.scopes,
        vec![Scope::UserReadWrite, Scope::Other("openid".into())]
    );
    assert_eq!(d.directory_roles, vec![GLOBAL_ADMINISTRATOR.to_owned()]);
    assert_eq!(d.app_id.as_deref(), Some(DEV_APP_ID));
}

#[tokio::test]
async fn application_token_round_trips() {
    let request =
        TokenRequest::application(TENANT, APP, ["ProfilePhoto.ReadWrite.All", "User.Read.All"]);
    let token = KEY_A.mint(&request).expect("mint");
    let principal = check(&token).await.expect("valid");
    assert_eq!(
        principal,
        Principal::Application(photo_core::principal::ApplicationPrincipal {
            tenant: TenantId::new(TENANT),
            app_id: APP.into(),
            roles: vec![Scope::ProfilePhotoReadWriteAll, Scope::UserReadAll],
        })
    );
}

#[tokio::test]
async fn request_without_user_or_scopes_is_an_application_token_and_roles_may_be_empty() {
    let request = TokenRequest {
        application: false,
        user_id: None,
        ..TokenRequest::application(TENANT, APP, Vec::<String>::new())
    };
    let token = KEY_A.mint(&request).expect("mint");
    let Principal::Application(a) = check(&token).await.expect("valid") else {
        panic!("expected an application principal")
    };
    assert!(a.roles.is_empty());
}

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

// ---------------------------------------------------------------- kind of token

#[tokio::test]
async fn delegated_token_needs_oid() {
    assert_eq!(
        check(&without(base_claims(), "oid")).await,
        Err(AuthError::MissingClaim("oid"))
    );
}

#[tokio::test]
async fn scp_decides_the_kind_and_idtyp_must_agree() {
    // Present but empty: still delegated (spec D2), with no scopes.
    let Principal::Delegated(d) = check(&with(base_claims(), "scp", json!("")))
        .await
        .expect("valid")
    else {
        panic!("expected delegated")
    };
    assert!(d.scopes.is_empty());

    // A user token without scp must not pass for an application token.
    assert_eq!(
        check(&without(base_claims(), "scp")).await,
        Err(AuthError::InvalidClaim("idtyp"))
    );
    assert_eq!(
        check(&with(base_claims(), "idtyp", json!("app"))).await,
        Err(AuthError::InvalidClaim("idtyp"))
    );
    assert_eq!(
        check(&with(base_claims(), "scp", json!(["User.Read"]))).await,
        Err(AuthError::InvalidClaim("scp"))
    );
    assert_eq!(
        check(&with(base_claims(), "wids", json!("not-a-list"))).await,
        Err(AuthError::InvalidClaim("wids"))
    );
}

#[tokio::test]
async fn application_token_app_id_comes_from_appid_azp_or_sub() {
    let mut app = base_claims();
    app.remove("scp");
    app.remove("oid");
    app.insert("idtyp".into(), json!("app"));
    app.insert("roles".into(), json!(["User.Read.All"]));

    let from = |claims: serde_json::Map<String, Value>| async move {
        match check(&signed(claims)).await {
            Ok(Principal::Application(a)) => Ok(a.app_id),
            Ok(other) => panic!("expected application, got {other:?}"),
            Err(e) => Err(e),
        }
    };
    assert_eq!(from(app.clone()).await, Ok(APP.to_owned()));

    let mut azp = app.clone();
    azp.remove("appid");
    azp.insert("azp".into(), json!("azp-id"));
    assert_eq!(from(azp).await, Ok("azp-id".to_owned()));

    let mut sub = app.clone();
    sub.remove("appid");
    sub.insert("sub".into(), json!("sub-id"));
    assert_eq!(from(sub.clone()).await, Ok("sub-id".to_owned()));

    sub.remove("sub");
    assert_eq!(from(sub).await, Err(AuthError::MissingClaim("appid")));

    let mut bad_roles = app.clone();
    bad_roles.insert("roles".into(), json!([1, 2]));
    assert_eq!(from(bad_roles).await, Err(AuthError::InvalidClaim("roles")));

    // No idtyp at all (older tokens): the absence of scp decides.
    let mut no_idtyp = app;
    no_idtyp.remove("idtyp");
    assert_eq!(from(no_idtyp).await, Ok(APP.to_owned()));
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

// ---------------------------------------------------------------- JWKS sources

#[tokio::test]
async fn jwks_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, serde_json::to_vec(&KEY_A.jwks()).unwrap()).unwrap();
    let auth = Authenticator::new(AuthConfig::new(JwksSource::File(path.clone())))
        .await
        .expect("authenticator");
    let token = KEY_A.mint(&delegated_request()).unwrap();
    assert!(auth.authenticate(Some(&bearer(&token))).await.is_ok());

    // Rotation: the file gains key B; an unknown kid re-reads it.
    let both = JwkSet {
        keys: [KEY_A.jwks().keys, KEY_B.jwks().keys].concat(),
    };
    std::fs::write(&path, serde_json::to_vec(&both).unwrap()).unwrap();
    let token_b = KEY_B.mint(&delegated_request()).unwrap();
    assert!(auth.authenticate(Some(&bearer(&token_b))).await.is_ok());

    let missing = Authenticator::new(AuthConfig::new(JwksSource::File(
        dir.path().join("nope.json"),
    )))
    .await;
    assert!(matches!(missing, Err(AuthSetupError::ReadFile { .. })));

    std::fs::write(&path, b"{not json").unwrap();
    let bad = Authenticator::new(AuthConfig::new(JwksSource::File(path.clone()))).await;
    assert!(matches!(bad, Err(AuthSetupError::InvalidJwks { .. })));

    // Keys that cannot verify RS256 are skipped; none left is an error.
    std::fs::write(
        &path,
        br#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"},{"kty":"EC","crv":"P-256","x":"AA","y":"AA","kid":"e"},{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"small"}]}"#,
    )
    .unwrap();
    let none = Authenticator::new(AuthConfig::new(JwksSource::File(path.clone()))).await;
    assert!(matches!(none, Err(AuthSetupError::NoSigningKeys { .. })));

    // An unknown key type next to a good key does not spoil the set.
    let mut mixed = serde_json::to_value(KEY_A.jwks()).unwrap();
    mixed["keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({"kty": "weird", "kid": "w"}));
    std::fs::write(&path, serde_json::to_vec(&mixed).unwrap()).unwrap();
    assert!(Authenticator::new(AuthConfig::new(JwksSource::File(path)))
        .await
        .is_ok());
}

#[tokio::test]
async fn jwks_static_and_setup_errors() {
    let auth = Authenticator::new(AuthConfig::new(JwksSource::Static(KEY_B.jwks())))
        .await
        .unwrap();
    let token_b = KEY_B.mint(&delegated_request()).unwrap();
    assert!(auth.authenticate(Some(&bearer(&token_b))).await.is_ok());

    let empty =
        Authenticator::new(AuthConfig::new(JwksSource::Static(JwkSet { keys: vec![] }))).await;
    assert!(matches!(empty, Err(AuthSetupError::NoSigningKeys { .. })));

    let no_aud = Authenticator::new(AuthConfig {
        audiences: vec![],
        ..AuthConfig::new(JwksSource::Static(KEY_A.jwks()))
    })
    .await;
    assert!(matches!(no_aud, Err(AuthSetupError::NoAudiences)));
}

/// A tiny JWKS server: answers every request with the current document, counting requests.
struct JwksServer {
    url: String,
    body: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(initial: &JwkSet) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/keys", listener.local_addr().unwrap());
        let body = Arc::new(Mutex::new(serde_json::to_string(initial).unwrap()));
        let hits = Arc::new(AtomicUsize::new(0));
        let (served, count) = (body.clone(), hits.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (served, count) = (served.clone(), count.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let body = served.lock().unwrap().clone();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { url, body, hits }
    }

    fn serve(&self, set: &JwkSet) {
        *self.body.lock().unwrap() = serde_json::to_string(set).unwrap();
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn jwks_from_a_url_refetched_on_unknown_kid_at_most_once_per_interval() {
    let server = JwksServer::start(&KEY_A.jwks()).await;
    let auth = Authenticator::new(AuthConfig::new(JwksSource::Url(server.url.clone())))
        .await
        .expect("authenticator");
    assert_eq!(server.hits(), 1);

    let token_a = KEY_A.mint(&delegated_request()).unwrap();
    assert!(auth.authenticate(Some(&bearer(&token_a))).await.is_ok());
    assert!(auth.authenticate(Some(&bearer(&token_a))).await.is_ok());
    assert_eq!(server.hits(), 1, "known keys are cached");

    // Key rotation: the server now publishes A and B.
    server.serve(&JwkSet {
        keys: [KEY_A.jwks().keys, KEY_B.jwks().keys].concat(),
    });
    let token_b = KEY_B.mint(&delegated_request()).unwrap();
    let clone = auth.clone();
    assert!(clone.authenticate(Some(&bearer(&token_b))).await.is_ok());
    assert_eq!(server.hits(), 2, "an unknown kid refetched once");
    assert!(auth.authenticate(Some(&bearer(&token_b))).await.is_ok());
    assert_eq!(server.hits(), 2, "clones share the cache");

    // Within the interval another unknown kid does not refetch, even if the server has it.
    server.serve(&JwkSet {
        keys: [KEY_A.jwks().keys, KEY_B.jwks().keys, KEY_C.jwks().keys].concat(),
    });
    let token_c = KEY_C.mint(&delegated_request()).unwrap();
    assert_eq!(
        auth.authenticate(Some(&bearer(&token_c))).await,
        Err(AuthError::UnknownSigningKey(KEY_C.kid().to_owned()))
    );
    assert_eq!(server.hits(), 2, "rate limited");
    assert!(auth.authenticate(Some(&bearer(&token_a))).await.is_ok());
}

#[tokio::test]
async fn jwks_from_a_url_refetches_again_after_the_interval() {
    let server = JwksServer::start(&KEY_A.jwks()).await;
    let auth = Authenticator::new(AuthConfig {
        jwks_refresh_min_interval: Duration::from_millis(200),
        ..AuthConfig::new(JwksSource::Url(server.url.clone()))
    })
    .await
    .unwrap();
    let token_b = KEY_B.mint(&delegated_request()).unwrap();
    assert!(matches!(
        auth.authenticate(Some(&bearer(&token_b))).await,
        Err(AuthError::UnknownSigningKey(_))
    ));
    assert_eq!(server.hits(), 2);
    // Concurrent unknown kids inside the interval: no more fetches.
    let header = bearer(&token_b);
    let (r1, r2) = tokio::join!(
        auth.authenticate(Some(&header)),
        auth.authenticate(Some(&header))
    );
    assert!(r1.is_err() && r2.is_err());
    assert_eq!(server.hits(), 2);

    server.serve(&KEY_B.jwks());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(auth.authenticate(Some(&bearer(&token_b))).await.is_ok());
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn failing_jwks_url_at_start_is_an_error() {
    // A port nothing listens on: bind, note the port, close.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/keys", listener.local_addr().unwrap());
    drop(listener);
    let result = Authenticator::new(AuthConfig::new(JwksSource::Url(url))).await;
    assert!(
        matches!(result, Err(AuthSetupError::Fetch { .. })),
        "{result:?}"
    );
}
