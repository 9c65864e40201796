//! Each minted token is what its variant says it is, and wrong in that one way only.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dev_tokens::DevKey;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{json, Map, Value};

use super::*;
use crate::fixture::SigningKey;

const TID: &str = "2f9b6c4e-7d1a-4c33-9b0e-5a6f1d2c3b4a";
const OTHER_TID: &str = "5d2f0a1b-3c4e-4d5f-8a9b-0c1d2e3f4a5b";
const NOW: i64 = 1_800_000_000;

fn signing_key() -> SigningKey {
    let key = DevKey::test_key();
    SigningKey {
        private_key_pem: key.private_key_pem().to_owned(),
        kid: key.kid().to_owned(),
        audience: "https://graph.microsoft.com".to_owned(),
        issuer_format: None,
    }
}

fn forge() -> Forge {
    Forge::new(&signing_key(), vec![TID.to_owned(), OTHER_TID.to_owned()]).unwrap()
}

/// A delegated principal's payload, as a fixture token would carry it (with an old lifetime
/// and another audience, which the suite replaces).
fn delegated() -> Map<String, Value> {
    let Value::Object(map) = json!({
        "tid": TID, "oid": "6e7b768e-07e2-4810-8459-485f84f8f204",
        "scp": "User.ReadWrite Contacts.Read", "wids": ["fe930be7-5e62-47db-91af-98c3a49a38b1"],
        "iss": "https://login.microsoftonline.com/x/v2.0", "aud": "00000003-0000-0000-c000-000000000000",
        "exp": 1, "nbf": 0, "iat": 0, "appid": "app", "idtyp": "user"
    }) else {
        unreachable!()
    };
    map
}

fn application() -> Map<String, Value> {
    let Value::Object(map) = json!({
        "tid": TID, "roles": ["User.Read.All", "ProfilePhoto.ReadWrite.All"], "appid": "app",
        "idtyp": "app", "exp": 1
    }) else {
        unreachable!()
    };
    map
}

struct Decoded {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signature: String,
    /// RS256 over `header.payload` verifies with the fixture's key.
    verifies: bool,
}

fn decode(token: &str) -> Decoded {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let json = |part: &str| -> Map<String, Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    };
    let jwk = &DevKey::test_key().jwks().keys[0];
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let message = format!("{}.{}", parts[0], parts[1]);
    let verifies =
        jsonwebtoken::crypto::verify(parts[2], message.as_bytes(), &key, Algorithm::RS256)
            .unwrap_or(false);
    Decoded {
        header: json(parts[0]),
        claims: json(parts[1]),
        signature: parts[2].to_owned(),
        verifies,
    }
}

fn invalid(base: &Map<String, Value>, variant: TokenVariant) -> Decoded {
    decode(&forge().invalid(base, variant, NOW).unwrap())
}

/// The claims of the valid token, minus `names`, equal those of `d` minus `names`.
fn same_claims_but(d: &Decoded, names: &[&str]) {
    let mut valid = decode(&forge().valid(&delegated(), NOW).unwrap()).claims;
    let mut got = d.claims.clone();
    for name in names {
        valid.remove(*name);
        got.remove(*name);
    }
    assert_eq!(got, valid);
}

#[test]
fn the_valid_token_is_signed_fresh_for_the_fixture_audience_and_issuer() {
    let d = decode(&forge().valid(&delegated(), NOW).unwrap());
    assert!(d.verifies);
    assert_eq!(d.header["alg"], "RS256");
    assert_eq!(d.header["kid"], DevKey::test_key().kid());
    assert_eq!(d.claims["aud"], "https://graph.microsoft.com");
    assert_eq!(d.claims["iss"], format!("https://sts.windows.net/{TID}/"));
    assert!(d.claims["exp"].as_i64().unwrap() > NOW + 3600);
    assert!(d.claims["nbf"].as_i64().unwrap() <= NOW);
    // The principal's own claims are kept.
    for name in ["tid", "oid", "scp", "wids", "appid", "idtyp"] {
        assert_eq!(d.claims[name], delegated()[name], "{name}");
    }
}

#[test]
fn the_issuer_format_names_the_tenant() {
    let mut key = signing_key();
    key.issuer_format = Some("https://login.microsoftonline.com/{tid}/v2.0".into());
    let forge = Forge::new(&key, vec![TID.into()]).unwrap();
    let d = decode(&forge.valid(&application(), NOW).unwrap());
    assert_eq!(
        d.claims["iss"],
        format!("https://login.microsoftonline.com/{TID}/v2.0")
    );
}

#[test]
fn lifetime_variants_are_an_hour_out() {
    let d = invalid(&delegated(), TokenVariant::Expired);
    assert!(d.verifies);
    assert!(d.claims["exp"].as_i64().unwrap() <= NOW - 3600);
    assert!(d.claims["nbf"].as_i64().unwrap() < d.claims["exp"].as_i64().unwrap());
    same_claims_but(&d, &["exp", "nbf", "iat"]);

    let d = invalid(&delegated(), TokenVariant::NotYetValid);
    assert!(d.verifies);
    assert!(d.claims["nbf"].as_i64().unwrap() >= NOW + 3600);
    assert!(d.claims["exp"].as_i64().unwrap() > d.claims["nbf"].as_i64().unwrap());
    same_claims_but(&d, &["exp", "nbf", "iat"]);
}

#[test]
fn audience_and_issuer_variants() {
    let d = invalid(&delegated(), TokenVariant::WrongAudience);
    assert!(d.verifies);
    let aud = d.claims["aud"].as_str().unwrap();
    assert!(aud != "https://graph.microsoft.com" && aud != "00000003-0000-0000-c000-000000000000");
    same_claims_but(&d, &["aud"]);

    let d = invalid(&delegated(), TokenVariant::NoAudience);
    assert!(d.verifies && !d.claims.contains_key("aud"));
    same_claims_but(&d, &["aud"]);

    let d = invalid(&delegated(), TokenVariant::WrongIssuer);
    assert!(d.verifies);
    let iss = d.claims["iss"].as_str().unwrap();
    assert!(iss.contains(TID), "the tenant is right, the issuer is not");
    assert!(
        iss != format!("https://sts.windows.net/{TID}/")
            && iss != format!("https://login.microsoftonline.com/{TID}/v2.0")
    );
    same_claims_but(&d, &["iss"]);

    let d = invalid(&delegated(), TokenVariant::OtherTenantIssuer);
    assert!(d.verifies);
    assert_eq!(
        d.claims["iss"],
        format!("https://sts.windows.net/{OTHER_TID}/")
    );
    assert_eq!(d.claims["tid"], TID);
    same_claims_but(&d, &["iss"]);

    // With a single tenant in the fixture, another one is made up.
    let single = Forge::new(&signing_key(), vec![TID.into()]).unwrap();
    let d = decode(
        &single
            .invalid(&delegated(), TokenVariant::OtherTenantIssuer, NOW)
            .unwrap(),
    );
    assert!(!d.claims["iss"].as_str().unwrap().contains(TID));

    let d = invalid(&delegated(), TokenVariant::NoIssuer);
    assert!(d.verifies && !d.claims.contains_key("iss"));
    same_claims_but(&d, &["iss"]);
}

#[test]
fn a_tampered_signature_differs_from_the_real_one_in_one_byte() {
    let forge = forge();
    let d = decode(
        &forge
            .invalid(&delegated(), TokenVariant::TamperedSignature, NOW)
            .unwrap(),
    );
    assert!(!d.verifies);
    assert_eq!(d.header["alg"], "RS256");
    // Sign the same claims properly: the signatures differ in exactly one byte.
    let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
    header.kid = Some(DevKey::test_key().kid().to_owned());
    let real = jsonwebtoken::encode(
        &header,
        &d.claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(DevKey::test_key().private_key_pem().as_bytes())
            .unwrap(),
    )
    .unwrap();
    let real = decode(&real);
    assert!(real.verifies);
    let a = URL_SAFE_NO_PAD.decode(&d.signature).unwrap();
    let b = URL_SAFE_NO_PAD.decode(&real.signature).unwrap();
    assert_eq!(a.len(), b.len());
    assert_eq!(a.iter().zip(&b).filter(|(x, y)| x != y).count(), 1);
}

#[test]
fn a_foreign_key_signs_under_the_same_kid() {
    let d = invalid(&delegated(), TokenVariant::ForeignKey);
    assert_eq!(d.header["alg"], "RS256");
    assert_eq!(d.header["kid"], DevKey::test_key().kid());
    assert!(!d.verifies);
    assert_eq!(URL_SAFE_NO_PAD.decode(&d.signature).unwrap().len(), 256);
    same_claims_but(&d, &[]);
}

#[test]
fn alg_none_has_no_signature() {
    let token = forge()
        .invalid(&delegated(), TokenVariant::AlgNone, NOW)
        .unwrap();
    assert!(token.ends_with('.'));
    let d = decode(&token);
    assert_eq!(d.header["alg"], "none");
    assert!(d.signature.is_empty());
    same_claims_but(&d, &[]);
}

#[test]
fn hs256_uses_the_public_key_pem_as_the_secret() {
    let token = forge()
        .invalid(&delegated(), TokenVariant::Hs256PublicKey, NOW)
        .unwrap();
    let d = decode(&token);
    assert_eq!(d.header["alg"], "HS256");
    assert_eq!(d.header["kid"], DevKey::test_key().kid());
    let public_pem = forge().public_pem.clone();
    assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    let (message, signature) = token.rsplit_once('.').unwrap();
    assert!(jsonwebtoken::crypto::verify(
        signature,
        message.as_bytes(),
        &DecodingKey::from_secret(public_pem.as_bytes()),
        Algorithm::HS256
    )
    .unwrap());
    same_claims_but(&d, &[]);
}

#[test]
fn claims_of_the_wrong_type() {
    let d = invalid(&delegated(), TokenVariant::ExpString);
    assert!(d.verifies && d.claims["exp"].is_string());
    let exp: i64 = d.claims["exp"].as_str().unwrap().parse().unwrap();
    assert!(
        exp > NOW,
        "a string of a valid time: only the type is wrong"
    );
    same_claims_but(&d, &["exp"]);

    let d = invalid(&delegated(), TokenVariant::NbfStringAhead);
    assert!(d.verifies && d.claims["nbf"].is_string());
    same_claims_but(&d, &["nbf"]);

    let d = invalid(&application(), TokenVariant::RolesString);
    assert!(d.verifies);
    assert_eq!(
        d.claims["roles"],
        "User.Read.All ProfilePhoto.ReadWrite.All"
    );
    let d = invalid(&delegated(), TokenVariant::RolesString);
    assert!(d.claims["roles"].is_string());

    let d = invalid(&delegated(), TokenVariant::ScpNumber);
    assert!(d.verifies && d.claims["scp"].is_number());
    same_claims_but(&d, &["scp"]);

    let d = invalid(&delegated(), TokenVariant::TidNull);
    assert!(d.verifies && d.claims["tid"].is_null());
    assert_eq!(d.claims["iss"], format!("https://sts.windows.net/{TID}/"));
    same_claims_but(&d, &["tid"]);
}

#[test]
fn a_delegated_token_without_oid() {
    let d = invalid(&delegated(), TokenVariant::DelegatedWithoutOid);
    assert!(d.verifies);
    assert!(!d.claims.contains_key("oid") && d.claims["scp"].is_string());
    same_claims_but(&d, &["oid"]);
    assert!(forge()
        .invalid(&application(), TokenVariant::DelegatedWithoutOid, NOW)
        .is_err());
}

#[test]
fn every_variant_is_named_and_ruled() {
    let mut names = std::collections::HashSet::new();
    let forge = forge();
    for v in TokenVariant::ALL {
        assert!(names.insert(v.name()), "{v:?}");
        assert!(matches!(v.rule(), "D1" | "D2"));
        assert!(!v.describe().is_empty());
        // Every variant can be made from a delegated principal.
        forge.invalid(&delegated(), v, NOW).unwrap();
    }
}

#[test]
fn keys_that_cannot_sign_rs256_are_refused() {
    assert!(parse_private_key("not a key").is_err());
    // PKCS#1 PEM is read as well as PKCS#8.
    let key = parse_private_key(DevKey::test_key().private_key_pem()).unwrap();
    let pkcs1 = key.to_pkcs1_pem(LineEnding::LF).unwrap();
    assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert_eq!(parse_private_key(&pkcs1).unwrap(), key);
}
