//! Acknowledged writes survive the store being dropped without shutdown, and the process
//! being killed (SIGKILL) at a random moment.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use photo_core::etag::Precondition;
use photo_core::ports::{PhotoKey, PhotoStore, StoreError, ValidatedPhoto};

use crate::support::{open, photo, raw, user};

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_a_drop_without_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let mut written = BTreeMap::new();
    {
        let store = open(&path).await;
        for i in 0..20 {
            let key = user("t", &format!("u{i}"));
            let stored = store
                .put(
                    &key,
                    photo(&format!("photo {i}"), 20_000 + i),
                    &Precondition::None,
                )
                .await
                .unwrap();
            written.insert(key, stored);
        }
        let gone = user("t", "u3");
        store.delete(&gone, &Precondition::None).await.unwrap();
        written.remove(&gone);
        // No close: the store is simply dropped.
    }
    let store = open(&path).await;
    let mut keys = store.keys().await.unwrap();
    keys.sort();
    assert_eq!(keys, written.keys().cloned().collect::<Vec<_>>());
    for (key, stored) in &written {
        assert_eq!(store.get(key).await.unwrap().as_ref(), Some(stored));
    }
}

/// The child's environment variable: the file to write to, and the first operation's number.
const CHILD_ENV: &str = "ADAPTER_SQLITE_CRASH_CHILD";
const KEYS: usize = 5;

/// Operation `n` of the child's endless sequence: a put of photo `n` to key `n % KEYS`, or
/// every fourth time a delete of that key.
fn operation(n: usize) -> (PhotoKey, Option<ValidatedPhoto>) {
    let key = user("crash", &format!("k{}", n % KEYS));
    let photo = (n % 4 != 3).then(|| photo(&format!("crash photo {n}"), 30_000 + n * 7));
    (key, photo)
}

/// Not a test of its own: the child process of the crash test. Without the variable (a
/// normal test run) it returns at once.
#[tokio::test(flavor = "multi_thread")]
async fn crash_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (path, first) = spec.rsplit_once('|').unwrap();
    let store = open(Path::new(path)).await;
    for n in first.parse::<usize>().unwrap().. {
        match operation(n) {
            (key, Some(p)) => {
                store.put(&key, p, &Precondition::None).await.unwrap();
            }
            (key, None) => match store.delete(&key, &Precondition::None).await {
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(e) => panic!("{e}"),
            },
        }
        // Only once the store returned: this operation is acknowledged.
        println!("ACK {n}");
    }
}

/// Kills a writing child process at random points, three times over one file; after each
/// kill every acknowledged operation is in the file, the one in flight either fully there
/// or not at all, and the file is intact.
#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let exe = std::env::current_exe().unwrap();
    let mut next = 0;
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as usize;
    for round in 0..3 {
        let kill_after = 5 + (seed / (round + 1)) % 25;
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "durability::crash_child_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, format!("{}|{next}", path.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut acked = None;
        for line in stdout.lines() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("ACK ") {
                acked = Some(n.parse::<usize>().unwrap());
                if acked == Some(next + kill_after) {
                    // SIGKILL, while the child is busy with its next write.
                    child.kill().unwrap();
                    break;
                }
            }
        }
        let status = child.wait().unwrap();
        let acked = acked.unwrap_or_else(|| panic!("the child acknowledged nothing ({status})"));
        assert!(!status.success(), "the child should have been killed");

        // What the file must hold: every acknowledged operation from the start, and
        // operation `acked + 1` (in flight) either applied or not, atomically.
        let state_after = |last: usize| {
            let mut state = BTreeMap::new();
            for n in 0..=last {
                let (key, photo) = operation(n);
                state.insert(key, photo);
            }
            state
        };
        let (without, with) = (state_after(acked), state_after(acked + 1));
        let store = open(&path).await;
        let mut found = BTreeMap::new();
        for key in without.keys() {
            let got = store.get(key).await.unwrap();
            found.insert(key.clone(), got);
        }
        let matches = |expected: &BTreeMap<PhotoKey, Option<ValidatedPhoto>>| {
            expected.iter().all(|(key, photo)| {
                let got = &found[key];
                match (photo, got) {
                    (None, None) => true,
                    (Some(p), Some(g)) => {
                        g.bytes == p.bytes() && &g.etag == p.etag() && g.format == p.format()
                    }
                    _ => false,
                }
            })
        };
        assert!(
            matches(&without) || matches(&with),
            "round {round}: after ACK {acked} the file holds neither the acknowledged state nor that plus the write in flight"
        );
        store.close().await;
        let mut conn = raw(&path).await;
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(check, "ok");
        next = acked + 2;
    }
}
