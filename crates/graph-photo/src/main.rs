use std::process::ExitCode;

use clap::Parser;
use graph_photo::cli::{Cli, Command, LogFormat};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_level, cli.log_format);

    let result = match cli.command {
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "graph-photo", &mut std::io::stdout());
            Ok(())
        }
        Command::Token(args) => graph_photo::token::run(&args).map(|token| println!("{token}")),
        Command::Photo(args) => {
            runtime().and_then(|rt| rt.block_on(graph_photo::photo_cmd::run(args)))
        }
        Command::Sync(args) => {
            runtime().and_then(|rt| rt.block_on(graph_photo::sync_cmd::run_cli(args)))
        }
        Command::Conformance(args) => match &args.action {
            Some(graph_photo::conformance_cmd::ConformanceAction::Fixture { out }) => {
                graph_photo::conformance_cmd::write_fixture(&args, out.as_deref())
            }
            None => graph_photo::conformance_cmd::run(&args).and_then(|report| {
                println!(
                    "{}",
                    graph_photo::conformance_cmd::render(&report, args.output)
                );
                if report.passed() {
                    Ok(())
                } else {
                    Err(graph_photo::AppError::ConformanceFailed(
                        report.failures.len(),
                    ))
                }
            }),
        },
        Command::Export(args) => runtime().and_then(|rt| {
            rt.block_on(graph_photo::archive_cmd::export(&args))
                .map(|report| println!("{report}"))
        }),
        Command::Import(args) => runtime().and_then(|rt| {
            rt.block_on(graph_photo::archive_cmd::import(&args))
                .map(|report| println!("{report}"))
        }),
        Command::Serve(args) => runtime().and_then(|rt| {
            let served = rt.block_on(async {
                let server = graph_photo::serve::bind(&args).await?;
                println!("{}", server.banner(!args.quiet));
                server.run(graph_photo::serve::shutdown_signal()).await
            });
            // `run` returns at the end of the shutdown grace period at the latest; a render
            // still running on a blocking thread must not hold the exit up.
            rt.shutdown_timeout(std::time::Duration::from_secs(1));
            served
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("graph-photo: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// Logs go to stderr, filtered by `--log-level`, as text or JSON lines (`--log-format`). Text
/// is coloured only when stderr is a terminal (and `NO_COLOR` is unset): a file or a pipe gets
/// no ANSI escapes. JSON is never coloured.
fn init_logging(level: &str, format: LogFormat) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            builder.with_ansi(colour).init();
        }
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_ansi(false)
            .init(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, graph_photo::AppError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(graph_photo::AppError::Serve)
}
