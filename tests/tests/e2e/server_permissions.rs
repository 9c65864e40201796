//! The permission tables of spec D4 (write) and D5 (read), row by row, over real tokens, and
//! tenant isolation (D3).

use crate::support::*;
use axum::body::Body;
use photo_core::principal::{GLOBAL_ADMINISTRATOR, PEOPLE_ADMINISTRATOR, USER_ADMINISTRATOR};

const FOLDER: &str = ADELE_FRIENDS_FOLDER_ID;
const DIRECTORY_READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";

/// What a call is expected to answer.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Ok,
    Denied,
    NoUser,
    NotFound,
}

async fn check(s: &TestServer, method: &str, path: &str, token: &str, expect: Expect) {
    let body = if matches!(method, "PUT" | "PATCH") {
        jpeg(48, 48)
    } else {
        vec![]
    };
    let resp = s.call(method, path, Some(token), Body::from(body)).await;
    let what = format!("{method} {path} ({expect:?})");
    match expect {
        Expect::Ok => assert!(
            resp.status.is_success(),
            "{what}: {} {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        ),
        Expect::Denied => {
            let message = resp.assert_error(403, "ErrorAccessDenied");
            assert!(
                message.starts_with("Access is denied. Check credentials and try again."),
                "{what}: {message}"
            );
        }
        Expect::NoUser => {
            let message = resp.assert_error(400, "BadRequest");
            assert_eq!(
                message, "/me request is only valid with delegated authentication flow.",
                "{what}"
            );
        }
        Expect::NotFound => {
            resp.assert_error(404, "Request_ResourceNotFound");
        }
    }
}

fn update_path(target: &str) -> String {
    format!("/v1.0/{target}/photo/$value")
}

/// D4, first row: me (or the caller's own id or UPN).
#[tokio::test]
async fn d4_me() {
    use Expect::*;
    let s = server().await;
    let me_paths = [
        "me".to_owned(),
        format!("users/{ADELE_ID}"),
        format!("users/{}", ADELE_ID.to_uppercase()),
        format!("users/{ADELE_UPN}"),
        format!("users/{}", ADELE_UPN.to_lowercase()),
    ];
    for target in &me_paths {
        let path = update_path(target);
        for scope in [
            "User.ReadWrite",
            "User.ReadWrite.All",
            "ProfilePhoto.ReadWrite.All",
            "user.readwrite",
        ] {
            check(&s, "PUT", &path, &adele(&[scope]), Ok).await;
            check(&s, "PATCH", &path, &adele(&[scope]), Ok).await;
        }
        let not_enough = adele(&[
            "User.Read",
            "User.ReadBasic.All",
            "User.Read.All",
            "ProfilePhoto.Read.All",
            "Group.ReadWrite.All",
            "Contacts.ReadWrite",
            "openid",
        ]);
        check(&s, "PUT", &path, &not_enough, Denied).await;
        check(&s, "DELETE", &path, &not_enough, Denied).await;
    }
    // A directory role does not replace the permission.
    let path = update_path("me");
    check(
        &s,
        "PUT",
        &path,
        &delegated(
            adapter_memstore::seed::CONTOSO_TENANT,
            ADELE_ID,
            &["User.Read"],
            &[GLOBAL_ADMINISTRATOR],
        ),
        Denied,
    )
    .await;
    check(&s, "DELETE", &path, &adele(&["User.ReadWrite"]), Ok).await;
    // An application has no /me.
    let all = app(&["User.ReadWrite.All", "ProfilePhoto.ReadWrite.All"]);
    check(&s, "PUT", &path, &all, NoUser).await;
    check(&s, "DELETE", "/v1.0/me/photo", &all, NoUser).await;
}

/// D4, second row: another user needs the permission and, delegated, an admin role.
#[tokio::test]
async fn d4_another_user() {
    use Expect::*;
    let s = server().await;
    let tenant = adapter_memstore::seed::CONTOSO_TENANT;
    for target in [
        format!("users/{ALEX_ID}"),
        "users/AlexW@contoso.onmicrosoft.com".to_owned(),
    ] {
        let path = update_path(&target);
        for scope in ["User.ReadWrite.All", "ProfilePhoto.ReadWrite.All"] {
            // Megan holds User Administrator.
            check(&s, "PUT", &path, &megan(&[scope]), Ok).await;
            for role in [
                GLOBAL_ADMINISTRATOR,
                USER_ADMINISTRATOR,
                PEOPLE_ADMINISTRATOR,
            ] {
                check(
                    &s,
                    "PATCH",
                    &path,
                    &delegated(tenant, ADELE_ID, &[scope], &[role]),
                    Ok,
                )
                .await;
            }
            // The permission alone, or with another role, is not enough.
            check(&s, "PUT", &path, &adele(&[scope]), Denied).await;
            check(
                &s,
                "PUT",
                &path,
                &delegated(tenant, ADELE_ID, &[scope], &[DIRECTORY_READERS]),
                Denied,
            )
            .await;
            check(&s, "DELETE", &path, &adele(&[scope]), Denied).await;
            // An application needs no role.
            check(&s, "PUT", &path, &app(&[scope]), Ok).await;
        }
        // The role without the permission.
        check(
            &s,
            "PUT",
            &path,
            &megan(&["User.ReadWrite", "Group.ReadWrite.All"]),
            Denied,
        )
        .await;
        check(
            &s,
            "PUT",
            &path,
            &app(&["User.Read.All", "Group.ReadWrite.All", "Contacts.ReadWrite"]),
            Denied,
        )
        .await;
        check(&s, "PUT", &path, &app(&[]), Denied).await;
        check(&s, "DELETE", &path, &megan(&["User.ReadWrite.All"]), Ok).await;
        check(&s, "PUT", &path, &app(&["ProfilePhoto.ReadWrite.All"]), Ok).await;
        check(
            &s,
            "DELETE",
            &path,
            &app(&["ProfilePhoto.ReadWrite.All"]),
            Ok,
        )
        .await;
    }
}

/// D4, third row: groups.
#[tokio::test]
async fn d4_group() {
    use Expect::*;
    let s = server().await;
    let path = update_path(&format!("groups/{MARKETING_GROUP_ID}"));
    for scope in ["Group.ReadWrite.All", "ProfilePhoto.ReadWrite.All"] {
        check(&s, "PUT", &path, &adele(&[scope]), Ok).await;
        check(&s, "PATCH", &path, &app(&[scope]), Ok).await;
    }
    let not_enough = [
        "Group.Read.All",
        "User.ReadWrite.All",
        "ProfilePhoto.Read.All",
        "Contacts.ReadWrite",
    ];
    check(&s, "PUT", &path, &adele(&not_enough), Denied).await;
    check(&s, "PUT", &path, &megan(&not_enough), Denied).await;
    check(&s, "PUT", &path, &app(&not_enough), Denied).await;
    check(&s, "DELETE", &path, &adele(&not_enough), Denied).await;
    check(&s, "DELETE", &path, &app(&["Group.ReadWrite.All"]), Ok).await;
}

/// D4, fourth row: contacts of the signed-in user, however the path names them.
#[tokio::test]
async fn d4_contact_of_me() {
    use Expect::*;
    let s = server().await;
    let targets = [
        format!("me/contacts/{ADELE_CONTACT_ID}"),
        format!("me/contactFolders/{FOLDER}/contacts/{ADELE_FOLDER_CONTACT_ID}"),
        format!("users/{ADELE_ID}/contacts/{ADELE_CONTACT_ID}"),
        format!("users/{ADELE_UPN}/contactfolders/{FOLDER}/contacts/{ADELE_FOLDER_CONTACT_ID}"),
    ];
    for target in &targets {
        let path = update_path(target);
        check(&s, "PUT", &path, &adele(&["Contacts.ReadWrite"]), Ok).await;
        check(&s, "PATCH", &path, &adele(&["contacts.readwrite"]), Ok).await;
        check(
            &s,
            "PUT",
            &path,
            &adele(&[
                "Contacts.Read",
                "User.ReadWrite.All",
                "ProfilePhoto.ReadWrite.All",
            ]),
            Denied,
        )
        .await;
    }
    let path = update_path(&targets[0]);
    check(&s, "PUT", &path, &app(&["Contacts.ReadWrite"]), NoUser).await;
}

/// D4, last row: contacts of another user are private, except to an application.
#[tokio::test]
async fn d4_contact_of_another_user() {
    use Expect::*;
    let s = server().await;
    let everything = [
        "Contacts.ReadWrite",
        "User.ReadWrite.All",
        "ProfilePhoto.ReadWrite.All",
        "Group.ReadWrite.All",
    ];
    for target in [
        format!("users/{ADELE_ID}/contacts/{ADELE_CONTACT_ID}"),
        format!("users/{ADELE_UPN}/contactFolders/{FOLDER}/contacts/{ADELE_FOLDER_CONTACT_ID}"),
    ] {
        let path = update_path(&target);
        let resp = s.put(&path, &megan(&everything), &jpeg(48, 48)).await;
        let message = resp.assert_error(403, "ErrorAccessDenied");
        assert!(message.contains("private"), "{message}");
        check(&s, "PUT", &path, &app(&["Contacts.ReadWrite"]), Ok).await;
        check(
            &s,
            "PATCH",
            &path,
            &app(&[
                "Contacts.Read",
                "User.ReadWrite.All",
                "ProfilePhoto.ReadWrite.All",
            ]),
            Denied,
        )
        .await;
    }
}

/// D5: every row of the read table, on the metadata, the bytes and the size list.
#[tokio::test]
async fn d5_read_table() {
    use Expect::*;
    let s = server().await;
    let tenant = adapter_memstore::seed::CONTOSO_TENANT;
    // Photos everywhere, so an allowed read is a 200.
    let writer = app(&["ProfilePhoto.ReadWrite.All", "Contacts.ReadWrite"]);
    for target in [
        format!("users/{ADELE_ID}"),
        format!("users/{ALEX_ID}"),
        format!("groups/{MARKETING_GROUP_ID}"),
        format!("users/{ADELE_ID}/contacts/{ADELE_CONTACT_ID}"),
        format!("users/{MEGAN_ID}/contacts/{MEGAN_CONTACT_ID}"),
    ] {
        s.upload(&update_path(&target), &writer, &jpeg(48, 48))
            .await;
    }
    let reads = |target: &str| {
        let mut paths = vec![
            format!("/v1.0/{target}/photo"),
            format!("/beta/{target}/photo/$value"),
        ];
        if !target.contains("contacts") {
            paths.push(format!("/v1.0/{target}/photos"));
            paths.push(format!("/v1.0/{target}/photos/48x48/$value"));
        }
        paths
    };
    let cases: Vec<(String, String, Expect)> = {
        let mut cases = Vec::new();
        let mut add = |target: &str, token: String, expect: Expect| {
            for path in reads(target) {
                cases.push((path, token.clone(), expect));
            }
        };
        // me
        for scope in [
            "User.Read",
            "User.ReadWrite",
            "User.ReadBasic.All",
            "User.Read.All",
            "User.ReadWrite.All",
            "ProfilePhoto.Read.All",
            "ProfilePhoto.ReadWrite.All",
        ] {
            add("me", adele(&[scope]), Ok);
            add(&format!("users/{ADELE_UPN}"), adele(&[scope]), Ok);
        }
        add(
            "me",
            adele(&["Contacts.ReadWrite", "Group.ReadWrite.All", "openid"]),
            Denied,
        );
        add(
            "me",
            app(&["User.Read.All", "ProfilePhoto.Read.All"]),
            NoUser,
        );
        // another user
        let alex_user = format!("users/{ALEX_ID}");
        for scope in [
            "User.ReadBasic.All",
            "User.Read.All",
            "User.ReadWrite.All",
            "ProfilePhoto.Read.All",
            "ProfilePhoto.ReadWrite.All",
        ] {
            add(&alex_user, adele(&[scope]), Ok);
        }
        add(
            &alex_user,
            adele(&["User.Read", "User.ReadWrite", "Group.ReadWrite.All"]),
            Denied,
        );
        add(
            &alex_user,
            delegated(
                tenant,
                ADELE_ID,
                &["User.ReadWrite"],
                &[GLOBAL_ADMINISTRATOR],
            ),
            Denied,
        );
        for role in [
            "User.Read.All",
            "User.ReadWrite.All",
            "ProfilePhoto.Read.All",
            "ProfilePhoto.ReadWrite.All",
        ] {
            add(&alex_user, app(&[role]), Ok);
        }
        // User.ReadBasic.All is delegated only.
        add(
            &alex_user,
            app(&["User.ReadBasic.All", "Group.ReadWrite.All"]),
            Denied,
        );
        // group
        let group = format!("groups/{MARKETING_GROUP_ID}");
        for scope in [
            "Group.Read.All",
            "Group.ReadWrite.All",
            "ProfilePhoto.Read.All",
            "ProfilePhoto.ReadWrite.All",
        ] {
            add(&group, adele(&[scope]), Ok);
            add(&group, app(&[scope]), Ok);
        }
        add(
            &group,
            adele(&["User.Read.All", "User.ReadWrite.All"]),
            Denied,
        );
        add(&group, app(&["User.Read.All"]), Denied);
        // contact of me
        for contact in [
            format!("me/contacts/{ADELE_CONTACT_ID}"),
            format!("users/{ADELE_ID}/contacts/{ADELE_CONTACT_ID}"),
        ] {
            for scope in ["Contacts.Read", "Contacts.ReadWrite"] {
                add(&contact, adele(&[scope]), Ok);
            }
            add(
                &contact,
                adele(&["User.Read", "User.ReadWrite.All", "ProfilePhoto.Read.All"]),
                Denied,
            );
        }
        add(
            &format!("me/contacts/{ADELE_CONTACT_ID}"),
            app(&["Contacts.Read"]),
            NoUser,
        );
        // contact of another user
        let megans = format!("users/{MEGAN_ID}/contacts/{MEGAN_CONTACT_ID}");
        add(
            &megans,
            adele(&["Contacts.Read", "Contacts.ReadWrite", "User.Read.All"]),
            Denied,
        );
        add(
            &megans,
            alex(&["Contacts.ReadWrite"], &[GLOBAL_ADMINISTRATOR]),
            Denied,
        );
        for role in ["Contacts.Read", "Contacts.ReadWrite"] {
            add(&megans, app(&[role]), Ok);
        }
        add(
            &megans,
            app(&["User.Read.All", "ProfilePhoto.Read.All"]),
            Denied,
        );
        cases
    };
    for (path, token, expect) in &cases {
        check(&s, "GET", path, token, *expect).await;
    }
    // HEAD is a read like GET.
    check(
        &s,
        "HEAD",
        &format!("/v1.0/users/{ALEX_ID}/photo/$value"),
        &app(&["User.Read.All"]),
        Ok,
    )
    .await;
}

/// D3: a token of one tenant sees only that tenant's directory and photos.
#[tokio::test]
async fn d3_tenants_are_isolated() {
    use Expect::*;
    let s = server().await;
    let fabrikam_app = app_in(
        FABRIKAM_TENANT,
        &[
            "ProfilePhoto.ReadWrite.All",
            "Contacts.ReadWrite",
            "User.Read.All",
        ],
    );
    // Allan's own photo, in Fabrikam.
    let allan_photo = jpeg_seeded(48, 48, 42);
    s.upload(
        "/v1.0/me/photo/$value",
        &allan(&["User.ReadWrite"]),
        &allan_photo,
    )
    .await;
    let resp = s
        .get(
            &format!("/v1.0/users/{ALLAN_ID}/photo/$value"),
            &fabrikam_app,
        )
        .await;
    assert_eq!(resp.body, allan_photo);

    let contoso_reader = adele(&["User.ReadBasic.All", "Group.Read.All"]);
    let contoso_app = app(&["ProfilePhoto.ReadWrite.All", "Contacts.ReadWrite"]);
    for (method, path, token) in [
        (
            "GET",
            format!("/v1.0/users/{ALLAN_ID}/photo"),
            &contoso_reader,
        ),
        (
            "GET",
            format!("/v1.0/users/{ALLAN_ID}/photo/$value"),
            &contoso_app,
        ),
        (
            "PUT",
            format!("/v1.0/users/{ALLAN_ID}/photo/$value"),
            &contoso_app,
        ),
        (
            "DELETE",
            format!("/v1.0/users/{ALLAN_ID}/photo"),
            &contoso_app,
        ),
        (
            "GET",
            format!("/v1.0/groups/{FABRIKAM_GROUP_ID}/photos"),
            &contoso_reader,
        ),
        (
            "GET",
            format!("/v1.0/users/{ADELE_ID}/photo"),
            &fabrikam_app,
        ),
        (
            "PUT",
            format!("/v1.0/groups/{MARKETING_GROUP_ID}/photo/$value"),
            &fabrikam_app,
        ),
        (
            "GET",
            format!("/v1.0/users/{ADELE_ID}/contacts/{ADELE_CONTACT_ID}/photo"),
            &fabrikam_app,
        ),
        (
            "GET",
            format!("/v1.0/users/{ADELE_UPN}/photo"),
            &allan(&["User.ReadBasic.All"]),
        ),
        (
            "GET",
            format!("/v1.0/users/{PAT_ID}/photo"),
            &contoso_reader,
        ),
    ] {
        check(&s, method, &path, token, NotFound).await;
    }
    // Allan's photo is untouched.
    let resp = s
        .get(
            &format!("/v1.0/users/{ALLAN_ID}/photo/$value"),
            &fabrikam_app,
        )
        .await;
    assert_eq!(resp.body, allan_photo);
    // A Contoso user id inside a Fabrikam token does not make it Contoso's user.
    let impostor = delegated(FABRIKAM_TENANT, ADELE_ID, &["User.ReadWrite"], &[]);
    let resp = s
        .put("/v1.0/me/photo/$value", &impostor, &jpeg(48, 48))
        .await;
    resp.assert_error(404, "Request_ResourceNotFound");
    s.get("/v1.0/me/photo", &adele(&["User.Read"]))
        .await
        .assert_error(404, "ErrorEntityNotFound");
}
