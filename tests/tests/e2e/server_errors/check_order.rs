//! The order of the checks (spec D7): which error wins when several apply.

use super::*;

// --- The order of checks (spec D7) ------------------------------------------------------------

#[tokio::test]
async fn routing_comes_before_authentication() {
    let s = server().await;
    let expired = {
        let mut claims = adele_claims("User.ReadWrite");
        claims["exp"] = (now() - 3600).into();
        sign(&claims)
    };
    for token in [None, Some("garbage"), Some(expired.as_str())] {
        s.call("PUT", "/v1.0/me/foto/$value", token, jpeg(48, 48))
            .await
            .assert_error(400, "BadRequest");
        s.call("POST", ME, token, jpeg(48, 48))
            .await
            .assert_error(405, "MethodNotAllowed");
        s.call("GET", "/v1.0/me/contacts/c/photos", token, Body::empty())
            .await
            .assert_error(400, "BadRequest");
    }
}

#[tokio::test]
async fn authentication_comes_before_the_size_limit() {
    let s = server().await;
    let (request, pulled) = declared("PUT", ME, None, LIMIT + 1);
    s.send(request)
        .await
        .assert_error(401, "InvalidAuthenticationToken");
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
    let (request, pulled) = chunked("PUT", ME, Some("not.a.token"));
    s.send(request)
        .await
        .assert_error(401, "InvalidAuthenticationToken");
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn declared_size_limit_comes_before_authorization_and_lookup() {
    let s = server().await;
    let cases = [
        // Not allowed to write (403 otherwise).
        (adele(&["User.Read"]), ME.to_owned()),
        // Another user without a role (403 otherwise).
        (
            adele(&["User.ReadWrite.All"]),
            format!("/v1.0/users/{ALEX_ID}/photo/$value"),
        ),
        // An unknown user (404 otherwise).
        (
            megan(&["User.ReadWrite.All"]),
            "/v1.0/users/nobody@x.com/photo/$value".to_owned(),
        ),
        // An application on /me (400 otherwise).
        (app(&["User.ReadWrite.All"]), ME.to_owned()),
        // A personal account under v1.0 (400 otherwise).
        (pat(&["User.ReadWrite"]), ME.to_owned()),
    ];
    for (token, path) in &cases {
        let (request, pulled) = declared("PUT", path, Some(token), LIMIT + 1);
        s.send(request)
            .await
            .assert_error(413, "RequestEntityTooLarge");
        assert_eq!(pulled.load(Ordering::SeqCst), 0);
    }
}

/// Step 4 before 5: a caller without rights on a kind of target gets the same 403 whether
/// or not the id exists, so ids cannot be probed.
#[tokio::test]
async fn forbidden_comes_before_not_found_and_does_not_leak() {
    let s = server().await;
    let adele_token = adele(&["User.ReadWrite", "Contacts.ReadWrite"]);
    let pairs = [
        (
            format!("/v1.0/users/{ALEX_ID}/photo/$value"),
            "/v1.0/users/nobody@contoso.onmicrosoft.com/photo/$value".to_owned(),
        ),
        (
            format!("/v1.0/groups/{MARKETING_GROUP_ID}/photo/$value"),
            "/v1.0/groups/no-such-group/photo/$value".to_owned(),
        ),
        (
            format!("/v1.0/users/{MEGAN_ID}/contacts/{MEGAN_CONTACT_ID}/photo/$value"),
            "/v1.0/users/nobody@x.com/contacts/nothing/photo/$value".to_owned(),
        ),
        // Another tenant's user looks like any other unknown user.
        (
            format!("/v1.0/users/{ALLAN_ID}/photo/$value"),
            format!("/v1.0/users/{MEGAN_ID}/photo/$value"),
        ),
    ];
    for (existing, missing) in &pairs {
        for method in ["PUT", "GET", "DELETE"] {
            let a = s
                .call(method, existing, Some(&adele_token), jpeg(48, 48))
                .await;
            let b = s
                .call(method, missing, Some(&adele_token), jpeg(48, 48))
                .await;
            if method == "DELETE" && existing.contains("/contacts/") {
                // Contact photos cannot be deleted: routing answers first.
                a.assert_error(405, "MethodNotAllowed");
                b.assert_error(405, "MethodNotAllowed");
                continue;
            }
            let message = a.assert_error(403, "ErrorAccessDenied");
            assert_eq!(b.assert_error(403, "ErrorAccessDenied"), message);
        }
    }
    // No body is read for a refused write.
    let (request, pulled) = chunked(
        "PUT",
        "/v1.0/users/nobody@x.com/photo/$value",
        Some(&adele_token),
    );
    s.send(request).await.assert_error(403, "ErrorAccessDenied");
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
}

/// Steps 5 and 8: a target that does not exist is 404 before the body is read or validated.
#[tokio::test]
async fn not_found_comes_before_the_body() {
    let s = server().await;
    let admin = megan(&["User.ReadWrite.All"]);
    let path = "/v1.0/users/nobody@contoso.onmicrosoft.com/photo/$value";
    let (request, pulled) = chunked("PUT", path, Some(&admin));
    s.send(request)
        .await
        .assert_error(404, "Request_ResourceNotFound");
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
    s.put(path, &admin, b"not an image")
        .await
        .assert_error(404, "Request_ResourceNotFound");
}
