//! Tokens the suite makes itself with the fixture's signing key (`signingKey`): a valid token
//! from a principal's claims, and that token broken in exactly one way per check that spec
//! D1/D2 require of an endpoint (expired, wrong audience, bad signature, `alg: none`, ...).
//! Each is its own input class of the generated steps, so an endpoint that skips one check is
//! caught by name.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Map, Value};

use crate::fixture::SigningKey;

/// How long a valid token minted by the suite lives. The executor mints again long before.
const LIFETIME_SECS: i64 = 3 * 3600;
/// Entra backdates `nbf` and `iat` by five minutes; so does the suite, so an endpoint whose
/// clock is a little behind still takes its tokens.
const BACKDATE_SECS: i64 = 300;
/// How far past (`exp`) or ahead (`nbf`) the lifetime variants are: far beyond the 60 s of
/// clock skew spec D1 allows, and beyond any plausible clock difference.
const LIFETIME_MISS_SECS: i64 = 3600;
/// The audience of the wrong-audience variant: Azure AD Graph's, a real Microsoft audience
/// that is not Microsoft Graph's.
const WRONG_AUDIENCE: &str = "https://graph.windows.net";
/// Used instead when the fixture's own audience is [`WRONG_AUDIENCE`].
const OTHER_WRONG_AUDIENCE: &str = "api://conformance-wrong-audience";
/// The tenant named by the other-tenant issuer when the fixture has a single tenant.
const FALLBACK_OTHER_TENANT: &str = "0badc0de-0000-4000-8000-000000000001";
/// The default `issuerFormat`: Entra's v1 issuer, as Graph's access tokens carry it.
pub const DEFAULT_ISSUER_FORMAT: &str = "https://sts.windows.net/{tid}/";

/// One way a token is made invalid. Every variant is a valid token of a fixture principal
/// with exactly one thing wrong, so that the endpoint's `401` can only come from the check
/// the variant is named after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenVariant {
    /// `exp` an hour ago (`nbf`, `iat` two hours ago).
    Expired,
    /// `nbf` an hour ahead.
    NotYetValid,
    /// `aud` of another API (Azure AD Graph).
    WrongAudience,
    /// No `aud`.
    NoAudience,
    /// `iss` on a host that only starts like Entra's, with the right tenant.
    WrongIssuer,
    /// `iss` of another tenant than `tid`.
    OtherTenantIssuer,
    /// No `iss`.
    NoIssuer,
    /// One byte of the RS256 signature changed.
    TamperedSignature,
    /// Signed by another RSA key under the same `kid`.
    ForeignKey,
    /// `alg: none` and no signature.
    AlgNone,
    /// HS256 with the public key's PEM as the HMAC secret (the key-confusion attack).
    Hs256PublicKey,
    /// `exp` as a string.
    ExpString,
    /// `nbf` as a string, ten years ahead (a library that skips a claim it cannot parse
    /// accepts it).
    NbfStringAhead,
    /// `roles` as a string instead of an array.
    RolesString,
    /// `scp` as a number.
    ScpNumber,
    /// `tid` null.
    TidNull,
    /// A delegated token (with `scp`) without `oid`.
    DelegatedWithoutOid,
}

impl TokenVariant {
    /// Every variant, in the order the generator prefers (and shrinks towards).
    pub const ALL: [TokenVariant; 17] = [
        TokenVariant::Expired,
        TokenVariant::NotYetValid,
        TokenVariant::WrongAudience,
        TokenVariant::NoAudience,
        TokenVariant::WrongIssuer,
        TokenVariant::OtherTenantIssuer,
        TokenVariant::NoIssuer,
        TokenVariant::TamperedSignature,
        TokenVariant::ForeignKey,
        TokenVariant::AlgNone,
        TokenVariant::Hs256PublicKey,
        TokenVariant::ExpString,
        TokenVariant::NbfStringAhead,
        TokenVariant::RolesString,
        TokenVariant::ScpNumber,
        TokenVariant::TidNull,
        TokenVariant::DelegatedWithoutOid,
    ];

    /// A short name for the report (`expired`, `alg-none`, ...).
    pub fn name(self) -> &'static str {
        match self {
            TokenVariant::Expired => "expired",
            TokenVariant::NotYetValid => "not-yet-valid",
            TokenVariant::WrongAudience => "wrong-audience",
            TokenVariant::NoAudience => "no-audience",
            TokenVariant::WrongIssuer => "wrong-issuer",
            TokenVariant::OtherTenantIssuer => "other-tenant-issuer",
            TokenVariant::NoIssuer => "no-issuer",
            TokenVariant::TamperedSignature => "tampered-signature",
            TokenVariant::ForeignKey => "foreign-key",
            TokenVariant::AlgNone => "alg-none",
            TokenVariant::Hs256PublicKey => "hs256-public-key",
            TokenVariant::ExpString => "exp-string",
            TokenVariant::NbfStringAhead => "nbf-string",
            TokenVariant::RolesString => "roles-string",
            TokenVariant::ScpNumber => "scp-number",
            TokenVariant::TidNull => "tid-null",
            TokenVariant::DelegatedWithoutOid => "delegated-without-oid",
        }
    }

    /// The spec rule whose check the variant tests: D1 (signature, lifetime, audience,
    /// issuer) or D2 (the claims that say who the caller is).
    pub fn rule(self) -> &'static str {
        match self {
            TokenVariant::RolesString
            | TokenVariant::ScpNumber
            | TokenVariant::TidNull
            | TokenVariant::DelegatedWithoutOid => "D2",
            _ => "D1",
        }
    }

    /// What is wrong with it, in words.
    pub fn describe(self) -> &'static str {
        match self {
            TokenVariant::Expired => "expired (exp 1 hour ago)",
            TokenVariant::NotYetValid => "not yet valid (nbf 1 hour ahead)",
            TokenVariant::WrongAudience => "for another audience (aud https://graph.windows.net)",
            TokenVariant::NoAudience => "without an aud claim",
            TokenVariant::WrongIssuer => {
                "from a wrong issuer (https://sts.windows.net.invalid/{tid}/)"
            }
            TokenVariant::OtherTenantIssuer => "issued by another tenant than its tid",
            TokenVariant::NoIssuer => "without an iss claim",
            TokenVariant::TamperedSignature => "with one byte of its signature changed",
            TokenVariant::ForeignKey => "signed by another RSA key under the same kid",
            TokenVariant::AlgNone => "unsigned (alg none)",
            TokenVariant::Hs256PublicKey => "signed HS256 with the public key's PEM as the secret",
            TokenVariant::ExpString => "with exp as a string",
            TokenVariant::NbfStringAhead => "with nbf as a string ten years ahead",
            TokenVariant::RolesString => "with roles as a string",
            TokenVariant::ScpNumber => "with scp as a number",
            TokenVariant::TidNull => "with tid null",
            TokenVariant::DelegatedWithoutOid => "delegated (scp) without oid",
        }
    }

    /// Whether the variant needs a delegated principal to start from.
    pub fn needs_delegated(self) -> bool {
        self == TokenVariant::DelegatedWithoutOid
    }
}

impl fmt::Display for TokenVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses an RSA private key in PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE
/// KEY`) PEM, 2048 bits or more.
pub(crate) fn parse_private_key(pem: &str) -> Result<RsaPrivateKey, String> {
    let key = RsaPrivateKey::from_pkcs8_pem(pem).or_else(|pkcs8| {
        RsaPrivateKey::from_pkcs1_pem(pem).map_err(|pkcs1| {
            format!("not an RSA private key in PKCS#8 ({pkcs8}) or PKCS#1 ({pkcs1}) PEM")
        })
    })?;
    key.validate()
        .map_err(|e| format!("invalid RSA key: {e}"))?;
    let bits = key.size() * 8;
    if bits < 2048 {
        return Err(format!(
            "an RSA key of {bits} bits (RS256 keys have 2048 or more)"
        ));
    }
    Ok(key)
}

fn encoding_key(key: &RsaPrivateKey) -> Result<EncodingKey, String> {
    let der = key.to_pkcs1_der().map_err(|e| e.to_string())?;
    Ok(EncodingKey::from_rsa_der(der.as_bytes()))
}

/// Mints tokens with the fixture's signing key.
pub(crate) struct Forge {
    key: EncodingKey,
    kid: String,
    audience: String,
    issuer_format: String,
    /// The public key as SPKI PEM: the HMAC secret of [`TokenVariant::Hs256PublicKey`].
    public_pem: String,
    /// The tenants of the fixture, for an issuer of another tenant.
    tenants: Vec<String>,
    /// Another RSA key, made on first use (generating one takes a moment).
    foreign: std::cell::OnceCell<Result<EncodingKey, String>>,
}

impl fmt::Debug for Forge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forge")
            .field("kid", &self.kid)
            .field("audience", &self.audience)
            .field("issuer_format", &self.issuer_format)
            .finish_non_exhaustive()
    }
}

impl Forge {
    /// The forge of a fixture's `signingKey`; `tenants` are the fixture's tenants.
    pub(crate) fn new(signing: &SigningKey, tenants: Vec<String>) -> Result<Forge, String> {
        let private = parse_private_key(&signing.private_key_pem)?;
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| format!("cannot encode the public key: {e}"))?;
        Ok(Forge {
            key: encoding_key(&private)?,
            kid: signing.kid.clone(),
            audience: signing.audience.clone(),
            issuer_format: signing.issuer_format().to_owned(),
            public_pem,
            tenants,
            foreign: std::cell::OnceCell::new(),
        })
    }

    fn issuer(&self, tid: &str) -> String {
        self.issuer_format.replace("{tid}", tid)
    }

    /// The claims of a valid token for the principal whose token payload is `base`: its
    /// claims, with a fresh lifetime, the fixture's audience and its tenant's issuer.
    fn valid_claims(
        &self,
        base: &Map<String, Value>,
        now: i64,
    ) -> Result<Map<String, Value>, String> {
        let tid = base
            .get("tid")
            .and_then(Value::as_str)
            .ok_or("the principal's token has no string 'tid' claim")?
            .to_owned();
        let mut claims = base.clone();
        claims.insert("iat".into(), json!(now - BACKDATE_SECS));
        claims.insert("nbf".into(), json!(now - BACKDATE_SECS));
        claims.insert("exp".into(), json!(now + LIFETIME_SECS));
        claims.insert("aud".into(), json!(self.audience));
        claims.insert("iss".into(), json!(self.issuer(&tid)));
        Ok(claims)
    }

    /// A valid token with the claims of the principal whose token payload is `base`.
    pub(crate) fn valid(&self, base: &Map<String, Value>, now: i64) -> Result<String, String> {
        let claims = self.valid_claims(base, now)?;
        self.sign_rs256(&self.key, &claims)
    }

    /// The principal's valid token (see [`Forge::valid`]) broken as `variant` says.
    pub(crate) fn invalid(
        &self,
        base: &Map<String, Value>,
        variant: TokenVariant,
        now: i64,
    ) -> Result<String, String> {
        let mut claims = self.valid_claims(base, now)?;
        let tid = claims
            .get("tid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match variant {
            TokenVariant::Expired => {
                claims.insert("iat".into(), json!(now - 2 * LIFETIME_MISS_SECS));
                claims.insert("nbf".into(), json!(now - 2 * LIFETIME_MISS_SECS));
                claims.insert("exp".into(), json!(now - LIFETIME_MISS_SECS));
            }
            TokenVariant::NotYetValid => {
                claims.insert("iat".into(), json!(now));
                claims.insert("nbf".into(), json!(now + LIFETIME_MISS_SECS));
                claims.insert(
                    "exp".into(),
                    json!(now + 2 * LIFETIME_MISS_SECS + LIFETIME_SECS),
                );
            }
            TokenVariant::WrongAudience => {
                let wrong = if self.audience == WRONG_AUDIENCE {
                    OTHER_WRONG_AUDIENCE
                } else {
                    WRONG_AUDIENCE
                };
                claims.insert("aud".into(), json!(wrong));
            }
            TokenVariant::NoAudience => {
                claims.remove("aud");
            }
            TokenVariant::WrongIssuer => {
                claims.insert(
                    "iss".into(),
                    json!(format!("https://sts.windows.net.invalid/{tid}/")),
                );
            }
            TokenVariant::OtherTenantIssuer => {
                let other = self
                    .tenants
                    .iter()
                    .find(|t| !t.eq_ignore_ascii_case(&tid))
                    .map_or(FALLBACK_OTHER_TENANT, String::as_str);
                claims.insert("iss".into(), json!(self.issuer(other)));
            }
            TokenVariant::NoIssuer => {
                claims.remove("iss");
            }
            TokenVariant::ExpString => {
                claims.insert("exp".into(), json!((now + LIFETIME_SECS).to_string()));
            }
            TokenVariant::NbfStringAhead => {
                claims.insert("nbf".into(), json!((now + 10 * 365 * 86_400).to_string()));
            }
            TokenVariant::RolesString => {
                let roles = match claims.get("roles") {
                    Some(Value::Array(items)) if !items.is_empty() => items
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" "),
                    _ => "User.ReadWrite.All".to_owned(),
                };
                claims.insert("roles".into(), json!(roles));
            }
            TokenVariant::ScpNumber => {
                claims.insert("scp".into(), json!(1));
            }
            TokenVariant::TidNull => {
                claims.insert("tid".into(), Value::Null);
            }
            TokenVariant::DelegatedWithoutOid => {
                if !claims.contains_key("scp") {
                    return Err("delegated-without-oid needs a delegated principal".to_owned());
                }
                claims.remove("oid");
            }
            TokenVariant::TamperedSignature
            | TokenVariant::ForeignKey
            | TokenVariant::AlgNone
            | TokenVariant::Hs256PublicKey => {}
        }
        match variant {
            TokenVariant::TamperedSignature => {
                let token = self.sign_rs256(&self.key, &claims)?;
                tamper_signature(&token)
            }
            TokenVariant::ForeignKey => {
                let foreign = self
                    .foreign
                    .get_or_init(|| {
                        RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
                            .map_err(|e| format!("cannot generate another RSA key: {e}"))
                            .and_then(|k| encoding_key(&k))
                    })
                    .clone()?;
                self.sign_rs256(&foreign, &claims)
            }
            TokenVariant::AlgNone => {
                let header = json!({"alg": "none", "typ": "JWT", "kid": self.kid});
                Ok(format!(
                    "{}.{}.",
                    URL_SAFE_NO_PAD.encode(header.to_string()),
                    URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
                ))
            }
            TokenVariant::Hs256PublicKey => {
                let mut header = Header::new(Algorithm::HS256);
                header.kid = Some(self.kid.clone());
                jsonwebtoken::encode(
                    &header,
                    &Value::Object(claims),
                    &EncodingKey::from_secret(self.public_pem.as_bytes()),
                )
                .map_err(|e| format!("cannot sign HS256: {e}"))
            }
            _ => self.sign_rs256(&self.key, &claims),
        }
    }

    fn sign_rs256(&self, key: &EncodingKey, claims: &Map<String, Value>) -> Result<String, String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, key).map_err(|e| format!("cannot sign RS256: {e}"))
    }
}

/// The token with one byte of its decoded signature changed (the base64url text changes in
/// the middle; changing the last character could only touch padding bits).
fn tamper_signature(token: &str) -> Result<String, String> {
    let (message, signature) = token
        .rsplit_once('.')
        .ok_or("a signed token has three parts")?;
    let mut bytes = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|e| format!("signature is not base64url: {e}"))?;
    let middle = bytes.len() / 2;
    let byte = bytes.get_mut(middle).ok_or("an empty signature")?;
    *byte ^= 0x5a;
    Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Seconds since the epoch.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
