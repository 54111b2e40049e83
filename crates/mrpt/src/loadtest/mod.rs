//! `mrpt loadtest`: many users at once against one or more servers, every
//! answer checked for another user's data or power (a bleed), with latency
//! per endpoint. A client of the HTTP API only (API.md).

mod checks;
mod client;
mod endpoints;
mod fixture;
mod progress;
mod registry;
mod report;
mod retry;
mod workload;

use client::{Call, Credentials, Transport};
use endpoints::Endpoints;
use progress::Progress;
use registry::Registry;
use report::{Recorder, Setup};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use workload::Run;

#[derive(Debug, Clone, clap::Args)]
pub struct LoadtestArgs {
    /// Base URL of a server, e.g. `http://127.0.0.1:8080`; repeat it to
    /// send each request to the next URL in turn.
    #[arg(long = "url", required = true, value_parser = parse_url)]
    pub urls: Vec<String>,

    /// Users to simulate, each with its own account, session and data.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub users: u32,

    /// Rounds of the whole workload each user runs.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,

    /// Requests in flight at once, over all users.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,

    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Longest wait for one answer, in seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
}

fn parse_url(value: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(value).map_err(|err| err.to_string())?;
    match url.scheme() {
        "http" | "https" if url.path() == "/" && url.query().is_none() => Ok(value.trim_end_matches('/').to_owned()),
        "http" | "https" => Err("give the server's base URL, without a path".into()),
        _ => Err("the URL must be http or https".into()),
    }
}

/// Runs the load test and prints its report; an error when it saw any
/// bleed or unexpected answer.
pub async fn run(args: LoadtestArgs) -> anyhow::Result<()> {
    let (users, rounds) = (args.users as usize, args.rounds as usize);
    let recorder = Arc::new(Recorder::default());
    let transport = Transport::new(args.urls.clone(), args.concurrency as usize, Duration::from_secs(args.timeout), recorder.clone())?;
    let endpoints = discover(&transport).await?;
    let run = Arc::new(Run {
        transport,
        endpoints,
        registry: Registry::new(users),
        recorder: recorder.clone(),
        rounds,
        progress: Progress::new((users * rounds) as u64),
        started: tokio::sync::Barrier::new(users),
        finished: tokio::sync::Barrier::new(users),
    });

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..users {
        tasks.spawn(workload::simulate(run.clone(), index));
    }
    while let Some(done) = tasks.join_next().await {
        done?;
    }
    run.progress.finish();

    let setup = Setup { urls: args.urls, users, rounds, concurrency: args.concurrency as usize };
    let report = recorder.report(setup, started.elapsed());
    print!("{report}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    anyhow::ensure!(report.passed(), "{} bleeds and {} unexpected errors", report.bleeds, report.errors);
    Ok(())
}

/// The server's own description of its routes decides what is read and
/// probed.
async fn discover(transport: &Transport) -> anyhow::Result<Endpoints> {
    let reply = transport
        .send(&Credentials::default(), &Call::get("/api/openapi.json", None))
        .await
        .map_err(|failure| anyhow::anyhow!("GET /api/openapi.json: {failure}"))?;
    anyhow::ensure!(reply.status.is_success(), "GET /api/openapi.json answered {}", reply.status);
    let doc = reply.json().ok_or_else(|| anyhow::anyhow!("GET /api/openapi.json is not JSON"))?;
    Endpoints::from_openapi(&doc)
}
