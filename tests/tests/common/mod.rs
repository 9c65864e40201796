//! Shared helpers of the end-to-end tests: the router over the in-memory adapters, tokens for
//! the seeded users, images, and the assertions every response must pass (spec C6, C7).
#![allow(dead_code)]

use std::io::Cursor;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use adapter_http_server::auth::{AuthConfig, DevKey, JwksSource, TokenRequest};
use adapter_http_server::{router, AppState, Authenticator, UploadLimits};
use adapter_memstore::seed::{self, CONTOSO_TENANT};
use adapter_memstore::{
    ContactData, DirectoryData, GroupData, MemDirectory, MemPhotoStore, MemRenditionCache, UserData,
};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use photo_core::ports::{AccountKind, Directory, PhotoStore};
use photo_core::principal::USER_ADMINISTRATOR;
use photo_core::service::PhotoService;
use photo_render::InlineRenderer;
use serde_json::Value;
use tower::ServiceExt;

#[allow(unused_imports)]
pub(crate) use adapter_memstore::seed::{
    ADELE_CONTACT_ID, ADELE_FOLDER_CONTACT_ID, ADELE_FRIENDS_FOLDER_ID, ADELE_ID, ADELE_UPN,
    ALEX_ID, ALLAN_ID, CONSUMER_TENANT, FABRIKAM_GROUP_ID, FABRIKAM_TENANT, LEE_ID, LEE_UPN,
    MARKETING_GROUP_ID, MEGAN_CONTACT_ID, MEGAN_ID, MEGAN_UPN, PAT_ID,
};

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

// ---------------------------------------------------------------------------------------------
// Keys and tokens.

struct Keys {
    /// The server's key, as `JwksSource::DevKey` serves it.
    dev: Arc<DevKey>,
    /// The same key as PEM, to sign arbitrary claims (expired tokens and the like).
    pem: String,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        // `load_or_create` writes the PEM that `DevKey` itself never exposes.
        let dir = tempfile::tempdir().expect("tempdir");
        let dev = DevKey::load_or_create(dir.path()).expect("dev key");
        let pem = std::fs::read_to_string(
            dir.path()
                .join(adapter_http_server::auth::DEV_KEY_FILE_NAME),
        )
        .expect("dev key file");
        Keys {
            dev: Arc::new(dev),
            pem,
        }
    })
}

/// A key the server does not know.
pub(crate) fn other_key() -> &'static DevKey {
    static OTHER: OnceLock<DevKey> = OnceLock::new();
    OTHER.get_or_init(|| DevKey::generate().expect("dev key"))
}

pub(crate) fn mint(request: &TokenRequest) -> String {
    keys().dev.mint(request).expect("mint")
}

/// Signs any claims with the server's key (RS256, its `kid`).
pub(crate) fn sign(claims: &Value) -> String {
    let keys = keys();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(keys.dev.kid().to_owned());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(keys.pem.as_bytes()).expect("pem");
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Entra-shaped claims of a valid delegated token for Adele, to be altered by a test.
pub(crate) fn adele_claims(scopes: &str) -> Value {
    let now = now();
    serde_json::json!({
        "aud": "https://graph.microsoft.com",
        "iss": format!("https://sts.windows.net/{CONTOSO_TENANT}/"),
        "iat": now, "nbf": now, "exp": now + 3600,
        "tid": CONTOSO_TENANT,
        "oid": ADELE_ID,
        "sub": ADELE_ID,
        "idtyp": "user",
        "appid": adapter_http_server::auth::DEV_APP_ID,
        "scp": scopes,
    })
}

pub(crate) fn delegated(tenant: &str, user: &str, scopes: &[&str], wids: &[&str]) -> String {
    let mut request = TokenRequest::delegated(tenant, user, scopes.iter().copied());
    request.directory_roles = wids.iter().map(|w| (*w).to_owned()).collect();
    mint(&request)
}

/// Adele Vance: a plain user of Contoso.
pub(crate) fn adele(scopes: &[&str]) -> String {
    delegated(CONTOSO_TENANT, ADELE_ID, scopes, &[])
}

/// Megan Bowen: User Administrator of Contoso (her `wids`).
pub(crate) fn megan(scopes: &[&str]) -> String {
    delegated(CONTOSO_TENANT, MEGAN_ID, scopes, &[USER_ADMINISTRATOR])
}

/// Alex Wilber, with whatever directory roles a test gives him.
pub(crate) fn alex(scopes: &[&str], wids: &[&str]) -> String {
    delegated(CONTOSO_TENANT, ALEX_ID, scopes, wids)
}

/// Allan Deyoung, of Fabrikam.
pub(crate) fn allan(scopes: &[&str]) -> String {
    delegated(FABRIKAM_TENANT, ALLAN_ID, scopes, &[])
}

/// Pat, a personal Microsoft account.
pub(crate) fn pat(scopes: &[&str]) -> String {
    delegated(CONSUMER_TENANT, PAT_ID, scopes, &[])
}

/// An application token of Contoso.
pub(crate) fn app(roles: &[&str]) -> String {
    app_in(CONTOSO_TENANT, roles)
}

pub(crate) fn app_in(tenant: &str, roles: &[&str]) -> String {
    mint(&TokenRequest::application(
        tenant,
        "11111111-2222-4333-8444-555555555555",
        roles.iter().copied(),
    ))
}

// ---------------------------------------------------------------------------------------------
// The server.

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
    let service = Arc::new(PhotoService::new(
        directory,
        store,
        Arc::new(MemRenditionCache::default()),
        Arc::new(InlineRenderer),
    ));
    let auth = Authenticator::new(AuthConfig::new(JwksSource::DevKey(Arc::clone(&keys().dev))))
        .await
        .expect("authenticator");
    router(AppState {
        service,
        auth: Arc::new(auth),
        public_base_url: public_base_url.map(str::to_owned),
        uploads,
    })
}

/// A response, body read.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
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

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header"))
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub(crate) fn message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Asserts a Graph error of this status and code; returns the message.
    #[track_caller]
    pub(crate) fn assert_error(&self, status: u16, code: &str) -> String {
        if self.body.is_empty() {
            // A HEAD answer: the status and the JSON type of what GET would say.
            assert_eq!(self.status.as_u16(), status);
            assert_eq!(self.header("content-type"), Some("application/json"));
            return String::new();
        }
        assert_eq!(
            self.status.as_u16(),
            status,
            "expected {status} {code}, got {} {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.code(), code, "{}", String::from_utf8_lossy(&self.body));
        assert_envelope(self);
        self.message()
    }

    /// Spec C1: 200, empty body, `Content-Length: 0`, no `Content-Type`, an ETag.
    #[track_caller]
    pub(crate) fn assert_updated(&self) {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert!(self.body.is_empty());
        assert_eq!(self.header("content-length"), Some("0"));
        assert_eq!(self.header("content-type"), None);
        assert_strong_etag(self.header("etag").expect("an ETag on update"));
    }

    #[track_caller]
    pub(crate) fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }
}

#[track_caller]
pub(crate) fn assert_strong_etag(etag: &str) {
    assert!(
        etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
        "not a strong ETag: {etag}"
    );
}

/// `YYYY-MM-DDTHH:MM:SS`, nothing else (spec C7).
pub(crate) fn is_inner_error_date(date: &str) -> bool {
    let b = date.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// Spec C6: `request-id` (a UUID), `client-request-id` (echoed, else the request-id), `Date`.
#[track_caller]
pub(crate) fn assert_c6(resp: &Resp, sent_client_request_id: Option<&str>) {
    let request_id = resp.header("request-id").expect("request-id header");
    uuid::Uuid::parse_str(request_id).expect("request-id is a UUID");
    let client_id = resp
        .header("client-request-id")
        .expect("client-request-id header");
    // Echoed when it is a sane id (visible ASCII, at most 128 characters); a client cannot make
    // the server send back arbitrary text.
    let sane = sent_client_request_id
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()));
    assert_eq!(client_id, sane.unwrap_or(request_id));
    let date = resp.header("date").expect("Date header");
    httpdate::parse_http_date(date).expect("an HTTP date");
}

/// Spec C7: the Graph error body.
#[track_caller]
pub(crate) fn assert_envelope(resp: &Resp) {
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let json = resp.json();
    let error = &json["error"];
    assert!(error["code"].is_string(), "{json}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{json}"
    );
    let inner = &error["innerError"];
    let date = inner["date"].as_str().expect("innerError.date");
    assert!(is_inner_error_date(date), "innerError.date {date}");
    assert_eq!(
        inner["request-id"].as_str(),
        resp.header("request-id"),
        "{json}"
    );
    assert_eq!(
        inner["client-request-id"].as_str(),
        resp.header("client-request-id"),
        "{json}"
    );
    if resp.status == StatusCode::INTERNAL_SERVER_ERROR {
        assert_eq!(error["message"], "An internal server error occurred.");
    }
}

// ---------------------------------------------------------------------------------------------
// Images.

fn encode(image: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

fn rgb(width: u32, height: u32, seed: u8) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x as u8).wrapping_mul(3).wrapping_add(seed),
            (y as u8).wrapping_mul(5),
            seed.wrapping_mul(17),
        ])
    })
}

/// A JPEG; `seed` varies the pixels (so the bytes and the ETag).
pub(crate) fn jpeg_seeded(width: u32, height: u32, seed: u8) -> Vec<u8> {
    encode(
        image::DynamicImage::ImageRgb8(rgb(width, height, seed)),
        image::ImageFormat::Jpeg,
    )
}

pub(crate) fn jpeg(width: u32, height: u32) -> Vec<u8> {
    jpeg_seeded(width, height, 0)
}

/// An opaque PNG (RGB).
pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    encode(
        image::DynamicImage::ImageRgb8(rgb(width, height, 7)),
        image::ImageFormat::Png,
    )
}

/// A PNG whose left half is transparent.
pub(crate) fn png_transparent(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_fn(width, height, |x, y| {
        let alpha = if x < width / 2 { 0 } else { 255 };
        image::Rgba([x as u8, y as u8, 90, alpha])
    });
    encode(
        image::DynamicImage::ImageRgba8(image),
        image::ImageFormat::Png,
    )
}

pub(crate) fn gif(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([(x * 4) as u8, (y * 4) as u8, 0, 255])
    });
    encode(
        image::DynamicImage::ImageRgba8(image),
        image::ImageFormat::Gif,
    )
}

pub(crate) fn bmp(width: u32, height: u32) -> Vec<u8> {
    encode(
        image::DynamicImage::ImageRgb8(rgb(width, height, 3)),
        image::ImageFormat::Bmp,
    )
}

/// Decodes an image served by the API: (format, width, height, has an alpha channel).
pub(crate) fn decode(bytes: &[u8]) -> (image::ImageFormat, u32, u32, bool) {
    let format = image::guess_format(bytes).expect("a known image format");
    let image = image::load_from_memory(bytes).expect("decodes");
    (
        format,
        image.width(),
        image.height(),
        image.color().has_alpha(),
    )
}

// ---------------------------------------------------------------------------------------------
// Bodies.

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

use futures::StreamExt as _;
