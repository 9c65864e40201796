//! Loading a JWKS into verification keys: from JSON (a file or a URL) or a parsed set.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::DecodingKey;

use super::AuthSetupError;

/// A JWKS document larger than this is refused (Entra's is a few kilobytes).
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// Whole-request timeout of a JWKS fetch.
pub(super) const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// RS256 as `ring` verifies it needs 2048 bits or more.
const MIN_MODULUS_BYTES: usize = 256;

/// Base64url with or without padding (JWKS files written by hand or other tools vary).
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// Plain base64, for the same reason.
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The RS256 verification keys of a JWKS, by `kid`.
pub(super) type KeySet = HashMap<String, Arc<RsaKey>>;

/// An RS256 verification key with the RSA components it was made from: `DecodingKey` has no
/// equality, and a reload must tell whether a key it already had changed (a cached token
/// verified by a key that is gone or different must be verified again).
pub(super) struct RsaKey {
    pub(super) decoding: DecodingKey,
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

impl PartialEq for RsaKey {
    fn eq(&self, other: &Self) -> bool {
        self.modulus == other.modulus && self.exponent == other.exponent
    }
}

/// Whether a token verified with a key of `old` might not verify with `new`: a `kid` of
/// `old` is missing from `new` or names other key material. Keys only added change nothing.
pub(super) fn removes_or_changes_a_key(old: &KeySet, new: &KeySet) -> bool {
    old.iter().any(|(kid, key)| new.get(kid) != Some(key))
}

/// Keeps the keys usable for RS256 signatures: RSA, `use` absent or `sig`, `alg` absent or
/// `RS256`, a `kid`, a modulus of at least 2048 bits. Others are skipped (a JWKS may well hold
/// encryption or EC keys).
pub(super) fn key_set(set: &JwkSet, origin: &str) -> Result<KeySet, AuthSetupError> {
    let keys: KeySet = set.keys.iter().filter_map(usable_key).collect();
    if keys.is_empty() {
        return Err(AuthSetupError::NoSigningKeys {
            origin: origin.to_owned(),
        });
    }
    Ok(keys)
}

fn usable_key(jwk: &Jwk) -> Option<(String, Arc<RsaKey>)> {
    let kid = jwk.common.key_id.as_ref()?;
    if !matches!(
        jwk.common.public_key_use,
        None | Some(PublicKeyUse::Signature)
    ) || !matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256))
    {
        return None;
    }
    let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        return None;
    };
    let n = decode_b64(&rsa.n)?;
    let e = decode_b64(&rsa.e)?;
    let significant = n.iter().skip_while(|b| **b == 0).count();
    if significant < MIN_MODULUS_BYTES || e.iter().all(|b| *b == 0) {
        tracing::warn!(kid = %kid, "JWKS key skipped: RSA modulus under 2048 bits or zero exponent");
        return None;
    }
    let key = RsaKey {
        decoding: DecodingKey::from_rsa_raw_components(&n, &e),
        modulus: n,
        exponent: e,
    };
    Some((kid.clone(), Arc::new(key)))
}

fn decode_b64(value: &str) -> Option<Vec<u8>> {
    URL_SAFE_LENIENT
        .decode(value)
        .or_else(|_| STANDARD_LENIENT.decode(value))
        .ok()
        .filter(|bytes| !bytes.is_empty())
}

/// Parses a JWKS document. Keys this library cannot represent (an unknown `kty` or curve) are
/// skipped rather than failing the whole set.
pub(super) fn parse_jwks(json: &[u8], origin: &str) -> Result<KeySet, AuthSetupError> {
    #[derive(serde::Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let raw: RawSet = serde_json::from_slice(json).map_err(|e| AuthSetupError::InvalidJwks {
        origin: origin.to_owned(),
        reason: e.to_string(),
    })?;
    let keys = raw
        .keys
        .into_iter()
        .filter_map(|key| serde_json::from_value::<Jwk>(key).ok())
        .collect();
    key_set(&JwkSet { keys }, origin)
}

pub(super) async fn read_file(path: &Path) -> Result<KeySet, AuthSetupError> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|source| AuthSetupError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
    parse_jwks(&bytes, &path.display().to_string())
}

pub(super) fn http_client() -> Result<reqwest::Client, AuthSetupError> {
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| AuthSetupError::Fetch {
            url: String::new(),
            reason: format!("cannot build the HTTP client: {e}"),
        })
}

pub(super) async fn fetch(client: &reqwest::Client, url: &str) -> Result<KeySet, AuthSetupError> {
    let fail = |reason: String| AuthSetupError::Fetch {
        url: url.to_owned(),
        reason,
    };
    let mut response = client
        .get(url)
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("HTTP status {status}")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| fail(e.to_string()))? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(fail(format!("the document is over {MAX_JWKS_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    parse_jwks(&body, url)
}
