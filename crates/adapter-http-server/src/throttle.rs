//! Throttling and fault simulation (spec F1; `graph-photo serve --throttle`): Graph's limits
//! for photo operations, answered as Graph answers them (`429 TooManyRequests` with a
//! `Retry-After` in seconds, fractional), plus random failures, added latency and a request
//! header that forces one answer, so that a client's handling of all of them can be tested.
//!
//! Off unless a [`Throttle`] is put in [`AppState::throttle`](crate::AppState::throttle).
//! A request is checked once it is authenticated (the limits are per app, and a request
//! refused for its route or its token names no app), in this order, the first refusal giving
//! the answer (docs/DECISIONS.md, "Throttling simulation"):
//!
//! 1. the forced answer, `Prefer: graph-photo-fail=429|503|504[; retry-after=SECS]`;
//! 2. requests in flight per app ([`ThrottleConfig::concurrency`]);
//! 3. requests per app ([`ThrottleConfig::app_rate`]);
//! 4. requests per app and mailbox ([`ThrottleConfig::mailbox_rate`]);
//! 5. upload bytes per app ([`ThrottleConfig::upload_bytes`]): a `Content-Length` here, a
//!    body without one once it is read (before it is validated or stored);
//! 6. a random failure ([`ThrottleConfig::fail_rate`]);
//!
//! and an admitted request then waits its added latency ([`ThrottleConfig::latency`]) while
//! holding its place among the app's requests in flight.
//!
//! The rates are GCRA limits (governor): a budget of `count` that refills evenly over `per`,
//! so after a burst that empties it a request fits every `per / count`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{header, HeaderMap};
use governor::clock::{Clock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use photo_core::limits::MAX_PHOTO_BYTES;
use photo_core::principal::Principal;
use photo_core::target::{ContactOwner, Operation, Target};

use crate::error::ApiError;

/// `count` requests (or other cells) per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// How many fit in a full budget (the burst).
    pub count: NonZeroU32,
    /// The time in which an empty budget refills completely.
    pub per: Duration,
}

/// `bytes` uploaded per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRate {
    /// Bytes in a full budget; at least the 4 MiB photo limit, so that every upload can fit.
    pub bytes: u64,
    /// The time in which an empty budget refills completely.
    pub per: Duration,
}

/// A failure the server can simulate: the answers Graph gives when a client should retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimulatedFailure {
    /// `429 TooManyRequests`, with `Retry-After`.
    TooManyRequests,
    /// `503 serviceNotAvailable`, with `Retry-After` (spec F2's answer).
    ServiceUnavailable,
    /// `504 UnknownError`, without `Retry-After` (what Graph's gateway answers).
    GatewayTimeout,
}

impl SimulatedFailure {
    /// Every failure, in status order.
    pub const ALL: [SimulatedFailure; 3] = [
        SimulatedFailure::TooManyRequests,
        SimulatedFailure::ServiceUnavailable,
        SimulatedFailure::GatewayTimeout,
    ];

    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            SimulatedFailure::TooManyRequests => 429,
            SimulatedFailure::ServiceUnavailable => 503,
            SimulatedFailure::GatewayTimeout => 504,
        }
    }

    /// The failure answered with `status`, if it is one of 429, 503 and 504.
    pub fn from_status(status: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.status() == status)
    }

    /// The `Retry-After` of a random or forced failure when none is asked for: a second for
    /// 429 and 503; none for 504, which Graph sends without one.
    fn default_retry_after(self) -> Option<Duration> {
        match self {
            SimulatedFailure::GatewayTimeout => None,
            _ => Some(Duration::from_secs(1)),
        }
    }
}

/// Added latency: each admitted request waits a time drawn evenly from `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// The shortest wait.
    pub min: Duration,
    /// The longest wait (equal to `min` for a fixed latency).
    pub max: Duration,
}

/// What the simulation does. [`Default`] limits nothing and fails nothing: only the forced
/// answer header works then. [`ThrottleConfig::graph`] is Graph's photo limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ThrottleConfig {
    /// Requests of one app in flight at once; one more is answered `429` at once rather than
    /// queued (Graph: 4).
    pub concurrency: Option<NonZeroU32>,
    /// Requests of one app, whatever the mailbox (Graph's global limit: 130,000 per 10 s).
    pub app_rate: Option<Rate>,
    /// Requests of one app to one mailbox (Graph: 10,000 per 10 minutes).
    pub mailbox_rate: Option<Rate>,
    /// Upload bytes of one app (Graph: 150 MB per 5 minutes).
    pub upload_bytes: Option<ByteRate>,
    /// The share of admitted requests answered with a random failure, from 0 to 1.
    pub fail_rate: f64,
    /// The failures a random failure is drawn from (evenly); empty means all three.
    pub fail_with: Vec<SimulatedFailure>,
    /// Added latency of admitted requests.
    pub latency: Option<Latency>,
    /// Seeds the random draws (failures, latency, `Retry-After` jitter), so that a run of
    /// sequential requests can be replayed; `None` draws a seed.
    pub seed: Option<u64>,
}

impl ThrottleConfig {
    /// Graph's limits for photo operations (spec F1): 4 requests in flight per app, 10,000
    /// requests per 10 minutes per app and mailbox, 150 MB uploaded per 5 minutes per app,
    /// and Graph's global 130,000 requests per 10 seconds per app.
    pub fn graph() -> Self {
        ThrottleConfig {
            concurrency: NonZeroU32::new(4),
            app_rate: NonZeroU32::new(130_000).map(|count| Rate {
                count,
                per: Duration::from_secs(10),
            }),
            mailbox_rate: NonZeroU32::new(10_000).map(|count| Rate {
                count,
                per: Duration::from_secs(600),
            }),
            upload_bytes: Some(ByteRate {
                bytes: 150_000_000,
                per: Duration::from_secs(300),
            }),
            ..ThrottleConfig::default()
        }
    }
}

/// A [`ThrottleConfig`] that cannot be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThrottleConfigError {
    /// A rate whose period is zero or too long.
    #[error("a rate's period must be between 1 ms and 1 day, not {0:?}")]
    Period(Duration),
    /// An upload budget smaller than one photo: the largest upload would never fit.
    #[error("the upload budget must be at least {MAX_PHOTO_BYTES} bytes (one photo at the limit), not {0}")]
    UploadBudget(u64),
    /// A failure rate outside 0..=1.
    #[error("the failure rate must be between 0 and 1, not {0}")]
    FailRate(f64),
    /// A latency whose minimum is above its maximum, or longer than a minute.
    #[error("the latency must be a range of at most 60 s with its minimum first")]
    Latency,
}

/// The simulation's state: its limits, the requests in flight and the random draws. Clones
/// share it. Built once per server from a [`ThrottleConfig`].
#[derive(Clone)]
pub struct Throttle {
    limits: Arc<Limits<MonotonicClock>>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("config", &self.limits.config)
            .finish_non_exhaustive()
    }
}

impl Throttle {
    /// The simulation `config` describes.
    pub fn new(config: ThrottleConfig) -> Result<Self, ThrottleConfigError> {
        Ok(Throttle {
            limits: Arc::new(Limits::new(config, MonotonicClock)?),
        })
    }

    /// What it simulates.
    pub fn config(&self) -> &ThrottleConfig {
        &self.limits.config
    }

    /// Checks an authenticated request, waits its added latency, and returns its place among
    /// its app's requests in flight (held until the answer is ready), or the refusal.
    pub(crate) async fn admit(
        &self,
        principal: &Principal,
        target: &Target,
        operation: &Operation,
        headers: &HeaderMap,
    ) -> Result<Admitted<MonotonicClock>, ApiError> {
        let request_id = crate::envelope::client_request_id(headers);
        let forced = forced_failure(headers)?;
        let caller = Caller::of(principal, target);
        let upload = match operation {
            Operation::Update => declared_length(headers),
            _ => None,
        };
        match self.limits.decide(&caller, forced, upload) {
            Ok(admitted) => {
                tracing::debug!(
                    client_request_id = request_id.as_deref().unwrap_or("-"),
                    app = %caller.app,
                    mailbox = %caller.mailbox,
                    "throttle: admitted"
                );
                if !admitted.latency.is_zero() {
                    tokio::time::sleep(admitted.latency).await;
                }
                Ok(admitted)
            }
            Err(refusal) => {
                log_refusal(
                    request_id.as_deref(),
                    &caller.app,
                    &caller.mailbox,
                    &refusal,
                );
                Err(ApiError::Refused(refusal))
            }
        }
    }

    /// Charges an upload body that had no `Content-Length` once it is read (step 5).
    pub(crate) fn charge_read_upload(
        &self,
        principal: &Principal,
        headers: &HeaderMap,
        bytes: usize,
    ) -> Result<(), ApiError> {
        let app = app_key(principal);
        self.limits
            .charge_upload(&app, bytes as u64)
            .map_err(|refusal| {
                let request_id = crate::envelope::client_request_id(headers);
                log_refusal(request_id.as_deref(), &app, "-", &refusal);
                ApiError::Refused(refusal)
            })
    }
}

/// Every simulated refusal passes here (one `info` line each, read by the e2e tests).
fn log_refusal(request_id: Option<&str>, app: &str, mailbox: &str, refusal: &Refusal) {
    // Every refusal of the simulation (limits, random failures, forced answers) passes here.
    metrics::counter!(crate::telemetry::THROTTLED_REQUESTS).increment(1);
    let retry_after = refusal.retry_after.map(format_retry_after);
    tracing::info!(
        client_request_id = request_id.unwrap_or("-"),
        app,
        mailbox,
        status = refusal.failure.status(),
        retry_after = retry_after.as_deref().unwrap_or("-"),
        reason = refusal.reason.as_str(),
        "throttle: refused"
    );
}

/// Why a request was refused, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Forced,
    Concurrency,
    AppRate,
    MailboxRate,
    UploadBytes,
    Random,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Forced => "forced by the Prefer header",
            Reason::Concurrency => "requests in flight per app",
            Reason::AppRate => "requests per app",
            Reason::MailboxRate => "requests per app and mailbox",
            Reason::UploadBytes => "upload bytes per app",
            Reason::Random => "random failure",
        }
    }
}

/// A simulated answer: `429`, `503` or `504` with its `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) failure: SimulatedFailure,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) reason: Reason,
}

impl Refusal {
    fn throttled(retry_after: Duration, reason: Reason) -> Self {
        Refusal {
            failure: SimulatedFailure::TooManyRequests,
            retry_after: Some(retry_after),
            reason,
        }
    }
}

/// `Retry-After` in seconds as Graph writes it: whole seconds plainly, else with up to three
/// decimals (`2.128`), rounded up to the millisecond so that a client never comes back early.
pub(crate) fn format_retry_after(wait: Duration) -> String {
    let millis = wait.as_nanos().div_ceil(1_000_000);
    let (seconds, fraction) = (millis / 1000, millis % 1000);
    if fraction == 0 {
        seconds.to_string()
    } else {
        format!("{seconds}.{fraction:03}")
            .trim_end_matches('0')
            .to_owned()
    }
}

/// The forced answer a request asks for: `Prefer: graph-photo-fail=STATUS[; retry-after=SECS]`
/// (RFC 7240 syntax; other preferences are ignored). A malformed one is `400`, so that a test
/// that asks for a failure never gets a success by mistake.
fn forced_failure(headers: &HeaderMap) -> Result<Option<Forced>, ApiError> {
    for value in headers.get_all(header::HeaderName::from_static("prefer")) {
        let Ok(text) = value.to_str() else { continue };
        for preference in text.split(',') {
            let mut parts = preference.split(';');
            let head = parts.next().unwrap_or_default();
            let (name, status) = head.split_once('=').unwrap_or((head, ""));
            if !name.trim().eq_ignore_ascii_case(FORCE_PREFERENCE) {
                continue;
            }
            let status = unquote(status);
            let failure = status
                .parse::<u16>()
                .ok()
                .and_then(SimulatedFailure::from_status)
                .ok_or_else(|| {
                    ApiError::BadPreference(format!(
                        "Prefer: {FORCE_PREFERENCE}={status:?}: the status must be 429, 503 or 504."
                    ))
                })?;
            let mut retry_after = failure.default_retry_after();
            for parameter in parts {
                let (key, value) = parameter.split_once('=').unwrap_or((parameter, ""));
                let key = key.trim();
                if key.is_empty() {
                    continue;
                }
                if !key.eq_ignore_ascii_case("retry-after") {
                    return Err(ApiError::BadPreference(format!(
                        "Prefer: {FORCE_PREFERENCE}: unknown parameter {key:?}; only retry-after is understood."
                    )));
                }
                let value = unquote(value);
                let seconds = value
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && (0.0..=3600.0).contains(s))
                    .ok_or_else(|| {
                        ApiError::BadPreference(format!(
                            "Prefer: {FORCE_PREFERENCE}: retry-after={value:?} is not a number of seconds from 0 to 3600."
                        ))
                    })?;
                retry_after = Some(Duration::from_secs_f64(seconds));
            }
            return Ok(Some(Forced {
                failure,
                retry_after,
            }));
        }
    }
    Ok(None)
}

/// The preference that forces an answer.
pub(crate) const FORCE_PREFERENCE: &str = "graph-photo-fail";

fn unquote(value: &str) -> &str {
    let value = value.trim();
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// A forced answer.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Forced {
    failure: SimulatedFailure,
    retry_after: Option<Duration>,
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whom a request is counted against: its app and the mailbox it names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Caller {
    app: String,
    mailbox: String,
}

/// The app of a token: `appid`/`azp`. A caller that names none (a host's own authentication
/// may not know it) counts as one app of its tenant.
fn app_key(principal: &Principal) -> String {
    let app = match principal {
        Principal::Application(a) => Some(a.app_id.as_str()),
        Principal::Delegated(d) => d.app_id.as_deref(),
    };
    match app {
        Some(app) => app.to_ascii_lowercase(),
        None => format!("(no app in tenant {})", principal.tenant().as_str()),
    }
}

impl Caller {
    /// The mailbox is the user (or group) that owns the photo: `/me` is the caller's own,
    /// a contact's is its owner's. As the path names it, before any lookup, so a user named
    /// by id and by UPN counts as two mailboxes (by `/me` and by id, as one).
    fn of(principal: &Principal, target: &Target) -> Caller {
        let user = |owner: &ContactOwner| match owner {
            ContactOwner::Me => principal.user_id().unwrap_or("me").to_ascii_lowercase(),
            ContactOwner::User(id) => id.to_ascii_lowercase(),
        };
        let mailbox = match target {
            Target::Me => format!("users/{}", user(&ContactOwner::Me)),
            Target::User(id) => format!("users/{}", id.to_ascii_lowercase()),
            Target::Group(id) => format!("groups/{}", id.to_ascii_lowercase()),
            Target::Contact { owner, .. } => format!("users/{}", user(owner)),
        };
        Caller {
            app: app_key(principal),
            mailbox: format!("{}/{mailbox}", principal.tenant().as_str()),
        }
    }
}

type Keyed<K, C> = RateLimiter<K, HashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Upload budgets count KiB, so that 150 MB fits governor's 32-bit cells.
const BYTES_PER_CELL: u64 = 1024;
/// Decisions between two sweeps of the rate limiters' keys.
const SWEEP_EVERY: u64 = 1024;
/// A concurrency refusal's `Retry-After` before jitter: the time a small request takes.
const CONCURRENCY_RETRY: Duration = Duration::from_millis(100);
/// The most jitter added to a limit's `Retry-After`, so that clients refused together do not
/// all come back at the same instant to be refused together again.
const MAX_JITTER: Duration = Duration::from_secs(1);

/// The limits over a clock (a fake one in tests).
struct Limits<C: Clock> {
    config: ThrottleConfig,
    clock: C,
    /// Requests in flight per app; an app's entry goes when its last request ends.
    in_flight: Mutex<HashMap<String, u32>>,
    app_rate: Option<Keyed<String, C>>,
    mailbox_rate: Option<Keyed<Caller, C>>,
    upload_bytes: Option<Keyed<String, C>>,
    random: SplitMix64,
    decisions: AtomicU64,
}

/// What an admitted request holds: its place among its app's requests in flight, and its
/// added latency.
pub(crate) struct Admitted<C: Clock> {
    _slot: Option<Slot<C>>,
    latency: Duration,
}

/// One request in flight; dropping it frees the place.
struct Slot<C: Clock> {
    limits: Arc<Limits<C>>,
    app: String,
}

impl<C: Clock> Drop for Slot<C> {
    fn drop(&mut self) {
        let mut in_flight = self
            .limits
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = in_flight.get_mut(&self.app) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                in_flight.remove(&self.app);
            }
        }
    }
}

fn quota(count: NonZeroU32, per: Duration) -> Result<Quota, ThrottleConfigError> {
    if per < Duration::from_millis(1) || per > Duration::from_secs(86_400) {
        return Err(ThrottleConfigError::Period(per));
    }
    let interval = (per / count.get()).max(Duration::from_nanos(1));
    Quota::with_period(interval)
        .map(|q| q.allow_burst(count))
        .ok_or(ThrottleConfigError::Period(per))
}

/// A keyed limiter of `rate`, if any.
fn keyed<K: std::hash::Hash + Eq + Clone, C: Clock + Clone>(
    rate: Option<Rate>,
    clock: &C,
) -> Result<Option<Keyed<K, C>>, ThrottleConfigError> {
    rate.map(|r| quota(r.count, r.per))
        .transpose()
        .map(|q| q.map(|q| RateLimiter::new(q, HashMapStateStore::default(), clock.clone())))
}

impl<C: Clock + Clone> Limits<C> {
    fn new(config: ThrottleConfig, clock: C) -> Result<Self, ThrottleConfigError> {
        if !(0.0..=1.0).contains(&config.fail_rate) {
            return Err(ThrottleConfigError::FailRate(config.fail_rate));
        }
        if let Some(latency) = config.latency {
            if latency.min > latency.max || latency.max > Duration::from_secs(60) {
                return Err(ThrottleConfigError::Latency);
            }
        }
        let app_rate = keyed(config.app_rate, &clock)?;
        let mailbox_rate = keyed(config.mailbox_rate, &clock)?;
        let upload_bytes = match config.upload_bytes {
            None => None,
            Some(budget) => {
                if budget.bytes < MAX_PHOTO_BYTES as u64 {
                    return Err(ThrottleConfigError::UploadBudget(budget.bytes));
                }
                let cells = u32::try_from(budget.bytes.div_ceil(BYTES_PER_CELL))
                    .ok()
                    .and_then(NonZeroU32::new)
                    .ok_or(ThrottleConfigError::UploadBudget(budget.bytes))?;
                let q = quota(cells, budget.per)?;
                Some(RateLimiter::new(
                    q,
                    HashMapStateStore::default(),
                    clock.clone(),
                ))
            }
        };
        let seed = config
            .seed
            .unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0);
        Ok(Limits {
            config,
            clock,
            in_flight: Mutex::new(HashMap::new()),
            app_rate,
            mailbox_rate,
            upload_bytes,
            random: SplitMix64::new(seed),
            decisions: AtomicU64::new(0),
        })
    }

    /// Steps 1-6 of the module's order; the latency is drawn but not waited here.
    fn decide(
        self: &Arc<Self>,
        caller: &Caller,
        forced: Option<Forced>,
        upload: Option<u64>,
    ) -> Result<Admitted<C>, Refusal> {
        if let Some(forced) = forced {
            return Err(Refusal {
                failure: forced.failure,
                retry_after: forced.retry_after,
                reason: Reason::Forced,
            });
        }
        self.sweep_now_and_then();
        let slot = self.take_slot(&caller.app)?;
        if let Some(limiter) = &self.app_rate {
            limiter
                .check_key(&caller.app)
                .map_err(|not_until| self.rate_refusal(&not_until, Reason::AppRate))?;
        }
        if let Some(limiter) = &self.mailbox_rate {
            limiter
                .check_key(caller)
                .map_err(|not_until| self.rate_refusal(&not_until, Reason::MailboxRate))?;
        }
        if let Some(bytes) = upload {
            self.charge_upload(&caller.app, bytes)?;
        }
        if self.config.fail_rate > 0.0 && self.random.unit() < self.config.fail_rate {
            let choices: &[SimulatedFailure] = if self.config.fail_with.is_empty() {
                &SimulatedFailure::ALL
            } else {
                &self.config.fail_with
            };
            let index = (self.random.next() % choices.len() as u64) as usize;
            let failure = choices[index];
            return Err(Refusal {
                failure,
                retry_after: failure.default_retry_after(),
                reason: Reason::Random,
            });
        }
        let latency = match self.config.latency {
            None => Duration::ZERO,
            Some(Latency { min, max }) => min + (max - min).mul_f64(self.random.unit()),
        };
        Ok(Admitted {
            _slot: slot,
            latency,
        })
    }

    /// A place among the app's requests in flight, or `429` at once.
    fn take_slot(self: &Arc<Self>, app: &str) -> Result<Option<Slot<C>>, Refusal> {
        let Some(limit) = self.config.concurrency else {
            return Ok(None);
        };
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let count = in_flight.entry(app.to_owned()).or_insert(0);
        if *count >= limit.get() {
            drop(in_flight);
            return Err(Refusal::throttled(
                self.jittered(CONCURRENCY_RETRY),
                Reason::Concurrency,
            ));
        }
        *count += 1;
        Ok(Some(Slot {
            limits: Arc::clone(self),
            app: app.to_owned(),
        }))
    }

    /// Takes `bytes` (rounded up to KiB, at most one photo's limit) from the app's budget.
    fn charge_upload(&self, app: &String, bytes: u64) -> Result<(), Refusal> {
        let Some(limiter) = &self.upload_bytes else {
            return Ok(());
        };
        let cells = bytes.min(MAX_PHOTO_BYTES as u64).div_ceil(BYTES_PER_CELL);
        let Some(cells) = u32::try_from(cells).ok().and_then(NonZeroU32::new) else {
            return Ok(());
        };
        match limiter.check_key_n(app, cells) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(self.rate_refusal(&not_until, Reason::UploadBytes)),
            // Cannot happen: the budget holds at least one photo (checked in `new`).
            Err(_) => Err(Refusal::throttled(
                self.jittered(Duration::from_secs(1)),
                Reason::UploadBytes,
            )),
        }
    }

    fn rate_refusal(&self, not_until: &governor::NotUntil<C::Instant>, reason: Reason) -> Refusal {
        let wait = not_until.wait_time_from(self.clock.now());
        Refusal::throttled(self.jittered(wait), reason)
    }

    /// `wait` plus up to [`MAX_JITTER`].
    fn jittered(&self, wait: Duration) -> Duration {
        wait + MAX_JITTER.mul_f64(self.random.unit())
    }

    /// Forgets, every [`SWEEP_EVERY`] decisions, the keys whose budget is full again (a key
    /// is kept only while it differs from a fresh one), so the maps hold only recent callers.
    fn sweep_now_and_then(&self) {
        if self.decisions.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY != SWEEP_EVERY - 1 {
            return;
        }
        self.sweep();
    }

    fn sweep(&self) {
        if let Some(l) = &self.app_rate {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.mailbox_rate {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.upload_bytes {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// SplitMix64 over an atomic counter: seeded, lock-free, well mixed. Draws from several
/// threads interleave, so only a sequential run replays exactly.
struct SplitMix64(AtomicU64);

impl SplitMix64 {
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    fn new(seed: u64) -> Self {
        SplitMix64(AtomicU64::new(seed))
    }

    fn next(&self) -> u64 {
        let mut z = self
            .0
            .fetch_add(Self::GAMMA, Ordering::Relaxed)
            .wrapping_add(Self::GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests;
