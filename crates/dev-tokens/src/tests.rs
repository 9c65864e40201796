use std::sync::LazyLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{json, Value};

use super::*;

const TENANT: &str = "3f2a7c10-5d4e-4b8a-9c1f-2e6d8a0b4c7e";
const USER: &str = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9";
const APP: &str = "c0ffee00-1234-4321-abcd-0123456789ab";
const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";

static KEY_A: LazyLock<&DevKey> = LazyLock::new(DevKey::test_key);
static KEY_B: LazyLock<&DevKey> = LazyLock::new(DevKey::other_test_key);

fn delegated_request() -> TokenRequest {
    TokenRequest {
        upn: Some("adele@contoso.example".into()),
        directory_roles: vec![GLOBAL_ADMINISTRATOR.into()],
        ..TokenRequest::delegated(TENANT, USER, ["User.ReadWrite", "openid"])
    }
}

fn part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("a JWT part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// The claims of `token` if its signature verifies with the key of `jwks`.
fn verify(token: &str, jwks: &jsonwebtoken::jwk::JwkSet) -> Option<Value> {
    let key = DecodingKey::from_jwk(&jwks.keys[0]).ok()?;
    let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[GRAPH_AUDIENCE]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .ok()
        .map(|data| data.claims)
}

#[test]
fn minted_claims_are_entra_shaped() {
    let token = KEY_A.mint(&delegated_request()).expect("mint");
    let header = part(&token, 0);
    let claims = part(&token, 1);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], KEY_A.kid());
    assert_eq!(claims["iss"], format!("https://sts.windows.net/{TENANT}/"));
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert_eq!(claims["scp"], "User.ReadWrite openid");
    assert_eq!(claims["idtyp"], "user");
    assert_eq!(claims["oid"], USER);
    assert_eq!(claims["wids"], json!([GLOBAL_ADMINISTRATOR]));
    assert_eq!(claims["appid"], DEV_APP_ID);
    assert_eq!(claims["azp"], DEV_APP_ID);
    assert_eq!(claims["upn"], "adele@contoso.example");
    assert_eq!(claims["preferred_username"], "adele@contoso.example");
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );
    assert!(claims["uti"].is_string() && claims["jti"].is_string());
    let again = KEY_A.mint(&delegated_request()).expect("mint");
    assert_ne!(token, again, "jti/uti are unique");
    assert_eq!(verify(&token, &KEY_A.jwks()), Some(claims));
    assert_eq!(verify(&token, &KEY_B.jwks()), None, "signed by A only");

    let app = KEY_A
        .mint(&TokenRequest::application(TENANT, APP, ["User.Read.All"]))
        .expect("mint");
    let claims = part(&app, 1);
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["roles"], json!(["User.Read.All"]));
    assert!(claims.get("scp").is_none() && claims.get("oid").is_none());
}

#[test]
fn mint_at_sets_the_times() {
    let token = KEY_A.mint_at(&delegated_request(), 1_000).expect("mint");
    let claims = part(&token, 1);
    assert_eq!(claims["iat"], 1_000);
    assert_eq!(claims["nbf"], 1_000);
    assert_eq!(claims["exp"], 4_600);
}

#[test]
fn mint_refuses_contradictory_requests() {
    let no_scopes = TokenRequest::delegated(TENANT, USER, Vec::<String>::new());
    assert!(matches!(
        KEY_A.mint(&no_scopes),
        Err(DevKeyError::InvalidRequest(_))
    ));
    let app_with_scopes = TokenRequest {
        scopes: vec!["User.Read".into()],
        ..TokenRequest::application(TENANT, APP, Vec::<String>::new())
    };
    assert!(matches!(
        KEY_A.mint(&app_with_scopes),
        Err(DevKeyError::InvalidRequest(_))
    ));
    let scopes_without_user = TokenRequest {
        user_id: None,
        ..TokenRequest::delegated(TENANT, USER, ["User.Read"])
    };
    assert!(matches!(
        KEY_A.mint(&scopes_without_user),
        Err(DevKeyError::InvalidRequest(_))
    ));
    let no_tenant = TokenRequest::delegated("", USER, ["User.Read"]);
    assert!(matches!(
        KEY_A.mint(&no_tenant),
        Err(DevKeyError::InvalidRequest(_))
    ));
}

#[test]
fn dev_key_jwks_describes_the_public_key() {
    let set = KEY_A.jwks();
    let json = serde_json::to_value(&set).unwrap();
    let key = &json["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["kid"], KEY_A.kid());
    assert_eq!(key["e"], "AQAB");
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(key["n"].as_str().unwrap())
            .unwrap()
            .len(),
        256
    );
    assert_eq!(KEY_A.kid().len(), 43, "a SHA-256 thumbprint");
    assert_ne!(KEY_A.kid(), KEY_B.kid());
    assert!(!format!("{:?}", *KEY_A).contains("BEGIN"));
}

#[test]
fn the_committed_test_keys_are_three_distinct_keys() {
    let kids = [
        DevKey::test_key().kid(),
        DevKey::other_test_key().kid(),
        DevKey::third_test_key().kid(),
    ];
    assert!(kids[0] != kids[1] && kids[1] != kids[2] && kids[0] != kids[2]);
    assert_eq!(DevKey::from_pem(TEST_KEY_PEM).expect("PEM").kid(), kids[0]);
}

#[test]
fn the_private_key_pem_reads_back_as_the_same_key() {
    let key = DevKey::test_key();
    let pem = key.private_key_pem();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(DevKey::from_pem(pem).expect("PEM").kid(), key.kid());
    assert!(
        !format!("{key:?}").contains("PRIVATE"),
        "Debug shows no key"
    );
}

#[test]
fn from_pem_refuses_what_is_not_a_private_key() {
    assert!(matches!(
        DevKey::from_pem("not a key"),
        Err(DevKeyError::InvalidPem(_))
    ));
}

/// The one test that generates a key: `load_or_create` on an empty directory.
#[cfg(unix)]
#[test]
fn load_or_create_persists_the_key_privately() {
    use std::os::unix::fs::PermissionsExt;

    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("state").join("keys");
    let first = DevKey::load_or_create(&dir).expect("create");
    let path = dir.join(DEV_KEY_FILE_NAME);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode & 0o077, 0, "directory is private: {dir_mode:o}");
    let pem = std::fs::read_to_string(&path).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no temporary file left"
    );
    assert_eq!(DevKey::from_pem(&pem).expect("PEM").kid(), first.kid());

    let token = first.mint(&delegated_request()).unwrap();
    let second = DevKey::load_or_create(&dir).expect("load");
    assert_eq!(first.kid(), second.kid());
    assert!(verify(&token, &second.jwks()).is_some());

    std::fs::write(&path, "not a key").unwrap();
    assert!(matches!(
        DevKey::load_or_create(&dir),
        Err(DevKeyError::InvalidKey { .. })
    ));
}
