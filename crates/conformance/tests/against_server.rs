//! The suite against graph-photo's own server (in-process, the full stack of
//! `graph-photo serve`), and against deliberately broken variants of it: the suite must pass
//! the first and catch each of the others, naming the rule that was broken.
#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of test crates panic by design

use std::sync::Arc;

use adapter_http_server::auth::{AuthConfig, JwksSource};
use async_trait::async_trait;
use conformance::fixture::{dev_tenant, TokenClaims};
use conformance::{
    Claims, Endpoint, Fixture, HttpEndpoint, InvalidTokenEntry, Report, RunOptions, TokenVariant,
    WireRequest, WireResponse, CONNECTION, SETUP,
};
use dev_tokens::{DevKey, DevKeyError, TokenRequest, DEV_APP_ID};
use graph_photo::cli::ServeArgs;
use percent_encoding::percent_decode_str;

struct TestServer {
    base_url: String,
    key: Arc<DevKey>,
    // Kept alive for the server's tasks and its signing key.
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn start_server() -> TestServer {
    start_server_with(|_| {})
}

/// The whole stack of `graph-photo serve`, with its arguments changed by `configure`.
fn start_server_with(configure: impl FnOnce(&mut ServeArgs)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    // `serve` loads it instead of spending seconds generating a key.
    std::fs::write(
        dir.path().join(dev_tokens::DEV_KEY_FILE_NAME),
        dev_tokens::TEST_KEY_PEM,
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut args = ServeArgs::local(dir.path().to_owned());
    args.rendition_cache = 64;
    configure(&mut args);
    let server = runtime.block_on(graph_photo::serve::bind(&args)).unwrap();
    let base_url = format!("http://{}", server.addr);
    let key = server.dev_key.clone().expect("the dev key");
    runtime.spawn(server.run(std::future::pending()));
    TestServer {
        base_url,
        key,
        _runtime: runtime,
        _dir: dir,
    }
}

fn mint(key: &DevKey, claims: &TokenClaims) -> Result<String, DevKeyError> {
    let mut request = match &claims.user_id {
        Some(user) => {
            let mut r = TokenRequest::delegated(&claims.tenant, user, claims.scopes.clone());
            r.roles = claims.roles.clone();
            r
        }
        None => TokenRequest::application(&claims.tenant, DEV_APP_ID, claims.roles.clone()),
    };
    request.upn = claims.upn.clone();
    request.directory_roles = claims.directory_roles.clone();
    key.mint(&request)
}

/// The dev tenant's fixture with the server's key: the suite sends every token variant.
fn fixture(server: &TestServer) -> Fixture {
    let mut fixture = Fixture::for_dev_server(|c| mint(&server.key, c)).unwrap();
    fixture.signing_key = Some(graph_photo::conformance_cmd::dev_signing_key(&server.key));
    fixture
}

/// `PROPTEST_CASES` when set, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The rules a run of the suite must have exercised to count as a broad check.
const BROAD_RULES: [&str; 12] = [
    "A4", "B7", "C1", "C2", "C3", "C4", "C5", "C6", "C8", "D4", "D5", "D7",
];

fn conformance_run(server: &TestServer, seed: Option<u64>, cases: u32) -> conformance::Report {
    let mut options = RunOptions::new(&server.base_url, fixture(server));
    options.cases = cases;
    options.max_steps = 12;
    options.max_shrink_iters = 64;
    options.seed = seed;
    conformance::run(options)
}

/// A random seed each run (or `CONFORMANCE_SEED`): every run explores new sequences.
#[test]
fn our_server_conforms() {
    let server = start_server();
    let seed = std::env::var("CONFORMANCE_SEED")
        .ok()
        .and_then(|s| s.parse().ok());
    let report = conformance_run(&server, seed, cases(16));
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert!(report.cases_run >= 1);
}

/// Whether the suite reaches the rules at all is a property of the generator, not of luck: it
/// is asserted on a fixed seed and enough cases, so that a short random run that happens to
/// miss a rule (16 cases sometimes never read metadata, C2) cannot fail CI.
#[test]
fn a_run_exercises_the_spec_broadly() {
    let server = start_server();
    let report = conformance_run(&server, Some(20_261_130), 64);
    assert!(report.passed(), "{report}");
    for rule in BROAD_RULES {
        let stats = report.per_rule.get(rule).copied().unwrap_or_default();
        assert!(stats.passed > 0, "rule {rule} was never checked:\n{report}");
    }
    // Every token variant was sent, and refused: no false alarm on a server that checks.
    for variant in TokenVariant::ALL {
        let class = format!("{} {variant}", variant.rule());
        let stats = report.per_token.get(&class).copied().unwrap_or_default();
        assert!(
            stats.passed > 0 && stats.failed == 0,
            "token variant {class} was never sent:\n{report}"
        );
    }
}

/// The same seed against the same initial state sends the same requests and gets the same
/// answers (a failure can be replayed with `--seed`).
#[test]
fn a_seed_makes_a_run_reproducible() {
    let run = || {
        let server = start_server();
        let mut options = RunOptions::new(&server.base_url, fixture(&server));
        options.cases = 6;
        options.max_steps = 10;
        options.seed = Some(7);
        conformance::run(options)
    };
    let (first, second) = (run(), run());
    assert!(first.passed(), "{first}");
    assert_eq!(first.seed, 7);
    assert_eq!(first.requests_sent, second.requests_sent);
    assert_eq!(first.per_rule, second.per_rule);
}

/// The suite's own seeded tenant must be the server's (the copy in `dev_tenant`).
#[test]
fn dev_tenant_constants_match_the_server_seed() {
    use adapter_memstore::seed;
    let pairs = [
        (dev_tenant::CONTOSO_TENANT, seed::CONTOSO_TENANT),
        (dev_tenant::ADELE_ID, seed::ADELE_ID),
        (dev_tenant::ADELE_UPN, seed::ADELE_UPN),
        (dev_tenant::MEGAN_ID, seed::MEGAN_ID),
        (dev_tenant::MEGAN_UPN, seed::MEGAN_UPN),
        (dev_tenant::ALEX_ID, seed::ALEX_ID),
        (dev_tenant::ALEX_UPN, seed::ALEX_UPN),
        (dev_tenant::LEE_ID, seed::LEE_ID),
        (dev_tenant::LEE_UPN, seed::LEE_UPN),
        (dev_tenant::MARKETING_GROUP_ID, seed::MARKETING_GROUP_ID),
        (
            dev_tenant::ADELE_FRIENDS_FOLDER_ID,
            seed::ADELE_FRIENDS_FOLDER_ID,
        ),
        (dev_tenant::ADELE_CONTACT_ID, seed::ADELE_CONTACT_ID),
        (
            dev_tenant::ADELE_FOLDER_CONTACT_ID,
            seed::ADELE_FOLDER_CONTACT_ID,
        ),
        (dev_tenant::MEGAN_CONTACT_ID, seed::MEGAN_CONTACT_ID),
        (dev_tenant::FABRIKAM_TENANT, seed::FABRIKAM_TENANT),
        (dev_tenant::ALLAN_ID, seed::ALLAN_ID),
        (dev_tenant::ALLAN_UPN, seed::ALLAN_UPN),
        (dev_tenant::FABRIKAM_GROUP_ID, seed::FABRIKAM_GROUP_ID),
        (dev_tenant::CONSUMER_TENANT, seed::CONSUMER_TENANT),
        (dev_tenant::PAT_ID, seed::PAT_ID),
        (dev_tenant::PAT_UPN, seed::PAT_UPN),
        (dev_tenant::APP_ID, DEV_APP_ID),
    ];
    for (ours, theirs) in pairs {
        assert_eq!(ours, theirs);
    }
    // Every seeded object is in the fixture, and nothing else.
    let fixture = Fixture::for_dev_server(|_| Ok::<_, String>("h.e30.s".to_owned())).unwrap();
    let data = seed::data();
    let users: usize = data.tenants.iter().map(|t| t.users.len()).sum();
    let groups: usize = data.tenants.iter().map(|t| t.groups.len()).sum();
    let contacts: usize = data.tenants.iter().map(|t| t.contacts.len()).sum();
    let folders: usize = data.tenants.iter().map(|t| t.contact_folders.len()).sum();
    assert_eq!(fixture.users.len(), users);
    assert_eq!(fixture.groups.len(), groups);
    assert_eq!(fixture.contacts.len(), contacts);
    assert_eq!(fixture.contact_folders.len(), folders);
    for tenant in &data.tenants {
        for u in &tenant.users {
            assert!(fixture
                .users
                .iter()
                .any(|f| f.id == u.id && f.upn == u.user_principal_name && f.tenant == tenant.id));
        }
        for c in &tenant.contacts {
            assert!(fixture
                .contacts
                .iter()
                .any(|f| f.id == c.id && f.owner == c.owner_id && f.folder == c.folder_id));
        }
    }
}

// ----- the suite has teeth -----

#[derive(Debug, Clone, Copy)]
enum Breakage {
    /// A permission denial answered 404 instead of 403.
    DenialAs404,
    /// Updates always answer the same ETag.
    ConstantEtag,
    /// `/photos` lists 648x648 whatever the original's size.
    ExtraSize,
    /// Another tenant's object can be read: its 404 becomes a 200.
    CrossTenantRead,
    /// `$value` returns altered bytes.
    FlippedValue,
    /// No photo is answered with code ImageNotFound.
    ImageNotFound,
    /// No `request-id` header.
    NoRequestId,
}

/// The real server behind a decorator that breaks its answers in one way.
struct Broken {
    inner: HttpEndpoint,
    breakage: Breakage,
    fixture: Fixture,
}

impl Broken {
    /// Whether the request names an object of another tenant than its token's.
    fn crosses_tenants(&self, request: &WireRequest) -> bool {
        let Some(claims) = request
            .header("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .and_then(|t| Claims::decode(t).ok())
        else {
            return false;
        };
        let path: Vec<String> = request
            .path
            .split('/')
            .map(|s| percent_decode_str(s).decode_utf8_lossy().to_lowercase())
            .collect();
        let names = |id: &str| path.iter().any(|s| s.eq_ignore_ascii_case(id));
        self.fixture.users.iter().any(|u| {
            !u.tenant.eq_ignore_ascii_case(&claims.tenant) && (names(&u.id) || names(&u.upn))
        }) || self
            .fixture
            .groups
            .iter()
            .any(|g| !g.tenant.eq_ignore_ascii_case(&claims.tenant) && names(&g.id))
    }
}

fn error_code(response: &WireResponse) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
    json.pointer("/error/code")?.as_str().map(str::to_owned)
}

#[async_trait]
impl Endpoint for Broken {
    async fn send(&self, request: WireRequest) -> Result<WireResponse, String> {
        let mut response = self.inner.send(request.clone()).await?;
        let path = request.path.to_ascii_lowercase();
        let get = request.method == "GET";
        match self.breakage {
            Breakage::DenialAs404 => {
                if response.status == 403 {
                    response.status = 404;
                }
            }
            Breakage::ConstantEtag => {
                if matches!(request.method.as_str(), "PUT" | "PATCH") && response.status == 200 {
                    response.set_header("etag", "\"00000000\"");
                }
            }
            Breakage::ExtraSize => {
                if get && path.ends_with("/photos") && response.status == 200 {
                    if let Ok(mut json) =
                        serde_json::from_slice::<serde_json::Value>(&response.body)
                    {
                        if let Some(list) = json.get_mut("value").and_then(|v| v.as_array_mut()) {
                            if !list.iter().any(|e| e["id"] == "648x648") {
                                list.push(serde_json::json!({
                                    "@odata.mediaEtag": "\"648\"",
                                    "id": "648x648", "width": 648, "height": 648
                                }));
                            }
                        }
                        response.body = json.to_string().into_bytes();
                        response.remove_header("content-length");
                    }
                }
            }
            Breakage::CrossTenantRead => {
                if get
                    && response.status == 404
                    && error_code(&response).as_deref() == Some("Request_ResourceNotFound")
                    && self.crosses_tenants(&request)
                {
                    response.status = 200;
                    response.body = b"{}".to_vec();
                }
            }
            Breakage::FlippedValue => {
                let value = path.ends_with("/$value") || path.ends_with("/%24value");
                if get && value && response.status == 200 && !response.body.is_empty() {
                    let middle = response.body.len() / 2;
                    response.body[middle] ^= 0x01;
                }
            }
            Breakage::ImageNotFound => {
                if error_code(&response).as_deref() == Some("ErrorEntityNotFound") {
                    let text = String::from_utf8_lossy(&response.body)
                        .replace("ErrorEntityNotFound", "ImageNotFound");
                    response.body = text.into_bytes();
                }
            }
            Breakage::NoRequestId => response.remove_header("request-id"),
        }
        Ok(response)
    }
}

/// Runs the suite against the broken server and asserts it fails on one of `rules`.
fn assert_detected(breakage: Breakage, rules: &[&str]) -> Report {
    let server = start_server();
    let fixture = fixture(&server);
    let endpoint = Broken {
        inner: HttpEndpoint::new(&server.base_url).unwrap(),
        breakage,
        fixture: fixture.clone(),
    };
    let mut options = RunOptions::new(&server.base_url, fixture);
    options.cases = 40;
    options.max_steps = 16;
    options.max_shrink_iters = 24;
    options.seed = Some(20_261_128);
    let report = conformance::run_with_endpoint(Arc::new(endpoint), options);
    println!("{breakage:?}:\n{report}");
    assert!(!report.passed(), "{breakage:?} went unnoticed:\n{report}");
    let failure = &report.failures[0];
    assert!(
        rules.contains(&failure.rule.as_str()),
        "{breakage:?} was reported under rule {} instead of {rules:?}:\n{report}",
        failure.rule
    );
    assert!(!failure.requests.is_empty());
    assert!(report.to_string().contains("FAILURE 1"));
    report
}

#[test]
fn catches_a_denial_answered_404() {
    assert_detected(Breakage::DenialAs404, &["D4", "D5"]);
}

#[test]
fn catches_an_etag_that_does_not_change() {
    assert_detected(Breakage::ConstantEtag, &["C8"]);
}

#[test]
fn catches_a_size_too_big_for_the_original() {
    assert_detected(Breakage::ExtraSize, &["C5"]);
}

#[test]
fn catches_a_cross_tenant_read() {
    assert_detected(Breakage::CrossTenantRead, &["D3"]);
}

#[test]
fn catches_altered_bytes() {
    assert_detected(Breakage::FlippedValue, &["C3"]);
}

#[test]
fn catches_a_wrong_code_for_a_missing_photo() {
    assert_detected(Breakage::ImageNotFound, &["C4"]);
}

#[test]
fn catches_a_missing_request_id() {
    assert_detected(Breakage::NoRequestId, &["C6"]);
}

// ----- tokens: a server that skips one check is caught, by name -----

/// Our own stack (seeded directory, memory store) behind an `Authenticator` built from a
/// configuration `configure` loosens: what a server that skips a check looks like.
fn start_permissive_server(configure: impl FnOnce(&mut AuthConfig)) -> TestServer {
    use adapter_http_server::{router, transport, AppState, Authenticator, Limits, UploadLimits};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let key = DevKey::test_key().clone();
    let mut config = AuthConfig::new(JwksSource::Static(key.jwks()));
    configure(&mut config);
    let (listener, app) = runtime.block_on(async {
        let auth = Arc::new(Authenticator::new(config).await.unwrap());
        let service = graph_photo::serve::photo_service(
            Arc::new(adapter_memstore::MemDirectory::seeded()),
            Arc::new(adapter_memstore::MemPhotoStore::new()),
            Arc::new(adapter_memstore::MemRenditionCache::with_capacity(64)),
            256 * 1024 * 1024,
        );
        let app = router(AppState {
            service,
            auth,
            public_base_url: None,
            uploads: UploadLimits::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        (listener, app)
    });
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(transport::serve(
        listener,
        app,
        Limits::default(),
        None,
        std::future::pending(),
    ));
    TestServer {
        base_url,
        key: Arc::new(key),
        _runtime: runtime,
        _dir: tempfile::tempdir().unwrap(),
    }
}

/// Runs the suite against `server` and asserts it fails on a token of `rule` whose variant
/// the failure names (one of `variants`).
fn assert_token_check_missing(
    server: &TestServer,
    fixture: Fixture,
    rule: &str,
    variants: &[&str],
) {
    let mut options = RunOptions::new(&server.base_url, fixture);
    options.cases = 40;
    options.max_steps = 12;
    options.max_shrink_iters = 24;
    options.seed = Some(20_261_201);
    let report = conformance::run(options);
    println!("{report}");
    assert!(
        !report.passed(),
        "the missing check went unnoticed:\n{report}"
    );
    let failure = &report.failures[0];
    assert_eq!(failure.rule, rule, "{report}");
    assert!(
        variants.iter().any(|v| failure.detail.contains(v)),
        "the failure does not name the token variant ({variants:?}):\n{report}"
    );
    assert_eq!(
        failure.requests.len(),
        1,
        "an accepted invalid token needs no other request:\n{report}"
    );
    assert!(report.per_token.values().any(|s| s.failed > 0), "{report}");
}

/// A server allowing a day of clock skew takes tokens expired an hour ago (or valid only in
/// an hour): spec D1 allows 60 seconds.
#[test]
fn catches_a_server_that_skips_the_lifetime_check() {
    let server = start_permissive_server(|config| config.leeway_secs = 24 * 3600);
    assert_token_check_missing(
        &server,
        fixture(&server),
        "D1",
        &["'expired'", "'not-yet-valid'"],
    );
}

/// A server that also accepts Azure AD Graph's audience.
#[test]
fn catches_a_server_that_accepts_another_audience() {
    let server = start_server_with(|args| {
        args.audiences = vec![
            "https://graph.microsoft.com".into(),
            "00000003-0000-0000-c000-000000000000".into(),
            "https://graph.windows.net".into(),
        ];
    });
    assert_token_check_missing(&server, fixture(&server), "D1", &["'wrong-audience'"]);
}

/// Without the key, the fixture's own list of invalid tokens: passed against our server,
/// and an accepted one is named.
#[test]
fn the_fixture_s_invalid_tokens_are_sent_and_named() {
    let expired = |server: &TestServer| {
        let request = TokenRequest::delegated(
            dev_tenant::CONTOSO_TENANT,
            dev_tenant::ADELE_ID,
            ["User.Read"],
        );
        let an_hour_ago_minus_lifetime = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 2 * 3600;
        server
            .key
            .mint_at(&request, an_hour_ago_minus_lifetime)
            .unwrap()
    };
    let with_list = |server: &TestServer| {
        let mut fixture = Fixture::for_dev_server(|c| mint(&server.key, c)).unwrap();
        fixture.invalid_tokens = vec![InvalidTokenEntry {
            name: "adele, expired".into(),
            token: expired(server),
            why: "exp an hour ago".into(),
        }];
        fixture
    };

    let server = start_server();
    let mut options = RunOptions::new(&server.base_url, with_list(&server));
    options.cases = 8;
    options.max_steps = 12;
    options.seed = Some(20_261_201);
    let report = conformance::run(options);
    assert!(report.passed(), "{report}");
    let stats = report.per_token["D1 fixture: adele, expired"];
    assert!(stats.passed > 0 && stats.failed == 0, "{report}");
    assert!(
        !report.per_token.keys().any(|k| !k.contains("fixture")),
        "no variants without a signing key:\n{report}"
    );

    let lax = start_permissive_server(|config| config.leeway_secs = 24 * 3600);
    let fixture = with_list(&lax);
    assert_token_check_missing(&lax, fixture, "D1", &["'adele, expired'"]);
}

// ----- diagnosis: setup and connection failures are named, with their cause, unshrunk -----

#[test]
fn an_unreachable_endpoint_is_a_connection_failure_at_once() {
    // A port nobody listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let key = DevKey::test_key();
    let fixture = Fixture::for_dev_server(|c| mint(key, c)).unwrap();
    let started = std::time::Instant::now();
    let report = conformance::run(RunOptions::new(&base, fixture));
    let text = report.to_string();
    println!("{text}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{text}"
    );
    let failure = &report.failures[0];
    assert_eq!(failure.rule, CONNECTION, "{text}");
    assert_eq!(failure.class(), conformance::FailureClass::Connection);
    assert!(
        failure
            .detail
            .starts_with(&format!("cannot reach {base}: connection refused")),
        "{text}"
    );
    assert_eq!(
        report.requests_sent, 1,
        "nothing sent after the first refusal"
    );
    assert_eq!(report.cases_run, 0);
    assert!(failure.requests.is_empty(), "nothing shrunk: {text}");
    assert!(
        text.contains("FAILURE 1 (connection): cannot reach"),
        "{text}"
    );
    assert!(!text.contains("spec "), "no spec rule named: {text}");
}

#[test]
fn tokens_of_a_key_the_endpoint_does_not_trust_are_a_setup_failure() {
    let server = start_server();
    let other = DevKey::other_test_key();
    let fixture = Fixture::for_dev_server(|c| mint(other, c)).unwrap();
    let report = conformance::run(RunOptions::new(&server.base_url, fixture));
    let text = report.to_string();
    println!("{text}");
    let failure = &report.failures[0];
    assert_eq!(failure.rule, SETUP, "{text}");
    assert!(failure.detail.starts_with("every token refused"), "{text}");
    assert!(failure.detail.contains("unknown key"), "the cause: {text}");
    assert!(failure.requests.is_empty(), "nothing shrunk: {text}");
    assert_eq!(report.cases_run, 0);
}

#[test]
fn a_signing_key_the_endpoint_does_not_trust_is_a_setup_failure() {
    let server = start_server();
    let mut fixture = fixture(&server);
    let mut key = graph_photo::conformance_cmd::dev_signing_key(&server.key);
    key.audience = "api://not-graph".into();
    fixture.signing_key = Some(key);
    let report = conformance::run(RunOptions::new(&server.base_url, fixture));
    let failure = &report.failures[0];
    assert_eq!(failure.rule, SETUP, "{report}");
    assert!(
        failure
            .detail
            .starts_with("the suite's own tokens are refused")
            && failure.detail.contains("api://not-graph"),
        "{report}"
    );
}

#[test]
fn fixture_objects_the_endpoint_does_not_know_are_a_setup_failure() {
    let server = start_server();
    let mut fixture = fixture(&server);
    fixture.groups.push(conformance::fixture::GroupEntry {
        id: "0badf00d-0000-4000-8000-00000000feed".into(),
        tenant: dev_tenant::CONTOSO_TENANT.into(),
    });
    let report = conformance::run(RunOptions::new(&server.base_url, fixture));
    let failure = &report.failures[0];
    assert_eq!(failure.rule, SETUP, "{report}");
    assert!(
        failure.detail.starts_with("fixture objects missing")
            && failure
                .detail
                .contains("0badf00d-0000-4000-8000-00000000feed")
            && failure.detail.contains("Request_ResourceNotFound"),
        "{report}"
    );
    assert_eq!(report.cases_run, 0);
}

/// The real server behind a transport that stops answering after some requests.
struct GoesAway {
    inner: HttpEndpoint,
    answers_left: std::sync::atomic::AtomicI64,
}

#[async_trait]
impl Endpoint for GoesAway {
    async fn send(&self, request: WireRequest) -> Result<WireResponse, String> {
        if self
            .answers_left
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
            <= 0
        {
            return Err("connection reset (simulated)".into());
        }
        self.inner.send(request).await
    }
}

#[test]
fn a_connection_lost_during_the_run_is_reported_unshrunk() {
    let server = start_server();
    let endpoint = GoesAway {
        inner: HttpEndpoint::new(&server.base_url).unwrap(),
        answers_left: 150.into(),
    };
    let mut options = RunOptions::new(&server.base_url, fixture(&server));
    options.cases = 40;
    options.seed = Some(3);
    let report = conformance::run_with_endpoint(Arc::new(endpoint), options);
    let text = report.to_string();
    println!("{text}");
    let failure = &report.failures[0];
    assert_eq!(failure.rule, CONNECTION, "{text}");
    assert!(
        failure.detail.contains("connection reset (simulated)"),
        "{text}"
    );
    assert!(report.cases_run >= 1, "the preflight passed: {text}");
    assert_eq!(
        report.requests_sent, 151,
        "no request after the failure (no shrinking): {text}"
    );
    assert_eq!(failure.requests.len(), failure.original_requests, "{text}");
}

#[test]
fn a_bad_fixture_or_url_is_a_setup_failure() {
    let fixture = Fixture::for_dev_server(|_| Ok::<_, String>("not a token".to_owned())).unwrap();
    let report = conformance::run(RunOptions::new("http://127.0.0.1:9", fixture));
    assert_eq!(report.failures[0].rule, "setup", "{report}");
}
