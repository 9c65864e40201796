//! The real `graph-photo serve` against hostile and broken clients: stalled request lines,
//! floods of connections, blank lines, an HTTP/2 preface, and SIGTERM while connections hang.
//! Raw sockets, so that the tests see exactly when the server answers or closes.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::support::Server;

/// How long a test waits for any single answer before calling the server stuck.
const STUCK: Duration = Duration::from_secs(20);

/// A request line cut in the middle: the classic slowloris opening.
const HALF_REQUEST_LINE: &[u8] = b"GET /v1.0/me/photo/$val";

fn start(extra: &[&str]) -> (Server, tempfile::TempDir) {
    let data = crate::support::data_dir();
    let server = Server::start(data.path(), extra);
    (server, data)
}

/// The development token the banner prints (User.ReadWrite and more, for Adele).
fn banner_token(server: &Server) -> String {
    server
        .banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("export TOKEN="))
        .expect("the banner prints a token")
        .to_owned()
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, STUCK).unwrap();
    stream.set_read_timeout(Some(STUCK)).unwrap();
    stream
}

/// What the server did on a connection that we only read from.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// It closed the connection (FIN or reset) without answering.
    Closed,
    /// It sent these first bytes.
    Answered(Vec<u8>),
    /// Nothing within the read timeout.
    Silent,
}

fn outcome(stream: &mut TcpStream) -> Outcome {
    let mut buf = [0u8; 512];
    match stream.read(&mut buf) {
        Ok(0) => Outcome::Closed,
        Ok(n) => Outcome::Answered(buf[..n].to_vec()),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Outcome::Silent
        }
        Err(_) => Outcome::Closed,
    }
}

/// The status of an authenticated `GET /v1.0/me/photo` on a fresh connection, or why there is
/// none.
fn get_status(addr: SocketAddr, token: &str) -> Result<u16, String> {
    let mut stream = TcpStream::connect_timeout(&addr, STUCK).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(STUCK)).unwrap();
    let request = format!(
        "GET /v1.0/me/photo HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => return Err(format!("closed after {:?}", String::from_utf8_lossy(&head))),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&head).into_owned();
    line.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP status line: {line:?}"))
}

#[test]
fn a_stalled_request_line_is_closed_within_the_header_timeout() {
    let (server, _data) = start(&["--header-timeout", "2"]);
    let mut stalled = connect(server.addr);
    stalled.write_all(HALF_REQUEST_LINE).unwrap();
    let started = Instant::now();
    let got = outcome(&mut stalled);
    let waited = started.elapsed();
    assert_eq!(got, Outcome::Closed, "after {waited:?}");
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(6),
        "closed after {waited:?}; the header timeout is 2 s"
    );

    // A connection that sends nothing at all is held no longer.
    let mut silent = connect(server.addr);
    let started = Instant::now();
    assert_eq!(outcome(&mut silent), Outcome::Closed);
    assert!(started.elapsed() < Duration::from_secs(6));

    // Ordinary clients are not affected.
    assert_eq!(get_status(server.addr, &banner_token(&server)), Ok(404));
}

#[test]
fn blank_lines_and_an_http2_preface_are_answered_or_closed_promptly() {
    // The default header timeout (10 s): a prompt answer must not come from it.
    let (server, _data) = start(&[]);

    let mut blank = connect(server.addr);
    blank.write_all(&b"\r\n".repeat(64)).unwrap();
    let started = Instant::now();
    let got = outcome(&mut blank);
    assert!(
        matches!(&got, Outcome::Closed)
            || matches!(&got, Outcome::Answered(bytes) if bytes.starts_with(b"HTTP/1.1 400")),
        "{got:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "blank lines held for {:?}",
        started.elapsed()
    );

    // An HTTP/2 client with prior knowledge is served HTTP/2: the server's SETTINGS frame
    // (type 4) comes at once.
    let mut h2 = connect(server.addr);
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    let started = Instant::now();
    match outcome(&mut h2) {
        Outcome::Answered(frame) => assert_eq!(frame.get(3), Some(&4), "{frame:?}"),
        other => panic!("no SETTINGS after an HTTP/2 preface: {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(4));

    // Bytes that are no HTTP at all get a 400.
    let mut garbage = connect(server.addr);
    garbage.write_all(b"\x16\x03\x01 not http\r\n\r\n").unwrap();
    match outcome(&mut garbage) {
        Outcome::Answered(bytes) => assert!(bytes.starts_with(b"HTTP/1.1 400"), "{bytes:?}"),
        Outcome::Closed => {}
        Outcome::Silent => panic!("garbage got neither an answer nor a close"),
    }
}

#[test]
fn sigterm_exits_within_the_grace_period_despite_stalled_and_slow_clients() {
    // A long header timeout, so that only the shutdown deadline can end the stalled connection.
    let (mut server, _data) = start(&["--header-timeout", "120", "--shutdown-grace", "2"]);
    let token = banner_token(&server);
    let mut stalled = connect(server.addr);
    stalled.write_all(HALF_REQUEST_LINE).unwrap();
    // An upload in progress whose body never completes: a request the server is working on.
    let mut slow = connect(server.addr);
    let head = format!(
        "PUT /v1.0/me/photo/$value HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: image/jpeg\r\nContent-Length: 1000000\r\n\r\n",
        server.addr
    );
    slow.write_all(head.as_bytes()).unwrap();
    slow.write_all(&[0xFF, 0xD8, 0xFF]).unwrap();
    // Let the server take both in before the signal.
    std::thread::sleep(Duration::from_millis(300));

    let signalled = Instant::now();
    server.send_sigterm();
    let status = server
        .exit_within(Duration::from_secs(12))
        .unwrap_or_else(|| panic!("still running 12 s after SIGTERM with a 2 s grace period"));
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(
        took < Duration::from_secs(6),
        "exited {took:?} after SIGTERM; the grace period is 2 s"
    );
    assert!(
        took >= Duration::from_millis(1500),
        "exited after {took:?}: the request in progress was not given its grace period"
    );
    assert_eq!(outcome(&mut stalled), Outcome::Closed);
}

#[test]
fn a_request_in_progress_at_sigterm_is_finished_before_the_exit() {
    let (mut server, _data) = start(&["--shutdown-grace", "10"]);
    let token = banner_token(&server);
    let photo = tiny_png();
    let mut upload = connect(server.addr);
    let head = format!(
        "PUT /v1.0/me/photo/$value HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        photo.len()
    );
    upload.write_all(head.as_bytes()).unwrap();
    upload.write_all(&photo[..8]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    server.send_sigterm();
    std::thread::sleep(Duration::from_millis(500));
    upload.write_all(&photo[8..]).unwrap();
    match outcome(&mut upload) {
        Outcome::Answered(bytes) => assert!(
            bytes.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&bytes)
        ),
        other => panic!("the upload in progress got no answer: {other:?}"),
    }
    let status = server.exit_within(Duration::from_secs(12)).unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(
        signalled.elapsed() < Duration::from_secs(8),
        "exit {:?} after SIGTERM although nothing was left in progress",
        signalled.elapsed()
    );
}

/// A valid 2x2 PNG.
fn tiny_png() -> Vec<u8> {
    let image = image::RgbImage::from_pixel(2, 2, image::Rgb([200, 30, 30]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

#[test]
fn a_thousand_stalled_connections_do_not_lock_out_a_new_client() {
    const HOSTILE: usize = 1000;
    // Each hostile connection is a descriptor here too.
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap();
    assert!(
        limit >= HOSTILE as u64 + 256,
        "this test needs an open file limit of {}, the hard limit allows {limit}",
        HOSTILE + 256
    );
    let (server, _data) = start(&["--max-connections", "200"]);
    let token = banner_token(&server);

    // Under the limit: served as usual while 150 peers stall.
    let mut hostile: Vec<TcpStream> = (0..150).map(|_| stall(server.addr)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(get_status(server.addr, &token), Ok(404));
    let under = started.elapsed();
    assert!(under < Duration::from_secs(5), "answered after {under:?}");

    // Over it: a new client is refused with a 503 at once rather than queued behind them.
    hostile.extend((150..HOSTILE).map(|_| stall(server.addr)));
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(get_status(server.addr, &token), Ok(503));
    let over = started.elapsed();
    assert!(over < Duration::from_secs(5), "refused after {over:?}");

    // Once they leave, service is back within 2 s.
    drop(hostile);
    let left = Instant::now();
    let back = loop {
        match get_status(server.addr, &token) {
            Ok(404) => break left.elapsed(),
            other => assert!(
                left.elapsed() < Duration::from_secs(2),
                "not back 2 s after the hostile peers left: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!("answered under the limit in {under:?}, refused over it in {over:?}, back {back:?} after they left");
}

/// A connection that sends half a request line and then nothing. Over the limit the server may
/// already have closed it: the write error does not matter.
fn stall(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect_timeout(&addr, STUCK).unwrap();
    let _ = stream.write_all(HALF_REQUEST_LINE);
    stream
}
