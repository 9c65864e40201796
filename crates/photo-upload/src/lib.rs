//! Client-side use cases over [`adapter_graph_client::GraphClient`], for the `graph-photo` CLI
//! and for any program that uploads profile photos:
//!
//! - [`fit`]: make a photo that Graph would refuse (too large, too big a side, another format)
//!   acceptable, by downscaling and re-encoding it; photos that fit are left alone.
//! - [`sync`]: upload a folder of photos to many targets from a `file,target` CSV map, in
//!   parallel (bounded), resumable through a state file, reporting progress through
//!   [`sync::Progress`].
//!
//! Nothing here draws on a terminal or reads command-line arguments.

pub mod fit;
pub mod sync;

use photo_core::target::{Route, Target};

/// The photo's owner as a person writes it, e.g. `me`, `users/ID`, `groups/ID`,
/// `me/contacts/ID`, `users/ID/contactFolders/F/contacts/C` (ids raw or percent-encoded; slashes
/// around it ignored), read with the server's own path grammar. The error says what is expected.
pub fn parse_target(text: &str) -> Result<Target, String> {
    let trimmed = text.trim().trim_matches('/');
    if trimmed.is_empty() {
        return Err("the target is empty (e.g. me, users/ID, groups/ID)".into());
    }
    Route::parse_path(&format!("/v1.0/{trimmed}/photo"))
        .map(|route| route.target)
        .map_err(|e| {
            format!(
                "'{trimmed}' is not a photo target ({e}); expected me, users/ID, groups/ID, \
                 me/contacts/ID or users/ID/contactFolders/F/contacts/C"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use photo_core::target::ContactOwner;

    #[test]
    fn targets_parse_like_the_server_reads_them() {
        assert_eq!(parse_target("me"), Ok(Target::Me));
        assert_eq!(
            parse_target("/users/a%40b.com/"),
            Ok(Target::User("a@b.com".into()))
        );
        assert_eq!(
            parse_target("users/lee_fabrikam.com#EXT#@contoso.onmicrosoft.com"),
            Ok(Target::User(
                "lee_fabrikam.com#EXT#@contoso.onmicrosoft.com".into()
            ))
        );
        assert_eq!(parse_target("groups/g1"), Ok(Target::Group("g1".into())));
        assert_eq!(
            parse_target("users/u/contactFolders/f/contacts/c"),
            Ok(Target::Contact {
                owner: ContactOwner::User("u".into()),
                folder: Some("f".into()),
                id: "c".into()
            })
        );
        for bad in ["", "users", "me/photo", "things/x", "groups/g/contacts/c"] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }
}
