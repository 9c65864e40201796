use super::workspace::{check_codecs_in_workspace, check_light_hosts_in_workspace, load_metadata};
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
        v[0].starts_with("foo must not depend on adapter-memstore (an adapter; only graph-photo"),
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
        [
            "adapter-http-server must not depend on photo-render (a workspace crate other than \
          the core; an adapter builds on photo-core alone (heavier machinery such as \
          photo-render is wired in by the composition root))"
        ]
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
fn the_embedding_examples_may_wire_adapters_like_a_host() {
    let m = with(vec![package(
        "graph-photo-examples",
        vec![
            normal("adapter-http-server"),
            normal("adapter-sqlite"),
            normal("adapter-memstore"),
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
    assert!(
        messages[0].starts_with("adapter-graph-client must not depend on image (an image codec")
    );
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

fn light_host(krate: &str) -> &'static LightHost {
    LIGHT_HOSTS.iter().find(|host| host.krate == krate).unwrap()
}

#[test]
fn a_store_that_builds_a_server_client_tls_or_codec_is_a_violation() {
    let tree = "adapter-sqlite v0.1.0 (/w/crates/adapter-sqlite)\n\
                photo-core v0.1.0 (/w/crates/photo-core)\n\
                sqlx v0.9.0\n\
                rustls v0.23.0\n\
                hyper v1.0.0\n\
                reqwest v0.12.0\n\
                image v0.25.10\n\
                tokio v1.0.0\n\
                rustls v0.23.0 (*)\n";
    let violations = check_light(light_host("adapter-sqlite"), &closure_names(tree));
    let messages: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 4, "{messages:#?}");
    // Sorted by dependency name.
    assert!(messages[0].starts_with("adapter-sqlite must not depend on hyper (a web server"));
    assert!(messages[1].starts_with("adapter-sqlite must not depend on image (an image codec"));
    assert!(messages[2].starts_with("adapter-sqlite must not depend on reqwest (an HTTP client"));
    assert!(messages[3].starts_with("adapter-sqlite must not depend on rustls (a TLS stack"));
}

#[test]
fn the_server_without_default_features_may_keep_codecs_but_no_client_tls_or_jwt() {
    let host = light_host("adapter-http-server");
    assert!(host.no_default_features);
    let light = "adapter-http-server v0.1.0 (/w)\naxum v0.8.0\nhyper v1.0.0\n\
                 photo-core v0.1.0 (/w)\nimage v0.25.10\ntokio v1.0.0\n";
    assert!(check_light(host, &closure_names(light)).is_empty());

    let heavy = format!("{light}jsonwebtoken v9.0.0\ntokio-rustls v0.26.0\nreqwest v0.12.0\n");
    let messages: Vec<String> = check_light(host, &closure_names(&heavy))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(messages[0].starts_with(
        "adapter-http-server (--no-default-features) must not depend on jsonwebtoken (a JWT library"
    ));
    assert!(messages[1].contains("on reqwest (an HTTP client"));
    assert!(messages[2].contains("on tokio-rustls (a TLS stack"));
}

#[test]
fn the_core_without_codecs_builds_no_codec_and_no_runtime() {
    let host = light_host(CORE);
    let tree = "photo-core v0.1.0 (/w)\nserde v1.0.0\nfdeflate v0.3.0\ntokio v1.0.0\n";
    let messages: Vec<String> = check_light(host, &closure_names(tree))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(messages[0].contains("on fdeflate (an image codec"));
    assert!(messages[1].contains("on tokio (an async runtime"));
}

#[test]
fn an_empty_or_foreign_light_closure_is_malformed() {
    let host = light_host("adapter-memstore");
    assert!(matches!(
        check_light(host, &closure_names(""))[..],
        [Violation::Malformed(_)]
    ));
    assert!(matches!(
        check_light(host, &closure_names("adapter-sqlite v0.1.0 (/w)\n"))[..],
        [Violation::Malformed(_)]
    ));
}

#[test]
fn real_hosts_build_light() {
    let violations = check_light_hosts_in_workspace().unwrap();
    assert!(violations.is_empty(), "{violations:#?}");
}
