//! The seeded development directory (spec E2), with stable ids that docs and tests can name.
//!
//! | tenant | object | id |
//! |---|---|---|
//! | Contoso [`CONTOSO_TENANT`] | Adele Vance, plain user | [`ADELE_ID`], [`ADELE_UPN`] |
//! | | Megan Bowen, User Administrator | [`MEGAN_ID`], [`MEGAN_UPN`] |
//! | | Alex Wilber, plain user | [`ALEX_ID`], [`ALEX_UPN`] |
//! | | Lee Gu, guest (`#` in the UPN) | [`LEE_ID`], [`LEE_UPN`] |
//! | | group Marketing | [`MARKETING_GROUP_ID`] |
//! | | Adele's contact folder "Friends" | [`ADELE_FRIENDS_FOLDER_ID`] |
//! | | Adele's contact Rob Young (no folder) | [`ADELE_CONTACT_ID`] |
//! | | Adele's contact Pradeep Gupta (in Friends) | [`ADELE_FOLDER_CONTACT_ID`] |
//! | | Megan's contact Isaiah Langer (no folder) | [`MEGAN_CONTACT_ID`] |
//! | Fabrikam [`FABRIKAM_TENANT`] | Allan Deyoung | [`ALLAN_ID`], [`ALLAN_UPN`] |
//! | | group Fabrikam Engineering | [`FABRIKAM_GROUP_ID`] |
//! | consumers [`CONSUMER_TENANT`] | Pat, personal account | [`PAT_ID`], [`PAT_UPN`] |

use photo_core::ports::AccountKind;
use photo_core::principal::USER_ADMINISTRATOR;

use crate::directory::{
    ContactData, ContactFolderData, DirectoryData, GroupData, TenantData, UserData,
};

/// Contoso, the development tenant.
pub const CONTOSO_TENANT: &str = "2f9b6c4e-7d1a-4c33-9b0e-5a6f1d2c3b4a";
/// Adele Vance: a user without directory roles.
pub const ADELE_ID: &str = "6e7b768e-07e2-4810-8459-485f84f8f204";
/// Adele's userPrincipalName.
pub const ADELE_UPN: &str = "AdeleV@contoso.onmicrosoft.com";
/// Megan Bowen: holds User Administrator ([`USER_ADMINISTRATOR`]), so she may write other
/// users' photos (spec D4).
pub const MEGAN_ID: &str = "48d31887-5fad-4d73-a9f5-3c356e68a038";
/// Megan's userPrincipalName.
pub const MEGAN_UPN: &str = "MeganB@contoso.onmicrosoft.com";
/// Alex Wilber: a user without directory roles.
pub const ALEX_ID: &str = "87d349ed-44d7-43e1-9a83-5f2406dee5bd";
/// Alex's userPrincipalName.
pub const ALEX_UPN: &str = "AlexW@contoso.onmicrosoft.com";
/// Lee Gu: a guest from fabrikam.com; the UPN exercises `#` in paths.
pub const LEE_ID: &str = "c3a5f1d2-9b4e-4f6a-8d7c-1e2f3a4b5c6d";
/// Lee's userPrincipalName, as Entra spells a guest's: `#EXT#` in it.
pub const LEE_UPN: &str = "lee_fabrikam.com#EXT#@contoso.onmicrosoft.com";
/// The Marketing group.
pub const MARKETING_GROUP_ID: &str = "02bd9fd6-8f93-4758-87c3-1fb73740a315";
/// Adele's contact folder "Friends" (Exchange-style id, with `=`).
pub const ADELE_FRIENDS_FOLDER_ID: &str = "AAMkAGI2TAAA=";
/// Adele's contact Rob Young, in no folder.
pub const ADELE_CONTACT_ID: &str = "AAMkAGI2THVSAAA=";
/// Adele's contact Pradeep Gupta, in the folder "Friends".
pub const ADELE_FOLDER_CONTACT_ID: &str = "AAMkAGI2THVSAAB=";
/// Megan's contact Isaiah Langer, in no folder.
pub const MEGAN_CONTACT_ID: &str = "AAMkAGI2TMEGAN=";

/// Fabrikam, a second tenant, for isolation (spec D3).
pub const FABRIKAM_TENANT: &str = "5d2f0a1b-3c4e-4d5f-8a9b-0c1d2e3f4a5b";
/// Allan Deyoung, of Fabrikam.
pub const ALLAN_ID: &str = "a1b2c3d4-e5f6-4711-8899-aabbccddeeff";
/// Allan's userPrincipalName.
pub const ALLAN_UPN: &str = "AllanD@fabrikam.onmicrosoft.com";
/// Fabrikam's Engineering group.
pub const FABRIKAM_GROUP_ID: &str = "f0e1d2c3-b4a5-4968-8776-655443322110";

/// The tenant of personal Microsoft accounts (spec B6).
pub const CONSUMER_TENANT: &str = photo_core::principal::CONSUMER_TENANT;
/// Pat: a personal Microsoft account.
pub const PAT_ID: &str = "00000000-0000-0000-0d2e-7a1b3c4d5e6f";
/// Pat's userPrincipalName.
pub const PAT_UPN: &str = "pat@outlook.com";

fn user(id: &str, upn: &str, name: &str, roles: &[&str]) -> UserData {
    UserData {
        id: id.into(),
        user_principal_name: upn.into(),
        display_name: name.into(),
        account_kind: AccountKind::WorkOrSchool,
        directory_roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    }
}

fn contact(id: &str, owner: &str, folder: Option<&str>, name: &str) -> ContactData {
    ContactData {
        id: id.into(),
        owner_id: owner.into(),
        folder_id: folder.map(str::to_owned),
        display_name: name.into(),
    }
}

/// The seeded directory, as [`MemDirectory::seeded`](crate::MemDirectory::seeded) serves it.
pub fn data() -> DirectoryData {
    let contoso = TenantData {
        id: CONTOSO_TENANT.into(),
        display_name: "Contoso".into(),
        users: vec![
            user(ADELE_ID, ADELE_UPN, "Adele Vance", &[]),
            user(MEGAN_ID, MEGAN_UPN, "Megan Bowen", &[USER_ADMINISTRATOR]),
            user(ALEX_ID, ALEX_UPN, "Alex Wilber", &[]),
            user(LEE_ID, LEE_UPN, "Lee Gu", &[]),
        ],
        groups: vec![GroupData {
            id: MARKETING_GROUP_ID.into(),
            display_name: "Marketing".into(),
        }],
        contact_folders: vec![ContactFolderData {
            id: ADELE_FRIENDS_FOLDER_ID.into(),
            owner_id: ADELE_ID.into(),
            display_name: "Friends".into(),
        }],
        contacts: vec![
            contact(ADELE_CONTACT_ID, ADELE_ID, None, "Rob Young"),
            contact(
                ADELE_FOLDER_CONTACT_ID,
                ADELE_ID,
                Some(ADELE_FRIENDS_FOLDER_ID),
                "Pradeep Gupta",
            ),
            contact(MEGAN_CONTACT_ID, MEGAN_ID, None, "Isaiah Langer"),
        ],
    };
    let fabrikam = TenantData {
        id: FABRIKAM_TENANT.into(),
        display_name: "Fabrikam".into(),
        users: vec![user(ALLAN_ID, ALLAN_UPN, "Allan Deyoung", &[])],
        groups: vec![GroupData {
            id: FABRIKAM_GROUP_ID.into(),
            display_name: "Engineering".into(),
        }],
        contact_folders: vec![],
        contacts: vec![],
    };
    let consumers = TenantData {
        id: CONSUMER_TENANT.into(),
        display_name: "Microsoft accounts".into(),
        users: vec![UserData {
            account_kind: AccountKind::Personal,
            ..user(PAT_ID, PAT_UPN, "Pat", &[])
        }],
        groups: vec![],
        contact_folders: vec![],
        contacts: vec![],
    };
    DirectoryData {
        tenants: vec![contoso, fabrikam, consumers],
    }
}
