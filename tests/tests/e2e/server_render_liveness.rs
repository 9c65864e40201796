//! The real `graph-photo serve` under clients that go away mid-render (issue 8): sizes are
//! always answered, and SIGTERM still stops the server.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{striped_png16, Server};

/// Every size request must be answered within this, whatever other clients did.
const ANSWER_BOUND: Duration = Duration::from_secs(30);
/// 16 MP: rendering takes well over the time the readers wait before leaving, yet a few such
/// renders (those left running, then the fresh one) fit the bound on a loaded machine.
const SIDE: u32 = 4000;

fn banner_token(server: &Server) -> String {
    server
        .banner
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("export TOKEN="))
        .unwrap_or_else(|| panic!("no token in the banner:\n{}", server.banner))
        .to_owned()
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(ANSWER_BOUND)
        .build()
        .unwrap()
}

fn upload(http: &reqwest::blocking::Client, server: &Server, token: &str, photo: Vec<u8>) {
    let resp = http
        .put(server.url("/v1.0/me/photo/$value"))
        .bearer_auth(token)
        .header("Content-Type", "image/png")
        .body(photo)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().unwrap_or_default());
}

/// Sends a size request on a connection of its own and returns without reading the answer.
fn start_size_request(server: &Server, token: &str, size: &str) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    write!(
        stream,
        "GET /v1.0/me/photos/{size}/$value HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\r\n",
        server.addr
    )
    .unwrap();
    stream
}

#[test]
fn sizes_are_answered_after_clients_left_mid_render_and_sigterm_still_stops() {
    let data = crate::support::data_dir();
    let server = Server::start(data.path(), &[]);
    let token = banner_token(&server);
    let http = client();

    // More abandoned versions than the server has render permits (one per core).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rounds = (cores + 1).max(3);
    for round in 0..rounds {
        upload(
            &http,
            &server,
            &token,
            striped_png16(SIDE, 0x30 + round as u8, false),
        );
        let readers: Vec<TcpStream> = ["48x48", "96x96", "648x648"]
            .into_iter()
            .map(|size| start_size_request(&server, &token, size))
            .collect();
        // Long enough for the render to start, far shorter than it.
        std::thread::sleep(Duration::from_millis(400));
        drop(readers);
    }

    // A new version, and a fresh reader: answered in time.
    upload(&http, &server, &token, striped_png16(SIDE, 0xA0, false));
    let asked = Instant::now();
    let resp = http
        .get(server.url("/v1.0/me/photos/96x96/$value"))
        .bearer_auth(&token)
        .send()
        .unwrap_or_else(|e| panic!("no answer after {:?}: {e}", asked.elapsed()));
    assert_eq!(resp.status(), 200);
    let jpeg = resp.bytes().unwrap();
    assert_eq!(image::load_from_memory(&jpeg).unwrap().width(), 96);
    eprintln!("fresh size answered in {:?}", asked.elapsed());
    assert!(asked.elapsed() < ANSWER_BOUND, "{:?}", asked.elapsed());

    // Once more for an older size of the same version (from the cache now).
    let resp = http
        .get(server.url("/v1.0/me/photos/48x48/$value"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Nothing left holding the server up: SIGTERM ends it promptly.
    let stopped = Instant::now();
    let status = server.terminate();
    assert!(status.success(), "{status}");
    assert!(stopped.elapsed() < Duration::from_secs(15));
}
