//! [`MemDirectory`]: an immutable in-memory directory, and the directory file format.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use photo_core::ids::{ObjectId, UserRef};
use photo_core::ports::{
    AccountKind, Directory, DirectoryEntry, DirectoryError, DirectoryQuery, PhotoKey, PhotoOwner,
};
use photo_core::principal::TenantId;
use serde::{Deserialize, Serialize};

/// The directory file (spec E2): every tenant with its users, groups, contact folders and
/// contacts (spec E1). JSON, camelCase; unknown fields are refused so that a typo does not
/// silently drop data. Lists and display names may be left out.
///
/// ```json
/// {"tenants": [{
///   "id": "2f9b6c4e-7d1a-4c33-9b0e-5a6f1d2c3b4a", "displayName": "Contoso",
///   "users": [{"id": "6e7b768e-07e2-4810-8459-485f84f8f204",
///              "userPrincipalName": "AdeleV@contoso.onmicrosoft.com",
///              "displayName": "Adele Vance", "accountKind": "workOrSchool",
///              "directoryRoles": []}],
///   "groups": [{"id": "02bd9fd6-8f93-4758-87c3-1fb73740a315", "displayName": "Marketing"}],
///   "contactFolders": [{"id": "AAMkAGI2TAAA=", "ownerId": "6e7b768e-07e2-4810-8459-485f84f8f204",
///                       "displayName": "Friends"}],
///   "contacts": [{"id": "AAMkAGI2THVSAAB=", "ownerId": "6e7b768e-07e2-4810-8459-485f84f8f204",
///                 "folderId": "AAMkAGI2TAAA=", "displayName": "Pradeep Gupta"}]
/// }]}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirectoryData {
    /// Every tenant, each with its objects.
    pub tenants: Vec<TenantData>,
}

/// A tenant. Its id is a GUID (the `tid` of its tokens).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantData {
    /// The tenant id (`tid`), a GUID.
    pub id: String,
    /// A name for people; the API never shows it.
    #[serde(default)]
    pub display_name: String,
    /// The tenant's users.
    #[serde(default)]
    pub users: Vec<UserData>,
    /// The tenant's groups.
    #[serde(default)]
    pub groups: Vec<GroupData>,
    /// Its users' contact folders.
    #[serde(default)]
    pub contact_folders: Vec<ContactFolderData>,
    /// Its users' contacts.
    #[serde(default)]
    pub contacts: Vec<ContactData>,
}

/// A user. Ids (GUIDs) and userPrincipalNames are unique in the whole file, compared
/// case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserData {
    /// The user's object id (`oid`), a GUID.
    pub id: String,
    /// The sign-in name (`name@domain`), which paths may use instead of the id.
    pub user_principal_name: String,
    /// A name for people; the API never shows it.
    #[serde(default)]
    pub display_name: String,
    /// Work or school account (the default), or a personal Microsoft account, which has no
    /// photo through this API (spec B6).
    #[serde(default)]
    pub account_kind: AccountKind,
    /// Directory role template ids the user holds (the `wids` of their tokens, spec D2/D4).
    #[serde(default)]
    pub directory_roles: Vec<String>,
}

/// A group. Ids are unique in the tenant, compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupData {
    /// The group's object id.
    pub id: String,
    /// A name for people; the API never shows it.
    #[serde(default)]
    pub display_name: String,
}

/// A contact folder of the user `owner_id`. Ids are unique in the tenant (case-sensitive, as
/// Exchange ids are).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactFolderData {
    /// The folder id, as Exchange spells it.
    pub id: String,
    /// The object id of the user whose folder it is.
    pub owner_id: String,
    /// A name for people; the API never shows it.
    #[serde(default)]
    pub display_name: String,
}

/// A contact of the user `owner_id`, in one of that user's folders or in none. Ids are unique
/// in the tenant (case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactData {
    /// The contact id, as Exchange spells it.
    pub id: String,
    /// The object id of the user whose contact it is.
    pub owner_id: String,
    /// The owner's contact folder holding it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder_id: Option<String>,
    /// A name for people; the API never shows it.
    #[serde(default)]
    pub display_name: String,
}

/// Why a directory file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryDataError {
    /// The file could not be read.
    #[error("cannot read the directory file {}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// Not JSON, or not of the expected shape.
    #[error("the directory file is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// An error in a file given to [`MemDirectory::load`].
    #[error("directory file {}: {error}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        error: Box<DirectoryDataError>,
    },
    /// A tenant id is not a GUID.
    #[error("tenant id '{0}' is not a GUID")]
    InvalidTenantId(String),
    /// Two tenants have the same id.
    #[error("tenant '{0}' appears more than once")]
    DuplicateTenant(String),
    /// A user id is not a GUID.
    #[error("tenant {tenant}: user id '{id}' is not a GUID")]
    InvalidUserId {
        /// The tenant id.
        tenant: String,
        /// The user id as written.
        id: String,
    },
    /// A userPrincipalName is not `name@domain`.
    #[error("tenant {tenant}: user '{id}' has an invalid userPrincipalName '{upn}' (expected name@domain)")]
    InvalidUserPrincipalName {
        /// The tenant id.
        tenant: String,
        /// The user's id.
        id: String,
        /// The userPrincipalName as written.
        upn: String,
    },
    /// Two users have the same userPrincipalName.
    #[error("tenant {tenant}: userPrincipalName '{upn}' is used more than once (compared case-insensitively)")]
    DuplicateUserPrincipalName {
        /// The tenant id.
        tenant: String,
        /// The userPrincipalName.
        upn: String,
    },
    /// An object without an id.
    #[error("tenant {tenant}: a {kind} has an empty id")]
    EmptyId {
        /// The tenant id.
        tenant: String,
        /// `user`, `group`, `contact folder` or `contact`.
        kind: &'static str,
    },
    /// Two objects of a kind have the same id.
    #[error("tenant {tenant}: {kind} id '{id}' is used more than once")]
    DuplicateId {
        /// The tenant id.
        tenant: String,
        /// `user`, `group`, `contact folder` or `contact`.
        kind: &'static str,
        /// The id.
        id: String,
    },
    /// A contact folder or contact whose `ownerId` is no user of its tenant.
    #[error("tenant {tenant}: {kind} '{id}' belongs to '{owner}', which is no user of the tenant")]
    UnknownOwner {
        /// The tenant id.
        tenant: String,
        /// `contact folder` or `contact`.
        kind: &'static str,
        /// The folder's or contact's id.
        id: String,
        /// The `ownerId` as written.
        owner: String,
    },
    /// A contact whose `folderId` is no contact folder of the contact's owner.
    #[error("tenant {tenant}: contact '{contact}' is in folder '{folder}', which is no contact folder of user '{owner}'")]
    UnknownFolder {
        /// The tenant id.
        tenant: String,
        /// The contact's id.
        contact: String,
        /// The `folderId` as written.
        folder: String,
        /// The contact's owner.
        owner: String,
    },
}

/// Case folding for ids and UPNs that compare case-insensitively.
fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hex digits in any case.
fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_upn(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((name, domain)) => {
            !name.is_empty() && !domain.is_empty() && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// Lookups of one tenant. Users by folded id and folded UPN; contact folders and contacts by
/// (owner's user index, id).
#[derive(Debug, Default)]
struct TenantIndex {
    position: usize,
    users: HashMap<String, usize>,
    groups: HashMap<String, usize>,
    folders: HashMap<(usize, String), usize>,
    contacts: HashMap<(usize, String), usize>,
}

/// A [`Directory`] in memory, read-only once built (so it needs no lock).
///
/// User ids, UPNs and group ids compare case-insensitively; contact folder and contact ids
/// exactly (they are case-sensitive base64 in Exchange). Keys carry the ids as the directory
/// spells them, so every path naming an object gives the same key.
///
/// # Example
///
/// The seeded development tenant (spec E2), whose ids are in [`crate::seed`]: a user named by
/// UPN in any case is found, with the photo key every path naming them gives.
///
/// ```
/// use adapter_memstore::{seed, MemDirectory};
/// use photo_core::ids::UserRef;
/// use photo_core::ports::{Directory, DirectoryQuery};
/// use photo_core::principal::TenantId;
///
/// let directory = MemDirectory::seeded();
/// let contoso = TenantId::new(seed::CONTOSO_TENANT);
/// let query = DirectoryQuery::User(UserRef::new("adelev@CONTOSO.onmicrosoft.com"));
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let adele = directory.lookup(&contoso, &query).await?;
/// assert_eq!(adele.owning_user().map(|id| id.as_str()), Some(seed::ADELE_ID));
///
/// // Tenants are isolated (spec D3): Fabrikam has no Adele.
/// let fabrikam = TenantId::new(seed::FABRIKAM_TENANT);
/// assert!(directory.lookup(&fabrikam, &query).await.is_err());
/// # Ok::<(), photo_core::ports::DirectoryError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A host with its own people loads a directory file instead ([`MemDirectory::load`],
/// [`MemDirectory::from_json`]; the format is [`DirectoryData`]'s), or implements
/// [`Directory`] over its own user store.
#[derive(Debug)]
pub struct MemDirectory {
    data: DirectoryData,
    tenants: HashMap<TenantId, TenantIndex>,
    /// Folded user id or UPN -> (tenant position, user position), over all tenants.
    users: HashMap<String, (usize, usize)>,
}

/// One tenant's data with its index.
#[derive(Clone, Copy)]
struct View<'a> {
    data: &'a TenantData,
    index: &'a TenantIndex,
}

impl<'a> View<'a> {
    fn user(self, user: &str) -> Option<(usize, &'a UserData)> {
        let &i = self.index.users.get(&fold(user))?;
        Some((i, self.data.users.get(i)?))
    }

    fn group(self, group: &str) -> Option<&'a GroupData> {
        let &i = self.index.groups.get(&fold(group))?;
        self.data.groups.get(i)
    }

    fn folder(self, owner: usize, folder: &str) -> Option<&'a ContactFolderData> {
        let &i = self.index.folders.get(&(owner, folder.to_owned()))?;
        self.data.contact_folders.get(i)
    }

    fn contact(self, owner: usize, contact: &str) -> Option<&'a ContactData> {
        let &i = self.index.contacts.get(&(owner, contact.to_owned()))?;
        self.data.contacts.get(i)
    }
}

impl MemDirectory {
    /// A directory of `data`, once it is checked: tenant and user ids are GUIDs; tenants,
    /// user ids and UPNs are unique in the file, and group, contact folder and contact ids
    /// in their tenant; every contact folder and contact belongs to a user of its tenant; a
    /// contact's folder is a folder of the contact's owner.
    pub fn new(data: DirectoryData) -> Result<Self, DirectoryDataError> {
        validate(&data)?;
        Ok(Self::index(data))
    }

    /// A directory from the JSON of a directory file (see [`DirectoryData`]).
    pub fn from_json(json: &str) -> Result<Self, DirectoryDataError> {
        Self::new(serde_json::from_str(json)?)
    }

    /// A directory from a directory file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, DirectoryDataError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|error| DirectoryDataError::Io {
            path: path.to_owned(),
            error,
        })?;
        Self::from_json(&json).map_err(|error| DirectoryDataError::InFile {
            path: path.to_owned(),
            error: Box::new(error),
        })
    }

    /// The seeded development directory (spec E2); its ids are in [`crate::seed`].
    pub fn seeded() -> Self {
        // The seed is checked by a test; indexing needs no checks to be memory-safe.
        Self::index(crate::seed::data())
    }

    /// Everything the directory holds, as loaded.
    pub fn data(&self) -> &DirectoryData {
        &self.data
    }

    /// The tenant with this id.
    pub fn tenant(&self, tenant: &TenantId) -> Option<&TenantData> {
        self.view(tenant).map(|v| v.data)
    }

    /// The user with this object id or userPrincipalName (case-insensitive), in any tenant,
    /// with their tenant: for minting development tokens (`tid`, `oid`, `wids`).
    pub fn find_user(&self, user: &str) -> Option<(&TenantData, &UserData)> {
        let &(t, u) = self.users.get(&fold(user))?;
        let tenant = self.data.tenants.get(t)?;
        Some((tenant, tenant.users.get(u)?))
    }

    fn view(&self, tenant: &TenantId) -> Option<View<'_>> {
        let index = self.tenants.get(tenant)?;
        Some(View {
            data: self.data.tenants.get(index.position)?,
            index,
        })
    }

    /// Builds the lookups. On data that [`validate`] refused, a later duplicate shadows an
    /// earlier one; nothing panics.
    fn index(data: DirectoryData) -> Self {
        let mut tenants = HashMap::new();
        let mut all_users = HashMap::new();
        for (t, tenant) in data.tenants.iter().enumerate() {
            let mut index = TenantIndex {
                position: t,
                ..TenantIndex::default()
            };
            for (u, user) in tenant.users.iter().enumerate() {
                for name in [fold(&user.id), fold(&user.user_principal_name)] {
                    index.users.insert(name.clone(), u);
                    all_users.insert(name, (t, u));
                }
            }
            for (g, group) in tenant.groups.iter().enumerate() {
                index.groups.insert(fold(&group.id), g);
            }
            let owner = |id: &str| index.users.get(&fold(id)).copied();
            let mut folders = HashMap::new();
            for (f, folder) in tenant.contact_folders.iter().enumerate() {
                if let Some(o) = owner(&folder.owner_id) {
                    folders.insert((o, folder.id.clone()), f);
                }
            }
            let mut contacts = HashMap::new();
            for (c, contact) in tenant.contacts.iter().enumerate() {
                if let Some(o) = owner(&contact.owner_id) {
                    contacts.insert((o, contact.id.clone()), c);
                }
            }
            index.folders = folders;
            index.contacts = contacts;
            tenants.insert(TenantId::new(&tenant.id), index);
        }
        Self {
            data,
            tenants,
            users: all_users,
        }
    }

    /// The user named `user` (id or UPN) in the tenant of `view`, or `UserNotFound` carrying
    /// `user` as given.
    fn user<'a>(
        view: Option<View<'a>>,
        user: &UserRef,
    ) -> Result<(View<'a>, usize, &'a UserData), DirectoryError> {
        view.and_then(|v| v.user(user.as_str()).map(|(i, found)| (v, i, found)))
            .ok_or_else(|| DirectoryError::UserNotFound(user.clone()))
    }
}

fn validate(data: &DirectoryData) -> Result<(), DirectoryDataError> {
    use DirectoryDataError as E;
    let mut tenant_ids = HashMap::new();
    let mut user_ids = HashMap::new();
    let mut upns = HashMap::new();
    for tenant in &data.tenants {
        let t = tenant.id.clone();
        if !is_guid(&tenant.id) {
            return Err(E::InvalidTenantId(t));
        }
        if tenant_ids.insert(fold(&tenant.id), ()).is_some() {
            return Err(E::DuplicateTenant(t));
        }
        let duplicate = |kind, id: &str| E::DuplicateId {
            tenant: t.clone(),
            kind,
            id: id.to_owned(),
        };
        let empty = |kind| E::EmptyId {
            tenant: t.clone(),
            kind,
        };

        let mut users = HashMap::new();
        for (u, user) in tenant.users.iter().enumerate() {
            if user.id.is_empty() {
                return Err(empty("user"));
            }
            if !is_guid(&user.id) {
                return Err(E::InvalidUserId {
                    tenant: t,
                    id: user.id.clone(),
                });
            }
            if user_ids.insert(fold(&user.id), ()).is_some() {
                return Err(duplicate("user", &user.id));
            }
            if !is_upn(&user.user_principal_name) {
                return Err(E::InvalidUserPrincipalName {
                    tenant: t,
                    id: user.id.clone(),
                    upn: user.user_principal_name.clone(),
                });
            }
            if upns.insert(fold(&user.user_principal_name), ()).is_some() {
                return Err(E::DuplicateUserPrincipalName {
                    tenant: t,
                    upn: user.user_principal_name.clone(),
                });
            }
            users.insert(fold(&user.id), u);
        }

        let mut groups = HashMap::new();
        for group in &tenant.groups {
            if group.id.is_empty() {
                return Err(empty("group"));
            }
            if groups.insert(fold(&group.id), ()).is_some() {
                return Err(duplicate("group", &group.id));
            }
        }

        let owner_of = |kind, id: &str, owner: &str| {
            users
                .get(&fold(owner))
                .copied()
                .ok_or_else(|| E::UnknownOwner {
                    tenant: t.clone(),
                    kind,
                    id: id.to_owned(),
                    owner: owner.to_owned(),
                })
        };
        // Folder id -> owner's user position.
        let mut folders = HashMap::new();
        for folder in &tenant.contact_folders {
            if folder.id.is_empty() {
                return Err(empty("contact folder"));
            }
            let owner = owner_of("contact folder", &folder.id, &folder.owner_id)?;
            if folders.insert(folder.id.as_str(), owner).is_some() {
                return Err(duplicate("contact folder", &folder.id));
            }
        }

        let mut contacts = HashMap::new();
        for contact in &tenant.contacts {
            if contact.id.is_empty() {
                return Err(empty("contact"));
            }
            let owner = owner_of("contact", &contact.id, &contact.owner_id)?;
            if contacts.insert(contact.id.as_str(), ()).is_some() {
                return Err(duplicate("contact", &contact.id));
            }
            if let Some(folder) = &contact.folder_id {
                if folders.get(folder.as_str()) != Some(&owner) {
                    return Err(E::UnknownFolder {
                        tenant: t,
                        contact: contact.id.clone(),
                        folder: folder.clone(),
                        owner: contact.owner_id.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

#[async_trait]
impl Directory for MemDirectory {
    async fn lookup(
        &self,
        tenant: &TenantId,
        query: &DirectoryQuery,
    ) -> Result<DirectoryEntry, DirectoryError> {
        self.find(tenant, query)
    }
}

impl MemDirectory {
    /// [`Directory::lookup`], which never waits.
    fn find(
        &self,
        tenant: &TenantId,
        query: &DirectoryQuery,
    ) -> Result<DirectoryEntry, DirectoryError> {
        let view = self.view(tenant);
        let entry = |owner, account| DirectoryEntry {
            key: PhotoKey {
                tenant: tenant.clone(),
                owner,
            },
            account,
        };
        match query {
            DirectoryQuery::User(name) => {
                let (_, _, user) = Self::user(view, name)?;
                Ok(entry(
                    PhotoOwner::User(user.id.as_str().into()),
                    user.account_kind,
                ))
            }
            DirectoryQuery::Group(group) => {
                let found = view
                    .and_then(|v| v.group(group))
                    .ok_or_else(|| DirectoryError::GroupNotFound(group.clone()))?;
                Ok(entry(
                    PhotoOwner::Group(found.id.as_str().into()),
                    AccountKind::WorkOrSchool,
                ))
            }
            DirectoryQuery::Contact {
                owner,
                folder,
                contact,
            } => {
                let (v, u, user) = Self::user(view, owner)?;
                let owner = ObjectId::new(user.id.as_str());
                if let Some(folder) = folder {
                    if v.folder(u, folder).is_none() {
                        return Err(DirectoryError::ContactFolderNotFound {
                            owner,
                            folder: folder.clone(),
                        });
                    }
                }
                match v
                    .contact(u, contact)
                    .filter(|c| folder.is_none() || c.folder_id == *folder)
                {
                    Some(c) => Ok(entry(
                        PhotoOwner::Contact {
                            user: owner,
                            contact: c.id.as_str().into(),
                        },
                        user.account_kind,
                    )),
                    None => Err(DirectoryError::ContactNotFound {
                        owner,
                        contact: contact.clone(),
                    }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
