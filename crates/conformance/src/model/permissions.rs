//! Spec D4 and D5: which permissions allow what, for each kind of target.

use crate::fixture::Claims;
use crate::fixture::{GLOBAL_ADMINISTRATOR, PEOPLE_ADMINISTRATOR, USER_ADMINISTRATOR};

use super::Model;

// Spec D4 and D5, written out again (names compare case-insensitively, D2).
const READ_ME: &[&str] = &[
    "User.Read",
    "User.ReadWrite",
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "ProfilePhoto.Read.All",
    "ProfilePhoto.ReadWrite.All",
];
const READ_OTHER_USER_DELEGATED: &[&str] = &[
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "ProfilePhoto.Read.All",
    "ProfilePhoto.ReadWrite.All",
];
const READ_OTHER_USER_APP: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "ProfilePhoto.Read.All",
    "ProfilePhoto.ReadWrite.All",
];
const READ_GROUP: &[&str] = &[
    "Group.Read.All",
    "Group.ReadWrite.All",
    "ProfilePhoto.Read.All",
    "ProfilePhoto.ReadWrite.All",
];
const READ_CONTACT: &[&str] = &["Contacts.Read", "Contacts.ReadWrite"];
const WRITE_ME: &[&str] = &[
    "User.ReadWrite",
    "User.ReadWrite.All",
    "ProfilePhoto.ReadWrite.All",
];
const WRITE_OTHER_USER: &[&str] = &["User.ReadWrite.All", "ProfilePhoto.ReadWrite.All"];
const WRITE_GROUP: &[&str] = &["Group.ReadWrite.All", "ProfilePhoto.ReadWrite.All"];
const WRITE_CONTACT: &[&str] = &["Contacts.ReadWrite"];
const PHOTO_ADMIN_ROLES: &[&str] = &[
    GLOBAL_ADMINISTRATOR,
    USER_ADMINISTRATOR,
    PEOPLE_ADMINISTRATOR,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

/// The kind of target for this caller (D7 step 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Me,
    OtherUser,
    Group,
    ContactOfMe,
    ContactOfOtherUser,
}

fn has_any(granted: &[String], wanted: &[&str]) -> bool {
    granted
        .iter()
        .any(|g| wanted.iter().any(|w| w.eq_ignore_ascii_case(g)))
}

impl<'f> Model<'f> {
    /// Spec D4/D5: whether the caller may, and which permissions would have allowed it.
    pub(super) fn allowed(caller: &Claims, kind: Kind, access: Access) -> (bool, &'static str) {
        let granted = caller.permissions();
        let delegated = caller.is_delegated();
        let admin = caller
            .directory_roles
            .iter()
            .any(|r| PHOTO_ADMIN_ROLES.iter().any(|a| a.eq_ignore_ascii_case(r)));
        let (wanted, rule): (&[&str], _) = match (access, kind, delegated) {
            (Access::Read, Kind::Me, _) => (READ_ME, "D5"),
            (Access::Read, Kind::OtherUser, true) => (READ_OTHER_USER_DELEGATED, "D5"),
            (Access::Read, Kind::OtherUser, false) => (READ_OTHER_USER_APP, "D5"),
            (Access::Read, Kind::Group, _) => (READ_GROUP, "D5"),
            (Access::Read, Kind::ContactOfMe, _) => (READ_CONTACT, "D5"),
            (Access::Read, Kind::ContactOfOtherUser, true) => (&[], "D5"),
            (Access::Read, Kind::ContactOfOtherUser, false) => (READ_CONTACT, "D5"),
            (Access::Write, Kind::Me, _) => (WRITE_ME, "D4"),
            (Access::Write, Kind::OtherUser, true) => {
                if !admin {
                    return (false, "D4");
                }
                (WRITE_OTHER_USER, "D4")
            }
            (Access::Write, Kind::OtherUser, false) => (WRITE_OTHER_USER, "D4"),
            (Access::Write, Kind::Group, _) => (WRITE_GROUP, "D4"),
            (Access::Write, Kind::ContactOfMe, _) => (WRITE_CONTACT, "D4"),
            (Access::Write, Kind::ContactOfOtherUser, true) => (&[], "D4"),
            (Access::Write, Kind::ContactOfOtherUser, false) => (WRITE_CONTACT, "D4"),
        };
        (has_any(granted, wanted), rule)
    }
}
