//! The in-memory adapters against the port contract test kit.

use std::sync::Arc;

use adapter_memstore::{seed, ContactData, ContactFolderData, MemDirectory, MemPhotoStore};
use photo_core::principal::TenantId;
use photo_core::testkit::{check_directory, check_photo_store, DirectoryFixture};

fn fixture() -> DirectoryFixture {
    DirectoryFixture {
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
    }
}

#[tokio::test]
async fn mem_photo_store_honours_the_photo_store_contract() {
    check_photo_store(Arc::new(MemPhotoStore::new())).await;
}

#[tokio::test]
async fn mem_photo_store_passes_twice_on_the_same_store() {
    let store = Arc::new(MemPhotoStore::new());
    check_photo_store(store.clone()).await;
    check_photo_store(store).await;
}

#[tokio::test]
async fn seeded_directory_honours_the_directory_contract() {
    check_directory(Arc::new(MemDirectory::seeded()), &fixture()).await;
}

#[tokio::test]
async fn a_loaded_directory_honours_the_directory_contract() {
    // Through a directory file, with the guest (`#` in the UPN) as the user under test.
    let mut data = seed::data();
    let contoso = &mut data.tenants[0];
    assert_eq!(contoso.id, seed::CONTOSO_TENANT);
    contoso.contact_folders.push(ContactFolderData {
        id: "AAMkLEEFOLDER=".into(),
        owner_id: seed::LEE_ID.to_uppercase(),
        display_name: "Colleagues".into(),
    });
    for (id, folder) in [("AAMkLEE1=", None), ("AAMkLEE2=", Some("AAMkLEEFOLDER="))] {
        contoso.contacts.push(ContactData {
            id: id.into(),
            owner_id: seed::LEE_ID.into(),
            folder_id: folder.map(Into::into),
            display_name: id.into(),
        });
    }
    let json = serde_json::to_string_pretty(&data).unwrap();
    let directory = MemDirectory::from_json(&json).unwrap();
    let fixture = DirectoryFixture {
        user_id: seed::LEE_ID.into(),
        user_upn: seed::LEE_UPN.into(),
        other_user_id: seed::ALEX_ID.into(),
        folder_id: "AAMkLEEFOLDER=".into(),
        contact_in_folder: "AAMkLEE2=".into(),
        contact_without_folder: "AAMkLEE1=".into(),
        other_tenant: TenantId::new(seed::CONSUMER_TENANT),
        other_tenant_user_id: seed::PAT_ID.into(),
        ..fixture()
    };
    check_directory(Arc::new(directory), &fixture).await;
}
