//! `graph-photo-bench`: the measuring half of `cargo xtask bench store` (which starts the
//! servers, pins processes to cores and prints ratios). Every subcommand prints one JSON object
//! on stdout: `{"ops": N, "seconds": S, "ops_per_sec": R, "errors": E}`.
//!
//! - `http`: N concurrent keep-alive clients, each sending one request over and over for a
//!   fixed time (a PUT of a body, or a GET), each to its own path.
//! - `floor-sqlite` / `floor-postgres`: N concurrent tasks doing the same work directly
//!   through sqlx, with the store adapters' durability settings: one transaction replacing a row
//!   of the same bytes (PUT), or reading it (GET).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, Subcommand, ValueEnum};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Op {
    Put,
    Get,
}

#[derive(clap::Args)]
struct Load {
    /// PUT the body or GET.
    #[arg(long, value_enum)]
    op: Op,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Warm-up seconds, not counted.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Measured seconds.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// The body of a PUT (and the bytes a floor stores).
    #[arg(long)]
    body: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Load an HTTP server: client i uses the i-th URL of --urls (cycled).
    Http {
        #[command(flatten)]
        load: Load,
        /// A file of URLs, one per line.
        #[arg(long)]
        urls: PathBuf,
        /// The bearer token.
        #[arg(long)]
        token: String,
        /// The Content-Type of a PUT.
        #[arg(long, default_value = "image/jpeg")]
        content_type: String,
    },
    /// The SQLite floor: WAL, synchronous=FULL, a pool like the adapter's.
    FloorSqlite {
        #[command(flatten)]
        load: Load,
        /// The database file (created).
        #[arg(long)]
        path: PathBuf,
    },
    /// Writes a JPEG of about --bytes bytes (noise, so it does not compress away).
    MakeJpeg {
        #[arg(long)]
        bytes: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Drops and creates database --name on the server of --admin-url; prints its URL.
    ResetDatabase {
        #[arg(long)]
        admin_url: String,
        #[arg(long)]
        name: String,
    },
    /// The PostgreSQL floor on a database of its own.
    FloorPostgres {
        #[command(flatten)]
        load: Load,
        /// The database URL (its table `bench_floor` is created and dropped).
        #[arg(long)]
        url: String,
    },
}

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let cli = Cli::parse();
    let report = match cli.command {
        Command::Http {
            load,
            urls,
            token,
            content_type,
        } => http(&load, &urls, &token, &content_type).await?,
        Command::FloorSqlite { load, path } => floor_sqlite(&load, &path).await?,
        Command::FloorPostgres { load, url } => floor_postgres(&load, &url).await?,
        Command::MakeJpeg { bytes, out } => make_jpeg(bytes, &out)?,
        Command::ResetDatabase { admin_url, name } => reset_database(&admin_url, &name).await?,
    };
    println!("{report}");
    Ok(())
}

/// Runs `op` on `concurrency` tasks for warm-up plus measured time; counts the measured ones.
async fn drive<F, Fut>(load: &Load, op: F) -> serde_json::Value
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let ops = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(load.warmup);
    let end = measure_from + Duration::from_secs_f64(load.seconds);
    let tasks: Vec<_> = (0..load.concurrency)
        .map(|i| {
            let (op, ops, errors) = (op.clone(), ops.clone(), errors.clone());
            tokio::spawn(async move {
                loop {
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    let ok = op(i).await;
                    if Instant::now() <= end && now >= measure_from {
                        if ok {
                            ops.fetch_add(1, Ordering::Relaxed);
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let ops = ops.load(Ordering::Relaxed);
    serde_json::json!({
        "ops": ops,
        "seconds": load.seconds,
        "ops_per_sec": ops as f64 / load.seconds,
        "errors": errors.load(Ordering::Relaxed),
    })
}

async fn http(
    load: &Load,
    urls: &PathBuf,
    token: &str,
    content_type: &str,
) -> Result<serde_json::Value, Error> {
    let body = Bytes::from(std::fs::read(&load.body)?);
    let urls: Vec<String> = std::fs::read_to_string(urls)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    if urls.is_empty() {
        return Err("no URLs".into());
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(load.concurrency)
        .build()?;
    let (token, content_type, op) = (format!("Bearer {token}"), content_type.to_owned(), load.op);
    Ok(drive(load, move |i| {
        let url = urls[i % urls.len()].clone();
        let request = match op {
            Op::Put => client
                .put(url)
                .header("content-type", content_type.as_str())
                .body(body.clone()),
            Op::Get => client.get(url),
        }
        .header("authorization", token.as_str());
        async move {
            match request.send().await {
                Ok(resp) => {
                    let ok = resp.status().is_success();
                    ok && resp.bytes().await.is_ok()
                }
                Err(_) => false,
            }
        }
    })
    .await)
}

async fn floor_sqlite(load: &Load, path: &PathBuf) -> Result<serde_json::Value, Error> {
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
    Ok(drive(load, move |i| {
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

async fn floor_postgres(load: &Load, url: &str) -> Result<serde_json::Value, Error> {
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
    let report = drive(load, {
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

fn make_jpeg(bytes: usize, out: &PathBuf) -> Result<serde_json::Value, Error> {
    // Noise compresses to roughly a constant number of bytes per pixel: grow the side until
    // the file reaches the size asked for.
    let mut side = 64u32;
    loop {
        let mut state = 0x9e37_79b9u32;
        let image = image::RgbImage::from_fn(side, side, |_, _| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let [a, b, c, _] = state.to_le_bytes();
            image::Rgb([a, b, c])
        });
        let mut encoded = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(image).write_to(&mut encoded, image::ImageFormat::Jpeg)?;
        let encoded = encoded.into_inner();
        if encoded.len() >= bytes || side >= 4096 {
            std::fs::write(out, &encoded)?;
            return Ok(serde_json::json!({ "bytes": encoded.len(), "side": side }));
        }
        side += 8;
    }
}

async fn reset_database(admin_url: &str, name: &str) -> Result<serde_json::Value, Error> {
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
