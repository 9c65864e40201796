//! The contract test kit is not vacuous: adapters that each break one contract fail it, with
//! a message naming that contract. Built by wrapping the in-memory adapters.

use std::sync::Arc;
use std::time::Duration;

use adapter_memstore::{seed, MemDirectory, MemPhotoStore};
use async_trait::async_trait;
use photo_core::etag::{ETag, Precondition};
use photo_core::ids::{ObjectId, UserRef};
use photo_core::ports::{
    Directory, DirectoryEntry, DirectoryError, DirectoryQuery, PhotoKey, PhotoOwner, PhotoStore,
    StoreError, StoredPhoto, ValidatedPhoto,
};
use photo_core::principal::TenantId;
use photo_core::testkit::{check_directory, check_photo_store, DirectoryFixture};

#[derive(Clone, Copy)]
enum StoreBug {
    IgnoresPreconditions,
    NotFoundBeforePrecondition,
    RacyCompareAndSwap,
    IgnoresTenant,
    ConstantTag,
    GroupsAreUsers,
    KeysMissContacts,
    NeverReady,
}

struct Broken {
    inner: MemPhotoStore,
    bug: StoreBug,
}

impl Broken {
    fn key(&self, key: &PhotoKey) -> PhotoKey {
        let mut key = key.clone();
        match self.bug {
            StoreBug::IgnoresTenant => key.tenant = TenantId::new("one-for-all"),
            StoreBug::GroupsAreUsers => {
                if let PhotoOwner::Group(id) = key.owner {
                    key.owner = PhotoOwner::User(id);
                }
            }
            _ => {}
        }
        key
    }

    fn tag(&self, mut photo: StoredPhoto) -> StoredPhoto {
        if let StoreBug::ConstantTag = self.bug {
            photo.etag = ETag::new("CONSTANT");
        }
        photo
    }
}

#[async_trait]
impl PhotoStore for Broken {
    async fn get(&self, key: &PhotoKey) -> Result<Option<StoredPhoto>, StoreError> {
        Ok(self.inner.get(&self.key(key)).await?.map(|p| self.tag(p)))
    }

    async fn put(
        &self,
        key: &PhotoKey,
        photo: ValidatedPhoto,
        condition: &Precondition,
    ) -> Result<StoredPhoto, StoreError> {
        let key = self.key(key);
        let condition = match self.bug {
            StoreBug::IgnoresPreconditions => Precondition::None,
            StoreBug::RacyCompareAndSwap => {
                let current = self.inner.get(&key).await?;
                if !condition.holds(current.as_ref().map(|p| &p.etag)) {
                    return Err(StoreError::PreconditionFailed);
                }
                std::thread::sleep(Duration::from_millis(2));
                Precondition::None
            }
            StoreBug::ConstantTag => match condition {
                Precondition::OneOf(tags) if tags.contains(&ETag::new("CONSTANT")) => {
                    Precondition::Exists
                }
                other => other.clone(),
            },
            _ => condition.clone(),
        };
        Ok(self.tag(self.inner.put(&key, photo, &condition).await?))
    }

    async fn delete(&self, key: &PhotoKey, condition: &Precondition) -> Result<(), StoreError> {
        let key = self.key(key);
        if let StoreBug::NotFoundBeforePrecondition = self.bug {
            if self.inner.get(&key).await?.is_none() {
                return Err(StoreError::NotFound);
            }
        }
        self.inner.delete(&key, condition).await
    }

    async fn check(&self) -> Result<(), StoreError> {
        match self.bug {
            StoreBug::NeverReady => Err(StoreError::Unavailable("never ready".into())),
            _ => self.inner.check().await,
        }
    }

    async fn keys(&self) -> Result<Vec<PhotoKey>, StoreError> {
        let mut keys = self.inner.keys().await?;
        if let StoreBug::KeysMissContacts = self.bug {
            keys.retain(|k| !matches!(k.owner, PhotoOwner::Contact { .. }));
        }
        Ok(keys)
    }
}

/// Runs a kit check against a broken adapter: the kit must report the violated contract (it
/// reports by panicking with a message naming it).
async fn assert_kit_reports(
    check: impl std::future::Future<Output = ()> + Send + 'static,
    contract: &str,
) {
    let panic = match tokio::spawn(check).await {
        Err(error) if error.is_panic() => error.into_panic(),
        Err(error) => panic!("the check did not run to the end: {error}"),
        Ok(()) => panic!("the kit accepted a broken adapter; it should have reported: {contract}"),
    };
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    assert!(
        message.contains(contract),
        "the kit reported {message:?}, expected it to name {contract:?}"
    );
}

async fn check_broken_store(bug: StoreBug) {
    check_photo_store(Arc::new(Broken {
        inner: MemPhotoStore::new(),
        bug,
    }))
    .await;
}

#[tokio::test]
async fn a_store_ignoring_preconditions_fails() {
    assert_kit_reports(
        check_broken_store(StoreBug::IgnoresPreconditions),
        "PhotoStore contract violated: put with Precondition::Exists on a missing photo",
    )
    .await;
}

#[tokio::test]
async fn a_store_answering_not_found_before_the_precondition_fails() {
    assert_kit_reports(
        check_broken_store(StoreBug::NotFoundBeforePrecondition),
        "delete of a missing photo with Precondition::Exists is PreconditionFailed",
    )
    .await;
}

#[tokio::test]
async fn a_store_without_atomic_compare_and_swap_fails() {
    assert_kit_reports(
        check_broken_store(StoreBug::RacyCompareAndSwap),
        "exactly one succeeds (compare-and-swap)",
    )
    .await;
}

#[tokio::test]
async fn a_store_ignoring_the_tenant_fails() {
    assert_kit_reports(
        check_broken_store(StoreBug::IgnoresTenant),
        "tenants are isolated",
    )
    .await;
}

#[tokio::test]
async fn a_store_with_a_constant_etag_fails() {
    assert_kit_reports(
        check_broken_store(StoreBug::ConstantTag),
        "the photo's own etag",
    )
    .await;
}

#[tokio::test]
async fn a_store_listing_only_some_keys_fails() {
    assert_kit_reports(
        check_broken_store(StoreBug::KeysMissContacts),
        "keys() lists every key holding a photo exactly once",
    )
    .await;
}

#[tokio::test]
async fn a_store_that_never_reports_ready_fails() {
    assert_kit_reports(
        check_broken_store(StoreBug::NeverReady),
        "check() answers Ok for a store that works",
    )
    .await;
}

#[tokio::test]
async fn a_store_mixing_up_owner_kinds_fails() {
    assert_kit_reports(
        check_broken_store(StoreBug::GroupsAreUsers),
        "a user, a group and a contact with the same id string are distinct keys",
    )
    .await;
}

#[derive(Clone, Copy)]
enum DirectoryBug {
    MissingOwnerIsContactNotFound,
    CaseSensitiveIds,
    LooksInEveryTenant,
    IgnoresFolders,
    NormalisesNotFoundIds,
    OwnerAsGivenInErrors,
}

struct BrokenDirectory {
    inner: MemDirectory,
    bug: DirectoryBug,
}

impl BrokenDirectory {
    /// The user a query names, as the request named them.
    fn named_user(query: &DirectoryQuery) -> Option<&UserRef> {
        match query {
            DirectoryQuery::User(user) | DirectoryQuery::Contact { owner: user, .. } => Some(user),
            DirectoryQuery::Group(_) => None,
        }
    }
}

#[async_trait]
impl Directory for BrokenDirectory {
    async fn lookup(
        &self,
        tenant: &TenantId,
        query: &DirectoryQuery,
    ) -> Result<DirectoryEntry, DirectoryError> {
        let found = self.inner.lookup(tenant, query).await;
        match self.bug {
            DirectoryBug::MissingOwnerIsContactNotFound => match (query, found) {
                (
                    DirectoryQuery::Contact { owner, contact, .. },
                    Err(DirectoryError::UserNotFound(_)),
                ) => Err(DirectoryError::ContactNotFound {
                    owner: ObjectId::new(owner.as_str()),
                    contact: contact.clone(),
                }),
                (_, found) => found,
            },
            DirectoryBug::CaseSensitiveIds => match Self::named_user(query) {
                Some(user) => {
                    let exact = self.inner.find_user(user.as_str()).is_some_and(|(_, u)| {
                        u.id == user.as_str() || u.user_principal_name == user.as_str()
                    });
                    if exact {
                        found
                    } else {
                        Err(DirectoryError::UserNotFound(user.clone()))
                    }
                }
                None => found,
            },
            DirectoryBug::LooksInEveryTenant => {
                let mut result = found;
                for other in [seed::CONTOSO_TENANT, seed::FABRIKAM_TENANT] {
                    if result.is_err() {
                        let found = self.inner.lookup(&TenantId::new(other), query).await;
                        if found.is_ok() {
                            result = found;
                        }
                    }
                }
                result
            }
            DirectoryBug::IgnoresFolders => match query {
                DirectoryQuery::Contact { owner, contact, .. } => {
                    let query = DirectoryQuery::Contact {
                        owner: owner.clone(),
                        folder: None,
                        contact: contact.clone(),
                    };
                    self.inner.lookup(tenant, &query).await
                }
                _ => found,
            },
            DirectoryBug::NormalisesNotFoundIds => found.map_err(|e| match e {
                DirectoryError::UserNotFound(id) => {
                    DirectoryError::UserNotFound(id.as_str().to_lowercase().into())
                }
                other => other,
            }),
            // What an adapter that copies the query into the error instead of the user it
            // found would answer: right for a query by the exact object id, wrong for a UPN.
            DirectoryBug::OwnerAsGivenInErrors => {
                let as_given = Self::named_user(query).map(|u| ObjectId::new(u.as_str()));
                match (found, as_given) {
                    (Err(DirectoryError::ContactNotFound { contact, .. }), Some(owner)) => {
                        Err(DirectoryError::ContactNotFound { owner, contact })
                    }
                    (Err(DirectoryError::ContactFolderNotFound { folder, .. }), Some(owner)) => {
                        Err(DirectoryError::ContactFolderNotFound { owner, folder })
                    }
                    (found, _) => found,
                }
            }
        }
    }
}

async fn check_broken_directory(bug: DirectoryBug) {
    let fixture = DirectoryFixture {
        tenant: TenantId::new(seed::CONTOSO_TENANT),
        user_id: seed::ADELE_ID.into(),
        user_upn: seed::ADELE_UPN.into(),
        other_user_id: seed::MEGAN_ID.into(),
        group_id: seed::MARKETING_GROUP_ID.into(),
        folder_id: seed::ADELE_FRIENDS_FOLDER_ID.into(),
        contact_in_folder: seed::ADELE_FOLDER_CONTACT_ID.into(),
        contact_without_folder: seed::ADELE_CONTACT_ID.into(),
        other_tenant: TenantId::new(seed::FABRIKAM_TENANT),
        other_tenant_user_id: seed::ALLAN_ID.into(),
    };
    let directory = BrokenDirectory {
        inner: MemDirectory::seeded(),
        bug,
    };
    check_directory(Arc::new(directory), &fixture).await;
}

#[tokio::test]
async fn a_directory_answering_contact_not_found_for_a_missing_owner_fails() {
    assert_kit_reports(
        check_broken_directory(DirectoryBug::MissingOwnerIsContactNotFound),
        "a contact of an unknown user is UserNotFound carrying the owner reference as given",
    )
    .await;
}

#[tokio::test]
async fn a_case_sensitive_directory_fails() {
    assert_kit_reports(
        check_broken_directory(DirectoryBug::CaseSensitiveIds),
        "a user is found by object id and userPrincipalName in any case",
    )
    .await;
}

#[tokio::test]
async fn a_directory_looking_in_every_tenant_fails() {
    assert_kit_reports(
        check_broken_directory(DirectoryBug::LooksInEveryTenant),
        "tenants are isolated",
    )
    .await;
}

#[tokio::test]
async fn a_directory_ignoring_contact_folders_fails() {
    assert_kit_reports(
        check_broken_directory(DirectoryBug::IgnoresFolders),
        "a folder query finds only contacts in that folder",
    )
    .await;
}

#[tokio::test]
async fn a_directory_normalising_not_found_ids_fails() {
    assert_kit_reports(
        check_broken_directory(DirectoryBug::NormalisesNotFoundIds),
        "an unknown user is UserNotFound carrying the reference as given",
    )
    .await;
}

#[tokio::test]
async fn a_directory_with_the_wrong_owner_id_in_not_found_errors_fails() {
    assert_kit_reports(
        check_broken_directory(DirectoryBug::OwnerAsGivenInErrors),
        "ContactNotFound and ContactFolderNotFound carry the owner's object id",
    )
    .await;
}
