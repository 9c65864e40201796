//! Random methods, paths, headers and bodies: the server never answers 5xx, every answer has
//! the headers of spec C6, every error has the envelope of C7, and every success its shape.
//! The number of cases follows `PROPTEST_CASES` (default 256).

use crate::support::*;
use axum::body::{Body, Bytes};
use axum::http::Request;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[derive(Debug, Clone)]
struct Case {
    method: String,
    path: String,
    authorization: Option<usize>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    chunked: bool,
}

fn segment() -> impl Strategy<Value = String> {
    let known = proptest::sample::select(vec![
        "me",
        "Me",
        "users",
        "USERS",
        "groups",
        "contacts",
        "contactFolders",
        "contactfolders",
        "photo",
        "Photo",
        "photos",
        "$value",
        "%24value",
        "%24VALUE",
        "48x48",
        "96X96",
        "648x648",
        "0x0",
        "48x64",
        ADELE_ID,
        ADELE_UPN,
        "AdeleV%40contoso.onmicrosoft.com",
        ALEX_ID,
        ALLAN_ID,
        PAT_ID,
        MARKETING_GROUP_ID,
        ADELE_CONTACT_ID,
        "AAMkAGI2THVSAAA%3D",
        ADELE_FRIENDS_FOLDER_ID,
        MEGAN_CONTACT_ID,
        "lee_fabrikam.com%23EXT%23@contoso.onmicrosoft.com",
        "grp%2Fwith%2Fslash",
        "%2F",
        "%ZZ",
        "%",
        "%FF%FE",
        "%C3%A9",
        "%00",
        "a+b",
        "x'y",
        "..",
        ".",
        "",
        "nobody@x.com",
    ])
    .prop_map(str::to_owned);
    prop_oneof![
        4 => known,
        1 => "[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,12}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    let version = proptest::sample::select(vec!["v1.0", "beta", "BETA", "V1.0", "v2.0", ""]);
    let query = proptest::option::of(proptest::sample::select(vec![
        "?$select=id",
        "?size=48x48",
        "?",
        "?a=%ZZ",
    ]));
    (
        version,
        proptest::collection::vec(segment(), 0..7),
        any::<bool>(),
        query,
    )
        .prop_map(|(version, segments, trailing, query)| {
            let mut path = format!("/{version}");
            for s in segments {
                path.push('/');
                path.push_str(&s);
            }
            if trailing {
                path.push('/');
            }
            path.push_str(query.unwrap_or(""));
            path
        })
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        Just("\"0000000000000000\"".to_owned()),
        Just("W/\"x\", \"y\"".to_owned()),
        "[ -~]{0,24}",
    ]
}

fn headers() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    let name = proptest::sample::select(vec![
        "if-match",
        "if-none-match",
        "content-type",
        "accept",
        "client-request-id",
        "origin",
        "content-length",
        "access-control-request-method",
    ]);
    proptest::collection::vec((name, header_value()), 0..4)
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let photo = jpeg(60, 50);
    let cut = photo.clone();
    prop_oneof![
        Just(Vec::new()),
        Just(photo),
        (1..600usize).prop_map(move |n| cut[..n.min(cut.len())].to_vec()),
        proptest::collection::vec(any::<u8>(), 0..256),
        Just(png_transparent(50, 50)),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let method = proptest::sample::select(vec![
        "GET", "HEAD", "PUT", "PATCH", "DELETE", "POST", "OPTIONS", "TRACE", "PROPFIND", "get",
        "Put",
    ]);
    (
        method,
        path(),
        proptest::option::of(0..TOKENS),
        headers(),
        body(),
        any::<bool>(),
    )
        .prop_map(
            |(method, path, authorization, headers, body, chunked)| Case {
                method: method.to_owned(),
                path,
                authorization,
                headers,
                body,
                chunked,
            },
        )
}

const TOKENS: usize = 7;

fn authorizations() -> Vec<String> {
    let all = [
        "User.ReadWrite.All",
        "Group.ReadWrite.All",
        "Contacts.ReadWrite",
        "ProfilePhoto.ReadWrite.All",
    ];
    let list = vec![
        format!(
            "Bearer {}",
            adele(&[
                "User.ReadWrite",
                "Contacts.ReadWrite",
                "Group.ReadWrite.All"
            ])
        ),
        format!("Bearer {}", megan(&all)),
        format!("Bearer {}", app(&all)),
        format!("Bearer {}", pat(&["User.ReadWrite"])),
        format!("Bearer {}", allan(&["User.Read"])),
        "Bearer not.a.jwt".to_owned(),
        "Basic YWJjOmRlZg==".to_owned(),
    ];
    assert_eq!(list.len(), TOKENS);
    list
}

fn request(case: &Case, authorizations: &[String]) -> Option<Request<Body>> {
    let mut builder = Request::builder()
        .method(case.method.as_str())
        .uri(&case.path);
    if let Some(i) = case.authorization {
        builder = builder.header("authorization", &authorizations[i]);
    }
    for (name, value) in &case.headers {
        builder = builder.header(*name, value.as_str());
    }
    let body = if case.chunked {
        let chunks: Vec<Result<Bytes, std::io::Error>> = case
            .body
            .chunks(100)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Body::from_stream(futures::stream::iter(chunks))
    } else {
        Body::from(case.body.clone())
    };
    builder.body(body).ok()
}

#[test]
fn the_server_never_fails_and_always_answers_in_shape() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = runtime.block_on(server());
    let authorizations = authorizations();
    // `Config::default()` reads PROPTEST_CASES; failures are kept next to this file.
    let mut runner = TestRunner::new(Config {
        source_file: Some(file!()),
        ..Config::default()
    });
    let result = runner.run(&case(), |case| {
        // Some generated URIs or header values are not valid HTTP; nothing to send then.
        let Some(request) = request(&case, &authorizations) else {
            return Ok(());
        };
        let is_options = request.method() == axum::http::Method::OPTIONS;
        let resp = runtime.block_on(async {
            if is_options {
                // Answered by the CORS layer, outside the envelope.
                s.send_raw(request).await
            } else {
                // Checks C6 on every answer and C7 on every error.
                s.send(request).await
            }
        });
        prop_assert!(
            !resp.status.is_server_error(),
            "{case:?} -> {} {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        );
        let write = matches!(case.method.to_ascii_uppercase().as_str(), "PUT" | "PATCH");
        if write && resp.status == 200 {
            resp.assert_updated();
        }
        if resp.status == 405 {
            prop_assert!(resp.header("allow").is_some());
        }
        if resp.status == 401 {
            prop_assert!(resp.header("www-authenticate").is_some());
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}
