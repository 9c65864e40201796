//! Identifiers of directory objects, as the directory spells them.

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
