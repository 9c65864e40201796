//! Small pure helpers for reading answers.

use super::*;

/// `404 ErrorEntityNotFound`, `200`, ...
pub(super) fn describe_expect(e: &Expect) -> String {
    match e.code {
        Some(code) => format!("{} {code}", e.status),
        None => e.status.to_string(),
    }
}

/// `404 ErrorEntityNotFound "The photo wasn't found.", ETag "..."` for the transcript.
pub(crate) fn summarize(r: &WireResponse) -> String {
    let mut s = r.status.to_string();
    if let Ok(json) = serde_json::from_slice::<Value>(&r.body) {
        if let Some(code) = json.pointer("/error/code").and_then(Value::as_str) {
            s.push_str(&format!(" {code}"));
            if let Some(m) = json.pointer("/error/message").and_then(Value::as_str) {
                s.push_str(&format!(" \"{m}\""));
            }
        }
    }
    if let Some(etag) = r.header("etag") {
        s.push_str(&format!(", ETag {etag}"));
    }
    if let Some(ct) = r.header("content-type") {
        if !r.body.is_empty() && !ct.starts_with("application/json") {
            s.push_str(&format!(", {ct}, {} bytes", r.body.len()));
        }
    }
    s
}

pub(super) fn body_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    if body.len() > 300 {
        format!("{text}... ({} bytes)", body.len())
    } else {
        text
    }
}

pub(super) fn first_difference(a: &[u8], b: &[u8]) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!(" (first difference at byte {i})"),
        None => String::new(),
    }
}

/// Media types compare without parameters and case.
pub(super) fn same_mime(header: &str, mime: &str) -> bool {
    header
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .eq_ignore_ascii_case(mime)
}

/// A strong ETag: `"..."`, no `W/` (C8).
pub(super) fn is_strong(etag: &str) -> bool {
    etag.len() >= 2 && etag.starts_with('"') && etag.ends_with('"')
}

/// `48x48` or `48X48` -> 48, for a square of one of the nine sizes' shape.
pub(super) fn parse_size_id(id: &str) -> Option<u32> {
    let (w, h) = id.split_once(['x', 'X'])?;
    let w: u32 = w.parse().ok()?;
    (h.parse::<u32>().ok()? == w).then_some(w)
}

/// `2026-11-28T10:20:30`, optionally with a fraction of seconds, no offset (C7).
pub(super) fn iso_date_without_offset(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let base = digits(0..4)
        && at(4, b'-')
        && digits(5..7)
        && at(7, b'-')
        && digits(8..10)
        && at(10, b'T')
        && digits(11..13)
        && at(13, b':')
        && digits(14..16)
        && at(16, b':')
        && digits(17..19);
    base && (b.len() == 19 || (at(19, b'.') && b.len() > 20 && digits(20..b.len())))
}

/// A `404` that says the object (user, group, contact, folder) does not exist, as opposed to
/// C4's "it has no photo" (`ErrorEntityNotFound`).
pub(super) fn object_not_found(r: &WireResponse) -> bool {
    serde_json::from_slice::<Value>(&r.body)
        .ok()
        .and_then(|j| {
            j.pointer("/error/code")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .is_some_and(|code| code == "Request_ResourceNotFound" || code == "ErrorItemNotFound")
}
