//! Before any sequence: is the endpoint there, does it take the fixture's tokens, does it know
//! the fixture's objects? A "no" is a setup or connection failure with its cause, reported
//! as such rather than as a spec rule broken by a shrunk sequence.

use super::*;

/// A `401`, as the transcript shows it, for one principal.
struct Refusal {
    name: String,
    answer: String,
}

impl<'f> Runner<'f> {
    /// Checks, in order: the endpoint answers at all (`base` names it in the message); every
    /// principal's token is accepted; with a signing key, the suite's own valid tokens are
    /// accepted; every object of the fixture exists. Returns the requests sent and the first
    /// problem found.
    pub(crate) fn preflight(&self, base: &str) -> (u64, Option<Mismatch>) {
        let me = TargetPick::Me;
        let mut case = self.case(0, &me);
        let result = case.preflight(base);
        (case.requests, result.err())
    }
}

impl<'f> Case<'_, 'f> {
    fn preflight(&mut self, base: &str) -> Checked {
        // Reachable: any answer will do, even a 401.
        let probe = WireRequest {
            method: "GET".into(),
            path: "/v1.0/me/photo".into(),
            headers: Vec::new(),
            body: None,
        };
        self.requests += 1;
        let endpoint = self.runner.endpoint;
        self.runner
            .runtime
            .block_on(endpoint.send(probe))
            .map_err(|e| mismatch(CONNECTION, format!("cannot reach {base}: {e}")))?;

        let fx = self.fixture();
        let tokens: Vec<(String, String)> = fx
            .principals
            .iter()
            .map(|p| (p.name.clone(), p.token.clone()))
            .collect();
        let refused = self.refusals(&tokens)?;
        if refused.len() == tokens.len() {
            return Err(mismatch(
                SETUP,
                format!(
                    "every token refused: all {} principals' tokens were answered 401 ({}); the tokens may be expired, signed by a key the endpoint does not trust, or for another audience or issuer than it accepts",
                    tokens.len(),
                    first_refusals(&refused)
                ),
            ));
        }
        if !refused.is_empty() {
            return Err(mismatch(
                SETUP,
                format!(
                    "tokens refused: {} of {} principals' tokens were answered 401 ({}); every principal's token must be valid for the whole run",
                    refused.len(),
                    tokens.len(),
                    first_refusals(&refused)
                ),
            ));
        }

        if let Some(minter) = &self.runner.tokens {
            let mut minted = Vec::with_capacity(tokens.len());
            for (i, (name, _)) in tokens.iter().enumerate() {
                let token = minter.token(i, None).map_err(|e| {
                    mismatch(SETUP, format!("cannot mint a token like '{name}''s: {e}"))
                })?;
                minted.push((name.clone(), token));
            }
            let refused = self.refusals(&minted)?;
            if !refused.is_empty() {
                let key = fx.signing_key.as_ref();
                return Err(mismatch(
                    SETUP,
                    format!(
                        "the suite's own tokens are refused: {} of {} valid tokens minted with the fixture's signingKey were answered 401 ({}); check that the endpoint trusts the key under kid '{}', accepts the audience '{}' and the issuer '{}'",
                        refused.len(),
                        minted.len(),
                        first_refusals(&refused),
                        key.map_or("", |k| k.kid.as_str()),
                        key.map_or("", |k| k.audience.as_str()),
                        key.map_or("", |k| k.issuer_format()),
                    ),
                ));
            }
        }

        self.learn()
    }

    /// Sends, with each token, a read its principal is authenticated for (whatever it is
    /// allowed): `/me/photo` for a delegated token, a user of its tenant for an application
    /// token (an application token on `/me` is refused after authentication too, but with a
    /// user the probe is an ordinary request). Returns the tokens answered `401`.
    fn refusals(&mut self, tokens: &[(String, String)]) -> Result<Vec<Refusal>, Mismatch> {
        let fx = self.fixture();
        let claims = self.runner.claims;
        let mut refused = Vec::new();
        for (i, (name, token)) in tokens.iter().enumerate() {
            let path = match claims.get(i) {
                Some(c) if !c.is_delegated() => {
                    let user = fx
                        .users
                        .iter()
                        .find(|u| u.tenant.eq_ignore_ascii_case(&c.tenant))
                        .or(fx.users.first());
                    match user {
                        Some(u) => format!(
                            "/v1.0/{}/photo",
                            target_path(&Sent::User(u.id.clone()), PLAIN)
                        ),
                        None => "/v1.0/me/photo".to_owned(),
                    }
                }
                _ => "/v1.0/me/photo".to_owned(),
            };
            let response = self.send(WireRequest {
                method: "GET".into(),
                path,
                headers: vec![("Authorization".into(), format!("Bearer {token}"))],
                body: None,
            })?;
            if response.status == 401 {
                refused.push(Refusal {
                    name: name.clone(),
                    answer: summarize(&response),
                });
            }
        }
        Ok(refused)
    }
}

/// The first few refusals, for a message; one answer given to all is shown once.
fn first_refusals(refused: &[Refusal]) -> String {
    const SHOWN: usize = 3;
    let more = |text: &mut Vec<String>| {
        if refused.len() > SHOWN {
            text.push(format!("and {} more", refused.len() - SHOWN));
        }
    };
    let same = refused.windows(2).all(|w| w[0].answer == w[1].answer);
    if let (true, Some(first)) = (same, refused.first()) {
        let mut names: Vec<String> = refused
            .iter()
            .take(SHOWN)
            .map(|r| format!("'{}'", r.name))
            .collect();
        more(&mut names);
        return format!("{}: {}", names.join(", "), first.answer);
    }
    let mut text: Vec<String> = refused
        .iter()
        .take(SHOWN)
        .map(|r| format!("'{}': {}", r.name, r.answer))
        .collect();
    more(&mut text);
    text.join("; ")
}
