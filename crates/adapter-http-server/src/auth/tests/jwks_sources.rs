//! Where the verification keys come from: a file, a static set, or a URL refetched on an
//! unknown `kid` (at most once per interval).

use super::*;

// ---------------------------------------------------------------- JWKS sources

#[tokio::test]
async fn jwks_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, serde_json::to_vec(&KEY_A.jwks()).unwrap()).unwrap();
    let auth = Authenticator::new(AuthConfig::new(JwksSource::File(path.clone())))
        .await
        .expect("authenticator");
    let token = KEY_A.mint(&delegated_request()).unwrap();
    assert!(auth.authenticate(Some(&bearer(&token))).await.is_ok());

    // Rotation: the file gains key B; an unknown kid re-reads it.
    let both = JwkSet {
        keys: [KEY_A.jwks().keys, KEY_B.jwks().keys].concat(),
    };
    std::fs::write(&path, serde_json::to_vec(&both).unwrap()).unwrap();
    let token_b = KEY_B.mint(&delegated_request()).unwrap();
    assert!(auth.authenticate(Some(&bearer(&token_b))).await.is_ok());

    let missing = Authenticator::new(AuthConfig::new(JwksSource::File(
        dir.path().join("nope.json"),
    )))
    .await;
    assert!(matches!(missing, Err(AuthSetupError::ReadFile { .. })));

    std::fs::write(&path, b"{not json").unwrap();
    let bad = Authenticator::new(AuthConfig::new(JwksSource::File(path.clone()))).await;
    assert!(matches!(bad, Err(AuthSetupError::InvalidJwks { .. })));

    // Keys that cannot verify RS256 are skipped; none left is an error.
    std::fs::write(
        &path,
        br#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"},{"kty":"EC","crv":"P-256","x":"AA","y":"AA","kid":"e"},{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"small"}]}"#,
    )
    .unwrap();
    let none = Authenticator::new(AuthConfig::new(JwksSource::File(path.clone()))).await;
    assert!(matches!(none, Err(AuthSetupError::NoSigningKeys { .. })));

    // An unknown key type next to a good key does not spoil the set.
    let mut mixed = serde_json::to_value(KEY_A.jwks()).unwrap();
    mixed["keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({"kty": "weird", "kid": "w"}));
    std::fs::write(&path, serde_json::to_vec(&mixed).unwrap()).unwrap();
    assert!(Authenticator::new(AuthConfig::new(JwksSource::File(path)))
        .await
        .is_ok());
}

#[tokio::test]
async fn jwks_static_and_setup_errors() {
    let auth = Authenticator::new(AuthConfig::new(JwksSource::Static(KEY_B.jwks())))
        .await
        .unwrap();
    let token_b = KEY_B.mint(&delegated_request()).unwrap();
    assert!(auth.authenticate(Some(&bearer(&token_b))).await.is_ok());

    let empty =
        Authenticator::new(AuthConfig::new(JwksSource::Static(JwkSet { keys: vec![] }))).await;
    assert!(matches!(empty, Err(AuthSetupError::NoSigningKeys { .. })));

    let no_aud = Authenticator::new(AuthConfig {
        audiences: vec![],
        ..AuthConfig::new(JwksSource::Static(KEY_A.jwks()))
    })
    .await;
    assert!(matches!(no_aud, Err(AuthSetupError::NoAudiences)));
}

/// A tiny JWKS server: answers every request with the current document, counting requests.
pub(super) struct JwksServer {
    pub(super) url: String,
    body: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    pub(super) async fn start(initial: &JwkSet) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/keys", listener.local_addr().unwrap());
        let body = Arc::new(Mutex::new(serde_json::to_string(initial).unwrap()));
        let hits = Arc::new(AtomicUsize::new(0));
        let (served, count) = (body.clone(), hits.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (served, count) = (served.clone(), count.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let body = served.lock().unwrap().clone();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { url, body, hits }
    }

    pub(super) fn serve(&self, set: &JwkSet) {
        *self.body.lock().unwrap() = serde_json::to_string(set).unwrap();
    }

    pub(super) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn jwks_from_a_url_refetched_on_unknown_kid_at_most_once_per_interval() {
    let server = JwksServer::start(&KEY_A.jwks()).await;
    let auth = Authenticator::new(AuthConfig::new(JwksSource::Url(server.url.clone())))
        .await
        .expect("authenticator");
    assert_eq!(server.hits(), 1);

    let token_a = KEY_A.mint(&delegated_request()).unwrap();
    assert!(auth.authenticate(Some(&bearer(&token_a))).await.is_ok());
    assert!(auth.authenticate(Some(&bearer(&token_a))).await.is_ok());
    assert_eq!(server.hits(), 1, "known keys are cached");

    // Key rotation: the server now publishes A and B.
    server.serve(&JwkSet {
        keys: [KEY_A.jwks().keys, KEY_B.jwks().keys].concat(),
    });
    let token_b = KEY_B.mint(&delegated_request()).unwrap();
    let clone = auth.clone();
    assert!(clone.authenticate(Some(&bearer(&token_b))).await.is_ok());
    assert_eq!(server.hits(), 2, "an unknown kid refetched once");
    assert!(auth.authenticate(Some(&bearer(&token_b))).await.is_ok());
    assert_eq!(server.hits(), 2, "clones share the cache");

    // Within the interval another unknown kid does not refetch, even if the server has it.
    server.serve(&JwkSet {
        keys: [KEY_A.jwks().keys, KEY_B.jwks().keys, KEY_C.jwks().keys].concat(),
    });
    let token_c = KEY_C.mint(&delegated_request()).unwrap();
    assert_eq!(
        auth.authenticate(Some(&bearer(&token_c))).await,
        Err(AuthError::UnknownSigningKey(KEY_C.kid().to_owned()))
    );
    assert_eq!(server.hits(), 2, "rate limited");
    assert!(auth.authenticate(Some(&bearer(&token_a))).await.is_ok());
}

#[tokio::test]
async fn jwks_from_a_url_refetches_again_after_the_interval() {
    let server = JwksServer::start(&KEY_A.jwks()).await;
    let auth = Authenticator::new(AuthConfig {
        jwks_refresh_min_interval: Duration::from_millis(200),
        ..AuthConfig::new(JwksSource::Url(server.url.clone()))
    })
    .await
    .unwrap();
    let token_b = KEY_B.mint(&delegated_request()).unwrap();
    assert!(matches!(
        auth.authenticate(Some(&bearer(&token_b))).await,
        Err(AuthError::UnknownSigningKey(_))
    ));
    assert_eq!(server.hits(), 2);
    // Concurrent unknown kids inside the interval: no more fetches.
    let header = bearer(&token_b);
    let (r1, r2) = tokio::join!(
        auth.authenticate(Some(&header)),
        auth.authenticate(Some(&header))
    );
    assert!(r1.is_err() && r2.is_err());
    assert_eq!(server.hits(), 2);

    server.serve(&KEY_B.jwks());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(auth.authenticate(Some(&bearer(&token_b))).await.is_ok());
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn failing_jwks_url_at_start_is_an_error() {
    // A port nothing listens on: bind, note the port, close.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/keys", listener.local_addr().unwrap());
    drop(listener);
    let result = Authenticator::new(AuthConfig::new(JwksSource::Url(url))).await;
    assert!(
        matches!(result, Err(AuthSetupError::Fetch { .. })),
        "{result:?}"
    );
}
