//! Bring your own directory: a `Directory` adapter over the host application's own tables of
//! users, groups and contacts, checked by the port test kit.
//!
//! A host that already runs a user service keeps its users where they are; graph-photo only
//! asks one question of them: "which object does this request name, and whose photo is it?"
//! (`Directory::lookup`). The host's table here is a plain in-memory map that the rest of the
//! host changes while the photo service runs: a user added to it is found by the next request,
//! with no reload.
//!
//! ```text
//! cargo run -p graph-photo-examples --example own_directory
//! ```

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use async_trait::async_trait;
use photo_core::ids::{ObjectId, UserRef};
use photo_core::ports::{
    AccountKind, Directory, DirectoryEntry, DirectoryError, DirectoryQuery, PhotoKey, PhotoOwner,
};
use photo_core::principal::TenantId;
use photo_core::testkit::{check_directory, DirectoryFixture};

// ---------------------------------------------------------------------------------------------
// The host's own data: nothing here knows graph-photo.
// ---------------------------------------------------------------------------------------------

/// A row of the host's user table.
#[derive(Debug, Clone)]
pub struct HostUser {
    /// The host's immutable user id, a GUID (Graph's object id).
    pub id: String,
    /// The sign-in name (Graph's userPrincipalName).
    pub login: String,
    /// The organisation the user belongs to (Graph's tenant).
    pub organisation: String,
    /// A consumer account rather than an organisation's (Graph's personal Microsoft account).
    pub consumer: bool,
}

/// A row of the host's address book.
#[derive(Debug, Clone)]
pub struct HostContact {
    /// The contact's id.
    pub id: String,
    /// Whose address book it is in: a [`HostUser::id`].
    pub owner: String,
    /// The address-book folder, if the contact is filed in one.
    pub folder: Option<String>,
}

/// The host's tables, shared with the rest of the host application.
#[derive(Debug, Default)]
pub struct HostTables {
    /// Users by id, as the host keeps them.
    pub users: HashMap<String, HostUser>,
    /// Groups: (organisation, group id).
    pub groups: Vec<(String, String)>,
    /// Address-book folders: (owner user id, folder id).
    pub folders: Vec<(String, String)>,
    /// Contacts.
    pub contacts: Vec<HostContact>,
}

// ---------------------------------------------------------------------------------------------
// The adapter: the host's tables seen as graph-photo's `Directory` port.
// ---------------------------------------------------------------------------------------------

/// The [`Directory`] graph-photo asks, answered from the host's tables.
pub struct HostDirectory {
    tables: Arc<RwLock<HostTables>>,
}

impl HostDirectory {
    /// The directory over `tables`; the host keeps its own handle and may change them.
    pub fn new(tables: Arc<RwLock<HostTables>>) -> Self {
        Self { tables }
    }

    fn tables(&self) -> RwLockReadGuard<'_, HostTables> {
        // Readers only: a writer that panicked elsewhere in the host left whole rows.
        self.tables.read().unwrap_or_else(|p| p.into_inner())
    }
}

fn account(user: &HostUser) -> AccountKind {
    if user.consumer {
        AccountKind::Personal
    } else {
        AccountKind::WorkOrSchool
    }
}

/// The user a request names, by object id or userPrincipalName, in any case, in this tenant.
/// Graph compares both case-insensitively (MUST of `Directory::lookup`).
fn find_user<'t>(
    tables: &'t HostTables,
    tenant: &TenantId,
    user: &UserRef,
) -> Option<&'t HostUser> {
    let wanted = user.as_str();
    tables.users.values().find(|u| {
        // MUST look only inside the caller's tenant (spec D3): another organisation's user is
        // "not found", never "forbidden", so ids of other tenants leak nothing.
        u.organisation.eq_ignore_ascii_case(tenant.as_str())
            && (u.id.eq_ignore_ascii_case(wanted) || u.login.eq_ignore_ascii_case(wanted))
    })
}

#[async_trait]
impl Directory for HostDirectory {
    async fn lookup(
        &self,
        tenant: &TenantId,
        query: &DirectoryQuery,
    ) -> Result<DirectoryEntry, DirectoryError> {
        let tables = self.tables();
        let key = |owner| PhotoKey {
            tenant: tenant.clone(),
            owner,
        };
        match query {
            DirectoryQuery::User(user) => {
                let found = find_user(&tables, tenant, user)
                    // MUST carry the reference as the query gave it.
                    .ok_or_else(|| DirectoryError::UserNotFound(user.clone()))?;
                Ok(DirectoryEntry {
                    // MUST key a user by their object id as the directory spells it, whatever
                    // spelling the request used: `/me`, the id and the UPN share one photo.
                    key: key(PhotoOwner::User(ObjectId::new(&found.id))),
                    account: account(found),
                })
            }
            DirectoryQuery::Group(id) => {
                let (_, group) = tables
                    .groups
                    .iter()
                    .find(|(org, group)| {
                        org.eq_ignore_ascii_case(tenant.as_str()) && group.eq_ignore_ascii_case(id)
                    })
                    .ok_or_else(|| DirectoryError::GroupNotFound(id.clone()))?;
                Ok(DirectoryEntry {
                    key: key(PhotoOwner::Group(ObjectId::new(group))),
                    account: AccountKind::WorkOrSchool,
                })
            }
            DirectoryQuery::Contact {
                owner,
                folder,
                contact,
            } => {
                let user = find_user(&tables, tenant, owner)
                    .ok_or_else(|| DirectoryError::UserNotFound(owner.clone()))?;
                let owner_id = ObjectId::new(&user.id);
                if let Some(folder) = folder {
                    let known = tables
                        .folders
                        .iter()
                        .any(|(owner, id)| owner == &user.id && id == folder);
                    if !known {
                        // MUST say which user exists: the service answers 403 or 404 from it.
                        return Err(DirectoryError::ContactFolderNotFound {
                            owner: owner_id,
                            folder: folder.clone(),
                        });
                    }
                }
                let found = tables.contacts.iter().find(|c| {
                    c.owner == user.id
                        && &c.id == contact
                        // Without a folder in the path, a contact in any folder is found (E1).
                        && (folder.is_none() || c.folder == *folder)
                });
                match found {
                    Some(found) => Ok(DirectoryEntry {
                        key: key(PhotoOwner::Contact {
                            user: owner_id,
                            contact: ObjectId::new(&found.id),
                        }),
                        // A contact's photo follows its owner's account kind.
                        account: account(user),
                    }),
                    None => Err(DirectoryError::ContactNotFound {
                        owner: owner_id,
                        contact: contact.clone(),
                    }),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The host's data for this example, and the contract check.
// ---------------------------------------------------------------------------------------------

const ORG: &str = "6b1c8f52-4f0e-4a4b-9d3a-2f8e0c1d7a10";
const OTHER_ORG: &str = "0d9e3c7a-51f2-4b6e-8a0f-9c4d2e7b1f35";

fn host_tables() -> HostTables {
    let mut tables = HostTables::default();
    let mut add_user = |id: &str, login: &str, organisation: &str| {
        tables.users.insert(
            id.to_owned(),
            HostUser {
                id: id.to_owned(),
                login: login.to_owned(),
                organisation: organisation.to_owned(),
                consumer: false,
            },
        );
    };
    add_user(
        "3f2a1b4c-9d8e-4f7a-b6c5-1e2d3c4b5a69",
        "ana@host.example",
        ORG,
    );
    add_user(
        "7c6b5a49-3e2d-4c1b-a098-f7e6d5c4b3a2",
        "ben@host.example",
        ORG,
    );
    add_user(
        "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
        "cy@other.example",
        OTHER_ORG,
    );
    tables.groups.push((
        ORG.to_owned(),
        "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c".to_owned(),
    ));
    let ana = "3f2a1b4c-9d8e-4f7a-b6c5-1e2d3c4b5a69".to_owned();
    tables
        .folders
        .push((ana.clone(), "AAMkFriends=".to_owned()));
    tables.contacts.push(HostContact {
        id: "AAMkContactInFolder=".to_owned(),
        owner: ana.clone(),
        folder: Some("AAMkFriends=".to_owned()),
    });
    tables.contacts.push(HostContact {
        id: "AAMkContactLoose=".to_owned(),
        owner: ana,
        folder: None,
    });
    tables
}

fn fixture() -> DirectoryFixture {
    DirectoryFixture {
        tenant: TenantId::new(ORG),
        user_id: "3f2a1b4c-9d8e-4f7a-b6c5-1e2d3c4b5a69".into(),
        user_upn: "ana@host.example".into(),
        other_user_id: "7c6b5a49-3e2d-4c1b-a098-f7e6d5c4b3a2".into(),
        group_id: "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c".into(),
        folder_id: "AAMkFriends=".into(),
        contact_in_folder: "AAMkContactInFolder=".into(),
        contact_without_folder: "AAMkContactLoose=".into(),
        other_tenant: TenantId::new(OTHER_ORG),
        other_tenant_user_id: "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d".into(),
    }
}

#[tokio::main]
async fn main() {
    let tables = Arc::new(RwLock::new(host_tables()));
    let directory = Arc::new(HostDirectory::new(Arc::clone(&tables)));
    check_directory(directory.clone(), &fixture()).await;
    println!("HostDirectory honours every Directory contract of photo_core::testkit");

    // The host adds a user; graph-photo sees them on the next lookup.
    tables
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .users
        .insert(
            "d4c3b2a1-0f9e-4d8c-b7a6-5e4f3d2c1b0a".into(),
            HostUser {
                id: "d4c3b2a1-0f9e-4d8c-b7a6-5e4f3d2c1b0a".into(),
                login: "dee@host.example".into(),
                organisation: ORG.into(),
                consumer: false,
            },
        );
    let query = DirectoryQuery::User(UserRef::new("DEE@host.example"));
    match directory.lookup(&TenantId::new(ORG), &query).await {
        Ok(entry) => println!("a user the host added just now: {}", entry.key),
        Err(e) => {
            eprintln!("the new user was not found: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn host_directory_honours_the_directory_contract() {
        let directory = HostDirectory::new(Arc::new(RwLock::new(host_tables())));
        check_directory(Arc::new(directory), &fixture()).await;
    }

    #[tokio::test]
    async fn a_user_the_host_adds_is_found_at_once_and_one_it_removes_is_gone() {
        let tables = Arc::new(RwLock::new(host_tables()));
        let directory = HostDirectory::new(Arc::clone(&tables));
        let tenant = TenantId::new(ORG);
        let query = DirectoryQuery::User(UserRef::new("Dee@Host.Example"));
        assert_eq!(
            directory.lookup(&tenant, &query).await,
            Err(DirectoryError::UserNotFound(UserRef::new(
                "Dee@Host.Example"
            )))
        );
        let id = "d4c3b2a1-0f9e-4d8c-b7a6-5e4f3d2c1b0a";
        tables.write().unwrap().users.insert(
            id.into(),
            HostUser {
                id: id.into(),
                login: "dee@host.example".into(),
                organisation: ORG.into(),
                consumer: true,
            },
        );
        let entry = directory.lookup(&tenant, &query).await.unwrap();
        assert_eq!(entry.key.owner, PhotoOwner::User(ObjectId::new(id)));
        assert_eq!(entry.account, AccountKind::Personal);
        tables.write().unwrap().users.remove(id);
        assert!(directory.lookup(&tenant, &query).await.is_err());
    }

    /// The kit is not vacuous here: a directory that ignores the tenant is caught.
    #[tokio::test]
    async fn a_directory_without_tenant_isolation_is_caught() {
        struct Leaky(HostDirectory);
        #[async_trait]
        impl Directory for Leaky {
            async fn lookup(
                &self,
                _tenant: &TenantId,
                query: &DirectoryQuery,
            ) -> Result<DirectoryEntry, DirectoryError> {
                // Looks in the other organisation as well.
                match self.0.lookup(&TenantId::new(ORG), query).await {
                    Err(DirectoryError::UserNotFound(_)) => {
                        self.0.lookup(&TenantId::new(OTHER_ORG), query).await
                    }
                    found => found,
                }
            }
        }
        let leaky = Leaky(HostDirectory::new(Arc::new(RwLock::new(host_tables()))));
        let fixture = fixture();
        let outcome =
            tokio::spawn(async move { check_directory(Arc::new(leaky), &fixture).await }).await;
        let message = outcome
            .err()
            .filter(tokio::task::JoinError::is_panic)
            .and_then(|e| e.into_panic().downcast::<String>().ok())
            .map(|m| *m)
            .unwrap_or_default();
        assert!(
            message.starts_with("Directory contract violated:"),
            "expected a contract violation, got {message:?}"
        );
    }
}
