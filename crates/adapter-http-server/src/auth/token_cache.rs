//! Tokens already validated, so that a client's bearer token is verified once rather than on
//! every request: a client sends the same token until it expires (an hour or so for Entra's),
//! and verifying its RS256 signature was the largest cost of a small authenticated `GET`.
//!
//! Entries are keyed by the SHA-256 of the whole token: a hit needs the same digest, so a token
//! that differs in any byte (a forged signature, say) is a miss and goes through the full
//! validation; finding another token with the same digest is a SHA-256 collision. Only
//! validated tokens are put here, so invalid tokens, which anyone can send, never take room.
//!
//! Bounded: at most the configured number of entries, in up to [`MAX_SHARDS`] shards (one
//! lock each, so that concurrent requests seldom wait on one another). A full shard first drops
//! its expired tokens, then its least recently used one: a client that keeps sending its token
//! keeps its entry through a flood of tokens used once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sha2::{Digest, Sha256};

/// The SHA-256 of a whole token.
pub(super) type TokenDigest = [u8; 32];

/// Shards at most: more locks than a server has cores buy nothing.
const MAX_SHARDS: usize = 16;
/// Fewer entries than this per shard would make the least-recently-used choice too local.
const MIN_SHARD_ENTRIES: usize = 256;

pub(super) fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// Validated tokens of type `T` by [`TokenDigest`].
pub(super) struct TokenCache<T> {
    shards: Box<[Mutex<Shard<T>>]>,
    shard_entries: usize,
}

struct Shard<T> {
    entries: HashMap<TokenDigest, Entry<T>>,
    /// Counts uses, to order entries by their last one.
    clock: u64,
}

struct Entry<T> {
    value: Arc<T>,
    /// The generation of the key set the token was verified with.
    key_generation: u64,
    /// Seconds since the epoch after which the token is refused whatever happens (its `exp`
    /// plus the leeway): such an entry can go first.
    dead_after: f64,
    last_used: u64,
}

impl<T> TokenCache<T> {
    /// A cache of at most `capacity` tokens; 0 keeps none.
    pub(super) fn new(capacity: usize) -> Self {
        let shards = (capacity / MIN_SHARD_ENTRIES).clamp(1, MAX_SHARDS);
        let shard_entries = capacity / shards;
        let shards = (0..shards)
            .map(|_| {
                Mutex::new(Shard {
                    entries: HashMap::new(),
                    clock: 0,
                })
            })
            .collect();
        Self {
            shards,
            shard_entries,
        }
    }

    pub(super) fn is_enabled(&self) -> bool {
        self.shard_entries > 0
    }

    fn shard(&self, digest: &TokenDigest) -> MutexGuard<'_, Shard<T>> {
        // The digest is uniform: its first byte spreads tokens over the shards.
        self.shards[usize::from(digest[0]) % self.shards.len()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The token validated with this digest against the key set of `key_generation`. An entry
    /// of another generation was verified with keys that may be gone: it is dropped.
    pub(super) fn get(&self, digest: &TokenDigest, key_generation: u64) -> Option<Arc<T>> {
        if !self.is_enabled() {
            return None;
        }
        let mut shard = self.shard(digest);
        shard.clock += 1;
        let now = shard.clock;
        let entry = shard.entries.get_mut(digest)?;
        if entry.key_generation != key_generation {
            shard.entries.remove(digest);
            return None;
        }
        entry.last_used = now;
        Some(entry.value.clone())
    }

    pub(super) fn remove(&self, digest: &TokenDigest) {
        if self.is_enabled() {
            self.shard(digest).entries.remove(digest);
        }
    }

    /// Keeps a validated token, refused anyway after `dead_after` (seconds since the epoch);
    /// `now` is the current time, to drop the tokens already past it when room is needed.
    pub(super) fn insert(
        &self,
        digest: TokenDigest,
        value: Arc<T>,
        key_generation: u64,
        dead_after: f64,
        now: f64,
    ) {
        if !self.is_enabled() {
            return;
        }
        let mut shard = self.shard(&digest);
        shard.clock += 1;
        let last_used = shard.clock;
        if !shard.entries.contains_key(&digest) && shard.entries.len() >= self.shard_entries {
            shard.entries.retain(|_, entry| entry.dead_after >= now);
            if shard.entries.len() >= self.shard_entries {
                // A scan of one shard, only when it is full and after a signature verification
                // that costs far more.
                let oldest = shard
                    .entries
                    .iter()
                    .min_by_key(|(_, entry)| entry.last_used)
                    .map(|(digest, _)| *digest);
                if let Some(oldest) = oldest {
                    shard.entries.remove(&oldest);
                }
            }
        }
        shard.entries.insert(
            digest,
            Entry {
                value,
                key_generation,
                dead_after,
                last_used,
            },
        );
    }

    pub(super) fn clear(&self) {
        for shard in &*self.shards {
            shard
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entries
                .clear();
        }
    }

    /// How many tokens are kept.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                shard
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entries
                    .len()
            })
            .sum()
    }
}
