//! Writes that cannot happen answer `Unavailable` in bounded time; reads keep working.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapter_sqlite::{SqliteOpenError, SqliteOptions, SqliteStore};
use photo_core::etag::Precondition;
use photo_core::ports::{PhotoStore, StoreError, StoredPhoto};

// Its `get`/`put` share names with PhotoStore's: called by path, not imported.
use crate::support::rc;
use photo_core::renditions::RenditionSet;
use sqlx::Connection;

use crate::support::{open, photo, raw, user};

/// A store holding one photo at `path`, closed; returns that photo.
async fn one_photo(path: &Path) -> StoredPhoto {
    let store = open(path).await;
    let stored = store
        .put(
            &user("t", "ro"),
            photo("read only", 4000),
            &Precondition::None,
        )
        .await
        .unwrap();
    store.close().await;
    stored
}

/// Reads work and every write is `Unavailable` (nothing written).
async fn reads_work_writes_unavailable(store: &SqliteStore, stored: &StoredPhoto) {
    let key = user("t", "ro");
    assert_eq!(store.get(&key).await.unwrap().as_ref(), Some(stored));
    assert_eq!(store.keys().await.unwrap(), vec![key.clone()]);
    fn unavailable<T>(r: Result<T, StoreError>) -> bool {
        matches!(r, Err(StoreError::Unavailable(_)))
    }
    let put = store.put(&key, photo("new", 10), &Precondition::None).await;
    assert!(unavailable(put.clone()), "{put:?}");
    // Our words, not the driver's.
    assert_eq!(
        put,
        Err(StoreError::Unavailable(
            "storing a photo: the database is read-only".into()
        ))
    );
    assert!(unavailable(
        store
            .put(&user("t", "other"), photo("new", 10), &Precondition::None)
            .await
    ));
    assert!(unavailable(store.delete(&key, &Precondition::None).await));
    // The rendition cache has no error to give: nothing stored, nothing breaks.
    rc::put(store, &key, &stored.etag, Arc::new(RenditionSet::default())).await;
    assert!(rc::get(store, &key, &stored.etag).await.is_none());
    rc::forget(store, &key).await;
    assert_eq!(store.get(&key).await.unwrap().as_ref(), Some(stored));
}

#[tokio::test]
async fn a_store_opened_read_only_reads_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.db");
    let stored = one_photo(&path).await;
    let options = SqliteOptions {
        read_only: true,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(&path, options.clone()).await.unwrap();
    reads_work_writes_unavailable(&store, &stored).await;
    store.close().await;

    // Read-only never creates, nor migrates.
    let missing = dir.path().join("missing.db");
    let err = SqliteStore::open(&missing, options.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, SqliteOpenError::Open { .. }), "{err:?}");
    assert!(!missing.exists());
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let err = SqliteStore::open(&empty, options).await.unwrap_err();
    assert!(
        matches!(
            err,
            SqliteOpenError::ReadOnly {
                needed: "migrated",
                ..
            }
        ),
        "{err:?}"
    );
}

/// Undoes `chattr +i` even when the test fails, so the temporary directory can go.
struct Immutable<'a>(&'a Path);

impl Drop for Immutable<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(self.0)
            .status();
    }
}

/// The file made read-only by the operating system, not by an option of ours. Mode 0444
/// stops a normal user; root ignores it, so as root the file is made immutable
/// (`chattr +i`, which binds root too) where the file system allows it.
#[tokio::test]
async fn a_file_the_os_will_not_let_us_write() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.db");
    let stored = one_photo(&path).await;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let denied = || {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .is_err()
    };
    let _guard = if denied() {
        None
    } else {
        let made = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        made.then(|| Immutable(&path))
    };
    if !denied() {
        // Privileged, and no immutable flag here (tmpfs, no CAP_LINUX_IMMUTABLE): the case
        // cannot be staged; the read-only option test above covers the mapping.
        eprintln!(
            "skipped: cannot make {} read-only to this process",
            path.display()
        );
        return;
    }
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    reads_work_writes_unavailable(&store, &stored).await;
    store.close().await;
}

/// A new file in a directory the OS will not let us write to (mode 0555, or as root
/// `chattr +i`, as above): a one-line `ReadOnly` error saying the file needed creating.
#[tokio::test]
async fn a_new_file_in_a_directory_the_os_will_not_let_us_write() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let denied = || std::fs::write(locked.join("probe"), b"").is_err();
    let _guard = if denied() {
        None
    } else {
        let _ = std::fs::remove_file(locked.join("probe"));
        let made = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&locked)
            .status()
            .is_ok_and(|s| s.success());
        made.then(|| Immutable(&locked))
    };
    if !denied() {
        eprintln!(
            "skipped: cannot make {} read-only to this process",
            locked.display()
        );
        return;
    }
    let path = locked.join("photos.db");
    let err = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SqliteOpenError::ReadOnly {
            path: path.clone(),
            needed: "created"
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the SQLite store {} is read-only but needs to be created",
            path.display()
        )
    );
}

/// Another process holding the write lock: writes give up after `busy_timeout`, reads go on
/// (WAL readers do not wait for writers), and callers queued behind a stuck writer give up
/// after `acquire_timeout`.
#[tokio::test(flavor = "multi_thread")]
async fn a_locked_database_answers_unavailable_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.db");
    let stored = one_photo(&path).await;
    let options = SqliteOptions {
        max_connections: 1,
        acquire_timeout: Duration::from_millis(200),
        busy_timeout: Duration::from_millis(2500),
        ..SqliteOptions::default()
    };
    let store = Arc::new(SqliteStore::open(&path, options).await.unwrap());
    let key = user("t", "ro");

    let mut other = raw(&path).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();

    assert_eq!(
        store.get(&key).await.unwrap(),
        Some(stored.clone()),
        "reads go on"
    );
    let started = Instant::now();
    let stuck = tokio::spawn({
        let store = Arc::clone(&store);
        let key = key.clone();
        async move {
            store
                .put(&key, photo("stuck", 10), &Precondition::None)
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The stuck writer holds the only connection and this process's writer turn.
    let queued = store
        .put(&key, photo("queued", 10), &Precondition::None)
        .await;
    assert!(
        matches!(queued, Err(StoreError::Unavailable(_))),
        "{queued:?}"
    );
    // A read that needs the database waits for the connection no longer than a write...
    let read = store.get(&user("t", "not cached")).await;
    assert!(matches!(read, Err(StoreError::Unavailable(_))), "{read:?}");
    // ...while the hot photo, unchanged since it was read, needs no connection at all.
    assert_eq!(store.get(&key).await.unwrap(), Some(stored.clone()));
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "{:?}",
        started.elapsed()
    );

    let stuck = stuck.await.unwrap();
    assert_eq!(
        stuck,
        Err(StoreError::Unavailable(
            "storing a photo: the database is locked by another connection".into()
        ))
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // The lock goes away: the store recovers by itself.
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    other.close().await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(stored));
    store
        .put(&key, photo("after", 10), &Precondition::None)
        .await
        .unwrap();
}
