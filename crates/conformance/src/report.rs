//! What a run found: checks per spec rule, and each failure as a minimal sequence of requests
//! a person can replay.

use std::collections::BTreeMap;
use std::fmt;

/// The rule of a [`Failure`] when the run could not start or the initial state could not be
/// read: a bad fixture, tokens refused, fixture objects missing.
pub const SETUP: &str = "setup";
/// The rule of a [`Failure`] when a request got no answer at all: the endpoint cannot be
/// reached, or a connection was refused, reset or timed out.
pub const CONNECTION: &str = "connection";

/// What kind of problem a [`Failure`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// An answer broke a spec rule; the sequence was shrunk.
    Spec,
    /// The run could not start (fixture, tokens refused, objects missing); nothing shrunk.
    Setup,
    /// No answer at all (connection refused, reset, timed out); nothing shrunk.
    Connection,
}

/// Checks made for one spec rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleStats {
    pub passed: u64,
    pub failed: u64,
}

/// A sequence whose answers differ from the model, shrunk to a minimal one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The spec rule that was broken (`C5`, `D4`, ...), or [`SETUP`] / [`CONNECTION`] when
    /// the run could not get that far.
    pub rule: String,
    /// What came and what the model expected.
    pub detail: String,
    /// The photos found before the first request (read with the fixture's principals).
    pub initial_state: Vec<String>,
    /// The requests, in order, each with the answer it got; the last one failed.
    pub requests: Vec<String>,
    /// How many requests the sequence had before shrinking.
    pub original_requests: usize,
}

/// The result of [`crate::run`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Generated sequences run (not counting the re-runs made while shrinking a failure).
    pub cases_run: u32,
    /// The seed of the run: the same seed, fixture and endpoint state give the same run.
    pub seed: u64,
    /// Requests sent, shrinking included.
    pub requests_sent: u64,
    /// At most one: the run stops at the first failing sequence and shrinks it.
    pub failures: Vec<Failure>,
    /// Checks per spec rule (`A4`, `B7`, `C4`, `D4`, ...).
    pub per_rule: BTreeMap<String, RuleStats>,
    /// Invalid tokens sent, per class (`D1 expired`, `D2 tid-null`, `D1 fixture: <name>`):
    /// passed when answered `401`. Also counted under their rule in `per_rule`.
    pub per_token: BTreeMap<String, RuleStats>,
}

impl Failure {
    /// Whether a spec rule was broken, or the run could not check one.
    pub fn class(&self) -> FailureClass {
        match self.rule.as_str() {
            SETUP => FailureClass::Setup,
            CONNECTION => FailureClass::Connection,
            _ => FailureClass::Spec,
        }
    }
}

impl Report {
    /// No failure.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// A run that could not start (bad fixture, bad URL, ...).
    pub fn setup_failure(seed: u64, detail: impl Into<String>) -> Report {
        Report {
            seed,
            failures: vec![Failure {
                rule: SETUP.to_owned(),
                detail: detail.into(),
                initial_state: Vec::new(),
                requests: Vec::new(),
                original_requests: 0,
            }],
            ..Report::default()
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "conformance: {} sequences, {} requests, seed {} (repeat the run with this seed)",
            self.cases_run, self.requests_sent, self.seed
        )?;
        if !self.per_rule.is_empty() {
            writeln!(f, "\n  rule   passed  failed")?;
            for (rule, stats) in &self.per_rule {
                writeln!(
                    f,
                    "  {rule:<6} {:>6}  {:>6}{}",
                    stats.passed,
                    stats.failed,
                    if stats.failed > 0 { "  <- FAILED" } else { "" }
                )?;
            }
        }
        if !self.per_token.is_empty() {
            writeln!(f, "\n  invalid token (rule, class)       sent  refused")?;
            for (class, stats) in &self.per_token {
                writeln!(
                    f,
                    "  {class:<32} {:>5}  {:>7}{}",
                    stats.passed + stats.failed,
                    stats.passed,
                    if stats.failed > 0 {
                        "  <- ACCEPTED"
                    } else {
                        ""
                    }
                )?;
            }
        }
        if self.failures.is_empty() {
            return writeln!(f, "\nPASSED: every answer matched the spec's model.");
        }
        for (i, failure) in self.failures.iter().enumerate() {
            let class = failure.class();
            match class {
                FailureClass::Spec => writeln!(
                    f,
                    "\nFAILURE {} (spec {}): {}",
                    i + 1,
                    failure.rule,
                    failure.detail
                )?,
                FailureClass::Setup | FailureClass::Connection => writeln!(
                    f,
                    "\nFAILURE {} ({}): {}",
                    i + 1,
                    failure.rule,
                    failure.detail
                )?,
            }
            if !failure.initial_state.is_empty() {
                writeln!(f, "\n  initial state (read before the first request):")?;
                for line in &failure.initial_state {
                    writeln!(f, "    {line}")?;
                }
            }
            if !failure.requests.is_empty() {
                match class {
                    FailureClass::Spec => writeln!(
                        f,
                        "\n  minimal sequence ({} requests, shrunk from {}); the last answer is wrong:",
                        failure.requests.len(),
                        failure.original_requests
                    )?,
                    FailureClass::Setup | FailureClass::Connection => writeln!(
                        f,
                        "\n  requests of the sequence ({}, not shrunk: the failure is not the endpoint's answer to them); the last one failed:",
                        failure.requests.len()
                    )?,
                }
                for request in &failure.requests {
                    writeln!(f, "{request}")?;
                }
            }
        }
        Ok(())
    }
}
