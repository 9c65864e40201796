//! Delegated and application tokens: round trips to a principal, and what decides the kind.

use super::*;

// ---------------------------------------------------------------- round trips

#[tokio::test]
async fn delegated_token_round_trips() {
    let token = KEY_A.mint(&delegated_request()).expect("mint");
    let principal = check(&token).await.expect("valid");
    let Principal::Delegated(d) = principal else {
        panic!("expected delegated, got {principal:?}")
    };
    assert_eq!(d.tenant, TenantId::new(TENANT));
    assert_eq!(d.user_id, USER);
    assert_eq!(
        d.scopes,
        vec![Scope::UserReadWrite, Scope::Other("openid".into())]
    );
    assert_eq!(d.directory_roles, vec![GLOBAL_ADMINISTRATOR.to_owned()]);
    assert_eq!(d.app_id.as_deref(), Some(DEV_APP_ID));
}

#[tokio::test]
async fn application_token_round_trips() {
    let request =
        TokenRequest::application(TENANT, APP, ["ProfilePhoto.ReadWrite.All", "User.Read.All"]);
    let token = KEY_A.mint(&request).expect("mint");
    let principal = check(&token).await.expect("valid");
    assert_eq!(
        principal,
        Principal::Application(photo_core::principal::ApplicationPrincipal {
            tenant: TenantId::new(TENANT),
            app_id: APP.into(),
            roles: vec![Scope::ProfilePhotoReadWriteAll, Scope::UserReadAll],
        })
    );
}

#[tokio::test]
async fn request_without_user_or_scopes_is_an_application_token_and_roles_may_be_empty() {
    let request = TokenRequest {
        application: false,
        user_id: None,
        ..TokenRequest::application(TENANT, APP, Vec::<String>::new())
    };
    let token = KEY_A.mint(&request).expect("mint");
    let Principal::Application(a) = check(&token).await.expect("valid") else {
        panic!("expected an application principal")
    };
    assert!(a.roles.is_empty());
}

// ---------------------------------------------------------------- kind of token

#[tokio::test]
async fn delegated_token_needs_oid() {
    assert_eq!(
        check(&without(base_claims(), "oid")).await,
        Err(AuthError::MissingClaim("oid"))
    );
}

#[tokio::test]
async fn scp_decides_the_kind_and_idtyp_must_agree() {
    // Present but empty: still delegated (spec D2), with no scopes.
    let Principal::Delegated(d) = check(&with(base_claims(), "scp", json!("")))
        .await
        .expect("valid")
    else {
        panic!("expected delegated")
    };
    assert!(d.scopes.is_empty());

    // A user token without scp must not pass for an application token.
    assert_eq!(
        check(&without(base_claims(), "scp")).await,
        Err(AuthError::InvalidClaim("idtyp"))
    );
    assert_eq!(
        check(&with(base_claims(), "idtyp", json!("app"))).await,
        Err(AuthError::InvalidClaim("idtyp"))
    );
    assert_eq!(
        check(&with(base_claims(), "scp", json!(["User.Read"]))).await,
        Err(AuthError::InvalidClaim("scp"))
    );
    assert_eq!(
        check(&with(base_claims(), "wids", json!("not-a-list"))).await,
        Err(AuthError::InvalidClaim("wids"))
    );
}

#[tokio::test]
async fn application_token_app_id_comes_from_appid_azp_or_sub() {
    let mut app = base_claims();
    app.remove("scp");
    app.remove("oid");
    app.insert("idtyp".into(), json!("app"));
    app.insert("roles".into(), json!(["User.Read.All"]));

    let from = |claims: serde_json::Map<String, Value>| async move {
        match check(&signed(claims)).await {
            Ok(Principal::Application(a)) => Ok(a.app_id),
            Ok(other) => panic!("expected application, got {other:?}"),
            Err(e) => Err(e),
        }
    };
    assert_eq!(from(app.clone()).await, Ok(APP.to_owned()));

    let mut azp = app.clone();
    azp.remove("appid");
    azp.insert("azp".into(), json!("azp-id"));
    assert_eq!(from(azp).await, Ok("azp-id".to_owned()));

    let mut sub = app.clone();
    sub.remove("appid");
    sub.insert("sub".into(), json!("sub-id"));
    assert_eq!(from(sub.clone()).await, Ok("sub-id".to_owned()));

    sub.remove("sub");
    assert_eq!(from(sub).await, Err(AuthError::MissingClaim("appid")));

    let mut bad_roles = app.clone();
    bad_roles.insert("roles".into(), json!([1, 2]));
    assert_eq!(from(bad_roles).await, Err(AuthError::InvalidClaim("roles")));

    // No idtyp at all (older tokens): the absence of scp decides.
    let mut no_idtyp = app;
    no_idtyp.remove("idtyp");
    assert_eq!(from(no_idtyp).await, Ok(APP.to_owned()));
}
