//! `GET /openapi.json`: an OpenAPI 3.1 description of every route this router serves.
//!
//! The paths are not written by hand: they are the core's route grammar
//! (`photo_core::target::Route`) enumerated over every kind of target, resource and version,
//! keeping the combinations the grammar accepts, with the methods `Route::allowed_methods`
//! gives each. The schemas of the JSON bodies are derived from the types the handlers
//! serialize. So the document cannot describe a route the router does not serve, or miss one
//! it does (the tests call the router with every documented path and method).

use std::sync::OnceLock;

use photo_core::renditions::SizeId;
use photo_core::target::{ApiVersion, ContactOwner, Resource, Route, Target};
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem, PathItemBuilder,
};
use utoipa::openapi::schema::{ComponentsBuilder, ObjectBuilder, Type};
use utoipa::openapi::{
    Content, ContentBuilder, HeaderBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder,
    Ref, Required, ResponseBuilder,
};
use utoipa::ToSchema;

/// Placeholders the enumerated routes carry, and the path parameters they become.
const PARAMETERS: [(&str, &str, &str); 4] = [
    (
        "USERPARAM",
        "user-id",
        "A user's object id (GUID) or userPrincipalName.",
    ),
    ("GROUPPARAM", "group-id", "A group's object id (GUID)."),
    (
        "FOLDERPARAM",
        "contactFolder-id",
        "A contact folder's id, as Outlook gives it.",
    ),
    (
        "CONTACTPARAM",
        "contact-id",
        "A contact's id, as Outlook gives it.",
    ),
];
/// The size placeholder: `48x48` ... `648x648`.
const SIZE_PARAMETER: (&str, &str, &str) = (
    "SIZEPARAM",
    "size",
    "A size id: 48x48, 64x64, 96x96, 120x120, 240x240, 360x360, 432x432, 504x504 or 648x648.",
);

/// The JSON of `.../photo` and `.../photos/{size}` (spec C2).
#[derive(ToSchema)]
#[allow(dead_code)] // A description of what handlers.rs serializes, never built.
struct ProfilePhoto {
    #[schema(rename = "@odata.context")]
    context: String,
    #[schema(rename = "@odata.mediaContentType")]
    media_content_type: String,
    #[schema(rename = "@odata.mediaEtag")]
    media_etag: String,
    /// `WIDTHxHEIGHT` of the original, or the size id.
    id: String,
    width: u32,
    height: u32,
}

/// One entry of `.../photos`.
#[derive(ToSchema)]
#[allow(dead_code)]
struct ProfilePhotoSize {
    #[schema(rename = "@odata.mediaEtag")]
    media_etag: String,
    id: String,
    width: u32,
    height: u32,
}

/// The JSON of `.../photos` (spec C5).
#[derive(ToSchema)]
#[allow(dead_code)]
struct ProfilePhotoSizes {
    #[schema(rename = "@odata.context")]
    context: String,
    value: Vec<ProfilePhotoSize>,
}

/// Graph's error envelope (spec C6), as the envelope middleware writes it.
#[derive(ToSchema)]
#[allow(dead_code)]
struct ErrorResponse {
    error: ErrorDetail,
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct ErrorDetail {
    /// Graph's error code, e.g. `ErrorAccessDenied`.
    code: String,
    message: String,
    #[schema(rename = "innerError")]
    inner_error: InnerError,
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct InnerError {
    /// UTC, `YYYY-MM-DDTHH:MM:SS`.
    date: String,
    #[schema(rename = "request-id")]
    request_id: String,
    #[schema(rename = "client-request-id")]
    client_request_id: String,
}

/// The document, built once.
pub(crate) fn document() -> &'static [u8] {
    static DOCUMENT: OnceLock<Vec<u8>> = OnceLock::new();
    DOCUMENT
        .get_or_init(|| serde_json::to_vec_pretty(&openapi()).unwrap_or_else(|_| b"{}".to_vec()))
}

/// Every route the grammar accepts, as (OpenAPI path template, route).
pub(crate) fn routes() -> Vec<(String, Route)> {
    let user = || "USERPARAM".to_owned();
    let targets = [
        Target::Me,
        Target::User(user()),
        Target::Group("GROUPPARAM".to_owned()),
        Target::Contact {
            owner: ContactOwner::Me,
            folder: None,
            id: "CONTACTPARAM".to_owned(),
        },
        Target::Contact {
            owner: ContactOwner::Me,
            folder: Some("FOLDERPARAM".to_owned()),
            id: "CONTACTPARAM".to_owned(),
        },
        Target::Contact {
            owner: ContactOwner::User(user()),
            folder: None,
            id: "CONTACTPARAM".to_owned(),
        },
        Target::Contact {
            owner: ContactOwner::User(user()),
            folder: Some("FOLDERPARAM".to_owned()),
            id: "CONTACTPARAM".to_owned(),
        },
    ];
    let size = || SizeId::new(SIZE_PARAMETER.0);
    let resources = [
        Resource::Photo,
        Resource::PhotoValue,
        Resource::Photos,
        Resource::Size(size()),
        Resource::SizeValue(size()),
    ];
    let mut routes = Vec::new();
    for version in [ApiVersion::V1, ApiVersion::Beta] {
        for target in &targets {
            for resource in &resources {
                let path = format!(
                    "/{}/{}/{}",
                    version.segment(),
                    target.path(),
                    resource.path()
                );
                // The grammar decides: a contact has no `/photos`, for one.
                if let Ok(route) = Route::parse_path(&path) {
                    routes.push((template(&path), route));
                }
            }
        }
    }
    routes
}

/// `/v1.0/users/USERPARAM/photo` -> `/v1.0/users/{user-id}/photo`.
fn template(path: &str) -> String {
    let mut path = path.to_owned();
    for (placeholder, name, _) in PARAMETERS.iter().chain([&SIZE_PARAMETER]) {
        path = path.replace(placeholder, &format!("{{{name}}}"));
    }
    path
}

/// The operator's endpoints beside the version roots (`ops::router`), without a token.
fn operations_paths(mut paths: PathsBuilder) -> PathsBuilder {
    let text = |description: &str, media_type: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                media_type,
                Content::new(Some(ObjectBuilder::new().schema_type(Type::String))),
            )
            .build()
    };
    let get = |id: &str, summary: &str, ok: utoipa::openapi::Response, unavailable: bool| {
        let operation = |method: &str| {
            let mut operation = OperationBuilder::new()
                .operation_id(Some(format!("{method}_{id}")))
                .summary(Some(summary))
                .response("200", ok.clone());
            if unavailable {
                operation = operation.response(
                    "503",
                    ResponseBuilder::new()
                        .description("Not ready: the store did not answer its check in time.")
                        .content("application/json", json("ErrorResponse"))
                        .build(),
                );
            }
            operation.build()
        };
        PathItemBuilder::new()
            .operation(HttpMethod::Get, operation("get"))
            .operation(HttpMethod::Head, operation("head"))
            .build()
    };
    paths = paths.path(
        "/healthz",
        get(
            "healthz",
            "Liveness: the process serves requests.",
            text("ok", "text/plain"),
            false,
        ),
    );
    paths = paths.path(
        "/readyz",
        get(
            "readyz",
            "Readiness: the photo store answers a cheap check.",
            text("ready", "text/plain"),
            true,
        ),
    );
    paths = paths.path(
        "/metrics",
        get(
            "metrics",
            "Prometheus text (unless `serve --no-metrics`).",
            text("Metrics", "text/plain; version=0.0.4"),
            false,
        ),
    );
    paths.path(
        "/openapi.json",
        get(
            "openapi",
            "This document.",
            ResponseBuilder::new()
                .description("OpenAPI 3.1")
                .content("application/json", Content::new(None::<Ref>))
                .build(),
            false,
        ),
    )
}

fn openapi() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for (template, route) in routes() {
        paths = paths.path(template.clone(), path_item(&template, &route));
    }
    let paths = operations_paths(paths);
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("graph-photo: Microsoft Graph profile photos")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The Microsoft Graph profile-photo API as graph-photo serves it: every route \
                     takes `Authorization: Bearer <token>` (Entra-shaped JWT, or the host's own \
                     scheme when embedded). The same routes exist under `/v1.0` and `/beta`.",
                )),
        )
        .paths(paths)
        .components(Some(
            ComponentsBuilder::new()
                .schema_from::<ProfilePhoto>()
                .schema_from::<ProfilePhotoSize>()
                .schema_from::<ProfilePhotoSizes>()
                .schema_from::<ErrorResponse>()
                .schema_from::<ErrorDetail>()
                .schema_from::<InnerError>()
                .build(),
        ))
        .build()
}

fn path_item(template: &str, route: &Route) -> PathItem {
    let mut item = PathItemBuilder::new();
    let parameters: Vec<_> = PARAMETERS
        .iter()
        .chain([&SIZE_PARAMETER])
        .filter(|(_, name, _)| template.contains(&format!("{{{name}}}")))
        .map(|(_, name, description)| {
            ParameterBuilder::new()
                .name(*name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(*description))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build()
        })
        .collect();
    for method in route.allowed_methods() {
        let (http_method, operation) = match method {
            "GET" => (HttpMethod::Get, read(route, true)),
            "HEAD" => (HttpMethod::Head, read(route, false)),
            "PUT" => (HttpMethod::Put, update()),
            "PATCH" => (HttpMethod::Patch, update()),
            "DELETE" => (HttpMethod::Delete, delete()),
            _ => continue,
        };
        let operation = operation
            .operation_id(Some(format!(
                "{}{}",
                method.to_ascii_lowercase(),
                template.replace(['/', '{', '}', '$', '.'], "_")
            )))
            .parameters(Some(parameters.clone()));
        item = item.operation(http_method, errors(operation, method).build());
    }
    item.build()
}

fn json(schema: &str) -> Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(schema)))
        .build()
}

fn image<'a>(types: &'a [&'a str], body: bool) -> impl Iterator<Item = (String, Content)> + 'a {
    types.iter().map(move |t| {
        let content = if body {
            Content::new(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .content_media_type("application/octet-stream"),
            ))
        } else {
            Content::new(None::<Ref>)
        };
        ((*t).to_owned(), content)
    })
}

fn etag_header() -> utoipa::openapi::Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::String))
        .description(Some("The strong tag of this version (spec C8)."))
        .build()
}

fn read(route: &Route, body: bool) -> OperationBuilder {
    let (summary, ok) = match &route.resource {
        Resource::Photo => ("The photo's metadata.", Some("ProfilePhoto")),
        Resource::Photos => (
            "The sizes available for the photo.",
            Some("ProfilePhotoSizes"),
        ),
        Resource::Size(_) => ("One size's metadata.", Some("ProfilePhoto")),
        Resource::PhotoValue => ("The photo as uploaded.", None),
        Resource::SizeValue(_) => ("One size of the photo, as a JPEG.", None),
    };
    let mut response = ResponseBuilder::new()
        .description("OK")
        .header("ETag", etag_header());
    match ok {
        Some(schema) if body => response = response.content("application/json", json(schema)),
        Some(_) => response = response.content("application/json", Content::new(None::<Ref>)),
        None => {
            let types: &[&str] = if matches!(route.resource, Resource::SizeValue(_)) {
                &["image/jpeg"]
            } else {
                &["image/jpeg", "image/png", "image/gif", "image/bmp"]
            };
            for (media_type, content) in image(types, body) {
                response = response.content(media_type, content);
            }
        }
    }
    let conditional = ParameterBuilder::new()
        .name("If-None-Match")
        .parameter_in(ParameterIn::Header)
        .description(Some(
            "Answer 304 when the current tag is one of these (spec B7).",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build();
    OperationBuilder::new()
        .summary(Some(summary))
        .parameter(conditional)
        .response("200", response.build())
        .response(
            "304",
            ResponseBuilder::new()
                .description("Not modified: the client's copy is current.")
                .header("ETag", etag_header())
                .build(),
        )
}

fn if_match() -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name("If-Match")
        .parameter_in(ParameterIn::Header)
        .description(Some(
            "Only if the current photo has one of these tags, or `*`: any photo (spec B7).",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

fn update() -> OperationBuilder {
    let mut body = utoipa::openapi::request_body::RequestBodyBuilder::new()
        .description(Some(
            "The image: JPEG, PNG, GIF or BMP, at most 4 MiB and 10,000 px a side (spec B3-B5).",
        ))
        .required(Some(Required::True));
    for (media_type, content) in image(&["image/jpeg", "image/png", "image/gif", "image/bmp"], true)
    {
        body = body.content(media_type, content);
    }
    OperationBuilder::new()
        .summary(Some("Replace the photo (spec B1)."))
        .parameter(if_match())
        .request_body(Some(body.build()))
        .response(
            "200",
            ResponseBuilder::new()
                .description("Stored.")
                .header("ETag", etag_header())
                .build(),
        )
}

fn delete() -> OperationBuilder {
    OperationBuilder::new()
        .summary(Some("Delete the photo (spec B8)."))
        .parameter(if_match())
        .response(
            "204",
            ResponseBuilder::new().description("Deleted.").build(),
        )
}

/// The Graph errors every route may answer, and those of writes.
fn errors(mut operation: OperationBuilder, method: &str) -> OperationBuilder {
    let mut statuses = vec![
        (
            "400",
            "Bad request: an unknown segment, an invalid image (spec A6, B3).",
        ),
        ("401", "No valid token (spec D1)."),
        (
            "403",
            "The token's permissions do not allow this (spec D4, D5).",
        ),
        ("404", "No such user, group, contact or photo (spec C4)."),
        (
            "503",
            "The store is unavailable; retry after `Retry-After` (spec F2).",
        ),
        (
            "429",
            "Throttled: retry after `Retry-After` (spec F1; only with `serve --throttle`).",
        ),
    ];
    if matches!(method, "PUT" | "PATCH" | "DELETE") {
        statuses.push((
            "412",
            "The `If-Match` tag is not the current one (spec B7).",
        ));
    }
    if matches!(method, "PUT" | "PATCH") {
        statuses.push(("413", "Over 4 MiB (spec B4)."));
        statuses.push(("408", "The body did not arrive in time."));
    }
    for (status, description) in statuses {
        operation = operation.response(
            status,
            ResponseBuilder::new()
                .description(description)
                .content("application/json", json("ErrorResponse"))
                .build(),
        );
    }
    operation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_kind_and_version_is_described() {
        let doc: serde_json::Value = serde_json::from_slice(document()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        for path in [
            "/v1.0/me/photo/$value",
            "/beta/users/{user-id}/photos/{size}/$value",
            "/v1.0/groups/{group-id}/photos",
            "/v1.0/users/{user-id}/contactFolders/{contactFolder-id}/contacts/{contact-id}/photo",
        ] {
            assert!(paths.contains_key(path), "{path} missing");
        }
        // The grammar's refusals are not documented routes.
        assert!(!paths.contains_key("/v1.0/me/contacts/{contact-id}/photos"));
        // A contact's photo cannot be deleted (Graph), a user's can.
        assert!(paths["/v1.0/me/contacts/{contact-id}/photo/$value"]
            .get("delete")
            .is_none());
        assert!(paths["/v1.0/me/photo/$value"].get("delete").is_some());
        assert!(
            paths["/v1.0/users/{user-id}/photo/$value"]["put"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "user-id" && p["in"] == "path")
        );
        for schema in ["ProfilePhoto", "ProfilePhotoSizes", "ErrorResponse"] {
            assert!(
                doc["components"]["schemas"].get(schema).is_some(),
                "{schema}"
            );
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc: serde_json::Value = serde_json::from_slice(document()).unwrap();
        let mut ids = std::collections::BTreeSet::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                let id = operation["operationId"].as_str().unwrap().to_owned();
                assert!(ids.insert(id.clone()), "{id} twice");
            }
        }
        assert!(ids.len() > 100, "{}", ids.len());
    }
}
