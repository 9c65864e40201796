//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use photo_core::target::Target;
use photo_upload::parse_target;

#[derive(Debug, Parser)]
#[command(
    name = "graph-photo",
    version,
    about = "A Microsoft Graph compatible profile-photo service, client and conformance suite."
)]
pub struct Cli {
    /// Log filter (tracing's EnvFilter syntax), e.g. `info`, `debug`, `adapter_http_server=debug`.
    #[arg(long, global = true, env = "GRAPH_PHOTO_LOG", default_value = "info")]
    pub log_level: String,

    /// Log line format on stderr: `text` (for people; coloured only on a terminal) or `json`
    /// (one JSON object per line, for log collectors).
    #[arg(
        long,
        global = true,
        env = "GRAPH_PHOTO_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// tracing's human-readable lines; ANSI colours only when stderr is a terminal.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, the event's fields (its
    /// `message` included) at the top level.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Graph-compatible photo server (photos in SQLite in the data directory unless
    /// --store says otherwise).
    // Boxed: `serve` has many more options than any other command.
    Serve(Box<ServeArgs>),
    /// Mint a development token signed with the server's development key; prints only the token.
    Token(TokenArgs),
    /// Call a Graph photo API (Microsoft Graph or a stand-in such as `serve`): upload,
    /// download, list the sizes of, or delete one photo.
    Photo(PhotoArgs),
    /// Upload a folder of photos to many targets from a CSV map (file,target): in parallel,
    /// with retries, resumable.
    Sync(SyncArgs),
    /// Run the conformance suite (a reference model of the spec, random request sequences)
    /// against a Graph-compatible endpoint; exits non-zero on any failure.
    Conformance(crate::conformance_cmd::ConformanceArgs),
    /// Write every photo of a store to a folder (one file per photo and a manifest), to move
    /// to another store or to back up.
    Export(ArchiveArgs),
    /// Store every photo of a folder written by `export` (each is validated again).
    Import(ArchiveArgs),
    /// Print a shell completion script, e.g. `graph-photo completions bash >
    /// ~/.local/share/bash-completion/completions/graph-photo`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Clone, Default, Args)]
pub struct StoreArgs {
    /// Where photos live: `sqlite:PATH` (default: graph-photo.db in the data directory),
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (any number of replicas over one
    /// database), or `memory` (lost when the process ends).
    #[arg(
        long,
        env = "GRAPH_PHOTO_STORE",
        value_name = "URL",
        hide_env_values = true
    )]
    pub store: Option<String>,
}

impl StoreArgs {
    /// The store asked for, or the SQLite file in `data_dir`.
    pub fn url(
        &self,
        data_dir: &std::path::Path,
    ) -> Result<crate::store::StoreUrl, crate::AppError> {
        match &self.store {
            Some(url) => crate::store::StoreUrl::parse(url),
            None => Ok(crate::store::StoreUrl::default_in(data_dir)),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ArchiveArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    /// Where the default SQLite store lives (when --store is not given).
    #[arg(long, env = "GRAPH_PHOTO_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// The export folder (export: new or empty).
    pub folder: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct DirArgs {
    /// Where the development signing key and the default SQLite store live.
    #[arg(long, env = "GRAPH_PHOTO_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// A directory file (JSON) to use instead of the seeded development tenant.
    #[arg(long, env = "GRAPH_PHOTO_DIRECTORY")]
    pub directory: Option<PathBuf>,
}

impl DirArgs {
    /// `--data-dir`, else the default data directory ([`crate::default_data_dir`]).
    pub fn resolved_data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(crate::default_data_dir)
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "GRAPH_PHOTO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    #[command(flatten)]
    pub dirs: DirArgs,

    #[command(flatten)]
    pub store: StoreArgs,

    /// Validate tokens against this JWKS file instead of the development key.
    #[arg(long, env = "GRAPH_PHOTO_JWKS_FILE", conflicts_with = "jwks_url")]
    pub jwks_file: Option<PathBuf>,

    /// Validate tokens against this JWKS URL (cached; refetched on an unknown key id).
    #[arg(long, env = "GRAPH_PHOTO_JWKS_URL")]
    pub jwks_url: Option<String>,

    /// Accepted token audiences (repeatable). Default: Graph's two audience forms.
    #[arg(
        long = "audience",
        env = "GRAPH_PHOTO_AUDIENCES",
        value_delimiter = ','
    )]
    pub audiences: Vec<String>,

    /// The public root used in `@odata.context`, e.g. `https://photos.example.com`.
    /// Default: `http://` plus the request's Host.
    #[arg(long, env = "GRAPH_PHOTO_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Photo versions whose rendered sizes are kept in memory (durable stores also keep them
    /// in the database, shared by replicas).
    #[arg(long, default_value_t = 256)]
    pub rendition_cache: usize,

    /// Memory for the pixels of originals being rendered into sizes, in bytes (or with a K, M
    /// or G suffix: KiB, MiB, GiB). Renders wait for room; one that needs more runs alone.
    #[arg(
        long,
        env = "GRAPH_PHOTO_RENDER_MEMORY",
        default_value = "384M",
        value_parser = parse_bytes
    )]
    pub render_memory: u64,

    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(
        long,
        env = "GRAPH_PHOTO_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key (PKCS#8, RSA or EC) of --tls-cert.
    #[arg(long, env = "GRAPH_PHOTO_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve HTTPS with a self-signed certificate for localhost, 127.0.0.1 and ::1, kept in
    /// the data directory (tls-cert.pem, tls-key.pem) and reused across restarts.
    #[arg(long)]
    pub tls_self_signed: bool,

    /// Do not print a development token on start.
    #[arg(long)]
    pub quiet: bool,

    /// Serve no `/metrics` and record no metrics. By default `/metrics` answers Prometheus
    /// text, without a token, on the API's own listener: aggregate counts and latencies by
    /// route class, no ids, paths or tokens.
    #[arg(long, env = "GRAPH_PHOTO_NO_METRICS")]
    pub no_metrics: bool,

    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub uploads: UploadArgs,
    #[command(flatten)]
    pub throttle: ThrottleArgs,
}

impl ServeArgs {
    /// The command line's defaults, quiet, on an ephemeral local port, over `data_dir` (its
    /// development key and default SQLite store): for code that runs the server in process,
    /// such as tests, without reading the environment as the command line does.
    pub fn local(data_dir: PathBuf) -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            dirs: DirArgs {
                data_dir: Some(data_dir),
                directory: None,
            },
            store: StoreArgs::default(),
            jwks_file: None,
            jwks_url: None,
            audiences: Vec::new(),
            public_url: None,
            rendition_cache: 256,
            render_memory: photo_render::DEFAULT_RENDER_MEMORY,
            tls_cert: None,
            tls_key: None,
            tls_self_signed: false,
            quiet: true,
            no_metrics: false,
            limits: LimitArgs::default(),
            uploads: UploadArgs::default(),
            throttle: ThrottleArgs::default(),
        }
    }
}

/// Connection limits of `serve` (what keeps it up under hostile or broken clients).
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Seconds a client may take to send a request head (and the TLS handshake before it);
    /// a connection that sends nothing at all is closed after this too.
    #[arg(long, env = "GRAPH_PHOTO_HEADER_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,

    /// Seconds a connection with no request in progress is kept open.
    #[arg(long, env = "GRAPH_PHOTO_IDLE_TIMEOUT", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub idle_timeout: u64,

    /// Connections served at once; more are answered 503 and closed. Default: the file
    /// limit (raised to its hard limit on start) less 64, at most 10000.
    #[arg(long, env = "GRAPH_PHOTO_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: Option<u64>,

    /// Seconds a shutdown (SIGTERM, SIGINT) waits for requests in progress before closing
    /// their connections and exiting.
    #[arg(long, env = "GRAPH_PHOTO_SHUTDOWN_GRACE", default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_grace: u64,
}

impl Default for LimitArgs {
    /// The command line's defaults (for code that builds `ServeArgs` itself).
    fn default() -> Self {
        LimitArgs {
            header_timeout: 10,
            idle_timeout: 60,
            max_connections: None,
            shutdown_grace: 30,
        }
    }
}

/// `serve` options that bound upload bodies (issue 8: stay up under hostile clients).
#[derive(Debug, Clone, Args)]
pub struct UploadArgs {
    /// Upload body bytes held in memory at once, at least the 4 MiB photo limit. An upload
    /// reserves its Content-Length (4 MiB when chunked) before its body is read; over the cap
    /// it waits (--upload-wait), then gets 503 serviceNotAvailable with Retry-After.
    #[arg(
        long,
        env = "GRAPH_PHOTO_MAX_UPLOAD_MEMORY",
        default_value = "128M",
        value_parser = parse_upload_memory,
        value_name = "BYTES"
    )]
    pub max_upload_memory: u64,

    /// Seconds an upload waits for room under --max-upload-memory before a 503.
    #[arg(
        long,
        env = "GRAPH_PHOTO_UPLOAD_WAIT",
        default_value_t = adapter_http_server::DEFAULT_UPLOAD_WAIT.as_secs(),
        value_name = "SECS"
    )]
    pub upload_wait: u64,

    /// An upload body must arrive within max(SECS, size / --body-min-rate), else 408
    /// requestTimeout, nothing stored, and the connection is closed.
    #[arg(
        long,
        env = "GRAPH_PHOTO_BODY_TIMEOUT",
        default_value_t = adapter_http_server::DEFAULT_BODY_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..),
        value_name = "SECS"
    )]
    pub body_timeout: u64,

    /// The slowest upload accepted, in bytes per second (with --body-timeout).
    #[arg(
        long,
        env = "GRAPH_PHOTO_BODY_MIN_RATE",
        default_value_t = adapter_http_server::DEFAULT_BODY_MIN_RATE,
        value_parser = clap::value_parser!(u64).range(1..),
        value_name = "BYTES_PER_SEC"
    )]
    pub body_min_rate: u64,
}

/// The same defaults as the command line (for code that builds `ServeArgs` itself).
impl Default for UploadArgs {
    fn default() -> Self {
        Self {
            max_upload_memory: adapter_http_server::DEFAULT_MAX_UPLOAD_MEMORY as u64,
            upload_wait: adapter_http_server::DEFAULT_UPLOAD_WAIT.as_secs(),
            body_timeout: adapter_http_server::DEFAULT_BODY_TIMEOUT.as_secs(),
            body_min_rate: adapter_http_server::DEFAULT_BODY_MIN_RATE,
        }
    }
}

impl UploadArgs {
    pub fn limits(&self) -> adapter_http_server::UploadLimits {
        let max_memory = usize::try_from(self.max_upload_memory).unwrap_or(usize::MAX);
        let mut limits = adapter_http_server::UploadLimits::new(max_memory);
        limits.wait = std::time::Duration::from_secs(self.upload_wait);
        limits.body_timeout = std::time::Duration::from_secs(self.body_timeout);
        limits.min_rate = self.body_min_rate;
        limits
    }
}

/// Whether and how `serve` simulates Graph's throttling (spec F1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ThrottleMode {
    /// No simulation: never a 429 of its own.
    #[default]
    Off,
    /// Graph's photo limits, which the other throttle options may change.
    Graph,
    /// Only the limits the other options give (with none, only forced answers, random
    /// failures and latency).
    Custom,
}

/// `serve` options that simulate Graph's throttling and outages (spec F1, docs/DECISIONS.md
/// "Throttling simulation"), so that clients can test their handling of them.
#[derive(Debug, Clone, Default, Args)]
pub struct ThrottleArgs {
    /// Simulate Graph's throttling: `graph` applies Graph's photo limits (4 requests in
    /// flight per app, 10000 requests per 10 minutes per app and mailbox, 150 MB uploaded per
    /// 5 minutes per app, 130000 requests per 10 s per app), `custom` only the limits given
    /// below. Over a limit: 429 TooManyRequests with Retry-After. Either also honours
    /// `Prefer: graph-photo-fail=429|503|504[; retry-after=SECS]`, which forces that answer.
    #[arg(
        long,
        env = "GRAPH_PHOTO_THROTTLE",
        value_enum,
        default_value_t = ThrottleMode::Off
    )]
    pub throttle: ThrottleMode,

    /// Requests of one app in flight at once; one more is answered 429 at once.
    #[arg(
        long,
        env = "GRAPH_PHOTO_THROTTLE_CONCURRENCY",
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub throttle_concurrency: Option<u32>,

    /// Requests of one app to one mailbox (user or group), e.g. `100/10m`, `20/2s`, `5/s`.
    #[arg(
        long,
        env = "GRAPH_PHOTO_THROTTLE_RATE",
        value_name = "N/PERIOD",
        value_parser = parse_rate
    )]
    pub throttle_rate: Option<adapter_http_server::throttle::Rate>,

    /// Requests of one app, all mailboxes together, e.g. `20/2s`.
    #[arg(
        long,
        env = "GRAPH_PHOTO_THROTTLE_APP_RATE",
        value_name = "N/PERIOD",
        value_parser = parse_rate
    )]
    pub throttle_app_rate: Option<adapter_http_server::throttle::Rate>,

    /// Upload bytes of one app, e.g. `150M/5m` (K, M, G: binary multiples; at least 4M).
    #[arg(
        long,
        env = "GRAPH_PHOTO_THROTTLE_UPLOAD_BYTES",
        value_name = "SIZE/PERIOD",
        value_parser = parse_byte_rate
    )]
    pub throttle_upload_bytes: Option<adapter_http_server::throttle::ByteRate>,

    /// The share of admitted requests answered with a random failure, from 0 to 1 (`0.05`).
    #[arg(long, env = "GRAPH_PHOTO_FAIL_RATE", value_name = "RATE", value_parser = parse_fail_rate)]
    pub fail_rate: Option<f64>,

    /// The statuses random failures draw from: 429, 503, 504 (comma-separated; default all).
    #[arg(
        long,
        env = "GRAPH_PHOTO_FAIL_STATUS",
        value_name = "STATUSES",
        value_delimiter = ',',
        value_parser = parse_fail_status
    )]
    pub fail_status: Vec<adapter_http_server::throttle::SimulatedFailure>,

    /// Seeds the random draws (failures, latency, Retry-After jitter), to replay a run.
    #[arg(long, env = "GRAPH_PHOTO_FAIL_SEED", value_name = "N")]
    pub fail_seed: Option<u64>,

    /// Added latency of every admitted request: `50ms`, or a range drawn from, `50ms..200ms`.
    #[arg(long, env = "GRAPH_PHOTO_LATENCY", value_name = "TIME[..TIME]", value_parser = parse_latency)]
    pub latency: Option<adapter_http_server::throttle::Latency>,
}

impl ThrottleArgs {
    /// The simulation asked for, `None` when it is off. A simulation option without
    /// `--throttle graph|custom` is a mistake, not something to ignore.
    pub fn config(&self) -> Result<Option<adapter_http_server::ThrottleConfig>, String> {
        use adapter_http_server::ThrottleConfig;
        let mut config = match self.throttle {
            ThrottleMode::Off => {
                let given = [
                    (
                        "--throttle-concurrency",
                        self.throttle_concurrency.is_some(),
                    ),
                    ("--throttle-rate", self.throttle_rate.is_some()),
                    ("--throttle-app-rate", self.throttle_app_rate.is_some()),
                    (
                        "--throttle-upload-bytes",
                        self.throttle_upload_bytes.is_some(),
                    ),
                    ("--fail-rate", self.fail_rate.is_some()),
                    ("--fail-status", !self.fail_status.is_empty()),
                    ("--fail-seed", self.fail_seed.is_some()),
                    ("--latency", self.latency.is_some()),
                ];
                return match given.iter().find(|(_, given)| *given) {
                    Some((option, _)) => Err(format!(
                        "{option} simulates throttling: it needs --throttle graph or --throttle custom"
                    )),
                    None => Ok(None),
                };
            }
            ThrottleMode::Graph => ThrottleConfig::graph(),
            ThrottleMode::Custom => ThrottleConfig::default(),
        };
        if let Some(n) = self.throttle_concurrency {
            config.concurrency = std::num::NonZeroU32::new(n);
        }
        if let Some(rate) = self.throttle_rate {
            config.mailbox_rate = Some(rate);
        }
        if let Some(rate) = self.throttle_app_rate {
            config.app_rate = Some(rate);
        }
        if let Some(budget) = self.throttle_upload_bytes {
            config.upload_bytes = Some(budget);
        }
        config.fail_rate = self.fail_rate.unwrap_or(0.0);
        config.fail_with = self.fail_status.clone();
        config.seed = self.fail_seed;
        config.latency = self.latency;
        Ok(Some(config))
    }
}

/// `500ms`, `2s`, `1.5s`, `10m`, `1h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let seconds_per_unit = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}; use ms, s, m or h"
            ))
        }
    };
    let number: f64 = if number.is_empty() && !unit.trim().is_empty() {
        1.0
    } else {
        number
            .parse()
            .map_err(|_| format!("{text:?} is not a duration such as 500ms, 2s or 10m"))?
    };
    std::time::Duration::try_from_secs_f64(number * seconds_per_unit)
        .map_err(|_| format!("{text:?} is not a duration such as 500ms, 2s or 10m"))
}

/// `N/PERIOD`: `100/10m`, `20/2s`, `5/s`.
fn parse_rate(text: &str) -> Result<adapter_http_server::throttle::Rate, String> {
    let (count, per) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not N/PERIOD, such as 100/10m"))?;
    let count = count
        .trim()
        .parse::<u32>()
        .ok()
        .and_then(std::num::NonZeroU32::new)
        .ok_or_else(|| format!("{count:?} is not a count of at least 1"))?;
    Ok(adapter_http_server::throttle::Rate {
        count,
        per: parse_duration(per)?,
    })
}

/// `SIZE/PERIOD`: `150M/5m`.
fn parse_byte_rate(text: &str) -> Result<adapter_http_server::throttle::ByteRate, String> {
    let (size, per) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not SIZE/PERIOD, such as 150M/5m"))?;
    let bytes = parse_bytes(size)?;
    if bytes < photo_core::limits::MAX_PHOTO_BYTES as u64 {
        return Err("at least 4M, so that a photo at the limit fits".into());
    }
    Ok(adapter_http_server::throttle::ByteRate {
        bytes,
        per: parse_duration(per)?,
    })
}

fn parse_fail_rate(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|r| (0.0..=1.0).contains(r))
        .ok_or_else(|| format!("{text:?} is not a rate from 0 to 1, such as 0.05"))
}

fn parse_fail_status(
    text: &str,
) -> Result<adapter_http_server::throttle::SimulatedFailure, String> {
    text.trim()
        .parse::<u16>()
        .ok()
        .and_then(adapter_http_server::throttle::SimulatedFailure::from_status)
        .ok_or_else(|| format!("{text:?}: random failures are 429, 503 or 504"))
}

/// `50ms` or `50ms..200ms`.
fn parse_latency(text: &str) -> Result<adapter_http_server::throttle::Latency, String> {
    let (min, max) = match text.split_once("..") {
        Some((min, max)) => (parse_duration(min)?, parse_duration(max)?),
        None => {
            let fixed = parse_duration(text)?;
            (fixed, fixed)
        }
    };
    if min > max {
        return Err(format!("{text:?}: the range's minimum comes first"));
    }
    Ok(adapter_http_server::throttle::Latency { min, max })
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The signed-in user, by id or userPrincipalName (looked up in the directory). Omit with --app.
    #[arg(long, required_unless_present = "app")]
    pub user: Option<String>,

    /// Delegated permissions (space- or comma-separated), e.g. "User.ReadWrite Contacts.ReadWrite".
    #[arg(long, default_value = "")]
    pub scopes: String,

    /// Application permissions (space- or comma-separated), e.g. "ProfilePhoto.ReadWrite.All".
    #[arg(long, default_value = "")]
    pub roles: String,

    /// Mint an application token (no signed-in user).
    #[arg(long, conflicts_with = "user")]
    pub app: bool,

    /// The tenant id. Default: the user's tenant, or the first tenant of the directory for --app.
    #[arg(long)]
    pub tenant: Option<String>,

    /// Directory role template ids (`wids`). Default: the roles the user holds in the directory.
    #[arg(long)]
    pub wids: Option<String>,

    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub lifetime: u64,

    /// The `aud` claim.
    #[arg(long, default_value = "https://graph.microsoft.com")]
    pub audience: String,

    #[command(flatten)]
    pub dirs: DirArgs,
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// For a person.
    Text,
    /// For a program: JSON.
    Json,
}

/// How to reach and authenticate to a Graph photo API.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The API's root, with or without its version: `http://127.0.0.1:8080` (meaning its
    /// `/v1.0`) for `graph-photo serve`, or `.../beta`.
    #[arg(long = "base", env = "GRAPH_PHOTO_BASE", default_value = adapter_graph_client::GRAPH_V1)]
    pub base: String,

    /// A PEM file of CA certificates to trust as well as the built-in roots and the system's
    /// trust store, e.g. the `cert.pem` that `serve --tls-self-signed` writes. Repeatable.
    #[arg(long, env = "GRAPH_PHOTO_CACERT", value_name = "FILE")]
    pub cacert: Vec<PathBuf>,

    /// Accept any server certificate (development against a throwaway server only: anyone
    /// on the path can read and change the traffic).
    #[arg(long)]
    pub insecure: bool,

    /// The access token (a JWT, with or without `Bearer `).
    #[arg(long, env = "GRAPH_PHOTO_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// A shell command that prints an access token (wins over --token), e.g.
    /// "az account get-access-token --resource-type ms-graph --query accessToken -o tsv".
    /// Its token is reused until a minute before its `exp` (5 minutes when it has none) or
    /// until the server answers 401; then the command runs again.
    #[arg(long, env = "GRAPH_PHOTO_TOKEN_COMMAND")]
    pub token_command: Option<String>,

    /// Attempts per call, the first included, when unavailable (503, 504) or throttled
    /// without a Retry-After. A 429 with a Retry-After is waited out as told, within the
    /// call's time budget (a minute; ten for each upload of `sync`).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub max_attempts: u32,

    /// Seconds one attempt may take.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
}

/// `402653184`, `393216K`, `384M` or `1G` (binary multiples; `KiB`/`MiB`/`GiB` too): at least
/// 1 MiB.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KIB" => 10,
        "M" | "MIB" => 20,
        "G" | "GIB" => 30,
        _ => return Err(format!("unknown unit {unit:?}; use K, M or G")),
    };
    let bytes = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("{text:?} is not a number of bytes"))?;
    if bytes < 1 << 20 {
        return Err("at least 1M".into());
    }
    Ok(bytes)
}

/// `--max-upload-memory`: like [`parse_bytes`], and at least one photo's worth (4 MiB), or no
/// upload could ever start.
fn parse_upload_memory(text: &str) -> Result<u64, String> {
    let bytes = parse_bytes(text)?;
    let one_photo = photo_core::validation::MAX_PHOTO_BYTES as u64;
    if bytes < one_photo {
        return Err(format!("at least {one_photo} (4M), the size of one photo"));
    }
    Ok(bytes)
}

/// An `If-Match` value as the server must see it: `*`, or one quoted entity tag. A bare tag
/// (the shell ate its quotes, or it was copied from `@odata.mediaEtag` without them) is quoted,
/// because the server reads an unquoted tag as matching nothing (spec B7).
pub fn parse_entity_tag(text: &str) -> Result<String, String> {
    let text = text.trim();
    let quoted = |t: &str| t.len() >= 2 && t.starts_with('"') && t.ends_with('"');
    if text == "*" || quoted(text) || text.strip_prefix("W/").is_some_and(quoted) {
        return Ok(text.to_owned());
    }
    if text.is_empty() || text.contains(['"', ',']) || !text.is_ascii() {
        return Err(format!(
            "'{text}' is not an ETag (expected \"TAG\", TAG or *)"
        ));
    }
    Ok(format!("\"{text}\""))
}

#[derive(Debug, Clone, Args)]
pub struct PhotoArgs {
    #[command(subcommand)]
    pub action: PhotoAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum PhotoAction {
    /// Upload FILE as TARGET's photo (PUT .../photo/$value); prints the new ETag.
    Put(PhotoPutArgs),
    /// Download TARGET's photo (or one size of it, or its metadata as JSON).
    Get(PhotoGetArgs),
    /// List the available sizes of TARGET's photo (JSON).
    Sizes(PhotoSizesArgs),
    /// Delete TARGET's photo.
    Delete(PhotoDeleteArgs),
}

#[derive(Debug, Clone, Args)]
pub struct PhotoPutArgs {
    /// me, users/ID, groups/ID, me/contacts/ID, users/ID/contactFolders/F/contacts/C.
    #[arg(value_parser = parse_target)]
    pub target: Target,

    /// The image (JPEG, PNG, GIF or BMP; at most 4 MiB and 10,000 px a side unless --fit).
    pub file: PathBuf,

    /// Only if the current photo has this ETag (`*`: only if there is one). The quotes of the
    /// ETag may be left out (a shell strips them anyway); they are added.
    #[arg(long, value_parser = parse_entity_tag)]
    pub if_match: Option<String>,

    /// Send PATCH instead of PUT.
    #[arg(long)]
    pub patch: bool,

    /// Downscale and re-encode as JPEG when the image is too large for Graph.
    #[arg(long)]
    pub fit: bool,

    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct PhotoGetArgs {
    /// me, users/ID, groups/ID, me/contacts/ID, users/ID/contactFolders/F/contacts/C.
    #[arg(value_parser = parse_target)]
    pub target: Target,

    /// Where to write the bytes (or the metadata). Default: standard output. (No `-o`: in
    /// `az` and here, `-o` is `--output`, a format.)
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// One size of the photo, e.g. `96x96` (see `photo sizes`).
    #[arg(long)]
    pub size: Option<String>,

    /// Print the metadata (JSON) instead of the bytes.
    #[arg(long)]
    pub metadata: bool,

    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct PhotoSizesArgs {
    /// me, users/ID or groups/ID.
    #[arg(value_parser = parse_target)]
    pub target: Target,

    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct PhotoDeleteArgs {
    /// me, users/ID or groups/ID (contact photos cannot be deleted).
    #[arg(value_parser = parse_target)]
    pub target: Target,

    /// Only if the current photo has this ETag (quotes may be left out, as for `photo put`).
    #[arg(long, value_parser = parse_entity_tag)]
    pub if_match: Option<String>,

    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// The folder the map's file names are relative to.
    pub dir: PathBuf,

    /// CSV rows `file,target` (a `file,target` header row is optional; `#` starts a comment).
    #[arg(long)]
    pub map: PathBuf,

    /// Uploads in flight at once (Graph allows 4 concurrent photo requests per app).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,

    /// What was uploaded (content hash and ETag per target), to skip it next time.
    /// Default: DIR/.graph-photo-sync.json. During a run, uploads are appended in batches to
    /// STATE.journal beside it, folded into STATE at the end; a killed run loses at most its
    /// last batch, whose photos the next run uploads again. One run at a time per state file.
    #[arg(long)]
    pub state: Option<PathBuf>,

    /// Print what would be uploaded or skipped; upload nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Downscale and re-encode as JPEG the images too large for Graph.
    #[arg(long)]
    pub fit: bool,

    /// `text`: a summary for a person; `json`: one JSON object per row on standard output
    /// (line, file, target, outcome, etag, bytes, fitted, code, message, request_id), for
    /// scripts. The exit status is the same either way.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text, env = "GRAPH_PHOTO_OUTPUT")]
    pub output: OutputFormat,

    #[command(flatten)]
    pub client: ClientArgs,
}

/// Splits a permission list given with spaces or commas.
pub fn split_list(list: &str) -> Vec<String> {
    list.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("384M"), Ok(384 << 20));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        assert_eq!(parse_bytes("2048KiB"), Ok(2 << 20));
        assert_eq!(parse_bytes("402653184"), Ok(402_653_184));
        assert_eq!(parse_upload_memory("4M"), Ok(4 << 20));
        assert!(parse_upload_memory("3M").is_err());
        // The defaults written as text in the arguments are the library's defaults.
        assert_eq!(
            parse_upload_memory("128M"),
            Ok(adapter_http_server::DEFAULT_MAX_UPLOAD_MEMORY as u64)
        );
        assert_eq!(parse_bytes("384M"), Ok(photo_render::DEFAULT_RENDER_MEMORY));
        for bad in ["", "M", "12", "1T", "-1M", "1.5G", "99999999999999999999G"] {
            assert!(parse_bytes(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn entity_tags_are_quoted_once() {
        assert_eq!(parse_entity_tag("ABC123").as_deref(), Ok("\"ABC123\""));
        assert_eq!(parse_entity_tag("\"ABC123\"").as_deref(), Ok("\"ABC123\""));
        assert_eq!(parse_entity_tag("W/\"ABC\"").as_deref(), Ok("W/\"ABC\""));
        assert_eq!(parse_entity_tag(" * ").as_deref(), Ok("*"));
        for bad in ["", "\"open", "a,b", "caf\u{e9}"] {
            assert!(parse_entity_tag(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn photo_and_sync_arguments() {
        let cli = Cli::try_parse_from([
            "graph-photo",
            "photo",
            "put",
            "users/u1",
            "a.jpg",
            "--base",
            "http://h/v1.0",
            "--token",
            "t",
            "--if-match",
            "\"E\"",
            "--patch",
            "--fit",
        ])
        .unwrap();
        let Command::Photo(PhotoArgs {
            action: PhotoAction::Put(put),
        }) = cli.command
        else {
            panic!("not photo put")
        };
        assert_eq!(put.target, Target::User("u1".into()));
        assert!(put.patch && put.fit);
        assert_eq!(put.client.base, "http://h/v1.0");

        let cli = Cli::try_parse_from([
            "graph-photo",
            "sync",
            "photos",
            "--map",
            "m.csv",
            "--dry-run",
        ])
        .unwrap();
        let Command::Sync(sync) = cli.command else {
            panic!("not sync")
        };
        assert_eq!(sync.concurrency, 4);
        assert!(sync.dry_run && !sync.fit);

        assert!(Cli::try_parse_from(["graph-photo", "photo", "get", "nope/x"]).is_err());
        assert!(Cli::try_parse_from([
            "graph-photo",
            "sync",
            "d",
            "--map",
            "m",
            "--concurrency",
            "0"
        ])
        .is_err());
    }

    #[test]
    fn lists_split_on_spaces_and_commas() {
        assert_eq!(
            split_list(" User.Read,Contacts.Read  Group.Read.All,"),
            vec!["User.Read", "Contacts.Read", "Group.Read.All"]
        );
    }
}

#[cfg(test)]
mod throttle_tests {
    use std::time::Duration;

    use adapter_http_server::throttle::{Latency, SimulatedFailure};
    use adapter_http_server::ThrottleConfig;
    use clap::Parser;

    use super::*;

    fn serve(args: &[&str]) -> Result<Box<ServeArgs>, clap::Error> {
        let cli = Cli::try_parse_from(["graph-photo", "serve"].iter().chain(args))?;
        match cli.command {
            Command::Serve(args) => Ok(args),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn durations_rates_and_latencies() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("s"), Ok(Duration::from_secs(1)));
        for bad in ["", "ms5", "1d", "1..2s", "-1s", "fast"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        let rate = parse_rate("100/10m").unwrap();
        assert_eq!(
            (rate.count.get(), rate.per),
            (100, Duration::from_secs(600))
        );
        assert_eq!(parse_rate("5/s").unwrap().per, Duration::from_secs(1));
        for bad in ["100", "0/1s", "x/1s", "10/1d"] {
            assert!(parse_rate(bad).is_err(), "{bad:?}");
        }
        let bytes = parse_byte_rate("150M/5m").unwrap();
        assert_eq!(
            (bytes.bytes, bytes.per),
            (150 << 20, Duration::from_secs(300))
        );
        assert!(parse_byte_rate("3M/5m").is_err(), "smaller than one photo");
        assert_eq!(
            parse_latency("50ms..200ms"),
            Ok(Latency {
                min: Duration::from_millis(50),
                max: Duration::from_millis(200)
            })
        );
        assert_eq!(
            parse_latency("20ms"),
            Ok(Latency {
                min: Duration::from_millis(20),
                max: Duration::from_millis(20)
            })
        );
        assert!(parse_latency("2s..1s").is_err());
        assert_eq!(parse_fail_rate("0.05"), Ok(0.05));
        assert!(parse_fail_rate("1.5").is_err());
        assert_eq!(
            parse_fail_status("503"),
            Ok(SimulatedFailure::ServiceUnavailable)
        );
        assert!(parse_fail_status("500").is_err());
    }

    #[test]
    fn throttling_is_off_unless_asked_for() {
        assert_eq!(serve(&[]).unwrap().throttle.config(), Ok(None));
        let error = serve(&["--fail-rate", "0.1"])
            .unwrap()
            .throttle
            .config()
            .unwrap_err();
        assert!(
            error.contains("--fail-rate") && error.contains("--throttle"),
            "{error}"
        );
        assert!(serve(&["--throttle", "sometimes"]).is_err());
    }

    #[test]
    fn graph_mode_is_graphs_limits_and_options_change_them() {
        let graph = serve(&["--throttle", "graph"]).unwrap().throttle.config();
        assert_eq!(graph, Ok(Some(ThrottleConfig::graph())));
        let args = serve(&[
            "--throttle",
            "graph",
            "--throttle-concurrency",
            "2",
            "--fail-rate",
            "0.05",
            "--fail-status",
            "429,503",
            "--fail-seed",
            "9",
            "--latency",
            "10ms..20ms",
        ])
        .unwrap();
        let config = args.throttle.config().unwrap().unwrap();
        assert_eq!(config.concurrency.map(|n| n.get()), Some(2));
        assert_eq!(config.mailbox_rate, ThrottleConfig::graph().mailbox_rate);
        assert_eq!(config.fail_rate, 0.05);
        assert_eq!(
            config.fail_with,
            [
                SimulatedFailure::TooManyRequests,
                SimulatedFailure::ServiceUnavailable
            ]
        );
        assert_eq!(config.seed, Some(9));
        assert!(config.latency.is_some());
    }

    #[test]
    fn custom_mode_has_only_the_limits_given() {
        let args = serve(&[
            "--throttle",
            "custom",
            "--throttle-app-rate",
            "20/2s",
            "--throttle-rate",
            "100/10m",
            "--throttle-upload-bytes",
            "8M/1m",
        ])
        .unwrap();
        let config = args.throttle.config().unwrap().unwrap();
        assert_eq!(config.concurrency, None);
        assert_eq!(config.app_rate.map(|r| r.count.get()), Some(20));
        assert_eq!(
            config.mailbox_rate.map(|r| r.per),
            Some(Duration::from_secs(600))
        );
        assert_eq!(config.upload_bytes.map(|b| b.bytes), Some(8 << 20));
        let bare = serve(&["--throttle", "custom"]).unwrap().throttle.config();
        assert_eq!(bare, Ok(Some(ThrottleConfig::default())));
    }
}
