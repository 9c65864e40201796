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
//! 3. Other workspace crates, except `graph-photo`, `e2e` and `xtask`, have no normal or build
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
//!
//! [`check`] is pure so the rules are unit-tested on hand-built metadata; [`run`] is
//! the IO wrapper.

use std::collections::BTreeSet;
use std::fmt;
use std::process::ExitCode;

use serde_json::Value;

const CORE: &str = "photo-core";
/// The development key and token minting (rule 4).
const DEV_TOKENS: &str = "dev-tokens";
const ADAPTER_PREFIX: &str = "adapter-";
/// The composition root: the `graph-photo` binary's package.
const COMPOSITION_ROOT: &str = "graph-photo";
/// Crates that may depend on adapters in any way: the composition root, the
/// cross-crate end-to-end tests, and this tool.
const ADAPTER_USERS: &[&str] = &[COMPOSITION_ROOT, "e2e", "xtask"];
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

/// The package names in `cargo tree -e normal --prefix none -f {p}` output: the first word of
/// each line (`image v0.25.10`, `photo-core v0.1.0 (/path) (*)`).
fn closure_names(tree: &str) -> Vec<&str> {
    tree.lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect()
}

/// The normal dependency closure of `krate`, features resolved as when building it alone.
fn load_closure(krate: &str) -> Result<String, String> {
    let output = crate::cargo()
        .args([
            "tree", "-p", krate, "-e", "normal", "--prefix", "none", "-f", "{p}",
        ])
        .output()
        .map_err(|e| format!("could not run cargo tree: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo tree -p {krate} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| format!("cargo tree printed invalid UTF-8: {e}"))
}

/// Rule 5 against the real workspace.
fn check_codecs_in_workspace() -> Result<Vec<Violation>, String> {
    let mut violations = Vec::new();
    for krate in CODEC_FREE {
        let tree = load_closure(krate)?;
        violations.extend(check_codec_free(krate, &closure_names(&tree)));
    }
    Ok(violations)
}

/// Runs `cargo metadata --format-version 1 --no-deps` at the workspace root.
pub(crate) fn load_metadata() -> Result<Value, String> {
    let output = crate::cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("could not run cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("cargo metadata printed invalid JSON: {e}"))
}

/// The check against the real workspace, reporting to the terminal. `true` if clean.
pub(crate) fn check_workspace() -> bool {
    let metadata = match load_metadata() {
        Ok(metadata) => metadata,
        Err(e) => {
            eprintln!("architecture: error: {e}");
            return false;
        }
    };
    let mut violations = check(&metadata);
    match check_codecs_in_workspace() {
        Ok(more) => violations.extend(more),
        Err(e) => {
            eprintln!("architecture: error: {e}");
            return false;
        }
    }
    if violations.is_empty() {
        println!("architecture: ok");
        return true;
    }
    eprintln!("architecture: {} violation(s):", violations.len());
    for violation in &violations {
        eprintln!("{violation}");
    }
    false
}

/// `cargo xtask arch`.
pub(crate) fn run() -> ExitCode {
    if check_workspace() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A dependency in `cargo metadata` shape. Workspace crates are path deps
    /// (null source); anything else comes from crates.io.
    fn dep(name: &str, kind: Option<&str>) -> Value {
        let workspace = name == CORE
            || name.starts_with(ADAPTER_PREFIX)
            || [
                COMPOSITION_ROOT,
                CLIENT_USE_CASES,
                "conformance",
                "e2e",
                "xtask",
                "foo",
                DEV_TOKENS,
                "photo-render",
            ]
            .contains(&name);
        let source = if workspace {
            Value::Null
        } else {
            json!("registry+https://github.com/rust-lang/crates.io-index")
        };
        json!({ "name": name, "source": source, "kind": kind, "rename": null, "target": null })
    }

    fn normal(name: &str) -> Value {
        dep(name, None)
    }

    fn dev(name: &str) -> Value {
        dep(name, Some("dev"))
    }

    fn build(name: &str) -> Value {
        dep(name, Some("build"))
    }

    fn package(name: &str, deps: Vec<Value>) -> Value {
        json!({ "name": name, "id": format!("path+file:///ws/{name}#0.1.0"), "dependencies": deps })
    }

    fn metadata(packages: Vec<Value>) -> Value {
        let ids: Vec<Value> = packages.iter().map(|p| p["id"].clone()).collect();
        json!({ "packages": packages, "workspace_members": ids, "workspace_root": "/ws" })
    }

    /// The intended graph, with every allowed kind of edge.
    fn clean_packages() -> Vec<Value> {
        vec![
            package(
                "photo-core",
                vec![
                    normal("serde"),
                    normal("image"),
                    normal("mockall"),
                    dev("tokio"),
                    dev("proptest"),
                ],
            ),
            package(
                "adapter-memstore",
                vec![normal("photo-core"), dev("photo-core"), dev("tokio")],
            ),
            package(
                "adapter-http-server",
                vec![
                    normal("photo-core"),
                    normal("axum"),
                    normal("tokio"),
                    normal("reqwest"),
                    dev("dev-tokens"),
                ],
            ),
            package(
                "adapter-graph-client",
                vec![normal("photo-core"), normal("reqwest")],
            ),
            package(
                "graph-photo",
                vec![
                    normal("photo-core"),
                    normal("adapter-memstore"),
                    normal("adapter-http-server"),
                    normal("tokio"),
                    normal("dev-tokens"),
                ],
            ),
            package(
                "conformance",
                vec![
                    normal("adapter-graph-client"),
                    dev("adapter-http-server"),
                    dev("adapter-memstore"),
                ],
            ),
            package(
                "photo-upload",
                vec![
                    normal("photo-core"),
                    normal("adapter-graph-client"),
                    normal("tokio"),
                    normal("image"),
                    dev("wiremock"),
                ],
            ),
            package(
                "e2e",
                vec![
                    dev("reqwest"),
                    dev("adapter-graph-client"),
                    normal("graph-photo"),
                ],
            ),
            package("xtask", vec![normal("serde_json")]),
            package("dev-tokens", vec![normal("rsa"), normal("jsonwebtoken")]),
        ]
    }

    fn with(extra: Vec<Value>) -> Value {
        let mut packages = clean_packages();
        for p in extra {
            let name = p["name"].clone();
            packages.retain(|q| q["name"] != name);
            packages.push(p);
        }
        metadata(packages)
    }

    fn messages(metadata: &Value) -> Vec<String> {
        check(metadata).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn clean_graph_has_no_violations() {
        assert_eq!(messages(&metadata(clean_packages())), Vec::<String>::new());
    }

    #[test]
    fn core_must_not_depend_on_a_web_server() {
        let m = with(vec![package("photo-core", vec![normal("axum")])]);
        assert_eq!(
            messages(&m),
            ["photo-core must not depend on axum (a web/HTTP server crate)"]
        );
    }

    #[test]
    fn core_must_not_depend_on_an_http_client() {
        let m = with(vec![package("photo-core", vec![normal("reqwest")])]);
        assert_eq!(
            messages(&m),
            ["photo-core must not depend on reqwest (an HTTP client)"]
        );
    }

    #[test]
    fn core_must_not_depend_on_an_async_runtime() {
        let m = with(vec![package("photo-core", vec![normal("tokio")])]);
        assert_eq!(
            messages(&m),
            ["photo-core must not depend on tokio (an async runtime)"]
        );
    }

    #[test]
    fn core_must_not_build_depend_on_storage() {
        let m = with(vec![package("photo-core", vec![build("rusqlite")])]);
        assert_eq!(
            messages(&m),
            [
                "photo-core must not depend on rusqlite (a storage engine/database crate) \
              [build-dependency]"
            ]
        );
    }

    #[test]
    fn core_may_dev_depend_on_tokio() {
        let m = with(vec![package(
            "photo-core",
            vec![normal("serde"), dev("tokio")],
        )]);
        assert!(check(&m).is_empty());
    }

    #[test]
    fn core_must_not_depend_on_an_adapter() {
        let m = with(vec![package(
            "photo-core",
            vec![normal("adapter-memstore")],
        )]);
        let v = check(&m);
        assert_eq!(v.len(), 1);
        assert!(matches!(
            &v[0],
            Violation::Dependency { krate, dependency, reason: Reason::CoreOnAdapter, .. }
                if krate == "photo-core" && dependency == "adapter-memstore"
        ));
    }

    #[test]
    fn renamed_forbidden_dependency_is_still_caught() {
        let mut tokio = normal("tokio");
        tokio["rename"] = json!("rt");
        let m = with(vec![package("photo-core", vec![tokio])]);
        assert_eq!(check(&m).len(), 1);
    }

    #[test]
    fn adapter_must_not_depend_on_another_adapter() {
        let m = with(vec![package(
            "adapter-memstore",
            vec![normal("photo-core"), normal("adapter-http-server")],
        )]);
        assert_eq!(
            messages(&m),
            ["adapter-memstore must not depend on adapter-http-server \
              (another adapter; adapters must be independent)"]
        );
    }

    #[test]
    fn adapter_must_not_dev_depend_on_another_adapter() {
        let m = with(vec![package(
            "adapter-memstore",
            vec![normal("photo-core"), dev("adapter-http-server")],
        )]);
        assert_eq!(check(&m).len(), 1);
    }

    #[test]
    fn adapter_must_not_depend_on_graph_photo_or_conformance() {
        let m = with(vec![package(
            "adapter-http-server",
            vec![normal("photo-core"), dev("graph-photo"), dev("conformance")],
        )]);
        let reasons: Vec<Reason> = check(&m)
            .into_iter()
            .filter_map(|v| match v {
                Violation::Dependency { reason, .. } => Some(reason),
                _ => None,
            })
            .collect();
        assert_eq!(
            reasons,
            // Sorted by dependency name.
            [
                Reason::AdapterOnConformance,
                Reason::AdapterOnCompositionRoot
            ]
        );
    }

    #[test]
    fn other_crate_must_not_depend_on_an_adapter() {
        let mut packages = clean_packages();
        packages.push(package("foo", vec![normal("adapter-memstore")]));
        let v = messages(&metadata(packages));
        assert_eq!(v.len(), 1);
        assert!(
            v[0].starts_with(
                "foo must not depend on adapter-memstore (an adapter; only graph-photo"
            ),
            "{v:?}"
        );
    }

    #[test]
    fn conformance_may_only_use_the_client_adapter_as_a_normal_dependency() {
        let m = with(vec![package(
            "conformance",
            vec![normal("adapter-graph-client"), normal("adapter-memstore")],
        )]);
        let v = messages(&m);
        assert_eq!(v.len(), 1);
        assert!(
            v[0].starts_with("conformance must not depend on adapter-memstore"),
            "{v:?}"
        );
    }

    #[test]
    fn adapters_build_on_the_core_alone() {
        let m = with(vec![
            package(
                "adapter-http-server",
                vec![
                    normal("photo-core"),
                    normal("photo-render"),
                    dev("photo-render"),
                ],
            ),
            package(
                "adapter-memstore",
                vec![normal("photo-core"), normal("serde")],
            ),
            package("photo-render", vec![normal("photo-core")]),
        ]);
        assert_eq!(
            messages(&m),
            ["adapter-http-server must not depend on photo-render (a workspace crate other than \
              the core; an adapter builds on photo-core alone (heavier machinery such as \
              photo-render is wired in by the composition root))"]
        );
    }

    #[test]
    fn core_and_adapters_must_not_depend_on_dev_tokens() {
        let m = with(vec![
            package("photo-core", vec![normal("dev-tokens")]),
            package(
                "adapter-http-server",
                vec![normal("photo-core"), build("dev-tokens")],
            ),
        ]);
        assert_eq!(
            messages(&m),
            [
                "adapter-http-server must not depend on dev-tokens (the development-token \
                 minter; the core knows no tokens and adapters only verify them) \
                 [build-dependency]",
                "photo-core must not depend on dev-tokens (the development-token minter; the \
                 core knows no tokens and adapters only verify them)",
            ]
        );
    }

    #[test]
    fn client_use_cases_may_only_use_the_client_adapter() {
        let m = with(vec![package(
            "photo-upload",
            vec![
                normal("adapter-graph-client"),
                normal("adapter-http-server"),
                build("adapter-memstore"),
                dev("adapter-memstore"),
            ],
        )]);
        assert_eq!(
            messages(&m),
            [
                "photo-upload must not depend on adapter-http-server (an adapter; only \
                 graph-photo, e2e and xtask may depend on adapters (plus conformance and \
                 photo-upload -> adapter-graph-client))",
                "photo-upload must not depend on adapter-memstore (an adapter; only \
                 graph-photo, e2e and xtask may depend on adapters (plus conformance and \
                 photo-upload -> adapter-graph-client)) [build-dependency]",
            ]
        );
    }

    #[test]
    fn adapter_must_not_depend_on_the_client_use_cases() {
        let m = with(vec![package(
            "adapter-graph-client",
            vec![normal("photo-core"), dev("photo-upload")],
        )]);
        assert_eq!(
            messages(&m),
            [
                "adapter-graph-client must not depend on photo-upload (the client-side use \
              cases, a layer above the adapters; adapters must not depend on it) \
              [dev-dependency]"
            ]
        );
    }

    #[test]
    fn graph_photo_may_depend_on_adapters() {
        let m = with(vec![package(
            "graph-photo",
            vec![
                normal("adapter-memstore"),
                normal("adapter-http-server"),
                normal("adapter-graph-client"),
                build("adapter-memstore"),
            ],
        )]);
        assert!(check(&m).is_empty());
    }

    #[test]
    fn registry_crate_named_like_an_adapter_is_not_a_workspace_adapter() {
        let mut foreign = normal("adapter-memstore");
        foreign["source"] = json!("registry+https://github.com/rust-lang/crates.io-index");
        let mut packages = clean_packages();
        packages.push(package("foo", vec![foreign]));
        assert!(check(&metadata(packages)).is_empty());
    }

    #[test]
    fn non_member_packages_are_ignored() {
        let mut m = metadata(clean_packages());
        // As in metadata produced without --no-deps: a registry package, not a member.
        m["packages"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "name": "hyper", "id": "registry+x#hyper@1.0.0", "dependencies": [normal("adapter-memstore")] }));
        assert!(check(&m).is_empty());
    }

    #[test]
    fn duplicate_edges_are_reported_once() {
        let m = with(vec![package(
            "photo-core",
            vec![normal("tokio"), normal("tokio")],
        )]);
        assert_eq!(check(&m).len(), 1);
    }

    #[test]
    fn missing_core_is_a_violation() {
        let mut packages = clean_packages();
        packages.retain(|p| p["name"] != CORE);
        assert_eq!(
            check(&metadata(packages)),
            [Violation::MissingPackage(CORE)]
        );
    }

    #[test]
    fn malformed_metadata_is_a_violation() {
        assert!(matches!(
            check(&json!({ "nope": 1 }))[..],
            [Violation::Malformed(_)]
        ));
    }

    #[test]
    fn real_workspace_has_no_violations() {
        let metadata = load_metadata().unwrap();
        let violations = messages(&metadata);
        assert!(violations.is_empty(), "{violations:#?}");
    }

    #[test]
    fn a_codec_in_the_client_closure_is_a_violation() {
        let tree = "adapter-graph-client v0.1.0 (/w/crates/adapter-graph-client)\n\
                    photo-core v0.1.0 (/w/crates/photo-core)\n\
                    image v0.25.10\n\
                    zune-jpeg v0.5.15\n\
                    image v0.25.10 (*)\n\
                    reqwest v0.12.0\n";
        let violations = check_codec_free("adapter-graph-client", &closure_names(tree));
        let messages: Vec<String> = violations.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 2, "{messages:#?}");
        assert!(messages[0]
            .starts_with("adapter-graph-client must not depend on image (an image codec"));
        assert!(messages[1].starts_with("adapter-graph-client must not depend on zune-jpeg"));
    }

    #[test]
    fn a_codec_free_closure_passes_and_an_empty_one_does_not() {
        let tree = "adapter-graph-client v0.1.0 (/w)\nphoto-core v0.1.0 (/w)\nreqwest v0.12.0\n";
        assert!(check_codec_free("adapter-graph-client", &closure_names(tree)).is_empty());
        assert!(matches!(
            check_codec_free("adapter-graph-client", &closure_names(""))[..],
            [Violation::Malformed(_)]
        ));
    }

    #[test]
    fn real_client_builds_no_codec() {
        let violations = check_codecs_in_workspace().unwrap();
        assert!(violations.is_empty(), "{violations:#?}");
    }
}
