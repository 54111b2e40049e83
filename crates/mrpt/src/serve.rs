//! `mrpt serve`: opens the stores, checks them, and serves until SIGTERM or
//! Ctrl-C, finishing the requests in flight.

use crate::config::ServeConfig;
use crate::http::{router, AppState, Stores};
use crate::store::files::DirFileStore;
use crate::store::open_state_store;
use anyhow::Context;
use std::sync::Arc;

pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let metrics = crate::metrics::install()?;
    tracing::info!(configuration = %serde_json::to_string(&config)?, "mrpt serve starting");

    tokio::fs::create_dir_all(&config.data_dir)
        .await
        .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
    let state = open_state_store(&config.store, &config.data_dir, &config.store_prefix).await?;
    let files = DirFileStore::open(&config.data_dir.join("files")).await.context("cannot open the file store")?;
    let app = AppState::new(&config, Stores { state, files: Arc::new(files) }, metrics);

    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    tracing::info!(address = %listener.local_addr()?, "mrpt serve listening");
    axum::serve(listener, router(app)).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("mrpt serve stopped");
    Ok(())
}

async fn shutdown_signal() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
