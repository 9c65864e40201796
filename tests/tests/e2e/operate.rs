//! Operating the real binary (issue 14): the request log on stderr (`--log-format json`, no
//! ANSI escapes into a pipe), `/metrics` after real requests, and `/readyz` against a
//! PostgreSQL that is stopped. The endpoints' answers in detail, over mock ports:
//! `adapter-http-server`'s `ops` tests.

use std::time::{Duration, Instant};

use adapter_postgres::test_support::PrivateServer;
use serde_json::Value;

use crate::durable_store::{client, put, writer_token};
use crate::support::{self, data_dir, Server, ADELE_ID, MEGAN_ID};

/// The request log's events on `server`'s stderr (JSON lines, target `access`), once at least
/// `count` arrived (stderr is read by another thread).
fn access_lines(server: &Server, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stderr = server.stderr();
        let lines: Vec<Value> = stderr
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"))
            })
            .filter(|event: &Value| event["target"] == "access")
            .collect();
        if lines.len() >= count || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of `name{labels}` in Prometheus text (labels as the exporter writes them).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn json_request_log_has_one_line_per_request_and_metrics_count_them() {
    let data = data_dir();
    let server = Server::start(data.path(), &["--store", "memory", "--log-format", "json"]);
    let http = client();
    let token = writer_token();
    let photo = support::png(300, 300);
    let path = format!("/v1.0/users/{ADELE_ID}/photo/$value");

    // Probes and scrapes are not request-log lines at info.
    let health = http.get(server.url("/healthz")).send().unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(health.text().unwrap(), "ok\n");
    assert_eq!(
        http.get(server.url("/readyz"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );

    // 1: an upload (bytes in), with the client's own request id.
    let resp = http
        .put(server.url(&path))
        .bearer_auth(&token)
        .header("client-request-id", "e2e-operate-1")
        .body(photo.clone())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let upload_request_id = resp.headers()["request-id"].to_str().unwrap().to_owned();
    // 2: a size (a render, a cache miss), 3: the same size again (a hit).
    let size = format!("/v1.0/users/{ADELE_ID}/photos/48x48/$value");
    for _ in 0..2 {
        let resp = http
            .get(server.url(&size))
            .bearer_auth(&token)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }
    // 4: a bad token (401, its code), 5: an unknown segment (400, before authentication).
    let resp = http
        .get(server.url(&path))
        .bearer_auth("not-a-jwt")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = http.get(server.url("/v1.0/me/fotos")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    let lines = access_lines(&server, 5);
    assert_eq!(lines.len(), 5, "one line per request:\n{}", server.stderr());
    for line in &lines {
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(line["message"], "request", "{line}");
        for field in [
            "method",
            "path",
            "status",
            "code",
            "request_id",
            "client_request_id",
            "oid",
            "appid",
            "route",
            "bytes_in",
            "bytes_out",
            "latency_ms",
            "timestamp",
        ] {
            assert!(line.get(field).is_some(), "no {field} in {line}");
        }
        assert!(line["latency_ms"].as_f64().unwrap() >= 0.0, "{line}");
    }
    let upload = &lines[0];
    assert_eq!(upload["method"], "PUT");
    assert_eq!(upload["path"], path.as_str());
    assert_eq!(upload["status"], 200);
    assert_eq!(upload["code"], "");
    assert_eq!(upload["route"], "photo_value");
    assert_eq!(upload["request_id"], upload_request_id.as_str());
    assert_eq!(upload["client_request_id"], "e2e-operate-1");
    assert_eq!(upload["oid"], MEGAN_ID);
    assert_eq!(upload["bytes_in"], photo.len() as u64);
    assert_eq!(upload["bytes_out"], 0);
    let read = &lines[1];
    assert_eq!(read["route"], "photos_size_value");
    assert!(read["bytes_out"].as_u64().unwrap() > 0, "{read}");
    let refused = &lines[3];
    assert_eq!(refused["status"], 401);
    assert_eq!(refused["code"], "InvalidAuthenticationToken");
    assert_eq!(refused["oid"], "", "no caller without a valid token");
    let unknown = &lines[4];
    assert_eq!(
        (unknown["status"].as_u64(), unknown["code"].as_str()),
        (Some(400), Some("BadRequest"))
    );
    assert_eq!(unknown["route"], "unmatched");

    let stderr = server.stderr();
    assert!(!stderr.contains(&token), "a token reached the log");
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escapes in a pipe:\n{stderr}"
    );

    let metrics = http.get(server.url("/metrics")).send().unwrap();
    assert_eq!(metrics.status().as_u16(), 200);
    let text = metrics.text().unwrap();
    let expect = |series: &str, value: f64| {
        assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
    };
    expect(
        r#"graph_photo_http_requests_total{route="photo_value",method="PUT",status="200"}"#,
        1.0,
    );
    expect(
        r#"graph_photo_http_requests_total{route="photos_size_value",method="GET",status="200"}"#,
        2.0,
    );
    expect(
        r#"graph_photo_http_requests_total{route="unmatched",method="GET",status="400"}"#,
        1.0,
    );
    expect(
        r#"graph_photo_http_request_duration_seconds_count{route="photos_size_value",method="GET"}"#,
        2.0,
    );
    expect("graph_photo_upload_bytes_total", photo.len() as f64);
    expect(r#"graph_photo_renders_total{outcome="ok"}"#, 1.0);
    expect("graph_photo_render_duration_seconds_count", 1.0);
    expect("graph_photo_renders_waiting", 0.0);
    expect("graph_photo_renders_running", 0.0);
    expect(
        r#"graph_photo_rendition_cache_requests_total{result="miss"}"#,
        1.0,
    );
    expect(
        r#"graph_photo_rendition_cache_requests_total{result="hit"}"#,
        1.0,
    );
    expect(
        r#"graph_photo_store_operation_duration_seconds_count{operation="put"}"#,
        1.0,
    );
    expect("graph_photo_throttled_requests_total", 0.0);
    server.terminate();
}

#[test]
fn text_logs_into_a_pipe_carry_no_ansi_escapes_and_metrics_can_be_turned_off() {
    let data = data_dir();
    let server = Server::start(data.path(), &["--store", "memory", "--no-metrics"]);
    let http = client();
    // Without metrics, /metrics is what it always was: an unknown Graph segment.
    let resp = http.get(server.url("/metrics")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.stderr().contains("/metrics") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stderr = server.stderr();
    let line = stderr
        .lines()
        .find(|l| l.contains("access") && l.contains("/metrics"))
        .unwrap_or_else(|| panic!("no request line in:\n{stderr}"));
    assert!(
        line.contains("INFO") && line.contains("status=400"),
        "{line}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escapes in a pipe:\n{stderr}"
    );
    assert!(!server.banner.contains("/metrics"), "{}", server.banner);
    server.terminate();
}

#[test]
fn readiness_follows_a_postgres_outage_within_its_bound() {
    let mut pg = PrivateServer::start().unwrap_or_else(|e| panic!("{e}"));
    let data = data_dir();
    let server = Server::start(data.path(), &["--store", &pg.url()]);
    let http = client();
    let ready = |http: &reqwest::blocking::Client| {
        let started = Instant::now();
        let resp = http.get(server.url("/readyz")).send().unwrap();
        (resp, started.elapsed())
    };
    assert_eq!(ready(&http).0.status().as_u16(), 200);

    pg.stop().unwrap();
    let (resp, elapsed) = ready(&http);
    assert_eq!(resp.status().as_u16(), 503);
    // The check is bounded at 2 s; the rest is slack for a loaded CI machine.
    assert!(elapsed < Duration::from_secs(5), "/readyz took {elapsed:?}");
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().unwrap();
    assert_eq!(body["error"]["code"], "serviceNotAvailable");
    // Up is not ready: the process still answers.
    let health = http.get(server.url("/healthz")).send().unwrap();
    assert_eq!(health.status().as_u16(), 200);

    pg.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = ready(&http).0.status().as_u16();
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {status} after the database came back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // And a write goes through again.
    put(
        &http,
        &server,
        &format!("/v1.0/users/{ADELE_ID}/photo/$value"),
        &writer_token(),
        support::unique_png(77),
    );
    server.terminate();
}
