//! D7 steps 4 and 5: what a request path names, whether the caller may act on it, and which
//! object it resolves to in the caller's tenant.

use crate::fixture::{AccountKind, Claims};

use super::expect::{Expect, Msg, ACCESS_DENIED, ITEM_NOT_FOUND, ME_NEEDS_DELEGATED};
use super::permissions::{Access, Kind};
use super::state::{Model, ObjKey};

/// What a request path names, decoded, as sent (ids in the case they were sent in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sent {
    Me,
    User(String),
    Group(String),
    Contact {
        owner: SentOwner,
        folder: Option<String>,
        id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SentOwner {
    Me,
    User(String),
}

impl Sent {
    pub(crate) fn is_contact(&self) -> bool {
        matches!(self, Sent::Contact { .. })
    }
}

/// Steps 4 and 5 of D7: what the caller may do to this kind of target, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Gate {
    Refused(Expect),
    Found {
        key: ObjKey,
        kind: Kind,
        account: AccountKind,
    },
}

impl<'f> Model<'f> {
    /// Whether `name` (an id or UPN in a path) is the signed-in user.
    fn is_caller(&self, caller: &Claims, name: &str) -> bool {
        let Some(oid) = caller.user_id.as_deref().filter(|_| caller.is_delegated()) else {
            return false;
        };
        oid.eq_ignore_ascii_case(name)
            || self
                .user_in(&caller.tenant, name)
                .is_some_and(|(_, u)| u.id.eq_ignore_ascii_case(oid))
    }

    fn kind(&self, caller: &Claims, sent: &Sent) -> Kind {
        match sent {
            Sent::Me => Kind::Me,
            Sent::User(name) if self.is_caller(caller, name) => Kind::Me,
            Sent::User(_) => Kind::OtherUser,
            Sent::Group(_) => Kind::Group,
            Sent::Contact {
                owner: SentOwner::Me,
                ..
            } => Kind::ContactOfMe,
            Sent::Contact {
                owner: SentOwner::User(name),
                ..
            } if self.is_caller(caller, name) => Kind::ContactOfMe,
            Sent::Contact { .. } => Kind::ContactOfOtherUser,
        }
    }

    /// D7 steps 4 (authorize the kind of target) and 5 (resolve it in the caller's tenant).
    pub(crate) fn gate(&self, caller: &Claims, sent: &Sent, access: Access) -> Gate {
        let kind = self.kind(caller, sent);
        let table = if access == Access::Read { "D5" } else { "D4" };
        let names_me = matches!(
            sent,
            Sent::Me
                | Sent::Contact {
                    owner: SentOwner::Me,
                    ..
                }
        );
        if names_me && !caller.is_delegated() {
            return Gate::Refused(Expect::error(
                400,
                table,
                "BadRequest",
                Msg::Exact(ME_NEEDS_DELEGATED.to_owned()),
                "an application token on a /me path",
            ));
        }
        let (ok, rule) = Self::allowed(caller, kind, access);
        if !ok {
            return Gate::Refused(Expect::error(
                403,
                rule,
                "ErrorAccessDenied",
                Msg::Prefix(ACCESS_DENIED),
                format!(
                    "{kind:?} target, {} access, and the token ({}) grants no permission of the table",
                    if access == Access::Read { "read" } else { "write" },
                    caller.summary()
                ),
            ));
        }

        let tenant = caller.tenant.as_str();
        let not_found_user = |name: &str| {
            let rule = if self.elsewhere(tenant, name) {
                "D3"
            } else {
                "D7"
            };
            Gate::Refused(Expect::error(
                404,
                rule,
                "Request_ResourceNotFound",
                Msg::Exact(format!(
                    "Resource '{name}' does not exist or one of its queried reference-property objects are not present."
                )),
                if rule == "D3" {
                    format!("'{name}' belongs to another tenant than the caller's ({tenant})")
                } else {
                    format!("'{name}' names nothing in the caller's tenant")
                },
            ))
        };
        let item_not_found = |why: String| {
            Gate::Refused(Expect::error(
                404,
                "D7",
                "ErrorItemNotFound",
                Msg::Exact(ITEM_NOT_FOUND.to_owned()),
                why,
            ))
        };
        let me = || {
            caller
                .user_id
                .as_deref()
                .and_then(|oid| self.user_in(tenant, oid))
        };
        match sent {
            Sent::Me | Sent::User(_) => {
                let found = match sent {
                    Sent::User(name) => self.user_in(tenant, name),
                    _ => me(),
                };
                match found {
                    Some((i, u)) => Gate::Found {
                        key: ObjKey::User(i),
                        kind,
                        account: u.account_kind,
                    },
                    None => not_found_user(match sent {
                        Sent::User(name) => name,
                        _ => "me",
                    }),
                }
            }
            Sent::Group(id) => {
                let found = self.fixture.groups.iter().position(|g| {
                    g.tenant.eq_ignore_ascii_case(tenant) && g.id.eq_ignore_ascii_case(id)
                });
                match found {
                    Some(i) => Gate::Found {
                        key: ObjKey::Group(i),
                        kind,
                        account: AccountKind::WorkOrSchool,
                    },
                    None => not_found_user(id),
                }
            }
            Sent::Contact { owner, folder, id } => {
                let owner = match owner {
                    SentOwner::Me => me(),
                    SentOwner::User(name) => match self.user_in(tenant, name) {
                        Some(found) => Some(found),
                        None => return not_found_user(name),
                    },
                };
                let Some((_, owner)) = owner else {
                    return not_found_user("me");
                };
                if let Some(folder) = folder {
                    let exists = self
                        .fixture
                        .contact_folders
                        .iter()
                        .any(|f| f.id == *folder && f.owner.eq_ignore_ascii_case(&owner.id));
                    if !exists {
                        return item_not_found(format!(
                            "{} has no contact folder '{folder}'",
                            owner.upn
                        ));
                    }
                }
                let found = self.fixture.contacts.iter().position(|c| {
                    c.id == *id
                        && c.owner.eq_ignore_ascii_case(&owner.id)
                        && (folder.is_none() || c.folder == *folder)
                });
                match found {
                    Some(i) => Gate::Found {
                        key: ObjKey::Contact(i),
                        kind,
                        account: owner.account_kind,
                    },
                    None => item_not_found(format!(
                        "{} has no contact '{id}'{}",
                        owner.upn,
                        folder
                            .as_ref()
                            .map(|f| format!(" in folder '{f}'"))
                            .unwrap_or_default()
                    )),
                }
            }
        }
    }
}
