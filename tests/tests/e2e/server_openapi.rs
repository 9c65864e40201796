//! `GET /openapi.json` (issue 14): an OpenAPI 3.1 document that a validator accepts and that
//! describes exactly what the router serves: every documented path and method is served, with
//! one of the documented statuses, and every other method of those paths is a 405.

use axum::body::Body;
use serde_json::Value;

use crate::support::*;

const METHODS: [&str; 6] = ["GET", "HEAD", "PUT", "PATCH", "DELETE", "POST"];

async fn document(server: &TestServer) -> Value {
    let resp = server
        .call("GET", "/openapi.json", None, Body::empty())
        .await;
    resp.assert_status(200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    resp.json()
}

/// A documented path with the seeded tenant's ids in place of its parameters.
fn concrete(template: &str) -> String {
    template
        .replace("{user-id}", ADELE_UPN)
        .replace("{group-id}", MARKETING_GROUP_ID)
        .replace("{contactFolder-id}", ADELE_FRIENDS_FOLDER_ID)
        .replace("{contact-id}", ADELE_FOLDER_CONTACT_ID)
        .replace("{size}", "48x48")
}

#[tokio::test]
async fn every_documented_route_is_served_with_a_documented_status() {
    let server = server().await;
    let doc = document(&server).await;
    assert_eq!(doc["openapi"], "3.1.0");
    // Adele, with every permission: each route's answer is about the route, not a refusal.
    let token = adele(&[
        "User.ReadWrite.All",
        "Group.ReadWrite.All",
        "Contacts.ReadWrite",
        "ProfilePhoto.ReadWrite.All",
    ]);
    let photo = jpeg(96, 64);
    let paths = doc["paths"].as_object().unwrap();
    // Two versions x (me, a user, a group: five resources each; four contact paths: /photo
    // and /photo/$value only), and the four operator endpoints.
    assert_eq!(paths.len(), 2 * (3 * 5 + 4 * 2) + 4, "{:?}", paths.keys());
    for (template, item) in paths {
        let path = concrete(template);
        let documented: Vec<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        // Writes first, so that the reads find a photo; deletes last.
        let mut order: Vec<&str> = METHODS.to_vec();
        order.sort_by_key(|m| match *m {
            "PUT" | "PATCH" => 0,
            "DELETE" => 2,
            _ => 1,
        });
        for method in order {
            let body = if matches!(method, "PUT" | "PATCH") {
                Body::from(photo.clone())
            } else {
                Body::empty()
            };
            let graph_route = path.starts_with("/v1.0/") || path.starts_with("/beta/");
            let request = req(method, &path, Some(&token)).body(body).unwrap();
            // The operator's endpoints are plain axum routes: their 405 carries no envelope.
            let resp = if graph_route {
                server.send(request).await
            } else {
                server.send_raw(request).await
            };
            let status = resp.status.as_u16().to_string();
            if documented.iter().any(|m| m == method) {
                let operation = &item[method.to_ascii_lowercase()];
                assert!(
                    operation["responses"].get(&status).is_some(),
                    "{method} {path}: answered {status}, not documented: {}",
                    String::from_utf8_lossy(&resp.body)
                );
                assert!(
                    resp.status.is_success() || status == "404" || status == "304",
                    "{method} {path}: {status} {}",
                    String::from_utf8_lossy(&resp.body)
                );
            } else {
                assert_eq!(
                    status, "405",
                    "{method} {path} is not documented but answered"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_error_schema_is_what_errors_look_like() {
    let server = server().await;
    let doc = document(&server).await;
    let schemas = &doc["components"]["schemas"];
    let properties = |name: &str| -> Vec<String> {
        let mut keys: Vec<String> = schemas[name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: {schemas}"))
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    let keys = |value: &Value| -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    let error = server
        .get(
            &format!("/v1.0/users/{MEGAN_ID}/photo"),
            &app(&["User.Read.All"]),
        )
        .await;
    error.assert_status(404);
    let body = error.json();
    assert_eq!(keys(&body), properties("ErrorResponse"));
    assert_eq!(keys(&body["error"]), properties("ErrorDetail"));
    assert_eq!(keys(&body["error"]["innerError"]), properties("InnerError"));

    let adele_token = adele(&["User.ReadWrite"]);
    server
        .upload("/v1.0/me/photo/$value", &adele_token, &jpeg(120, 120))
        .await;
    let photo = server.get("/v1.0/me/photo", &adele_token).await.json();
    assert_eq!(keys(&photo), properties("ProfilePhoto"));
    let sizes = server.get("/v1.0/me/photos", &adele_token).await.json();
    assert_eq!(keys(&sizes), properties("ProfilePhotoSizes"));
    assert_eq!(keys(&sizes["value"][0]), properties("ProfilePhotoSize"));
}

/// The official validator (openapi-spec-validator, in the SDK environment's Python) accepts it.
#[tokio::test]
async fn a_validator_accepts_the_document() {
    let python = std::env::var_os("GRAPH_PHOTO_SDK_PYTHON")
        .filter(|v| !v.is_empty())
        .expect(
            "GRAPH_PHOTO_SDK_PYTHON is not set: run `cargo xtask sdk-env` (or `cargo xtask ci`), \
             which installs openapi-spec-validator beside the Python SDK",
        );
    let server = server().await;
    let resp = server
        .call("GET", "/openapi.json", None, Body::empty())
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &resp.body).unwrap();
    let out = std::process::Command::new(python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
