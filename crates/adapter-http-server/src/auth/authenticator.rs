//! Validating a bearer token and reading the principal out of its claims.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey};
use photo_core::principal::{ApplicationPrincipal, DelegatedPrincipal, Principal, Scope, TenantId};
use serde_json::{Map, Value};

use super::jwks::{self, KeySet, RsaKey};
use super::token_cache::{self, TokenCache};
use super::{AuthConfig, AuthError, AuthSetupError, JwksSource};

/// Longer tokens are refused before any decoding (Entra's are a few kilobytes).
const MAX_TOKEN_LEN: usize = 16 * 1024;
/// The longest leeway honoured: more is a misconfiguration.
const MAX_LEEWAY_SECS: u64 = 24 * 3600;
/// Caller-supplied text echoed in an error message is cut to this many characters.
const MAX_ECHO_CHARS: usize = 64;

const ISSUER_V1_PREFIX: &str = "https://sts.windows.net/";
const ISSUER_V1_SUFFIX: &str = "/";
const ISSUER_V2_PREFIX: &str = "https://login.microsoftonline.com/";
const ISSUER_V2_SUFFIX: &str = "/v2.0";

/// Validates bearer tokens (spec D1) into [`Principal`]s (spec D2): the [`Authenticate`]
/// graph-photo serves with (feature `jwt`). Cheap to clone; clones share the keys and the
/// validated tokens. The checks, in order, are listed in the [module docs](super).
///
/// # Example
///
/// Against the committed test key of the `dev-tokens` crate (a production host names Entra's
/// JWKS URL instead, `JwksSource::Url`):
///
/// ```
/// use adapter_http_server::auth::{AuthConfig, Authenticator, JwksSource};
/// use dev_tokens::{DevKey, TokenRequest};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let key = DevKey::test_key();
/// let auth = Authenticator::new(AuthConfig::new(JwksSource::Static(key.jwks()))).await?;
///
/// let tenant = "3f2a7c10-5d4e-4b8a-9c1f-2e6d8a0b4c7e";
/// let user = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9";
/// let token = key.mint(&TokenRequest::delegated(tenant, user, ["User.ReadWrite"]))?;
/// let caller = auth.authenticate(Some(&format!("Bearer {token}"))).await?;
/// assert_eq!(caller.user_id(), Some(user));
/// assert!(auth.authenticate(Some("Bearer not-a-jwt")).await.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`Authenticate`]: super::Authenticate
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("source", &self.inner.source)
            .field("audiences", &self.inner.audiences)
            .field("leeway_secs", &self.inner.leeway_secs)
            .field("token_cache_entries", &self.inner.token_cache_entries)
            .finish_non_exhaustive()
    }
}

struct Inner {
    audiences: Vec<String>,
    leeway_secs: u64,
    source: Reload,
    refresh_min_interval: Duration,
    keys: RwLock<CurrentKeys>,
    /// Held while re-reading the source, so concurrent unknown `kid`s cause one fetch.
    refresh: tokio::sync::Mutex<RefreshState>,
    token_cache_entries: usize,
    tokens: TokenCache<ValidToken>,
    /// Signatures verified, so tests can tell a cached token from one verified again.
    #[cfg(test)]
    verifications: std::sync::atomic::AtomicUsize,
}

struct CurrentKeys {
    set: Arc<KeySet>,
    /// Moves on when a reload removes or changes a key: a token cached under an older
    /// generation may have been verified with a key that is gone, and is validated again.
    generation: u64,
}

/// What a later request with the same token needs from its validation.
struct ValidToken {
    principal: Principal,
    lifetime: Lifetime,
}

/// A token's `exp` and `nbf`, seconds since the epoch.
#[derive(Debug, Clone, Copy)]
struct Lifetime {
    exp: f64,
    nbf: Option<f64>,
}

impl Lifetime {
    /// Spec D1's time rules with `leeway_secs` of clock skew. The one check for a token
    /// validated now and one validated before, so a cached token is refused at the very
    /// moment it would be refused uncached.
    fn check(self, leeway_secs: u64, now: f64) -> Result<(), AuthError> {
        let leeway = leeway_secs as f64;
        if self.exp < now - leeway {
            return Err(AuthError::Expired);
        }
        if self.nbf.is_some_and(|nbf| nbf > now + leeway) {
            return Err(AuthError::NotYetValid);
        }
        Ok(())
    }
}

#[derive(Debug)]
enum Reload {
    /// A fixed set: nothing to re-read.
    Never,
    File(PathBuf),
    Url {
        url: String,
        client: reqwest::Client,
    },
}

#[derive(Default)]
struct RefreshState {
    /// When the source was last re-read because of an unknown `kid`.
    last_attempt: Option<Instant>,
}

impl Authenticator {
    /// Loads the keys: reads the file or fetches the URL once (a failure is an error, so that a
    /// server never starts unable to verify any token). Needs a Tokio runtime.
    pub async fn new(config: AuthConfig) -> Result<Self, AuthSetupError> {
        let audiences: Vec<&str> = config
            .audiences
            .iter()
            .map(String::as_str)
            .filter(|a| !a.is_empty())
            .collect();
        if audiences.is_empty() {
            return Err(AuthSetupError::NoAudiences);
        }
        let audiences: Vec<String> = audiences.into_iter().map(str::to_owned).collect();

        let (source, keys) = match config.jwks {
            JwksSource::File(path) => {
                let keys = jwks::read_file(&path).await?;
                (Reload::File(path), keys)
            }
            JwksSource::Url(url) => {
                let client = jwks::http_client()?;
                let keys = jwks::fetch(&client, &url).await?;
                (Reload::Url { url, client }, keys)
            }
            JwksSource::Static(set) => (Reload::Never, jwks::key_set(&set, "the configuration")?),
        };
        tracing::debug!(keys = keys.len(), source = ?source, "token signing keys loaded");

        Ok(Self {
            inner: Arc::new(Inner {
                audiences,
                leeway_secs: config.leeway_secs.min(MAX_LEEWAY_SECS),
                source,
                refresh_min_interval: config.jwks_refresh_min_interval,
                keys: RwLock::new(CurrentKeys {
                    set: Arc::new(keys),
                    generation: 0,
                }),
                refresh: tokio::sync::Mutex::new(RefreshState::default()),
                token_cache_entries: config.token_cache_entries,
                tokens: TokenCache::new(config.token_cache_entries),
                #[cfg(test)]
                verifications: std::sync::atomic::AtomicUsize::new(0),
            }),
        })
    }

    /// Validates the raw `Authorization` header value, if any, into the caller's identity.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        self.authenticate_at(authorization, unix_now()).await
    }

    /// [`Authenticator::authenticate`] as if the clock said `now` (seconds since the epoch).
    pub(super) async fn authenticate_at(
        &self,
        authorization: Option<&str>,
        now: f64,
    ) -> Result<Principal, AuthError> {
        let inner = &*self.inner;
        let token = bearer_token(authorization)?;
        // A token too long to be valid is refused by `check_header` without being hashed.
        let digest = (inner.tokens.is_enabled() && token.len() <= MAX_TOKEN_LEN)
            .then(|| token_cache::digest(token));
        if let Some(digest) = &digest {
            if let Some(valid) = inner.tokens.get(digest, inner.key_generation()) {
                // The same bytes were validated against the same keys (same generation): the
                // shape, key, signature, claim types, audience, issuer, tenant and kind of
                // token depend only on those bytes, the keys and the configuration, which is
                // fixed for this Authenticator's life. Only the clock has moved.
                return match valid.lifetime.check(inner.leeway_secs, now) {
                    Ok(()) => Ok(valid.principal.clone()),
                    Err(e) => {
                        inner.tokens.remove(digest);
                        Err(e)
                    }
                };
            }
        }

        let kid = check_header(token)?;
        let (key, key_generation) = inner.key_for(&kid).await?;
        #[cfg(test)]
        inner
            .verifications
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let claims = verified_claims(token, &key.decoding)?;
        let lifetime = check_claims(&claims, &inner.audiences, inner.leeway_secs, now)?;
        let principal = principal_from_claims(&claims)?;
        if let Some(digest) = digest {
            let valid = ValidToken {
                principal: principal.clone(),
                lifetime,
            };
            let dead_after = lifetime.exp + inner.leeway_secs as f64;
            inner
                .tokens
                .insert(digest, Arc::new(valid), key_generation, dead_after, now);
        }
        Ok(principal)
    }

    /// Signatures verified so far.
    #[cfg(test)]
    pub(super) fn verifications(&self) -> usize {
        self.inner
            .verifications
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Validated tokens kept.
    #[cfg(test)]
    pub(super) fn cached_tokens(&self) -> usize {
        self.inner.tokens.len()
    }
}

impl Inner {
    /// The key with this `kid` and the generation of the set it was found in.
    fn current_key(&self, kid: &str) -> Option<(Arc<RsaKey>, u64)> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.set.get(kid).map(|key| (key.clone(), keys.generation))
    }

    fn key_generation(&self) -> u64 {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .generation
    }

    async fn key_for(&self, kid: &str) -> Result<(Arc<RsaKey>, u64), AuthError> {
        if let Some(found) = self.current_key(kid) {
            return Ok(found);
        }
        let unknown = || AuthError::UnknownSigningKey(echo(kid));
        if matches!(self.source, Reload::Never) {
            return Err(unknown());
        }

        let mut state = self.refresh.lock().await;
        // Someone else may have refreshed while this request waited.
        if let Some(found) = self.current_key(kid) {
            return Ok(found);
        }
        if state
            .last_attempt
            .is_some_and(|last| last.elapsed() < self.refresh_min_interval)
        {
            return Err(unknown());
        }
        state.last_attempt = Some(Instant::now());
        let reloaded = match &self.source {
            Reload::Never => return Err(unknown()),
            Reload::File(path) => jwks::read_file(path).await,
            Reload::Url { url, client } => jwks::fetch(client, url).await,
        };
        match reloaded {
            Ok(keys) => {
                tracing::info!(kid = %echo(kid), keys = keys.len(), "token signing keys reloaded on an unknown kid");
                let key = keys.get(kid).cloned();
                let generation = self.replace_keys(keys);
                key.map(|key| (key, generation)).ok_or_else(unknown)
            }
            Err(e) => {
                tracing::warn!(error = %e, "reloading the token signing keys failed; keeping the previous ones");
                Err(unknown())
            }
        }
    }

    /// Swaps in a reloaded key set; returns its generation. A set that only adds keys keeps
    /// the generation (every cached token still verifies), so an unknown `kid`, which anyone
    /// can send, does not flush the cache every refresh interval; one that removes or changes
    /// a key starts a new generation, and the tokens cached under the old one are validated
    /// again.
    fn replace_keys(&self, keys: KeySet) -> u64 {
        let mut current = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let invalidates = jwks::removes_or_changes_a_key(&current.set, &keys);
        if invalidates {
            current.generation += 1;
        }
        current.set = Arc::new(keys);
        let generation = current.generation;
        drop(current);
        if invalidates {
            tracing::info!("a signing key was removed or changed: cached tokens dropped");
            // The generation alone refuses the old entries (a validation that raced this swap
            // may still add one); clearing frees their memory.
            self.tokens.clear();
        }
        generation
    }
}

/// The token of a `Bearer` header value.
fn bearer_token(authorization: Option<&str>) -> Result<&str, AuthError> {
    let value = authorization.map(str::trim).unwrap_or_default();
    if value.is_empty() {
        return Err(AuthError::MissingToken);
    }
    let (scheme, token) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::MissingToken);
    }
    Ok(token)
}

/// Checks the JWT shape and header before any key is used; returns the `kid`.
fn check_header(token: &str) -> Result<String, AuthError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::Malformed("the token is too long"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(_payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed(
            "a JWT has three parts separated by dots",
        ));
    };
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::Malformed("the header is not valid base64url"))?;
    let header: Map<String, Value> = serde_json::from_slice(&header)
        .map_err(|_| AuthError::Malformed("the header is not a JSON object"))?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == "RS256" => {}
        Some(Value::String(alg)) => return Err(AuthError::UnsupportedAlgorithm(echo(alg))),
        Some(_) | None => return Err(AuthError::Malformed("the header has no alg")),
    }
    if header.contains_key("crit") {
        return Err(AuthError::Malformed(
            "the header has critical extensions (crit), none of which are supported",
        ));
    }
    match header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => Ok(kid.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(AuthError::MissingKeyId),
        Some(_) => Err(AuthError::Malformed("the header's kid is not a string")),
    }
}

/// Verifies the RS256 signature over `header.payload`, then decodes the payload as a JSON
/// object. The claims are checked by [`check_claims`] rather than by jsonwebtoken, whose 9.x
/// validation skips a claim it cannot parse (a string `nbf` was never checked).
fn verified_claims(token: &str, key: &DecodingKey) -> Result<Map<String, Value>, AuthError> {
    let malformed = || AuthError::Malformed("a JWT has three parts separated by dots");
    let (message, signature) = token.rsplit_once('.').ok_or_else(malformed)?;
    let (_, payload) = message.split_once('.').ok_or_else(malformed)?;
    let valid = jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, Algorithm::RS256)
        .map_err(|e| jwt_error(e.kind()))?;
    if !valid {
        return Err(AuthError::InvalidSignature);
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| AuthError::Malformed("the payload is not valid base64url"))?;
    serde_json::from_slice(&payload)
        .map_err(|_| AuthError::Malformed("the payload is not a JSON object"))
}

fn jwt_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature | ErrorKind::Crypto(_) | ErrorKind::InvalidRsaKey(_) => {
            AuthError::InvalidSignature
        }
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidAudience => AuthError::InvalidAudience,
        ErrorKind::InvalidIssuer => AuthError::InvalidIssuer,
        ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(match claim.as_str() {
            "exp" => "exp",
            "aud" => "aud",
            "nbf" => "nbf",
            "iss" => "iss",
            "sub" => "sub",
            _ => "?",
        }),
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            AuthError::UnsupportedAlgorithm("?".to_owned())
        }
        ErrorKind::Base64(_) => AuthError::Malformed("a part is not valid base64url"),
        ErrorKind::Json(_) => AuthError::Malformed("the payload is not a JSON object"),
        ErrorKind::Utf8(_) => AuthError::Malformed("a part is not UTF-8"),
        _ => AuthError::Malformed("the token cannot be decoded"),
    }
}

/// Registered claims whose JSON type is checked before any is used (RFC 7519 and Entra's
/// access tokens). A claim of another type, `null` included, makes the token invalid: a
/// library that skips what it cannot parse would otherwise skip the check itself.
#[derive(Clone, Copy)]
enum ClaimType {
    /// A NumericDate: a JSON number of seconds.
    Number,
    String,
    /// A string or an array of strings (`aud`, RFC 7519 4.1.3).
    StringOrStrings,
    Strings,
}

const CLAIM_TYPES: [(&str, ClaimType); 10] = [
    ("exp", ClaimType::Number),
    ("nbf", ClaimType::Number),
    ("iat", ClaimType::Number),
    ("aud", ClaimType::StringOrStrings),
    ("iss", ClaimType::String),
    ("tid", ClaimType::String),
    ("oid", ClaimType::String),
    ("scp", ClaimType::String),
    ("roles", ClaimType::Strings),
    ("wids", ClaimType::Strings),
];

fn has_type(value: &Value, expected: ClaimType) -> bool {
    let strings =
        |v: &Value| matches!(v, Value::Array(items) if items.iter().all(Value::is_string));
    match expected {
        ClaimType::Number => value.as_f64().is_some_and(f64::is_finite),
        ClaimType::String => value.is_string(),
        ClaimType::StringOrStrings => value.is_string() || strings(value),
        ClaimType::Strings => strings(value),
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// Spec D1 on a token whose signature is valid: the claim types, then `exp` (required) and
/// `nbf` (if present) with `leeway_secs` of skew, then `aud` (required) against `audiences`.
fn check_claims(
    claims: &Map<String, Value>,
    audiences: &[String],
    leeway_secs: u64,
    now: f64,
) -> Result<Lifetime, AuthError> {
    for (name, expected) in CLAIM_TYPES {
        if claims.get(name).is_some_and(|v| !has_type(v, expected)) {
            return Err(AuthError::InvalidClaim(name));
        }
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .ok_or(AuthError::MissingClaim("exp"))?;
    let lifetime = Lifetime {
        exp,
        nbf: claims.get("nbf").and_then(Value::as_f64),
    };
    lifetime.check(leeway_secs, now)?;
    let accepted = |aud: &str| audiences.iter().any(|a| a == aud);
    match claims.get("aud") {
        None => Err(AuthError::MissingClaim("aud")),
        Some(Value::String(aud)) if accepted(aud) => Ok(lifetime),
        Some(Value::Array(auds)) if auds.iter().filter_map(Value::as_str).any(accepted) => {
            Ok(lifetime)
        }
        Some(_) => Err(AuthError::InvalidAudience),
    }
}

/// The claims of a token whose signature, claim types, lifetime and audience are valid.
fn principal_from_claims(claims: &Map<String, Value>) -> Result<Principal, AuthError> {
    let tid = optional_str(claims, "tid")?
        .filter(|t| !t.trim().is_empty())
        .ok_or(AuthError::MissingClaim("tid"))?;
    let iss = match claims.get("iss") {
        None | Some(Value::Null) => return Err(AuthError::MissingClaim("iss")),
        Some(Value::String(iss)) => iss,
        Some(_) => return Err(AuthError::InvalidIssuer),
    };
    if !issuer_matches(iss, tid) {
        return Err(AuthError::InvalidIssuer);
    }
    let tenant = TenantId::new(tid);
    let app_id = match optional_str(claims, "appid")? {
        Some(id) => Some(id),
        None => optional_str(claims, "azp")?,
    }
    .filter(|id| !id.is_empty())
    .map(str::to_owned);
    let idtyp = optional_str(claims, "idtyp")?;

    match claims.get("scp") {
        Some(Value::Null) | None => {
            if idtyp.is_some_and(|t| !t.eq_ignore_ascii_case("app")) {
                return Err(AuthError::InvalidClaim("idtyp"));
            }
            let app_id = match app_id {
                Some(id) => id,
                None => optional_str(claims, "sub")?
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .ok_or(AuthError::MissingClaim("appid"))?,
            };
            let roles = string_list(claims, "roles")?
                .into_iter()
                .map(Scope::from)
                .collect();
            Ok(Principal::Application(ApplicationPrincipal {
                tenant,
                app_id,
                roles,
            }))
        }
        Some(Value::String(scp)) => {
            if idtyp.is_some_and(|t| !t.eq_ignore_ascii_case("user")) {
                return Err(AuthError::InvalidClaim("idtyp"));
            }
            let user_id = optional_str(claims, "oid")?
                .filter(|o| !o.trim().is_empty())
                .ok_or(AuthError::MissingClaim("oid"))?;
            let directory_roles = string_list(claims, "wids")?
                .into_iter()
                .map(str::to_owned)
                .collect();
            Ok(Principal::Delegated(DelegatedPrincipal {
                tenant,
                user_id: user_id.to_owned(),
                scopes: Scope::parse_list(scp),
                directory_roles,
                app_id,
            }))
        }
        Some(_) => Err(AuthError::InvalidClaim("scp")),
    }
}

/// `iss` is `https://sts.windows.net/{tid}/` or `https://login.microsoftonline.com/{tid}/v2.0`.
fn issuer_matches(iss: &str, tid: &str) -> bool {
    [
        (ISSUER_V1_PREFIX, ISSUER_V1_SUFFIX),
        (ISSUER_V2_PREFIX, ISSUER_V2_SUFFIX),
    ]
    .iter()
    .any(|(prefix, suffix)| {
        iss.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .is_some_and(|issuer_tid| issuer_tid.eq_ignore_ascii_case(tid))
    })
}

fn optional_str<'a>(
    claims: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, AuthError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(AuthError::InvalidClaim(name)),
    }
}

/// An optional array of strings.
fn string_list<'a>(
    claims: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Vec<&'a str>, AuthError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().ok_or(AuthError::InvalidClaim(name)))
            .collect(),
        Some(_) => Err(AuthError::InvalidClaim(name)),
    }
}

/// Caller-supplied text for an error message, cut short.
fn echo(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(MAX_ECHO_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}
