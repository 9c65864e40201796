//! `cargo xtask arch`: the hexagonal dependency rules, checked against `cargo metadata`.
//!
//! Rules (workspace packages only; dependencies are matched by package name, so a
//! `rename` does not hide them):
//!
//! 1. `photo-core` has no normal or build dependency on a web/HTTP-server crate, an
//!    HTTP client, an async runtime, a storage engine/database crate, or any
//!    workspace `adapter-*` crate. (Dev-dependencies are free: tests may use tokio.)
//! 2. A workspace `adapter-*` crate depends (normal, build or dev) on no other
//!    workspace `adapter-*` crate, nor on `graph-photo`, `conformance` or `photo-upload`.
//! 3. Other workspace crates, except `graph-photo`, `graph-photo-examples` (hosts of their
//!    own), `e2e` and `xtask`, have no normal or build
//!    dependency on an `adapter-*` crate — with exactly two exceptions, both on the client
//!    adapter: `conformance -> adapter-graph-client` and `photo-upload -> adapter-graph-client`
//!    (client-side use cases over the client's public API). Dev-dependencies on adapters are
//!    allowed (the conformance suite's tests start the server).
//! 4. The development-token crate `dev-tokens` (which makes keys and mints tokens) is no
//!    normal or build dependency of `photo-core` nor of any `adapter-*` crate: the core knows no
//!    tokens and the server only verifies them. (Tests may mint with it.)
//! 5. The Graph client (`adapter-graph-client`) builds no image codec: its normal dependency
//!    closure, as `cargo tree -e normal` resolves it for that package alone (features
//!    included), holds no image codec crate. It uses `photo-core` without the `codecs` feature.
//! 6. An adapter's normal and build dependencies inside the workspace are `photo-core` alone:
//!    machinery such as `photo-render` is wired in by the composition root, not by an adapter.
//! 7. A host that embeds the core and one store builds nothing it does not use: the normal
//!    dependency closure of each crate in [`LIGHT_HOSTS`], as `cargo tree -e normal` resolves it
//!    for that package alone with the features named there, holds no crate of the kinds
//!    forbidden there: the stores (`adapter-memstore`, `adapter-sqlite`, `adapter-postgres`
//!    without its `tls` feature) no web server, HTTP client, TLS stack or image codec; the server
//!    without its default features (`jwt`, `tls`) no HTTP client, TLS stack or JWT library (the
//!    codecs of the core's upload validation it keeps); the core without `codecs` no image codec
//!    and no async runtime (docs/DECISIONS.md, "Feature flags for hosts").
//!
//! [`check`], [`check_codec_free`] and [`check_light`] are pure so the rules are unit-tested on
//! hand-built metadata and trees; [`run`] is the IO wrapper (`workspace.rs`).

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

#[cfg(test)]
mod tests;
mod workspace;

pub(crate) use workspace::{check_workspace, run};

const CORE: &str = "photo-core";
/// The development key and token minting (rule 4).
const DEV_TOKENS: &str = "dev-tokens";
const ADAPTER_PREFIX: &str = "adapter-";
/// The composition root: the `graph-photo` binary's package.
const COMPOSITION_ROOT: &str = "graph-photo";
/// Crates that may depend on adapters in any way: the composition root, the embedding
/// examples (each a host that wires adapters, as the composition root does), the cross-crate
/// end-to-end tests, and this tool.
const ADAPTER_USERS: &[&str] = &[COMPOSITION_ROOT, "graph-photo-examples", "e2e", "xtask"];
/// The client-side use cases (sync, fit), a layer above the client adapter.
const CLIENT_USE_CASES: &str = "photo-upload";
/// Normal dependencies on adapters allowed as exceptions to rule 3.
const ALLOWED_ADAPTER_DEPS: &[(&str, &str)] = &[
    ("conformance", "adapter-graph-client"),
    (CLIENT_USE_CASES, "adapter-graph-client"),
];
/// Packages an adapter must never depend on.
const ADAPTER_FORBIDDEN_TARGETS: &[&str] = &[COMPOSITION_ROOT, "conformance", CLIENT_USE_CASES];

const WEB_SERVERS: &[&str] = &[
    "axum",
    "hyper",
    "hyper-util",
    "actix-web",
    "warp",
    "tower",
    "tower-http",
    "http",
];
const HTTP_CLIENTS: &[&str] = &["reqwest", "ureq", "surf", "isahc"];
const ASYNC_RUNTIMES: &[&str] = &["tokio", "async-std", "smol"];
/// Rule 5: crates that must build without any image codec.
const CODEC_FREE: &[&str] = &["adapter-graph-client"];
/// Image codecs and the image stack around them (decoders' inflaters and LZW included).
const IMAGE_CODECS: &[&str] = &[
    "image",
    "png",
    "gif",
    "jpeg-decoder",
    "jpeg-encoder",
    "zune-core",
    "zune-jpeg",
    "zune-inflate",
    "image-webp",
    "tiff",
    "qoi",
    "exr",
    "ravif",
    "fdeflate",
    "weezl",
    "fast_image_resize",
];
/// Rule 7: web servers, whole (the HTTP types and tower alone are no server).
const SERVER_STACKS: &[&str] = &[
    "axum",
    "axum-core",
    "hyper",
    "hyper-util",
    "tower-http",
    "actix-web",
    "warp",
];
/// Rule 7: HTTP clients, with the connectors that exist only for one.
const CLIENT_STACKS: &[&str] = &[
    "reqwest",
    "ureq",
    "surf",
    "isahc",
    "hyper-rustls",
    "hyper-tls",
];
/// Rule 7: TLS implementations and their glue, certificate generation and root stores.
const TLS_STACKS: &[&str] = &[
    "rustls",
    "tokio-rustls",
    "native-tls",
    "tokio-native-tls",
    "openssl",
    "openssl-sys",
    "rcgen",
    "webpki-roots",
];
/// Rule 7: JWT libraries.
const JWT_LIBRARIES: &[&str] = &["jsonwebtoken", "jwt-simple", "josekit"];

/// Rule 7: a kind of crate a light host must not build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Heavy {
    WebServer,
    HttpClient,
    Tls,
    Jwt,
    ImageCodec,
    AsyncRuntime,
}

impl Heavy {
    /// The package names of this kind.
    fn packages(self) -> &'static [&'static str] {
        match self {
            Self::WebServer => SERVER_STACKS,
            Self::HttpClient => CLIENT_STACKS,
            Self::Tls => TLS_STACKS,
            Self::Jwt => JWT_LIBRARIES,
            Self::ImageCodec => IMAGE_CODECS,
            Self::AsyncRuntime => ASYNC_RUNTIMES,
        }
    }
}

impl fmt::Display for Heavy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::WebServer => "a web server",
            Self::HttpClient => "an HTTP client",
            Self::Tls => "a TLS stack",
            Self::Jwt => "a JWT library",
            Self::ImageCodec => "an image codec",
            Self::AsyncRuntime => "an async runtime",
        })
    }
}

/// Rule 7: a crate as a host embeds it, and what its closure must not hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LightHost {
    /// The workspace package.
    pub(crate) krate: &'static str,
    /// Built without its default features (`cargo tree --no-default-features`).
    pub(crate) no_default_features: bool,
    /// What its normal dependency closure must not hold.
    pub(crate) forbidden: &'static [Heavy],
}

impl LightHost {
    /// The crate as a violation names it: with the features it was resolved with.
    fn label(&self) -> String {
        if self.no_default_features {
            format!("{} (--no-default-features)", self.krate)
        } else {
            self.krate.to_owned()
        }
    }
}

/// What a store brings into a host's build: storage, never a server, client, TLS or codec.
const STORE_FORBIDDEN: &[Heavy] = &[
    Heavy::WebServer,
    Heavy::HttpClient,
    Heavy::Tls,
    Heavy::ImageCodec,
];

/// Rule 7's crates, as a host that needs only them builds them.
pub(crate) const LIGHT_HOSTS: &[LightHost] = &[
    LightHost {
        krate: "adapter-memstore",
        no_default_features: false,
        forbidden: STORE_FORBIDDEN,
    },
    LightHost {
        krate: "adapter-sqlite",
        no_default_features: false,
        forbidden: STORE_FORBIDDEN,
    },
    LightHost {
        krate: "adapter-postgres",
        no_default_features: true,
        forbidden: STORE_FORBIDDEN,
    },
    LightHost {
        krate: "adapter-http-server",
        no_default_features: true,
        forbidden: &[Heavy::HttpClient, Heavy::Tls, Heavy::Jwt],
    },
    LightHost {
        krate: CORE,
        no_default_features: true,
        forbidden: &[Heavy::ImageCodec, Heavy::AsyncRuntime],
    },
];

const STORAGE: &[&str] = &[
    "sqlx",
    "diesel",
    "rusqlite",
    "sled",
    "redb",
    "rocksdb",
    "postgres",
    "tokio-postgres",
    "redis",
    "mongodb",
];

/// Which section of a manifest a dependency comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum DepKind {
    Normal,
    Build,
    Dev,
}

impl DepKind {
    fn from_metadata(kind: &Value) -> Self {
        match kind.as_str() {
            Some("dev") => Self::Dev,
            Some("build") => Self::Build,
            _ => Self::Normal,
        }
    }
}

/// Why a dependency edge is forbidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Reason {
    WebServer,
    HttpClient,
    AsyncRuntime,
    Storage,
    CoreOnAdapter,
    AdapterOnAdapter,
    AdapterOnCompositionRoot,
    AdapterOnConformance,
    AdapterOnUseCases,
    NotAnAdapterUser,
    OnDevTokens,
    AdapterOnNonCore,
    ImageCodec,
    /// Rule 7.
    HeavyForHost(Heavy),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::WebServer => "a web/HTTP server crate",
            Self::HttpClient => "an HTTP client",
            Self::AsyncRuntime => "an async runtime",
            Self::Storage => "a storage engine/database crate",
            Self::CoreOnAdapter => "an adapter; the core must not know its adapters",
            Self::AdapterOnAdapter => "another adapter; adapters must be independent",
            Self::AdapterOnCompositionRoot => {
                "the composition root; adapters must not depend on it"
            }
            Self::AdapterOnConformance => "the conformance suite; adapters must not depend on it",
            Self::AdapterOnUseCases => {
                "the client-side use cases, a layer above the adapters; adapters must not depend on it"
            }
            Self::AdapterOnNonCore => {
                "a workspace crate other than the core; an adapter builds on photo-core alone \
                 (heavier machinery such as photo-render is wired in by the composition root)"
            }
            Self::OnDevTokens => {
                "the development-token minter; the core knows no tokens and adapters only \
                 verify them"
            }
            Self::NotAnAdapterUser => {
                "an adapter; only graph-photo, e2e and xtask may depend on adapters \
                 (plus conformance and photo-upload -> adapter-graph-client)"
            }
            Self::ImageCodec => {
                "an image codec, through its normal dependencies; it must build without one \
                 (photo-core with default-features = false)"
            }
            Self::HeavyForHost(heavy) => {
                return write!(
                    f,
                    "{heavy}, through its normal dependencies; a host that embeds it alone must \
                     not build one (an optional dependency behind a feature, or none: \
                     docs/DECISIONS.md, \"Feature flags for hosts\")"
                );
            }
        })
    }
}

/// One broken architecture rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Violation {
    /// `krate` has a forbidden dependency on `dependency`.
    Dependency {
        krate: String,
        dependency: String,
        kind: DepKind,
        reason: Reason,
    },
    /// A package the rules are about is missing, so they would pass vacuously.
    MissingPackage(&'static str),
    /// The metadata is not shaped like `cargo metadata --format-version 1` output.
    Malformed(String),
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dependency {
                krate,
                dependency,
                kind,
                reason,
            } => {
                write!(f, "{krate} must not depend on {dependency} ({reason})")?;
                match kind {
                    DepKind::Normal => Ok(()),
                    DepKind::Build => f.write_str(" [build-dependency]"),
                    DepKind::Dev => f.write_str(" [dev-dependency]"),
                }
            }
            Self::MissingPackage(name) => write!(
                f,
                "workspace has no package named {name}; the architecture rules cannot be checked"
            ),
            Self::Malformed(what) => write!(f, "malformed cargo metadata: {what}"),
        }
    }
}

/// A dependency edge of a workspace package.
struct Dep<'a> {
    name: &'a str,
    kind: DepKind,
    /// Whether it resolves to a workspace package (a path dependency on a member).
    in_workspace: bool,
}

/// Checks the architecture rules against `cargo metadata --format-version 1` output.
/// Returns the violations sorted and de-duplicated; empty means the graph is clean.
pub(crate) fn check(metadata: &Value) -> Vec<Violation> {
    let packages = match workspace_packages(metadata) {
        Ok(packages) => packages,
        Err(why) => return vec![Violation::Malformed(why)],
    };
    let names: BTreeSet<&str> = packages.iter().map(|(name, _)| *name).collect();

    let mut violations = Vec::new();
    if !names.contains(CORE) {
        violations.push(Violation::MissingPackage(CORE));
    }

    for (krate, deps) in &packages {
        let deps: Vec<Dep<'_>> = deps
            .iter()
            .filter_map(|dep| {
                let name = dep.get("name")?.as_str()?;
                // Path dependencies have a null `source`; registry/git ones do not.
                let is_path = dep.get("source").is_none_or(Value::is_null);
                Some(Dep {
                    name,
                    kind: DepKind::from_metadata(dep.get("kind").unwrap_or(&Value::Null)),
                    in_workspace: is_path && names.contains(name),
                })
            })
            .collect();
        for dep in &deps {
            if let Some(reason) = forbidden(krate, dep) {
                violations.push(Violation::Dependency {
                    krate: (*krate).to_owned(),
                    dependency: dep.name.to_owned(),
                    kind: dep.kind,
                    reason,
                });
            }
        }
    }

    violations.sort();
    violations.dedup();
    violations
}

/// The rule `krate -> dep` breaks, if any.
fn forbidden(krate: &str, dep: &Dep<'_>) -> Option<Reason> {
    let is_adapter = |name: &str| name.starts_with(ADAPTER_PREFIX);
    let dep_is_adapter = dep.in_workspace && is_adapter(dep.name);
    let production = matches!(dep.kind, DepKind::Normal | DepKind::Build);

    // Rule 4.
    if production
        && dep.in_workspace
        && dep.name == DEV_TOKENS
        && (krate == CORE || is_adapter(krate))
    {
        return Some(Reason::OnDevTokens);
    }

    if krate == CORE {
        // Rule 1. Dev-dependencies (e.g. tokio for async tests) are fine.
        if !production {
            return None;
        }
        return if dep_is_adapter {
            Some(Reason::CoreOnAdapter)
        } else if WEB_SERVERS.contains(&dep.name) {
            Some(Reason::WebServer)
        } else if HTTP_CLIENTS.contains(&dep.name) {
            Some(Reason::HttpClient)
        } else if ASYNC_RUNTIMES.contains(&dep.name) {
            Some(Reason::AsyncRuntime)
        } else if STORAGE.contains(&dep.name) {
            Some(Reason::Storage)
        } else {
            None
        };
    }

    if is_adapter(krate) {
        // Rule 2, for every kind of dependency.
        return if dep_is_adapter && dep.name != krate {
            Some(Reason::AdapterOnAdapter)
        } else if dep.in_workspace && ADAPTER_FORBIDDEN_TARGETS.contains(&dep.name) {
            Some(match dep.name {
                COMPOSITION_ROOT => Reason::AdapterOnCompositionRoot,
                CLIENT_USE_CASES => Reason::AdapterOnUseCases,
                _ => Reason::AdapterOnConformance,
            })
        } else if production && dep.in_workspace && dep.name != CORE && dep.name != krate {
            // Rule 6: of the workspace, an adapter builds on the core alone.
            Some(Reason::AdapterOnNonCore)
        } else {
            None
        };
    }

    // Rule 3.
    let exempt = ADAPTER_USERS.contains(&krate)
        || ALLOWED_ADAPTER_DEPS.contains(&(krate, dep.name))
        || !production;
    (dep_is_adapter && !exempt).then_some(Reason::NotAnAdapterUser)
}

/// `(name, dependencies)` of every workspace member listed in the metadata.
fn workspace_packages(metadata: &Value) -> Result<Vec<(&str, &[Value])>, String> {
    let packages = metadata
        .get("packages")
        .and_then(Value::as_array)
        .ok_or("no `packages` array")?;
    // With `--no-deps` every package is a member; filter anyway in case the
    // metadata was produced with the full dependency graph.
    let members: Option<BTreeSet<&str>> = metadata
        .get("workspace_members")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).collect());

    let mut out = Vec::new();
    for package in packages {
        let name = package
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a package without a `name`")?;
        if let Some(members) = &members {
            let id = package.get("id").and_then(Value::as_str).unwrap_or("");
            if !members.contains(id) {
                continue;
            }
        }
        let deps = package
            .get("dependencies")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("package {name} has no `dependencies` array"))?;
        out.push((name, deps.as_slice()));
    }
    Ok(out)
}

/// Rule 5 for `krate`, given the package names of its normal dependency closure.
pub(crate) fn check_codec_free(krate: &str, closure: &[&str]) -> Vec<Violation> {
    let mut violations: Vec<Violation> = closure
        .iter()
        .filter(|name| IMAGE_CODECS.contains(name))
        .map(|name| Violation::Dependency {
            krate: krate.to_owned(),
            dependency: (*name).to_owned(),
            kind: DepKind::Normal,
            reason: Reason::ImageCodec,
        })
        .collect();
    if !closure.contains(&krate) {
        // An empty or foreign closure would pass vacuously.
        violations.push(Violation::Malformed(format!(
            "the dependency closure of {krate} does not list {krate} itself"
        )));
    }
    violations.sort();
    violations.dedup();
    violations
}

/// Rule 7 for `host`, given the package names of its normal dependency closure (resolved with
/// `host`'s features).
pub(crate) fn check_light(host: &LightHost, closure: &[&str]) -> Vec<Violation> {
    let mut violations: Vec<Violation> = closure
        .iter()
        .filter_map(|name| {
            let heavy = host
                .forbidden
                .iter()
                .find(|heavy| heavy.packages().contains(name))?;
            Some(Violation::Dependency {
                krate: host.label(),
                dependency: (*name).to_owned(),
                kind: DepKind::Normal,
                reason: Reason::HeavyForHost(*heavy),
            })
        })
        .collect();
    if !closure.contains(&host.krate) {
        // An empty or foreign closure would pass vacuously.
        violations.push(Violation::Malformed(format!(
            "the dependency closure of {} does not list {} itself",
            host.label(),
            host.krate
        )));
    }
    violations.sort();
    violations.dedup();
    violations
}

/// The package names in `cargo tree -e normal --prefix none -f {p}` output: the first word of
/// each line (`image v0.25.10`, `photo-core v0.1.0 (/path) (*)`).
fn closure_names(tree: &str) -> Vec<&str> {
    tree.lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect()
}
