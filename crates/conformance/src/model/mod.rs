//! The reference model: the spec's rules written out plainly, independent of photo-core.
//!
//! State is one optional photo per directory object (user, group, contact) of the fixture,
//! plus every ETag seen so far (spec C8: an ETag names one content). Given what a request
//! names and who sends it, [`Model::expect`] says what the answer must be, following the order
//! of checks of spec D7.

mod expect;
mod gate;
mod permissions;
mod state;
#[cfg(test)]
mod tests;

pub(crate) use expect::{Expect, Msg, ReadTarget, Success};
pub(crate) use gate::{Gate, Sent, SentOwner};
pub(crate) use permissions::Access;
pub(crate) use state::{content_hash, Model, ObjKey, Photo};
