//! `graph-photo serve`: the server over the store `--store` names (SQLite by default).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use adapter_http_server::auth::{AuthConfig, JwksSource};
use adapter_http_server::ops::{self, Operations, RenderMetrics};
use adapter_http_server::throttle::SimulatedFailure;
use adapter_http_server::tls::{self, SelfSignedFiles};
use adapter_http_server::{transport, AppState, Authenticator, Limits, Throttle, ThrottleConfig};
use adapter_memstore::MemDirectory;
use dev_tokens::{DevKey, TokenRequest};
use photo_core::ports::{Directory, PhotoStore, RenditionCache};
use photo_core::service::PhotoService;
use photo_render::TokioRenderer;
use tokio::net::TcpListener;

use crate::cli::{LimitArgs, ServeArgs};
use crate::store::{StoreUrl, Stores};
use crate::telemetry::{MeteredPhotoStore, MeteredRenditionCache};
use crate::token::load_directory;
use crate::AppError;

/// The scopes of the token printed on start: enough for every call on the seeded tenant.
const BANNER_SCOPES: [&str; 4] = [
    "User.ReadWrite",
    "User.ReadBasic.All",
    "Group.ReadWrite.All",
    "Contacts.ReadWrite",
];

/// A server that is listening and ready to be served.
pub struct Server {
    listener: TcpListener,
    app: axum::Router,
    pub addr: SocketAddr,
    pub directory: Arc<MemDirectory>,
    pub dev_key: Option<Arc<DevKey>>,
    /// Serving HTTPS (`--tls-cert`/`--tls-key` or `--tls-self-signed`), else plain http.
    pub tls: Option<Tls>,
    /// The connection limits it serves under.
    pub limits: Limits,
    /// Where its photos live.
    pub store: StoreUrl,
    /// The throttling it simulates (`--throttle`), if any.
    pub throttle: Option<ThrottleConfig>,
    /// Whether `/metrics` is served.
    pub metrics: bool,
}

/// Descriptors kept free of connections for everything else: the listener, logs, the JWKS
/// fetch, the runtime's own, a burst of connections being refused.
const RESERVED_FILES: u64 = 64;

/// The default connection limit never exceeds this, however high the file limit.
const DEFAULT_MAX_CONNECTIONS: u64 = 10_000;

/// Raises the soft limit of open files to the hard limit (each connection is one) and returns
/// the limit in force, or `None` where the platform has none to read.
fn raise_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let before = rlimit::Resource::NOFILE.get().ok().map(|(soft, _)| soft);
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(now) => {
                tracing::info!(
                    limit = now,
                    before = before.unwrap_or(now),
                    "open file limit"
                );
                Some(now)
            }
            Err(error) => {
                tracing::warn!(%error, limit = ?before, "cannot raise the open file limit");
                before
            }
        }
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The limits the arguments ask for; the connection limit defaults to what the file limit
/// allows.
fn limits(args: &LimitArgs, file_limit: Option<u64>) -> Limits {
    let fits = file_limit.map(|limit| limit.saturating_sub(RESERVED_FILES).max(1));
    let max_connections = match (args.max_connections, fits) {
        (Some(asked), Some(fits)) if asked > fits => {
            tracing::warn!(
                max_connections = asked,
                file_limit = ?file_limit,
                "--max-connections is above what the open file limit allows; new connections may fail with EMFILE"
            );
            asked
        }
        (Some(asked), _) => asked,
        (None, fits) => fits
            .unwrap_or(DEFAULT_MAX_CONNECTIONS)
            .min(DEFAULT_MAX_CONNECTIONS),
    };
    Limits {
        header_timeout: Duration::from_secs(args.header_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
    }
}

/// How HTTPS is served.
pub struct Tls {
    config: Arc<tls::ServerConfig>,
    /// The self-signed certificate clients must trust (`--tls-self-signed`).
    pub self_signed_cert: Option<PathBuf>,
}

/// The TLS configuration the arguments ask for, if any.
fn tls_setup(args: &ServeArgs) -> Result<Option<Tls>, AppError> {
    let tls_error = |e: tls::TlsError| AppError::Usage(format!("TLS: {e}"));
    if args.tls_self_signed {
        let data_dir = args.dirs.resolved_data_dir();
        let files = SelfSignedFiles::load_or_create(&data_dir).map_err(tls_error)?;
        let config =
            tls::server_config_from_files(&files.cert_path, &files.key_path).map_err(tls_error)?;
        return Ok(Some(Tls {
            config,
            self_signed_cert: Some(files.cert_path),
        }));
    }
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Ok(Some(Tls {
            config: tls::server_config_from_files(cert, key).map_err(tls_error)?,
            self_signed_cert: None,
        })),
        (None, None) => Ok(None),
        _ => Err(AppError::Usage(
            "--tls-cert and --tls-key go together".into(),
        )),
    }
}

/// The use cases over the given ports as the server runs them: renders go to a
/// [`TokioRenderer`] with one render per core within `render_memory` bytes of decoded pixels.
/// `graph-photo serve` and the in-process end-to-end tests both build the service here, so the
/// tests exercise the production renderer rather than an inline one.
pub fn photo_service(
    directory: Arc<dyn Directory>,
    store: Arc<dyn PhotoStore>,
    cache: Arc<dyn RenditionCache>,
    render_memory: u64,
) -> Arc<PhotoService> {
    Arc::new(PhotoService::new(
        directory,
        store,
        cache,
        Arc::new(TokioRenderer::for_cores(render_memory)),
    ))
}

/// Builds the whole stack and binds the listener.
pub async fn bind(args: &ServeArgs) -> Result<Server, AppError> {
    let throttle_config = args.throttle.config().map_err(AppError::Usage)?;
    let throttle = throttle_config
        .clone()
        .map(Throttle::new)
        .transpose()
        .map_err(|e| AppError::Usage(format!("--throttle: {e}")))?;
    let limits = limits(&args.limits, raise_file_limit());
    let directory = Arc::new(load_directory(args.dirs.directory.as_deref())?);
    let tls = tls_setup(args)?;

    let (jwks, dev_key) = match (&args.jwks_file, &args.jwks_url) {
        (Some(file), _) => (JwksSource::File(file.clone()), None),
        (None, Some(url)) => (JwksSource::Url(url.clone()), None),
        (None, None) => {
            let data_dir = args.dirs.resolved_data_dir();
            let key = Arc::new(DevKey::load_or_create(&data_dir)?);
            (JwksSource::Static(key.jwks()), Some(key))
        }
    };
    let mut auth_config = AuthConfig::new(jwks);
    if !args.audiences.is_empty() {
        auth_config.audiences = args.audiences.clone();
    }
    let auth = Arc::new(Authenticator::new(auth_config).await?);

    let data_dir = args.dirs.resolved_data_dir();
    let stores = Stores::open(args.store.url(&data_dir)?, args.rendition_cache).await?;
    let store = stores.url.clone();
    // Metrics: the process's recorder, and the store and cache measured through it.
    let prometheus = if args.no_metrics {
        None
    } else {
        crate::telemetry::prometheus()
    };
    let (photos, renditions): (Arc<dyn PhotoStore>, Arc<dyn RenditionCache>) =
        if prometheus.is_some() {
            (
                Arc::new(MeteredPhotoStore::new(stores.photos)),
                Arc::new(MeteredRenditionCache::new(stores.renditions)),
            )
        } else {
            (stores.photos, stores.renditions)
        };
    let service = photo_service(
        Arc::clone(&directory) as _,
        photos,
        renditions,
        args.render_memory,
    );
    let metrics = prometheus.is_some();
    let operations = Operations {
        metrics: prometheus.map(|handle| -> RenderMetrics { Arc::new(move || handle.render()) }),
        ..Operations::default()
    };
    let app = ops::router(
        AppState {
            service,
            auth,
            public_base_url: args.public_url.clone(),
            uploads: args.uploads.limits(),
            throttle,
        },
        operations,
    );

    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|error| AppError::Listen {
            addr: args.listen.clone(),
            error,
        })?;
    let addr = listener.local_addr().map_err(AppError::Serve)?;
    Ok(Server {
        listener,
        app,
        addr,
        directory,
        dev_key,
        tls,
        limits,
        store,
        throttle: throttle_config,
        metrics,
    })
}

impl Server {
    /// Serves until `shutdown` resolves, then lets in-flight requests finish within the
    /// shutdown grace period and returns (closing the connections still open).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        tracing::info!(
            header_timeout_secs = self.limits.header_timeout.as_secs(),
            idle_timeout_secs = self.limits.idle_timeout.as_secs(),
            max_connections = self.limits.max_connections,
            shutdown_grace_secs = self.limits.shutdown_grace.as_secs(),
            "connection limits"
        );
        let tls = self.tls.map(|tls| tls.config);
        transport::serve(self.listener, self.app, self.limits, tls, shutdown)
            .await
            .map_err(AppError::Serve)
    }

    /// `https` when serving TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// What a person needs for a first call: where it listens, the directory's ids, a token.
    pub fn banner(&self, with_token: bool) -> String {
        let mut out = format!(
            "graph-photo listening on {scheme}://{addr} (API roots {scheme}://{addr}/v1.0 and {scheme}://{addr}/beta)\n",
            addr = self.addr,
            scheme = self.scheme()
        );
        out.push_str(&match &self.store {
            StoreUrl::Memory => {
                "store: memory (photos are lost when the process ends; --store sqlite:PATH keeps them)\n"
                    .to_owned()
            }
            store => format!("store: {store}\n"),
        });
        out.push_str(&format!(
            "operate: {scheme}://{addr}/healthz (up), /readyz (store reachable){metrics}\n",
            addr = self.addr,
            scheme = self.scheme(),
            metrics = if self.metrics {
                ", /metrics (Prometheus)"
            } else {
                ""
            }
        ));
        if let Some(throttle) = &self.throttle {
            out.push_str(&throttle_banner(throttle));
        }
        let cert = self.tls.as_ref().and_then(|t| t.self_signed_cert.as_ref());
        if let Some(cert) = cert {
            out.push_str(&format!(
                "TLS: self-signed certificate for {names}: {cert}\n  trust it: NODE_EXTRA_CA_CERTS={cert} (Node), SSL_CERT_FILE={cert} or httpx verify= (Python), curl --cacert {cert}\n",
                names = tls::SELF_SIGNED_NAMES.join(", "),
                cert = cert.display()
            ));
        }
        for tenant in &self.directory.data().tenants {
            out.push_str(&format!(
                "\ntenant {} ({})\n",
                tenant.display_name, tenant.id
            ));
            for user in &tenant.users {
                let roles = if user.directory_roles.is_empty() {
                    String::new()
                } else {
                    format!("  roles: {}", user.directory_roles.join(","))
                };
                out.push_str(&format!(
                    "  user    {}  {}  {}{roles}\n",
                    user.id, user.user_principal_name, user.display_name
                ));
            }
            for group in &tenant.groups {
                out.push_str(&format!("  group   {}  {}\n", group.id, group.display_name));
            }
            for folder in &tenant.contact_folders {
                out.push_str(&format!(
                    "  folder  {}  {} (owner {})\n",
                    folder.id, folder.display_name, folder.owner_id
                ));
            }
            for contact in &tenant.contacts {
                out.push_str(&format!(
                    "  contact {}  {} (owner {}{})\n",
                    contact.id,
                    contact.display_name,
                    contact.owner_id,
                    contact
                        .folder_id
                        .as_ref()
                        .map(|f| format!(", folder {f}"))
                        .unwrap_or_default()
                ));
            }
        }
        if let (true, Some(token)) = (with_token, self.first_user_token()) {
            out.push_str(&format!(
                "\nA development token for {} ({}; valid 24 h):\n  export TOKEN={token}\nUpload a photo:\n  curl -T photo.jpg{cacert} -H \"Authorization: Bearer $TOKEN\" '{}://{}/v1.0/me/photo/$value'\n",
                token.1, BANNER_SCOPES.join(" "), self.scheme(), self.addr, token = token.0,
                cacert = cert.map(|c| format!(" --cacert {}", c.display())).unwrap_or_default()
            ));
        }
        out
    }

    fn first_user_token(&self) -> Option<(String, String)> {
        let key = self.dev_key.as_ref()?;
        let tenant = self
            .directory
            .data()
            .tenants
            .iter()
            .find(|t| !t.users.is_empty())?;
        let user = tenant.users.first()?;
        let mut request = TokenRequest::delegated(&tenant.id, &user.id, BANNER_SCOPES);
        request.upn = Some(user.user_principal_name.clone());
        request.directory_roles = user.directory_roles.clone();
        request.lifetime = std::time::Duration::from_secs(24 * 3600);
        let token = key.mint(&request).ok()?;
        Some((token, user.user_principal_name.clone()))
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// The banner's lines for `--throttle`: a server that fails on purpose must say so loudly.
fn throttle_banner(config: &ThrottleConfig) -> String {
    fn period(per: Duration) -> String {
        let secs = per.as_secs_f64();
        if secs >= 60.0 && secs % 60.0 == 0.0 {
            format!("{} min", secs / 60.0)
        } else {
            format!("{secs} s")
        }
    }
    let mut limits = Vec::new();
    if let Some(n) = config.concurrency {
        limits.push(format!("{n} requests in flight per app"));
    }
    if let Some(rate) = config.app_rate {
        limits.push(format!(
            "{} requests per {} per app",
            rate.count,
            period(rate.per)
        ));
    }
    if let Some(rate) = config.mailbox_rate {
        limits.push(format!(
            "{} requests per {} per app and mailbox",
            rate.count,
            period(rate.per)
        ));
    }
    if let Some(budget) = config.upload_bytes {
        limits.push(format!(
            "{} bytes uploaded per {} per app",
            budget.bytes,
            period(budget.per)
        ));
    }
    let mut out = String::from(
        "THROTTLING SIMULATION ON: this server fails requests on purpose (--throttle)\n",
    );
    if limits.is_empty() {
        out.push_str("  limits: none\n");
    } else {
        out.push_str(&format!(
            "  429 TooManyRequests with Retry-After over: {}\n",
            limits.join(", ")
        ));
    }
    if config.fail_rate > 0.0 {
        let statuses: &[SimulatedFailure] = if config.fail_with.is_empty() {
            &SimulatedFailure::ALL
        } else {
            &config.fail_with
        };
        let statuses: Vec<String> = statuses.iter().map(|f| f.status().to_string()).collect();
        out.push_str(&format!(
            "  random failures: {}% of requests, answered {}{}\n",
            config.fail_rate * 100.0,
            statuses.join(", "),
            config
                .seed
                .map(|seed| format!(" (seed {seed})"))
                .unwrap_or_default()
        ));
    }
    if let Some(latency) = config.latency {
        if latency.min == latency.max {
            out.push_str(&format!("  added latency: {:?}\n", latency.min));
        } else {
            out.push_str(&format!(
                "  added latency: {:?} to {:?}\n",
                latency.min, latency.max
            ));
        }
    }
    out.push_str(
        "  one answer on demand: Prefer: graph-photo-fail=429|503|504[; retry-after=SECS]\n",
    );
    out
}
