//! The [`PhotoStore`] contract checks.

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::executor::block_on;

use crate::etag::{ETag, Precondition};
use crate::format::ImageFormat;
use crate::ports::{PhotoKey, PhotoOwner, PhotoStore, StoreError, StoredPhoto, ValidatedPhoto};
use crate::principal::TenantId;

/// How many writers race on one key in the concurrency checks.
const WRITERS: usize = 16;
/// How many writes each racing writer makes in the last-writer check.
const WRITES_PER_WRITER: usize = 4;
/// How many compare-and-swap races are run.
const CAS_ROUNDS: usize = 8;

// ---------------------------------------------------------------------------------------------
// PhotoStore
// ---------------------------------------------------------------------------------------------

fn store_violated(contract: &str, detail: impl Display) -> ! {
    panic!("PhotoStore contract violated: {contract}: {detail}")
}

/// A prefix no other run (in this process or an earlier one) uses.
fn run_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "testkit-{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A photo with bytes unique to `label`; formats and sizes vary so that a store mixing up
/// metadata is caught. The store does not validate images (the port takes validated photos).
fn photo(label: &str) -> ValidatedPhoto {
    let bytes = Bytes::from(format!("graph-photo testkit photo <{label}>").into_bytes());
    let n = u32::try_from(bytes.len() % 97).unwrap_or(0);
    let format = match bytes.len() % 4 {
        0 => ImageFormat::Jpeg,
        1 => ImageFormat::Png,
        2 => ImageFormat::Gif,
        _ => ImageFormat::Bmp,
    };
    ValidatedPhoto::for_testkit(bytes, format, 100 + n, 200 + 2 * n)
}

fn same_photo(stored: &StoredPhoto, written: &ValidatedPhoto) -> bool {
    stored.bytes == written.bytes()
        && stored.format == written.format()
        && stored.width == written.width()
        && stored.height == written.height()
        && &stored.etag == written.etag()
}

fn describe(photo: &StoredPhoto) -> String {
    format!(
        "{} bytes {:?}, {:?} {}x{}, etag {}",
        photo.bytes.len(),
        String::from_utf8_lossy(&photo.bytes),
        photo.format,
        photo.width,
        photo.height,
        photo.etag
    )
}

async fn get(store: &dyn PhotoStore, key: &PhotoKey, contract: &str) -> Option<StoredPhoto> {
    match store.get(key).await {
        Ok(found) => found,
        Err(e) => store_violated(contract, format_args!("get({key}) failed: {e}")),
    }
}

async fn put_ok(
    store: &dyn PhotoStore,
    key: &PhotoKey,
    photo: &ValidatedPhoto,
    condition: &Precondition,
    contract: &str,
) -> StoredPhoto {
    match store.put(key, photo.clone(), condition).await {
        Ok(stored) => {
            if !same_photo(&stored, photo) {
                store_violated(
                    contract,
                    format_args!(
                        "put({key}) returned a photo other than the one written: {}",
                        describe(&stored)
                    ),
                );
            }
            stored
        }
        Err(e) => store_violated(
            contract,
            format_args!("put({key}, {condition:?}) failed: {e}"),
        ),
    }
}

async fn put_refused(
    store: &dyn PhotoStore,
    key: &PhotoKey,
    photo: &ValidatedPhoto,
    condition: &Precondition,
    contract: &str,
) {
    match store.put(key, photo.clone(), condition).await {
        Err(StoreError::PreconditionFailed) => {}
        Ok(stored) => store_violated(
            contract,
            format_args!(
                "put({key}, {condition:?}) should fail with PreconditionFailed but wrote {}",
                describe(&stored)
            ),
        ),
        Err(e) => store_violated(
            contract,
            format_args!(
                "put({key}, {condition:?}) should fail with PreconditionFailed, got {e:?}"
            ),
        ),
    }
}

async fn delete_result(
    store: &dyn PhotoStore,
    key: &PhotoKey,
    condition: &Precondition,
    expected: Result<(), StoreError>,
    contract: &str,
) {
    let got = store.delete(key, condition).await;
    if got != expected {
        store_violated(
            contract,
            format_args!("delete({key}, {condition:?}) returned {got:?}, expected {expected:?}"),
        );
    }
}

/// Asserts `get(key)` returns `written` with tag `etag`.
async fn expect_stored(
    store: &dyn PhotoStore,
    key: &PhotoKey,
    written: &ValidatedPhoto,
    etag: &ETag,
    contract: &str,
) {
    match get(store, key, contract).await {
        Some(found) if same_photo(&found, written) && &found.etag == etag => {}
        Some(found) => store_violated(
            contract,
            format_args!(
                "get({key}) returned {}, expected {:?} {:?} {}x{} with etag {etag}",
                describe(&found),
                String::from_utf8_lossy(written.bytes()),
                written.format(),
                written.width(),
                written.height()
            ),
        ),
        None => store_violated(
            contract,
            format_args!("get({key}) returned None after a successful put"),
        ),
    }
}

async fn expect_absent(store: &dyn PhotoStore, key: &PhotoKey, contract: &str) {
    if let Some(found) = get(store, key, contract).await {
        store_violated(
            contract,
            format_args!("get({key}) should be None, found {}", describe(&found)),
        );
    }
}

fn key(tenant: &TenantId, owner: PhotoOwner) -> PhotoKey {
    PhotoKey {
        tenant: tenant.clone(),
        owner,
    }
}

/// Runs every [`PhotoStore`] contract check against `store`; panics on the first violation.
///
/// Checked: `check()` answers `Ok` (the store works); round trip of bytes, format, dimensions and the photo's own tag; `None` for a
/// missing key; a new tag whenever the bytes change (spec C8); `keys()` lists each stored key
/// once;
/// `Precondition::Exists`/`OneOf` on `put` and `delete`, with nothing written or removed when
/// they fail (spec B7); `NotFound` vs `PreconditionFailed` on `delete`; tenant isolation
/// (spec D3); users, groups and contacts with the same id string are distinct keys; many
/// concurrent writers to one key leave exactly one of their photos with a consistent tag; and
/// concurrent conditional writes/deletes on the same tag are a compare-and-swap (exactly one
/// wins).
pub async fn check_photo_store(store: Arc<dyn PhotoStore>) {
    let run = run_id();
    let tenant = TenantId::new(format!("{run}-a"));
    let other_tenant = TenantId::new(format!("{run}-b"));
    check_ready(&*store).await;
    check_round_trip(&*store, &tenant).await;
    check_etags(&*store, &tenant).await;
    check_conditional_put(&*store, &tenant).await;
    check_delete(&*store, &tenant).await;
    check_isolation(&*store, &tenant, &other_tenant).await;
    check_keys(&*store, &TenantId::new(format!("{run}-keys"))).await;
    check_last_writer(&store, &tenant);
    check_compare_and_swap(&store, &tenant);
}

/// A working store answers the readiness check, more than once.
async fn check_ready(store: &dyn PhotoStore) {
    for _ in 0..2 {
        if let Err(e) = store.check().await {
            store_violated(
                "check() answers Ok for a store that works",
                format_args!("check() failed: {e}"),
            );
        }
    }
}

/// The keys under `tenant` (one only this check writes to), from `keys()`, sorted.
async fn keys_in(store: &dyn PhotoStore, tenant: &TenantId, contract: &str) -> Vec<PhotoKey> {
    let mut keys: Vec<PhotoKey> = match store.keys().await {
        Ok(keys) => keys,
        Err(e) => store_violated(contract, format_args!("keys() failed: {e}")),
    }
    .into_iter()
    .filter(|k| &k.tenant == tenant)
    .collect();
    keys.sort();
    keys
}

async fn check_keys(store: &dyn PhotoStore, tenant: &TenantId) {
    let contract = "keys() lists every key holding a photo exactly once, and no deleted one";
    let user = key(tenant, PhotoOwner::User("keys".into()));
    let group = key(tenant, PhotoOwner::Group("keys".into()));
    let contact = key(
        tenant,
        PhotoOwner::Contact {
            user: "keys".into(),
            contact: "keys".into(),
        },
    );
    for k in [&user, &group, &contact] {
        put_ok(store, k, &photo("keys 1"), &Precondition::None, contract).await;
    }
    // A second write to a key must not list it twice.
    put_ok(
        store,
        &user,
        &photo("keys 2"),
        &Precondition::None,
        contract,
    )
    .await;
    let mut expected = vec![user.clone(), group.clone(), contact.clone()];
    expected.sort();
    let listed = keys_in(store, tenant, contract).await;
    if listed != expected {
        store_violated(
            contract,
            format_args!("after three puts keys() gave {listed:?}, expected {expected:?}"),
        );
    }
    delete_result(store, &group, &Precondition::None, Ok(()), contract).await;
    expected.retain(|k| k != &group);
    let listed = keys_in(store, tenant, contract).await;
    if listed != expected {
        store_violated(
            contract,
            format_args!("after a delete keys() gave {listed:?}, expected {expected:?}"),
        );
    }
}

async fn check_round_trip(store: &dyn PhotoStore, tenant: &TenantId) {
    let k = key(tenant, PhotoOwner::User("round-trip".into()));
    expect_absent(store, &k, "get of a key never written is None").await;

    let contract =
        "put then get returns the same bytes, format, dimensions and the photo's own etag";
    let p = photo("round trip 1");
    let stored = put_ok(store, &k, &p, &Precondition::None, contract).await;
    expect_stored(store, &k, &p, &stored.etag, contract).await;
    let again = get(store, &k, contract).await;
    if again.as_ref().map(|s| &s.etag) != Some(&stored.etag) {
        store_violated(
            contract,
            "two gets without a write returned different etags",
        );
    }
}

async fn check_etags(store: &dyn PhotoStore, tenant: &TenantId) {
    let k = key(tenant, PhotoOwner::User("etags".into()));
    let contract = "the etag changes whenever the bytes change (spec C8)";
    let first = photo("etag first");
    let second = photo("etag second");
    let a = put_ok(store, &k, &first, &Precondition::None, contract).await;
    let b = put_ok(store, &k, &second, &Precondition::None, contract).await;
    if a.etag == b.etag {
        store_violated(
            contract,
            format_args!("two different photos got the same etag {}", a.etag),
        );
    }
    expect_stored(store, &k, &second, &b.etag, contract).await;
    let c = put_ok(store, &k, &first, &Precondition::None, contract).await;
    if c.etag == b.etag {
        store_violated(
            contract,
            format_args!(
                "writing back the first photo kept the second's etag {}",
                b.etag
            ),
        );
    }
    expect_stored(store, &k, &first, &c.etag, contract).await;

    // The same bytes again may keep or change the tag; whichever, get must agree with put.
    let contract = "writing the same bytes again keeps their etag, and get agrees";
    let d = put_ok(store, &k, &first, &Precondition::None, contract).await;
    expect_stored(store, &k, &first, &d.etag, contract).await;
    let contract = "If-Match with the tag returned by a rewrite of the same bytes succeeds";
    put_ok(
        store,
        &k,
        &first,
        &Precondition::OneOf(vec![d.etag.clone()]),
        contract,
    )
    .await;
}

async fn check_conditional_put(store: &dyn PhotoStore, tenant: &TenantId) {
    let k = key(tenant, PhotoOwner::User("conditional-put".into()));
    let p1 = photo("conditional 1");
    let p2 = photo("conditional 2");
    let p3 = photo("conditional 3");

    let contract =
        "put with Precondition::Exists on a missing photo is PreconditionFailed and writes nothing";
    put_refused(store, &k, &p1, &Precondition::Exists, contract).await;
    expect_absent(store, &k, contract).await;

    let contract =
        "put with Precondition::OneOf on a missing photo is PreconditionFailed and writes nothing";
    put_refused(
        store,
        &k,
        &p1,
        &Precondition::OneOf(vec![p1.etag().clone(), ETag::new("testkit")]),
        contract,
    )
    .await;
    expect_absent(store, &k, contract).await;

    let first = put_ok(
        store,
        &k,
        &p1,
        &Precondition::None,
        "unconditional put succeeds",
    )
    .await;

    let contract = "put with Precondition::Exists on a stored photo succeeds";
    let second = put_ok(store, &k, &p2, &Precondition::Exists, contract).await;
    expect_stored(store, &k, &p2, &second.etag, contract).await;

    let contract = "put with Precondition::OneOf(stale tag) is PreconditionFailed and leaves the stored photo unchanged";
    put_refused(
        store,
        &k,
        &p3,
        &Precondition::OneOf(vec![first.etag.clone()]),
        contract,
    )
    .await;
    expect_stored(store, &k, &p2, &second.etag, contract).await;

    let contract = "put with Precondition::OneOf(empty list) never holds";
    put_refused(store, &k, &p3, &Precondition::OneOf(vec![]), contract).await;
    expect_stored(store, &k, &p2, &second.etag, contract).await;

    let contract = "put with Precondition::OneOf(current tag) succeeds";
    let third = put_ok(
        store,
        &k,
        &p3,
        &Precondition::OneOf(vec![ETag::new("not-a-tag"), second.etag.clone()]),
        contract,
    )
    .await;
    expect_stored(store, &k, &p3, &third.etag, contract).await;
}

async fn check_delete(store: &dyn PhotoStore, tenant: &TenantId) {
    let k = key(tenant, PhotoOwner::User("delete".into()));
    let p1 = photo("delete 1");
    let p2 = photo("delete 2");

    delete_result(
        store,
        &k,
        &Precondition::None,
        Err(StoreError::NotFound),
        "delete of a missing photo without a precondition is NotFound",
    )
    .await;
    delete_result(
        store,
        &k,
        &Precondition::Exists,
        Err(StoreError::PreconditionFailed),
        "delete of a missing photo with Precondition::Exists is PreconditionFailed (checked before NotFound)",
    )
    .await;
    delete_result(
        store,
        &k,
        &Precondition::OneOf(vec![p1.etag().clone()]),
        Err(StoreError::PreconditionFailed),
        "delete of a missing photo with Precondition::OneOf is PreconditionFailed (checked before NotFound)",
    )
    .await;

    let first = put_ok(
        store,
        &k,
        &p1,
        &Precondition::None,
        "unconditional put succeeds",
    )
    .await;
    let second = put_ok(
        store,
        &k,
        &p2,
        &Precondition::None,
        "unconditional put succeeds",
    )
    .await;

    let contract = "delete with a stale tag is PreconditionFailed and the photo stays";
    delete_result(
        store,
        &k,
        &Precondition::OneOf(vec![first.etag.clone()]),
        Err(StoreError::PreconditionFailed),
        contract,
    )
    .await;
    expect_stored(store, &k, &p2, &second.etag, contract).await;

    let contract = "delete with the current tag succeeds and the photo is gone";
    delete_result(
        store,
        &k,
        &Precondition::OneOf(vec![second.etag.clone()]),
        Ok(()),
        contract,
    )
    .await;
    expect_absent(store, &k, contract).await;
    delete_result(
        store,
        &k,
        &Precondition::None,
        Err(StoreError::NotFound),
        "a deleted photo cannot be deleted again (NotFound)",
    )
    .await;

    let contract = "delete without a precondition removes a stored photo";
    put_ok(store, &k, &p1, &Precondition::None, contract).await;
    delete_result(store, &k, &Precondition::None, Ok(()), contract).await;
    expect_absent(store, &k, contract).await;

    let contract = "delete with Precondition::Exists removes a stored photo";
    put_ok(store, &k, &p1, &Precondition::None, contract).await;
    delete_result(store, &k, &Precondition::Exists, Ok(()), contract).await;
    expect_absent(store, &k, contract).await;

    let contract = "a photo can be stored again after a delete";
    let again = put_ok(store, &k, &p2, &Precondition::None, contract).await;
    expect_stored(store, &k, &p2, &again.etag, contract).await;
}

async fn check_isolation(store: &dyn PhotoStore, tenant: &TenantId, other_tenant: &TenantId) {
    let contract = "tenants are isolated: the same owner id in two tenants is two photos (spec D3)";
    let id = "6e7b768e-07e2-4810-8459-485f84f8f204".to_owned();
    let in_a = key(tenant, PhotoOwner::User(id.as_str().into()));
    let in_b = key(other_tenant, PhotoOwner::User(id.as_str().into()));
    let pa = photo("tenant a");
    let pb = photo("tenant b");
    let a = put_ok(store, &in_a, &pa, &Precondition::None, contract).await;
    expect_absent(store, &in_b, contract).await;
    let b = put_ok(store, &in_b, &pb, &Precondition::None, contract).await;
    expect_stored(store, &in_a, &pa, &a.etag, contract).await;
    expect_stored(store, &in_b, &pb, &b.etag, contract).await;
    delete_result(store, &in_b, &Precondition::None, Ok(()), contract).await;
    expect_stored(store, &in_a, &pa, &a.etag, contract).await;
    expect_absent(store, &in_b, contract).await;

    let contract = "a user, a group and a contact with the same id string are distinct keys";
    let keys = [
        key(tenant, PhotoOwner::User("same-id".into())),
        key(tenant, PhotoOwner::Group("same-id".into())),
        key(
            tenant,
            PhotoOwner::Contact {
                user: "same-id".into(),
                contact: "same-id".into(),
            },
        ),
        key(
            tenant,
            PhotoOwner::Contact {
                user: "other-id".into(),
                contact: "same-id".into(),
            },
        ),
    ];
    let mut written = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let p = photo(&format!("same id {i}"));
        let stored = put_ok(store, k, &p, &Precondition::None, contract).await;
        written.push((p, stored.etag));
    }
    for (k, (p, etag)) in keys.iter().zip(&written) {
        expect_stored(store, k, p, etag, contract).await;
    }
    delete_result(store, &keys[1], &Precondition::None, Ok(()), contract).await;
    for (i, (k, (p, etag))) in keys.iter().zip(&written).enumerate() {
        if i == 1 {
            expect_absent(store, k, contract).await;
        } else {
            expect_stored(store, k, p, etag, contract).await;
        }
    }
}

/// Runs `work(i)` on `WRITERS` OS threads that start together; re-raises a thread's panic.
fn race<T: Send>(work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(WRITERS);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|i| {
                let (barrier, work) = (&barrier, &work);
                scope.spawn(move || {
                    barrier.wait();
                    work(i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

fn check_last_writer(store: &Arc<dyn PhotoStore>, tenant: &TenantId) {
    let contract = "concurrent unconditional puts to one key leave exactly one of the written photos, with the tag its put returned";
    let k = key(tenant, PhotoOwner::User("concurrent-writers".into()));
    let writes: Vec<Vec<(ValidatedPhoto, StoredPhoto)>> = race(|writer| {
        (0..WRITES_PER_WRITER)
            .map(|n| {
                let p = photo(&format!("writer {writer} write {n}"));
                let stored = block_on(put_ok(&**store, &k, &p, &Precondition::None, contract));
                (p, stored)
            })
            .collect()
    });
    let Some(found) = block_on(get(&**store, &k, contract)) else {
        store_violated(contract, "get returned None after the writes");
    };
    let Some((writer, n, (_, stored))) = writes.iter().enumerate().find_map(|(w, ws)| {
        ws.iter()
            .enumerate()
            .find(|(_, (p, _))| same_photo(&found, p))
            .map(|(n, pair)| (w, n, pair))
    }) else {
        store_violated(
            contract,
            format_args!(
                "the stored photo is none of the writes: {}",
                describe(&found)
            ),
        );
    };
    if found.etag != stored.etag {
        store_violated(
            contract,
            format_args!(
                "the stored photo (write {n} of writer {writer}) has etag {} but its put returned {}",
                found.etag, stored.etag
            ),
        );
    }
    if n + 1 != WRITES_PER_WRITER {
        store_violated(
            contract,
            format_args!(
                "the stored photo is write {n} of writer {writer}, which that writer overwrote later (a lost update)"
            ),
        );
    }
    // Every put answered with a tag of its own bytes: different bytes, different tags.
    let mut tags: Vec<&ETag> = writes.iter().flatten().map(|(_, s)| &s.etag).collect();
    tags.sort();
    if let Some(pair) = tags.windows(2).find(|pair| pair[0] == pair[1]) {
        store_violated(
            "the etag changes whenever the bytes change (spec C8)",
            format_args!(
                "concurrent puts of different photos returned the same etag {}",
                pair[0]
            ),
        );
    }
}

fn check_compare_and_swap(store: &Arc<dyn PhotoStore>, tenant: &TenantId) {
    let k = key(tenant, PhotoOwner::Group("compare-and-swap".into()));
    for round in 0..CAS_ROUNDS {
        let contract = "concurrent puts with If-Match on the same current tag: exactly one succeeds (compare-and-swap)";
        let base = photo(&format!("cas round {round} base"));
        let current = block_on(put_ok(&**store, &k, &base, &Precondition::None, contract));
        let condition = Precondition::OneOf(vec![current.etag.clone()]);
        let outcomes: Vec<(ValidatedPhoto, Result<StoredPhoto, StoreError>)> = race(|writer| {
            let p = photo(&format!("cas round {round} writer {writer}"));
            let result = block_on(store.put(&k, p.clone(), &condition));
            (p, result)
        });
        let mut winners = Vec::new();
        for (p, result) in &outcomes {
            match result {
                Ok(stored) => winners.push((p, stored)),
                Err(StoreError::PreconditionFailed) => {}
                Err(e) => store_violated(
                    contract,
                    format_args!("a losing conditional put must be PreconditionFailed, got {e:?}"),
                ),
            }
        }
        let [(winner, stored)] = winners.as_slice() else {
            store_violated(
                contract,
                format_args!(
                    "{} of {WRITERS} puts succeeded in round {round}",
                    winners.len()
                ),
            );
        };
        if !same_photo(stored, winner) {
            store_violated(
                contract,
                "the winning put returned a photo other than the one it wrote",
            );
        }
        block_on(expect_stored(&**store, &k, winner, &stored.etag, contract));

        let contract = "concurrent deletes with If-Match on the same current tag: exactly one succeeds (compare-and-swap)";
        let condition = Precondition::OneOf(vec![stored.etag.clone()]);
        let results = race(|_| block_on(store.delete(&k, &condition)));
        let deleted = results.iter().filter(|r| r.is_ok()).count();
        if deleted != 1 {
            store_violated(
                contract,
                format_args!("{deleted} of {WRITERS} deletes succeeded in round {round}"),
            );
        }
        if let Some(e) = results
            .iter()
            .find(|r| !matches!(r, Ok(()) | Err(StoreError::PreconditionFailed)))
        {
            store_violated(
                contract,
                format_args!("a losing conditional delete must be PreconditionFailed, got {e:?}"),
            );
        }
        block_on(expect_absent(&**store, &k, contract));
    }
}
