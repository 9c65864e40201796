//! Keys and tokens: the server's committed test key, and tokens for the seeded users.

use std::time::{SystemTime, UNIX_EPOCH};

use adapter_memstore::seed::{
    ADELE_ID, ALEX_ID, ALLAN_ID, CONSUMER_TENANT, CONTOSO_TENANT, FABRIKAM_TENANT, MEGAN_ID, PAT_ID,
};
use dev_tokens::{DevKey, TokenRequest};
use photo_core::principal::USER_ADMINISTRATOR;
use serde_json::Value;

/// The server's key: the committed test key (generating one costs seconds).
pub(super) fn key() -> &'static DevKey {
    DevKey::test_key()
}

/// A key the server does not know.
pub(crate) fn other_key() -> &'static DevKey {
    DevKey::other_test_key()
}

pub(crate) fn mint(request: &TokenRequest) -> String {
    key().mint(request).expect("mint")
}

/// Signs any claims with the server's key (RS256, its `kid`).
pub(crate) fn sign(claims: &Value) -> String {
    key().sign_claims(claims).expect("sign")
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Entra-shaped claims of a valid delegated token for Adele, to be altered by a test.
pub(crate) fn adele_claims(scopes: &str) -> Value {
    let now = now();
    serde_json::json!({
        "aud": "https://graph.microsoft.com",
        "iss": format!("https://sts.windows.net/{CONTOSO_TENANT}/"),
        "iat": now, "nbf": now, "exp": now + 3600,
        "tid": CONTOSO_TENANT,
        "oid": ADELE_ID,
        "sub": ADELE_ID,
        "idtyp": "user",
        "appid": dev_tokens::DEV_APP_ID,
        "scp": scopes,
    })
}

pub(crate) fn delegated(tenant: &str, user: &str, scopes: &[&str], wids: &[&str]) -> String {
    let mut request = TokenRequest::delegated(tenant, user, scopes.iter().copied());
    request.directory_roles = wids.iter().map(|w| (*w).to_owned()).collect();
    mint(&request)
}

/// Adele Vance: a plain user of Contoso.
pub(crate) fn adele(scopes: &[&str]) -> String {
    delegated(CONTOSO_TENANT, ADELE_ID, scopes, &[])
}

/// Megan Bowen: User Administrator of Contoso (her `wids`).
pub(crate) fn megan(scopes: &[&str]) -> String {
    delegated(CONTOSO_TENANT, MEGAN_ID, scopes, &[USER_ADMINISTRATOR])
}

/// Alex Wilber, with whatever directory roles a test gives him.
pub(crate) fn alex(scopes: &[&str], wids: &[&str]) -> String {
    delegated(CONTOSO_TENANT, ALEX_ID, scopes, wids)
}

/// Allan Deyoung, of Fabrikam.
pub(crate) fn allan(scopes: &[&str]) -> String {
    delegated(FABRIKAM_TENANT, ALLAN_ID, scopes, &[])
}

/// Pat, a personal Microsoft account.
pub(crate) fn pat(scopes: &[&str]) -> String {
    delegated(CONSUMER_TENANT, PAT_ID, scopes, &[])
}

/// An application token of Contoso.
pub(crate) fn app(roles: &[&str]) -> String {
    app_in(CONTOSO_TENANT, roles)
}

pub(crate) fn app_in(tenant: &str, roles: &[&str]) -> String {
    mint(&TokenRequest::application(
        tenant,
        "11111111-2222-4333-8444-555555555555",
        roles.iter().copied(),
    ))
}
