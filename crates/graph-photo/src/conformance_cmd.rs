//! `graph-photo conformance`: run the conformance suite against an endpoint.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use conformance::{Fixture, Report, RunOptions, SigningKey, TokenClaims};
use dev_tokens::{DevKey, TokenRequest, DEV_APP_ID, GRAPH_AUDIENCE};
use photo_core::target::ApiVersion;

use crate::cli::OutputFormat;
use crate::{default_data_dir, AppError};

#[derive(Debug, Clone, Args)]
pub struct ConformanceArgs {
    /// The endpoint's root, as for `photo` and `sync`: with or without a version segment
    /// (`http://127.0.0.1:8080` or `.../v1.0`); the suite calls both `/v1.0` and `/beta` under it.
    #[arg(
        long,
        env = "GRAPH_PHOTO_BASE",
        default_value = "http://127.0.0.1:8080"
    )]
    pub base: String,

    /// The fixture (principals' tokens and directory objects) of the endpoint, as JSON
    /// (docs/CONFORMANCE.md). Default: graph-photo's seeded development tenant, with tokens
    /// minted by the development key in --data-dir, for a `graph-photo serve` at --base.
    #[arg(long)]
    pub fixture: Option<PathBuf>,

    /// Request sequences to generate.
    #[arg(long, default_value_t = 64)]
    pub cases: u32,

    /// Seed of the generator (a run with the same seed sends the same sequences).
    #[arg(long)]
    pub seed: Option<u64>,

    /// The longest sequence, in requests.
    #[arg(long, default_value_t = 16)]
    pub max_steps: usize,

    /// Where the development signing key lives (for the default fixture).
    #[arg(long, env = "GRAPH_PHOTO_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,

    /// `text`: the report for a person; `json`: the report as one JSON object (cases_run,
    /// seed, requests_sent, failures with rule/detail/requests, per_rule, per_token).
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text, env = "GRAPH_PHOTO_OUTPUT")]
    pub output: OutputFormat,

    #[command(subcommand)]
    pub action: Option<ConformanceAction>,
}

/// What `conformance` does instead of a run.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ConformanceAction {
    /// Write the fixture of a `graph-photo serve` (its seeded tenant, tokens minted by the
    /// development key in --data-dir, and that key, so the suite also sends invalid tokens):
    /// a starting point to edit for another server (docs/CONFORMANCE.md).
    Fixture {
        /// Where to write it (JSON). Default: standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// The fixture for graph-photo's own development server, carrying its key so that the suite
/// also sends every invalid token variant (expired, wrong audience, bad signature, ...).
pub fn dev_server_fixture(key: &DevKey) -> Result<Fixture, AppError> {
    let mut fixture = Fixture::for_dev_server(|claims: &TokenClaims| {
        let mut request = match &claims.user_id {
            Some(user) => TokenRequest::delegated(&claims.tenant, user, claims.scopes.clone()),
            None => TokenRequest::application(&claims.tenant, DEV_APP_ID, claims.roles.clone()),
        };
        request.upn = claims.upn.clone();
        request.directory_roles = claims.directory_roles.clone();
        if claims.user_id.is_some() {
            request.roles = claims.roles.clone();
        }
        request.lifetime = Duration::from_secs(6 * 3600);
        key.mint(&request)
    })?;
    fixture.signing_key = Some(dev_signing_key(key));
    Ok(fixture)
}

/// The fixture's `signingKey` for a server that trusts `key`: development tokens' audience
/// and issuer form.
pub fn dev_signing_key(key: &DevKey) -> SigningKey {
    SigningKey {
        private_key_pem: key.private_key_pem().to_owned(),
        kid: key.kid().to_owned(),
        audience: GRAPH_AUDIENCE.to_owned(),
        issuer_format: None,
    }
}

/// `graph-photo conformance fixture`: the development server's fixture, as JSON.
pub fn write_fixture(
    args: &ConformanceArgs,
    out: Option<&std::path::Path>,
) -> Result<(), AppError> {
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let json = dev_server_fixture(&DevKey::load_or_create(&data_dir)?)?.to_json();
    match out {
        Some(path) => std::fs::write(path, json + "\n")
            .map_err(|e| AppError::Usage(format!("cannot write {}: {e}", path.display()))),
        None => {
            println!("{json}");
            Ok(())
        }
    }
}

/// The report as the chosen `--output` prints it.
pub fn render(report: &Report, output: OutputFormat) -> String {
    match output {
        OutputFormat::Text => report.to_string(),
        OutputFormat::Json => serde_json::to_string_pretty(report).unwrap_or_default(),
    }
}

/// Runs the suite; the report is printed by the caller. Blocking.
pub fn run(args: &ConformanceArgs) -> Result<Report, AppError> {
    let fixture = match &args.fixture {
        Some(path) => {
            let json = std::fs::read_to_string(path)
                .map_err(|e| AppError::Usage(format!("cannot read {}: {e}", path.display())))?;
            Fixture::from_json(&json).map_err(|e| AppError::Usage(e.to_string()))?
        }
        None => {
            let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
            dev_server_fixture(&DevKey::load_or_create(&data_dir)?)?
        }
    };
    let mut options = RunOptions::new(service_root(&args.base), fixture);
    options.cases = args.cases;
    options.seed = args.seed;
    options.max_steps = args.max_steps;
    Ok(conformance::run(options))
}

/// The root above the version segments: `--base` without a trailing `/`, `/v1.0` or `/beta`,
/// so the same value works for `photo`, `sync` and `conformance`.
fn service_root(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    match base.rsplit_once('/') {
        Some((root, last)) if root.contains("://") && ApiVersion::from_segment(last).is_some() => {
            root.to_owned()
        }
        _ => base.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::service_root;

    #[test]
    fn a_base_with_or_without_its_version_names_the_same_root() {
        for (given, root) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
            ("http://127.0.0.1:8080/v1.0", "http://127.0.0.1:8080"),
            ("http://127.0.0.1:8080/beta/", "http://127.0.0.1:8080"),
            (
                "https://host.example/graph/V1.0",
                "https://host.example/graph",
            ),
            ("https://host.example/graph", "https://host.example/graph"),
        ] {
            assert_eq!(service_root(given), root, "{given}");
        }
    }
}
