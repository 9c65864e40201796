//! Authentication: turns an `Authorization` header into a [`Principal`] (spec D1, D2).
//!
//! The router asks an [`Authenticate`] for the caller of every request that named a valid
//! route; whatever it refuses is answered `401` with the [`AuthError`]'s text. A host with
//! authentication of its own (a session, a gateway's header) implements [`Authenticate`]; the
//! `jwt` feature (default) adds [`Authenticator`], which validates bearer tokens shaped like
//! Entra ID's access tokens for Microsoft Graph.
//!
//! # JWT bearer tokens (feature `jwt`)
//!
//! Tokens are RS256 JWTs. They are validated against a JWKS that comes from a file, a URL
//! (Entra's `https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys`, say) or a fixed
//! set (the public half of the development key, which the wiring gets from the `dev-tokens`
//! crate: this crate verifies tokens and never mints them).
//!
//! What is checked, in order (the first failure is the [`AuthError`]):
//! 1. the header: present and non-empty, scheme `Bearer` (any case);
//! 2. the JWT shape and header: three base64url parts, a JSON header, `alg` exactly `RS256`
//!    (`none`, HMAC and everything else are refused before any key is looked at, so a public key
//!    can never be used as an HMAC secret), a `kid`;
//! 3. the key: `kid` names an RSA signing key of the JWKS (a URL or file source is re-read on an
//!    unknown `kid`, at most once per `AuthConfig::jwks_refresh_min_interval`);
//! 4. the signature (jsonwebtoken's `crypto::verify`); the payload is then read as a JSON object;
//! 5. the JSON type of every registered claim present (`exp`, `nbf`, `iat` numbers; `aud` a
//!    string or strings; `iss`, `tid`, `oid`, `scp` strings; `roles`, `wids` arrays of strings;
//!    `null` is never a valid value), checked here rather than left to jsonwebtoken 9, whose
//!    validation skips a claim it cannot parse;
//! 6. `exp` (required) and `nbf` (if present), with `AuthConfig::leeway_secs` of clock skew;
//! 7. `aud` (required), exactly one of `AuthConfig::audiences` (or an array holding one);
//! 8. `tid` (required) and `iss` (required), which must be `https://sts.windows.net/{tid}/` or
//!    `https://login.microsoftonline.com/{tid}/v2.0`, the tenant id compared case-insensitively;
//! 9. the kind of token: with a `scp` claim (even an empty one) it is delegated and needs `oid`;
//!    without, it is an application token. An `idtyp` claim, when present, must agree (`user`
//!    with `scp`, `app` without), so that a user token can never pass for an app token.
//!
//! A token that passed is remembered (up to `AuthConfig::token_cache_entries`, by the SHA-256
//! of the whole token) until it expires: the same token again is not verified again, only its
//! `exp` and `nbf` are checked against the clock (step 6), because steps 2-5 and 7-9 depend on
//! nothing but its bytes, the keys and the configuration. A reload of the keys that removes or
//! changes one drops every remembered token.
#![cfg_attr(
    not(feature = "jwt"),
    doc = "\n\n[`Authenticator`]: crate#cargo-features"
)]

#[cfg(feature = "jwt")]
mod authenticator;
#[cfg(feature = "jwt")]
mod jwks;
#[cfg(feature = "jwt")]
mod token_cache;

// Two attributes rather than `all(test, ...)`: clippy knows test code by `cfg(test)` alone.
#[cfg(test)]
#[cfg(feature = "jwt")]
mod tests;

#[cfg(feature = "jwt")]
use std::path::PathBuf;
#[cfg(feature = "jwt")]
use std::time::Duration;

#[cfg(feature = "jwt")]
pub use authenticator::Authenticator;

use async_trait::async_trait;
use photo_core::principal::Principal;

/// Turns a request's `Authorization` header into the caller (spec D1, D2). The router holds one
/// as `Arc<dyn Authenticate>`: [`Authenticator`] (feature `jwt`) validates Entra-shaped JWTs; a
/// host service with authentication of its own (a session, a gateway's header) implements it to
/// hand the router its principals, and router tests use it to inject a caller.
///
/// The router asks only after the path and method named a valid operation (a bad route is a
/// `400`/`405` before any authentication, spec A6), and then before anything else: a refused
/// caller never reaches the directory or a store.
///
/// # Example
///
/// A host whose callers were authenticated by a gateway in front, which passes the user's
/// object id as the bearer "token":
///
/// ```
/// use std::sync::Arc;
///
/// use adapter_http_server::auth::{AuthError, Authenticate};
/// use photo_core::principal::{DelegatedPrincipal, Principal, Scope, TenantId};
///
/// struct GatewayUser {
///     tenant: TenantId,
/// }
///
/// #[async_trait::async_trait]
/// impl Authenticate for GatewayUser {
///     async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
///         let user_id = authorization
///             .and_then(|value| value.strip_prefix("Bearer "))
///             .filter(|id| !id.is_empty())
///             .ok_or(AuthError::MissingToken)?;
///         Ok(Principal::Delegated(DelegatedPrincipal {
///             tenant: self.tenant.clone(),
///             user_id: user_id.to_owned(),
///             scopes: vec![Scope::UserReadWrite],
///             directory_roles: Vec::new(),
///             app_id: None,
///         }))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let auth: Arc<dyn Authenticate> = Arc::new(GatewayUser {
///     tenant: TenantId::new("3F2A7C10-5D4E-4B8A-9C1F-2E6D8A0B4C7E"),
/// });
/// let caller = auth.authenticate(Some("Bearer 0b1c2d3e")).await?;
/// assert_eq!(caller.user_id(), Some("0b1c2d3e"));
/// assert_eq!(auth.authenticate(None).await, Err(AuthError::MissingToken));
/// # Ok::<(), AuthError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The router is given it in [`AppState::auth`](crate::AppState::auth).
#[cfg_attr(
    not(feature = "jwt"),
    doc = "\n\n[`Authenticator`]: crate#cargo-features"
)]
#[async_trait]
pub trait Authenticate: Send + Sync {
    /// The caller, from the raw `Authorization` header value if there is one. An error is
    /// answered `401 InvalidAuthenticationToken` with its `Display` as the message.
    async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError>;
}

#[cfg(feature = "jwt")]
#[async_trait]
impl Authenticate for Authenticator {
    async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        Authenticator::authenticate(self, authorization).await
    }
}

/// The audiences Microsoft Graph accepts: its URI and its application id.
#[cfg(feature = "jwt")]
pub const DEFAULT_AUDIENCES: [&str; 2] = [
    "https://graph.microsoft.com",
    "00000003-0000-0000-c000-000000000000",
];

/// The `WWW-Authenticate` value Graph sends with a `401` (spec D1).
pub const WWW_AUTHENTICATE: &str = "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"";

/// Clock skew allowed on `exp` and `nbf` by default (spec D1).
#[cfg(feature = "jwt")]
pub const DEFAULT_LEEWAY_SECS: u64 = 60;

/// How often, at most, an unknown `kid` makes the JWKS be fetched again by default.
#[cfg(feature = "jwt")]
pub const DEFAULT_JWKS_REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(30);

/// Validated tokens remembered by default. A client sends one token for its whole lifetime
/// (60-90 minutes for Entra's), so this is how many clients can be active within a token's
/// lifetime before some pay a signature verification again: far more than one replica of this
/// service serves, for a megabyte or two (an entry is a few hundred bytes, more for a token
/// with many scopes). Past it, the least recently used token makes room, and its client's next
/// request is verified in full, as every request was before the cache.
#[cfg(feature = "jwt")]
pub const DEFAULT_TOKEN_CACHE_ENTRIES: usize = 4096;

/// Where the keys that sign access tokens come from.
#[cfg(feature = "jwt")]
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// A JWKS JSON file, read at start and re-read on an unknown `kid`.
    File(PathBuf),
    /// A JWKS URL, fetched at start and again on an unknown `kid`.
    Url(String),
    /// A fixed set of keys, never re-read (e.g. the development key's public half).
    Static(jsonwebtoken::jwk::JwkSet),
}

/// How [`Authenticator`] validates tokens. [`AuthConfig::new`] gives the spec's defaults;
/// change a field to deviate (another audience for a service of your own, say).
///
/// ```
/// use adapter_http_server::auth::{AuthConfig, JwksSource};
///
/// let mut config = AuthConfig::new(JwksSource::Url(
///     "https://login.microsoftonline.com/common/discovery/v2.0/keys".to_owned(),
/// ));
/// assert!(config.audiences.contains(&"https://graph.microsoft.com".to_owned()));
/// config.audiences.push("api://photos.contoso.com".to_owned());
/// ```
#[cfg(feature = "jwt")]
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Where the signing keys come from.
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

#[cfg(feature = "jwt")]
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
    /// The signature does not verify with the key `kid` names.
    #[error("Access token signature is invalid.")]
    InvalidSignature,
    /// `exp` is past (beyond the allowed clock skew).
    #[error("Lifetime validation failed, the token is expired.")]
    Expired,
    /// `nbf` is still ahead (beyond the allowed clock skew).
    #[error("Lifetime validation failed, the token is not yet valid (nbf).")]
    NotYetValid,
    /// `aud` names none of the accepted audiences.
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

/// Why an [`Authenticator`] could not be built: its keys could not be had, or the
/// configuration accepts no token at all. A server should not start with one.
#[cfg(feature = "jwt")]
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// The JWKS file ([`JwksSource::File`]) could not be read.
    #[error("cannot read the JWKS file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The JWKS URL ([`JwksSource::Url`]) could not be fetched: no answer in time, a status
    /// other than `2xx`, or a document too large to be a key set.
    #[error("cannot fetch the JWKS from {url}: {reason}")]
    Fetch {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The keys are not a JSON Web Key Set.
    #[error("the JWKS from {origin} is not valid JSON Web Key Set: {reason}")]
    InvalidJwks {
        /// Where the set came from: the file, the URL, or `the configuration` for a fixed set.
        origin: String,
        /// Why the JSON was refused.
        reason: String,
    },
    /// The set holds no key a token could be verified with.
    #[error("the JWKS from {origin} has no usable key (RSA, 2048 bits or more, with a kid, for RS256 signatures)")]
    NoSigningKeys {
        /// Where the set came from: the file, the URL, or `the configuration` for a fixed set.
        origin: String,
    },
    /// [`AuthConfig::audiences`] is empty: no token could ever pass.
    #[error("no token audience is configured")]
    NoAudiences,
}
