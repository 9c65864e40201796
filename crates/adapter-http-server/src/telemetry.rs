//! The request log and the HTTP metrics (issue 14): one `info` event per request, written
//! once the response is known, and the request counters and latency histograms, recorded
//! through the [`metrics`] facade (a host that installs no recorder pays only a check).
//!
//! What the handler learns on the way (the route class, the caller, the upload bytes read) it
//! leaves in the response's extensions (`Observed`); the envelope leaves the Graph error
//! code (`ErrorCode`). Nothing here reads a token, a body or a photo's bytes.
//!
//! Metric names are Prometheus style; labels take a bounded set of values (a route *class*,
//! never the path), so a client cannot grow the number of series.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use metrics::SharedString;
use photo_core::principal::Principal;
use photo_core::target::{Operation, Representation};

use crate::envelope::{CLIENT_REQUEST_ID, REQUEST_ID};

/// Requests answered, by `route` (class), `method` and `status`.
pub const HTTP_REQUESTS: &str = "graph_photo_http_requests_total";
/// Seconds from a request's arrival to its response, by `route` and `method` (histogram).
pub const HTTP_REQUEST_DURATION: &str = "graph_photo_http_request_duration_seconds";
/// Bytes of upload bodies read (accepted or refused).
pub const UPLOAD_BYTES: &str = "graph_photo_upload_bytes_total";
/// Requests refused by throttling (spec F1). Registered here, at zero, so that it is always
/// exported; the throttling layer increments it
/// (`metrics::counter!(THROTTLED_REQUESTS).increment(1)`).
pub const THROTTLED_REQUESTS: &str = "graph_photo_throttled_requests_total";

/// The target of the request log's events: `--log-level info,access=off` silences them.
pub const ACCESS_LOG_TARGET: &str = "access";

/// The Graph error code of an error response, left by the envelope for the request log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorCode(pub(crate) &'static str);

/// What the handler learned about a request, left in the response's extensions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observed {
    /// The route class ([`route_class`]); `unmatched` when the path or method was refused.
    pub(crate) route: &'static str,
    /// The caller's object id (`oid`), for a delegated token.
    pub(crate) oid: Option<String>,
    /// The client application (`appid`/`azp`), when the token names it.
    pub(crate) appid: Option<String>,
    /// Upload body bytes read.
    pub(crate) bytes_in: u64,
}

impl Observed {
    /// Takes the caller's ids out of the principal (moved, not copied).
    pub(crate) fn caller(&mut self, principal: Principal) {
        match principal {
            Principal::Delegated(user) => {
                self.oid = Some(user.user_id);
                self.appid = user.app_id;
            }
            Principal::Application(app) => self.appid = Some(app.app_id),
        }
    }
}

/// The route class of an operation: the `route` label and log field, a few fixed values.
pub(crate) fn route_class(operation: &Operation) -> &'static str {
    match operation {
        Operation::Update | Operation::GetPhoto(Representation::Value) => "photo_value",
        Operation::GetPhoto(Representation::Metadata) | Operation::Delete => "photo",
        Operation::ListSizes => "photos",
        Operation::GetSize {
            representation: Representation::Metadata,
            ..
        } => "photos_size",
        Operation::GetSize {
            representation: Representation::Value,
            ..
        } => "photos_size_value",
    }
}

/// The route class of a request that never reached the Graph handler.
const UNMATCHED: &str = "unmatched";

/// The operational endpoints' route classes; their requests are logged at `debug`, so that
/// probes and scrapes do not fill the request log.
pub(crate) const OPS_ROUTES: [&str; 3] = ["healthz", "readyz", "metrics"];

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::POST => "POST",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The status as a label without an allocation for every status this server answers.
fn status_label(status: StatusCode) -> SharedString {
    let known = match status.as_u16() {
        200 => "200",
        204 => "204",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        412 => "412",
        413 => "413",
        429 => "429",
        500 => "500",
        503 => "503",
        other => return SharedString::from(other.to_string()),
    };
    SharedString::from(known)
}

fn header<'a>(response: &'a Response, name: &HeaderName) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The outermost middleware: times the request, then records its metrics and logs it.
pub(crate) async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // A cheap clone (shared bytes); the path is logged, never the query.
    let uri = request.uri().clone();
    let response = next.run(request).await;
    let elapsed = started.elapsed();

    let observed = response.extensions().get::<Observed>();
    let route = match observed {
        Some(observed) => observed.route,
        None if method == Method::OPTIONS => "preflight",
        None => UNMATCHED,
    };
    let bytes_in = observed.map_or(0, |o| o.bytes_in);
    let status = response.status();
    let method_label = method_label(&method);

    metrics::counter!(HTTP_REQUESTS, "route" => route, "method" => method_label, "status" => status_label(status))
        .increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION, "route" => route, "method" => method_label)
        .record(elapsed.as_secs_f64());
    if bytes_in > 0 {
        metrics::counter!(UPLOAD_BYTES).increment(bytes_in);
    }

    let code = response.extensions().get::<ErrorCode>().map_or("", |c| c.0);
    let oid = observed.and_then(|o| o.oid.as_deref()).unwrap_or("");
    let appid = observed.and_then(|o| o.appid.as_deref()).unwrap_or("");
    let bytes_out = axum::body::HttpBody::size_hint(response.body())
        .exact()
        .unwrap_or(0);
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    macro_rules! log_at {
        ($level:expr) => {
            tracing::event!(
                target: ACCESS_LOG_TARGET,
                $level,
                method = method.as_str(),
                path = uri.path(),
                status = status.as_u16(),
                code,
                request_id = header(&response, &REQUEST_ID),
                client_request_id = header(&response, &CLIENT_REQUEST_ID),
                oid,
                appid,
                route,
                bytes_in,
                bytes_out,
                latency_ms,
                "request"
            )
        };
    }
    if OPS_ROUTES.contains(&route) {
        log_at!(tracing::Level::DEBUG);
    } else {
        log_at!(tracing::Level::INFO);
    }
    response
}

/// Makes the request metrics known to the recorder with their descriptions, so that a scrape
/// shows the counters without labels (throttled requests, upload bytes) at zero before any
/// request.
pub(crate) fn describe() {
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route class, method and status."
    );
    metrics::describe_histogram!(
        HTTP_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time from a request's arrival to its response, by route class and method."
    );
    metrics::describe_counter!(
        UPLOAD_BYTES,
        metrics::Unit::Bytes,
        "Bytes of upload bodies read, accepted or refused."
    );
    metrics::describe_counter!(
        THROTTLED_REQUESTS,
        "Requests refused by simulated throttling (429)."
    );
    let _ = metrics::counter!(THROTTLED_REQUESTS);
    let _ = metrics::counter!(UPLOAD_BYTES);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_this_server_answers_are_static_labels() {
        for code in [
            200, 204, 304, 400, 401, 403, 404, 405, 408, 412, 413, 429, 500, 503,
        ] {
            let label = status_label(StatusCode::from_u16(code).unwrap());
            assert_eq!(&*label, code.to_string());
        }
        assert_eq!(&*status_label(StatusCode::IM_A_TEAPOT), "418");
    }
}
