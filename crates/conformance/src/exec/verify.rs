//! Checking one answer against the model's expectation, rule by rule (the C and B rules that
//! an answer's status, headers and body must meet).

use serde_json::Value;

use super::*;

impl<'f> Case<'_, 'f> {
    pub(super) fn verify(
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
    pub(super) fn verify_c6(&mut self, r: &WireResponse, sent: Option<&str>) -> Checked {
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
    pub(super) fn verify_c7(&mut self, r: &WireResponse, json: Option<&Value>) -> Checked {
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

    pub(super) fn verify_success(
        &mut self,
        success: &Success,
        r: &WireResponse,
        head: bool,
    ) -> Checked {
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

    pub(super) fn verify_photo(
        &mut self,
        key: ObjKey,
        value: bool,
        r: &WireResponse,
        head: bool,
    ) -> Checked {
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
    pub(super) fn verify_media_headers(&mut self, r: &WireResponse, head: bool) -> Checked {
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

    pub(super) fn verify_list(&mut self, key: ObjKey, r: &WireResponse, head: bool) -> Checked {
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
    pub(super) fn record_size_etag(
        &mut self,
        key: ObjKey,
        photo: &Photo,
        side: u32,
        etag: &str,
    ) -> Checked {
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

    pub(super) fn verify_size(
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
