//! Bearer token header and claims parsing, through the public `Authenticator::authenticate`
//! with the development key, on a current-thread runtime.
//!
//! The first byte picks how the rest becomes an `Authorization` value:
//! - 0: as is (any header value);
//! - 1: `Bearer ` + three base64url parts made of the input split at NUL bytes (header JSON,
//!   claims JSON, signature): reaches the JWT header and claims parsers;
//! - 2: a token the development key really signs, for the tenant, user, scopes and roles taken
//!   from the input's lines: reaches claim validation after a good signature.
//!
//! Invariants: no panic; a token that does not carry the development key's signature is never
//! accepted.
#![no_main]

use std::sync::OnceLock;

use adapter_http_server::auth::{AuthConfig, JwksSource};
use dev_tokens::{DevKey, TokenRequest};
use adapter_http_server::Authenticator;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    authenticator: Authenticator,
    key: std::sync::Arc<DevKey>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let key = std::sync::Arc::new(DevKey::generate().expect("development key"));
        let config = AuthConfig::new(JwksSource::Static(key.jwks()));
        let authenticator = runtime
            .block_on(Authenticator::new(config))
            .expect("authenticator");
        Fixture {
            runtime,
            authenticator,
            key,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fixture = fixture();
    let (header, signed) = match mode % 3 {
        0 => (String::from_utf8_lossy(rest).into_owned(), false),
        1 => {
            let parts: Vec<String> = rest
                .splitn(3, |&b| b == 0)
                .map(|part| URL_SAFE_NO_PAD.encode(part))
                .collect();
            (format!("Bearer {}", parts.join(".")), false)
        }
        _ => {
            let text = String::from_utf8_lossy(rest);
            let mut lines = text.lines();
            let tenant = lines.next().unwrap_or_default();
            let user = lines.next().unwrap_or_default();
            let scopes: Vec<&str> = lines.next().unwrap_or_default().split(' ').collect();
            let mut request = TokenRequest::delegated(tenant, user, scopes);
            request.roles = lines.map(str::to_owned).collect();
            request.application = rest.len() % 2 == 1;
            match fixture.key.mint(&request) {
                Ok(token) => (format!("Bearer {token}"), true),
                Err(_) => return,
            }
        }
    };
    let outcome = fixture
        .runtime
        .block_on(fixture.authenticator.authenticate(Some(&header)));
    if !signed {
        assert!(
            outcome.is_err(),
            "an unsigned token was accepted: {header:?}"
        );
    }
});
