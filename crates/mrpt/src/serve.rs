//! `mrpt serve`: opens the stores, checks them, and serves until SIGTERM or
//! Ctrl-C, finishing the requests in flight (for at most the drain timeout).
//! With `--workers N` this process supervises N workers instead.

use crate::config::ServeConfig;
use crate::http::{metrics_router, router, AppState};
use crate::listener::raise_open_file_limit;
use crate::store::Stores;
use anyhow::Context;
use std::net::SocketAddr;

pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    raise_open_file_limit();
    if config.worker_bind.is_none() {
        tracing::info!(configuration = %serde_json::to_string(&config)?, "mrpt serve starting");
        if config.workers > 1 {
            return crate::supervisor::run(&config).await;
        }
    }
    let metrics = crate::metrics::install(&config)?;

    let stores = Stores::open(&config.stores).await?;
    let app = AppState::new(&config, stores.clone(), metrics)?;
    let holder = format!("{}/{}", config.instance_name(), std::process::id());
    tokio::spawn(crate::sweep::run_periodically(stores, app.owned.clone(), app.security.clone(), config.sweep.clone(), holder));

    if config.worker_bind.is_some() {
        // A worker must not outlive its supervisor, even one killed outright.
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)?;
    }
    let listener = listen(&config, config.worker_bind.unwrap_or(config.bind)).await?;
    let metrics_listener = match config.metrics_bind {
        Some(address) => Some(listen(&config, address).await?),
        None => None,
    };
    if let Some(metrics_listener) = &metrics_listener {
        tracing::info!(address = %metrics_listener.local_addr()?, "metrics listening");
    }
    if config.worker_bind.is_some() {
        // The supervisor announces the server once every worker listens.
        println!("{}", crate::supervisor::READY_LINE);
        tracing::info!(worker = std::process::id(), "worker listening");
    } else {
        tracing::info!(address = %listener.local_addr()?, "mrpt serve listening");
    }
    let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
    let stopped = |receiver: &tokio::sync::watch::Receiver<bool>| {
        let mut receiver = receiver.clone();
        async move {
            let _ = receiver.wait_for(|stopping| *stopping).await;
        }
    };
    let limits = &config.connections;
    let public = crate::listener::serve(listener, router(app.clone()), limits, stopped(&stopping_rx));
    let private = async {
        if let Some(metrics_listener) = metrics_listener {
            crate::listener::serve(metrics_listener, metrics_router(app), limits, stopped(&stopping_rx)).await;
        }
    };
    let served = async {
        tokio::join!(public, private);
    };
    let signalled = async {
        shutdown_signal().await;
        let _ = stopping_tx.send(true);
    };
    // Requests still running when the drain timeout ends are cut off.
    let deadline = async {
        stopped(&stopping_rx).await;
        tokio::time::sleep(config.drain_timeout).await;
    };
    tokio::select! {
        () = served => {}
        () = async { signalled.await; std::future::pending::<()>().await } => {}
        () = deadline => tracing::error!("requests still in flight after the drain timeout were cut off"),
    }
    tracing::info!("mrpt serve stopped");
    Ok(())
}

/// A worker shares its addresses with the other workers; a lone server
/// binds its own.
async fn listen(config: &ServeConfig, address: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    match config.worker_bind {
        Some(_) => {
            let socket = crate::supervisor::reuse_port_socket(address)?;
            socket.listen(1024)?;
            Ok(tokio::net::TcpListener::from_std(socket.into())?)
        }
        None => tokio::net::TcpListener::bind(address).await.with_context(|| format!("cannot listen on {address}")),
    }
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
