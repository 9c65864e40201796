//! Support for the end-to-end tests, in one place: the router over the real adapters with the
//! production wiring, tokens for the seeded users, images and the assertions every response must
//! pass (spec C6, C7); and the real `graph-photo` binary: find (or build) it, run its subcommands,
//! and run `graph-photo serve` as a child process the way a user would, killed when dropped.
//! Data directories are seeded with the committed test key.

mod binary;
mod images;
mod in_process;
mod responses;
mod tokens;

pub(crate) use binary::*;
pub(crate) use images::*;
pub(crate) use in_process::*;
pub(crate) use responses::*;
pub(crate) use tokens::*;
