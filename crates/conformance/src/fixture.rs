//! What the suite needs to know about the endpoint under test: tokens to call it with and the
//! directory objects that exist (and some that do not). A JSON file (docs/CONFORMANCE.md).

use std::fmt;

use base64::Engine;
use serde::{Deserialize, Serialize};

/// The tenant of personal Microsoft accounts (spec B6).
pub const CONSUMER_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// Directory role template ids that let a delegated caller write another user's photo (D4).
pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";
pub const USER_ADMINISTRATOR: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";
pub const PEOPLE_ADMINISTRATOR: &str = "024906de-61e5-49c8-8572-40335f1e0e10";
/// Helpdesk Administrator: a directory role that is *not* enough to write photos.
pub const HELPDESK_ADMINISTRATOR: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";

/// Every permission with a rule in spec D4/D5, as Entra spells them.
pub const DELEGATED_SCOPES: [&str; 11] = [
    "User.Read",
    "User.ReadWrite",
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "ProfilePhoto.Read.All",
    "ProfilePhoto.ReadWrite.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Contacts.Read",
    "Contacts.ReadWrite",
];

/// Application permissions with a rule in spec D4/D5.
pub const APPLICATION_ROLES: [&str; 8] = [
    "User.Read.All",
    "User.ReadWrite.All",
    "ProfilePhoto.Read.All",
    "ProfilePhoto.ReadWrite.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Contacts.Read",
    "Contacts.ReadWrite",
];

/// The endpoint's principals and directory. Principals come first in order of preference:
/// the generator picks among the first eight more often, so put the most privileged there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fixture {
    pub principals: Vec<PrincipalEntry>,
    pub users: Vec<UserEntry>,
    #[serde(default)]
    pub groups: Vec<GroupEntry>,
    #[serde(default)]
    pub contact_folders: Vec<ContactFolderEntry>,
    #[serde(default)]
    pub contacts: Vec<ContactEntry>,
    /// Ids that name nothing in any tenant (user ids, UPNs, group ids, contact ids).
    #[serde(default)]
    pub missing_ids: Vec<String>,
    /// The key the endpoint trusts, when the tester holds it: the suite then mints a valid
    /// token from each principal's claims and one invalid variant per check of spec D1/D2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<SigningKey>,
    /// Tokens the endpoint must refuse (`401`), for endpoints whose key the tester does not
    /// hold: each is sent as its own input class, named in the report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid_tokens: Vec<InvalidTokenEntry>,
}

/// A signing key the endpoint trusts, and what its tokens must say to be accepted. The
/// tenant of each token is its principal's `tid`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SigningKey {
    /// An RSA private key (2048 bits or more), PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1
    /// (`BEGIN RSA PRIVATE KEY`) PEM.
    pub private_key_pem: String,
    /// The `kid` under which the endpoint's key set lists the public half.
    pub kid: String,
    /// The `aud` the endpoint accepts, e.g. `https://graph.microsoft.com`.
    pub audience: String,
    /// The `iss` of a token of tenant `{tid}`; default `https://sts.windows.net/{tid}/`
    /// (Entra's v1 form; `https://login.microsoftonline.com/{tid}/v2.0` is the v2 form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_format: Option<String>,
}

impl SigningKey {
    /// [`SigningKey::issuer_format`] or its default.
    pub fn issuer_format(&self) -> &str {
        self.issuer_format
            .as_deref()
            .unwrap_or(crate::tokens::DEFAULT_ISSUER_FORMAT)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("audience", &self.audience)
            .field("issuer_format", &self.issuer_format)
            .finish_non_exhaustive()
    }
}

/// A token the endpoint must refuse with `401 InvalidAuthenticationToken`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InvalidTokenEntry {
    /// A name for the report (`expired`, `signed by the staging key`, ...).
    pub name: String,
    pub token: String,
    /// Why it is invalid, for the report.
    #[serde(default)]
    pub why: String,
}

impl fmt::Debug for InvalidTokenEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvalidTokenEntry")
            .field("name", &self.name)
            .field("why", &self.why)
            .finish_non_exhaustive()
    }
}

/// A caller: a name for the report and a bearer token. What the token may do is read from
/// its claims (`tid`, `oid`, `scp`, `roles`, `wids`), decoded without verification.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrincipalEntry {
    pub name: String,
    pub token: String,
}

impl fmt::Debug for PrincipalEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrincipalEntry")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AccountKind {
    #[default]
    WorkOrSchool,
    Personal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserEntry {
    pub id: String,
    pub upn: String,
    pub tenant: String,
    #[serde(default)]
    pub account_kind: AccountKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupEntry {
    pub id: String,
    pub tenant: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactFolderEntry {
    pub id: String,
    /// The owning user's id.
    pub owner: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactEntry {
    pub id: String,
    /// The owning user's id.
    pub owner: String,
    /// The contact folder holding it, if any.
    #[serde(default)]
    pub folder: Option<String>,
}

/// What a token says, decoded from its payload (not verified: the endpoint does that).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Claims {
    /// `tid`
    pub tenant: String,
    /// `oid`
    pub user_id: Option<String>,
    /// `scp`, split on spaces; `None` without a `scp` claim (an application token, spec D2).
    pub scopes: Option<Vec<String>>,
    /// `roles`
    pub roles: Vec<String>,
    /// `wids`
    pub directory_roles: Vec<String>,
}

/// The payload (middle part) of a JWT as a JSON object, decoded without verification.
pub fn decode_payload(token: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a JWT (three dot-separated parts)".to_owned());
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| format!("JWT payload is not base64url: {e}"))?;
    match serde_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err("JWT payload is not a JSON object".to_owned()),
        Err(e) => Err(format!("JWT payload is not JSON: {e}")),
    }
}

impl Claims {
    /// Decodes the payload (middle part) of a JWT.
    pub fn decode(token: &str) -> Result<Claims, String> {
        let json = serde_json::Value::Object(decode_payload(token)?);
        let text = |name: &str| json.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let list = |name: &str| -> Vec<String> {
            match json.get(name) {
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                Some(serde_json::Value::String(s)) => {
                    s.split_whitespace().map(str::to_owned).collect()
                }
                _ => Vec::new(),
            }
        };
        let tenant = text("tid").ok_or("the token has no 'tid' claim")?;
        Ok(Claims {
            tenant,
            user_id: text("oid"),
            scopes: text("scp").map(|s| s.split_whitespace().map(str::to_owned).collect()),
            roles: list("roles"),
            directory_roles: list("wids"),
        })
    }

    /// A token with `scp` acts for a signed-in user (spec D2).
    pub fn is_delegated(&self) -> bool {
        self.scopes.is_some()
    }

    /// The permissions that count for this kind of token: `scp` when delegated, else `roles`.
    pub fn permissions(&self) -> &[String] {
        match &self.scopes {
            Some(scopes) => scopes,
            None => &self.roles,
        }
    }

    /// One line for reports: `delegated, tid .., oid .., scp "..", wids [..]`.
    pub fn summary(&self) -> String {
        match &self.scopes {
            Some(scopes) => {
                let mut s = format!(
                    "delegated, tid {}, oid {}, scp \"{}\"",
                    self.tenant,
                    self.user_id.as_deref().unwrap_or("-"),
                    scopes.join(" ")
                );
                if !self.directory_roles.is_empty() {
                    s.push_str(&format!(", wids [{}]", self.directory_roles.join(", ")));
                }
                s
            }
            None => format!(
                "application, tid {}, roles [{}]",
                self.tenant,
                self.roles.join(", ")
            ),
        }
    }
}

/// What a development token should say, for [`Fixture::for_dev_server`]'s minting callback.
/// A token with a `user_id` is delegated (`scp` from `scopes`), one without is an application
/// token (`roles`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub tenant: String,
    pub user_id: Option<String>,
    pub upn: Option<String>,
    pub scopes: Vec<String>,
    pub roles: Vec<String>,
    /// `wids`
    pub directory_roles: Vec<String>,
}

/// Why a fixture cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureError(pub String);

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid conformance fixture: {}", self.0)
    }
}

impl std::error::Error for FixtureError {}

/// The seeded development tenant of graph-photo's own server.
///
/// These are copies of `adapter_memstore::seed` (the suite must not depend on the server's
/// crates in normal code: it is meant to test *other* endpoints too). A test of this crate
/// compares them with the seed, so the copy cannot drift unnoticed.
pub mod dev_tenant {
    pub const CONTOSO_TENANT: &str = "2f9b6c4e-7d1a-4c33-9b0e-5a6f1d2c3b4a";
    pub const ADELE_ID: &str = "6e7b768e-07e2-4810-8459-485f84f8f204";
    pub const ADELE_UPN: &str = "AdeleV@contoso.onmicrosoft.com";
    pub const MEGAN_ID: &str = "48d31887-5fad-4d73-a9f5-3c356e68a038";
    pub const MEGAN_UPN: &str = "MeganB@contoso.onmicrosoft.com";
    pub const ALEX_ID: &str = "87d349ed-44d7-43e1-9a83-5f2406dee5bd";
    pub const ALEX_UPN: &str = "AlexW@contoso.onmicrosoft.com";
    pub const LEE_ID: &str = "c3a5f1d2-9b4e-4f6a-8d7c-1e2f3a4b5c6d";
    pub const LEE_UPN: &str = "lee_fabrikam.com#EXT#@contoso.onmicrosoft.com";
    pub const MARKETING_GROUP_ID: &str = "02bd9fd6-8f93-4758-87c3-1fb73740a315";
    pub const ADELE_FRIENDS_FOLDER_ID: &str = "AAMkAGI2TAAA=";
    pub const ADELE_CONTACT_ID: &str = "AAMkAGI2THVSAAA=";
    pub const ADELE_FOLDER_CONTACT_ID: &str = "AAMkAGI2THVSAAB=";
    pub const MEGAN_CONTACT_ID: &str = "AAMkAGI2TMEGAN=";
    pub const FABRIKAM_TENANT: &str = "5d2f0a1b-3c4e-4d5f-8a9b-0c1d2e3f4a5b";
    pub const ALLAN_ID: &str = "a1b2c3d4-e5f6-4711-8899-aabbccddeeff";
    pub const ALLAN_UPN: &str = "AllanD@fabrikam.onmicrosoft.com";
    pub const FABRIKAM_GROUP_ID: &str = "f0e1d2c3-b4a5-4968-8776-655443322110";
    pub const CONSUMER_TENANT: &str = super::CONSUMER_TENANT;
    pub const PAT_ID: &str = "00000000-0000-0000-0d2e-7a1b3c4d5e6f";
    pub const PAT_UPN: &str = "pat@outlook.com";
    /// The client application id of application tokens (any id will do).
    pub const APP_ID: &str = "6f0c3e1a-7b2d-4c5e-9a8f-0d1e2f3a4b5c";
}

impl Fixture {
    /// Reads a fixture from JSON and checks it ([`Fixture::validate`]).
    pub fn from_json(json: &str) -> Result<Fixture, FixtureError> {
        let fixture: Fixture =
            serde_json::from_str(json).map_err(|e| FixtureError(e.to_string()))?;
        fixture.validate()?;
        Ok(fixture)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks that every token decodes, that the signed-in user of every delegated token is
    /// listed among the users, that folders and contacts name listed owners, that the signing
    /// key (if any) is a usable RSA key with a `kid`, an audience and an issuer format naming
    /// `{tid}`, and that invalid tokens have distinct names and a token.
    pub fn validate(&self) -> Result<(), FixtureError> {
        self.validate_tokens()?;
        if self.principals.is_empty() {
            return Err(FixtureError("no principals".into()));
        }
        if self.users.is_empty() {
            return Err(FixtureError("no users".into()));
        }
        let user = |id: &str| self.users.iter().find(|u| u.id.eq_ignore_ascii_case(id));
        for p in &self.principals {
            let claims = Claims::decode(&p.token)
                .map_err(|e| FixtureError(format!("principal '{}': {e}", p.name)))?;
            if claims.is_delegated() {
                let oid = claims.user_id.as_deref().ok_or_else(|| {
                    FixtureError(format!("principal '{}': delegated without 'oid'", p.name))
                })?;
                match user(oid) {
                    Some(u) if u.tenant.eq_ignore_ascii_case(&claims.tenant) => {}
                    _ => {
                        return Err(FixtureError(format!(
                            "principal '{}': its user {oid} of tenant {} is not among the users",
                            p.name, claims.tenant
                        )))
                    }
                }
            }
        }
        for f in &self.contact_folders {
            if user(&f.owner).is_none() {
                return Err(FixtureError(format!(
                    "contact folder '{}': owner {} is not among the users",
                    f.id, f.owner
                )));
            }
        }
        for c in &self.contacts {
            if user(&c.owner).is_none() {
                return Err(FixtureError(format!(
                    "contact '{}': owner {} is not among the users",
                    c.id, c.owner
                )));
            }
            if let Some(folder) = &c.folder {
                if !self
                    .contact_folders
                    .iter()
                    .any(|f| f.id == *folder && f.owner.eq_ignore_ascii_case(&c.owner))
                {
                    return Err(FixtureError(format!(
                        "contact '{}': folder {folder} of owner {} is not among the contact folders",
                        c.id, c.owner
                    )));
                }
            }
        }
        Ok(())
    }

    fn validate_tokens(&self) -> Result<(), FixtureError> {
        if let Some(key) = &self.signing_key {
            crate::tokens::parse_private_key(&key.private_key_pem)
                .map_err(|e| FixtureError(format!("signingKey.privateKeyPem: {e}")))?;
            if key.kid.trim().is_empty() {
                return Err(FixtureError("signingKey.kid is empty".into()));
            }
            if key.audience.trim().is_empty() {
                return Err(FixtureError("signingKey.audience is empty".into()));
            }
            let format = key.issuer_format();
            if !format.contains("{tid}") {
                return Err(FixtureError(format!(
                    "signingKey.issuerFormat '{format}' does not contain {{tid}}"
                )));
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, t) in self.invalid_tokens.iter().enumerate() {
            if t.name.trim().is_empty() {
                return Err(FixtureError(format!("invalidTokens[{i}]: empty name")));
            }
            if !names.insert(t.name.as_str()) {
                return Err(FixtureError(format!(
                    "invalidTokens: the name '{}' is used twice",
                    t.name
                )));
            }
            if t.token.trim().is_empty() {
                return Err(FixtureError(format!(
                    "invalidTokens '{}': empty token (the suite sends no token by itself)",
                    t.name
                )));
            }
        }
        Ok(())
    }

    /// Every tenant the fixture names (of users and groups), each once, in order.
    pub fn tenants(&self) -> Vec<String> {
        let mut tenants: Vec<String> = Vec::new();
        for t in self
            .users
            .iter()
            .map(|u| &u.tenant)
            .chain(self.groups.iter().map(|g| &g.tenant))
        {
            if !tenants.iter().any(|k| k.eq_ignore_ascii_case(t)) {
                tenants.push(t.clone());
            }
        }
        tenants
    }

    /// The fixture of graph-photo's own development server (the seeded tenants of spec E2),
    /// with tokens made by `mint` (in practice `DevKey::mint` of the server's development key;
    /// the caller maps [`TokenClaims`] onto its `TokenRequest`).
    ///
    /// The principals cover the permission tables of D4/D5: all-powerful callers first
    /// (preferred by the generator), then single scopes and roles, admins and non-admins,
    /// lower-case permission names (D2), another tenant's user and app, and the personal
    /// account of the consumer tenant (B6).
    pub fn for_dev_server<E>(
        mint: impl Fn(&TokenClaims) -> Result<String, E>,
    ) -> Result<Fixture, E> {
        use dev_tenant::*;
        let all_scopes: Vec<&str> = DELEGATED_SCOPES.to_vec();
        let all_roles: Vec<&str> = APPLICATION_ROLES.to_vec();
        let delegated =
            |tenant: &str, id: &str, upn: &str, scopes: &[&str], wids: &[&str]| TokenClaims {
                tenant: tenant.to_owned(),
                user_id: Some(id.to_owned()),
                upn: Some(upn.to_owned()),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                roles: Vec::new(),
                directory_roles: wids.iter().map(|s| (*s).to_owned()).collect(),
            };
        let app = |tenant: &str, roles: &[&str]| TokenClaims {
            tenant: tenant.to_owned(),
            user_id: None,
            upn: None,
            scopes: Vec::new(),
            roles: roles.iter().map(|s| (*s).to_owned()).collect(),
            directory_roles: Vec::new(),
        };
        let c = CONTOSO_TENANT;
        let mut specs: Vec<(String, TokenClaims)> = vec![
            (
                "adele (all scopes)".into(),
                delegated(c, ADELE_ID, ADELE_UPN, &all_scopes, &[]),
            ),
            (
                "megan (all scopes, User Administrator)".into(),
                delegated(c, MEGAN_ID, MEGAN_UPN, &all_scopes, &[USER_ADMINISTRATOR]),
            ),
            ("contoso app (all roles)".into(), app(c, &all_roles)),
            (
                "alex (all scopes, Global Administrator)".into(),
                delegated(c, ALEX_ID, ALEX_UPN, &all_scopes, &[GLOBAL_ADMINISTRATOR]),
            ),
            (
                "lee (ProfilePhoto.ReadWrite.All Contacts.ReadWrite, People Administrator)".into(),
                delegated(
                    c,
                    LEE_ID,
                    LEE_UPN,
                    &["ProfilePhoto.ReadWrite.All", "Contacts.ReadWrite"],
                    &[PEOPLE_ADMINISTRATOR],
                ),
            ),
            (
                "allan of fabrikam (all scopes, Global Administrator)".into(),
                delegated(
                    FABRIKAM_TENANT,
                    ALLAN_ID,
                    ALLAN_UPN,
                    &all_scopes,
                    &[GLOBAL_ADMINISTRATOR],
                ),
            ),
            (
                "fabrikam app (all roles)".into(),
                app(FABRIKAM_TENANT, &all_roles),
            ),
            (
                "pat, personal account (all scopes)".into(),
                delegated(CONSUMER_TENANT, PAT_ID, PAT_UPN, &all_scopes, &[]),
            ),
        ];
        for scope in DELEGATED_SCOPES {
            specs.push((
                format!("adele ({scope})"),
                delegated(c, ADELE_ID, ADELE_UPN, &[scope], &[]),
            ));
        }
        specs.push((
            "adele (openid: no photo permission)".into(),
            delegated(c, ADELE_ID, ADELE_UPN, &["openid", "profile"], &[]),
        ));
        specs.push((
            "alex (User.ReadWrite.All ProfilePhoto.ReadWrite.All, no role)".into(),
            delegated(
                c,
                ALEX_ID,
                ALEX_UPN,
                &["User.ReadWrite.All", "ProfilePhoto.ReadWrite.All"],
                &[],
            ),
        ));
        specs.push((
            "alex (User.ReadWrite.All, Helpdesk Administrator)".into(),
            delegated(
                c,
                ALEX_ID,
                ALEX_UPN,
                &["User.ReadWrite.All"],
                &[HELPDESK_ADMINISTRATOR],
            ),
        ));
        specs.push((
            "megan (lower-case user.readwrite.all contacts.read, User Administrator)".into(),
            delegated(
                c,
                MEGAN_ID,
                MEGAN_UPN,
                &["user.readwrite.all", "contacts.read"],
                &[USER_ADMINISTRATOR],
            ),
        ));
        specs.push((
            "lee (User.Read, Global Administrator)".into(),
            delegated(c, LEE_ID, LEE_UPN, &["User.Read"], &[GLOBAL_ADMINISTRATOR]),
        ));
        for role in APPLICATION_ROLES {
            specs.push((format!("contoso app ({role})"), app(c, &[role])));
        }
        specs.push((
            "contoso app (lower-case profilephoto.readwrite.all)".into(),
            app(c, &["profilephoto.readwrite.all"]),
        ));
        specs.push(("contoso app (no roles)".into(), app(c, &[])));
        specs.push((
            "pat, personal account (User.ReadWrite)".into(),
            delegated(CONSUMER_TENANT, PAT_ID, PAT_UPN, &["User.ReadWrite"], &[]),
        ));
        specs.push((
            "allan of fabrikam (User.Read)".into(),
            delegated(FABRIKAM_TENANT, ALLAN_ID, ALLAN_UPN, &["User.Read"], &[]),
        ));

        let mut principals = Vec::with_capacity(specs.len());
        for (name, claims) in specs {
            principals.push(PrincipalEntry {
                name,
                token: mint(&claims)?,
            });
        }
        let user = |id: &str, upn: &str, tenant: &str, kind| UserEntry {
            id: id.into(),
            upn: upn.into(),
            tenant: tenant.into(),
            account_kind: kind,
        };
        let work = AccountKind::WorkOrSchool;
        Ok(Fixture {
            principals,
            users: vec![
                user(ADELE_ID, ADELE_UPN, c, work),
                user(MEGAN_ID, MEGAN_UPN, c, work),
                user(ALEX_ID, ALEX_UPN, c, work),
                user(LEE_ID, LEE_UPN, c, work),
                user(ALLAN_ID, ALLAN_UPN, FABRIKAM_TENANT, work),
                user(PAT_ID, PAT_UPN, CONSUMER_TENANT, AccountKind::Personal),
            ],
            groups: vec![
                GroupEntry {
                    id: MARKETING_GROUP_ID.into(),
                    tenant: c.into(),
                },
                GroupEntry {
                    id: FABRIKAM_GROUP_ID.into(),
                    tenant: FABRIKAM_TENANT.into(),
                },
            ],
            contact_folders: vec![ContactFolderEntry {
                id: ADELE_FRIENDS_FOLDER_ID.into(),
                owner: ADELE_ID.into(),
            }],
            contacts: vec![
                ContactEntry {
                    id: ADELE_CONTACT_ID.into(),
                    owner: ADELE_ID.into(),
                    folder: None,
                },
                ContactEntry {
                    id: ADELE_FOLDER_CONTACT_ID.into(),
                    owner: ADELE_ID.into(),
                    folder: Some(ADELE_FRIENDS_FOLDER_ID.into()),
                },
                ContactEntry {
                    id: MEGAN_CONTACT_ID.into(),
                    owner: MEGAN_ID.into(),
                    folder: None,
                },
            ],
            missing_ids: vec![
                "0badf00d-0000-4000-8000-000000000404".into(),
                "nobody@contoso.onmicrosoft.com".into(),
                "AAMkAGI2TNOPE=".into(),
            ],
            signing_key: None,
            invalid_tokens: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(payload: serde_json::Value) -> String {
        let enc = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        format!(
            "{}.{}.sig",
            enc(br#"{"alg":"RS256"}"#),
            enc(payload.to_string().as_bytes())
        )
    }

    #[test]
    fn claims_decode_delegated_and_application_tokens() {
        let d = Claims::decode(&token(serde_json::json!({
            "tid": "t", "oid": "u", "scp": "User.Read  Contacts.Read", "wids": ["w"]
        })))
        .unwrap();
        assert!(d.is_delegated());
        assert_eq!(d.permissions(), ["User.Read", "Contacts.Read"]);
        assert_eq!(d.directory_roles, ["w"]);
        let a = Claims::decode(&token(serde_json::json!({"tid": "t", "roles": ["A"]}))).unwrap();
        assert!(!a.is_delegated());
        assert_eq!(a.permissions(), ["A"]);
        assert!(Claims::decode("abc").is_err());
        assert!(Claims::decode(&token(serde_json::json!({"oid": "u"}))).is_err());
    }

    #[test]
    fn dev_fixture_round_trips_through_json_and_validates() {
        let fixture = Fixture::for_dev_server(|c: &TokenClaims| {
            let mut payload = serde_json::json!({"tid": c.tenant});
            if let Some(u) = &c.user_id {
                payload["oid"] = u.clone().into();
                payload["scp"] = c.scopes.join(" ").into();
            } else {
                payload["roles"] = c.roles.clone().into();
            }
            Ok::<_, String>(token(payload))
        })
        .unwrap();
        fixture.validate().unwrap();
        let back = Fixture::from_json(&fixture.to_json()).unwrap();
        assert_eq!(back, fixture);
    }

    fn minimal() -> serde_json::Value {
        serde_json::json!({
            "principals": [{"name": "app", "token": token(serde_json::json!({"tid": "t", "roles": []}))}],
            "users": [{"id": "u", "upn": "u@x", "tenant": "t"}]
        })
    }

    #[test]
    fn a_signing_key_and_invalid_tokens_parse_and_validate() {
        let pem = dev_tokens::DevKey::test_key().private_key_pem();
        let mut json = minimal();
        json["signingKey"] = serde_json::json!({
            "privateKeyPem": pem, "kid": "k1", "audience": "https://graph.microsoft.com",
            "issuerFormat": "https://login.microsoftonline.com/{tid}/v2.0"
        });
        json["invalidTokens"] = serde_json::json!([
            {"name": "expired", "token": "a.b.c", "why": "exp in 2020"},
            {"name": "staging key", "token": "d.e.f"}
        ]);
        let fixture = Fixture::from_json(&json.to_string()).unwrap();
        let key = fixture.signing_key.as_ref().unwrap();
        assert_eq!(key.kid, "k1");
        assert_eq!(
            key.issuer_format(),
            "https://login.microsoftonline.com/{tid}/v2.0"
        );
        assert!(
            !format!("{key:?}").contains("PRIVATE"),
            "Debug shows no key"
        );
        assert_eq!(fixture.invalid_tokens.len(), 2);
        assert_eq!(fixture.invalid_tokens[1].why, "");
        assert_eq!(Fixture::from_json(&fixture.to_json()).unwrap(), fixture);

        // The issuer format defaults to Entra's v1 form; neither field is written when absent.
        json["signingKey"]
            .as_object_mut()
            .unwrap()
            .remove("issuerFormat");
        let fixture = Fixture::from_json(&json.to_string()).unwrap();
        assert_eq!(
            fixture.signing_key.unwrap().issuer_format(),
            "https://sts.windows.net/{tid}/"
        );
        let plain = Fixture::from_json(&minimal().to_string()).unwrap();
        assert!(!plain.to_json().contains("signingKey"));
        assert!(!plain.to_json().contains("invalidTokens"));
    }

    #[test]
    fn a_bad_signing_key_or_invalid_token_list_is_refused_by_name() {
        let pem = dev_tokens::DevKey::test_key().private_key_pem();
        let key = |fields: serde_json::Value| {
            let mut json = minimal();
            let mut k = serde_json::json!({
                "privateKeyPem": pem, "kid": "k1", "audience": "https://graph.microsoft.com"
            });
            for (name, value) in fields.as_object().unwrap() {
                k[name] = value.clone();
            }
            json["signingKey"] = k;
            Fixture::from_json(&json.to_string())
                .unwrap_err()
                .to_string()
        };
        assert!(key(
            serde_json::json!({"privateKeyPem": "-----BEGIN PRIVATE KEY-----
AAAA
-----END PRIVATE KEY-----"})
        )
        .contains("signingKey.privateKeyPem"));
        assert!(key(serde_json::json!({"kid": " "})).contains("signingKey.kid"));
        assert!(key(serde_json::json!({"audience": ""})).contains("signingKey.audience"));
        assert!(
            key(serde_json::json!({"issuerFormat": "https://sts.windows.net/"})).contains("{tid}")
        );
        assert!(key(serde_json::json!({"publicKey": "x"})).contains("publicKey"));

        let tokens = |list: serde_json::Value| {
            let mut json = minimal();
            json["invalidTokens"] = list;
            Fixture::from_json(&json.to_string())
                .unwrap_err()
                .to_string()
        };
        assert!(tokens(
            serde_json::json!([{"name": "a", "token": "x"}, {"name": "a", "token": "y"}])
        )
        .contains("'a' is used twice"));
        assert!(tokens(serde_json::json!([{"name": "", "token": "x"}])).contains("empty name"));
        assert!(tokens(serde_json::json!([{"name": "a", "token": ""}])).contains("empty token"));
        assert!(tokens(serde_json::json!([{"name": "a"}])).contains("token"));
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let json = r#"{"principals":[{"name":"x","token":"a.b"}],"users":[{"id":"u","upn":"u@x","tenant":"t"}]}"#;
        let err = Fixture::from_json(json).unwrap_err();
        assert!(err.to_string().contains("principal 'x'"), "{err}");
    }
}
