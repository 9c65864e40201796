//! Authentication: turns an `Authorization: Bearer <JWT>` header into a [`Principal`]
//! (spec D1, D2).
//!
//! Tokens are RS256 JWTs shaped like the access tokens Entra ID issues for Microsoft Graph. They
//! are validated against a JWKS that comes from a file, a URL (Entra's
//! `https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys`, say) or a fixed set (the
//! public half of the development key, which the wiring gets from the `dev-tokens` crate: this
//! crate verifies tokens and never mints them).
//!
//! What is checked, in order (the first failure is the [`AuthError`]):
//! 1. the header: present and non-empty, scheme `Bearer` (any case);
//! 2. the JWT shape and header: three base64url parts, a JSON header, `alg` exactly `RS256`
//!    (`none`, HMAC and everything else are refused before any key is looked at, so a public key
//!    can never be used as an HMAC secret), a `kid`;
//! 3. the key: `kid` names an RSA signing key of the JWKS (a URL or file source is re-read on an
//!    unknown `kid`, at most once per [`AuthConfig::jwks_refresh_min_interval`]);
//! 4. the signature (jsonwebtoken's `crypto::verify`); the payload is then read as a JSON object;
//! 5. the JSON type of every registered claim present (`exp`, `nbf`, `iat` numbers; `aud` a
//!    string or strings; `iss`, `tid`, `oid`, `scp` strings; `roles`, `wids` arrays of strings;
//!    `null` is never a valid value), checked here rather than left to jsonwebtoken 9, whose
//!    validation skips a claim it cannot parse;
//! 6. `exp` (required) and `nbf` (if present), with [`AuthConfig::leeway_secs`] of clock skew;
//! 7. `aud` (required), exactly one of [`AuthConfig::audiences`] (or an array holding one);
//! 8. `tid` (required) and `iss` (required), which must be `https://sts.windows.net/{tid}/` or
//!    `https://login.microsoftonline.com/{tid}/v2.0`, the tenant id compared case-insensitively;
//! 9. the kind of token: with a `scp` claim (even an empty one) it is delegated and needs `oid`;
//!    without, it is an application token. An `idtyp` claim, when present, must agree (`user`
//!    with `scp`, `app` without), so that a user token can never pass for an app token.
//!
//! A token that passed is remembered (up to [`AuthConfig::token_cache_entries`], by the SHA-256
//! of the whole token) until it expires: the same token again is not verified again, only its
//! `exp` and `nbf` are checked against the clock (step 6), because steps 2-5 and 7-9 depend on
//! nothing but its bytes, the keys and the configuration. A reload of the keys that removes or
//! changes one drops every remembered token.

mod authenticator;
mod jwks;
mod token_cache;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

pub use authenticator::Authenticator;

use async_trait::async_trait;
use photo_core::principal::Principal;

/// Turns a request's `Authorization` header into the caller (spec D1, D2). The router holds one
/// as `Arc<dyn Authenticate>`: [`Authenticator`] validates Entra-shaped JWTs; a host service with
/// authentication of its own (a session, a gateway's header) implements it to hand the router
/// its principals, and router tests use it to inject a caller.
#[async_trait]
pub trait Authenticate: Send + Sync {
    /// The caller, from the raw `Authorization` header value if there is one. An error is
    /// answered `401 InvalidAuthenticationToken` with its `Display` as the message.
    async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError>;
}

#[async_trait]
impl Authenticate for Authenticator {
    async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        Authenticator::authenticate(self, authorization).await
    }
}

/// The audiences Microsoft Graph accepts: its URI and its application id.
pub const DEFAULT_AUDIENCES: [&str; 2] = [
    "https://graph.microsoft.com",
    "00000003-0000-0000-c000-000000000000",
];

/// The `WWW-Authenticate` value Graph sends with a `401` (spec D1).
pub const WWW_AUTHENTICATE: &str = "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"";

/// Clock skew allowed on `exp` and `nbf` by default (spec D1).
pub const DEFAULT_LEEWAY_SECS: u64 = 60;

/// How often, at most, an unknown `kid` makes the JWKS be fetched again by default.
pub const DEFAULT_JWKS_REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(30);

/// Validated tokens remembered by default. A client sends one token for its whole lifetime
/// (60-90 minutes for Entra's), so this is how many clients can be active within a token's
/// lifetime before some pay a signature verification again: far more than one replica of this
/// service serves, for a megabyte or two (an entry is a few hundred bytes, more for a token
/// with many scopes). Past it, the least recently used token makes room, and its client's next
/// request is verified in full, as every request was before the cache.
pub const DEFAULT_TOKEN_CACHE_ENTRIES: usize = 4096;

/// Where the keys that sign access tokens come from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// A JWKS JSON file, read at start and re-read on an unknown `kid`.
    File(PathBuf),
    /// A JWKS URL, fetched at start and again on an unknown `kid`.
    Url(String),
    /// A fixed set of keys, never re-read (e.g. the development key's public half).
    Static(jsonwebtoken::jwk::JwkSet),
}

/// How tokens are validated.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub jwks: JwksSource,
    /// Accepted `aud` values, compared exactly.
    pub audiences: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds (capped at one day).
    pub leeway_secs: u64,
    /// On an unknown `kid`, a URL or file source is re-read at most this often.
    pub jwks_refresh_min_interval: Duration,
    /// How many validated tokens are remembered, so that a client's token is verified once
    /// rather than on every request; 0 remembers none.
    pub token_cache_entries: usize,
}

impl AuthConfig {
    /// The spec's defaults: Graph's two audiences, 60 s leeway, 30 s between refetches, and
    /// [`DEFAULT_TOKEN_CACHE_ENTRIES`] validated tokens remembered.
    pub fn new(jwks: JwksSource) -> Self {
        Self {
            jwks,
            audiences: DEFAULT_AUDIENCES.iter().map(|a| (*a).to_owned()).collect(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            jwks_refresh_min_interval: DEFAULT_JWKS_REFRESH_MIN_INTERVAL,
            token_cache_entries: DEFAULT_TOKEN_CACHE_ENTRIES,
        }
    }
}

/// Why a request is not authenticated. Always a `401`, code `InvalidAuthenticationToken`,
/// `WWW-Authenticate: Bearer` ([`WWW_AUTHENTICATE`]); `Display` is the error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header, an empty one, or a scheme without a token.
    #[error("Access token is empty.")]
    MissingToken,
    /// An `Authorization` header with another scheme than `Bearer`.
    #[error("Access token is missing: the Authorization header must use the Bearer scheme.")]
    NotBearer,
    /// Not a JWT: wrong number of parts, bad base64url, bad JSON.
    #[error("JWT is not well formed: {0}.")]
    Malformed(&'static str),
    /// `alg` is not `RS256`.
    #[error("Access token algorithm '{0}' is not supported; tokens must be signed with RS256.")]
    UnsupportedAlgorithm(String),
    /// The header has no `kid`.
    #[error("Access token has no key id (kid) in its header.")]
    MissingKeyId,
    /// No key of the JWKS has this `kid`.
    #[error("Access token is signed with an unknown key (kid '{0}').")]
    UnknownSigningKey(String),
    #[error("Access token signature is invalid.")]
    InvalidSignature,
    #[error("Lifetime validation failed, the token is expired.")]
    Expired,
    #[error("Lifetime validation failed, the token is not yet valid (nbf).")]
    NotYetValid,
    #[error("Invalid audience.")]
    InvalidAudience,
    /// `iss` is not one of the two Entra forms for the token's `tid`.
    #[error("Invalid issuer: it does not match the token's tenant (tid).")]
    InvalidIssuer,
    /// A required claim is absent (`exp`, `aud`, `iss`, `tid`, `oid` for a delegated token,
    /// an app id for an application token).
    #[error("Access token is missing the required '{0}' claim.")]
    MissingClaim(&'static str),
    /// A claim has the wrong type or a contradictory value.
    #[error("Access token claim '{0}' is invalid.")]
    InvalidClaim(&'static str),
}

/// Why an [`Authenticator`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("cannot read the JWKS file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot fetch the JWKS from {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("the JWKS from {origin} is not valid JSON Web Key Set: {reason}")]
    InvalidJwks { origin: String, reason: String },
    #[error("the JWKS from {origin} has no usable key (RSA, 2048 bits or more, with a kid, for RS256 signatures)")]
    NoSigningKeys { origin: String },
    #[error("no token audience is configured")]
    NoAudiences,
}
