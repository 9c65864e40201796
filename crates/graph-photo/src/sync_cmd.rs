//! `graph-photo sync DIR --map FILE.csv`: the arguments, the progress bar and the summary
//! around `photo_upload::sync`.

use std::io::IsTerminal;
use std::sync::Arc;

use adapter_graph_client::GraphClient;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use photo_upload::sync::{
    parse_map, sync_with_progress, ItemReport, Progress, SyncOptions, SyncReport,
    DEFAULT_STATE_FILE,
};

use crate::cli::{OutputFormat, SyncArgs};
use crate::photo_cmd::{client_config, file_error, token_provider};
use crate::AppError;

/// `graph-photo sync`: reads the map, runs, returns the report (not printed).
pub async fn run(args: &SyncArgs) -> Result<SyncReport, AppError> {
    if !args.dir.is_dir() {
        return Err(AppError::Usage(format!(
            "{}: not a directory",
            args.dir.display()
        )));
    }
    let tokens = match token_provider(&args.client) {
        Ok(tokens) => tokens,
        // A dry run calls nothing: no token needed.
        Err(_) if args.dry_run => Arc::new(adapter_graph_client::StaticToken("dry-run".into())),
        Err(error) => return Err(error),
    };
    let client = GraphClient::new(client_config(&args.client)?, tokens)?;
    let map_file = std::fs::File::open(&args.map).map_err(|e| file_error(&args.map, &e))?;
    let map = parse_map(std::io::BufReader::new(map_file));
    let concurrency = usize::try_from(args.concurrency).unwrap_or(1);
    let options = SyncOptions {
        dir: args.dir.clone(),
        state_path: args
            .state
            .clone()
            .unwrap_or_else(|| args.dir.join(DEFAULT_STATE_FILE)),
        concurrency,
        dry_run: args.dry_run,
        fit: args.fit,
    };
    let bar = Bar::new(std::io::stderr().is_terminal());
    Ok(sync_with_progress(&client, map, &options, &bar).await?)
}

/// `graph-photo sync` as the binary runs it: prints the summary on standard output; an error
/// when any row failed.
pub async fn run_cli(args: SyncArgs) -> Result<(), AppError> {
    let report = run(&args).await?;
    match args.output {
        OutputFormat::Text => print!("{}", report.summary()),
        OutputFormat::Json => {
            let mut out = String::new();
            for record in report.records() {
                let line = serde_json::to_string(&record)
                    .map_err(|e| AppError::Usage(format!("cannot write the report: {e}")))?;
                out.push_str(&line);
                out.push('\n');
            }
            print!("{out}");
        }
    }
    match (report.failed(), report.state_error.clone()) {
        (0, None) => Ok(()),
        (0, Some(error)) => Err(AppError::SyncState(error)),
        (failed, _) => Err(AppError::SyncFailed {
            failed,
            total: report.total(),
        }),
    }
}

/// The progress bar on standard error; hidden unless it is a terminal, so that redirected
/// output and logs stay clean.
struct Bar {
    bar: ProgressBar,
    draw: bool,
}

impl Bar {
    fn new(draw: bool) -> Self {
        let bar = ProgressBar::hidden();
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, ETA {eta}) {msg}",
        ) {
            bar.set_style(style);
        }
        Bar { bar, draw }
    }
}

impl Progress for Bar {
    fn started(&self, total: u64) {
        self.bar.set_length(total);
        if self.draw {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    fn item_done(&self, item: &ItemReport) {
        self.bar.set_message(item.file.clone());
        self.bar.inc(1);
    }

    fn finished(&self) {
        self.bar.finish_and_clear();
    }
}
