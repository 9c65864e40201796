//! Benchmark of [`Authenticator::authenticate`] with and without the validated-token cache, in
//! the same run (docs/PERFORMANCE.md, "Token validation").
//!
//! `cargo bench -p adapter-http-server --bench authenticate` times, per call (wall clock, one
//! thread, the committed test key, a delegated token shaped like Entra's):
//! - the same token again and again, as a client sends it with every request: without the
//!   cache (every call verifies the RS256 signature, as before the cache) and with it (a hit);
//! - a new token every call (a miss each time), without and with a full cache: what the cache
//!   costs a token it has not seen (a SHA-256, and an insert that evicts). The full cache holds
//!   256 tokens, one shard of the default's size, so each insert scans what it would in a full
//!   default cache.
//!
//! Each figure is the median of `BENCH_RUNS` runs (default 21, at least 5) of a batch of calls.

use std::error::Error;
use std::time::{Duration, Instant};

use adapter_http_server::auth::{
    AuthConfig, Authenticator, JwksSource, DEFAULT_TOKEN_CACHE_ENTRIES,
};
use dev_tokens::{DevKey, TokenRequest};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const TENANT: &str = "3f2a7c10-5d4e-4b8a-9c1f-2e6d8a0b4c7e";
const DEFAULT_RUNS: usize = 21;
const MIN_RUNS: usize = 5;
/// Calls per run of the repeated token.
const BATCH: usize = 200;
/// Calls per run of new tokens (each signed beforehand, about a millisecond apiece).
const NEW_BATCH: usize = 50;
/// One shard of the default cache.
const FULL_CACHE_ENTRIES: usize = 256;

fn main() -> Result<()> {
    let runs = match std::env::var("BENCH_RUNS") {
        Ok(value) => value.parse::<usize>()?.max(MIN_RUNS),
        Err(_) => DEFAULT_RUNS,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let key = DevKey::test_key();
    let authenticator = |entries: usize| {
        runtime.block_on(Authenticator::new(AuthConfig {
            token_cache_entries: entries,
            ..AuthConfig::new(JwksSource::Static(key.jwks()))
        }))
    };
    let uncached = authenticator(0)?;
    let cached = authenticator(DEFAULT_TOKEN_CACHE_ENTRIES)?;
    let full = authenticator(FULL_CACHE_ENTRIES)?;

    let header = |n: usize| -> Result<String> {
        let user = format!("00000000-0000-4000-8000-{n:012}");
        let request = TokenRequest::delegated(TENANT, user, ["User.ReadWrite", "openid"]);
        Ok(format!("Bearer {}", key.mint(&request)?))
    };
    let same = header(0)?;
    // Enough to fill the cache before the runs, and one batch per run for each authenticator.
    let fresh: Vec<String> = (1..=FULL_CACHE_ENTRIES + 2 * NEW_BATCH * runs)
        .map(header)
        .collect::<Result<_>>()?;

    // Per call, in microseconds: the median over runs of one batch each.
    let time = |auth: &Authenticator, headers: &mut dyn Iterator<Item = &String>, calls| {
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            let batch: Vec<&String> = (0..calls).map_while(|_| headers.next()).collect();
            let start = Instant::now();
            for header in &batch {
                let principal = runtime.block_on(auth.authenticate(Some(header.as_str())));
                std::hint::black_box(principal).map_err(|e| e.to_string())?;
            }
            samples.push(start.elapsed() / calls as u32);
        }
        Ok::<f64, String>(median_us(&mut samples))
    };

    let repeated = || std::iter::repeat(&same);
    time(&cached, &mut repeated(), BATCH)?;
    let same_uncached = time(&uncached, &mut repeated(), BATCH)?;
    let same_cached = time(&cached, &mut repeated(), BATCH)?;
    let (filling, fresh) = fresh.split_at(FULL_CACHE_ENTRIES);
    for header in filling {
        runtime.block_on(full.authenticate(Some(header)))?;
    }
    // Each its own tokens, so that every call with the cache is a miss.
    let (first, second) = fresh.split_at(fresh.len() / 2);
    let new_uncached = time(&uncached, &mut first.iter(), NEW_BATCH)?;
    let new_cached = time(&full, &mut second.iter(), NEW_BATCH)?;

    println!(
        "{:<32} {:>16} {:>16} {:>10}",
        "authenticate, per call", "no cache (us)", "cache (us)", "ratio"
    );
    for (name, without, with) in [
        ("the same token again", same_uncached, same_cached),
        ("a new token every call", new_uncached, new_cached),
    ] {
        println!(
            "{name:<32} {without:>16.2} {with:>16.2} {:>9.3}x",
            with / without
        );
    }
    Ok(())
}

fn median_us(samples: &mut [Duration]) -> f64 {
    samples.sort_unstable();
    samples
        .get(samples.len() / 2)
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
}
