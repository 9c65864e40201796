//! The storage engines' floors: N concurrent tasks doing the store adapters' work straight
//! through sqlx, with their durability settings.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::load::{drive, Plan};
use crate::Error;

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Op {
    Put,
    Get,
}

#[derive(clap::Args)]
pub(crate) struct Load {
    /// PUT the body or GET.
    #[arg(long, value_enum)]
    op: Op,
    /// Concurrent tasks.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Warm-up seconds, not counted.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Measured seconds.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// The bytes written.
    #[arg(long)]
    body: PathBuf,
}

impl Load {
    fn plan(&self) -> Plan {
        Plan::Timed {
            warmup: self.warmup,
            seconds: self.seconds,
        }
    }
}

pub(crate) async fn sqlite(load: &Load, path: &Path) -> Result<serde_json::Value, Error> {
    let body = std::fs::read(&load.body)?;
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_floor (k INTEGER PRIMARY KEY, bytes BLOB NOT NULL)",
    )
    .execute(&pool)
    .await?;
    for k in 0..load.concurrency {
        sqlx::query("INSERT OR REPLACE INTO bench_floor (k, bytes) VALUES (?, ?)")
            .bind(k as i64)
            .bind(&body)
            .execute(&pool)
            .await?;
    }
    let (body, op) = (Arc::new(body), load.op);
    Ok(drive(load.concurrency, load.plan(), move |i| {
        let (pool, body) = (pool.clone(), body.clone());
        async move {
            match op {
                Op::Put => async {
                    // The adapter's write: a write transaction taken up front.
                    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                    sqlx::query("INSERT OR REPLACE INTO bench_floor (k, bytes) VALUES (?, ?)")
                        .bind(i as i64)
                        .bind(body.as_slice())
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await
                }
                .await
                .is_ok(),
                Op::Get => {
                    sqlx::query_scalar::<_, Vec<u8>>("SELECT bytes FROM bench_floor WHERE k = ?")
                        .bind(i as i64)
                        .fetch_one(&pool)
                        .await
                        .is_ok()
                }
            }
        }
    })
    .await)
}

pub(crate) async fn postgres(load: &Load, url: &str) -> Result<serde_json::Value, Error> {
    let body = std::fs::read(&load.body)?;
    let pool = PgPoolOptions::new()
        .max_connections(u32::try_from(load.concurrency).unwrap_or(16))
        .connect(url)
        .await?;
    sqlx::query("DROP TABLE IF EXISTS bench_floor")
        .execute(&pool)
        .await?;
    sqlx::query("CREATE TABLE bench_floor (k BIGINT PRIMARY KEY, bytes BYTEA NOT NULL)")
        .execute(&pool)
        .await?;
    for k in 0..load.concurrency {
        sqlx::query("INSERT INTO bench_floor (k, bytes) VALUES ($1, $2)")
            .bind(k as i64)
            .bind(&body)
            .execute(&pool)
            .await?;
    }
    let (body, op) = (Arc::new(body), load.op);
    let report = drive(load.concurrency, load.plan(), {
        let pool = pool.clone();
        move |i| {
            let (pool, body) = (pool.clone(), body.clone());
            async move {
                match op {
                    Op::Put => sqlx::query(
                        "INSERT INTO bench_floor (k, bytes) VALUES ($1, $2) \
                         ON CONFLICT (k) DO UPDATE SET bytes = EXCLUDED.bytes",
                    )
                    .bind(i as i64)
                    .bind(body.as_slice())
                    .execute(&pool)
                    .await
                    .is_ok(),
                    Op::Get => sqlx::query_scalar::<_, Vec<u8>>(
                        "SELECT bytes FROM bench_floor WHERE k = $1",
                    )
                    .bind(i as i64)
                    .fetch_one(&pool)
                    .await
                    .is_ok(),
                }
            }
        }
    })
    .await;
    sqlx::query("DROP TABLE IF EXISTS bench_floor")
        .execute(&pool)
        .await?;
    Ok(report)
}

pub(crate) async fn reset_database(
    admin_url: &str,
    name: &str,
) -> Result<serde_json::Value, Error> {
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return Err("database names here are lower-case letters and underscores".into());
    }
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(admin_url)
        .await?;
    // `name` is checked above: letters and underscores only.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&pool)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await?;
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(base, _)| base);
    Ok(serde_json::json!({ "url": format!("{base}/{name}") }))
}
