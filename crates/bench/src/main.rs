//! `graph-photo-bench`: the measuring half of `cargo xtask bench store` and `cargo xtask bench
//! http` (which start the servers, pin processes to cores and print ratios). Every subcommand
//! but `floor-http` prints one JSON object on stdout; the load subcommands print
//! `{"ops": N, "seconds": S, "ops_per_sec": R, "errors": E, ...}`.
//!
//! - `http`: N concurrent keep-alive clients, each sending one request over and over (for a
//!   fixed time, or a fixed number of times), each to its own path; with the CPU time it and
//!   the server it loads used while measuring.
//! - `fetch`: one GET, its body saved.
//! - `floor-http`: the bare axum server graph-photo is compared with (`floor_http.rs`).
//! - `floor-sqlite` / `floor-postgres`: N concurrent tasks doing the same work directly
//!   through sqlx, with the store adapters' durability settings: one transaction replacing a row
//!   of the same bytes (PUT), or reading it (GET).
//! - `make-jpeg` (noise) and `make-photo` (photo-like): the bodies the benchmarks upload.

mod floor_http;
mod floors;
mod load;
mod pictures;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load an HTTP server: client i uses the i-th URL of --urls (cycled).
    Http(load::HttpArgs),
    /// GET one URL (2xx expected) and write its body to --out.
    Fetch {
        #[arg(long)]
        url: String,
        /// The bearer token.
        #[arg(long)]
        token: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// The bare axum floor: stores PUT bodies in memory, serves them and a fixed 48x48 JPEG.
    FloorHttp {
        #[arg(long)]
        listen: String,
        /// The JPEG served as every user's 48x48 size.
        #[arg(long)]
        thumbnail: PathBuf,
    },
    /// The SQLite floor: WAL, synchronous=FULL, a pool like the adapter's.
    FloorSqlite {
        #[command(flatten)]
        load: floors::Load,
        /// The database file (created).
        #[arg(long)]
        path: PathBuf,
    },
    /// The PostgreSQL floor on a database of its own.
    FloorPostgres {
        #[command(flatten)]
        load: floors::Load,
        /// The database URL (its table `bench_floor` is created and dropped).
        #[arg(long)]
        url: String,
    },
    /// Drops and creates database --name on the server of --admin-url; prints its URL.
    ResetDatabase {
        #[arg(long)]
        admin_url: String,
        #[arg(long)]
        name: String,
    },
    /// Writes a JPEG of about --bytes bytes (noise, so it does not compress away).
    MakeJpeg {
        #[arg(long)]
        bytes: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Writes a photo-like JPEG (quality 93, 4:2:0) of about --bytes bytes.
    MakePhoto {
        #[arg(long)]
        bytes: usize,
        #[arg(long)]
        out: PathBuf,
    },
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The same runtime as `graph-photo serve` builds (multi-threaded, one worker per core it may
/// run on), so that the floor server is compared on equal terms.
#[tokio::main]
async fn main() -> Result<(), Error> {
    let cli = Cli::parse();
    let report = match cli.command {
        Command::Http(args) => load::http(&args).await?,
        Command::Fetch { url, token, out } => load::fetch(&url, &token, &out).await?,
        Command::FloorHttp { listen, thumbnail } => {
            return floor_http::serve(&listen, &thumbnail).await;
        }
        Command::FloorSqlite { load, path } => floors::sqlite(&load, &path).await?,
        Command::FloorPostgres { load, url } => floors::postgres(&load, &url).await?,
        Command::ResetDatabase { admin_url, name } => {
            floors::reset_database(&admin_url, &name).await?
        }
        Command::MakeJpeg { bytes, out } => pictures::noise_jpeg(bytes, &out)?,
        Command::MakePhoto { bytes, out } => pictures::photo_jpeg(bytes, &out)?,
    };
    println!("{report}");
    Ok(())
}
