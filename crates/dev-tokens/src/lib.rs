//! The development signing key and development tokens shaped like the access tokens Entra ID
//! issues for Microsoft Graph (spec D1, D2).
//!
//! `graph-photo serve` without a configured JWKS validates tokens against this key's public half
//! ([`DevKey::jwks`], handed to the server as a plain JWKS); `graph-photo token`, the conformance
//! command and the tests mint with it. It is its own crate so that the server adapter only ever
//! verifies tokens and never carries the RSA code that makes keys and signs.
//!
//! With the `test-key` feature (for dev-dependencies only), `DevKey::test_key` and friends give
//! committed, public, test-only keys, so that tests never pay for an RSA key generation.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
    RSAKeyParameters, RSAKeyType,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The file [`DevKey::load_or_create`] keeps the key in (PKCS#8 PEM, mode 0600).
pub const DEV_KEY_FILE_NAME: &str = "dev-signing-key.pem";

/// The client application id development tokens name by default (`appid`/`azp`).
pub const DEV_APP_ID: &str = "6f0c3e1a-7b2d-4c5e-9a8f-0d1e2f3a4b5c";

/// The audience development tokens name by default: Microsoft Graph's URI, the first of the
/// audiences the server accepts by default.
pub const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";

const KEY_BITS: usize = 2048;

/// Why the development key could not be made, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum DevKeyError {
    #[error("cannot generate the development signing key: {0}")]
    Generate(String),
    #[error("development signing key {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "development signing key {path} is not a usable RSA private key (PKCS#8 PEM): {reason}"
    )]
    InvalidKey { path: PathBuf, reason: String },
    #[error("not a usable RSA private key (PKCS#8 PEM): {0}")]
    InvalidPem(String),
    #[error("invalid token request: {0}")]
    InvalidRequest(&'static str),
    #[error("cannot sign the token: {0}")]
    Sign(String),
}

/// The server's own development signing key: RSA 2048, RS256.
#[derive(Clone)]
pub struct DevKey {
    encoding: EncodingKey,
    kid: String,
    jwk: Jwk,
    /// The private key as PKCS#8 PEM, for tools that sign with it themselves (the
    /// conformance suite's token variants).
    pem: String,
}

impl fmt::Debug for DevKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DevKey {
    /// A fresh key, in memory only.
    pub fn generate() -> Result<DevKey, DevKeyError> {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), KEY_BITS)
            .map_err(|e| DevKeyError::Generate(e.to_string()))?;
        DevKey::from_private_key(&key).map_err(DevKeyError::Generate)
    }

    /// The key of a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), RSA 2048 to 4096 bits.
    pub fn from_pem(pem: &str) -> Result<DevKey, DevKeyError> {
        let key = RsaPrivateKey::from_pkcs8_pem(pem)
            .map_err(|e| DevKeyError::InvalidPem(e.to_string()))?;
        DevKey::from_private_key(&key).map_err(DevKeyError::InvalidPem)
    }

    /// The key of `dir/dev-signing-key.pem`, created (with a fresh key, mode 0600; `dir` with
    /// mode 0700 if missing) when absent, so that tokens minted earlier stay valid after a
    /// restart. The file is written under a temporary name and linked into place, so a crash
    /// leaves no half-written key and two servers starting at once end up with the same key.
    pub fn load_or_create(dir: &Path) -> Result<DevKey, DevKeyError> {
        let path = dir.join(DEV_KEY_FILE_NAME);
        match load_file(&path) {
            Err(DevKeyError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }

        create_private_dir(dir).map_err(|source| DevKeyError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), KEY_BITS)
            .map_err(|e| DevKeyError::Generate(e.to_string()))?;
        let dev_key = DevKey::from_private_key(&key).map_err(DevKeyError::Generate)?;
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| DevKeyError::Generate(e.to_string()))?;

        let tmp = dir.join(format!(".{DEV_KEY_FILE_NAME}.{}.tmp", uuid::Uuid::new_v4()));
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| DevKeyError::Io { path, source }
        };
        write_private_file(&tmp, pem.as_bytes()).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_err(&tmp)(e)
        })?;
        let placed = match fs::hard_link(&tmp, &path) {
            Ok(()) => Ok(true),
            // Another process created it meanwhile: use theirs.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            // A filesystem without hard links.
            Err(_) => fs::rename(&tmp, &path).map(|()| true),
        };
        let _ = fs::remove_file(&tmp);
        if placed.map_err(io_err(&path))? {
            tracing::info!(path = %path.display(), kid = %dev_key.kid, "created the development signing key");
            Ok(dev_key)
        } else {
            load_file(&path)
        }
    }

    /// The key id: the RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key, so it
    /// is the same for the same key across restarts.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key as PKCS#8 PEM (what [`DevKey::from_pem`] reads), for a tool that signs
    /// tokens of its own with it: `graph-photo conformance` hands it to the suite, which mints
    /// valid and deliberately invalid tokens against the development server.
    pub fn private_key_pem(&self) -> &str {
        &self.pem
    }

    /// The public key as a JWKS (kty RSA, use sig, alg RS256, kid, n, e).
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.jwk.clone()],
        }
    }

    /// Signs a development token with Entra-shaped claims (spec D2).
    ///
    /// A request is an application token when `application` is set, or when it has neither a
    /// `user_id` nor `scopes`. An application token must have no `scopes` (a `scp` claim is
    /// what makes a token delegated). A delegated token needs a `user_id` and at least one
    /// scope: Entra never issues a delegated token without `scp`, and an empty `scp` would be
    /// a token no real client ever sees (use a scope with no rule, e.g. `openid`, for a
    /// delegated token without photo permissions).
    pub fn mint(&self, request: &TokenRequest) -> Result<String, DevKeyError> {
        self.mint_at(request, now_secs())
    }

    /// [`DevKey::mint`] as if the clock said `now` (seconds since the epoch): tokens already
    /// expired or not yet valid.
    pub fn mint_at(&self, request: &TokenRequest, now: u64) -> Result<String, DevKeyError> {
        let claims = request.claims(now)?;
        self.sign_claims(&claims)
    }

    /// Signs any claims as they are, with this key's `kid` (tests build odd tokens with it).
    pub fn sign_claims(&self, claims: &Value) -> Result<String, DevKeyError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| DevKeyError::Sign(e.to_string()))
    }

    fn from_private_key(key: &RsaPrivateKey) -> Result<DevKey, String> {
        key.validate().map_err(|e| e.to_string())?;
        let bits = key.size() * 8;
        if !(2048..=4096).contains(&bits) {
            return Err(format!(
                "an RSA key of {bits} bits (2048 to 4096 are supported)"
            ));
        }
        let der = key.to_pkcs1_der().map_err(|e| e.to_string())?;
        let n = b64url(&key.n().to_bytes_be());
        let e = b64url(&key.e().to_bytes_be());
        // RFC 7638: the required members, lexicographic order, no whitespace.
        let thumbprint_input = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let kid = b64url(&Sha256::digest(thumbprint_input.as_bytes()));
        let jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::RS256),
                key_id: Some(kid.clone()),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n,
                e,
            }),
        };
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| e.to_string())?
            .to_string();
        Ok(DevKey {
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            kid,
            jwk,
            pem,
        })
    }
}

fn load_file(path: &Path) -> Result<DevKey, DevKeyError> {
    let pem = fs::read_to_string(path).map_err(|source| DevKeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    warn_if_exposed(path);
    let invalid = |reason: String| DevKeyError::InvalidKey {
        path: path.to_owned(),
        reason,
    };
    let key = RsaPrivateKey::from_pkcs8_pem(&pem).map_err(|e| invalid(e.to_string()))?;
    DevKey::from_private_key(&key).map_err(invalid)
}

#[cfg(unix)]
fn warn_if_exposed(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the development signing key is readable by other users; chmod 600 it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_exposed(_path: &Path) {}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates `path` (which must not exist) readable by its owner only from the first instant.
fn write_private_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Base64url without padding, as JWTs and JWKs spell binary values.
fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What a development token says. Entra-shaped claims (spec D2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// `tid`, also in `iss` (`https://sts.windows.net/{tid}/`).
    pub tenant: String,
    /// `oid` (and `sub`) of the signed-in user; `None` for application tokens.
    pub user_id: Option<String>,
    /// `upn` and `preferred_username`, when given.
    pub upn: Option<String>,
    /// Delegated permissions (`scp`, space-separated). Empty with `user_id` `None`: an
    /// application token.
    pub scopes: Vec<String>,
    /// `roles`: application permissions (or app roles of the user), emitted when not empty.
    pub roles: Vec<String>,
    /// `wids`: directory role template ids, emitted when not empty.
    pub directory_roles: Vec<String>,
    /// `appid` and `azp`: the client application.
    pub app_id: String,
    /// `aud`.
    pub audience: String,
    /// `exp` - `iat`.
    pub lifetime: Duration,
    /// Forces an application token.
    pub application: bool,
}

impl TokenRequest {
    /// A delegated token for `user_id` of `tenant` with `scopes`, from [`DEV_APP_ID`], for
    /// Graph, valid one hour.
    pub fn delegated(
        tenant: impl Into<String>,
        user_id: impl Into<String>,
        scopes: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            tenant: tenant.into(),
            user_id: Some(user_id.into()),
            upn: None,
            scopes: scopes.into_iter().map(Into::into).collect(),
            roles: Vec::new(),
            directory_roles: Vec::new(),
            app_id: DEV_APP_ID.to_owned(),
            audience: GRAPH_AUDIENCE.to_owned(),
            lifetime: Duration::from_secs(3600),
            application: false,
        }
    }

    /// An application token of `tenant` for `app_id` with `roles`, for Graph, valid one hour.
    pub fn application(
        tenant: impl Into<String>,
        app_id: impl Into<String>,
        roles: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            tenant: tenant.into(),
            user_id: None,
            upn: None,
            scopes: Vec::new(),
            roles: roles.into_iter().map(Into::into).collect(),
            directory_roles: Vec::new(),
            app_id: app_id.into(),
            audience: GRAPH_AUDIENCE.to_owned(),
            lifetime: Duration::from_secs(3600),
            application: true,
        }
    }

    /// Whether this request makes an application token.
    pub fn is_application(&self) -> bool {
        self.application || (self.user_id.is_none() && self.scopes.is_empty())
    }

    fn claims(&self, now: u64) -> Result<Value, DevKeyError> {
        let tenant = self.tenant.trim();
        if tenant.is_empty() || tenant.contains('/') {
            return Err(DevKeyError::InvalidRequest(
                "the tenant id is empty or has a '/'",
            ));
        }
        if self.app_id.trim().is_empty() {
            return Err(DevKeyError::InvalidRequest("the app id is empty"));
        }
        if self.audience.is_empty() {
            return Err(DevKeyError::InvalidRequest("the audience is empty"));
        }
        let application = self.is_application();
        let user_id = self.user_id.as_deref().filter(|u| !u.trim().is_empty());
        if application && !self.scopes.is_empty() {
            return Err(DevKeyError::InvalidRequest(
                "an application token has no scopes (a token with scp is delegated)",
            ));
        }
        if !application && user_id.is_none() {
            return Err(DevKeyError::InvalidRequest(
                "a delegated token needs a user id (oid)",
            ));
        }
        if !application && self.scopes.iter().all(|s| s.trim().is_empty()) {
            return Err(DevKeyError::InvalidRequest(
                "a delegated token needs at least one scope",
            ));
        }

        let exp = now.saturating_add(self.lifetime.as_secs());
        let jti = uuid::Uuid::new_v4();
        let mut claims = Map::new();
        claims.insert("aud".into(), json!(self.audience));
        claims.insert(
            "iss".into(),
            json!(format!("https://sts.windows.net/{tenant}/")),
        );
        claims.insert("iat".into(), json!(now));
        claims.insert("nbf".into(), json!(now));
        claims.insert("exp".into(), json!(exp));
        claims.insert("tid".into(), json!(tenant));
        claims.insert("appid".into(), json!(self.app_id));
        claims.insert("azp".into(), json!(self.app_id));
        claims.insert("ver".into(), json!("1.0"));
        claims.insert("jti".into(), json!(jti.to_string()));
        claims.insert("uti".into(), json!(b64url(jti.as_bytes())));
        if let Some(user_id) = user_id {
            claims.insert("oid".into(), json!(user_id));
        }
        if application {
            claims.insert("idtyp".into(), json!("app"));
            // Entra's `sub` of an app token is the service principal; the app id stands in.
            claims.insert("sub".into(), json!(user_id.unwrap_or(&self.app_id)));
        } else {
            claims.insert("idtyp".into(), json!("user"));
            claims.insert("sub".into(), json!(user_id));
            let scp: Vec<&str> = self
                .scopes
                .iter()
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .collect();
            claims.insert("scp".into(), json!(scp.join(" ")));
        }
        if !self.roles.is_empty() {
            claims.insert("roles".into(), json!(self.roles));
        }
        if !self.directory_roles.is_empty() {
            claims.insert("wids".into(), json!(self.directory_roles));
        }
        if let Some(upn) = self.upn.as_deref().filter(|u| !u.is_empty()) {
            claims.insert("upn".into(), json!(upn));
            claims.insert("preferred_username".into(), json!(upn));
        }
        Ok(Value::Object(claims))
    }
}

#[cfg(any(test, feature = "test-key"))]
mod test_keys;
#[cfg(any(test, feature = "test-key"))]
pub use test_keys::{OTHER_TEST_KEY_PEM, TEST_KEY_PEM, THIRD_TEST_KEY_PEM};

#[cfg(test)]
mod tests;
