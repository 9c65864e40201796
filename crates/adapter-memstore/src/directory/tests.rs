use super::*;
use crate::seed;

fn tenant(id: &str) -> TenantData {
    TenantData {
        id: id.into(),
        ..TenantData::default()
    }
}

fn user(id: &str, upn: &str) -> UserData {
    UserData {
        id: id.into(),
        user_principal_name: upn.into(),
        ..UserData::default()
    }
}

const T1: &str = "11111111-1111-4111-8111-111111111111";
const T2: &str = "22222222-2222-4222-8222-222222222222";
const U1: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const U2: &str = "aaaaaaaa-0000-4000-8000-000000000002";

/// A valid directory of one tenant with two users, a group, a folder of U1 and a contact
/// in it.
fn valid() -> DirectoryData {
    DirectoryData {
        tenants: vec![TenantData {
            users: vec![user(U1, "one@t.example"), user(U2, "two@t.example")],
            groups: vec![GroupData {
                id: "g1".into(),
                display_name: "G".into(),
            }],
            contact_folders: vec![ContactFolderData {
                id: "F1".into(),
                owner_id: U1.into(),
                display_name: "F".into(),
            }],
            contacts: vec![ContactData {
                id: "C1".into(),
                owner_id: U1.into(),
                folder_id: Some("F1".into()),
                display_name: "C".into(),
            }],
            ..tenant(T1)
        }],
    }
}

fn refused(data: DirectoryData) -> DirectoryDataError {
    MemDirectory::new(data).expect_err("invalid data was accepted")
}

#[test]
fn the_seed_is_valid() {
    MemDirectory::new(seed::data()).unwrap();
    MemDirectory::new(valid()).unwrap();
}

#[test]
fn the_directory_file_round_trips_through_json() {
    let json = serde_json::to_string_pretty(&seed::data()).unwrap();
    assert!(json.contains("\"userPrincipalName\""));
    assert!(json.contains("\"contactFolders\""));
    assert!(json.contains("\"directoryRoles\""));
    assert!(json.contains("\"accountKind\": \"personal\""));
    let dir = MemDirectory::from_json(&json).unwrap();
    assert_eq!(dir.data(), &seed::data());
    assert_eq!(MemDirectory::seeded().data(), &seed::data());
}

#[test]
fn lists_display_names_and_account_kind_may_be_left_out() {
    let json = format!(
        r#"{{"tenants": [{{"id": "{T1}", "users": [
            {{"id": "{U1}", "userPrincipalName": "one@t.example"}},
            {{"id": "{U2}", "userPrincipalName": "two@t.example", "accountKind": "personal",
              "directoryRoles": ["62e90394-69f5-4237-9190-012177145e10"]}}],
            "contacts": [{{"id": "C", "ownerId": "{U1}"}}]}}]}}"#
    );
    let dir = MemDirectory::from_json(&json).unwrap();
    let t = &dir.data().tenants[0];
    assert_eq!(t.users[0].account_kind, AccountKind::WorkOrSchool);
    assert_eq!(t.users[0].display_name, "");
    assert_eq!(t.users[1].account_kind, AccountKind::Personal);
    assert_eq!(t.users[1].directory_roles.len(), 1);
    assert!(t.groups.is_empty() && t.contact_folders.is_empty());
    assert_eq!(t.contacts[0].folder_id, None);
}

#[test]
fn malformed_json_and_unknown_fields_are_refused() {
    for json in [
        "",
        "{",
        "[]",
        r#"{"tenants": [{"displayName": "no id"}]}"#,
        r#"{"tenants": [], "extra": 1}"#,
        r#"{"tenants": [{"id": "11111111-1111-4111-8111-111111111111", "userz": []}]}"#,
        r#"{"tenants": [{"id": "11111111-1111-4111-8111-111111111111", "users": [
            {"id": "aaaaaaaa-0000-4000-8000-000000000001", "userPrincipalName": "a@b",
             "accountKind": "alien"}]}]}"#,
    ] {
        assert!(
            matches!(
                MemDirectory::from_json(json),
                Err(DirectoryDataError::Json(_))
            ),
            "{json}"
        );
    }
}

#[test]
fn tenant_ids_are_guids_and_unique() {
    let mut data = valid();
    data.tenants[0].id = "contoso".into();
    assert!(matches!(refused(data), DirectoryDataError::InvalidTenantId(id) if id == "contoso"));

    let mut data = valid();
    data.tenants.push(tenant(&T1.to_uppercase()));
    assert!(matches!(
        refused(data),
        DirectoryDataError::DuplicateTenant(_)
    ));
}

#[test]
fn user_ids_are_guids_and_unique_in_the_file() {
    let mut data = valid();
    data.tenants[0].users[1].id = "not-a-guid".into();
    assert!(matches!(
        refused(data),
        DirectoryDataError::InvalidUserId { id, .. } if id == "not-a-guid"
    ));

    let mut data = valid();
    data.tenants[0].users[1].id = String::new();
    assert!(matches!(
        refused(data),
        DirectoryDataError::EmptyId { kind: "user", .. }
    ));

    let mut data = valid();
    data.tenants.push(TenantData {
        users: vec![user(&U1.to_uppercase(), "other@t2.example")],
        ..tenant(T2)
    });
    assert!(matches!(
        refused(data),
        DirectoryDataError::DuplicateId { kind: "user", tenant, .. } if tenant == T2
    ));
}

#[test]
fn upns_are_name_at_domain_and_unique_case_insensitively() {
    for bad in ["", "nobody", "@t.example", "x@", "a b@t.example"] {
        let mut data = valid();
        data.tenants[0].users[1].user_principal_name = bad.into();
        assert!(
            matches!(
                refused(data),
                DirectoryDataError::InvalidUserPrincipalName { upn, .. } if upn == bad
            ),
            "{bad:?}"
        );
    }

    let mut data = valid();
    data.tenants[0].users[1].user_principal_name = "ONE@T.example".into();
    assert!(matches!(
        refused(data),
        DirectoryDataError::DuplicateUserPrincipalName { upn, .. } if upn == "ONE@T.example"
    ));

    let mut data = valid();
    data.tenants.push(TenantData {
        users: vec![user(U2.replace('2', "3").as_str(), "Two@T.Example")],
        ..tenant(T2)
    });
    assert!(matches!(
        refused(data),
        DirectoryDataError::DuplicateUserPrincipalName { .. }
    ));
}

#[test]
fn group_folder_and_contact_ids_are_non_empty_and_unique_per_tenant() {
    let mut data = valid();
    data.tenants[0].groups.push(GroupData {
        id: "G1".into(),
        ..GroupData::default()
    });
    assert!(matches!(
        refused(data),
        DirectoryDataError::DuplicateId { kind: "group", id, .. } if id == "G1"
    ));

    let mut data = valid();
    data.tenants[0].groups[0].id = String::new();
    assert!(matches!(
        refused(data),
        DirectoryDataError::EmptyId { kind: "group", .. }
    ));

    let mut data = valid();
    let mut folder = data.tenants[0].contact_folders[0].clone();
    folder.owner_id = U2.into();
    data.tenants[0].contact_folders.push(folder);
    assert!(matches!(
        refused(data),
        DirectoryDataError::DuplicateId {
            kind: "contact folder",
            ..
        }
    ));

    let mut data = valid();
    data.tenants[0].contact_folders[0].id = String::new();
    assert!(matches!(
        refused(data),
        DirectoryDataError::EmptyId {
            kind: "contact folder",
            ..
        }
    ));

    let mut data = valid();
    let mut contact = data.tenants[0].contacts[0].clone();
    contact.folder_id = None;
    data.tenants[0].contacts.push(contact);
    assert!(matches!(
        refused(data),
        DirectoryDataError::DuplicateId {
            kind: "contact",
            ..
        }
    ));

    let mut data = valid();
    data.tenants[0].contacts[0].id = String::new();
    assert!(matches!(
        refused(data),
        DirectoryDataError::EmptyId {
            kind: "contact",
            ..
        }
    ));

    // Exchange ids are case-sensitive: these are two contacts.
    let mut data = valid();
    let mut contact = data.tenants[0].contacts[0].clone();
    contact.id = "c1".into();
    data.tenants[0].contacts.push(contact);
    MemDirectory::new(data).unwrap();
}

#[test]
fn owners_and_folders_must_exist() {
    let mut data = valid();
    data.tenants[0].contact_folders[0].owner_id = "nobody".into();
    assert!(matches!(
        refused(data),
        DirectoryDataError::UnknownOwner { kind: "contact folder", owner, .. } if owner == "nobody"
    ));

    let mut data = valid();
    data.tenants[0].contacts[0].owner_id = U1.replace('1', "9");
    assert!(matches!(
        refused(data),
        DirectoryDataError::UnknownOwner {
            kind: "contact",
            ..
        }
    ));

    // An owner of another tenant is no owner.
    let mut data = valid();
    data.tenants.push(TenantData {
        users: vec![user(&U1.replace('1', "7"), "seven@t2.example")],
        contacts: vec![ContactData {
            id: "C7".into(),
            owner_id: U1.into(),
            ..ContactData::default()
        }],
        ..tenant(T2)
    });
    assert!(matches!(
        refused(data),
        DirectoryDataError::UnknownOwner { .. }
    ));

    let mut data = valid();
    data.tenants[0].contacts[0].folder_id = Some("F9".into());
    assert!(matches!(
        refused(data),
        DirectoryDataError::UnknownFolder { folder, .. } if folder == "F9"
    ));

    // The folder exists but is another user's.
    let mut data = valid();
    data.tenants[0].contacts[0].owner_id = U2.into();
    assert!(matches!(
        refused(data),
        DirectoryDataError::UnknownFolder { folder, owner, .. } if folder == "F1" && owner == U2
    ));

    // Owner ids compare case-insensitively.
    let mut data = valid();
    data.tenants[0].contacts[0].owner_id = U1.to_uppercase();
    MemDirectory::new(data).unwrap();
}

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let dir = std::env::temp_dir().join(format!(
        "adapter-memstore-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("directory.json");
    std::fs::write(&good, serde_json::to_vec(&valid()).unwrap()).unwrap();
    assert_eq!(MemDirectory::load(&good).unwrap().data(), &valid());

    let bad = dir.join("bad.json");
    let mut data = valid();
    data.tenants[0].id = "x".into();
    std::fs::write(&bad, serde_json::to_vec(&data).unwrap()).unwrap();
    let err = MemDirectory::load(&bad).unwrap_err();
    assert!(err.to_string().contains("bad.json"), "{err}");
    assert!(matches!(
        err,
        DirectoryDataError::InFile { error, .. }
            if matches!(*error, DirectoryDataError::InvalidTenantId(_))
    ));

    let missing = dir.join("missing.json");
    assert!(matches!(
        MemDirectory::load(&missing),
        Err(DirectoryDataError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn find_user_looks_in_every_tenant_by_id_or_upn() {
    let dir = MemDirectory::seeded();
    let (t, u) = dir.find_user(&seed::MEGAN_UPN.to_uppercase()).unwrap();
    assert_eq!(t.id, seed::CONTOSO_TENANT);
    assert_eq!(u.id, seed::MEGAN_ID);
    assert_eq!(
        u.directory_roles,
        [photo_core::principal::USER_ADMINISTRATOR]
    );
    let (t, u) = dir.find_user(&seed::ALLAN_ID.to_uppercase()).unwrap();
    assert_eq!(
        (t.id.as_str(), u.id.as_str()),
        (seed::FABRIKAM_TENANT, seed::ALLAN_ID)
    );
    let (t, u) = dir.find_user("PAT@outlook.com").unwrap();
    assert_eq!(t.id, seed::CONSUMER_TENANT);
    assert_eq!(u.account_kind, AccountKind::Personal);
    assert_eq!(
        dir.find_user(seed::LEE_UPN).unwrap().1.display_name,
        "Lee Gu"
    );
    assert!(dir.find_user("nobody@contoso.onmicrosoft.com").is_none());
    assert!(dir.find_user(seed::MARKETING_GROUP_ID).is_none());
    assert!(dir.tenant(&TenantId::new(seed::FABRIKAM_TENANT)).is_some());
}

#[tokio::test]
async fn lookup_reports_the_owner_account_kind_and_owner_ids() {
    let dir = MemDirectory::seeded();
    let consumers = TenantId::new(seed::CONSUMER_TENANT);
    let pat = dir
        .lookup(&consumers, &DirectoryQuery::User(seed::PAT_ID.into()))
        .await
        .unwrap();
    assert_eq!(pat.account, AccountKind::Personal);
    assert_eq!(pat.key.owner, PhotoOwner::User(seed::PAT_ID.into()));
    let contoso = TenantId::new(seed::CONTOSO_TENANT);
    let lee = dir
        .lookup(&contoso, &DirectoryQuery::User(seed::LEE_UPN.into()))
        .await
        .unwrap();
    assert_eq!(lee.account, AccountKind::WorkOrSchool);
    assert_eq!(lee.key.owner, PhotoOwner::User(seed::LEE_ID.into()));
    let megan_contact = |contact: &str| DirectoryQuery::Contact {
        owner: seed::MEGAN_UPN.to_uppercase().into(),
        folder: None,
        contact: contact.into(),
    };
    let found = dir
        .lookup(&contoso, &megan_contact(seed::MEGAN_CONTACT_ID))
        .await
        .unwrap();
    assert_eq!(
        found.key.owner,
        PhotoOwner::Contact {
            user: seed::MEGAN_ID.into(),
            contact: seed::MEGAN_CONTACT_ID.into()
        }
    );
    assert_eq!(found.owning_user(), Some(&seed::MEGAN_ID.into()));
    // Adele's contact is not Megan's: not found, but the error still names Megan by object id.
    assert_eq!(
        dir.lookup(&contoso, &megan_contact(seed::ADELE_CONTACT_ID))
            .await,
        Err(DirectoryError::ContactNotFound {
            owner: seed::MEGAN_ID.into(),
            contact: seed::ADELE_CONTACT_ID.into()
        })
    );
}
