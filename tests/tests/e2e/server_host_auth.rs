//! A host's own authentication in place of JWT validation (`AppState.auth` is any
//! `Authenticate`): the router hands the injected caller to the use cases, which still apply
//! the permission rules (spec D4-D7) and answer a refused identity with Graph's 401.

use std::sync::Arc;

use adapter_http_server::auth::{AuthError, Authenticate};
use adapter_memstore::seed::CONTOSO_TENANT;
use async_trait::async_trait;
use axum::body::Body;
use photo_core::principal::{ApplicationPrincipal, DelegatedPrincipal, Principal, Scope, TenantId};

use crate::support::*;

/// A host that already knows its users from a header of its own: `user:<oid>` signs in a
/// Contoso user with `User.ReadWrite`, `app` is an application with
/// `ProfilePhoto.ReadWrite.All`; anything else is refused.
struct HostSession;

#[async_trait]
impl Authenticate for HostSession {
    async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let tenant = TenantId::new(CONTOSO_TENANT);
        match authorization {
            Some("app") => Ok(Principal::Application(ApplicationPrincipal {
                tenant,
                app_id: "host-app".into(),
                roles: vec![Scope::ProfilePhotoReadWriteAll],
            })),
            Some(session) => match session.strip_prefix("user:") {
                Some(oid) => Ok(Principal::Delegated(DelegatedPrincipal {
                    tenant,
                    user_id: oid.to_owned(),
                    scopes: vec![Scope::UserReadWrite],
                    directory_roles: Vec::new(),
                    app_id: None,
                })),
                None => Err(AuthError::Malformed("not a session of this host")),
            },
            None => Err(AuthError::MissingToken),
        }
    }
}

fn with_session(method: &str, path: &str, session: Option<&str>) -> axum::http::request::Builder {
    let builder = axum::http::Request::builder().method(method).uri(path);
    match session {
        Some(session) => builder.header("authorization", session),
        None => builder,
    }
}

#[tokio::test]
async fn an_injected_caller_reaches_the_use_cases_and_their_rules() {
    let server = server_with_auth(Arc::new(HostSession));
    let adele = format!("user:{ADELE_ID}");
    let photo = jpeg(64, 64);

    // The injected delegated user updates her own photo through /me ...
    let put = with_session("PUT", "/v1.0/me/photo/$value", Some(&adele))
        .body(Body::from(photo.clone()))
        .unwrap();
    server.send(put).await.assert_updated();
    let got = server
        .send(
            with_session("GET", "/v1.0/me/photo/$value", Some(&adele))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    got.assert_status(200);
    assert_eq!(got.body.as_ref(), photo.as_slice());

    // ... but User.ReadWrite does not reach another user's photo (D4): the rules still apply.
    let other = with_session(
        "PUT",
        &format!("/v1.0/users/{MEGAN_ID}/photo/$value"),
        Some(&adele),
    )
    .body(Body::from(photo.clone()))
    .unwrap();
    server
        .send(other)
        .await
        .assert_error(403, "ErrorAccessDenied");

    // The injected application reads Adele's photo by id; /me is not for applications.
    let by_app = server
        .send(
            with_session(
                "GET",
                &format!("/v1.0/users/{ADELE_ID}/photo/$value"),
                Some("app"),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    by_app.assert_status(200);
    assert_eq!(by_app.body.as_ref(), photo.as_slice());
    server
        .send(
            with_session("GET", "/v1.0/me/photo", Some("app"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .assert_error(400, "BadRequest");
}

#[tokio::test]
async fn a_caller_the_host_refuses_gets_graphs_401() {
    let server = server_with_auth(Arc::new(HostSession));
    for session in [None, Some("cookie:nope")] {
        let resp = server
            .send(
                with_session("GET", "/v1.0/me/photo", session)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        let message = resp.assert_error(401, "InvalidAuthenticationToken");
        assert!(!message.is_empty());
        assert!(resp.header("www-authenticate").is_some());
    }
}
