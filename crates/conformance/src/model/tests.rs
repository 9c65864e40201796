use super::expect::weak_match;
use super::state::EtagBook;
use super::*;
use crate::fixture::{dev_tenant as dev, PrincipalEntry, TokenClaims};
use crate::fixture::{Claims, Fixture, PEOPLE_ADMINISTRATOR};

fn fixture() -> Fixture {
    Fixture::for_dev_server(|_: &TokenClaims| Ok::<_, String>(String::new())).unwrap()
}

fn delegated(oid: &str, tenant: &str, scopes: &[&str], wids: &[&str]) -> Claims {
    Claims {
        tenant: tenant.into(),
        user_id: Some(oid.into()),
        scopes: Some(scopes.iter().map(|s| (*s).to_owned()).collect()),
        roles: vec![],
        directory_roles: wids.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn app(tenant: &str, roles: &[&str]) -> Claims {
    Claims {
        tenant: tenant.into(),
        user_id: None,
        scopes: None,
        roles: roles.iter().map(|s| (*s).to_owned()).collect(),
        directory_roles: vec![],
    }
}

fn status(gate: Gate) -> u16 {
    match gate {
        Gate::Refused(e) => e.status,
        Gate::Found { .. } => 200,
    }
}

#[test]
fn d4_tables() {
    let fx = fixture();
    let m = Model::new(&fx);
    let adele = delegated(dev::ADELE_ID, dev::CONTOSO_TENANT, &["User.ReadWrite"], &[]);
    let alex_upn = Sent::User(dev::ALEX_UPN.to_lowercase());
    assert_eq!(status(m.gate(&adele, &Sent::Me, Access::Write)), 200);
    // Own UPN in any case counts as me.
    let own = Sent::User(dev::ADELE_UPN.to_uppercase());
    assert_eq!(status(m.gate(&adele, &own, Access::Write)), 200);
    assert_eq!(status(m.gate(&adele, &alex_upn, Access::Write)), 403);
    let all = delegated(
        dev::ADELE_ID,
        dev::CONTOSO_TENANT,
        &["user.readwrite.all"],
        &[],
    );
    assert_eq!(status(m.gate(&all, &alex_upn, Access::Write)), 403);
    let admin = delegated(
        dev::ADELE_ID,
        dev::CONTOSO_TENANT,
        &["User.ReadWrite.All"],
        &[PEOPLE_ADMINISTRATOR],
    );
    assert_eq!(status(m.gate(&admin, &alex_upn, Access::Write)), 200);
    // Unknown user: 403 before 404 without rights, 404 with.
    let nobody = Sent::User("nobody@x".into());
    assert_eq!(status(m.gate(&adele, &nobody, Access::Write)), 403);
    assert_eq!(status(m.gate(&admin, &nobody, Access::Write)), 404);
    let a = app(dev::CONTOSO_TENANT, &["ProfilePhoto.ReadWrite.All"]);
    assert_eq!(status(m.gate(&a, &Sent::Me, Access::Read)), 400);
    assert_eq!(status(m.gate(&a, &alex_upn, Access::Write)), 200);
    // Another tenant's user: 404 with rule D3.
    let allan = Sent::User(dev::ALLAN_ID.into());
    match m.gate(&a, &allan, Access::Write) {
        Gate::Refused(e) => assert_eq!((e.status, e.rule), (404, "D3")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn contacts_resolve_by_owner_and_folder() {
    let fx = fixture();
    let m = Model::new(&fx);
    let adele = delegated(dev::ADELE_ID, dev::CONTOSO_TENANT, &["Contacts.Read"], &[]);
    let contact = |owner: SentOwner, folder: Option<&str>, id: &str| Sent::Contact {
        owner,
        folder: folder.map(str::to_owned),
        id: id.to_owned(),
    };
    let in_folder = contact(SentOwner::Me, None, dev::ADELE_FOLDER_CONTACT_ID);
    assert_eq!(status(m.gate(&adele, &in_folder, Access::Read)), 200);
    let via_folder = contact(
        SentOwner::Me,
        Some(dev::ADELE_FRIENDS_FOLDER_ID),
        dev::ADELE_CONTACT_ID,
    );
    assert_eq!(status(m.gate(&adele, &via_folder, Access::Read)), 404);
    let megans = contact(
        SentOwner::User(dev::MEGAN_ID.into()),
        None,
        dev::MEGAN_CONTACT_ID,
    );
    assert_eq!(status(m.gate(&adele, &megans, Access::Read)), 403);
    let a = app(dev::CONTOSO_TENANT, &["Contacts.Read"]);
    assert_eq!(status(m.gate(&a, &megans, Access::Read)), 200);
    assert_eq!(status(m.gate(&a, &megans, Access::Write)), 403);
    let _ = PrincipalEntry {
        name: String::new(),
        token: String::new(),
    };
}

#[test]
fn weak_comparison() {
    assert!(weak_match("W/\"a\"", "\"a\""));
    assert!(weak_match("\"b\", \"a\"", "\"a\""));
    assert!(weak_match("*", "\"a\""));
    assert!(!weak_match("\"b\"", "\"a\""));
}

#[test]
fn etag_book_spots_a_reused_etag() {
    let mut book = EtagBook::default();
    let k = ObjKey::User(0);
    book.original(k, "\"1\"", 1).unwrap();
    book.original(k, "\"1\"", 1).unwrap();
    assert!(book.original(k, "\"1\"", 2).is_err());
    assert_eq!(book.stale_original(k, Some(1)), None);
    book.original(k, "\"2\"", 2).unwrap();
    assert_eq!(book.stale_original(k, Some(2)).as_deref(), Some("\"1\""));
}
