//! The limits over governor's fake clock: deterministic, nothing sleeps.

use super::*;
use axum::http::HeaderValue;
use governor::clock::FakeRelativeClock;
use photo_core::principal::{ApplicationPrincipal, DelegatedPrincipal, Scope, TenantId};

const TENANT: &str = "2f9b6c4e-7d1a-4c33-9b0e-5a6f1d2c3b4a";
const APP: &str = "c0ffee00-1234-4321-abcd-0123456789ab";
const OTHER_APP: &str = "0ddba11a-1234-4321-abcd-0123456789ab";
const ADELE: &str = "6e7b768e-07e2-4810-8459-485f84f8f204";

fn limits(config: ThrottleConfig) -> (Arc<Limits<FakeRelativeClock>>, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    let limits = Limits::new(config, clock.clone()).unwrap();
    (Arc::new(limits), clock)
}

fn rate(count: u32, per: Duration) -> Option<Rate> {
    Some(Rate {
        count: NonZeroU32::new(count).unwrap(),
        per,
    })
}

fn caller(app: &str, mailbox: &str) -> Caller {
    Caller {
        app: app.to_owned(),
        mailbox: mailbox.to_owned(),
    }
}

fn app_principal(app: &str) -> Principal {
    Principal::Application(ApplicationPrincipal {
        tenant: TenantId::new(TENANT),
        app_id: app.to_owned(),
        roles: vec![Scope::ProfilePhotoReadWriteAll],
    })
}

fn user_principal(app: Option<&str>) -> Principal {
    Principal::Delegated(DelegatedPrincipal {
        tenant: TenantId::new(TENANT),
        user_id: ADELE.to_owned(),
        scopes: vec![Scope::UserReadWrite],
        directory_roles: vec![],
        app_id: app.map(str::to_owned),
    })
}

/// A refusal's `Retry-After` is the limit's wait plus at most a second of jitter.
fn assert_retry_after(refusal: &Refusal, at_least: Duration) {
    assert_eq!(refusal.failure, SimulatedFailure::TooManyRequests);
    let wait = refusal.retry_after.unwrap();
    assert!(
        wait >= at_least && wait < at_least + MAX_JITTER,
        "{wait:?} is not within a second after {at_least:?}"
    );
}

#[test]
fn one_request_more_than_the_concurrency_is_refused_at_once_and_admitted_once_one_ends() {
    let (limits, _) = limits(ThrottleConfig {
        concurrency: NonZeroU32::new(4),
        ..ThrottleConfig::default()
    });
    let me = caller(APP, "t/users/a");
    let held: Vec<_> = (0..4)
        .map(|_| limits.decide(&me, None, None).unwrap())
        .collect();
    let refusal = limits.decide(&me, None, None).err().unwrap();
    assert_eq!(refusal.reason, Reason::Concurrency);
    assert_retry_after(&refusal, CONCURRENCY_RETRY);
    // Per app: another app is not affected, whatever the mailbox.
    let other = limits.decide(&caller(OTHER_APP, "t/users/a"), None, None);
    assert!(other.is_ok());
    drop(other);
    // One ends: one more fits, and only one.
    let mut held = held;
    held.pop();
    let fifth = limits.decide(&me, None, None).unwrap();
    assert!(limits.decide(&me, None, None).is_err());
    drop(fifth);
    drop(held);
    assert!(
        limits.in_flight.lock().unwrap().is_empty(),
        "an app's entry goes with its last request"
    );
}

#[test]
fn a_mailbox_rate_refuses_until_a_cell_refills_and_says_when() {
    let (limits, clock) = limits(ThrottleConfig {
        mailbox_rate: rate(3, Duration::from_secs(9)),
        ..ThrottleConfig::default()
    });
    let adele = caller(APP, "t/users/adele");
    for _ in 0..3 {
        assert!(limits.decide(&adele, None, None).is_ok());
    }
    let refusal = limits.decide(&adele, None, None).err().unwrap();
    assert_eq!(refusal.reason, Reason::MailboxRate);
    // A cell every 3 s.
    assert_retry_after(&refusal, Duration::from_secs(3));
    // Another mailbox, or another app on the same mailbox, has its own budget.
    assert!(limits
        .decide(&caller(APP, "t/users/megan"), None, None)
        .is_ok());
    assert!(limits
        .decide(&caller(OTHER_APP, "t/users/adele"), None, None)
        .is_ok());
    clock.advance(Duration::from_millis(2_999));
    assert!(limits.decide(&adele, None, None).is_err());
    clock.advance(Duration::from_millis(1));
    assert!(limits.decide(&adele, None, None).is_ok());
    assert!(limits.decide(&adele, None, None).is_err());
    // After a whole period the whole budget is back.
    clock.advance(Duration::from_secs(9));
    for _ in 0..3 {
        assert!(limits.decide(&adele, None, None).is_ok());
    }
}

#[test]
fn an_app_rate_counts_every_mailbox() {
    let (limits, _) = limits(ThrottleConfig {
        app_rate: rate(2, Duration::from_secs(2)),
        ..ThrottleConfig::default()
    });
    assert!(limits.decide(&caller(APP, "t/users/a"), None, None).is_ok());
    assert!(limits.decide(&caller(APP, "t/users/b"), None, None).is_ok());
    let refusal = limits
        .decide(&caller(APP, "t/groups/c"), None, None)
        .err()
        .unwrap();
    assert_eq!(refusal.reason, Reason::AppRate);
    assert_retry_after(&refusal, Duration::from_secs(1));
    assert!(limits
        .decide(&caller(OTHER_APP, "t/users/a"), None, None)
        .is_ok());
}

#[test]
fn upload_bytes_are_charged_per_app_and_reads_are_free() {
    let (limits, clock) = limits(ThrottleConfig {
        upload_bytes: Some(ByteRate {
            bytes: 8 * 1024 * 1024,
            per: Duration::from_secs(8),
        }),
        ..ThrottleConfig::default()
    });
    let me = caller(APP, "t/users/a");
    let four_mib = 4 * 1024 * 1024;
    assert!(limits.decide(&me, None, Some(four_mib)).is_ok());
    assert!(limits
        .decide(&caller(APP, "t/users/b"), None, Some(four_mib))
        .is_ok());
    let refusal = limits.decide(&me, None, Some(1)).err().unwrap();
    assert_eq!(refusal.reason, Reason::UploadBytes);
    // 1 KiB (the least charged) refills in 8 s / 8192.
    assert_retry_after(&refusal, Duration::from_nanos(976_562));
    // Requests without a body are not charged; another app has its own budget.
    assert!(limits.decide(&me, None, None).is_ok());
    assert!(limits
        .decide(&caller(OTHER_APP, "t/users/a"), None, Some(four_mib))
        .is_ok());
    // A body read without a Content-Length is charged the same way.
    assert!(limits.charge_upload(&APP.to_owned(), 10).is_err());
    clock.advance(Duration::from_secs(4));
    assert!(limits.charge_upload(&APP.to_owned(), four_mib).is_ok());
    assert!(limits.charge_upload(&APP.to_owned(), 1).is_err());
    // A declared length over the photo limit is charged as the limit (it gets 413 anyway).
    clock.advance(Duration::from_secs(8));
    assert!(limits.decide(&me, None, Some(u64::MAX)).is_ok());
    assert!(limits.decide(&me, None, Some(four_mib)).is_ok());
}

#[test]
fn configurations_that_cannot_work_are_refused() {
    let new = |config| Limits::new(config, FakeRelativeClock::default()).err();
    let tiny_upload = ThrottleConfig {
        upload_bytes: Some(ByteRate {
            bytes: MAX_PHOTO_BYTES as u64 - 1,
            per: Duration::from_secs(1),
        }),
        ..ThrottleConfig::default()
    };
    assert!(matches!(
        new(tiny_upload),
        Some(ThrottleConfigError::UploadBudget(_))
    ));
    let zero_period = ThrottleConfig {
        app_rate: rate(1, Duration::ZERO),
        ..ThrottleConfig::default()
    };
    assert!(matches!(
        new(zero_period),
        Some(ThrottleConfigError::Period(_))
    ));
    for fail_rate in [-0.1, 1.5, f64::NAN] {
        let config = ThrottleConfig {
            fail_rate,
            ..ThrottleConfig::default()
        };
        assert!(matches!(
            new(config),
            Some(ThrottleConfigError::FailRate(_))
        ));
    }
    let backwards = ThrottleConfig {
        latency: Some(Latency {
            min: Duration::from_millis(20),
            max: Duration::from_millis(10),
        }),
        ..ThrottleConfig::default()
    };
    assert_eq!(new(backwards), Some(ThrottleConfigError::Latency));
    assert!(Limits::new(ThrottleConfig::graph(), FakeRelativeClock::default()).is_ok());
}

#[test]
fn graph_limits_are_graphs() {
    let graph = ThrottleConfig::graph();
    assert_eq!(graph.concurrency.map(NonZeroU32::get), Some(4));
    let mailbox = graph.mailbox_rate.unwrap();
    assert_eq!(
        (mailbox.count.get(), mailbox.per),
        (10_000, Duration::from_secs(600))
    );
    let upload = graph.upload_bytes.unwrap();
    assert_eq!(
        (upload.bytes, upload.per),
        (150_000_000, Duration::from_secs(300))
    );
    assert_eq!(graph.fail_rate, 0.0);
}

#[test]
fn random_failures_follow_the_rate_the_statuses_and_the_seed() {
    let config = |fail_rate, fail_with: Vec<SimulatedFailure>| ThrottleConfig {
        fail_rate,
        fail_with,
        seed: Some(42),
        ..ThrottleConfig::default()
    };
    let me = caller(APP, "t/users/a");
    let outcomes = |limits: &Arc<Limits<FakeRelativeClock>>| -> Vec<Option<u16>> {
        (0..1000)
            .map(|_| {
                limits
                    .decide(&me, None, None)
                    .err()
                    .map(|r| r.failure.status())
            })
            .collect()
    };
    let (never, _) = limits(config(0.0, vec![]));
    assert!(outcomes(&never).iter().all(Option::is_none));
    let (always, _) = limits(config(1.0, vec![SimulatedFailure::GatewayTimeout]));
    assert!(outcomes(&always).iter().all(|o| *o == Some(504)));

    let (some, _) = limits(config(0.25, vec![]));
    let first = outcomes(&some);
    let failed = first.iter().filter(|o| o.is_some()).count();
    assert!(
        (180..320).contains(&failed),
        "{failed} of 1000 failed at 25%"
    );
    for status in [429, 503, 504] {
        assert!(first.contains(&Some(status)), "never drew {status}");
    }
    // The same seed replays the same answers.
    let (again, _) = limits(config(0.25, vec![]));
    assert_eq!(outcomes(&again), first);
    let (other_seed, _) = limits(ThrottleConfig {
        seed: Some(43),
        ..config(0.25, vec![])
    });
    assert_ne!(outcomes(&other_seed), first);

    // 429 and 503 say when to come back; 504 does not, as Graph's gateway.
    let (all, _) = limits(config(1.0, vec![]));
    for _ in 0..50 {
        let refusal = all.decide(&me, None, None).err().unwrap();
        assert_eq!(refusal.reason, Reason::Random);
        let expected = match refusal.failure {
            SimulatedFailure::GatewayTimeout => None,
            _ => Some(Duration::from_secs(1)),
        };
        assert_eq!(refusal.retry_after, expected);
    }
}

#[test]
fn latency_is_drawn_within_its_range() {
    let (limits, _) = limits(ThrottleConfig {
        latency: Some(Latency {
            min: Duration::from_millis(50),
            max: Duration::from_millis(200),
        }),
        seed: Some(7),
        ..ThrottleConfig::default()
    });
    let me = caller(APP, "t/users/a");
    let drawn: Vec<Duration> = (0..200)
        .map(|_| limits.decide(&me, None, None).unwrap().latency)
        .collect();
    assert!(drawn
        .iter()
        .all(|d| (Duration::from_millis(50)..=Duration::from_millis(200)).contains(d)));
    assert!(drawn.iter().any(|d| *d < Duration::from_millis(80)));
    assert!(drawn.iter().any(|d| *d > Duration::from_millis(170)));
    let (fixed, _) = limits_fixed(Duration::from_millis(30));
    assert_eq!(
        fixed.decide(&me, None, None).unwrap().latency,
        Duration::from_millis(30)
    );
}

fn limits_fixed(latency: Duration) -> (Arc<Limits<FakeRelativeClock>>, FakeRelativeClock) {
    limits(ThrottleConfig {
        latency: Some(Latency {
            min: latency,
            max: latency,
        }),
        ..ThrottleConfig::default()
    })
}

fn prefer(values: &[&str]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for value in values {
        headers.append("prefer", HeaderValue::from_str(value).unwrap());
    }
    headers
}

#[test]
fn the_prefer_header_forces_one_answer() {
    let forced = |values: &[&str]| forced_failure(&prefer(values)).map_err(|e| e.to_string());
    assert_eq!(forced(&[]), Ok(None));
    assert_eq!(forced(&["return=minimal"]), Ok(None));
    assert_eq!(
        forced(&["graph-photo-fail=429"]),
        Ok(Some(Forced {
            failure: SimulatedFailure::TooManyRequests,
            retry_after: Some(Duration::from_secs(1)),
        }))
    );
    assert_eq!(
        forced(&["return=minimal, Graph-Photo-Fail=\"503\"; retry-after=2.5"]),
        Ok(Some(Forced {
            failure: SimulatedFailure::ServiceUnavailable,
            retry_after: Some(Duration::from_millis(2500)),
        }))
    );
    assert_eq!(
        forced(&["respond-async", "graph-photo-fail=504"]),
        Ok(Some(Forced {
            failure: SimulatedFailure::GatewayTimeout,
            retry_after: None,
        }))
    );
    assert_eq!(
        forced(&["graph-photo-fail=504;retry-after=0"]),
        Ok(Some(Forced {
            failure: SimulatedFailure::GatewayTimeout,
            retry_after: Some(Duration::ZERO),
        }))
    );
    for bad in [
        "graph-photo-fail=200",
        "graph-photo-fail",
        "graph-photo-fail=429; retry-after=-1",
        "graph-photo-fail=429; retry-after=soon",
        "graph-photo-fail=429; retry-after=99999",
        "graph-photo-fail=429; status=500",
    ] {
        let error = forced(&[bad]).unwrap_err();
        assert!(
            error.starts_with("Prefer: graph-photo-fail"),
            "{bad}: {error}"
        );
    }
    // A forced answer counts against nothing.
    let (limits, _) = limits(ThrottleConfig {
        app_rate: rate(1, Duration::from_secs(60)),
        ..ThrottleConfig::default()
    });
    let me = caller(APP, "t/users/a");
    let force = forced(&["graph-photo-fail=429; retry-after=1.5"]).unwrap();
    for _ in 0..3 {
        let refusal = limits.decide(&me, force, None).err().unwrap();
        assert_eq!(refusal.reason, Reason::Forced);
        assert_eq!(refusal.retry_after, Some(Duration::from_millis(1500)));
    }
    assert!(limits.decide(&me, None, None).is_ok());
}

#[test]
fn callers_are_keyed_by_app_and_owning_mailbox() {
    let adele = user_principal(Some(APP));
    let me = Caller::of(&adele, &Target::Me);
    assert_eq!(me.app, APP);
    assert_eq!(me.mailbox, format!("{TENANT}/users/{ADELE}"));
    // By id, in any case, and a contact of hers: the same mailbox.
    let by_id = Caller::of(&adele, &Target::User(ADELE.to_uppercase()));
    assert_eq!(by_id, me);
    let contact = Target::Contact {
        owner: ContactOwner::Me,
        folder: Some("f".into()),
        id: "c".into(),
    };
    assert_eq!(Caller::of(&adele, &contact), me);
    let group = Caller::of(&adele, &Target::Group("G1".into()));
    assert_eq!(group.mailbox, format!("{TENANT}/groups/g1"));
    // An app token's app; a token without an app counts as one app of its tenant.
    let daemon = Caller::of(
        &app_principal(&APP.to_uppercase()),
        &Target::User("u".into()),
    );
    assert_eq!(daemon.app, APP);
    let anonymous_app = Caller::of(&user_principal(None), &Target::Me);
    assert_eq!(anonymous_app.app, format!("(no app in tenant {TENANT})"));
}

#[test]
fn a_sweep_forgets_callers_whose_budget_is_full_again() {
    let limits_of_ten = || {
        limits(ThrottleConfig {
            mailbox_rate: rate(10, Duration::from_secs(10)),
            ..ThrottleConfig::default()
        })
    };
    let (limits, clock) = limits_of_ten();
    for n in 0..100 {
        assert!(limits
            .decide(&caller(APP, &format!("t/users/{n}")), None, None)
            .is_ok());
    }
    let kept = |limits: &Limits<FakeRelativeClock>| limits.mailbox_rate.as_ref().unwrap().len();
    assert_eq!(kept(&limits), 100);
    limits.sweep();
    assert_eq!(kept(&limits), 100, "a budget used a moment ago is kept");
    clock.advance(Duration::from_secs(3));
    limits.sweep();
    assert_eq!(kept(&limits), 0);
    // And the sweep runs by itself every SWEEP_EVERY decisions, before deciding.
    let (limits, clock) = limits_of_ten();
    for n in 0..SWEEP_EVERY - 1 {
        let _ = limits.decide(&caller(APP, &format!("t/users/{n}")), None, None);
    }
    clock.advance(Duration::from_secs(3));
    assert_eq!(kept(&limits), SWEEP_EVERY as usize - 1);
    let _ = limits.decide(&caller(APP, "t/users/last"), None, None);
    assert_eq!(kept(&limits), 1, "the 1024th decision swept the others");
}

#[test]
fn retry_after_is_written_in_seconds_rounded_up_to_the_millisecond() {
    assert_eq!(format_retry_after(Duration::from_secs(2)), "2");
    assert_eq!(format_retry_after(Duration::from_millis(2128)), "2.128");
    assert_eq!(format_retry_after(Duration::from_millis(1500)), "1.5");
    assert_eq!(format_retry_after(Duration::from_micros(100_001)), "0.101");
    assert_eq!(format_retry_after(Duration::from_nanos(1)), "0.001");
    assert_eq!(format_retry_after(Duration::ZERO), "0");
}
