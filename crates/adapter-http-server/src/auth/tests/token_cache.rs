//! The validated-token cache: a token is verified once, and a cached token is still refused
//! exactly when a token validated afresh would be (a hit never turns a 401 into a 200).

use super::jwks_sources::JwksServer;
use super::*;
use crate::auth::token_cache::{self, TokenCache};

async fn auth_remembering(entries: usize) -> Authenticator {
    Authenticator::new(AuthConfig {
        token_cache_entries: entries,
        ..AuthConfig::new(JwksSource::Static(KEY_A.jwks()))
    })
    .await
    .expect("authenticator")
}

/// Valid tokens that differ only in a claim nobody reads (tokens minted in the same second
/// from the same request are byte for byte the same).
fn nth_token(n: usize) -> String {
    with(base_claims(), "uti", json!(format!("token-{n}")))
}

/// `token` with the character at `at` replaced by another base64url character.
fn one_byte_changed(token: &str, at: usize) -> String {
    let mut bytes = token.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII")
}

#[tokio::test]
async fn the_same_token_again_is_not_verified_again() {
    let auth = auth().await;
    let token = KEY_A.mint(&delegated_request()).unwrap();
    let first = auth
        .authenticate(Some(&bearer(&token)))
        .await
        .expect("valid");
    // Another spelling of the same header is the same token.
    let again = auth.authenticate(Some(&format!("bearer  {token} "))).await;
    assert_eq!(again, Ok(first.clone()));
    assert_eq!(auth.verifications(), 1);
    assert_eq!(auth.cached_tokens(), 1);

    let clone = auth.clone();
    assert_eq!(clone.authenticate(Some(&bearer(&token))).await, Ok(first));
    assert_eq!(auth.verifications(), 1, "clones share the cache");
}

#[tokio::test]
async fn with_no_cache_every_request_is_verified() {
    let auth = auth_remembering(0).await;
    let token = KEY_A.mint(&delegated_request()).unwrap();
    for _ in 0..2 {
        assert!(auth.authenticate(Some(&bearer(&token))).await.is_ok());
    }
    assert_eq!(auth.verifications(), 2);
    assert_eq!(auth.cached_tokens(), 0);
}

#[tokio::test]
async fn refused_tokens_are_not_cached() {
    let auth = auth().await;
    let expired = with(base_claims(), "exp", json!(now() - 3600));
    let other_audience = with(base_claims(), "aud", json!("api://someone-else"));
    for _ in 0..2 {
        let refused = auth.authenticate(Some(&bearer(&expired))).await;
        assert_eq!(refused, Err(AuthError::Expired));
        let refused = auth.authenticate(Some(&bearer(&other_audience))).await;
        assert_eq!(refused, Err(AuthError::InvalidAudience));
    }
    assert_eq!(
        auth.verifications(),
        4,
        "each refusal was a full validation"
    );
    assert_eq!(auth.cached_tokens(), 0);
}

#[tokio::test]
async fn a_token_one_byte_away_from_a_cached_one_is_validated_in_full() {
    let auth = auth().await;
    let token = KEY_A.mint(&delegated_request()).unwrap();
    assert!(auth.authenticate(Some(&bearer(&token))).await.is_ok());

    // Mid-signature and mid-payload: every bit of those characters counts (the last
    // character of a part is partly padding).
    let signature = token.rfind('.').unwrap() + 1;
    let forged = one_byte_changed(&token, signature + (token.len() - signature) / 2);
    assert_eq!(
        auth.authenticate(Some(&bearer(&forged))).await,
        Err(AuthError::InvalidSignature)
    );
    let payload = token.find('.').unwrap() + 1;
    let forged = one_byte_changed(&token, payload + (signature - payload) / 2);
    assert_eq!(
        auth.authenticate(Some(&bearer(&forged))).await,
        Err(AuthError::InvalidSignature)
    );
    assert_eq!(auth.verifications(), 3);

    assert!(auth.authenticate(Some(&bearer(&token))).await.is_ok());
    assert_eq!(auth.verifications(), 3, "the original is still cached");
}

#[tokio::test]
async fn a_cached_token_expires_when_an_uncached_one_would() {
    let issued = now();
    let exp = (issued + 600) as f64;
    let header = bearer(&with(base_claims(), "exp", json!(issued + 600)));
    let cached = auth().await;
    let uncached = auth_remembering(0).await;
    assert!(cached
        .authenticate_at(Some(&header), issued as f64)
        .await
        .is_ok());

    let leeway = DEFAULT_LEEWAY_SECS as f64;
    let just_expired = exp + leeway + 0.001;
    for at in [exp, exp + leeway, just_expired] {
        let expected = uncached.authenticate_at(Some(&header), at).await;
        assert_eq!(expected.is_ok(), at < just_expired);
        assert_eq!(
            cached.authenticate_at(Some(&header), at).await,
            expected,
            "{} s after exp",
            at - exp
        );
    }
    assert_eq!(
        cached.verifications(),
        1,
        "answered from the cache until expiry"
    );
    assert_eq!(
        cached.cached_tokens(),
        0,
        "an expired token leaves the cache"
    );
}

#[tokio::test]
async fn a_cached_token_is_not_yet_valid_when_an_uncached_one_would_not_be() {
    // Valid now thanks to the leeway; a clock set back makes it not yet valid.
    let issued = now();
    let nbf = (issued + 30) as f64;
    let header = bearer(&with(base_claims(), "nbf", json!(issued + 30)));
    let cached = auth().await;
    let uncached = auth_remembering(0).await;
    assert!(cached
        .authenticate_at(Some(&header), issued as f64)
        .await
        .is_ok());

    let leeway = DEFAULT_LEEWAY_SECS as f64;
    let before = nbf - leeway - 1.0;
    assert_eq!(
        cached.authenticate_at(Some(&header), before).await,
        Err(AuthError::NotYetValid)
    );
    assert_eq!(
        uncached.authenticate_at(Some(&header), before).await,
        Err(AuthError::NotYetValid)
    );
    assert_eq!(cached.verifications(), 1);
}

#[tokio::test]
async fn a_reload_that_drops_a_key_refuses_the_tokens_it_signed() {
    let server = JwksServer::start(&KEY_A.jwks()).await;
    let auth = Authenticator::new(AuthConfig {
        jwks_refresh_min_interval: Duration::ZERO,
        ..AuthConfig::new(JwksSource::Url(server.url.clone()))
    })
    .await
    .unwrap();
    let token_a = bearer(&KEY_A.mint(&delegated_request()).unwrap());
    let token_b = bearer(&KEY_B.mint(&delegated_request()).unwrap());
    let token_c = bearer(&KEY_C.mint(&delegated_request()).unwrap());
    assert!(auth.authenticate(Some(&token_a)).await.is_ok());

    // Rotation adds key B: nothing cached was signed by a key that changed.
    server.serve(&JwkSet {
        keys: [KEY_A.jwks().keys, KEY_B.jwks().keys].concat(),
    });
    assert!(auth.authenticate(Some(&token_b)).await.is_ok());
    assert_eq!(server.hits(), 2);
    assert!(auth.authenticate(Some(&token_a)).await.is_ok());
    assert_eq!(
        auth.verifications(),
        2,
        "a reload that only adds keys keeps the cache"
    );

    // Key A is withdrawn; an unknown kid makes the server reload its keys.
    server.serve(&KEY_B.jwks());
    assert!(auth.authenticate(Some(&token_c)).await.is_err());
    assert_eq!(server.hits(), 3);
    assert_eq!(
        auth.authenticate(Some(&token_a)).await,
        Err(AuthError::UnknownSigningKey(KEY_A.kid().to_owned()))
    );
    // Everything cached was dropped, B's token too: verified again, and valid.
    let verified = auth.verifications();
    assert!(auth.authenticate(Some(&token_b)).await.is_ok());
    assert_eq!(auth.verifications(), verified + 1);
}

#[tokio::test]
async fn a_reload_that_changes_a_key_refuses_the_tokens_it_signed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, serde_json::to_vec(&KEY_A.jwks()).unwrap()).unwrap();
    let auth = Authenticator::new(AuthConfig {
        jwks_refresh_min_interval: Duration::ZERO,
        ..AuthConfig::new(JwksSource::File(path.clone()))
    })
    .await
    .unwrap();
    let token_a = bearer(&KEY_A.mint(&delegated_request()).unwrap());
    assert!(auth.authenticate(Some(&token_a)).await.is_ok());

    // A's kid now names key B's material.
    let mut swapped = KEY_B.jwks();
    swapped.keys[0].common.key_id = Some(KEY_A.kid().to_owned());
    std::fs::write(&path, serde_json::to_vec(&swapped).unwrap()).unwrap();
    let token_c = bearer(&KEY_C.mint(&delegated_request()).unwrap());
    assert!(auth.authenticate(Some(&token_c)).await.is_err());

    assert_eq!(
        auth.authenticate(Some(&token_a)).await,
        Err(AuthError::InvalidSignature)
    );
    assert_eq!(auth.cached_tokens(), 0);
}

#[tokio::test]
async fn the_cache_stays_bounded_and_keeps_the_token_in_use() {
    let auth = auth_remembering(4).await;
    let in_use = bearer(&nth_token(0));
    assert!(auth.authenticate(Some(&in_use)).await.is_ok());
    for n in 1..=12 {
        assert!(auth
            .authenticate(Some(&bearer(&nth_token(n))))
            .await
            .is_ok());
        assert!(auth.cached_tokens() <= 4);
        assert!(auth.authenticate(Some(&in_use)).await.is_ok());
    }
    assert_eq!(auth.cached_tokens(), 4);
    assert_eq!(
        auth.verifications(),
        13,
        "the token in use was verified once"
    );

    // The least recently used made room: the first of the others is verified again.
    assert!(auth
        .authenticate(Some(&bearer(&nth_token(1))))
        .await
        .is_ok());
    assert_eq!(auth.verifications(), 14);
}

// ---------------------------------------------------------------- the cache itself

fn digest_of(n: usize) -> token_cache::TokenDigest {
    token_cache::digest(&n.to_string())
}

#[test]
fn the_default_capacity_is_a_bound_over_all_shards() {
    let cache = TokenCache::new(DEFAULT_TOKEN_CACHE_ENTRIES);
    for n in 0..3 * DEFAULT_TOKEN_CACHE_ENTRIES {
        cache.insert(digest_of(n), Arc::new(n), 0, 1e12, 0.0);
    }
    assert_eq!(cache.len(), DEFAULT_TOKEN_CACHE_ENTRIES);
    let last = 3 * DEFAULT_TOKEN_CACHE_ENTRIES - 1;
    assert_eq!(cache.get(&digest_of(last), 0).as_deref(), Some(&last));
}

#[test]
fn a_full_cache_drops_expired_tokens_before_the_least_recently_used() {
    let cache = TokenCache::new(2);
    cache.insert(digest_of(1), Arc::new(1), 0, 100.0, 0.0);
    cache.insert(digest_of(2), Arc::new(2), 0, 1000.0, 0.0);
    // 2 is now the least recently used, but 1 is past its time at 200.
    assert!(cache.get(&digest_of(1), 0).is_some());
    cache.insert(digest_of(3), Arc::new(3), 0, 1000.0, 200.0);
    assert!(cache.get(&digest_of(1), 0).is_none());
    assert!(cache.get(&digest_of(2), 0).is_some());
    assert!(cache.get(&digest_of(3), 0).is_some());
}

#[test]
fn an_entry_of_another_key_generation_is_dropped() {
    let cache = TokenCache::new(8);
    cache.insert(digest_of(1), Arc::new(1), 0, 1e12, 0.0);
    assert!(cache.get(&digest_of(1), 1).is_none());
    assert_eq!(cache.len(), 0);
    assert!(cache.get(&digest_of(1), 0).is_none(), "gone for good");
}
