//! The `mrpt` command line: `mrpt serve` runs the server, `mrpt admin`
//! acts on its stores, `mrpt loadtest` checks under load that no user
//! reaches another's data.

use clap::{Parser, Subcommand};

/// Serving a read allocates and frees many small buffers (JSON in and out);
/// glibc's allocator took a fifth of the workers' time under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::io::IsTerminal;

#[derive(Parser)]
#[command(name = "mrpt", version, about = "Malaria risk prioritisation of wards")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server and the web page.
    Serve(Box<mrpt::config::ServeConfig>),
    /// Operator commands on the configured stores: users, sessions, events, purge.
    Admin(mrpt::admin::AdminArgs),
    /// Many users at once against running servers, checking for bleeds.
    Loadtest(mrpt::loadtest::LoadtestArgs),
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MRPT_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // Structured JSON for log collectors; readable lines on a terminal.
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().flatten_event(true).init();
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Serve(config) => mrpt::serve::run(*config).await,
        Command::Admin(args) => mrpt::admin::run(args).await,
        Command::Loadtest(args) => mrpt::loadtest::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "mrpt failed");
            eprintln!("mrpt: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
