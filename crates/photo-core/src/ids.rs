//! Identifiers of directory objects: as the directory spells them ([`ObjectId`]) and as a
//! request names a user ([`UserRef`]).

use std::fmt;

/// The `id` of a directory object: a user's or a group's object id (a GUID), a contact's or a
/// contact folder's opaque id. Holds the canonical spelling the directory gave (a `Directory`
/// adapter resolves case and UPNs), so two equal objects have equal ids and a store can use it
/// as a key as is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(String);

impl ObjectId {
    /// An id as the directory spells it.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ObjectId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

impl From<String> for ObjectId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl PartialEq<str> for ObjectId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ObjectId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// A user as a request names one: an object id or a userPrincipalName, spelled as the request
/// gave it (`/users/{id | userPrincipalName}`), or the caller's object id for `/me`.
///
/// Not canonical, unlike [`ObjectId`]: a `Directory` adapter compares it case-insensitively
/// and answers with the user's [`ObjectId`]. Equality here is exact, so that an error can carry
/// the reference as it was given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserRef(String);

impl UserRef {
    /// A user reference as the request gave it.
    pub fn new(user: impl Into<String>) -> Self {
        Self(user.into())
    }

    /// The reference as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for UserRef {
    fn from(user: &str) -> Self {
        Self::new(user)
    }
}

impl From<String> for UserRef {
    fn from(user: String) -> Self {
        Self(user)
    }
}

/// A user by object id (the caller of a `/me` request, say).
impl From<&ObjectId> for UserRef {
    fn from(id: &ObjectId) -> Self {
        Self::new(id.as_str())
    }
}

impl From<ObjectId> for UserRef {
    fn from(id: ObjectId) -> Self {
        Self(id.0)
    }
}
