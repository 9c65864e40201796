//! Runs one generated sequence against an endpoint: reads the initial state, then sends each
//! step, compares the answer with the model's expectation, and updates the model.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{Map, Value};

use crate::endpoint::{Endpoint, WireRequest, WireResponse};
use crate::fixture::{Claims, Fixture};
use crate::images::{self, Body, Verdict};
use crate::model::{
    content_hash, Access, Expect, Gate, Model, Msg, ObjKey, Photo, ReadTarget, Sent, SentOwner,
    Success,
};
use crate::report::{CONNECTION, SETUP};
use crate::steps::{
    BadRoute, Cond, ContactPick, FolderPick, OwnerPick, ReadWhat, Sequence, Step, Style,
    TargetPick, UserRef, Who,
};
use crate::tokens::{Forge, TokenVariant};

/// Ids keep RFC 3986 unreserved characters; everything else is percent-encoded.
mod answers;
mod paths;
mod preflight;
mod verify;

use answers::*;
use paths::*;

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
    /// The tokens the suite mints, when the fixture has a signing key.
    pub(crate) tokens: Option<Minter<'a>>,
}

/// Mints (and remembers for a while) the suite's own tokens from the principals' claims.
pub(crate) struct Minter<'a> {
    pub(crate) forge: &'a Forge,
    /// Each principal's token payload.
    pub(crate) payloads: &'a [Map<String, Value>],
    /// The indexes of the delegated principals.
    pub(crate) delegated: Vec<usize>,
    minted: RefCell<HashMap<MintKey, Minted>>,
}

/// A principal, and a variant or `None` for a valid token.
type MintKey = (usize, Option<TokenVariant>);
/// When a token was minted (seconds since the epoch), and the token.
type Minted = (i64, String);

/// A token is minted again once this old, so that "an hour ahead" stays ahead however long
/// the run.
const REMINT_AFTER_SECS: i64 = 300;

impl<'a> Minter<'a> {
    pub(crate) fn new(
        forge: &'a Forge,
        payloads: &'a [Map<String, Value>],
        claims: &[Claims],
    ) -> Self {
        Self {
            forge,
            payloads,
            delegated: claims
                .iter()
                .enumerate()
                .filter(|(_, c)| c.is_delegated())
                .map(|(i, _)| i)
                .collect(),
            minted: RefCell::new(HashMap::new()),
        }
    }

    /// The principal a variant starts from, given the generated index.
    pub(crate) fn base_principal(&self, index: usize, variant: Option<TokenVariant>) -> usize {
        let n = self.payloads.len().max(1);
        match variant {
            Some(v) if v.needs_delegated() && !self.delegated.is_empty() => {
                self.delegated[index % self.delegated.len()]
            }
            _ => index % n,
        }
    }

    /// Principal `principal`'s token, valid (`None`) or broken as `variant` says.
    pub(crate) fn token(
        &self,
        principal: usize,
        variant: Option<TokenVariant>,
    ) -> Result<String, String> {
        let now = crate::tokens::unix_now();
        if let Some((at, token)) = self.minted.borrow().get(&(principal, variant)) {
            if now - at < REMINT_AFTER_SECS {
                return Ok(token.clone());
            }
        }
        let base = self
            .payloads
            .get(principal)
            .ok_or_else(|| format!("no principal {principal}"))?;
        let token = match variant {
            None => self.forge.valid(base, now)?,
            Some(v) => self.forge.invalid(base, v, now)?,
        };
        self.minted
            .borrow_mut()
            .insert((principal, variant), (now, token.clone()));
        Ok(token)
    }
}

/// Who a step's request comes from, as sent and as shown.
pub(super) struct Caller<'f> {
    /// The `Authorization` value.
    auth: Option<String>,
    /// The claims of a token the endpoint must accept.
    claims: Option<&'f Claims>,
    /// The `Authorization` line of the transcript.
    shown: String,
    /// For a token the endpoint must refuse, made to test one check: its rule, its name in
    /// the report, and why it is invalid.
    refused: Option<(&'static str, String, String)>,
}

impl Caller<'_> {
    /// The model's expectation, with a `401` credited to the check the token tests.
    fn adjust(&self, mut expect: Expect) -> (Expect, Option<String>) {
        match &self.refused {
            Some((rule, name, why)) if expect.status == 401 => {
                expect.rule = rule;
                expect.why = why.clone();
                (expect, Some(name.clone()))
            }
            _ => (expect, None),
        }
    }
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
    /// Every invalid token sent, by its class (`D1 expired`, ...), and whether it was refused.
    pub(crate) token_checks: Vec<(String, bool)>,
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

impl<'f> Runner<'f> {
    fn case<'r>(&'r self, focus_who: usize, focus_target: &'r TargetPick) -> Case<'r, 'f> {
        Case {
            focus_who,
            focus_target,
            runner: self,
            model: Model::new(self.fixture),
            transcript: Vec::new(),
            initial_state: Vec::new(),
            checks: Vec::new(),
            token_checks: Vec::new(),
            refused_token: None,
            requests: 0,
            pending_body: None,
        }
    }

    pub(crate) fn run_case(&self, sequence: &Sequence) -> CaseOutcome {
        let steps = &sequence.steps;
        let mut case = self.case(sequence.focus_who, &sequence.focus_target);
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
            token_checks: case.token_checks,
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
    token_checks: Vec<(String, bool)>,
    /// The class of the invalid token the current step sends, if it sends one.
    refused_token: Option<String>,
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
            .map_err(|e| mismatch(CONNECTION, format!("no answer to {path}: {e}")))
    }

    fn fixture(&self) -> &'f Fixture {
        self.runner.fixture
    }

    // ----- the initial state -----

    /// Reads every object's photo with a principal the model says may read it, so that the
    /// sequence starts from what the endpoint holds (a previous run may have left photos).
    /// An object the endpoint does not know (a `404` of D7's not-found kind rather than C4's
    /// "no photo") is a setup failure naming every such object.
    fn learn(&mut self) -> Checked {
        let mut missing = Vec::new();
        for key in self.model.objects() {
            let Some((principal, sent)) = self.reader_of(key) else {
                return Err(mismatch(
                    SETUP,
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
                    SETUP,
                    format!("reading the initial state of {what}: {detail}"),
                )
            };
            let meta = self.send(get(format!("{base}/photo")))?;
            if meta.status == 404 && object_not_found(&meta) {
                missing.push(format!(
                    "{what} (GET {base}/photo with the token of '{}' answered {})",
                    self.fixture().principals[principal].name,
                    summarize(&meta)
                ));
                continue;
            }
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
        if missing.is_empty() {
            Ok(())
        } else {
            Err(mismatch(
                SETUP,
                format!(
                    "fixture objects missing: the endpoint does not know {}",
                    missing.join("; ")
                ),
            ))
        }
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

    fn caller(&self, who: Who) -> Result<Caller<'f>, Mismatch> {
        let fx = self.fixture();
        let claims: &'f [Claims] = self.runner.claims;
        let who = match who {
            Who::Focus => Who::Principal(self.focus_who),
            other => other,
        };
        let anonymous = || Caller {
            auth: None,
            claims: None,
            shown: "(no Authorization header)".into(),
            refused: None,
        };
        let minting = |e: String| mismatch(SETUP, format!("cannot mint a token: {e}"));
        Ok(match who {
            Who::Principal(i) => {
                let i = i % fx.principals.len().max(1);
                match (fx.principals.get(i), claims.get(i)) {
                    (Some(p), Some(c)) => Caller {
                        auth: Some(format!("Bearer {}", p.token)),
                        claims: Some(c),
                        shown: format!("Bearer <token of '{}'>", p.name),
                        refused: None,
                    },
                    _ => anonymous(),
                }
            }
            Who::Anonymous | Who::Focus => anonymous(),
            Who::Garbage => Caller {
                auth: Some("Bearer not-a-jwt".into()),
                claims: None,
                shown: "Bearer not-a-jwt".into(),
                refused: None,
            },
            Who::Minted(i) => match &self.runner.tokens {
                Some(minter) => {
                    let i = minter.base_principal(i, None);
                    let token = minter.token(i, None).map_err(minting)?;
                    Caller {
                        auth: Some(format!("Bearer {token}")),
                        claims: claims.get(i),
                        shown: format!(
                            "Bearer <valid token minted by the suite with the claims of '{}'>",
                            fx.principals[i].name
                        ),
                        refused: None,
                    }
                }
                None => anonymous(),
            },
            Who::Forged(i, variant) => match &self.runner.tokens {
                Some(minter) => {
                    let i = minter.base_principal(i, Some(variant));
                    let token = minter.token(i, Some(variant)).map_err(minting)?;
                    let name = &fx.principals[i].name;
                    Caller {
                        auth: Some(format!("Bearer {token}")),
                        claims: None,
                        shown: format!(
                            "Bearer <token {variant}: the claims of '{name}', {}>",
                            variant.describe()
                        ),
                        refused: Some((
                            variant.rule(),
                            format!("{} {variant}", variant.rule()),
                            format!(
                                "token variant '{variant}': {} (minted by the suite from the claims of '{name}'); spec {} requires it be refused",
                                variant.describe(),
                                variant.rule()
                            ),
                        )),
                    }
                }
                None => anonymous(),
            },
            Who::Listed(i) => match fx.invalid_tokens.get(i.index(fx.invalid_tokens.len())) {
                Some(t) => Caller {
                    auth: Some(format!("Bearer {}", t.token)),
                    claims: None,
                    shown: format!("Bearer <invalid token '{}' of the fixture>", t.name),
                    refused: Some((
                        "D1",
                        format!("D1 fixture: {}", t.name),
                        if t.why.is_empty() {
                            format!("the fixture lists '{}' as an invalid token", t.name)
                        } else {
                            format!("the fixture's invalid token '{}': {}", t.name, t.why)
                        },
                    )),
                },
                None => anonymous(),
            },
        })
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
                let caller = self.caller(*who)?;
                let (auth, claims, auth_shown) =
                    (caller.auth.clone(), caller.claims, caller.shown.clone());
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
                let (expect, refused) = caller.adjust(expect);
                self.refused_token = refused;
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
                let caller = self.caller(*who)?;
                let (auth, claims, auth_shown) =
                    (caller.auth.clone(), caller.claims, caller.shown.clone());
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
                let (expect, refused) = caller.adjust(expect);
                self.refused_token = refused;
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
                let caller = self.caller(*who)?;
                let (auth, claims, auth_shown) =
                    (caller.auth.clone(), caller.claims, caller.shown.clone());
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
                let (expect, refused) = caller.adjust(expect);
                self.refused_token = refused;
                let request = self.request("DELETE", path, auth, headers, None, *style, n);
                self.exchange(n, request, &auth_shown, None, false, &expect, false)
            }
            Step::BadRoute { who, route, style } => {
                let caller = self.caller(*who)?;
                let (auth, auth_shown) = (caller.auth.clone(), caller.shown.clone());
                let (method, path, expect, body) = bad_route(*route);
                let body_shown = body.as_ref().map(|b| format!("{} bytes of text", b.len()));
                let (expect, refused) = caller.adjust(expect);
                self.refused_token = refused;
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
        if let Some(class) = self.refused_token.take() {
            self.token_checks.push((class, response.status == 401));
        }
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
