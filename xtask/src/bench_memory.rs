//! The memory half of `cargo xtask bench http`: what graph-photo holds while 16 clients upload
//! 4 MB photos at once, and that a refused upload buffers nothing.
//!
//! On a fresh server (every option at its default): RSS after start; one 4 MB photo stored per
//! user, then the RSS at rest (`idle`: the memory store now holds those photos, as it will
//! during the load); the peak (`VmHWM`) reset, 16 clients upload 3 photos each at once, and the
//! peak must stay within idle + 1.5 x the bytes in flight (16 x the photo). Then, for each
//! refusal (a bad token: 401; a user that does not exist: 404; `If-Match: "nope"`: 412; a
//! `Content-Length` over 4 MiB: 413), the peak reset again, 16 clients send 3 such 4 MB
//! uploads each (each on a new connection, the answer read while the body is written), and the
//! peak may grow by [`REFUSED_GROWTH_LIMIT`] at most; the report says how many answers came
//! before the body was all sent, said `Connection: close`, and were followed by a close.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use crate::bench_http::{Setup, Store};
use crate::bench_setup::{self, unknown_user_id, user_id, CLIENTS};
use crate::tooling;

/// Uploads per client in each phase.
const REQUESTS: u64 = 3;
/// The peak may exceed the RSS at rest by this many times the bytes in flight.
const FLIGHT_FACTOR: f64 = 1.5;
/// Refused uploads may grow the peak RSS by this much at most.
pub(crate) const REFUSED_GROWTH_LIMIT: u64 = 8 << 20;

/// One store's figures.
pub(crate) struct Memory {
    store: Store,
    /// VmRSS just after start.
    started: u64,
    /// VmRSS at rest with a photo stored per user.
    idle: u64,
    /// VmHWM over the concurrent uploads.
    peak: u64,
    /// idle + 1.5 x the bytes in flight.
    limit: u64,
    refusals: Vec<Refusal>,
}

struct Refusal {
    label: &'static str,
    status: u16,
    report: Value,
    before: u64,
    peak: u64,
}

impl Refusal {
    fn growth(&self) -> u64 {
        self.peak.saturating_sub(self.before)
    }

    fn met(&self) -> bool {
        self.growth() <= REFUSED_GROWTH_LIMIT && self.report["errors"].as_u64() == Some(0)
    }
}

impl Memory {
    pub(crate) fn met(&self) -> bool {
        self.peak <= self.limit && self.refusals.iter().all(Refusal::met)
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "store": self.store.key(),
            "rss_after_start": self.started,
            "rss_idle_with_photos": self.idle,
            "peak_rss_uploading": self.peak,
            "limit": self.limit,
            "met": self.peak <= self.limit,
            "refusals": self.refusals.iter().map(|r| json!({
                "refusal": r.label,
                "status": r.status,
                "rss_before": r.before,
                "peak_rss": r.peak,
                "growth": r.growth(),
                "met": r.met(),
                "generator": r.report,
            })).collect::<Vec<_>>(),
        })
    }
}

/// A refused upload: what is sent, and the status expected.
struct Case<'a> {
    label: &'static str,
    status: u16,
    urls: &'a Path,
    token: &'a str,
    header: Option<&'static str>,
    body: &'a Path,
}

/// `/proc/<pid>/status`'s `field` (`VmRSS`, `VmHWM`), in bytes.
fn status_bytes(pid: u32, field: &str) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    parse_status_bytes(&status, field).ok_or_else(|| format!("{path}: no {field}"))
}

fn parse_status_bytes(status: &str, field: &str) -> Option<u64> {
    let line = status
        .lines()
        .find(|l| l.split(':').next() == Some(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Resets `VmHWM` to the current RSS (`5` in `clear_refs`, Linux 4.0 and later).
fn reset_peak(pid: u32) -> Result<(), String> {
    let path = format!("/proc/{pid}/clear_refs");
    fs::write(&path, "5").map_err(|e| format!("resetting the peak RSS through {path}: {e}"))
}

pub(crate) fn measure(setup: &Setup, store: Store) -> Result<Memory, String> {
    let data_dir = setup.data_dir(&format!("data-memory-{}", store.key()))?;
    let running = setup.serve(store, &data_dir)?;
    let pid = running.pid();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let started = status_bytes(pid, "VmRSS")?;
    let users = setup.urls("urls-users.txt", &running, "photo/$value", user_id)?;
    let upload = |requests: u64, what: &str| -> Result<Value, String> {
        let out = tooling::output(
            setup
                .generator(&users)
                .args(["--op", "put", "--requests", &requests.to_string()])
                .args(["--token", &setup.token, "--body"])
                .arg(&setup.large),
        )?;
        bench_setup::report(&out, what)
    };
    upload(1, "storing a 4 MB photo per user")?;
    std::thread::sleep(std::time::Duration::from_millis(200));
    let idle = status_bytes(pid, "VmRSS")?;
    reset_peak(pid)?;
    upload(REQUESTS, "16 concurrent 4 MB uploads")?;
    let peak = status_bytes(pid, "VmHWM")?;
    let in_flight = (CLIENTS * setup.large_len) as f64;
    let limit = idle + (FLIGHT_FACTOR * in_flight) as u64;

    let unknown = setup.urls(
        "urls-unknown.txt",
        &running,
        "photo/$value",
        unknown_user_id,
    )?;
    let (token, large, too_large) = (setup.token.as_str(), &setup.large, &setup.too_large);
    let cases = [
        Case {
            label: "bad token",
            status: 401,
            urls: &users,
            token: "not-a-token",
            header: None,
            body: large,
        },
        Case {
            label: "no such user",
            status: 404,
            urls: &unknown,
            token,
            header: None,
            body: large,
        },
        Case {
            label: "If-Match: \"nope\"",
            status: 412,
            urls: &users,
            token,
            header: Some("If-Match: \"nope\""),
            body: large,
        },
        Case {
            label: "Content-Length over 4 MiB",
            status: 413,
            urls: &users,
            token,
            header: None,
            body: too_large,
        },
    ];
    let mut refusals = Vec::new();
    for Case {
        label,
        status,
        urls,
        token,
        header,
        body,
    } in cases
    {
        let before = status_bytes(pid, "VmRSS")?;
        reset_peak(pid)?;
        let mut command = setup.generator(urls);
        command
            .args([
                "--op",
                "put",
                "--one-shot",
                "--requests",
                &REQUESTS.to_string(),
            ])
            .args(["--expect", &status.to_string(), "--token", token, "--body"])
            .arg(body);
        if let Some(header) = header {
            command.args(["--header", header]);
        }
        let out = tooling::output(&mut command)?;
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with('{'))
            .ok_or_else(|| format!("{label}: no result in {out:?}"))?;
        let report: Value = serde_json::from_str(line).map_err(|e| format!("{label}: {e}"))?;
        let peak = status_bytes(pid, "VmHWM")?;
        refusals.push(Refusal {
            label,
            status,
            report,
            before,
            peak,
        });
    }
    Ok(Memory {
        store,
        started,
        idle,
        peak,
        limit,
        refusals,
    })
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// The memory tables.
pub(crate) fn table(memory: &[Memory], large_len: usize) -> String {
    let mut out = format!(
        "Memory: {CLIENTS} clients x {REQUESTS} concurrent uploads of a {large_len}-byte photo ({} in flight)\n\n| store | RSS after start | RSS at rest, photos stored | peak RSS uploading | growth | limit: idle + {FLIGHT_FACTOR} x in flight | |\n|---|---:|---:|---:|---:|---:|---|\n",
        mib((CLIENTS * large_len) as u64)
    );
    for m in memory {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            m.store.key(),
            mib(m.started),
            mib(m.idle),
            mib(m.peak),
            mib(m.peak.saturating_sub(m.idle)),
            mib(m.limit),
            if m.peak <= m.limit { "met" } else { "MISSED" },
        ));
    }
    out.push_str(&format!(
        "\nRefused 4 MB uploads ({CLIENTS} clients x {REQUESTS}, each on a new connection):\n\n| store | refusal | answered as expected | other outcomes | answered before the body was sent | `Connection: close` | closed by the server | RSS growth (limit {}) | |\n|---|---|---:|---|---:|---:|---:|---:|---|\n",
        mib(REFUSED_GROWTH_LIMIT)
    ));
    for m in memory {
        for r in &m.refusals {
            out.push_str(&format!(
                "| {} | {} -> {} | {} | {} | {} | {} | {} | {} | {} |\n",
                m.store.key(),
                r.label,
                r.status,
                r.report["ops"],
                r.report["error_kinds"],
                r.report["answered_before_body_sent"],
                r.report["connection_close_answers"],
                r.report["closed_by_server"],
                mib(r.growth()),
                if r.met() { "met" } else { "MISSED" },
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_in_bytes() {
        let status = "Name:\tgraph-photo\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(parse_status_bytes(status, "VmRSS"), Some(10 << 20));
        assert_eq!(parse_status_bytes(status, "VmHWM"), Some(20 << 20));
        assert_eq!(parse_status_bytes(status, "VmSwap"), None);
    }

    #[test]
    fn a_refusal_is_met_only_without_errors_and_within_the_growth_limit() {
        let refusal = |errors: u64, growth: u64| Refusal {
            label: "x",
            status: 401,
            report: json!({ "errors": errors }),
            before: 100 << 20,
            peak: (100 << 20) + growth,
        };
        assert!(refusal(0, 1 << 20).met());
        assert!(!refusal(1, 1 << 20).met());
        assert!(!refusal(0, REFUSED_GROWTH_LIMIT + 1).met());
    }
}
