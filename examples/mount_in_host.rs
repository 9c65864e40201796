//! Mount the Graph photo API inside an existing axum service.
//!
//! The host here is a small "people" service with routes and sign-in of its own: a user signs
//! in at `POST /login` and gets an opaque session token, which the host's clients send as
//! `Authorization: Bearer <session>`. The host nests graph-photo's router under `/graph` and
//! hands it an [`Authenticate`] that maps the host's session to a graph-photo [`Principal`]:
//! no JWT, no key set, no second sign-in. The photo rules (who may change whose photo, spec D4)
//! still apply, answered in Graph's error envelope.
//!
//! ```text
//! cargo run -p graph-photo-examples --example mount_in_host                 # a walkthrough
//! cargo run -p graph-photo-examples --example mount_in_host -- --serve 127.0.0.1:8080
//! ```
//!
//! With `--serve`, try:
//!
//! ```text
//! S=$(curl -s -X POST 'http://127.0.0.1:8080/login?user=ana')
//! curl -X PUT -H "Authorization: Bearer $S" -H 'Content-Type: image/jpeg' \
//!      --data-binary @photo.jpg 'http://127.0.0.1:8080/graph/v1.0/me/photo/$value'
//! curl -H "Authorization: Bearer $S" 'http://127.0.0.1:8080/graph/v1.0/me/photos/48x48/$value' -o 48.jpg
//! ```
//!
//! What the host adds to its `Cargo.toml` (the router only: no JWT validation, no TLS):
//!
//! ```toml
//! photo-core = "0.1"
//! photo-render = "0.1"
//! adapter-http-server = { version = "0.1", default-features = false }
//! adapter-sqlite = "0.1"        # or any PhotoStore; adapter-memstore for a directory
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use adapter_http_server::auth::{AuthError, Authenticate};
use adapter_http_server::{router, AppState, UploadLimits};
use adapter_memstore::{DirectoryData, MemDirectory, TenantData, UserData};
use adapter_sqlite::{SqliteOptions, SqliteStore};
use async_trait::async_trait;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use photo_core::principal::{DelegatedPrincipal, Principal, Scope, TenantId};
use photo_core::service::PhotoService;
use photo_render::{TokioRenderer, DEFAULT_RENDER_MEMORY};

/// The host's organisation: graph-photo's tenant.
const ORG: &str = "6b1c8f52-4f0e-4a4b-9d3a-2f8e0c1d7a10";
/// The host's users: (login, id). Their ids are graph-photo's object ids.
const PEOPLE: [(&str, &str); 2] = [
    ("ana", "3f2a1b4c-9d8e-4f7a-b6c5-1e2d3c4b5a69"),
    ("ben", "7c6b5a49-3e2d-4c1b-a098-f7e6d5c4b3a2"),
];

// ---------------------------------------------------------------------------------------------
// The host's own sign-in: sessions it issues and checks (nothing to do with graph-photo).
// ---------------------------------------------------------------------------------------------

/// Sessions the host has issued: session token -> user id.
#[derive(Default)]
struct Sessions(RwLock<HashMap<String, String>>);

impl Sessions {
    fn open(&self, user_id: &str) -> String {
        // 122 random bits from the OS: a session nobody can guess.
        let token = format!("sess-{}", uuid::Uuid::new_v4().simple());
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.clone(), user_id.to_owned());
        token
    }

    fn user(&self, token: &str) -> Option<String> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned()
    }
}

// ---------------------------------------------------------------------------------------------
// The bridge: the host's session as graph-photo's caller.
// ---------------------------------------------------------------------------------------------

/// Maps `Authorization: Bearer <session>` to the signed-in user, as a delegated caller with
/// the permission a user needs to manage their own photo and read others' (spec D4).
struct HostAuth {
    sessions: Arc<Sessions>,
}

#[async_trait]
impl Authenticate for HostAuth {
    async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let header = authorization.ok_or(AuthError::MissingToken)?;
        let session = header
            .strip_prefix("Bearer ")
            .ok_or(AuthError::Malformed("expected a Bearer session token"))?;
        // Graph answers every refused credential with 401 InvalidAuthenticationToken; the
        // error's text becomes the message.
        let user_id = self
            .sessions
            .user(session)
            .ok_or(AuthError::Malformed("unknown or expired session"))?;
        Ok(Principal::Delegated(DelegatedPrincipal {
            tenant: TenantId::new(ORG),
            user_id,
            scopes: vec![Scope::UserReadWrite, Scope::UserReadBasicAll],
            directory_roles: Vec::new(),
            app_id: Some("people-service".into()),
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// The host service.
// ---------------------------------------------------------------------------------------------

/// The host's directory of people, as graph-photo's `Directory` port sees it. A host with a
/// live user table implements `Directory` over it instead (see the
/// `own_directory` example).
fn people_directory() -> Result<MemDirectory, Box<dyn std::error::Error>> {
    let users = PEOPLE
        .iter()
        .map(|(login, id)| UserData {
            id: (*id).to_owned(),
            user_principal_name: format!("{login}@people.example"),
            display_name: (*login).to_owned(),
            ..UserData::default()
        })
        .collect();
    Ok(MemDirectory::new(DirectoryData {
        tenants: vec![TenantData {
            id: ORG.to_owned(),
            display_name: "People".to_owned(),
            users,
            ..TenantData::default()
        }],
    })?)
}

/// The host's whole router: its own routes, and Graph's photo API under `/graph`.
async fn host_app(data_dir: &Path) -> Result<Router, Box<dyn std::error::Error>> {
    let sessions = Arc::new(Sessions::default());

    // Photos and their rendered sizes live in one SQLite file of the host's data directory.
    let store =
        Arc::new(SqliteStore::open(&data_dir.join("photos.db"), SqliteOptions::default()).await?);
    let service = PhotoService::new(
        Arc::new(people_directory()?),
        store.clone(),
        store,
        // Sizes are rendered off the async threads, one render per core.
        Arc::new(TokioRenderer::for_cores(DEFAULT_RENDER_MEMORY)),
    );
    let photos = router(AppState {
        service: Arc::new(service),
        auth: Arc::new(HostAuth {
            sessions: Arc::clone(&sessions),
        }),
        // `@odata.context` links must name the prefix the API is mounted under; `None` would
        // take the request's own `Host` and miss `/graph`.
        public_base_url: Some("http://people.example/graph".into()),
        uploads: UploadLimits::default(),
        // No throttling simulation (`graph-photo serve --throttle`): a host's own service.
        throttle: None,
    });

    Ok(Router::new()
        .route(
            "/",
            get(|| async { "people service: POST /login?user=ana, then /graph/v1.0/me/photo" }),
        )
        .route("/login", post(login))
        .with_state(sessions)
        .nest("/graph", photos))
}

#[derive(serde::Deserialize)]
struct Login {
    user: String,
}

/// The host's sign-in (a real host checks a password): a session for a known user.
async fn login(
    State(sessions): State<Arc<Sessions>>,
    Query(login): Query<Login>,
) -> Result<String, StatusCode> {
    let (_, id) = PEOPLE
        .iter()
        .find(|(name, _)| *name == login.user)
        .ok_or(StatusCode::UNAUTHORIZED)?;
    Ok(sessions.open(id))
}

// ---------------------------------------------------------------------------------------------
// Running it.
// ---------------------------------------------------------------------------------------------

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, addr] if flag == "--serve" => {
            let data_dir = Path::new("target/people-service");
            std::fs::create_dir_all(data_dir)?;
            let app = host_app(data_dir).await?;
            let listener = tokio::net::TcpListener::bind(addr.as_str()).await?;
            println!(
                "people service on http://{}, photos in {}",
                listener.local_addr()?,
                data_dir.display()
            );
            axum::serve(listener, app).await?;
            Ok(())
        }
        [] => walkthrough().await,
        _ => Err("usage: mount_in_host [--serve ADDR]".into()),
    }
}

/// Signs in, uploads a photo through the host's router, reads it and a rendered size back,
/// and shows that the host's rules and Graph's apply: each step printed, the first surprise
/// an error.
async fn walkthrough() -> Result<(), Box<dyn std::error::Error>> {
    let data_dir = tempfile::tempdir()?;
    let app = host_app(data_dir.path()).await?;
    let photo = sample_jpeg(256, 192)?;

    let session = call(&app, "POST", "/login?user=ana", None, Vec::new()).await?;
    expect(&session, 200, "sign in at the host")?;
    let session = String::from_utf8(session.body.clone())?;

    let ana = format!("Bearer {session}");
    let forged = "Bearer sess-forged";
    let bens_photo = format!("/graph/v1.0/users/{}/photo/$value", PEOPLE[1].1);

    let put = call(
        &app,
        "PUT",
        "/graph/v1.0/me/photo/$value",
        Some(&ana),
        photo.clone(),
    )
    .await?;
    expect(&put, 200, "upload ana's photo through the host")?;
    let meta = call(&app, "GET", "/graph/v1.0/me/photo", Some(&ana), Vec::new()).await?;
    expect(&meta, 200, "read its metadata")?;
    println!("  {}", String::from_utf8_lossy(&meta.body));
    let small = call(
        &app,
        "GET",
        "/graph/v1.0/me/photos/48x48/$value",
        Some(&ana),
        Vec::new(),
    )
    .await?;
    expect(&small, 200, "read a rendered 48x48")?;
    let denied = call(&app, "PUT", &bens_photo, Some(&ana), photo).await?;
    expect(&denied, 403, "change ben's photo: Graph's rules say no")?;
    let refused = call(
        &app,
        "GET",
        "/graph/v1.0/me/photo",
        Some(forged),
        Vec::new(),
    )
    .await?;
    expect(&refused, 401, "a session the host never issued")?;
    Ok(())
}

/// An answer, as the walkthrough and the tests look at it.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

fn expect(answer: &Answer, status: u16, what: &str) -> Result<(), Box<dyn std::error::Error>> {
    if answer.status == status {
        println!("ok: {what}");
        Ok(())
    } else {
        Err(format!(
            "{what}: expected {status}, got {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        )
        .into())
    }
}

/// One request through the host's router, in process (`tower::ServiceExt::oneshot`).
async fn call(
    app: &Router,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Vec<u8>,
) -> Result<Answer, Box<dyn std::error::Error>> {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "people.example");
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    if !body.is_empty() {
        request = request.header("content-type", "image/jpeg");
    }
    let response = app
        .clone()
        .oneshot(request.body(axum::body::Body::from(body))?)
        .await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes().to_vec();
    Ok(Answer { status, body })
}

/// A JPEG of a gradient, as a person's photo would be one.
fn sample_jpeg(width: u32, height: u32) -> Result<Vec<u8>, image::ImageError> {
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 160])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut out, image::ImageFormat::Jpeg)?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn signed_in(app: &Router, user: &str) -> String {
        let answer = call(
            app,
            "POST",
            &format!("/login?user={user}"),
            None,
            Vec::new(),
        )
        .await
        .unwrap();
        assert_eq!(answer.status, 200);
        format!("Bearer {}", String::from_utf8(answer.body).unwrap())
    }

    #[tokio::test]
    async fn the_walkthrough_succeeds() {
        walkthrough().await.unwrap();
    }

    #[tokio::test]
    async fn a_photo_uploaded_through_the_host_reads_back_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let app = host_app(dir.path()).await.unwrap();
        let ana = signed_in(&app, "ana").await;
        let photo = sample_jpeg(300, 200).unwrap();

        let put = call(
            &app,
            "PUT",
            "/graph/v1.0/me/photo/$value",
            Some(&ana),
            photo.clone(),
        )
        .await
        .unwrap();
        assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
        let got = call(
            &app,
            "GET",
            "/graph/v1.0/me/photo/$value",
            Some(&ana),
            Vec::new(),
        )
        .await
        .unwrap();
        assert_eq!(got.status, 200);
        assert_eq!(got.body, photo);

        // The metadata names the mount point, and the host's own user id.
        let meta = call(&app, "GET", "/graph/v1.0/me/photo", Some(&ana), Vec::new())
            .await
            .unwrap();
        let meta: serde_json::Value = serde_json::from_slice(&meta.body).unwrap();
        let context = meta["@odata.context"].as_str().unwrap();
        assert!(
            context.starts_with("http://people.example/graph/v1.0/$metadata#users('3f2a1b4c"),
            "{context}"
        );
        assert_eq!(meta["width"], 300);
        assert_eq!(meta["height"], 200);

        // Ben, signed in at the host, reads Ana's photo by her id (User.ReadBasic.All) ...
        let ben = signed_in(&app, "ben").await;
        let by_ben = call(
            &app,
            "GET",
            &format!("/graph/v1.0/users/{}/photo/$value", PEOPLE[0].1),
            Some(&ben),
            Vec::new(),
        )
        .await
        .unwrap();
        assert_eq!(by_ben.status, 200);
        assert_eq!(by_ben.body, photo);
        // ... but may not replace it: Graph's envelope, Graph's code.
        let denied = call(
            &app,
            "PUT",
            &format!("/graph/v1.0/users/{}/photo/$value", PEOPLE[0].1),
            Some(&ben),
            photo,
        )
        .await
        .unwrap();
        assert_eq!(denied.status, 403);
        let error: serde_json::Value = serde_json::from_slice(&denied.body).unwrap();
        assert_eq!(error["error"]["code"], "ErrorAccessDenied");
    }

    #[tokio::test]
    async fn rendered_sizes_come_from_the_mounted_api() {
        let dir = tempfile::tempdir().unwrap();
        let app = host_app(dir.path()).await.unwrap();
        let ana = signed_in(&app, "ana").await;
        let put = call(
            &app,
            "PUT",
            "/graph/v1.0/me/photo/$value",
            Some(&ana),
            sample_jpeg(400, 400).unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(put.status, 200);
        let small = call(
            &app,
            "GET",
            "/graph/v1.0/me/photos/48x48/$value",
            Some(&ana),
            Vec::new(),
        )
        .await
        .unwrap();
        assert_eq!(small.status, 200);
        let decoded = image::load_from_memory(&small.body).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (48, 48));
    }

    #[tokio::test]
    async fn the_host_refuses_what_it_did_not_issue_in_graphs_words() {
        let dir = tempfile::tempdir().unwrap();
        let app = host_app(dir.path()).await.unwrap();
        for auth in [None, Some("Bearer sess-forged"), Some("Basic YW5hOg==")] {
            let answer = call(&app, "GET", "/graph/v1.0/me/photo", auth, Vec::new())
                .await
                .unwrap();
            assert_eq!(answer.status, 401, "{auth:?}");
            let error: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
            assert_eq!(error["error"]["code"], "InvalidAuthenticationToken");
        }
        // The host's own routes are the host's: no Graph envelope around them.
        let unknown = call(&app, "POST", "/login?user=mallory", None, Vec::new())
            .await
            .unwrap();
        assert_eq!(unknown.status, 401);
        assert!(unknown.body.is_empty());
    }

    /// The same host on a real socket, as a client would reach it.
    #[tokio::test]
    async fn the_host_serves_the_photo_api_on_a_real_listener() {
        let dir = tempfile::tempdir().unwrap();
        let app = host_app(dir.path()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        let client = reqwest::Client::new();
        let session = client
            .post(format!("{base}/login?user=ana"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let photo = sample_jpeg(120, 90).unwrap();
        let put = client
            .put(format!("{base}/graph/v1.0/me/photo/$value"))
            .bearer_auth(&session)
            .header("content-type", "image/jpeg")
            .body(photo.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200);
        assert!(put.headers().contains_key("request-id"));
        let got = client
            .get(format!("{base}/graph/v1.0/me/photo/$value"))
            .bearer_auth(&session)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.bytes().await.unwrap().as_ref(), photo.as_slice());
        server.abort();
    }
}
