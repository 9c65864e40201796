//! The router over the real adapters with the production wiring, in process: the test
//! directory, the routers, the request helpers and streamed bodies.

use std::sync::Arc;

use adapter_http_server::auth::{AuthConfig, Authenticate, JwksSource};
use adapter_http_server::{router, AppState, Authenticator, UploadLimits};
use adapter_memstore::seed::{self, CONTOSO_TENANT};
use adapter_memstore::{
    ContactData, DirectoryData, GroupData, MemDirectory, MemPhotoStore, MemRenditionCache, UserData,
};
use axum::body::{Body, Bytes};
use axum::http::Request;
use axum::Router;
use futures::StreamExt as _;
use graph_photo::serve::photo_service;
use http_body_util::BodyExt;
use photo_core::ports::{AccountKind, Directory, PhotoStore};
use photo_render::DEFAULT_RENDER_MEMORY;
use tower::ServiceExt;

pub(crate) use adapter_memstore::seed::{
    ADELE_CONTACT_ID, ADELE_FOLDER_CONTACT_ID, ADELE_FRIENDS_FOLDER_ID, ADELE_ID, ADELE_UPN,
    ALEX_ID, ALLAN_ID, FABRIKAM_GROUP_ID, FABRIKAM_TENANT, LEE_ID, LEE_UPN, MARKETING_GROUP_ID,
    MEGAN_CONTACT_ID, MEGAN_ID, PAT_ID,
};

use super::responses::{assert_c6, assert_envelope, Resp};
use super::tokens::key;

/// The photo size limit of spec B4.
pub(crate) const LIMIT: usize = 4 * 1024 * 1024;

/// Extra objects of the test directory, for the path rules of spec A3.
/// A user whose UPN holds `'`, `+` and `=`.
pub(crate) const ODD_ID: &str = "0dd0dd00-1234-4abc-8def-0123456789ab";
pub(crate) const ODD_UPN: &str = "o'neil+photos=1@contoso.onmicrosoft.com";
/// A group and a contact whose ids hold a `/` (sent as `%2F`).
pub(crate) const SLASH_GROUP_ID: &str = "grp/with/slash";
pub(crate) const SLASH_CONTACT_ID: &str = "AAMk/slash+plus=";
/// A group whose id holds a `'` (doubled in an OData literal).
pub(crate) const QUOTE_GROUP_ID: &str = "o'group";

/// The seeded directory plus the objects above.
pub(crate) fn directory() -> MemDirectory {
    let mut data: DirectoryData = seed::data();
    let contoso = data
        .tenants
        .iter_mut()
        .find(|t| t.id == CONTOSO_TENANT)
        .expect("the seed has Contoso");
    contoso.users.push(UserData {
        id: ODD_ID.into(),
        user_principal_name: ODD_UPN.into(),
        display_name: "Odd O'Neil".into(),
        account_kind: AccountKind::WorkOrSchool,
        directory_roles: vec![],
    });
    contoso.groups.push(GroupData {
        id: SLASH_GROUP_ID.into(),
        display_name: "Slashed".into(),
    });
    contoso.groups.push(GroupData {
        id: QUOTE_GROUP_ID.into(),
        display_name: "Quoted".into(),
    });
    contoso.contacts.push(ContactData {
        id: SLASH_CONTACT_ID.into(),
        owner_id: ADELE_ID.into(),
        folder_id: None,
        display_name: "Slashed contact".into(),
    });
    MemDirectory::new(data).expect("valid test directory")
}

pub(crate) struct TestServer {
    pub(crate) app: Router,
    pub(crate) store: Arc<MemPhotoStore>,
}

/// The router over the in-memory adapters, fresh store, the dev key, `@odata.context` from Host.
pub(crate) async fn server() -> TestServer {
    server_with_base(None).await
}

pub(crate) async fn server_with_base(public_base_url: Option<&str>) -> TestServer {
    let store = Arc::new(MemPhotoStore::new());
    let app = router_over(
        Arc::new(directory()),
        Arc::clone(&store) as _,
        public_base_url,
    )
    .await;
    TestServer { app, store }
}

/// The router over any directory and store (mocks that fail, say).
pub(crate) async fn router_over(
    directory: Arc<dyn Directory>,
    store: Arc<dyn PhotoStore>,
    public_base_url: Option<&str>,
) -> Router {
    router_with_limits(directory, store, public_base_url, UploadLimits::default()).await
}

/// The router with the given upload limits.
pub(crate) async fn router_with_limits(
    directory: Arc<dyn Directory>,
    store: Arc<dyn PhotoStore>,
    public_base_url: Option<&str>,
    uploads: UploadLimits,
) -> Router {
    // The production wiring: the service `graph-photo serve` builds, with its renderer.
    let service = photo_service(
        directory,
        store,
        Arc::new(MemRenditionCache::default()),
        DEFAULT_RENDER_MEMORY,
    );
    let auth = Authenticator::new(AuthConfig::new(JwksSource::Static(key().jwks())))
        .await
        .expect("authenticator");
    // As `serve` wires it: the operator's endpoints around the Graph routes (`/metrics` with a
    // fixed text: the process-wide Prometheus recorder is the binary's, tested there).
    adapter_http_server::ops::router(
        AppState {
            service,
            auth: Arc::new(auth),
            public_base_url: public_base_url.map(str::to_owned),
            uploads,
            throttle: None,
        },
        adapter_http_server::ops::Operations {
            metrics: Some(Arc::new(|| "# graph-photo test metrics\n".to_owned())),
            ..Default::default()
        },
    )
}

/// The router over the test directory and a fresh store, simulating throttling as `config`
/// says (`graph-photo serve --throttle`).
pub(crate) async fn server_with_throttle(
    config: adapter_http_server::ThrottleConfig,
) -> TestServer {
    let store = Arc::new(MemPhotoStore::new());
    let service = photo_service(
        Arc::new(directory()),
        Arc::clone(&store) as _,
        Arc::new(MemRenditionCache::default()),
        DEFAULT_RENDER_MEMORY,
    );
    let auth = Authenticator::new(AuthConfig::new(JwksSource::Static(key().jwks())))
        .await
        .expect("authenticator");
    let app = router(AppState {
        service,
        auth: Arc::new(auth),
        public_base_url: None,
        uploads: UploadLimits::default(),
        throttle: Some(adapter_http_server::Throttle::new(config).expect("a valid throttle")),
    });
    TestServer { app, store }
}

/// The router over the test directory and a fresh store, with a host's own authentication in
/// place of JWT validation.
pub(crate) fn server_with_auth(auth: Arc<dyn Authenticate>) -> TestServer {
    let store = Arc::new(MemPhotoStore::new());
    let service = photo_service(
        Arc::new(directory()),
        Arc::clone(&store) as _,
        Arc::new(MemRenditionCache::default()),
        DEFAULT_RENDER_MEMORY,
    );
    let app = router(AppState {
        service,
        auth,
        public_base_url: None,
        uploads: UploadLimits::default(),
        throttle: None,
    });
    TestServer { app, store }
}

impl TestServer {
    /// Sends a request and checks the headers every response carries (spec C6).
    pub(crate) async fn send(&self, request: Request<Body>) -> Resp {
        let sent_client_id = request
            .headers()
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let head = request.method() == axum::http::Method::HEAD;
        let resp = self.send_raw(request).await;
        assert_c6(&resp, sent_client_id.as_deref());
        if head {
            // Spec A6: like GET, without a body (axum drops it even in process).
            assert!(resp.body.is_empty(), "a body on a HEAD answer");
        } else if resp.status.is_client_error() || resp.status.is_server_error() {
            assert_envelope(&resp);
        }
        resp
    }

    /// Sends a request without checking anything.
    pub(crate) async fn send_raw(&self, request: Request<Body>) -> Resp {
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// `method path` with an optional bearer token and a body.
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: impl Into<Body>,
    ) -> Resp {
        self.send(req(method, path, token).body(body.into()).expect("request"))
            .await
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> Resp {
        self.call("GET", path, Some(token), Body::empty()).await
    }

    pub(crate) async fn put(&self, path: &str, token: &str, bytes: &[u8]) -> Resp {
        self.call("PUT", path, Some(token), bytes.to_vec()).await
    }

    pub(crate) async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call("DELETE", path, Some(token), Body::empty()).await
    }

    /// Uploads and asserts the update succeeded (spec C1); returns the ETag.
    pub(crate) async fn upload(&self, path: &str, token: &str, bytes: &[u8]) -> String {
        let resp = self.put(path, token, bytes).await;
        resp.assert_updated();
        resp.header("etag").expect("etag").to_owned()
    }
}

/// A request builder with `Content-Length` when there is a body of known length is not
/// needed in-process; the token goes in `Authorization`.
pub(crate) fn req(method: &str, path: &str, token: Option<&str>) -> axum::http::request::Builder {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder
}

/// A streamed (chunked, no Content-Length) body of `total` zero bytes in `chunk`-byte pieces;
/// the counter says how many bytes the server pulled.
pub(crate) fn counting_stream(
    total: usize,
    chunk: usize,
) -> (Body, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&pulled);
    let pieces = total.div_ceil(chunk);
    let stream = futures::stream::iter(0..pieces).map(move |i| {
        let len = chunk.min(total - i * chunk);
        counter.fetch_add(len, Ordering::SeqCst);
        Ok::<_, std::io::Error>(Bytes::from(vec![0u8; len]))
    });
    (Body::from_stream(stream), pulled)
}
