//! The load generator: concurrent clients, each repeating one request, counted over a measured
//! window; and the HTTP client they use.
//!
//! The HTTP client is hyper's bare HTTP/1.1 connection, one per simulated client, driven on
//! this process's runtime: no pool, no redirect or header machinery, so that on one core the
//! generator outruns the server it loads (checked on every run: the report carries the CPU
//! time both used while measuring).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::ValueEnum;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::Error;

/// How long the clients run.
#[derive(Clone, Copy)]
pub(crate) enum Plan {
    /// Warm-up seconds (not counted), then measured seconds.
    Timed { warmup: f64, seconds: f64 },
    /// Each client sends this many requests, all counted.
    Count(u64),
}

/// One simulated client: sends its request once; `Err` names what went wrong, briefly (the
/// report counts each kind).
pub(crate) trait Client: Send + 'static {
    fn once(&mut self) -> impl Future<Output = Result<(), String>> + Send;
}

/// What the clients did, counted.
#[derive(Default)]
struct Tally {
    ops: u64,
    errors: BTreeMap<String, u64>,
}

/// Runs the clients to the plan; the report (ops, rate, errors by kind, and the CPU this
/// process and `server_pid` used while measuring, as fractions of one core).
pub(crate) async fn drive_clients<C: Client>(
    clients: Vec<C>,
    plan: Plan,
    server_pid: Option<u32>,
) -> serde_json::Value {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now();
    let (measure_from, end) = match plan {
        Plan::Timed { warmup, seconds } => {
            let from = start + Duration::from_secs_f64(warmup);
            (from, Some(from + Duration::from_secs_f64(seconds)))
        }
        Plan::Count(_) => (start, None),
    };
    let count = match plan {
        Plan::Count(n) => n,
        Plan::Timed { .. } => u64::MAX,
    };
    // CPU is sampled at the window's edges, so warm-up and tear-down are left out.
    let sampler = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        CpuSample::now(server_pid)
    });
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            let tally = Arc::clone(&tally);
            tokio::spawn(async move {
                for _ in 0..count {
                    if end.is_some_and(|end| Instant::now() >= end) {
                        break;
                    }
                    let result = client.once().await;
                    // Counted by when it completed: in a steady state, completions inside the
                    // window over its length is the rate, whatever a request's latency (one
                    // straddling an edge is neither lost nor counted twice).
                    let done = Instant::now();
                    let counted = done >= measure_from && end.is_none_or(|end| done <= end);
                    if counted {
                        let mut tally = tally.lock().await;
                        match result {
                            Ok(()) => tally.ops += 1,
                            Err(kind) => *tally.errors.entry(kind).or_default() += 1,
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let finished = CpuSample::now(server_pid);
    let began = sampler.await.ok().flatten();
    let seconds = match plan {
        Plan::Timed { seconds, .. } => seconds,
        Plan::Count(_) => start.elapsed().as_secs_f64(),
    };
    let tally = tally.lock().await;
    let errors: u64 = tally.errors.values().sum();
    let cpu = |pick: fn(&CpuSample) -> Option<u64>| -> Option<f64> {
        let (began, finished) = (began.as_ref()?, finished.as_ref()?);
        let ticks = pick(finished)?.checked_sub(pick(began)?)?;
        let wall = finished.at.duration_since(began.at).as_secs_f64();
        (wall > 0.0).then(|| ticks as f64 / CLOCK_TICKS_PER_SEC / wall)
    };
    serde_json::json!({
        "ops": tally.ops,
        "seconds": seconds,
        "ops_per_sec": tally.ops as f64 / seconds,
        "errors": errors,
        "error_kinds": tally.errors,
        "client_cpu": cpu(|s| Some(s.own)),
        "server_cpu": cpu(|s| s.server),
    })
}

/// `/proc/<pid>/stat` counts CPU time in USER_HZ ticks, which Linux fixes at 100 for user space
/// whatever the kernel's own tick rate.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// CPU time (user + system, all threads) of this process and of the server, at one instant.
struct CpuSample {
    at: Instant,
    own: u64,
    server: Option<u64>,
}

impl CpuSample {
    fn now(server_pid: Option<u32>) -> Option<Self> {
        Some(Self {
            at: Instant::now(),
            own: cpu_ticks("self")?,
            server: server_pid.and_then(|pid| cpu_ticks(&pid.to_string())),
        })
    }
}

/// utime + stime of `/proc/<pid>/stat` (fields 14 and 15; the command name, field 2, may hold
/// spaces, so fields are counted from its closing parenthesis).
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat)
}

fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// A closure run as a client: the storage floors' tasks.
pub(crate) struct Task<F> {
    index: usize,
    op: Arc<F>,
}

impl<F, Fut> Client for Task<F>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    async fn once(&mut self) -> Result<(), String> {
        if (self.op)(self.index).await {
            Ok(())
        } else {
            Err("failed".into())
        }
    }
}

/// `concurrency` tasks running `op(i)` to the plan.
pub(crate) async fn drive<F, Fut>(concurrency: usize, plan: Plan, op: F) -> serde_json::Value
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let clients = (0..concurrency)
        .map(|index| Task {
            index,
            op: Arc::clone(&op),
        })
        .collect();
    drive_clients(clients, plan, None).await
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum HttpOp {
    Put,
    Get,
}

#[derive(clap::Args)]
pub(crate) struct HttpArgs {
    /// PUT the body or GET.
    #[arg(long, value_enum)]
    op: HttpOp,
    /// Concurrent clients, each on its own keep-alive connection.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Warm-up seconds, not counted.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Measured seconds.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Instead of a time: each client sends this many requests, all counted.
    #[arg(long)]
    requests: Option<u64>,
    /// The body of a PUT.
    #[arg(long)]
    body: Option<PathBuf>,
    /// A file of URLs (`http://HOST:PORT/PATH`), one per line.
    #[arg(long)]
    urls: PathBuf,
    /// The bearer token (none: no `Authorization`).
    #[arg(long)]
    token: Option<String>,
    /// The Content-Type of a PUT.
    #[arg(long, default_value = "image/jpeg")]
    content_type: String,
    /// A further request header, `NAME: VALUE` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// The status every answer must have (default: any 2xx).
    #[arg(long)]
    expect: Option<u16>,
    /// The process whose CPU time is reported beside ours (the server).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Each request on a new connection, written by hand while the answer is read, so that an
    /// answer given before the body was all sent is seen (hyper's client reports its failed
    /// write instead); reports how many such answers came and whether the server closed.
    #[arg(long)]
    one_shot: bool,
}

/// What every request of one client carries.
struct Shape {
    method: Method,
    body: Bytes,
    headers: Vec<(HeaderName, HeaderValue)>,
    expect: Option<u16>,
}

/// One client: one connection (made again when the server closes it), one URL.
struct HttpClient {
    authority: String,
    uri: Uri,
    shape: Arc<Shape>,
    connection: Option<SendRequest<Full<Bytes>>>,
    stats: Arc<Mutex<ConnectionStats>>,
}

/// Connections opened, and answers that said `Connection: close`.
#[derive(Default)]
struct ConnectionStats {
    opened: u64,
    close_answers: u64,
}

impl HttpClient {
    async fn connection(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        let usable = match self.connection.as_mut() {
            Some(sender) => !sender.is_closed() && sender.ready().await.is_ok(),
            None => false,
        };
        if !usable {
            let sender = connect(&self.authority)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            self.stats.lock().await.opened += 1;
            self.connection = Some(sender);
        }
        self.connection
            .as_mut()
            .ok_or_else(|| "no connection".to_owned())
    }
}

impl Client for HttpClient {
    async fn once(&mut self) -> Result<(), String> {
        let mut request = Request::builder()
            .method(self.shape.method.clone())
            .uri(self.uri.clone())
            .header(http::header::HOST, self.authority.as_str());
        for (name, value) in &self.shape.headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(self.shape.body.clone()))
            .map_err(|e| format!("request: {e}"))?;
        let sender = self.connection().await?;
        let response = match sender.send_request(request).await {
            Ok(response) => response,
            Err(error) => {
                self.connection = None;
                return Err(format!("transport: {}", brief(&error)));
            }
        };
        let status = response.status().as_u16();
        if response
            .headers()
            .get(http::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
        {
            self.stats.lock().await.close_answers += 1;
        }
        // Read the whole answer, as a real client would, without keeping it.
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            if let Err(error) = frame {
                self.connection = None;
                return Err(format!("body: {}", brief(&error)));
            }
        }
        let ok = match self.shape.expect {
            Some(expected) => status == expected,
            None => (200..300).contains(&status),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("status {status}"))
        }
    }
}

/// An error's kind without its details, so that the report counts kinds.
fn brief(error: &hyper::Error) -> String {
    if error.is_incomplete_message() {
        "connection closed before the answer".into()
    } else if error.is_canceled() {
        "canceled".into()
    } else {
        let text = error.to_string();
        text.split(':').next().unwrap_or(&text).to_owned()
    }
}

async fn connect(authority: &str) -> Result<SendRequest<Full<Bytes>>, Error> {
    let stream = TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// `http://HOST:PORT/PATH` as the authority to connect to and the path to ask for.
fn split_url(url: &str) -> Result<(String, Uri), Error> {
    let uri: Uri = url.parse()?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("{url}: only http:// URLs").into());
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{url}: no host"))?
        .to_string();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    Ok((authority, path.parse()?))
}

fn parse_header(line: &str) -> Result<(HeaderName, HeaderValue), Error> {
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| format!("--header {line:?}: NAME: VALUE expected"))?;
    Ok((name.trim().parse()?, value.trim().parse()?))
}

pub(crate) async fn http(args: &HttpArgs) -> Result<serde_json::Value, Error> {
    let urls: Vec<String> = std::fs::read_to_string(&args.urls)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    if urls.is_empty() {
        return Err("no URLs".into());
    }
    let mut headers = Vec::new();
    if let Some(token) = &args.token {
        headers.push((
            http::header::AUTHORIZATION,
            format!("Bearer {token}").parse()?,
        ));
    }
    let (method, body) = match args.op {
        HttpOp::Get => (Method::GET, Bytes::new()),
        HttpOp::Put => {
            let path = args.body.as_ref().ok_or("a PUT needs --body")?;
            headers.push((http::header::CONTENT_TYPE, args.content_type.parse()?));
            (Method::PUT, Bytes::from(std::fs::read(path)?))
        }
    };
    for line in &args.headers {
        headers.push(parse_header(line)?);
    }
    let shape = Arc::new(Shape {
        method,
        body,
        headers,
        expect: args.expect,
    });
    let plan = match args.requests {
        Some(n) => Plan::Count(n),
        None => Plan::Timed {
            warmup: args.warmup,
            seconds: args.seconds,
        },
    };
    if args.one_shot {
        return one_shot(args, &urls, &shape, plan).await;
    }
    let stats = Arc::new(Mutex::new(ConnectionStats::default()));
    let mut clients = Vec::with_capacity(args.concurrency);
    for i in 0..args.concurrency {
        let (authority, uri) = split_url(&urls[i % urls.len()])?;
        clients.push(HttpClient {
            authority,
            uri,
            shape: Arc::clone(&shape),
            connection: None,
            stats: Arc::clone(&stats),
        });
    }
    let mut report = drive_clients(clients, plan, args.server_pid).await;
    let stats = stats.lock().await;
    report["connections_opened"] = stats.opened.into();
    report["connection_close_answers"] = stats.close_answers.into();
    Ok(report)
}

/// What the one-shot clients saw of the server's answers.
#[derive(Default)]
struct OneShotStats {
    /// Answers whose head arrived while the body was still being written.
    early: u64,
    /// Answers saying `Connection: close`.
    close_answers: u64,
    /// Connections the server closed after its answer.
    closed_by_server: u64,
}

/// A client sending each request on a new connection, by hand (`--one-shot`).
struct OneShotClient {
    authority: String,
    head: Bytes,
    body: Bytes,
    expect: Option<u16>,
    stats: Arc<Mutex<OneShotStats>>,
}

/// The most of an answer's head read before giving up on it.
const MAX_HEAD: usize = 64 * 1024;

impl Client for OneShotClient {
    async fn once(&mut self) -> Result<(), String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let stream = TcpStream::connect(&self.authority)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("nodelay: {e}"))?;
        let (mut reader, mut writer) = stream.into_split();
        let (head, body) = (self.head.clone(), self.body.clone());
        let write = tokio::spawn(async move {
            writer.write_all(&head).await?;
            writer.write_all(&body).await?;
            Ok::<_, std::io::Error>(writer)
        });
        let mut answer = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 16 * 1024];
        let head_len = loop {
            if let Some(at) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if answer.len() > MAX_HEAD {
                write.abort();
                return Err("answer head too long".into());
            }
            match reader.read(&mut chunk).await {
                Ok(0) => {
                    write.abort();
                    return Err("closed before the answer".into());
                }
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
                Err(e) => {
                    write.abort();
                    return Err(format!("reading the answer: {}", e.kind()));
                }
            }
        };
        let early = !write.is_finished();
        let parsed = parse_answer_head(&answer[..head_len]);
        let Some((status, content_length, close)) = parsed else {
            write.abort();
            return Err("unreadable answer head".into());
        };
        let mut body_left = content_length.saturating_sub(answer.len() - head_len);
        while body_left > 0 {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => body_left = body_left.saturating_sub(n),
            }
        }
        // Whether the server closes: end of stream (or a reset) soon after its answer.
        let closed = matches!(
            tokio::time::timeout(Duration::from_secs(2), reader.read(&mut chunk)).await,
            Ok(Ok(0)) | Ok(Err(_))
        );
        write.abort();
        {
            let mut stats = self.stats.lock().await;
            stats.early += u64::from(early);
            stats.close_answers += u64::from(close);
            stats.closed_by_server += u64::from(closed);
        }
        let ok = match self.expect {
            Some(expected) => status == expected,
            None => (200..300).contains(&status),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("status {status}"))
        }
    }
}

/// The status, `Content-Length` (0 when absent) and `Connection: close` of an answer's head.
fn parse_answer_head(head: &[u8]) -> Option<(u16, usize, bool)> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let (mut length, mut close) = (0, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok()?;
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.trim().eq_ignore_ascii_case("close");
        }
    }
    Some((status, length, close))
}

async fn one_shot(
    args: &HttpArgs,
    urls: &[String],
    shape: &Shape,
    plan: Plan,
) -> Result<serde_json::Value, Error> {
    let stats = Arc::new(Mutex::new(OneShotStats::default()));
    let mut clients = Vec::with_capacity(args.concurrency);
    for i in 0..args.concurrency {
        let (authority, uri) = split_url(&urls[i % urls.len()])?;
        let mut head = format!(
            "{} {uri} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {}\r\n",
            shape.method,
            shape.body.len()
        );
        for (name, value) in &shape.headers {
            let value = value.to_str().map_err(|e| format!("header {name}: {e}"))?;
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        clients.push(OneShotClient {
            authority,
            head: Bytes::from(head),
            body: shape.body.clone(),
            expect: shape.expect,
            stats: Arc::clone(&stats),
        });
    }
    let mut report = drive_clients(clients, plan, args.server_pid).await;
    let stats = stats.lock().await;
    report["answered_before_body_sent"] = stats.early.into();
    report["connection_close_answers"] = stats.close_answers.into();
    report["closed_by_server"] = stats.closed_by_server.into();
    Ok(report)
}

/// GETs `url` once and writes its body to `out`.
pub(crate) async fn fetch(url: &str, token: &str, out: &Path) -> Result<serde_json::Value, Error> {
    let (authority, uri) = split_url(url)?;
    let mut sender = connect(&authority).await?;
    let request = Request::get(uri)
        .header(http::header::HOST, authority.as_str())
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        return Err(format!("GET {url}: {status}").into());
    }
    std::fs::write(out, &bytes)?;
    Ok(serde_json::json!({ "status": status.as_u16(), "bytes": bytes.len() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_past_a_name_with_spaces() {
        let stat = "42 (a b) S 1 42 42 0 -1 4194304 100 0 0 0 250 31 0 0 20 0 3 0 9 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(281));
        assert_eq!(parse_cpu_ticks("42 (x) S 1"), None);
    }

    #[test]
    fn urls_split_into_authority_and_path() {
        let (authority, uri) =
            split_url("http://127.0.0.1:8080/v1.0/users/u/photo/$value").unwrap();
        assert_eq!(authority, "127.0.0.1:8080");
        assert_eq!(uri.to_string(), "/v1.0/users/u/photo/$value");
        assert!(split_url("https://h/x").is_err());
    }

    #[test]
    fn answer_heads_give_status_length_and_close() {
        let head = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 120\r\nConnection: close\r\n\r\n";
        assert_eq!(parse_answer_head(head), Some((401, 120, true)));
        let head = b"HTTP/1.1 200 OK\r\netag: \"1\"\r\n\r\n";
        assert_eq!(parse_answer_head(head), Some((200, 0, false)));
        assert_eq!(parse_answer_head(b"garbage"), None);
    }

    #[test]
    fn headers_are_name_colon_value() {
        let (name, value) = parse_header("If-Match: \"nope\"").unwrap();
        assert_eq!(name, http::header::IF_MATCH);
        assert_eq!(value, "\"nope\"");
        assert!(parse_header("no colon").is_err());
    }

    #[tokio::test]
    async fn counted_runs_count_every_request_and_each_error_kind() {
        let report = drive(3, Plan::Count(4), |i| async move { i != 1 }).await;
        assert_eq!(report["ops"], 8);
        assert_eq!(report["errors"], 4);
        assert_eq!(report["error_kinds"]["failed"], 4);
    }
}
