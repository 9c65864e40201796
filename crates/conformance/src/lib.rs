//! The graph-photo conformance suite: drives any Graph-compatible profile-photo endpoint over
//! HTTP with random request sequences and compares every answer with a reference model of the
//! spec (`docs/SPEC.md`).
//!
//! - [`Endpoint`]: the transport (one attempt per request, no retries); [`HttpEndpoint`]
//!   implements it with reqwest.
//! - [`Fixture`]: the principals (tokens) and directory objects of the endpoint under test;
//!   [`Fixture::for_dev_server`] builds it for graph-photo's own seeded development tenant.
//!   With a [`SigningKey`] the suite mints tokens itself: valid ones, and one invalid
//!   [`TokenVariant`] per check of spec D1/D2; [`InvalidTokenEntry`] lists tokens to refuse
//!   for endpoints whose key the tester does not hold.
//! - [`run`] / [`run_with_endpoint`]: check that the run can mean something (the endpoint
//!   answers, takes the fixture's tokens, knows its objects: else a [`SETUP`] or
//!   [`CONNECTION`] failure with its cause, never shrunk), send every invalid token class
//!   once, then generate sequences with proptest, run them, and shrink a failing one to a
//!   minimal sequence of requests, returned in a [`Report`].
//!
//! The model is written from the spec alone (it does not use photo-core): per directory object
//! an optional photo (bytes, size, ETag); per request the checks of spec D7 in order.
//! docs/CONFORMANCE.md describes what is checked, rule by rule.

mod endpoint;
mod exec;
pub mod fixture;
mod http;
mod images;
mod model;
mod report;
mod steps;
mod tokens;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestCaseError, TestError, TestRunner};

pub use endpoint::{Endpoint, WireRequest, WireResponse};
pub use fixture::{Claims, Fixture, FixtureError, InvalidTokenEntry, SigningKey, TokenClaims};
pub use http::HttpEndpoint;
pub use report::{Failure, FailureClass, Report, RuleStats, CONNECTION, SETUP};
pub use tokens::{TokenVariant, DEFAULT_ISSUER_FORMAT};

/// How to run the suite.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The endpoint's root, without version: `http://127.0.0.1:8080`. Ignored by
    /// [`run_with_endpoint`].
    pub base_url: String,
    pub fixture: Fixture,
    /// Sequences to generate.
    pub cases: u32,
    /// Seed of the generator: the same seed gives the same sequences. Random when `None`
    /// (the report says which seed was used).
    pub seed: Option<u64>,
    /// The longest sequence, in requests (besides those reading the initial state).
    pub max_steps: usize,
    /// Re-runs allowed to shrink a failing sequence (each re-run sends its requests again).
    pub max_shrink_iters: u32,
}

impl RunOptions {
    /// 64 sequences of up to 16 requests, a random seed, up to 256 shrinking re-runs.
    pub fn new(base_url: impl Into<String>, fixture: Fixture) -> Self {
        Self {
            base_url: base_url.into(),
            fixture,
            cases: 64,
            seed: None,
            max_steps: 16,
            max_shrink_iters: 256,
        }
    }
}

/// Runs the suite against `options.base_url` over HTTP.
///
/// Blocking: it runs on a thread of its own with its own single-threaded tokio runtime, so it
/// can be called from anywhere; async callers should use `tokio::task::spawn_blocking` so as
/// not to block their executor.
pub fn run(options: RunOptions) -> Report {
    match HttpEndpoint::new(&options.base_url) {
        Ok(endpoint) => run_with_endpoint(Arc::new(endpoint), options),
        Err(e) => Report::setup_failure(options.seed.unwrap_or_default(), e),
    }
}

/// Runs the suite against any [`Endpoint`] (`options.base_url` is not used). Blocking, like
/// [`run`]. The endpoint is driven from a runtime the run creates.
pub fn run_with_endpoint(endpoint: Arc<dyn Endpoint>, options: RunOptions) -> Report {
    let seed = options.seed.unwrap_or_else(random_seed);
    std::thread::scope(|scope| {
        // proptest's value trees of these nested strategies are deep: debug builds need
        // more than the default 2 MiB of stack.
        std::thread::Builder::new()
            .name("conformance".to_owned())
            .stack_size(64 * 1024 * 1024)
            .spawn_scoped(scope, || run_here(endpoint.as_ref(), &options, seed))
            .map_err(|e| e.to_string())
            .and_then(|thread| {
                thread
                    .join()
                    .map_err(|_| "the conformance run panicked".to_owned())
            })
            .unwrap_or_else(|e| Report::setup_failure(seed, e))
    })
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    // Keep it short enough to type.
    h.finish() % 1_000_000_000
}

#[derive(Default)]
struct RunState {
    cases_run: u32,
    requests: u64,
    per_rule: std::collections::BTreeMap<String, RuleStats>,
    per_token: std::collections::BTreeMap<String, RuleStats>,
    shrinking: bool,
    /// A setup or connection failure: the run stops without shrinking (the requests did not
    /// cause it), and the remaining cases are skipped.
    aborted: Option<exec::CaseFailure>,
    first_failure: Option<exec::CaseFailure>,
    /// The failure of each failing sequence tried, by its `Debug` form, to report the minimal
    /// one proptest settles on.
    failures: HashMap<String, exec::CaseFailure>,
}

impl RunState {
    /// Counts the checks of a sequence that is not a shrinking re-run.
    fn record(
        &mut self,
        requests: u64,
        checks: &[(&'static str, bool)],
        token_checks: Vec<(String, bool)>,
    ) {
        self.requests += requests;
        let count = |stats: &mut RuleStats, ok: bool| {
            if ok {
                stats.passed += 1;
            } else {
                stats.failed += 1;
            }
        };
        for (rule, ok) in checks {
            count(self.per_rule.entry((*rule).to_owned()).or_default(), *ok);
        }
        for (class, ok) in token_checks {
            count(self.per_token.entry(class).or_default(), ok);
        }
    }
}

/// Sends every invalid token class once ([`steps::token_sweep`]); the counts so far, or the
/// report of the first token the endpoint accepted.
fn sweep_tokens(
    runner: &exec::Runner<'_>,
    sweep: &steps::Sequence,
    requests_before: u64,
    seed: u64,
) -> Result<RunState, Report> {
    let mut stats = RunState {
        requests: requests_before,
        ..RunState::default()
    };
    if sweep.steps.is_empty() {
        return Ok(stats);
    }
    let outcome = runner.run_case(sweep);
    stats.record(outcome.requests, &outcome.checks, outcome.token_checks);
    let Some(f) = outcome.failure else {
        return Ok(stats);
    };
    // Each request of the sweep stands alone (a 401 whatever the endpoint holds): the failing
    // one is the whole example, and the initial state does not matter.
    let requests: Vec<String> = f.transcript.last().cloned().into_iter().collect();
    let spec = !matches!(f.rule.as_str(), SETUP | CONNECTION);
    Err(Report {
        seed,
        requests_sent: stats.requests,
        failures: vec![Failure {
            original_requests: requests.len(),
            rule: f.rule,
            detail: f.detail,
            initial_state: if spec { Vec::new() } else { f.initial_state },
            requests,
        }],
        per_rule: stats.per_rule,
        per_token: stats.per_token,
        ..Report::default()
    })
}

fn run_here(endpoint: &dyn Endpoint, options: &RunOptions, seed: u64) -> Report {
    if let Err(e) = options.fixture.validate() {
        return Report::setup_failure(seed, e.to_string());
    }
    let claims: Vec<Claims> = match options
        .fixture
        .principals
        .iter()
        .map(|p| Claims::decode(&p.token))
        .collect()
    {
        Ok(c) => c,
        Err(e) => return Report::setup_failure(seed, e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Report::setup_failure(seed, format!("cannot start a runtime: {e}")),
    };
    let payloads: Vec<serde_json::Map<String, serde_json::Value>> = match options
        .fixture
        .principals
        .iter()
        .map(|p| fixture::decode_payload(&p.token))
        .collect()
    {
        Ok(p) => p,
        Err(e) => return Report::setup_failure(seed, e),
    };
    let forge = match &options.fixture.signing_key {
        Some(key) => match tokens::Forge::new(key, options.fixture.tenants()) {
            Ok(forge) => Some(forge),
            Err(e) => return Report::setup_failure(seed, format!("signingKey: {e}")),
        },
        None => None,
    };
    let runner = exec::Runner {
        fixture: &options.fixture,
        claims: &claims,
        endpoint,
        runtime: &runtime,
        tokens: forge
            .as_ref()
            .map(|forge| exec::Minter::new(forge, &payloads, &claims)),
    };
    let base = if options.base_url.is_empty() {
        "the endpoint"
    } else {
        options.base_url.as_str()
    };
    let (preflight_requests, problem) = runner.preflight(base);
    if let Some(problem) = problem {
        let mut report = Report::setup_failure(seed, problem.detail);
        report.failures[0].rule = problem.rule;
        report.requests_sent = preflight_requests;
        return report;
    }
    let shape = steps::Shape {
        principals: options.fixture.principals.len(),
        preferred: 8,
        forge: runner.tokens.is_some(),
        delegated: claims.iter().any(Claims::is_delegated),
        listed: !options.fixture.invalid_tokens.is_empty(),
    };
    let sweep = steps::token_sweep(shape, options.fixture.invalid_tokens.len());
    let sweep_stats = match sweep_tokens(&runner, &sweep, preflight_requests, seed) {
        Ok(stats) => stats,
        Err(report) => return report,
    };
    let strategy = steps::sequence(shape, options.max_steps);
    let config = Config {
        cases: options.cases.max(1),
        max_shrink_iters: options.max_shrink_iters,
        max_shrink_time: 0,
        failure_persistence: None,
        fork: false,
        timeout: 0,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        verbose: 0,
        ..Config::default()
    };
    let mut test_runner = TestRunner::new(config);
    let state = RefCell::new(sweep_stats);
    let result = test_runner.run(&strategy, |sequence: steps::Sequence| {
        if state.borrow().aborted.is_some() {
            return Ok(());
        }
        let outcome = runner.run_case(&sequence);
        let mut st = state.borrow_mut();
        st.requests += outcome.requests;
        if !st.shrinking {
            st.cases_run += 1;
            st.record(0, &outcome.checks, outcome.token_checks);
        }
        match outcome.failure {
            None => Ok(()),
            // Not the endpoint's answer to these requests: report it as it is, unshrunk.
            Some(failure) if matches!(failure.rule.as_str(), SETUP | CONNECTION) => {
                if !st.shrinking {
                    st.aborted = Some(failure);
                }
                Ok(())
            }
            // While shrinking, only a failure of the same rule counts: a simpler sequence
            // that fails for another reason is not a smaller example of this failure.
            Some(failure)
                if st
                    .first_failure
                    .as_ref()
                    .is_some_and(|first| first.rule != failure.rule) =>
            {
                Ok(())
            }
            Some(failure) => {
                let reason = format!("spec {}: {}", failure.rule, failure.detail);
                if !st.shrinking {
                    st.shrinking = true;
                    st.first_failure = Some(failure.clone());
                }
                st.failures.insert(format!("{sequence:?}"), failure);
                Err(TestCaseError::fail(reason))
            }
        }
    });
    let st = state.into_inner();
    let mut report = Report {
        cases_run: st.cases_run,
        seed,
        requests_sent: st.requests,
        failures: Vec::new(),
        per_rule: st.per_rule,
        per_token: st.per_token,
    };
    if let Some(f) = st.aborted {
        let requests = f.transcript.len();
        report.failures.push(Failure {
            rule: f.rule,
            detail: f.detail,
            initial_state: f.initial_state,
            requests: f.transcript,
            original_requests: requests,
        });
        return report;
    }
    let original_requests = st.first_failure.as_ref().map_or(0, |f| f.transcript.len());
    match result {
        Ok(()) => {}
        Err(TestError::Fail(_, minimal)) => {
            let failure = st
                .failures
                .get(&format!("{minimal:?}"))
                .cloned()
                .or(st.first_failure);
            if let Some(f) = failure {
                report.failures.push(Failure {
                    rule: f.rule,
                    detail: f.detail,
                    initial_state: f.initial_state,
                    requests: f.transcript,
                    original_requests,
                });
            }
        }
        Err(TestError::Abort(reason)) => {
            report.failures.push(
                Report::setup_failure(seed, reason.to_string())
                    .failures
                    .remove(0),
            );
        }
    }
    report
}
