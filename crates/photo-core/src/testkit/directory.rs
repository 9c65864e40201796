//! The [`Directory`] contract checks.

use std::fmt::Display;
use std::sync::Arc;

use crate::ports::{Directory, DirectoryEntry, DirectoryError, PhotoOwner};
use crate::principal::TenantId;
use crate::target::{Owner, Target};

/// The objects [`check_directory`] expects the directory under test to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryFixture {
    /// The tenant holding everything below except `other_tenant_user_id`.
    pub tenant: TenantId,
    /// A user's object id (GUID) ...
    pub user_id: String,
    /// ... and userPrincipalName.
    pub user_upn: String,
    /// Another user of `tenant`.
    pub other_user_id: String,
    /// A group of `tenant`.
    pub group_id: String,
    /// A contact folder of the user `user_id`.
    pub folder_id: String,
    /// A contact of the user `user_id` in the folder `folder_id`.
    pub contact_in_folder: String,
    /// A contact of the user `user_id` in no folder.
    pub contact_without_folder: String,
    /// A second tenant.
    pub other_tenant: TenantId,
    /// A user of `other_tenant`.
    pub other_tenant_user_id: String,
}

fn directory_violated(contract: &str, detail: impl Display) -> ! {
    panic!("Directory contract violated: {contract}: {detail}")
}

async fn same_user(
    directory: &dyn Directory,
    tenant: &TenantId,
    caller_id: &str,
    user: &str,
    expected: bool,
    contract: &str,
) {
    match directory.is_same_user(tenant, caller_id, user).await {
        Ok(got) if got == expected => {}
        got => directory_violated(
            contract,
            format_args!(
                "is_same_user(tenant {tenant}, caller {caller_id:?}, user {user:?}) returned {got:?}, expected Ok({expected})"
            ),
        ),
    }
}

async fn resolve_ok(
    directory: &dyn Directory,
    tenant: &TenantId,
    caller_id: Option<&str>,
    target: &Target,
    contract: &str,
) -> DirectoryEntry {
    match directory.resolve(tenant, caller_id, target).await {
        Ok(entry) => {
            if &entry.key.tenant != tenant {
                directory_violated(
                    contract,
                    format_args!(
                        "resolve(tenant {tenant}, {target:?}) gave a key of tenant {} (spec D3)",
                        entry.key.tenant
                    ),
                );
            }
            entry
        }
        Err(e) => directory_violated(
            contract,
            format_args!(
                "resolve(tenant {tenant}, caller {caller_id:?}, {target:?}) failed: {e:?}"
            ),
        ),
    }
}

async fn resolve_err(
    directory: &dyn Directory,
    tenant: &TenantId,
    caller_id: Option<&str>,
    target: &Target,
    expected: DirectoryError,
    contract: &str,
) {
    let got = directory.resolve(tenant, caller_id, target).await;
    if got.as_ref().err() != Some(&expected) {
        directory_violated(
            contract,
            format_args!(
                "resolve(tenant {tenant}, caller {caller_id:?}, {target:?}) returned {got:?}, expected Err({expected:?})"
            ),
        );
    }
}

fn expect_key(entry: &DirectoryEntry, expected: &DirectoryEntry, target: &Target, contract: &str) {
    if entry != expected {
        directory_violated(
            contract,
            format_args!("{target:?} resolved to {entry:?}, but the same object was {expected:?}"),
        );
    }
}

/// A mixed-case copy, so that a directory comparing case-sensitively is caught whatever the
/// case of the fixture's ids.
fn mixed_case(s: &str) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Runs every [`Directory`] contract check against `directory`, which must hold the objects
/// `fixture` names; panics on the first violation.
///
/// Checked: `is_same_user` by id and UPN in any case, `Ok(false)` for another or a missing
/// user; `/me`, `/users/{id}` and `/users/{UPN}` (any case) resolve to the same key; groups;
/// contacts with and without a folder path (spec E1); the `*NotFound` errors carry the id as
/// the request gave it; tenant isolation (spec D3); a user's contacts are not reachable
/// through another user.
pub async fn check_directory(directory: Arc<dyn Directory>, fixture: &DirectoryFixture) {
    let d = &*directory;
    let f = fixture;
    check_is_same_user(d, f).await;
    check_users(d, f).await;
    check_groups(d, f).await;
    check_contacts(d, f).await;
    check_directory_isolation(d, f).await;
}

async fn check_is_same_user(d: &dyn Directory, f: &DirectoryFixture) {
    let t = &f.tenant;
    let me = f.user_id.as_str();
    let contract = "is_same_user compares object ids case-insensitively";
    for user in [
        f.user_id.clone(),
        f.user_id.to_ascii_uppercase(),
        f.user_id.to_ascii_lowercase(),
    ] {
        same_user(d, t, me, &user, true, contract).await;
    }
    same_user(d, t, &f.user_id.to_ascii_uppercase(), me, true, contract).await;
    let contract = "is_same_user accepts the userPrincipalName in any case";
    for user in [
        f.user_upn.clone(),
        f.user_upn.to_uppercase(),
        f.user_upn.to_lowercase(),
        mixed_case(&f.user_upn),
    ] {
        same_user(d, t, me, &user, true, contract).await;
    }
    let contract = "is_same_user is false for another user";
    same_user(d, t, me, &f.other_user_id, false, contract).await;
    same_user(d, t, &f.other_user_id, &f.user_upn, false, contract).await;
    let contract =
        "is_same_user is Ok(false), not an error, for a user that does not exist (spec D7 step 4)";
    same_user(
        d,
        t,
        me,
        "00000000-0000-0000-0000-00000000dead",
        false,
        contract,
    )
    .await;
    same_user(d, t, me, "nobody@testkit.invalid", false, contract).await;
    same_user(d, t, me, &f.other_tenant_user_id, false, contract).await;
}

async fn check_users(d: &dyn Directory, f: &DirectoryFixture) {
    let t = &f.tenant;
    let me = Some(f.user_id.as_str());
    let contract = "/me resolves to the caller's user key";
    let entry = resolve_ok(d, t, me, &Target::Me, contract).await;
    match &entry.key.owner {
        PhotoOwner::User(id) if id.as_str().eq_ignore_ascii_case(&f.user_id) => {}
        other => directory_violated(
            contract,
            format_args!("/me of {} resolved to {other:?}", f.user_id),
        ),
    }

    let contract =
        "/me, /users/{id} and /users/{userPrincipalName} (any case) resolve to the same key";
    for user in [
        f.user_id.clone(),
        f.user_id.to_ascii_uppercase(),
        f.user_id.to_ascii_lowercase(),
        f.user_upn.clone(),
        f.user_upn.to_uppercase(),
        f.user_upn.to_lowercase(),
        mixed_case(&f.user_upn),
    ] {
        let target = Target::User(user);
        // The caller does not matter for /users/{u}: not signed in, or another user.
        for caller in [me, None, Some(f.other_user_id.as_str())] {
            let got = resolve_ok(d, t, caller, &target, contract).await;
            expect_key(&got, &entry, &target, contract);
        }
    }
    let contract = "another user resolves to another key";
    let other = resolve_ok(d, t, me, &Target::User(f.other_user_id.clone()), contract).await;
    if other.key == entry.key {
        directory_violated(
            contract,
            format_args!("{} and {} gave the same key", f.user_id, f.other_user_id),
        );
    }
    let contract = "/me resolves to whoever the caller is";
    let other_me = resolve_ok(d, t, Some(&f.other_user_id), &Target::Me, contract).await;
    expect_key(&other_me, &other, &Target::Me, contract);

    let contract = "an unknown user is UserNotFound carrying the id as given";
    for missing in [
        "00000000-0000-0000-0000-00000000DEAD",
        "Nobody@Testkit.invalid",
        "not a user/with#odd%chars",
    ] {
        resolve_err(
            d,
            t,
            me,
            &Target::User(missing.into()),
            DirectoryError::UserNotFound(missing.into()),
            contract,
        )
        .await;
    }
    let contract =
        "/me of a caller missing from the directory is UserNotFound carrying the caller id";
    let ghost = "00000000-0000-0000-0000-0000000000AB";
    resolve_err(
        d,
        t,
        Some(ghost),
        &Target::Me,
        DirectoryError::UserNotFound(ghost.into()),
        contract,
    )
    .await;
    let contract = "a group id is not a user";
    resolve_err(
        d,
        t,
        me,
        &Target::User(f.group_id.clone()),
        DirectoryError::UserNotFound(f.group_id.clone()),
        contract,
    )
    .await;
}

async fn check_groups(d: &dyn Directory, f: &DirectoryFixture) {
    let t = &f.tenant;
    let contract = "a group resolves to its group key, with or without a signed-in user";
    let group = Target::Group(f.group_id.clone());
    let entry = resolve_ok(d, t, Some(&f.user_id), &group, contract).await;
    match &entry.key.owner {
        PhotoOwner::Group(id) if id.as_str().eq_ignore_ascii_case(&f.group_id) => {}
        other => directory_violated(
            contract,
            format_args!("group {} resolved to {other:?}", f.group_id),
        ),
    }
    let app = resolve_ok(d, t, None, &group, contract).await;
    expect_key(&app, &entry, &group, contract);
    let contract =
        "group ids (GUIDs) compare case-insensitively: every case resolves to the same key";
    for id in [
        f.group_id.to_ascii_uppercase(),
        f.group_id.to_ascii_lowercase(),
    ] {
        let target = Target::Group(id);
        let got = resolve_ok(d, t, None, &target, contract).await;
        expect_key(&got, &entry, &target, contract);
    }

    let contract = "an unknown group is GroupNotFound carrying the id as given";
    for missing in ["00000000-0000-0000-0000-00000000BEEF", "no such group"] {
        resolve_err(
            d,
            t,
            Some(&f.user_id),
            &Target::Group(missing.into()),
            DirectoryError::GroupNotFound(missing.into()),
            contract,
        )
        .await;
    }
    let contract = "a user id is not a group";
    resolve_err(
        d,
        t,
        None,
        &Target::Group(f.user_id.clone()),
        DirectoryError::GroupNotFound(f.user_id.clone()),
        contract,
    )
    .await;
}

fn contact(owner: Owner, folder: Option<&str>, id: &str) -> Target {
    Target::Contact {
        owner,
        folder: folder.map(str::to_owned),
        id: id.to_owned(),
    }
}

async fn check_contacts(d: &dyn Directory, f: &DirectoryFixture) {
    let t = &f.tenant;
    let me = Some(f.user_id.as_str());
    let user = || Owner::User(f.user_id.clone());

    let contract = "a contact resolves to a contact key of its owner";
    let plain_target = contact(user(), None, &f.contact_without_folder);
    let plain = resolve_ok(d, t, me, &plain_target, contract).await;
    match &plain.key.owner {
        PhotoOwner::Contact { user, contact }
            if user.as_str().eq_ignore_ascii_case(&f.user_id)
                && contact.as_str() == f.contact_without_folder => {}
        other => directory_violated(
            contract,
            format_args!("{plain_target:?} resolved to {other:?}"),
        ),
    }
    let user_entry = resolve_ok(d, t, me, &Target::Me, contract).await;
    if plain.account != user_entry.account {
        directory_violated(
            "a contact's account kind is its owner's",
            format_args!(
                "contact {:?} vs owner {:?}",
                plain.account, user_entry.account
            ),
        );
    }

    let contract = "a contact resolves to the same key through /me, /users/{id} and /users/{UPN}";
    for (owner, caller) in [
        (Owner::Me, me),
        (Owner::User(f.user_id.to_ascii_uppercase()), None),
        (Owner::User(f.user_upn.clone()), None),
        (
            Owner::User(f.user_upn.to_uppercase()),
            Some(f.other_user_id.as_str()),
        ),
    ] {
        let target = contact(owner, None, &f.contact_without_folder);
        let got = resolve_ok(d, t, caller, &target, contract).await;
        expect_key(&got, &plain, &target, contract);
    }

    let contract = "/contacts/{id} finds a contact in any folder, and the folder path gives the same key (spec E1)";
    let anywhere = contact(user(), None, &f.contact_in_folder);
    let in_folder = resolve_ok(d, t, me, &anywhere, contract).await;
    for (owner, caller) in [(user(), None), (Owner::Me, me)] {
        let target = contact(owner, Some(&f.folder_id), &f.contact_in_folder);
        let got = resolve_ok(d, t, caller, &target, contract).await;
        expect_key(&got, &in_folder, &target, contract);
    }
    if in_folder.key == plain.key {
        directory_violated(
            "two contacts resolve to two keys",
            format_args!(
                "{} and {} gave the same key",
                f.contact_in_folder, f.contact_without_folder
            ),
        );
    }

    let contract = "a folder path finds only contacts in that folder: ContactNotFound carrying the id (spec E1)";
    resolve_err(
        d,
        t,
        me,
        &contact(Owner::Me, Some(&f.folder_id), &f.contact_without_folder),
        DirectoryError::ContactNotFound(f.contact_without_folder.clone()),
        contract,
    )
    .await;

    let contract = "an unknown contact folder is ContactFolderNotFound carrying the id as given";
    let missing_folder = "AAMkTestkitNoSuchFolder=";
    for id in [&f.contact_in_folder, &f.contact_without_folder] {
        resolve_err(
            d,
            t,
            me,
            &contact(Owner::Me, Some(missing_folder), id),
            DirectoryError::ContactFolderNotFound(missing_folder.into()),
            contract,
        )
        .await;
    }
    let contract = "a contact id is not a folder id";
    resolve_err(
        d,
        t,
        me,
        &contact(user(), Some(&f.contact_in_folder), &f.contact_in_folder),
        DirectoryError::ContactFolderNotFound(f.contact_in_folder.clone()),
        contract,
    )
    .await;

    let contract = "an unknown contact is ContactNotFound carrying the id as given";
    let missing_contact = "AAMkTestkitNoSuchContact=";
    for folder in [None, Some(f.folder_id.as_str())] {
        resolve_err(
            d,
            t,
            me,
            &contact(user(), folder, missing_contact),
            DirectoryError::ContactNotFound(missing_contact.into()),
            contract,
        )
        .await;
    }
    let contract = "a folder id is not a contact id";
    resolve_err(
        d,
        t,
        me,
        &contact(user(), None, &f.folder_id),
        DirectoryError::ContactNotFound(f.folder_id.clone()),
        contract,
    )
    .await;

    let contract = "a contact of an unknown user is UserNotFound carrying the user id as given";
    let missing_user = "00000000-0000-0000-0000-0000000000CD";
    resolve_err(
        d,
        t,
        me,
        &contact(
            Owner::User(missing_user.into()),
            None,
            &f.contact_without_folder,
        ),
        DirectoryError::UserNotFound(missing_user.into()),
        contract,
    )
    .await;

    let contract = "a user's contacts are not reachable through another user: ContactNotFound";
    for id in [&f.contact_without_folder, &f.contact_in_folder] {
        resolve_err(
            d,
            t,
            Some(&f.other_user_id),
            &contact(Owner::User(f.other_user_id.clone()), None, id),
            DirectoryError::ContactNotFound(id.clone()),
            contract,
        )
        .await;
        resolve_err(
            d,
            t,
            Some(&f.other_user_id),
            &contact(Owner::Me, None, id),
            DirectoryError::ContactNotFound(id.clone()),
            contract,
        )
        .await;
    }
    let contract =
        "a user's contact folders are not reachable through another user: ContactFolderNotFound";
    resolve_err(
        d,
        t,
        None,
        &contact(
            Owner::User(f.other_user_id.clone()),
            Some(&f.folder_id),
            &f.contact_in_folder,
        ),
        DirectoryError::ContactFolderNotFound(f.folder_id.clone()),
        contract,
    )
    .await;
}

async fn check_directory_isolation(d: &dyn Directory, f: &DirectoryFixture) {
    let (t, o) = (&f.tenant, &f.other_tenant);
    let contract = "the other tenant's user resolves in its own tenant";
    let theirs = resolve_ok(
        d,
        o,
        None,
        &Target::User(f.other_tenant_user_id.clone()),
        contract,
    )
    .await;
    let their_me = resolve_ok(d, o, Some(&f.other_tenant_user_id), &Target::Me, contract).await;
    expect_key(&their_me, &theirs, &Target::Me, contract);

    let contract = "tenants are isolated: another tenant's objects are not found (spec D3)";
    resolve_err(
        d,
        t,
        Some(&f.user_id),
        &Target::User(f.other_tenant_user_id.clone()),
        DirectoryError::UserNotFound(f.other_tenant_user_id.clone()),
        contract,
    )
    .await;
    resolve_err(
        d,
        o,
        Some(&f.other_tenant_user_id),
        &Target::User(f.user_id.clone()),
        DirectoryError::UserNotFound(f.user_id.clone()),
        contract,
    )
    .await;
    resolve_err(
        d,
        o,
        None,
        &Target::User(f.user_upn.clone()),
        DirectoryError::UserNotFound(f.user_upn.clone()),
        contract,
    )
    .await;
    resolve_err(
        d,
        t,
        Some(&f.other_tenant_user_id),
        &Target::Me,
        DirectoryError::UserNotFound(f.other_tenant_user_id.clone()),
        contract,
    )
    .await;
    resolve_err(
        d,
        o,
        None,
        &Target::Group(f.group_id.clone()),
        DirectoryError::GroupNotFound(f.group_id.clone()),
        contract,
    )
    .await;
    resolve_err(
        d,
        o,
        None,
        &contact(
            Owner::User(f.user_id.clone()),
            None,
            &f.contact_without_folder,
        ),
        DirectoryError::UserNotFound(f.user_id.clone()),
        contract,
    )
    .await;
    same_user(d, o, &f.other_tenant_user_id, &f.user_id, false, contract).await;
    same_user(d, o, &f.user_id, &f.user_id, false, contract).await;
    same_user(
        d,
        t,
        &f.other_tenant_user_id,
        &f.other_tenant_user_id,
        false,
        contract,
    )
    .await;
}
