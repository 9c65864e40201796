//! A quick measurement of the store, not the project's benchmark (that one drives the HTTP
//! server: `cargo xtask bench`). Reads and writes of a 100 KB photo from 16 concurrent tasks:
//!
//! - GET of a hot photo: an in-memory map under a `RwLock` (what `MemPhotoStore` does; an
//!   adapter may not depend on another, so it is re-created here), the SQLite store with its
//!   hot cache, and without it;
//! - PUT: the store, and the engine's floor (a bare loop writing the same bytes through the
//!   same driver with the same durability settings).
//!
//! `cargo run -p adapter-sqlite --example store_bench [seconds per case]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use adapter_sqlite::{SqliteOptions, SqliteStore};
use bytes::Bytes;
use photo_core::etag::Precondition;
use photo_core::format::ImageFormat;
use photo_core::ports::{PhotoKey, PhotoOwner, PhotoStore, StoredPhoto, ValidatedPhoto};
use photo_core::principal::TenantId;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::ConnectOptions;

const CLIENTS: usize = 16;
const PHOTO_BYTES: usize = 100 * 1024;

fn key(i: usize) -> PhotoKey {
    PhotoKey {
        tenant: TenantId::new("bench"),
        owner: PhotoOwner::User(format!("user-{i}").into()),
    }
}

fn photo(seed: u64) -> ValidatedPhoto {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let bytes: Vec<u8> = (0..PHOTO_BYTES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    ValidatedPhoto::for_testkit(Bytes::from(bytes), ImageFormat::Jpeg, 800, 600)
}

/// Runs `op(client, n)` from `CLIENTS` tasks for `time`; operations per second.
async fn run<F, Fut>(time: Duration, op: F) -> f64
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (op, done) = (Arc::clone(&op), Arc::clone(&done));
            tokio::spawn(async move {
                let mut n = 0;
                while start.elapsed() < time {
                    op(client, n).await;
                    n += 1;
                }
                done.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let time = Duration::from_secs_f64(secs);
    let dir = tempfile::tempdir().unwrap();
    let hot_key = key(0);
    let original = photo(1);

    // GET, memory.
    let memory: Arc<RwLock<HashMap<PhotoKey, StoredPhoto>>> = Arc::default();
    memory
        .write()
        .unwrap()
        .insert(hot_key.clone(), StoredPhoto::from(original.clone()));
    let k = hot_key.clone();
    let mem_get = run(time, move |_, _| {
        let (memory, k) = (Arc::clone(&memory), k.clone());
        async move {
            let found = memory.read().unwrap().get(&k).cloned();
            assert!(found.is_some());
        }
    })
    .await;

    // GET, SQLite with and without the hot cache.
    let path = dir.path().join("bench.db");
    let mut gets = Vec::new();
    for hot_cache_bytes in [SqliteOptions::DEFAULT_HOT_CACHE_BYTES, 0] {
        let options = SqliteOptions {
            hot_cache_bytes,
            ..SqliteOptions::default()
        };
        let store = Arc::new(SqliteStore::open(&path, options).await.unwrap());
        store
            .put(&hot_key, original.clone(), &Precondition::None)
            .await
            .unwrap();
        let k = hot_key.clone();
        let rate = run(time, move |_, _| {
            let (store, k) = (Arc::clone(&store), k.clone());
            async move {
                let found = PhotoStore::get(&*store, &k).await.unwrap();
                assert!(found.is_some());
            }
        })
        .await;
        gets.push(rate);
    }

    // PUT: the store (each client its own key, new bytes every time) and the engine's floor
    // (one connection, WAL + synchronous=FULL, a bare upsert of the same bytes: the statement
    // the store runs for an unconditional put, without its other columns), taking turns so
    // that neither gets the disk at its best or worst moment alone.
    let photos: Arc<Vec<ValidatedPhoto>> = Arc::new((0..64).map(|i| photo(100 + i)).collect());
    let store = Arc::new(
        SqliteStore::open(&path, SqliteOptions::default())
            .await
            .unwrap(),
    );
    let conn = SqliteConnectOptions::new()
        .filename(dir.path().join("floor.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .connect()
        .await
        .unwrap();
    // A second connection stays open, as the store's pool and anchor always hold several:
    // measured here, a file with one lone connection commits about a third slower, which
    // would flatter the store.
    let _second = SqliteConnectOptions::new()
        .filename(dir.path().join("floor.db"))
        .connect()
        .await
        .unwrap();
    let conn = Arc::new(tokio::sync::Mutex::new(conn));
    sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB NOT NULL)")
        .execute(&mut *conn.lock().await)
        .await
        .unwrap();
    let (mut put, mut floor) = (0.0, 0.0);
    const TURNS: u32 = 3;
    for _ in 0..TURNS {
        let (photos_, conn) = (Arc::clone(&photos), Arc::clone(&conn));
        floor += run(time / TURNS, move |client, n| {
            let (conn, photos) = (Arc::clone(&conn), Arc::clone(&photos_));
            async move {
                let p = &photos[(client * 7 + n as usize) % photos.len()];
                sqlx::query(
                    "INSERT INTO t (k, v) VALUES (?1, ?2) \
                     ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                )
                .bind(format!("user-{client}"))
                .bind(p.bytes().to_vec())
                .execute(&mut *conn.lock().await)
                .await
                .unwrap();
            }
        })
        .await
            / f64::from(TURNS);
        let (photos_, store) = (Arc::clone(&photos), Arc::clone(&store));
        put += run(time / TURNS, move |client, n| {
            let (store, photos) = (Arc::clone(&store), Arc::clone(&photos_));
            async move {
                let p = photos[(client * 7 + n as usize) % photos.len()].clone();
                store
                    .put(&key(client), p, &Precondition::None)
                    .await
                    .unwrap();
            }
        })
        .await
            / f64::from(TURNS);
    }

    println!(
        "{CLIENTS} clients, {} KB photo, {secs} s per case",
        PHOTO_BYTES / 1024
    );
    println!("GET memory (RwLock<HashMap>)      {mem_get:>12.0} /s");
    println!(
        "GET sqlite, hot cache             {:>12.0} /s  ({:.3}x memory)",
        gets[0],
        gets[0] / mem_get
    );
    println!(
        "GET sqlite, no cache              {:>12.0} /s  ({:.3}x memory)",
        gets[1],
        gets[1] / mem_get
    );
    println!("PUT engine floor                  {floor:>12.0} /s");
    println!(
        "PUT sqlite store                  {put:>12.0} /s  ({:.2}x floor)",
        put / floor
    );
}
