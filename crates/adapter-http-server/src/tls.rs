//! Serving the router over HTTPS (rustls on the `ring` provider), and a self-signed
//! development certificate kept in the data directory. Feature `tls` (default).
//!
//! Why HTTPS at all for a local stand-in: the official JavaScript SDK
//! (`@microsoft/microsoft-graph-client` 3.x) sends the `Authorization` header only to `https://`
//! URLs of Graph's hosts or of its `customHosts`, so it cannot call a plain-http server.
//!
//! The accept loop is [`crate::transport`]'s, shared with plain http: each connection gets its
//! own task (TLS handshake within the header timeout, then hyper's HTTP/1.1-or-HTTP/2
//! connection), so a slow or broken client never holds up the others.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::transport::Limits;

/// rustls's server configuration, as [`serve_tls`] and [`crate::transport::serve`] take it.
pub use rustls::ServerConfig;

/// The self-signed certificate's file in the data directory (PEM; give it to clients to trust).
pub const SELF_SIGNED_CERT_FILE: &str = "tls-cert.pem";
/// The self-signed certificate's private key in the data directory (PKCS#8 PEM, mode 0600).
pub const SELF_SIGNED_KEY_FILE: &str = "tls-key.pem";

/// The names the self-signed certificate is valid for.
pub const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Why TLS could not be set up. `Display` names the file at fault, for an operator.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file (or the data directory) could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// A file is not the PEM it should be.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The certificate file holds no certificate.
    #[error("{path}: no CERTIFICATE section found (expected a PEM certificate chain)")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the pair (the key is not the certificate's, an unsupported key type).
    #[error("certificate and key do not fit together: {0}")]
    Config(String),
    /// No self-signed certificate could be made.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(String),
}

/// A certificate and its private key, both PEM. `Debug` leaves the key out.
#[derive(Clone)]
pub struct PemPair {
    /// The certificate (`-----BEGIN CERTIFICATE-----`).
    pub cert_pem: String,
    /// Its private key (PKCS#8, `-----BEGIN PRIVATE KEY-----`).
    pub key_pem: String,
}

impl std::fmt::Debug for PemPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PemPair")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// A fresh self-signed certificate (ECDSA P-256) for `names` (DNS names or IP addresses),
/// valid from a day ago for ten years.
pub fn generate_self_signed(names: &[&str]) -> Result<PemPair, TlsError> {
    let generate = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .map_err(generate)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "graph-photo development server");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate().map_err(generate)?;
    let cert = params.self_signed(&key).map_err(generate)?;
    Ok(PemPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Where the self-signed certificate and its key live.
#[derive(Debug, Clone)]
pub struct SelfSignedFiles {
    /// The certificate, [`SELF_SIGNED_CERT_FILE`] in the directory: what clients trust.
    pub cert_path: PathBuf,
    /// Its private key, [`SELF_SIGNED_KEY_FILE`] (mode 0600).
    pub key_path: PathBuf,
    /// Whether they were made just now (else reused from an earlier start).
    pub created: bool,
}

impl SelfSignedFiles {
    /// The pair in `dir` ([`SELF_SIGNED_CERT_FILE`], [`SELF_SIGNED_KEY_FILE`]), made for
    /// [`SELF_SIGNED_NAMES`] when either file is missing (`dir` created with mode 0700 if
    /// missing, the key with mode 0600), and otherwise reused, so that clients told to trust
    /// the certificate keep trusting it across restarts. Each file is written under a temporary
    /// name and renamed into place.
    pub fn load_or_create(dir: &Path) -> Result<SelfSignedFiles, TlsError> {
        let cert_path = dir.join(SELF_SIGNED_CERT_FILE);
        let key_path = dir.join(SELF_SIGNED_KEY_FILE);
        if cert_path.is_file() && key_path.is_file() {
            return Ok(SelfSignedFiles {
                cert_path,
                key_path,
                created: false,
            });
        }
        create_private_dir(dir).map_err(io_error(dir))?;
        let pair = generate_self_signed(&SELF_SIGNED_NAMES)?;
        write_replacing(&key_path, pair.key_pem.as_bytes(), true)?;
        write_replacing(&cert_path, pair.cert_pem.as_bytes(), false)?;
        tracing::info!(cert = %cert_path.display(), "created a self-signed TLS certificate");
        Ok(SelfSignedFiles {
            cert_path,
            key_path,
            created: true,
        })
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> TlsError {
    let path = path.to_owned();
    move |source| TlsError::Io { path, source }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes `contents` to a temporary file beside `path` (mode 0600 from the first instant when
/// `private`) and renames it over `path`.
fn write_replacing(path: &Path, contents: &[u8], private: bool) -> Result<(), TlsError> {
    use std::io::Write;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::new_v4()));
    let write = || -> io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(if private { 0o600 } else { 0o644 });
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut file = options.open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        TlsError::Io {
            path: path.to_owned(),
            source,
        }
    })
}

/// The server configuration for a PEM certificate chain (leaf first) and a PEM private key
/// (PKCS#8, PKCS#1 RSA or SEC1 EC), read from files.
pub fn server_config_from_files(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_pem = std::fs::read(cert).map_err(io_error(cert))?;
    let key_pem = std::fs::read(key).map_err(io_error(key))?;
    server_config_from_pem(&cert_pem, cert, &key_pem, key)
}

/// The server configuration for PEM text; the paths only name the inputs in errors.
pub fn server_config_from_pem(
    cert_pem: &[u8],
    cert_path: &Path,
    key_pem: &[u8],
    key_path: &Path,
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: cert_path.to_owned(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_path.to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Pem {
        path: key_path.to_owned(),
        reason: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no private key found (expected PEM: PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
                    .to_owned()
            }
            other => other.to_string(),
        },
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `app` over TLS on `listener` with the default [`Limits`] until `shutdown` resolves;
/// then stops accepting and returns once the open connections have finished their requests
/// (or the grace period is over). A failed handshake or connection only ends that connection.
pub async fn serve_tls(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    crate::transport::serve(listener, app, Limits::default(), Some(config), shutdown).await
}

/// The TLS handshake of one connection (the caller bounds it in time); a plain-http client is
/// answered instead, and a failed handshake is logged at `debug` and forgotten.
pub(crate) async fn handshake(
    stream: TcpStream,
    acceptor: &TlsAcceptor,
    peer: std::net::SocketAddr,
) -> Option<TlsStream<TcpStream>> {
    if !starts_like_tls(&stream).await {
        answer_plain_http(stream).await;
        return None;
    }
    match acceptor.accept(stream).await {
        Ok(tls) => Some(tls),
        Err(error) => {
            tracing::debug!(%peer, %error, "TLS handshake failed");
            None
        }
    }
}

/// Whether the client's first byte opens a TLS handshake (`false` also when it sent nothing).
async fn starts_like_tls(stream: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(stream.peek(&mut first).await, Ok(1) if first[0] == TLS_HANDSHAKE_RECORD)
}

/// A client spoke plain HTTP (or anything but TLS) to the HTTPS port: tell it, in Graph's error
/// shape, and close.
async fn answer_plain_http(mut stream: TcpStream) {
    let body = r#"{"error":{"code":"BadRequest","message":"This port serves HTTPS: use an https:// URL."}}"#;
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\ndate: {}\r\nconnection: close\r\n\r\n{body}",
        body.len(),
        httpdate::fmt_http_date(std::time::SystemTime::now()),
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
    tracing::debug!("answered a plain-http request on the TLS port");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pair_makes_a_server_config() {
        let pair = generate_self_signed(&SELF_SIGNED_NAMES).unwrap();
        assert!(pair.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(pair.key_pem.contains("PRIVATE KEY"));
        let config = server_config_from_pem(
            pair.cert_pem.as_bytes(),
            Path::new("c"),
            pair.key_pem.as_bytes(),
            Path::new("k"),
        )
        .unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn mismatched_or_missing_pem_is_a_clear_error() {
        let a = generate_self_signed(&["localhost"]).unwrap();
        let b = generate_self_signed(&["localhost"]).unwrap();
        let mismatch = server_config_from_pem(
            a.cert_pem.as_bytes(),
            Path::new("c"),
            b.key_pem.as_bytes(),
            Path::new("k"),
        )
        .unwrap_err();
        assert!(matches!(mismatch, TlsError::Config(_)), "{mismatch}");

        let no_cert = server_config_from_pem(
            a.key_pem.as_bytes(),
            Path::new("c.pem"),
            a.key_pem.as_bytes(),
            Path::new("k"),
        )
        .unwrap_err();
        assert!(no_cert.to_string().contains("c.pem"), "{no_cert}");

        let no_key = server_config_from_pem(
            a.cert_pem.as_bytes(),
            Path::new("c"),
            a.cert_pem.as_bytes(),
            Path::new("k.pem"),
        )
        .unwrap_err();
        assert!(no_key.to_string().contains("no private key"), "{no_key}");
    }

    #[test]
    fn self_signed_files_are_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let first = SelfSignedFiles::load_or_create(&data_dir).unwrap();
        assert!(first.created);
        let cert = std::fs::read(&first.cert_path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first.key_path)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = SelfSignedFiles::load_or_create(&data_dir).unwrap();
        assert!(!again.created);
        assert_eq!(std::fs::read(&again.cert_path).unwrap(), cert);
        server_config_from_files(&again.cert_path, &again.key_path).unwrap();

        // A lost key means a new pair (a certificate without its key is useless).
        std::fs::remove_file(&again.key_path).unwrap();
        let renewed = SelfSignedFiles::load_or_create(&data_dir).unwrap();
        assert!(renewed.created);
        assert_ne!(std::fs::read(&renewed.cert_path).unwrap(), cert);
        server_config_from_files(&renewed.cert_path, &renewed.key_path).unwrap();
    }
}
