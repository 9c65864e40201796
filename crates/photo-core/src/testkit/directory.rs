//! The [`Directory`] contract checks.

use std::fmt::Display;
use std::sync::Arc;

use crate::ids::{ObjectId, UserRef};
use crate::ports::{Directory, DirectoryEntry, DirectoryError, DirectoryQuery, PhotoOwner};
use crate::principal::TenantId;

/// The objects [`check_directory`] expects the directory under test to hold. Ids are spelled
/// as the directory spells them.
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

async fn lookup_ok(
    directory: &dyn Directory,
    tenant: &TenantId,
    query: &DirectoryQuery,
    contract: &str,
) -> DirectoryEntry {
    match directory.lookup(tenant, query).await {
        Ok(entry) => {
            if &entry.key.tenant != tenant {
                directory_violated(
                    contract,
                    format_args!(
                        "lookup(tenant {tenant}, {query:?}) gave a key of tenant {} (spec D3)",
                        entry.key.tenant
                    ),
                );
            }
            entry
        }
        Err(e) => directory_violated(
            contract,
            format_args!("lookup(tenant {tenant}, {query:?}) failed: {e:?}"),
        ),
    }
}

async fn lookup_err(
    directory: &dyn Directory,
    tenant: &TenantId,
    query: &DirectoryQuery,
    expected: DirectoryError,
    contract: &str,
) {
    let got = directory.lookup(tenant, query).await;
    if got.as_ref().err() != Some(&expected) {
        directory_violated(
            contract,
            format_args!(
                "lookup(tenant {tenant}, {query:?}) returned {got:?}, expected Err({expected:?})"
            ),
        );
    }
}

fn expect_same(
    entry: &DirectoryEntry,
    expected: &DirectoryEntry,
    query: &DirectoryQuery,
    contract: &str,
) {
    if entry != expected {
        directory_violated(
            contract,
            format_args!("{query:?} found {entry:?}, but the same object was {expected:?}"),
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

fn user(user: &str) -> DirectoryQuery {
    DirectoryQuery::User(UserRef::new(user))
}

fn group(group: &str) -> DirectoryQuery {
    DirectoryQuery::Group(group.to_owned())
}

fn contact(owner: &str, folder: Option<&str>, id: &str) -> DirectoryQuery {
    DirectoryQuery::Contact {
        owner: UserRef::new(owner),
        folder: folder.map(str::to_owned),
        contact: id.to_owned(),
    }
}

/// Every spelling a request may use for the fixture's user: the object id in three cases, the
/// userPrincipalName in four.
fn spellings(f: &DirectoryFixture) -> [String; 7] {
    [
        f.user_id.clone(),
        f.user_id.to_ascii_uppercase(),
        f.user_id.to_ascii_lowercase(),
        f.user_upn.clone(),
        f.user_upn.to_uppercase(),
        f.user_upn.to_lowercase(),
        mixed_case(&f.user_upn),
    ]
}

/// Runs every [`Directory`] contract check against `directory`, which must hold the objects
/// `fixture` names; panics on the first violation.
///
/// Checked: a user is found by object id and userPrincipalName in any case, always with the
/// same key naming their object id; groups in any case; contacts with and without a folder
/// (spec E1), keyed by their owner's object id; the `*NotFound` errors carry the ids as the
/// query gave them and, for a missing contact or folder, the owner's object id (from which the
/// service tells a contact of the caller from another user's, spec D7 step 4); tenant isolation
/// (spec D3); a user's contacts are not reachable through another user. `/me` needs no check:
/// a [`DirectoryQuery`] cannot express it.
pub async fn check_directory(directory: Arc<dyn Directory>, fixture: &DirectoryFixture) {
    let d = &*directory;
    let f = fixture;
    check_users(d, f).await;
    check_groups(d, f).await;
    check_contacts(d, f).await;
    check_directory_isolation(d, f).await;
}

/// The user's entry, after checking that it is a user key naming the user's object id.
async fn user_entry(d: &dyn Directory, t: &TenantId, id: &str, contract: &str) -> DirectoryEntry {
    let entry = lookup_ok(d, t, &user(id), contract).await;
    match (&entry.key.owner, entry.owning_user()) {
        (PhotoOwner::User(key_id), Some(owner))
            if key_id.as_str().eq_ignore_ascii_case(id) && owner == key_id => {}
        (other, owner) => directory_violated(
            contract,
            format_args!("user {id} was found as {other:?} owned by {owner:?}"),
        ),
    }
    entry
}

async fn check_users(d: &dyn Directory, f: &DirectoryFixture) {
    let t = &f.tenant;
    let contract = "a user is found as a user key naming their object id";
    let entry = user_entry(d, t, &f.user_id, contract).await;

    let contract =
        "a user is found by object id and userPrincipalName in any case, always with the same key";
    for spelling in spellings(f) {
        let query = user(&spelling);
        let got = lookup_ok(d, t, &query, contract).await;
        expect_same(&got, &entry, &query, contract);
    }
    let contract = "another user is found as another user key naming their object id";
    let other = user_entry(d, t, &f.other_user_id, contract).await;
    if other.key == entry.key {
        directory_violated(
            contract,
            format_args!("{} and {} gave the same key", f.user_id, f.other_user_id),
        );
    }

    let contract = "an unknown user is UserNotFound carrying the reference as given";
    for missing in [
        "00000000-0000-0000-0000-00000000DEAD",
        "Nobody@Testkit.invalid",
        "not a user/with#odd%chars",
    ] {
        lookup_err(
            d,
            t,
            &user(missing),
            DirectoryError::UserNotFound(missing.into()),
            contract,
        )
        .await;
    }
    let contract = "a group id is not a user";
    lookup_err(
        d,
        t,
        &user(&f.group_id),
        DirectoryError::UserNotFound(f.group_id.as_str().into()),
        contract,
    )
    .await;
}

async fn check_groups(d: &dyn Directory, f: &DirectoryFixture) {
    let t = &f.tenant;
    let contract = "a group is found as its group key";
    let entry = lookup_ok(d, t, &group(&f.group_id), contract).await;
    match &entry.key.owner {
        PhotoOwner::Group(id) if id.as_str().eq_ignore_ascii_case(&f.group_id) => {}
        other => directory_violated(
            contract,
            format_args!("group {} was found as {other:?}", f.group_id),
        ),
    }
    let contract = "group ids (GUIDs) compare case-insensitively: every case finds the same key";
    for id in [
        f.group_id.to_ascii_uppercase(),
        f.group_id.to_ascii_lowercase(),
    ] {
        let query = group(&id);
        let got = lookup_ok(d, t, &query, contract).await;
        expect_same(&got, &entry, &query, contract);
    }

    let contract = "an unknown group is GroupNotFound carrying the id as given";
    for missing in ["00000000-0000-0000-0000-00000000BEEF", "no such group"] {
        lookup_err(
            d,
            t,
            &group(missing),
            DirectoryError::GroupNotFound(missing.into()),
            contract,
        )
        .await;
    }
    let contract = "a user id is not a group";
    lookup_err(
        d,
        t,
        &group(&f.user_id),
        DirectoryError::GroupNotFound(f.user_id.clone()),
        contract,
    )
    .await;
}

/// The object id of a user as the directory's keys spell it.
async fn owner_id(d: &dyn Directory, t: &TenantId, id: &str, contract: &str) -> ObjectId {
    let entry = user_entry(d, t, id, contract).await;
    match entry.owning_user() {
        Some(owner) => owner.clone(),
        None => directory_violated(contract, format_args!("user {id} has no owner")),
    }
}

async fn check_contacts(d: &dyn Directory, f: &DirectoryFixture) {
    let t = &f.tenant;
    let contract = "a contact is found as a contact key naming its owner's object id";
    let owner = owner_id(d, t, &f.user_id, contract).await;
    let other_owner = owner_id(d, t, &f.other_user_id, contract).await;
    let plain_query = contact(&f.user_id, None, &f.contact_without_folder);
    let plain = lookup_ok(d, t, &plain_query, contract).await;
    match (&plain.key.owner, plain.owning_user()) {
        (PhotoOwner::Contact { user, contact }, Some(owning))
            if *user == owner && owning == user && contact == f.contact_without_folder.as_str() => {
        }
        (other, owning) => directory_violated(
            contract,
            format_args!("{plain_query:?} was found as {other:?} owned by {owning:?}"),
        ),
    }
    let user_entry = lookup_ok(d, t, &user(&f.user_id), contract).await;
    if plain.account != user_entry.account {
        directory_violated(
            "a contact's account kind is its owner's",
            format_args!(
                "contact {:?} vs owner {:?}",
                plain.account, user_entry.account
            ),
        );
    }

    let contract = "a contact is found with the same key whatever spelling names its owner";
    for spelling in spellings(f) {
        let query = contact(&spelling, None, &f.contact_without_folder);
        let got = lookup_ok(d, t, &query, contract).await;
        expect_same(&got, &plain, &query, contract);
    }

    let contract = "a contact query without a folder finds a contact in any folder, and one with its folder the same key (spec E1)";
    let anywhere = contact(&f.user_id, None, &f.contact_in_folder);
    let in_folder = lookup_ok(d, t, &anywhere, contract).await;
    for spelling in [f.user_id.clone(), f.user_upn.to_uppercase()] {
        let query = contact(&spelling, Some(&f.folder_id), &f.contact_in_folder);
        let got = lookup_ok(d, t, &query, contract).await;
        expect_same(&got, &in_folder, &query, contract);
    }
    if in_folder.key == plain.key {
        directory_violated(
            "two contacts are found with two keys",
            format_args!(
                "{} and {} gave the same key",
                f.contact_in_folder, f.contact_without_folder
            ),
        );
    }

    let not_found = |owner: &ObjectId, id: &str| DirectoryError::ContactNotFound {
        owner: owner.clone(),
        contact: id.to_owned(),
    };
    let folder_not_found = |owner: &ObjectId, id: &str| DirectoryError::ContactFolderNotFound {
        owner: owner.clone(),
        folder: id.to_owned(),
    };

    let contract = "a folder query finds only contacts in that folder: ContactNotFound carrying the id (spec E1)";
    lookup_err(
        d,
        t,
        &contact(&f.user_id, Some(&f.folder_id), &f.contact_without_folder),
        not_found(&owner, &f.contact_without_folder),
        contract,
    )
    .await;

    let contract = "an unknown contact folder is ContactFolderNotFound carrying the id as given";
    let missing_folder = "AAMkTestkitNoSuchFolder=";
    for id in [&f.contact_in_folder, &f.contact_without_folder] {
        lookup_err(
            d,
            t,
            &contact(&f.user_id, Some(missing_folder), id),
            folder_not_found(&owner, missing_folder),
            contract,
        )
        .await;
    }
    let contract = "a contact id is not a folder id";
    lookup_err(
        d,
        t,
        &contact(&f.user_id, Some(&f.contact_in_folder), &f.contact_in_folder),
        folder_not_found(&owner, &f.contact_in_folder),
        contract,
    )
    .await;

    let contract = "an unknown contact is ContactNotFound carrying the id as given";
    let missing_contact = "AAMkTestkitNoSuchContact=";
    for folder in [None, Some(f.folder_id.as_str())] {
        lookup_err(
            d,
            t,
            &contact(&f.user_id, folder, missing_contact),
            not_found(&owner, missing_contact),
            contract,
        )
        .await;
    }
    let contract = "a folder id is not a contact id";
    lookup_err(
        d,
        t,
        &contact(&f.user_id, None, &f.folder_id),
        not_found(&owner, &f.folder_id),
        contract,
    )
    .await;

    let contract = "ContactNotFound and ContactFolderNotFound carry the owner's object id as the directory spells it, whatever spelling named the owner";
    for spelling in spellings(f) {
        lookup_err(
            d,
            t,
            &contact(&spelling, None, missing_contact),
            not_found(&owner, missing_contact),
            contract,
        )
        .await;
        lookup_err(
            d,
            t,
            &contact(&spelling, Some(missing_folder), missing_contact),
            folder_not_found(&owner, missing_folder),
            contract,
        )
        .await;
    }

    let contract =
        "a contact of an unknown user is UserNotFound carrying the owner reference as given";
    for missing_user in [
        "00000000-0000-0000-0000-0000000000CD",
        "Nobody@Testkit.invalid",
    ] {
        for folder in [None, Some(f.folder_id.as_str())] {
            lookup_err(
                d,
                t,
                &contact(missing_user, folder, &f.contact_without_folder),
                DirectoryError::UserNotFound(missing_user.into()),
                contract,
            )
            .await;
        }
    }

    let contract = "a user's contacts are not reachable through another user: ContactNotFound carrying that other user's object id";
    for id in [&f.contact_without_folder, &f.contact_in_folder] {
        lookup_err(
            d,
            t,
            &contact(&f.other_user_id, None, id),
            not_found(&other_owner, id),
            contract,
        )
        .await;
    }
    let contract = "a user's contact folders are not reachable through another user: ContactFolderNotFound carrying that other user's object id";
    lookup_err(
        d,
        t,
        &contact(&f.other_user_id, Some(&f.folder_id), &f.contact_in_folder),
        folder_not_found(&other_owner, &f.folder_id),
        contract,
    )
    .await;
}

async fn check_directory_isolation(d: &dyn Directory, f: &DirectoryFixture) {
    let (t, o) = (&f.tenant, &f.other_tenant);
    let contract = "the other tenant's user is found in its own tenant";
    user_entry(d, o, &f.other_tenant_user_id, contract).await;

    let contract = "tenants are isolated: another tenant's objects are not found (spec D3)";
    let missing = |id: &str| DirectoryError::UserNotFound(id.into());
    lookup_err(
        d,
        t,
        &user(&f.other_tenant_user_id),
        missing(&f.other_tenant_user_id),
        contract,
    )
    .await;
    for spelling in [&f.user_id, &f.user_upn] {
        lookup_err(d, o, &user(spelling), missing(spelling), contract).await;
        lookup_err(
            d,
            o,
            &contact(spelling, None, &f.contact_without_folder),
            missing(spelling),
            contract,
        )
        .await;
    }
    lookup_err(
        d,
        o,
        &group(&f.group_id),
        DirectoryError::GroupNotFound(f.group_id.clone()),
        contract,
    )
    .await;
}
