//! Tests of token validation against the committed test keys: one module per area (token kinds,
//! header and shape, claims, JWKS sources, the validated-token cache), the token builders they
//! share here.

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

mod claims;
mod header_and_shape;
mod jwks_sources;
mod token_cache;
mod token_kinds;

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
