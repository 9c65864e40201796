//! Runs one generated sequence against an endpoint: reads the initial state, then sends each
//! step, compares the answer with the model's expectation, and updates the model.

use std::collections::BTreeSet;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

use crate::endpoint::{Endpoint, WireRequest, WireResponse};
use crate::fixture::{Claims, Fixture};
use crate::images::{self, Body, Verdict};
use crate::model::{
    content_hash, Access, Expect, Gate, Model, Msg, ObjKey, Photo, ReadTarget, Sent, SentOwner,
    Success,
};
use crate::steps::{
    BadRoute, Cond, ContactPick, FolderPick, OwnerPick, ReadWhat, Sequence, Step, Style,
    TargetPick, UserRef,
};

/// Ids keep RFC 3986 unreserved characters; everything else is percent-encoded.
const ID_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
const ID_ENCODE_RAW_AT: &AsciiSet = &ID_ENCODE.remove(b'@');

/// What one sequence needs: the fixture, its decoded tokens, the endpoint and a runtime.
pub(crate) struct Runner<'a> {
    pub(crate) fixture: &'a Fixture,
    pub(crate) claims: &'a [Claims],
    pub(crate) endpoint: &'a dyn Endpoint,
    pub(crate) runtime: &'a tokio::runtime::Runtime,
}

/// A check that failed: the rule and what was expected against what came.
#[derive(Debug, Clone)]
pub(crate) struct Mismatch {
    pub(crate) rule: String,
    pub(crate) detail: String,
}

/// The result of one sequence.
#[derive(Debug, Default)]
pub(crate) struct CaseOutcome {
    /// Every check made, with its rule.
    pub(crate) checks: Vec<(&'static str, bool)>,
    pub(crate) requests: u64,
    pub(crate) failure: Option<CaseFailure>,
}

#[derive(Debug, Clone)]
pub(crate) struct CaseFailure {
    pub(crate) rule: String,
    pub(crate) detail: String,
    pub(crate) initial_state: Vec<String>,
    pub(crate) transcript: Vec<String>,
}

impl Runner<'_> {
    pub(crate) fn run_case(&self, sequence: &Sequence) -> CaseOutcome {
        let steps = &sequence.steps;
        let mut case = Case {
            focus_who: sequence.focus_who,
            focus_target: &sequence.focus_target,
            runner: self,
            model: Model::new(self.fixture),
            transcript: Vec::new(),
            initial_state: Vec::new(),
            checks: Vec::new(),
            requests: 0,
            pending_body: None,
        };
        let result = case.learn().and_then(|()| {
            steps
                .iter()
                .enumerate()
                .try_for_each(|(i, step)| case.step(i + 1, step))
        });
        CaseOutcome {
            failure: result.err().map(|m| CaseFailure {
                rule: m.rule,
                detail: m.detail,
                initial_state: case.initial_state.clone(),
                transcript: case.transcript.clone(),
            }),
            checks: case.checks,
            requests: case.requests,
        }
    }
}

struct Case<'r, 'f> {
    runner: &'r Runner<'f>,
    focus_who: usize,
    focus_target: &'r TargetPick,
    model: Model<'f>,
    transcript: Vec<String>,
    initial_state: Vec<String>,
    checks: Vec<(&'static str, bool)>,
    requests: u64,
    /// The body of the update being checked, kept for the model.
    pending_body: Option<Vec<u8>>,
}

type Checked = Result<(), Mismatch>;

fn mismatch(rule: &str, detail: impl Into<String>) -> Mismatch {
    Mismatch {
        rule: rule.to_owned(),
        detail: detail.into(),
    }
}

impl<'f> Case<'_, 'f> {
    fn check(&mut self, rule: &'static str, ok: bool, detail: impl FnOnce() -> String) -> Checked {
        self.checks.push((rule, ok));
        if ok {
            Ok(())
        } else {
            Err(mismatch(rule, detail()))
        }
    }

    fn send(&mut self, request: WireRequest) -> Result<WireResponse, Mismatch> {
        self.requests += 1;
        let endpoint = self.runner.endpoint;
        let path = request.path.clone();
        self.runner
            .runtime
            .block_on(endpoint.send(request))
            .map_err(|e| mismatch("HTTP", format!("no answer to {path}: {e}")))
    }

    fn fixture(&self) -> &'f Fixture {
        self.runner.fixture
    }

    // ----- the initial state -----

    /// Reads every object's photo with a principal the model says may read it, so that the
    /// sequence starts from what the endpoint holds (a previous run may have left photos).
    fn learn(&mut self) -> Checked {
        for key in self.model.objects() {
            let Some((principal, sent)) = self.reader_of(key) else {
                return Err(mismatch(
                    "setup",
                    format!(
                        "no principal of the fixture may read the photo of {}, so its initial state cannot be known: add one, or leave the object out of the fixture",
                        self.model.describe(key)
                    ),
                ));
            };
            let token = self.fixture().principals[principal].token.clone();
            let base = format!("/v1.0/{}", target_path(&sent, PLAIN));
            let get = |path: String| WireRequest {
                method: "GET".into(),
                path,
                headers: vec![("Authorization".into(), format!("Bearer {token}"))],
                body: None,
            };
            let what = self.model.describe(key);
            let setup = |detail: String| {
                mismatch(
                    "setup",
                    format!("reading the initial state of {what}: {detail}"),
                )
            };
            let meta = self.send(get(format!("{base}/photo")))?;
            if meta.status == 404 {
                self.model.photos.insert(key, None);
                self.initial_state.push(format!("{what}: no photo"));
                continue;
            }
            if meta.status != 200 {
                return Err(setup(format!(
                    "GET {base}/photo answered {}",
                    summarize(&meta)
                )));
            }
            let json: Value = serde_json::from_slice(&meta.body)
                .map_err(|e| setup(format!("GET {base}/photo: not JSON: {e}")))?;
            let dim = |name: &str| json.get(name).and_then(Value::as_u64).map(|v| v as u32);
            let (Some(width), Some(height)) = (dim("width"), dim("height")) else {
                return Err(setup(format!(
                    "GET {base}/photo: no width/height in {json}"
                )));
            };
            let value = self.send(get(format!("{base}/photo/$value")))?;
            if value.status != 200 {
                return Err(setup(format!(
                    "GET {base}/photo/$value answered {}",
                    summarize(&value)
                )));
            }
            let etag = value
                .header("etag")
                .or(meta.header("etag"))
                .unwrap_or_default()
                .to_owned();
            let hash = content_hash(&value.body);
            self.model.etags.original(key, &etag, hash).map_err(setup)?;
            let transparent = (value.body.len() <= 2 * 1024 * 1024)
                .then(|| images::has_transparency(&value.body))
                .flatten();
            let mime = [
                crate::images::Format::Jpeg,
                crate::images::Format::Png,
                crate::images::Format::Gif,
                crate::images::Format::Bmp,
            ]
            .into_iter()
            .map(crate::images::Format::mime)
            .find(|m| {
                value
                    .header("content-type")
                    .is_some_and(|ct| same_mime(ct, m))
            });
            let photo = Photo {
                hash,
                mime,
                width,
                height,
                transparent,
                etag,
                size_etags: Default::default(),
                bytes: value.body,
            };
            self.initial_state
                .push(format!("{what}: {}", photo.describe()));
            self.model.photos.insert(key, Some(photo));
        }
        Ok(())
    }

    /// A principal and a path that can read `key`.
    fn reader_of(&self, key: ObjKey) -> Option<(usize, Sent)> {
        let fx = self.fixture();
        let candidates: Vec<Sent> = match key {
            ObjKey::User(i) => vec![Sent::User(fx.users[i].id.clone())],
            ObjKey::Group(i) => vec![Sent::Group(fx.groups[i].id.clone())],
            ObjKey::Contact(i) => {
                let c = &fx.contacts[i];
                vec![
                    Sent::Contact {
                        owner: SentOwner::User(c.owner.clone()),
                        folder: None,
                        id: c.id.clone(),
                    },
                    Sent::Contact {
                        owner: SentOwner::Me,
                        folder: None,
                        id: c.id.clone(),
                    },
                ]
            }
        };
        for (p, claims) in self.runner.claims.iter().enumerate() {
            for sent in &candidates {
                if let Gate::Found { key: found, .. } = self.model.gate(claims, sent, Access::Read)
                {
                    if found == key {
                        return Some((p, sent.clone()));
                    }
                }
            }
        }
        None
    }

    // ----- steps -----

    fn caller(&self, who: crate::steps::Who) -> (Option<String>, Option<&'f Claims>, String) {
        let fx = self.fixture();
        let claims: &'f [Claims] = self.runner.claims;
        let who = match who {
            crate::steps::Who::Focus => crate::steps::Who::Principal(self.focus_who),
            other => other,
        };
        match who {
            crate::steps::Who::Principal(i) => {
                let i = i % fx.principals.len().max(1);
                match (fx.principals.get(i), claims.get(i)) {
                    (Some(p), Some(c)) => (
                        Some(format!("Bearer {}", p.token)),
                        Some(c),
                        format!("Bearer <token of '{}'>", p.name),
                    ),
                    _ => (None, None, "(no Authorization header)".into()),
                }
            }
            crate::steps::Who::Anonymous | crate::steps::Who::Focus => {
                (None, None, "(no Authorization header)".into())
            }
            crate::steps::Who::Garbage => (
                Some("Bearer not-a-jwt".into()),
                None,
                "Bearer not-a-jwt".into(),
            ),
        }
    }

    fn step(&mut self, n: usize, step: &Step) -> Checked {
        match step {
            Step::Put {
                version,
                patch,
                who,
                target,
                body,
                if_match,
                style,
            } => {
                let (auth, claims, auth_shown) = self.caller(*who);
                let sent = self.sent(target);
                let key = claims.and_then(|c| self.found(c, &sent, Access::Write));
                let if_match = if_match.map(|c| self.original_cond(c, key));
                let bytes = body.bytes();
                let verdict = body.verdict();
                let expect = self.model.expect_update(
                    claims,
                    *version,
                    &sent,
                    if_match.as_deref(),
                    &verdict,
                );
                let method = if *patch { "PATCH" } else { "PUT" };
                let path = format!(
                    "/{}/{}/{}",
                    version.segment(),
                    target_path(&sent, *style),
                    value_path("photo", *style)
                );
                let mut headers = Vec::new();
                if let Some(v) = &if_match {
                    headers.push(("If-Match".to_owned(), v.clone()));
                }
                let body_shown = body.describe(bytes.len());
                self.pending_body =
                    matches!(verdict, Verdict::Accept { .. }).then(|| bytes.clone());
                let request = self.request(method, path, auth, headers, Some(bytes), *style, n);
                let oversize = *body == Body::Oversize;
                self.exchange(
                    n,
                    request,
                    &auth_shown,
                    Some(body_shown),
                    false,
                    &expect,
                    oversize,
                )
            }
            Step::Get {
                version,
                head,
                who,
                target,
                what,
                if_none_match,
                style,
            } => {
                let (auth, claims, auth_shown) = self.caller(*who);
                let sent = self.sent(target);
                let key = claims.and_then(|c| self.found(c, &sent, Access::Read));
                let (read, resource) = match what {
                    ReadWhat::Photo => (ReadTarget::Photo { value: false }, seg("photo", *style)),
                    ReadWhat::PhotoValue => (
                        ReadTarget::Photo { value: true },
                        value_path("photo", *style),
                    ),
                    ReadWhat::Photos => (ReadTarget::List, seg("photos", *style)),
                    ReadWhat::Size(s) => (
                        ReadTarget::Size {
                            side: s.side(),
                            value: false,
                        },
                        format!("{}/{}", seg("photos", *style), s.id()),
                    ),
                    ReadWhat::SizeValue(s) => (
                        ReadTarget::Size {
                            side: s.side(),
                            value: true,
                        },
                        value_path(&format!("{}/{}", seg("photos", *style), s.id()), *style),
                    ),
                };
                let if_none_match = if_none_match.and_then(|c| match read {
                    ReadTarget::Photo { .. } => Some(self.original_cond(c, key)),
                    ReadTarget::Size { side, .. } => self.size_cond(c, key, side),
                    ReadTarget::List => None,
                });
                let expect = self
                    .model
                    .expect_read(claims, &sent, read, if_none_match.as_deref());
                let path = format!(
                    "/{}/{}/{resource}",
                    version.segment(),
                    target_path(&sent, *style)
                );
                let mut headers = Vec::new();
                if let Some(v) = &if_none_match {
                    headers.push(("If-None-Match".to_owned(), v.clone()));
                }
                let method = if *head { "HEAD" } else { "GET" };
                let request = self.request(method, path, auth, headers, None, *style, n);
                self.exchange(n, request, &auth_shown, None, *head, &expect, false)
            }
            Step::Delete {
                version,
                who,
                target,
                value,
                if_match,
                style,
            } => {
                let (auth, claims, auth_shown) = self.caller(*who);
                let sent = self.sent(target);
                let key = claims.and_then(|c| self.found(c, &sent, Access::Write));
                let if_match = if_match.map(|c| self.original_cond(c, key));
                let expect = self.model.expect_delete(claims, &sent, if_match.as_deref());
                let resource = if *value {
                    value_path("photo", *style)
                } else {
                    seg("photo", *style)
                };
                let path = format!(
                    "/{}/{}/{resource}",
                    version.segment(),
                    target_path(&sent, *style)
                );
                let mut headers = Vec::new();
                if let Some(v) = &if_match {
                    headers.push(("If-Match".to_owned(), v.clone()));
                }
                let request = self.request("DELETE", path, auth, headers, None, *style, n);
                self.exchange(n, request, &auth_shown, None, false, &expect, false)
            }
            Step::BadRoute { who, route, style } => {
                let (auth, _, auth_shown) = self.caller(*who);
                let (method, path, expect, body) = bad_route(*route);
                let body_shown = body.as_ref().map(|b| format!("{} bytes of text", b.len()));
                let request = self.request(method, path, auth, Vec::new(), body, *style, n);
                self.exchange(n, request, &auth_shown, body_shown, false, &expect, false)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn request(
        &self,
        method: &str,
        path: String,
        auth: Option<String>,
        mut headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
        style: Style,
        n: usize,
    ) -> WireRequest {
        if let Some(auth) = auth {
            // Header names are case-insensitive (B1): the Python SDK sends `authorization`.
            let name = if style.bits & 2 == 0 {
                "Authorization"
            } else {
                "authorization"
            };
            headers.insert(0, (name.to_owned(), auth));
        }
        if style.client_request_id {
            headers.push((
                "client-request-id".to_owned(),
                format!(
                    "c0f0c0f0-0000-4000-8000-{:012x}",
                    n + self.requests as usize * 100
                ),
            ));
        }
        WireRequest {
            method: method.to_owned(),
            path,
            headers,
            body,
        }
    }

    /// The key the model resolves for this caller and target, if any.
    fn found(&self, claims: &Claims, sent: &Sent, access: Access) -> Option<ObjKey> {
        match self.model.gate(claims, sent, access) {
            Gate::Found { key, .. } => Some(key),
            Gate::Refused(_) => None,
        }
    }

    fn original_cond(&self, cond: Cond, key: Option<ObjKey>) -> String {
        let Some(key) = key else {
            return match cond {
                Cond::Star => "*".to_owned(),
                _ => "\"conformance-unresolved\"".to_owned(),
            };
        };
        let photo = self.model.photo(key);
        let current = || {
            photo
                .map(|p| p.etag.clone())
                .or_else(|| self.model.etags.last_original(key))
                .unwrap_or_else(|| "\"conformance-none\"".to_owned())
        };
        match cond {
            Cond::Current => current(),
            Cond::CurrentWeak => format!("W/{}", current()),
            Cond::Stale => self
                .model
                .etags
                .stale_original(key, photo.map(|p| p.hash))
                .unwrap_or_else(|| "\"conformance-stale\"".to_owned()),
            Cond::Star => "*".to_owned(),
        }
    }

    /// `If-None-Match` for a size: `None` (no header) when its current ETag is not known yet.
    fn size_cond(&self, cond: Cond, key: Option<ObjKey>, side: Option<u32>) -> Option<String> {
        if cond == Cond::Star {
            return Some("*".to_owned());
        }
        let (Some(key), Some(side)) = (key, side) else {
            return Some("\"conformance-unresolved\"".to_owned());
        };
        let photo = self.model.photo(key);
        let current = photo.and_then(|p| p.size_etags.get(&side).cloned());
        match cond {
            Cond::Current => current,
            Cond::CurrentWeak => current.map(|c| format!("W/{c}")),
            _ => Some(
                self.model
                    .etags
                    .stale_size(key, side, photo.map(|p| p.hash))
                    .unwrap_or_else(|| "\"conformance-stale\"".to_owned()),
            ),
        }
    }

    /// What a target pick names, decoded.
    fn sent(&self, pick: &TargetPick) -> Sent {
        let fx = self.fixture();
        let missing = |i: &crate::steps::Index, fallback: &str| {
            if fx.missing_ids.is_empty() {
                fallback.to_owned()
            } else {
                fx.missing_ids[i.index(fx.missing_ids.len())].clone()
            }
        };
        let user_name = |i: usize, r: UserRef| {
            let u = &fx.users[i];
            match r {
                UserRef::Id => u.id.clone(),
                UserRef::IdUpper => u.id.to_uppercase(),
                UserRef::Upn => u.upn.clone(),
                UserRef::UpnLower => u.upn.to_lowercase(),
                UserRef::UpnUpper => u.upn.to_uppercase(),
            }
        };
        match pick {
            TargetPick::Focus => match self.focus_target {
                TargetPick::Focus => Sent::Me,
                focus => self.sent(focus),
            },
            TargetPick::Me => Sent::Me,
            TargetPick::User(i, r) => Sent::User(user_name(i.index(fx.users.len()), *r)),
            TargetPick::Group(i) if !fx.groups.is_empty() => {
                Sent::Group(fx.groups[i.index(fx.groups.len())].id.clone())
            }
            TargetPick::Group(i) | TargetPick::MissingGroup(i) => {
                Sent::Group(missing(i, "0badf00d-0000-4000-8000-00000000c0de"))
            }
            TargetPick::MissingUser(i) => {
                Sent::User(missing(i, "0badf00d-0000-4000-8000-000000000404"))
            }
            TargetPick::Contact {
                owner,
                contact,
                folder,
            } => {
                let entry = match contact {
                    ContactPick::Contact(i) if !fx.contacts.is_empty() => {
                        Some(&fx.contacts[i.index(fx.contacts.len())])
                    }
                    _ => None,
                };
                let id = match (entry, contact) {
                    (Some(c), _) => c.id.clone(),
                    (None, ContactPick::Contact(i) | ContactPick::Missing(i)) => {
                        missing(i, "AAMkAGI2TMISSING=")
                    }
                };
                let owner_index = |id: &str| fx.users.iter().position(|u| u.id == id);
                let owner = match owner {
                    OwnerPick::Me => SentOwner::Me,
                    OwnerPick::ContactOwner(r) => match entry.and_then(|c| owner_index(&c.owner)) {
                        Some(u) => SentOwner::User(user_name(u, *r)),
                        None => SentOwner::Me,
                    },
                    OwnerPick::User(i, r) => {
                        SentOwner::User(user_name(i.index(fx.users.len()), *r))
                    }
                    OwnerPick::Missing(i) => {
                        SentOwner::User(missing(i, "0badf00d-0000-4000-8000-000000000404"))
                    }
                };
                let folder = match folder {
                    FolderPick::None => None,
                    FolderPick::Own => entry.and_then(|c| c.folder.clone()),
                    FolderPick::Any(i) if !fx.contact_folders.is_empty() => Some(
                        fx.contact_folders[i.index(fx.contact_folders.len())]
                            .id
                            .clone(),
                    ),
                    FolderPick::Any(i) | FolderPick::Missing(i) => {
                        Some(missing(i, "AAMkAGI2TNOFOLDER="))
                    }
                };
                Sent::Contact { owner, folder, id }
            }
        }
    }

    // ----- one exchange, checked -----

    #[allow(clippy::too_many_arguments)]
    fn exchange(
        &mut self,
        n: usize,
        request: WireRequest,
        auth_shown: &str,
        body_shown: Option<String>,
        head: bool,
        expect: &Expect,
        oversize: bool,
    ) -> Checked {
        let mut lines = vec![format!("{n:>3}. {} {}", request.method, request.path)];
        lines.push(format!("       Authorization: {auth_shown}"));
        for (name, value) in &request.headers {
            if !name.eq_ignore_ascii_case("authorization") {
                lines.push(format!("       {name}: {value}"));
            }
        }
        if let Some(b) = body_shown {
            lines.push(format!("       body: {b}"));
        }
        let sent_client_id = request.header("client-request-id").map(str::to_owned);
        let result = self.send(request);
        let response = match result {
            Ok(r) => r,
            Err(e) if oversize => {
                // A server that refuses a 4 MiB body on its Content-Length may close the
                // connection before the client finished sending it; reqwest then reports a
                // broken connection instead of the 413. That is allowed by HTTP; count it.
                lines.push(format!(
                    "       -> connection closed while sending ({})",
                    e.detail
                ));
                self.transcript.push(lines.join("\n"));
                return self.check("B4", true, String::new);
            }
            Err(e) => {
                lines.push("       -> no answer".to_owned());
                self.transcript.push(lines.join("\n"));
                return Err(e);
            }
        };
        lines.push(format!("       -> {}", summarize(&response)));
        self.transcript.push(lines.join("\n"));
        self.verify(expect, &response, head, sent_client_id.as_deref())
            .map_err(|mut m| {
                m.detail = format!(
                    "{}\n       expected: {} ({}: {})",
                    m.detail,
                    describe_expect(expect),
                    expect.rule,
                    expect.why
                );
                m
            })
    }

    fn verify(
        &mut self,
        expect: &Expect,
        r: &WireResponse,
        head: bool,
        sent_client_id: Option<&str>,
    ) -> Checked {
        let rule = expect.rule;
        self.check(rule, r.status == expect.status, || {
            format!("status {} instead of {}", summarize(r), expect.status)
        })?;

        let error_json = if expect.code.is_some() && !head {
            serde_json::from_slice::<Value>(&r.body).ok()
        } else {
            None
        };
        if let (Some(code), false) = (expect.code, head) {
            let got = error_json
                .as_ref()
                .and_then(|j| j.pointer("/error/code"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            self.check(rule, got.as_deref() == Some(code), || {
                format!(
                    "error code {} instead of {code}",
                    got.unwrap_or_else(|| format!("(none; body {})", body_text(&r.body)))
                )
            })?;
            let message = error_json
                .as_ref()
                .and_then(|j| j.pointer("/error/message"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let ok = match &expect.message {
                Msg::Exact(m) => message == *m,
                Msg::Prefix(p) => message.starts_with(p),
                Msg::Contains(c) => message.to_lowercase().contains(&c.to_lowercase()),
                Msg::Any => !message.is_empty(),
            };
            self.check(rule, ok, || {
                format!(
                    "error message '{message}', expected {}",
                    match &expect.message {
                        Msg::Exact(m) => format!("exactly '{m}'"),
                        Msg::Prefix(p) => format!("to start with '{p}'"),
                        Msg::Contains(c) => format!("to name '{c}'"),
                        Msg::Any => "a message".to_owned(),
                    }
                )
            })?;
        }

        self.verify_c6(r, sent_client_id)?;
        if expect.code.is_some() && !head {
            self.verify_c7(r, error_json.as_ref())?;
        }
        match expect.status {
            401 => {
                let www = r.header("www-authenticate").unwrap_or_default();
                self.check(
                    "D1",
                    www.trim().to_ascii_lowercase().starts_with("bearer"),
                    || format!("a 401 without 'WWW-Authenticate: Bearer' (got '{www}')"),
                )?;
            }
            405 => {
                let allow = r.header("allow").unwrap_or_default().to_owned();
                let forbidden = expect.not_allowed.unwrap_or("POST");
                let lists = allow
                    .split(',')
                    .any(|m| m.trim().eq_ignore_ascii_case(forbidden));
                self.check(expect.rule, !allow.trim().is_empty() && !lists, || {
                    format!("a 405 needs an Allow header without {forbidden} (got '{allow}')")
                })?;
            }
            _ => {}
        }
        self.verify_success(&expect.success, r, head)
    }

    /// Spec C6: `request-id` (a UUID), `client-request-id` (echoed, else the request-id),
    /// `Date`.
    fn verify_c6(&mut self, r: &WireResponse, sent: Option<&str>) -> Checked {
        let request_id = r.header("request-id").unwrap_or_default().to_owned();
        self.check(
            "C6",
            uuid::Uuid::parse_str(request_id.trim()).is_ok(),
            || format!("request-id header missing or not a UUID ('{request_id}')"),
        )?;
        let client = r.header("client-request-id").unwrap_or_default().to_owned();
        let wanted = sent.unwrap_or(&request_id).to_owned();
        self.check("C6", client == wanted, || {
            format!("client-request-id '{client}', expected '{wanted}'")
        })?;
        let has_date = r.header("date").is_some_and(|d| !d.trim().is_empty());
        self.check("C6", has_date, || "no Date header".to_owned())
    }

    /// Spec C7: the error envelope.
    fn verify_c7(&mut self, r: &WireResponse, json: Option<&Value>) -> Checked {
        let ct = r.header("content-type").unwrap_or_default().to_owned();
        self.check("C7", same_mime(&ct, "application/json"), || {
            format!("error body Content-Type '{ct}', expected application/json")
        })?;
        let inner = json.and_then(|j| j.pointer("/error/innerError"));
        let field = |name: &str| {
            inner
                .and_then(|i| i.get(name))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let date = field("date");
        self.check("C7", iso_date_without_offset(&date), || {
            format!("innerError.date '{date}' is not ISO-8601 UTC without offset")
        })?;
        let (rid, crid) = (field("request-id"), field("client-request-id"));
        let header_rid = r.header("request-id").unwrap_or_default().to_owned();
        let header_crid = r.header("client-request-id").unwrap_or_default().to_owned();
        self.check("C7", rid == header_rid && crid == header_crid, || {
            format!(
                "innerError request-id '{rid}' / client-request-id '{crid}' differ from the headers ('{header_rid}' / '{header_crid}')"
            )
        })
    }

    fn verify_success(&mut self, success: &Success, r: &WireResponse, head: bool) -> Checked {
        match success {
            Success::None => Ok(()),
            Success::Updated {
                key,
                format,
                width,
                height,
                transparent,
            } => {
                self.check("C1", r.body.is_empty(), || {
                    format!("an update answered a body ({} bytes)", r.body.len())
                })?;
                let ct = r.header("content-type").map(str::to_owned);
                self.check("C1", ct.is_none(), || {
                    format!("an update answered Content-Type {ct:?} (must have none)")
                })?;
                let cl = r.header("content-length").map(str::to_owned);
                self.check("C1", cl.as_deref().map(str::trim) == Some("0"), || {
                    format!("an update answered Content-Length {cl:?}, expected 0")
                })?;
                let etag = r.header("etag").map(str::to_owned);
                self.check("C1", etag.is_some(), || {
                    "an update answered no ETag".to_owned()
                })?;
                let etag = etag.unwrap_or_default();
                self.check("C8", is_strong(&etag), || {
                    format!("ETag {etag} is not a strong ETag")
                })?;
                let bytes = self.pending_body.take().unwrap_or_default();
                let hash = content_hash(&bytes);
                let booked = self.model.etags.original(*key, &etag, hash);
                self.check("C8", booked.is_ok(), || booked.err().unwrap_or_default())?;
                self.model.photos.insert(
                    *key,
                    Some(Photo {
                        hash,
                        mime: Some(format.mime()),
                        width: *width,
                        height: *height,
                        transparent: Some(*transparent),
                        etag,
                        size_etags: Default::default(),
                        bytes,
                    }),
                );
                Ok(())
            }
            Success::Deleted { key } => {
                self.model.photos.insert(*key, None);
                Ok(())
            }
            Success::NotModified { etag } => {
                self.check("B7", r.body.is_empty(), || "a 304 with a body".to_owned())?;
                let got = r.header("etag").unwrap_or_default().to_owned();
                if etag.is_empty() {
                    return self.check("B7", !got.is_empty(), || "a 304 without ETag".to_owned());
                }
                self.check("B7", got == *etag, || {
                    format!("a 304 with ETag '{got}', expected {etag}")
                })
            }
            Success::Photo { key, value } => self.verify_photo(*key, *value, r, head),
            Success::List { key } => self.verify_list(*key, r, head),
            Success::Size { key, side, value } => self.verify_size(*key, *side, *value, r, head),
        }
    }

    fn verify_photo(&mut self, key: ObjKey, value: bool, r: &WireResponse, head: bool) -> Checked {
        let Some(photo) = self.model.photo(key).cloned() else {
            return Ok(());
        };
        let etag = r.header("etag").unwrap_or_default().to_owned();
        if value {
            if !head {
                self.check("C3", r.body == photo.bytes, || {
                    format!(
                        "$value returned {} bytes that differ from the {} bytes last stored{}",
                        r.body.len(),
                        photo.bytes.len(),
                        first_difference(&r.body, &photo.bytes)
                    )
                })?;
            }
            let ct = r.header("content-type").unwrap_or_default().to_owned();
            if let Some(mime) = photo.mime {
                self.check("C3", same_mime(&ct, mime), || {
                    format!("$value Content-Type '{ct}', expected {mime}")
                })?;
            }
            self.verify_media_headers(r, head)?;
        } else if !head {
            let json = serde_json::from_slice::<Value>(&r.body).ok();
            let ct = r.header("content-type").unwrap_or_default().to_owned();
            self.check(
                "C2",
                same_mime(&ct, "application/json") && json.is_some(),
                || {
                    format!(
                        "metadata is not JSON with Content-Type application/json ('{ct}', {})",
                        body_text(&r.body)
                    )
                },
            )?;
            let json = json.unwrap_or_default();
            let s = |name: &str| {
                json.get(name)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let n = |name: &str| json.get(name).and_then(Value::as_u64);
            let context = s("@odata.context");
            let entity = format!("$metadata#{}/photo/$entity", self.model.odata_entity(key));
            self.check("C2", context.ends_with(&entity), || {
                format!("@odata.context '{context}' should end with '{entity}'")
            })?;
            if let Some(mime) = photo.mime {
                let got = s("@odata.mediaContentType");
                self.check("C2", same_mime(&got, mime), || {
                    format!("@odata.mediaContentType '{got}', expected {mime}")
                })?;
            }
            let media_etag = s("@odata.mediaEtag");
            self.check("C2", media_etag == etag, || {
                format!("@odata.mediaEtag {media_etag} differs from the ETag header {etag}")
            })?;
            let (id, w, h) = (s("id"), n("width"), n("height"));
            let want = format!("{}x{}", photo.width, photo.height);
            self.check(
                "C2",
                id == want
                    && w == Some(u64::from(photo.width))
                    && h == Some(u64::from(photo.height)),
                || format!("metadata id/width/height {id}/{w:?}/{h:?}, expected {want}"),
            )?;
        }
        self.check("C8", etag == photo.etag, || {
            format!(
                "ETag {etag} of the stored photo, but the model's is {} (given by the last update, or read at the start); the bytes did not change since",
                photo.etag
            )
        })
    }

    /// Spec C3: `Cache-Control: private` and a `Content-Length`.
    fn verify_media_headers(&mut self, r: &WireResponse, head: bool) -> Checked {
        let cc = r.header("cache-control").unwrap_or_default().to_owned();
        self.check("C3", cc.to_ascii_lowercase().contains("private"), || {
            format!("Cache-Control '{cc}', expected private")
        })?;
        let cl = r.header("content-length").map(str::to_owned);
        let ok = match (&cl, head) {
            (Some(v), false) => v.trim() == r.body.len().to_string(),
            (Some(_), true) => true,
            (None, _) => false,
        };
        self.check("C3", ok, || {
            format!("Content-Length {cl:?} for a body of {} bytes", r.body.len())
        })
    }

    fn verify_list(&mut self, key: ObjKey, r: &WireResponse, head: bool) -> Checked {
        if head {
            return Ok(());
        }
        let photo = self.model.photo(key).cloned();
        let json = serde_json::from_slice::<Value>(&r.body).ok();
        let entries = json
            .as_ref()
            .and_then(|j| j.get("value"))
            .and_then(Value::as_array)
            .cloned();
        self.check("C5", entries.is_some(), || {
            format!("/photos is not {{\"value\":[...]}}: {}", body_text(&r.body))
        })?;
        let entries = entries.unwrap_or_default();
        let mut listed = Vec::new();
        let mut bad = Vec::new();
        for e in &entries {
            let id = e.get("id").and_then(Value::as_str).unwrap_or_default();
            let side = parse_size_id(id);
            let (w, h) = (
                e.get("width").and_then(Value::as_u64),
                e.get("height").and_then(Value::as_u64),
            );
            match side {
                Some(s) if w == Some(u64::from(s)) && h == Some(u64::from(s)) => {
                    let etag = e
                        .get("@odata.mediaEtag")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    listed.push((s, etag));
                }
                _ => bad.push(e.to_string()),
            }
        }
        let want: Vec<u32> = photo.as_ref().map(Photo::sizes).unwrap_or_default();
        let got: Vec<u32> = listed.iter().map(|(s, _)| *s).collect();
        let got_set: BTreeSet<u32> = got.iter().copied().collect();
        self.check(
            "C5",
            bad.is_empty() && got_set.len() == got.len() && got_set == want.iter().copied().collect(),
            || {
                let shape = photo
                    .as_ref()
                    .map_or("no photo".to_owned(), |p| format!("a {}x{} original", p.width, p.height));
                format!(
                    "/photos lists {got:?}{}, expected exactly {want:?} for {shape} (sizes up to the shorter side)",
                    if bad.is_empty() { String::new() } else { format!(" and malformed entries {bad:?}") }
                )
            },
        )?;
        let Some(photo) = photo else {
            return Ok(());
        };
        for (side, etag) in listed {
            let Some(etag) = etag.filter(|e| !e.is_empty()) else {
                return self.check("C2", false, || {
                    format!("/photos entry {side}x{side} has no @odata.mediaEtag")
                });
            };
            self.record_size_etag(key, &photo, side, &etag)?;
        }
        Ok(())
    }

    /// A size's ETag: the one seen before for this content, or new and never given to other
    /// content (C2: each size has its own ETag, which changes whenever the original does).
    fn record_size_etag(&mut self, key: ObjKey, photo: &Photo, side: u32, etag: &str) -> Checked {
        self.check("C8", is_strong(etag), || {
            format!("size {side}x{side} ETag {etag} is not a strong ETag")
        })?;
        if let Some(known) = photo.size_etags.get(&side) {
            return self.check("C8", known == etag, || {
                format!("size {side}x{side} has ETag {etag}, earlier {known}, and the photo did not change")
            });
        }
        let booked = self.model.etags.size(key, side, etag, photo.hash);
        self.check("C8", booked.is_ok(), || booked.err().unwrap_or_default())?;
        if let Some(Some(p)) = self.model.photos.get_mut(&key) {
            p.size_etags.insert(side, etag.to_owned());
        }
        Ok(())
    }

    fn verify_size(
        &mut self,
        key: ObjKey,
        side: u32,
        value: bool,
        r: &WireResponse,
        head: bool,
    ) -> Checked {
        let Some(photo) = self.model.photo(key).cloned() else {
            return Ok(());
        };
        let etag = r.header("etag").unwrap_or_default().to_owned();
        if value {
            let ct = r.header("content-type").unwrap_or_default().to_owned();
            let expected: &[&str] = match photo.transparent {
                Some(true) => &["image/png"],
                Some(false) => &["image/jpeg"],
                None => &["image/png", "image/jpeg"],
            };
            self.check("C5", expected.iter().any(|m| same_mime(&ct, m)), || {
                format!(
                    "size Content-Type '{ct}', expected {} (PNG only for an original with transparency)",
                    expected.join(" or ")
                )
            })?;
            if !head {
                let dims = images::dimensions(&r.body);
                let decodes = image::load_from_memory(&r.body).is_ok();
                self.check("C5", decodes && dims == Some((side, side)), || {
                    format!(
                        "size {side}x{side} $value decodes to {dims:?} (decodes fully: {decodes}), expected {side}x{side}"
                    )
                })?;
            }
            self.verify_media_headers(r, head)?;
        } else if !head {
            let json = serde_json::from_slice::<Value>(&r.body).unwrap_or_default();
            let id = json.get("id").and_then(Value::as_str).unwrap_or_default();
            let (w, h) = (
                json.get("width").and_then(Value::as_u64),
                json.get("height").and_then(Value::as_u64),
            );
            self.check(
                "C2",
                parse_size_id(id) == Some(side)
                    && w == Some(u64::from(side))
                    && h == Some(u64::from(side)),
                || {
                    format!(
                        "size metadata id/width/height {id}/{w:?}/{h:?}, expected {side}x{side}"
                    )
                },
            )?;
            let media = json
                .get("@odata.mediaEtag")
                .and_then(Value::as_str)
                .unwrap_or_default();
            self.check("C2", media == etag, || {
                format!("@odata.mediaEtag {media} differs from the ETag header {etag}")
            })?;
        }
        self.check("C8", !etag.is_empty(), || {
            format!("no ETag on size {side}x{side}")
        })?;
        self.record_size_etag(key, &photo, side, &etag)
    }
}

// ----- paths -----

/// No cosmetic variation.
const PLAIN: Style = Style {
    bits: 0,
    client_request_id: false,
};

/// A segment name, capitalised when the style says so (A3: names are case-insensitive).
fn seg(name: &str, style: Style) -> String {
    if style.bits & 2 == 0 {
        return name.to_owned();
    }
    let mut c = name.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `{prefix}/$value`, with `$` encoded when the style says so (A3).
fn value_path(prefix: &str, style: Style) -> String {
    let prefix = if prefix == "photo" {
        seg("photo", style)
    } else {
        prefix.to_owned()
    };
    if style.bits & 1 == 0 {
        format!("{prefix}/$value")
    } else {
        format!("{prefix}/%24value")
    }
}

fn enc(id: &str, style: Style) -> String {
    let set = if style.bits & 4 == 0 {
        ID_ENCODE
    } else {
        ID_ENCODE_RAW_AT
    };
    utf8_percent_encode(id, set).to_string()
}

/// The path of a target below the version segment.
fn target_path(sent: &Sent, style: Style) -> String {
    let owner = |o: &SentOwner| match o {
        SentOwner::Me => seg("me", style),
        SentOwner::User(u) => format!("{}/{}", seg("users", style), enc(u, style)),
    };
    match sent {
        Sent::Me => seg("me", style),
        Sent::User(u) => format!("{}/{}", seg("users", style), enc(u, style)),
        Sent::Group(g) => format!("{}/{}", seg("groups", style), enc(g, style)),
        Sent::Contact {
            owner: o,
            folder: None,
            id,
        } => format!("{}/{}/{}", owner(o), seg("contacts", style), enc(id, style)),
        Sent::Contact {
            owner: o,
            folder: Some(f),
            id,
        } => format!(
            "{}/{}/{}/{}/{}",
            owner(o),
            if style.bits & 2 == 0 {
                "contactFolders".to_owned()
            } else {
                "contactfolders".to_owned()
            },
            enc(f, style),
            seg("contacts", style),
            enc(id, style)
        ),
    }
}

/// A request that is not a route, and its answer (A6: decided before authentication).
fn bad_route(route: BadRoute) -> (&'static str, String, Expect, Option<Vec<u8>>) {
    let unknown = |seg: &str| {
        Expect::error(
            400,
            "A6",
            "BadRequest",
            Msg::Exact(format!("Resource not found for the segment '{seg}'.")),
            format!("'{seg}' is not a segment of any route"),
        )
    };
    let method_not_allowed = |method: &'static str| {
        let mut e = Expect::error(
            405,
            "A6",
            "MethodNotAllowed",
            Msg::Any,
            format!("{method} is not allowed on this path"),
        );
        e.not_allowed = Some(method);
        e
    };
    let text = Some(b"not a photo".to_vec());
    match route {
        BadRoute::UnknownVersion => ("GET", "/v2.0/me/photo".into(), unknown("v2.0"), None),
        BadRoute::NoPhotoSegment => ("GET", "/v1.0/me".into(), unknown("me"), None),
        BadRoute::TrailingSegment => (
            "GET",
            "/v1.0/me/photo/$value/extra".into(),
            unknown("extra"),
            None,
        ),
        BadRoute::UnknownCollection => (
            "GET",
            "/v1.0/me/mailFolders/inbox/photo".into(),
            unknown("mailFolders"),
            None,
        ),
        BadRoute::PostValue => (
            "POST",
            "/v1.0/me/photo/$value".into(),
            method_not_allowed("POST"),
            text,
        ),
        BadRoute::PutMetadata => (
            "PUT",
            "/v1.0/me/photo".into(),
            method_not_allowed("PUT"),
            text,
        ),
    }
}

// ----- small helpers -----

/// `404 ErrorEntityNotFound`, `200`, ...
fn describe_expect(e: &Expect) -> String {
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

fn body_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    if body.len() > 300 {
        format!("{text}... ({} bytes)", body.len())
    } else {
        text
    }
}

fn first_difference(a: &[u8], b: &[u8]) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!(" (first difference at byte {i})"),
        None => String::new(),
    }
}

/// Media types compare without parameters and case.
fn same_mime(header: &str, mime: &str) -> bool {
    header
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .eq_ignore_ascii_case(mime)
}

/// A strong ETag: `"..."`, no `W/` (C8).
fn is_strong(etag: &str) -> bool {
    etag.len() >= 2 && etag.starts_with('"') && etag.ends_with('"')
}

/// `48x48` or `48X48` -> 48, for a square of one of the nine sizes' shape.
fn parse_size_id(id: &str) -> Option<u32> {
    let (w, h) = id.split_once(['x', 'X'])?;
    let w: u32 = w.parse().ok()?;
    (h.parse::<u32>().ok()? == w).then_some(w)
}

/// `2026-11-28T10:20:30`, optionally with a fraction of seconds, no offset (C7).
fn iso_date_without_offset(s: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_encode_ids_and_vary_style() {
        let sent = Sent::Contact {
            owner: SentOwner::User("lee_fabrikam.com#EXT#@contoso.onmicrosoft.com".into()),
            folder: Some("AAMkAGI2TAAA=".into()),
            id: "a/b+c".into(),
        };
        assert_eq!(
            target_path(&sent, PLAIN),
            "users/lee_fabrikam.com%23EXT%23%40contoso.onmicrosoft.com/contactFolders/AAMkAGI2TAAA%3D/contacts/a%2Fb%2Bc"
        );
        let style = Style {
            bits: 7,
            client_request_id: false,
        };
        assert_eq!(target_path(&Sent::User("a@b".into()), style), "Users/a@b");
        assert_eq!(value_path("photo", style), "Photo/%24value");
        assert_eq!(value_path("photos/48x48", PLAIN), "photos/48x48/$value");
    }

    #[test]
    fn helpers() {
        assert!(iso_date_without_offset("2026-11-28T10:20:30"));
        assert!(iso_date_without_offset("2026-11-28T10:20:30.1234567"));
        assert!(!iso_date_without_offset("2026-11-28T10:20:30Z"));
        assert!(!iso_date_without_offset("Sat, 28 Nov 2026 10:20:30 GMT"));
        assert_eq!(parse_size_id("48X48"), Some(48));
        assert_eq!(parse_size_id("48x64"), None);
        assert!(is_strong("\"a\""));
        assert!(!is_strong("W/\"a\""));
        assert!(same_mime(
            "application/json; charset=utf-8",
            "application/json"
        ));
    }
}
