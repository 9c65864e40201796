//! Where bearer tokens come from.

use async_trait::async_trait;

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TokenError(pub String);

/// A source of access tokens (the bare JWT, without `Bearer `). Asked once per logical call:
/// the retries of one call reuse its token.
#[async_trait]
pub trait TokenProvider: Send + Sync {
    async fn token(&self) -> Result<String, TokenError>;
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
/// The command runs each time a token is needed, that is once per logical call.
pub struct CommandToken {
    pub command: String,
}

#[async_trait]
impl TokenProvider for CommandToken {
    async fn token(&self) -> Result<String, TokenError> {
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
        let t = CommandToken {
            command: "printf 'tok-%s\\n' 42".into(),
        };
        assert_eq!(t.token().await, Ok("tok-42".into()));
        let failing = CommandToken {
            command: "echo nope >&2; exit 3".into(),
        };
        let err = failing.token().await.unwrap_err();
        assert!(err.0.contains("nope"), "{err}");
    }

    #[tokio::test]
    async fn callback_tokens() {
        let t = CallbackToken(|| Ok("cb".to_owned()));
        assert_eq!(t.token().await, Ok("cb".into()));
        let e = CallbackToken(|| Err(TokenError("no".into())));
        assert!(e.token().await.is_err());
    }
}
