//! Who may read or write which photo: the permission tables of spec D4/D5, as data.

use crate::principal::{
    Principal, Scope, GLOBAL_ADMINISTRATOR, PEOPLE_ADMINISTRATOR, USER_ADMINISTRATOR,
};

/// The kind of target, as far as permissions care (spec D4/D5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// `/me`, or a user id/UPN that resolves to the signed-in user.
    Me,
    /// Any other user (including ids that do not exist: spec D7 step 4).
    OtherUser,
    /// `/groups/{id}`.
    Group,
    /// A contact of the signed-in user (`/me/contacts/...`).
    ContactOfMe,
    /// A contact of another user (`/users/{id}/contacts/...`).
    ContactOfOtherUser,
}

impl TargetKind {
    /// Every kind, for tables and tests.
    pub const ALL: [TargetKind; 5] = [
        TargetKind::Me,
        TargetKind::OtherUser,
        TargetKind::Group,
        TargetKind::ContactOfMe,
        TargetKind::ContactOfOtherUser,
    ];
}

/// Reading is `GET`/`HEAD`; writing is `PUT`/`PATCH`/`DELETE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// `GET`.
    Read,
    /// `PUT`, `PATCH` or `DELETE`.
    Write,
}

/// Directory roles that let a delegated caller write another user's photo (spec D4).
pub const PHOTO_ADMIN_ROLES: [(&str, &str); 3] = [
    (GLOBAL_ADMINISTRATOR, "Global Administrator"),
    (USER_ADMINISTRATOR, "User Administrator"),
    (PEOPLE_ADMINISTRATOR, "People Administrator"),
];

/// Why a principal may not do what it asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// An application token on a `/me` path: there is no signed-in user (400 `BadRequest`).
    NoSignedInUser,
    /// 403 `ErrorAccessDenied`. `permissions` lists what would have allowed the call (any one
    /// of them; empty when nothing can), `requires_role` whether a directory role
    /// ([`PHOTO_ADMIN_ROLES`]) is needed as well (spec D6).
    Forbidden {
        /// The kind of token the caller holds.
        token: TokenKind,
        /// The permissions of which any one would have allowed the call.
        permissions: Vec<Scope>,
        /// Whether a directory role is needed as well.
        requires_role: bool,
    },
}

/// Who a token speaks for: a signed-in user (delegated, `scp`) or an application itself
/// (`roles`); the permission tables differ (spec D2, D4, D5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A user signed in to an application (delegated permissions).
    Delegated,
    /// An application acting as itself (application permissions).
    Application,
}

impl TokenKind {
    /// The kind of token `principal` came with.
    pub fn of(principal: &Principal) -> Self {
        match principal {
            Principal::Delegated(_) => TokenKind::Delegated,
            Principal::Application(_) => TokenKind::Application,
        }
    }

    /// How the permission table and messages name it.
    pub fn name(self) -> &'static str {
        match self {
            TokenKind::Delegated => "delegated",
            TokenKind::Application => "application",
        }
    }
}

use Scope::*;

/// The permissions of which any one allows `access` to `kind` (spec D4/D5 tables).
/// `None` means the combination is impossible for that kind of token (application on me).
pub fn permissions_for(
    token: TokenKind,
    kind: TargetKind,
    access: Access,
) -> Option<&'static [Scope]> {
    use Access::*;
    use TargetKind::*;
    use TokenKind::{Application as App, Delegated as User};
    const NONE: &[Scope] = &[];
    Some(match (token, kind, access) {
        (User, Me, Write) => &[UserReadWrite, UserReadWriteAll, ProfilePhotoReadWriteAll],
        (User, OtherUser, Write) => &[UserReadWriteAll, ProfilePhotoReadWriteAll],
        (App, OtherUser, Write) => &[UserReadWriteAll, ProfilePhotoReadWriteAll],
        (_, Group, Write) => &[GroupReadWriteAll, ProfilePhotoReadWriteAll],
        (User, ContactOfMe, Write) => &[ContactsReadWrite],
        (User, ContactOfOtherUser, _) => NONE,
        (App, ContactOfOtherUser, Write) => &[ContactsReadWrite],

        (User, Me, Read) => &[
            UserRead,
            UserReadWrite,
            UserReadBasicAll,
            UserReadAll,
            UserReadWriteAll,
            ProfilePhotoReadAll,
            ProfilePhotoReadWriteAll,
        ],
        (User, OtherUser, Read) => &[
            UserReadBasicAll,
            UserReadAll,
            UserReadWriteAll,
            ProfilePhotoReadAll,
            ProfilePhotoReadWriteAll,
        ],
        (App, OtherUser, Read) => &[
            UserReadAll,
            UserReadWriteAll,
            ProfilePhotoReadAll,
            ProfilePhotoReadWriteAll,
        ],
        (_, Group, Read) => &[
            GroupReadAll,
            GroupReadWriteAll,
            ProfilePhotoReadAll,
            ProfilePhotoReadWriteAll,
        ],
        (User, ContactOfMe, Read) => &[ContactsRead, ContactsReadWrite],
        (App, ContactOfOtherUser, Read) => &[ContactsRead, ContactsReadWrite],

        (App, Me | ContactOfMe, _) => return None,
    })
}

/// Decides whether `principal` may access a target of `kind` (spec D4-D6).
pub fn authorize(principal: &Principal, kind: TargetKind, access: Access) -> Result<(), Denial> {
    let token = TokenKind::of(principal);
    let Some(allowed) = permissions_for(token, kind, access) else {
        return Err(Denial::NoSignedInUser);
    };
    let requires_role =
        token == TokenKind::Delegated && kind == TargetKind::OtherUser && access == Access::Write;
    let has_permission = principal.permissions().iter().any(|p| allowed.contains(p));
    let has_role = !requires_role
        || PHOTO_ADMIN_ROLES
            .iter()
            .any(|(id, _)| principal.has_directory_role(id));
    if has_permission && has_role {
        Ok(())
    } else {
        Err(Denial::Forbidden {
            token,
            permissions: allowed.to_vec(),
            requires_role,
        })
    }
}

impl Denial {
    /// The sentence after Graph's "Access is denied." naming what would have allowed it.
    pub fn remedy(&self) -> String {
        match self {
            Denial::NoSignedInUser => String::new(),
            Denial::Forbidden {
                permissions, ..
            } if permissions.is_empty() => {
                "Contacts of another user are private to their owner: no delegated permission allows this; an application permission (Contacts.Read, Contacts.ReadWrite) does.".to_owned()
            }
            Denial::Forbidden {
                token,
                permissions,
                requires_role,
            } => {
                let names: Vec<&str> = permissions.iter().map(Scope::name).collect();
                let kind = token.name();
                let mut text = format!("Requires one of the {kind} permissions: {}", names.join(", "));
                if *requires_role {
                    let roles: Vec<&str> = PHOTO_ADMIN_ROLES.iter().map(|(_, n)| *n).collect();
                    text.push_str(&format!(
                        ", and the signed-in user must hold one of the directory roles: {}",
                        roles.join(", ")
                    ));
                }
                text.push('.');
                text
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::{ApplicationPrincipal, DelegatedPrincipal, TenantId};
    use proptest::prelude::*;

    fn delegated(scopes: &[&str], roles: &[&str]) -> Principal {
        Principal::Delegated(DelegatedPrincipal {
            tenant: TenantId::new("t"),
            user_id: "u".into(),
            scopes: scopes.iter().map(|s| Scope::from(*s)).collect(),
            directory_roles: roles.iter().map(|r| r.to_string()).collect(),
            app_id: None,
        })
    }

    fn app(roles: &[&str]) -> Principal {
        Principal::Application(ApplicationPrincipal {
            tenant: TenantId::new("t"),
            app_id: "a".into(),
            roles: roles.iter().map(|s| Scope::from(*s)).collect(),
        })
    }

    fn allowed(p: &Principal, kind: TargetKind, access: Access) -> bool {
        authorize(p, kind, access).is_ok()
    }

    use Access::*;
    use TargetKind::*;

    /// Every row of D4, written out from the spec rather than from `permissions_for`.
    #[test]
    fn d4_write_table() {
        for s in [
            "User.ReadWrite",
            "User.ReadWrite.All",
            "ProfilePhoto.ReadWrite.All",
        ] {
            assert!(allowed(&delegated(&[s], &[]), Me, Write), "{s}");
        }
        for s in [
            "User.Read",
            "User.Read.All",
            "ProfilePhoto.Read.All",
            "Group.ReadWrite.All",
        ] {
            assert!(!allowed(&delegated(&[s], &[]), Me, Write), "{s}");
        }
        assert_eq!(
            authorize(&app(&["User.ReadWrite.All"]), Me, Write),
            Err(Denial::NoSignedInUser)
        );

        for s in ["User.ReadWrite.All", "ProfilePhoto.ReadWrite.All"] {
            for role in [
                GLOBAL_ADMINISTRATOR,
                USER_ADMINISTRATOR,
                PEOPLE_ADMINISTRATOR,
            ] {
                assert!(allowed(&delegated(&[s], &[role]), OtherUser, Write));
            }
            // The permission alone is not enough for a delegated caller.
            assert!(!allowed(&delegated(&[s], &[]), OtherUser, Write));
            assert!(!allowed(
                &delegated(&[s], &["88d8e3e3-8f55-4a1e-953a-9b9898b8876b"]),
                OtherUser,
                Write
            ));
            assert!(allowed(&app(&[s]), OtherUser, Write));
        }
        assert!(!allowed(
            &delegated(&["User.ReadWrite"], &[GLOBAL_ADMINISTRATOR]),
            OtherUser,
            Write
        ));
        assert!(!allowed(&app(&["User.Read.All"]), OtherUser, Write));

        for s in ["Group.ReadWrite.All", "ProfilePhoto.ReadWrite.All"] {
            assert!(allowed(&delegated(&[s], &[]), Group, Write));
            assert!(allowed(&app(&[s]), Group, Write));
        }
        assert!(!allowed(
            &delegated(&["Group.Read.All", "User.ReadWrite.All"], &[]),
            Group,
            Write
        ));

        assert!(allowed(
            &delegated(&["Contacts.ReadWrite"], &[]),
            ContactOfMe,
            Write
        ));
        assert!(!allowed(
            &delegated(&["Contacts.Read", "User.ReadWrite.All"], &[]),
            ContactOfMe,
            Write
        ));
        assert_eq!(
            authorize(&app(&["Contacts.ReadWrite"]), ContactOfMe, Write),
            Err(Denial::NoSignedInUser)
        );

        assert!(!allowed(
            &delegated(&["Contacts.ReadWrite"], &[GLOBAL_ADMINISTRATOR]),
            ContactOfOtherUser,
            Write
        ));
        assert!(allowed(
            &app(&["Contacts.ReadWrite"]),
            ContactOfOtherUser,
            Write
        ));
        assert!(!allowed(
            &app(&["Contacts.Read"]),
            ContactOfOtherUser,
            Write
        ));
    }

    /// Every row of D5.
    #[test]
    fn d5_read_table() {
        for s in [
            "User.Read",
            "User.ReadWrite",
            "User.ReadBasic.All",
            "User.Read.All",
            "User.ReadWrite.All",
            "ProfilePhoto.Read.All",
            "ProfilePhoto.ReadWrite.All",
        ] {
            assert!(allowed(&delegated(&[s], &[]), Me, Read), "{s}");
        }
        assert!(!allowed(
            &delegated(&["Contacts.Read", "Group.Read.All"], &[]),
            Me,
            Read
        ));
        assert_eq!(
            authorize(&app(&["User.Read.All"]), Me, Read),
            Err(Denial::NoSignedInUser)
        );

        for s in [
            "User.ReadBasic.All",
            "User.Read.All",
            "User.ReadWrite.All",
            "ProfilePhoto.Read.All",
            "ProfilePhoto.ReadWrite.All",
        ] {
            assert!(allowed(&delegated(&[s], &[]), OtherUser, Read), "{s}");
        }
        assert!(!allowed(
            &delegated(&["User.Read", "User.ReadWrite"], &[]),
            OtherUser,
            Read
        ));
        for s in [
            "User.Read.All",
            "User.ReadWrite.All",
            "ProfilePhoto.Read.All",
            "ProfilePhoto.ReadWrite.All",
        ] {
            assert!(allowed(&app(&[s]), OtherUser, Read), "{s}");
        }
        // User.ReadBasic.All is delegated-only in the table.
        assert!(!allowed(&app(&["User.ReadBasic.All"]), OtherUser, Read));

        for s in [
            "Group.Read.All",
            "Group.ReadWrite.All",
            "ProfilePhoto.Read.All",
            "ProfilePhoto.ReadWrite.All",
        ] {
            assert!(allowed(&delegated(&[s], &[]), Group, Read));
            assert!(allowed(&app(&[s]), Group, Read));
        }
        assert!(!allowed(&delegated(&["User.Read.All"], &[]), Group, Read));

        for s in ["Contacts.Read", "Contacts.ReadWrite"] {
            assert!(allowed(&delegated(&[s], &[]), ContactOfMe, Read));
            assert!(!allowed(
                &delegated(&[s], &[GLOBAL_ADMINISTRATOR]),
                ContactOfOtherUser,
                Read
            ));
            assert!(allowed(&app(&[s]), ContactOfOtherUser, Read));
        }
        assert!(!allowed(&delegated(&["User.Read"], &[]), ContactOfMe, Read));
        assert_eq!(
            authorize(&app(&["Contacts.Read"]), ContactOfMe, Read),
            Err(Denial::NoSignedInUser)
        );
    }

    #[test]
    fn denial_names_what_would_have_allowed_it() {
        let denial = authorize(&delegated(&["User.Read"], &[]), OtherUser, Write).unwrap_err();
        let remedy = denial.remedy();
        assert!(remedy.contains("User.ReadWrite.All"), "{remedy}");
        assert!(remedy.contains("ProfilePhoto.ReadWrite.All"), "{remedy}");
        assert!(remedy.contains("User Administrator"), "{remedy}");
        let denial = authorize(&delegated(&[], &[]), ContactOfOtherUser, Read).unwrap_err();
        assert!(denial.remedy().contains("private"));
    }

    fn arb_scope() -> impl Strategy<Value = Scope> {
        prop_oneof![
            proptest::sample::select(Scope::KNOWN.to_vec()),
            "[A-Za-z.]{1,12}".prop_map(|s| Scope::from(s.as_str())),
        ]
    }

    fn arb_role() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(
                PHOTO_ADMIN_ROLES
                    .iter()
                    .map(|(id, _)| id.to_string())
                    .collect::<Vec<_>>()
            ),
            "[0-9a-f-]{8,36}",
        ]
    }

    fn arb_principal() -> impl Strategy<Value = Principal> {
        let scopes = || proptest::collection::vec(arb_scope(), 0..5);
        let roles = proptest::collection::vec(arb_role(), 0..3);
        prop_oneof![
            (scopes(), roles).prop_map(|(scopes, directory_roles)| Principal::Delegated(
                DelegatedPrincipal {
                    tenant: TenantId::new("t"),
                    user_id: "u".into(),
                    scopes,
                    directory_roles,
                    app_id: None,
                }
            )),
            scopes().prop_map(|roles| Principal::Application(ApplicationPrincipal {
                tenant: TenantId::new("t"),
                app_id: "a".into(),
                roles,
            })),
        ]
    }

    fn arb_kind() -> impl Strategy<Value = TargetKind> {
        proptest::sample::select(TargetKind::ALL.to_vec())
    }

    fn arb_access() -> impl Strategy<Value = Access> {
        prop_oneof![Just(Read), Just(Write)]
    }

    proptest! {
        #[test]
        fn adding_a_permission_never_removes_access(p in arb_principal(), extra in arb_scope(), kind in arb_kind(), access in arb_access()) {
            let before = allowed(&p, kind, access);
            let mut q = p.clone();
            match &mut q {
                Principal::Delegated(d) => d.scopes.push(extra),
                Principal::Application(a) => a.roles.push(extra),
            }
            prop_assert!(!before || allowed(&q, kind, access));
        }

        #[test]
        fn adding_a_directory_role_never_removes_access(p in arb_principal(), role in arb_role(), kind in arb_kind(), access in arb_access()) {
            let before = allowed(&p, kind, access);
            let mut q = p.clone();
            if let Principal::Delegated(d) = &mut q { d.directory_roles.push(role) }
            prop_assert!(!before || allowed(&q, kind, access));
        }

        #[test]
        fn an_application_is_never_me(p in arb_principal(), access in arb_access()) {
            if matches!(p, Principal::Application(_)) {
                prop_assert_eq!(authorize(&p, Me, access), Err(Denial::NoSignedInUser));
                prop_assert_eq!(authorize(&p, ContactOfMe, access), Err(Denial::NoSignedInUser));
            }
        }

        #[test]
        fn contacts_of_another_user_are_never_reachable_delegated(p in arb_principal(), access in arb_access()) {
            if matches!(p, Principal::Delegated(_)) {
                prop_assert!(!allowed(&p, ContactOfOtherUser, access));
            }
        }

        #[test]
        fn write_access_implies_read_access(p in arb_principal(), kind in arb_kind()) {
            prop_assert!(!allowed(&p, kind, Write) || allowed(&p, kind, Read));
        }
    }
}
