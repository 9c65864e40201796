//! Who is calling: the identity a validated token stands for (spec D2).

use std::fmt;
use std::str::FromStr;

/// The tenant of Microsoft personal accounts (spec B6).
pub const CONSUMER_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// Directory role template ids that may write another user's photo (spec D4).
pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";
/// Role template id of the User Administrator directory role.
pub const USER_ADMINISTRATOR: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";
/// Role template id of the People Administrator directory role.
pub const PEOPLE_ADMINISTRATOR: &str = "024906de-61e5-49c8-8572-40335f1e0e10";

/// A tenant id. Entra tenant ids are GUIDs, compared case-insensitively, so the value is
/// kept lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// A tenant id from any spelling of it (kept lower-cased).
    pub fn new(id: impl AsRef<str>) -> Self {
        Self(id.as_ref().trim().to_ascii_lowercase())
    }

    /// The lower-cased id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Personal Microsoft accounts all live in one well-known tenant.
    pub fn is_consumer(&self) -> bool {
        self.0 == CONSUMER_TENANT
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A permission, as a delegated scope (`scp`) or an application role (`roles`).
///
/// Names compare case-insensitively (spec D2). A name this service has no rule for is kept
/// as [`Scope::Other`] rather than rejected: tokens carry many permissions unrelated to photos.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `User.Read`.
    UserRead,
    /// `User.ReadWrite`.
    UserReadWrite,
    /// `User.ReadBasic.All`.
    UserReadBasicAll,
    /// `User.Read.All`.
    UserReadAll,
    /// `User.ReadWrite.All`.
    UserReadWriteAll,
    /// `ProfilePhoto.Read.All`.
    ProfilePhotoReadAll,
    /// `ProfilePhoto.ReadWrite.All`.
    ProfilePhotoReadWriteAll,
    /// `Group.Read.All`.
    GroupReadAll,
    /// `Group.ReadWrite.All`.
    GroupReadWriteAll,
    /// `Contacts.Read`.
    ContactsRead,
    /// `Contacts.ReadWrite`.
    ContactsReadWrite,
    /// Any other permission, as written in the token.
    Other(String),
}

impl Scope {
    /// Every permission that has a rule in the spec, for tests and generators.
    pub const KNOWN: [Scope; 11] = [
        Scope::UserRead,
        Scope::UserReadWrite,
        Scope::UserReadBasicAll,
        Scope::UserReadAll,
        Scope::UserReadWriteAll,
        Scope::ProfilePhotoReadAll,
        Scope::ProfilePhotoReadWriteAll,
        Scope::GroupReadAll,
        Scope::GroupReadWriteAll,
        Scope::ContactsRead,
        Scope::ContactsReadWrite,
    ];

    /// The name as Entra spells it.
    pub fn name(&self) -> &str {
        match self {
            Scope::UserRead => "User.Read",
            Scope::UserReadWrite => "User.ReadWrite",
            Scope::UserReadBasicAll => "User.ReadBasic.All",
            Scope::UserReadAll => "User.Read.All",
            Scope::UserReadWriteAll => "User.ReadWrite.All",
            Scope::ProfilePhotoReadAll => "ProfilePhoto.Read.All",
            Scope::ProfilePhotoReadWriteAll => "ProfilePhoto.ReadWrite.All",
            Scope::GroupReadAll => "Group.Read.All",
            Scope::GroupReadWriteAll => "Group.ReadWrite.All",
            Scope::ContactsRead => "Contacts.Read",
            Scope::ContactsReadWrite => "Contacts.ReadWrite",
            Scope::Other(name) => name,
        }
    }

    /// Parses a space-separated `scp` claim.
    pub fn parse_list(list: &str) -> Vec<Scope> {
        list.split_whitespace().map(Scope::from).collect()
    }
}

impl From<&str> for Scope {
    fn from(name: &str) -> Self {
        Scope::KNOWN
            .iter()
            .find(|known| known.name().eq_ignore_ascii_case(name))
            .cloned()
            .unwrap_or_else(|| Scope::Other(name.to_owned()))
    }
}

impl FromStr for Scope {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Scope::from(s))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A user acting through an app (a token with `scp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegatedPrincipal {
    /// The tenant the user signed in to.
    pub tenant: TenantId,
    /// The signed-in user's object id (`oid`).
    pub user_id: String,
    /// The delegated permissions (`scp`).
    pub scopes: Vec<Scope>,
    /// Directory role template ids (`wids`).
    pub directory_roles: Vec<String>,
    /// The client application, when the token names it.
    pub app_id: Option<String>,
}

/// An app acting as itself (a token without `scp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationPrincipal {
    /// The tenant the application acts in.
    pub tenant: TenantId,
    /// The application (client) id.
    pub app_id: String,
    /// The application permissions (`roles`).
    pub roles: Vec<Scope>,
}

/// The identity of a validated token: what the server's authentication hands the use cases,
/// which decide from it alone what the caller may do (spec D4, D5).
///
/// A host with authentication of its own builds one from what it knows of the caller:
///
/// ```
/// use photo_core::principal::{
///     ApplicationPrincipal, DelegatedPrincipal, Principal, Scope, TenantId, USER_ADMINISTRATOR,
/// };
///
/// let admin = Principal::Delegated(DelegatedPrincipal {
///     tenant: TenantId::new("3F2A7C10-5D4E-4B8A-9C1F-2E6D8A0B4C7E"),
///     user_id: "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9".to_owned(),
///     scopes: Scope::parse_list("User.ReadWrite.All openid"),
///     directory_roles: vec![USER_ADMINISTRATOR.to_owned()],
///     app_id: None,
/// });
/// assert_eq!(admin.tenant().as_str(), "3f2a7c10-5d4e-4b8a-9c1f-2e6d8a0b4c7e");
/// assert!(admin.permissions().contains(&Scope::UserReadWriteAll));
/// assert!(admin.has_directory_role(USER_ADMINISTRATOR));
///
/// let daemon = Principal::Application(ApplicationPrincipal {
///     tenant: TenantId::new("3f2a7c10-5d4e-4b8a-9c1f-2e6d8a0b4c7e"),
///     app_id: "c0ffee00-1234-4321-abcd-0123456789ab".to_owned(),
///     roles: vec![Scope::ProfilePhotoReadWriteAll],
/// });
/// assert_eq!(daemon.user_id(), None); // an app has no "me"
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A user signed in through an application.
    Delegated(DelegatedPrincipal),
    /// An application acting as itself.
    Application(ApplicationPrincipal),
}

impl Principal {
    /// The tenant the caller acts in.
    pub fn tenant(&self) -> &TenantId {
        match self {
            Principal::Delegated(d) => &d.tenant,
            Principal::Application(a) => &a.tenant,
        }
    }

    /// The signed-in user, if there is one. Application tokens never have one.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Principal::Delegated(d) => Some(&d.user_id),
            Principal::Application(_) => None,
        }
    }

    /// The permissions this token carries (`scp` or `roles`).
    pub fn permissions(&self) -> &[Scope] {
        match self {
            Principal::Delegated(d) => &d.scopes,
            Principal::Application(a) => &a.roles,
        }
    }

    /// Whether the signed-in user holds the directory role with this template id (`wids`).
    pub fn has_directory_role(&self, role_template_id: &str) -> bool {
        match self {
            Principal::Delegated(d) => d
                .directory_roles
                .iter()
                .any(|r| r.eq_ignore_ascii_case(role_template_id)),
            Principal::Application(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_names_compare_case_insensitively() {
        assert_eq!(Scope::from("user.readwrite"), Scope::UserReadWrite);
        assert_eq!(
            Scope::from("PROFILEPHOTO.READWRITE.ALL"),
            Scope::ProfilePhotoReadWriteAll
        );
        assert_eq!(Scope::from("Mail.Read"), Scope::Other("Mail.Read".into()));
    }

    #[test]
    fn every_known_scope_round_trips_through_its_name() {
        for scope in Scope::KNOWN {
            assert_eq!(Scope::from(scope.name()), scope);
        }
    }

    #[test]
    fn scp_claim_is_space_separated() {
        assert_eq!(
            Scope::parse_list(" User.Read  openid Contacts.Read"),
            vec![
                Scope::UserRead,
                Scope::Other("openid".into()),
                Scope::ContactsRead
            ]
        );
    }

    #[test]
    fn tenant_ids_are_case_insensitive() {
        assert_eq!(
            TenantId::new("9188040D-6C67-4C5B-B112-36A304B66DAD"),
            TenantId::new(CONSUMER_TENANT)
        );
        assert!(TenantId::new("9188040D-6C67-4C5B-B112-36A304B66DAD").is_consumer());
    }
}
