//! The one accept loop for plain http and HTTPS, with the connection-level limits that keep the
//! server up under hostile clients.
//!
//! `axum::serve` cannot bound anything: a client that opens a connection and sends half a
//! request line holds a file descriptor forever, and a stalled connection keeps a graceful
//! shutdown waiting forever. Here every connection is driven by hyper-util's `auto::Builder`
//! (HTTP/1.1, or HTTP/2 by prior knowledge or ALPN) under a watchdog that closes it when
//!
//! - it takes longer than [`Limits::header_timeout`] to deliver a request head, counted from
//!   the connection's start for its first request and from the first byte of each later one;
//! - it has had no request in progress for [`Limits::idle_timeout`].
//!
//! The watchdog is ours rather than hyper's `http1().header_read_timeout` because hyper starts
//! that timer as soon as a keep-alive connection waits for its next request (so the idle timeout
//! could never be longer than the header timeout) and does not run it while `auto` is still
//! reading the first bytes to choose the protocol (a silent connection would be held forever).
//!
//! At most [`Limits::max_connections`] connections are served at once. Over the limit a new
//! connection is accepted and closed at once (plain http: after a `503` with `Retry-After`)
//! rather than left in the kernel's backlog: a backlog queued behind stalled peers answers
//! nobody for as long as the peers stall, while a refusal is an answer in milliseconds that
//! clients retry. Accepting keeps the backlog drained.
//!
//! Shutdown: stop accepting, ask every connection to finish (HTTP/1 closes after the response in
//! progress, HTTP/2 sends GOAWAY), wait at most [`Limits::shutdown_grace`], then close what is
//! still open and return.
//!
//! HTTPS needs the `tls` feature (default); without it [`serve`] speaks plain http only.
//!
//! ```no_run
//! # async fn host(app: axum::Router) -> std::io::Result<()> {
//! use adapter_http_server::transport::{serve, Limits};
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let shutdown = async {
//!     let _ = tokio::signal::ctrl_c().await;
//! };
//! serve(listener, app, Limits::default(), None, shutdown).await
//! # }
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, HttpBody};
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// The TLS configuration [`serve`] takes: with the `tls` feature (default, this build),
/// rustls's server configuration ([`server_config_from_files`](crate::tls::server_config_from_files)
/// makes one); without it, a type with no value, so that only `None` (plain http) can be given
/// and the call reads the same.
#[cfg(feature = "tls")]
pub type TlsConfig = Arc<rustls::ServerConfig>;

/// The TLS configuration [`serve`] takes: with the `tls` feature (default), rustls's server
/// configuration; without it (this build), a type with no value, so that only `None` (plain
/// http) can be given and the call reads the same.
#[cfg(not(feature = "tls"))]
#[derive(Debug, Clone)]
pub enum TlsConfig {}

/// What a connection's TLS handshake is made with.
#[cfg(feature = "tls")]
type Acceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
type Acceptor = TlsConfig;

#[cfg(feature = "tls")]
fn acceptor(config: TlsConfig) -> Acceptor {
    tokio_rustls::TlsAcceptor::from(config)
}

#[cfg(not(feature = "tls"))]
fn acceptor(config: TlsConfig) -> Acceptor {
    config
}

/// Connection-level limits of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request head (and, over HTTPS, to complete the
    /// TLS handshake before it).
    pub header_timeout: Duration,
    /// How long a connection with no request in progress is kept open.
    pub idle_timeout: Duration,
    /// Connections served at once; keep it below the process's file limit.
    pub max_connections: usize,
    /// How long a shutdown waits for requests in progress before closing their connections.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1_000,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// The most connections [`Limits::max_connections`] can name (the semaphore counts in `u32`).
const MAX_CONNECTIONS_CEILING: usize = u32::MAX as usize >> 4;

/// How long connections told to close at the shutdown deadline get to let go of their sockets.
const FORCED_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// How long an idle HTTP/2 connection gets to send its GOAWAY before it is dropped.
const IDLE_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// How long the accept loop pauses after an error such as EMFILE: long enough not to spin,
/// short enough that service resumes soon after descriptors are freed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Blank-line bytes tolerated before a request line. RFC 9112 section 2.2 asks servers to ignore
/// at least one CRLF there (clients add one after a POST body); a stream of them is no client,
/// and hyper would otherwise keep reading them until the header timeout.
const MAX_BLANK_BEFORE_REQUEST: usize = 16;

/// The HTTP/2 client connection preface (RFC 9113 section 3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The whole answer to a plain-http connection over the limit: Graph's 503 (spec F2), with the
/// request ids, `Date` and error envelope every answer carries (spec C6, C7). The request was
/// never read, so there is no `client-request-id` to echo: it is the request id.
fn over_limit_response() -> String {
    let request_id = uuid::Uuid::new_v4().to_string();
    let body = serde_json::json!({
        "error": {
            "code": "serviceNotAvailable",
            "message": "Too many open connections; retry in a moment.",
            "innerError": {
                "date": crate::envelope::inner_error_date(time::OffsetDateTime::now_utc()),
                "request-id": request_id,
                "client-request-id": request_id,
            }
        }
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\ndate: {}\r\nrequest-id: {request_id}\r\nclient-request-id: {request_id}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        httpdate::fmt_http_date(std::time::SystemTime::now()),
        body.len(),
    )
}

/// Where the server is in its life; connections watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    /// Finish the request in progress, then close.
    Draining,
    /// Close now.
    Closing,
}

/// Serves `app` on `listener` (over TLS when `tls` is given) under `limits` until `shutdown`
/// resolves, then shuts down within [`Limits::shutdown_grace`] (see the module docs). Returns
/// an error only if the server cannot run at all; a failed connection ends only itself.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<TlsConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let max = limits.max_connections.clamp(1, MAX_CONNECTIONS_CEILING);
    let slots = Arc::new(Semaphore::new(max));
    let (phase_tx, phase_rx) = watch::channel(Phase::Serving);
    let shared = Arc::new(Shared {
        app,
        builder: builder(),
        tls: tls.map(acceptor),
        limits,
    });
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = AcceptBackoff::default();
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    backoff.pause(error).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            refuse(stream, shared.tls.is_some(), peer);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            peer,
            slot,
            Arc::clone(&shared),
            phase_rx.clone(),
        ));
    }
    drop(listener);

    let open = max - slots.available_permits();
    tracing::info!(
        connections = open,
        grace_secs = limits.shutdown_grace.as_secs_f64(),
        "stopped accepting; finishing requests in progress"
    );
    let _ = phase_tx.send(Phase::Draining);
    // Every connection holds a slot until it is gone: all slots free means all closed.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let all_closed = || Arc::clone(&slots).acquire_many_owned(all);
    if tokio::time::timeout(limits.shutdown_grace, all_closed())
        .await
        .is_err()
    {
        let open = max - slots.available_permits();
        tracing::warn!(
            connections = open,
            "shutdown grace period over: closing the connections still open"
        );
        let _ = phase_tx.send(Phase::Closing);
        let _ = tokio::time::timeout(FORCED_CLOSE_WAIT, all_closed()).await;
    }
    Ok(())
}

/// What every connection task needs.
struct Shared {
    app: Router,
    builder: auto::Builder<TokioExecutor>,
    tls: Option<Acceptor>,
    limits: Limits,
}

fn builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    builder
        .http2()
        .timer(TokioTimer::new())
        // Pings find peers that vanished without a FIN (a laptop closed mid-request).
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20))
        // Each stream may hold an upload in memory: bound them per connection.
        .max_concurrent_streams(100);
    builder
}

/// Closes a connection over the limit; a plain-http client is told why first. The socket is
/// fresh, so its send buffer takes the short answer without blocking.
fn refuse(stream: TcpStream, tls: bool, peer: SocketAddr) {
    if !tls {
        let _ = stream.try_write(over_limit_response().as_bytes());
    }
    tracing::debug!(%peer, "connection limit reached: refused a connection");
}

/// Accept errors: one of a single connection (reset before accept) is nothing to wait for;
/// anything else (EMFILE, ENFILE, ENOBUFS) pauses accepting a little so that the loop does not
/// spin while the condition lasts, logging at most every few seconds.
#[derive(Default)]
struct AcceptBackoff {
    last_logged: Option<Instant>,
}

impl AcceptBackoff {
    async fn pause(&mut self, error: io::Error) {
        use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
        if matches!(
            error.kind(),
            ConnectionAborted | ConnectionRefused | ConnectionReset
        ) {
            tracing::debug!(%error, "accept");
            return;
        }
        let now = Instant::now();
        if self
            .last_logged
            .is_none_or(|last| now.duration_since(last) >= Duration::from_secs(5))
        {
            self.last_logged = Some(now);
            tracing::error!(%error, "accept failed; pausing accepts briefly");
        }
        tokio::time::sleep(ACCEPT_BACKOFF).await;
    }
}

/// One connection: the TLS handshake if any, then HTTP until the client leaves, a limit is hit
/// or the server shuts down. Holds its `slot` until the socket is closed.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: OwnedSemaphorePermit,
    shared: Arc<Shared>,
    phase: watch::Receiver<Phase>,
) {
    let _slot = slot;
    let limits = shared.limits;
    let Some(acceptor) = shared.tls.clone() else {
        let activity = Activity::new(limits);
        let io = Tracked::new(stream, Arc::clone(&activity));
        drive(io, &shared, activity, phase, peer, false).await;
        return;
    };
    tls_connection(stream, peer, acceptor, &shared, phase).await;
}

#[cfg(not(feature = "tls"))]
async fn tls_connection(
    _: TcpStream,
    _: SocketAddr,
    acceptor: Acceptor,
    _: &Shared,
    _: watch::Receiver<Phase>,
) {
    match acceptor {}
}

/// The TLS handshake within the header timeout, then HTTP over it.
#[cfg(feature = "tls")]
async fn tls_connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: Acceptor,
    shared: &Shared,
    mut phase: watch::Receiver<Phase>,
) {
    let limits = shared.limits;
    let handshake = tokio::time::timeout(
        limits.header_timeout,
        crate::tls::handshake(stream, &acceptor, peer),
    );
    let tls = tokio::select! {
        done = handshake => match done {
            Ok(Some(tls)) => tls,
            Ok(None) => return,
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
        // Any change means the server is going away: no new requests.
        _ = phase.changed() => return,
    };
    let activity = Activity::new(limits);
    let io = Tracked::new(tls, Arc::clone(&activity));
    drive(io, shared, activity, phase, peer, true).await;
}

/// Serves HTTP on `io` under the watchdog.
async fn drive<I>(
    io: Tracked<I>,
    shared: &Shared,
    activity: Arc<Activity>,
    mut phase: watch::Receiver<Phase>,
    peer: SocketAddr,
    over_tls: bool,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let app = shared.app.clone();
    let counter = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let in_flight = counter.request_started();
        let request = if over_tls {
            host_from_authority(request)
        } else {
            request
        };
        let response = app.clone().oneshot(request);
        async move {
            let response = response.await?;
            Ok::<_, std::convert::Infallible>(
                response.map(|body| Body::new(UntilSent::new(body, in_flight))),
            )
        }
    });
    let connection = shared
        .builder
        .serve_connection(TokioIo::new(io), service)
        .into_owned();
    let mut connection = std::pin::pin!(connection);
    let mut tick = tokio::time::interval(activity.tick());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut draining = false;
    loop {
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(error) = ended {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return;
            }
            _ = tick.tick() => match activity.expired(Instant::now()) {
                None => {}
                Some(Expired::Header) => {
                    tracing::debug!(%peer, "closing: no complete request head in time");
                    return;
                }
                Some(Expired::Idle) => {
                    tracing::debug!(%peer, "closing: idle");
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(IDLE_CLOSE_WAIT, connection.as_mut()).await;
                    return;
                }
            },
            changed = phase.changed() => {
                let now = if changed.is_ok() { *phase.borrow_and_update() } else { Phase::Closing };
                match now {
                    Phase::Serving => {}
                    Phase::Draining if !draining => {
                        draining = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    Phase::Draining => {}
                    Phase::Closing => return,
                }
            }
        }
    }
}

/// HTTP/2 carries the host in `:authority`, not in a `Host` header; the handlers read `Host`.
/// The request is also marked as served over TLS, for the `https` of `@odata.context`.
fn host_from_authority(mut request: Request<Incoming>) -> Request<Incoming> {
    request
        .extensions_mut()
        .insert(crate::handlers::ServedOverTls);
    if !request.headers().contains_key(axum::http::header::HOST) {
        let host = request
            .uri()
            .authority()
            .and_then(|a| axum::http::HeaderValue::from_str(a.as_str()).ok());
        if let Some(host) = host {
            request.headers_mut().insert(axum::http::header::HOST, host);
        }
    }
    request
}

/// Why the watchdog closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expired {
    Header,
    Idle,
}

/// What the watchdog knows of one connection, updated by its socket and its requests.
struct Activity {
    limits: Limits,
    state: Mutex<ActivityState>,
}

struct ActivityState {
    /// Requests whose response is not completely sent yet.
    in_flight: usize,
    /// Since when no request has been in progress.
    idle_since: Instant,
    /// The start of a request head not yet complete: the connection's start for the first
    /// request, else the first byte read while no request was in progress.
    head_since: Option<Instant>,
    /// While everything read of the current request head is blank lines: how many bytes.
    blank: Option<usize>,
    /// The client sent more blank lines before a request line than any client would.
    junk: bool,
    /// How many bytes of the HTTP/2 preface have been matched; `None` once the connection is
    /// known to be HTTP/1, `Some(24)` once known to be HTTP/2.
    preface: Option<usize>,
}

impl Activity {
    fn new(limits: Limits) -> Arc<Activity> {
        let now = Instant::now();
        Arc::new(Activity {
            limits,
            state: Mutex::new(ActivityState {
                in_flight: 0,
                idle_since: now,
                head_since: Some(now),
                blank: Some(0),
                junk: false,
                preface: Some(0),
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, ActivityState> {
        // The state is a few plain fields, consistent after any panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How often the watchdog looks: a fraction of the shortest timeout, so that a limit is
    /// enforced at most about a quarter late.
    fn tick(&self) -> Duration {
        (self.limits.header_timeout.min(self.limits.idle_timeout) / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(1))
    }

    /// `bytes` were read from the client.
    fn read(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut state = self.state();
        if let Some(matched) = state.preface {
            if matched < H2_PREFACE.len() {
                let take = (H2_PREFACE.len() - matched).min(bytes.len());
                if bytes[..take] == H2_PREFACE[matched..matched + take] {
                    state.preface = Some(matched + take);
                    if matched + take == H2_PREFACE.len() {
                        // HTTP/2 frames (pings, settings) arrive between requests; its request
                        // heads are single frames that the h2 codec bounds.
                        state.head_since = None;
                    }
                    return;
                }
                state.preface = None;
            }
        }
        let http2 = state.preface.is_some();
        if http2 || state.in_flight > 0 {
            return;
        }
        if state.head_since.is_none() {
            state.head_since = Some(Instant::now());
        }
        if let Some(blank) = state.blank {
            if bytes.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                state.blank = Some(blank + bytes.len());
                state.junk = blank + bytes.len() > MAX_BLANK_BEFORE_REQUEST;
            } else {
                state.blank = None;
            }
        }
    }

    /// A request head arrived; the returned guard marks its response as sent when dropped.
    fn request_started(self: &Arc<Self>) -> InFlight {
        let mut state = self.state();
        state.in_flight += 1;
        state.head_since = None;
        state.blank = Some(0);
        InFlight(Arc::clone(self))
    }

    fn expired(&self, now: Instant) -> Option<Expired> {
        let state = self.state();
        if state.in_flight > 0 {
            return None;
        }
        if state.junk {
            return Some(Expired::Header);
        }
        if let Some(since) = state.head_since {
            if now.duration_since(since) >= self.limits.header_timeout {
                return Some(Expired::Header);
            }
            return None;
        }
        (now.duration_since(state.idle_since) >= self.limits.idle_timeout).then_some(Expired::Idle)
    }
}

/// One request in progress on a connection, until its response body is sent (or dropped).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
        }
    }
}

/// A response body that keeps its request counted as in progress until hyper has sent it.
struct UntilSent {
    body: Body,
    _in_flight: InFlight,
}

impl UntilSent {
    fn new(body: Body, in_flight: InFlight) -> Self {
        UntilSent {
            body,
            _in_flight: in_flight,
        }
    }
}

impl HttpBody for UntilSent {
    type Data = <Body as HttpBody>::Data;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body_frame::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body_frame::SizeHint {
        self.body.size_hint()
    }
}

/// The frame types of `http_body`, through hyper's re-exports.
mod http_body_frame {
    pub(super) use hyper::body::{Frame, SizeHint};
}

/// A socket whose reads are reported to the connection's [`Activity`].
struct Tracked<I> {
    io: I,
    activity: Arc<Activity>,
}

impl<I> Tracked<I> {
    fn new(io: I, activity: Arc<Activity>) -> Self {
        Tracked { io, activity }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Tracked<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.activity.read(&buf.filled()[before..]);
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Tracked<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            ..Limits::default()
        }
    }

    #[test]
    fn a_silent_new_connection_gets_the_header_timeout() {
        let activity = Activity::new(limits());
        let start = Instant::now();
        assert_eq!(activity.expired(start + Duration::from_secs(9)), None);
        assert_eq!(
            activity.expired(start + Duration::from_secs(11)),
            Some(Expired::Header)
        );
    }

    #[test]
    fn between_requests_the_idle_timeout_applies_until_a_byte_arrives() {
        let activity = Activity::new(limits());
        let start = Instant::now();
        activity.read(b"GET / HTTP/1.1\r\n\r\n");
        let request = activity.request_started();
        assert_eq!(activity.expired(start + Duration::from_secs(100)), None);
        drop(request);
        assert_eq!(activity.expired(start + Duration::from_secs(30)), None);
        assert_eq!(
            activity.expired(Instant::now() + Duration::from_secs(61)),
            Some(Expired::Idle)
        );
        activity.read(b"GE");
        assert_eq!(
            activity.expired(Instant::now() + Duration::from_secs(11)),
            Some(Expired::Header)
        );
    }

    #[test]
    fn a_stream_of_blank_lines_is_closed_without_waiting_for_the_header_timeout() {
        let activity = Activity::new(limits());
        activity.read(b"\r\n");
        activity.read(b"\r\nGET / HTTP/1.1\r\n");
        assert_eq!(activity.expired(Instant::now()), None);
        let request = activity.request_started();
        drop(request);
        for _ in 0..8 {
            activity.read(b"\r\n");
        }
        assert_eq!(activity.expired(Instant::now()), None);
        activity.read(b"\r\n");
        assert_eq!(activity.expired(Instant::now()), Some(Expired::Header));
    }

    #[test]
    fn http2_frames_between_requests_do_not_start_the_header_clock() {
        let activity = Activity::new(limits());
        activity.read(&H2_PREFACE[..10]);
        activity.read(&H2_PREFACE[10..]);
        activity.read(b"\x00\x00\x08\x06\x00\x00\x00\x00\x00ping....");
        assert_eq!(
            activity.expired(Instant::now() + Duration::from_secs(30)),
            None
        );
        assert_eq!(
            activity.expired(Instant::now() + Duration::from_secs(61)),
            Some(Expired::Idle)
        );
    }

    #[test]
    fn the_over_limit_answer_is_well_formed() {
        let response = over_limit_response();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "serviceNotAvailable");
        let request_id = json["error"]["innerError"]["request-id"].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(request_id).is_ok(), "{request_id}");
        assert!(head.contains(&format!("request-id: {request_id}\r\n")));
        assert!(head.contains(&format!("client-request-id: {request_id}\r\n")));
        assert!(json["error"]["innerError"]["date"].as_str().is_some());
    }
}
