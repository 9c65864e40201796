//! 401: missing, malformed and invalid tokens, and tokens as Entra issues them (spec D1, B1).

use super::*;

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
