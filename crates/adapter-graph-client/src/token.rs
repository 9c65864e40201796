//! Where bearer tokens come from.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TokenError(pub String);

/// A source of access tokens (the bare JWT, without `Bearer `). Asked once per logical call:
/// the retries of one call reuse its token.
#[async_trait]
pub trait TokenProvider: Send + Sync {
    async fn token(&self) -> Result<String, TokenError>;

    /// The server answered `401` to a call made with `token`: a provider that keeps tokens
    /// should not hand this one out again. The call itself is not retried (a 401 is an answer).
    async fn rejected(&self, token: &str) {
        let _ = token;
    }
}

/// A fixed token.
pub struct StaticToken(pub String);

#[async_trait]
impl TokenProvider for StaticToken {
    async fn token(&self) -> Result<String, TokenError> {
        clean(&self.0)
    }
}

/// A token printed by a shell command (`sh -c command`), e.g.
/// `az account get-access-token --resource-type ms-graph --query accessToken -o tsv`.
///
/// The token is kept and reused until [`CommandToken::EXPIRY_MARGIN`] before the `exp` of its JWT payload
/// (read without verifying the signature: the server verifies, we only need to know when to
/// ask again). A token that is not a JWT with a numeric `exp` is kept for
/// [`CommandToken::OPAQUE_TOKEN_TTL`].
/// A token the server rejected with `401` is dropped, so the next call runs the command again.
/// Callers that need a token while the command runs wait for that run: one run for all.
pub struct CommandToken {
    command: String,
    cached: tokio::sync::Mutex<Option<Cached>>,
}

struct Cached {
    token: String,
    reuse_until: Instant,
}

impl CommandToken {
    /// How long before its `exp` a token stops being reused: time for the call it is given
    /// to, and for clock differences between us and the issuer.
    pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
    /// How long a token without a readable `exp` is reused.
    pub const OPAQUE_TOKEN_TTL: Duration = Duration::from_secs(5 * 60);

    pub fn new(command: impl Into<String>) -> Self {
        CommandToken {
            command: command.into(),
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// The shell command.
    pub fn command(&self) -> &str {
        &self.command
    }

    async fn run(&self) -> Result<String, TokenError> {
        let output = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| TokenError(format!("cannot run the token command: {e}")))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let stderr = stderr.trim();
            return Err(TokenError(format!(
                "the token command failed ({}){}{}",
                output.status,
                if stderr.is_empty() { "" } else { ": " },
                stderr
            )));
        }
        let stdout = String::from_utf8(output.stdout)
            .map_err(|_| TokenError("the token command printed something not UTF-8".into()))?;
        clean(&stdout)
    }
}

#[async_trait]
impl TokenProvider for CommandToken {
    async fn token(&self) -> Result<String, TokenError> {
        // Held across the command's run: concurrent callers wait for this run's token.
        let mut cached = self.cached.lock().await;
        if let Some(kept) = cached.as_ref().filter(|c| Instant::now() < c.reuse_until) {
            return Ok(kept.token.clone());
        }
        let token = self.run().await?;
        *cached = reuse_for(&token, SystemTime::now()).map(|left| Cached {
            token: token.clone(),
            reuse_until: Instant::now() + left,
        });
        Ok(token)
    }

    async fn rejected(&self, token: &str) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| c.token == token) {
            *cached = None;
        }
    }
}

/// How long `token` may be reused from `now`: until [`CommandToken::EXPIRY_MARGIN`] before its
/// `exp`, none when that is past; [`CommandToken::OPAQUE_TOKEN_TTL`] when it has no readable `exp`.
fn reuse_for(token: &str, now: SystemTime) -> Option<Duration> {
    let Some(exp) = jwt_exp(token) else {
        return Some(CommandToken::OPAQUE_TOKEN_TTL);
    };
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    let left = exp - now - CommandToken::EXPIRY_MARGIN.as_secs_f64();
    if left <= 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(left).ok()
}

/// The `exp` claim (seconds since the epoch) of a JWS compact token's payload, unverified.
fn jwt_exp(token: &str) -> Option<f64> {
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    // base64url without padding per RFC 7515; tolerate padding from lax issuers.
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&json).ok()?;
    claims.get("exp")?.as_f64().filter(|exp| exp.is_finite())
}

/// A token from a closure.
pub struct CallbackToken<F>(pub F)
where
    F: Fn() -> Result<String, TokenError> + Send + Sync;

#[async_trait]
impl<F> TokenProvider for CallbackToken<F>
where
    F: Fn() -> Result<String, TokenError> + Send + Sync,
{
    async fn token(&self) -> Result<String, TokenError> {
        clean(&(self.0)()?)
    }
}

/// Trims whitespace and an optional `Bearer ` prefix; an empty token is an error.
fn clean(raw: &str) -> Result<String, TokenError> {
    let trimmed = raw.trim();
    let token = match trimmed.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => trimmed[7..].trim_start(),
        _ => trimmed,
    };
    if token.is_empty() {
        return Err(TokenError("the token is empty".into()));
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_tokens_are_trimmed_and_lose_a_bearer_prefix() {
        assert_eq!(
            StaticToken(" Bearer abc.def \n".into()).token().await,
            Ok("abc.def".into())
        );
        assert!(StaticToken("  ".into()).token().await.is_err());
    }

    #[tokio::test]
    async fn command_tokens_come_from_stdout() {
        let t = CommandToken::new("printf 'tok-%s\\n' 42");
        assert_eq!(t.token().await, Ok("tok-42".into()));
        let failing = CommandToken::new("echo nope >&2; exit 3");
        let err = failing.token().await.unwrap_err();
        assert!(err.0.contains("nope"), "{err}");
    }

    /// A JWS-shaped token whose payload is `claims` (header and signature are not read).
    fn jwt(claims: &serde_json::Value) -> String {
        let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        format!(
            "{}.{}.c2ln",
            encode(br#"{"alg":"RS256","typ":"JWT"}"#),
            encode(claims.to_string().as_bytes())
        )
    }

    fn unix_now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    /// A command printing `token` that appends a line to a file at each run, and the file.
    fn counting_command(token: &str) -> (CommandToken, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        let command = CommandToken::new(format!(
            "sleep 0.05; echo run >> '{}'; printf '%s\\n' '{token}'",
            runs.display()
        ));
        (command, dir)
    }

    fn runs(dir: &tempfile::TempDir) -> usize {
        std::fs::read_to_string(dir.path().join("runs"))
            .map(|text| text.lines().count())
            .unwrap_or(0)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_command_token_runs_once_for_many_concurrent_calls() {
        let token = jwt(&serde_json::json!({ "exp": unix_now() + 3600, "aud": "x" }));
        let (command, dir) = counting_command(&token);
        let command = std::sync::Arc::new(command);
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let command = std::sync::Arc::clone(&command);
            calls.spawn(async move { command.token().await });
        }
        while let Some(got) = calls.join_next().await {
            assert_eq!(got.unwrap().as_deref(), Ok(token.as_str()));
        }
        assert_eq!(runs(&dir), 1, "16 concurrent calls share one run");
        for _ in 0..5 {
            assert_eq!(command.token().await.as_deref(), Ok(token.as_str()));
        }
        assert_eq!(runs(&dir), 1, "later calls reuse the token");
    }

    #[tokio::test]
    async fn a_token_at_or_near_its_exp_is_asked_for_again() {
        for exp in [unix_now() - 10, unix_now() + 30] {
            let (command, dir) = counting_command(&jwt(&serde_json::json!({ "exp": exp })));
            for _ in 0..3 {
                command.token().await.unwrap();
            }
            assert_eq!(runs(&dir), 3, "exp {exp}: a run per call");
        }
    }

    #[tokio::test]
    async fn a_rejected_token_is_dropped_and_another_one_is_not() {
        let token = jwt(&serde_json::json!({ "exp": unix_now() + 3600 }));
        let (command, dir) = counting_command(&token);
        command.token().await.unwrap();
        command.rejected("some-other-token").await;
        command.token().await.unwrap();
        assert_eq!(runs(&dir), 1);
        command.rejected(&token).await;
        command.token().await.unwrap();
        assert_eq!(runs(&dir), 2, "the 401'd token is not reused");
    }

    #[tokio::test]
    async fn opaque_tokens_are_kept_for_a_while() {
        let (command, dir) = counting_command("not-a-jwt");
        for _ in 0..3 {
            assert_eq!(command.token().await.as_deref(), Ok("not-a-jwt"));
        }
        assert_eq!(runs(&dir), 1);
    }

    #[test]
    fn reuse_lasts_until_the_margin_before_exp() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |claims: serde_json::Value| reuse_for(&jwt(&claims), now);
        assert_eq!(
            at(serde_json::json!({ "exp": 1_003_600 })),
            Some(Duration::from_secs(3600) - CommandToken::EXPIRY_MARGIN)
        );
        assert_eq!(at(serde_json::json!({ "exp": 1_000_060 })), None);
        assert_eq!(at(serde_json::json!({ "exp": 999_000 })), None);
        // No readable `exp`: the fixed time.
        assert_eq!(
            at(serde_json::json!({ "sub": "x" })),
            Some(CommandToken::OPAQUE_TOKEN_TTL)
        );
        assert_eq!(
            at(serde_json::json!({ "exp": "1003600" })),
            Some(CommandToken::OPAQUE_TOKEN_TTL)
        );
        assert_eq!(reuse_for("a.b", now), Some(CommandToken::OPAQUE_TOKEN_TTL));
        assert_eq!(
            reuse_for("a.%%%.c", now),
            Some(CommandToken::OPAQUE_TOKEN_TTL)
        );
        // Padding from a lax issuer is tolerated.
        let padded = format!(
            "{}=",
            jwt(&serde_json::json!({ "exp": 1_003_600 })).replace(".c2ln", "")
        );
        assert_eq!(
            reuse_for(&format!("{padded}.c2ln"), now),
            Some(Duration::from_secs(3600) - CommandToken::EXPIRY_MARGIN)
        );
    }

    #[tokio::test]
    async fn callback_tokens() {
        let t = CallbackToken(|| Ok("cb".to_owned()));
        assert_eq!(t.token().await, Ok("cb".into()));
        let e = CallbackToken(|| Err(TokenError("no".into())));
        assert!(e.token().await.is_err());
    }
}
