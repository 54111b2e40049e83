//! `mrpt serve`: opens the stores, checks them, and serves until SIGTERM or
//! Ctrl-C, finishing the requests in flight (for at most the drain timeout).
//! With `--workers N` this process supervises N workers instead.

use crate::config::ServeConfig;
use crate::http::{router, AppState};
use crate::store::Stores;
use anyhow::Context;

pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
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

    let listener = listen(&config).await?;
    if config.worker_bind.is_some() {
        // The supervisor announces the server once every worker listens.
        println!("{}", crate::supervisor::READY_LINE);
        tracing::info!(worker = std::process::id(), "worker listening");
    } else {
        tracing::info!(address = %listener.local_addr()?, "mrpt serve listening");
    }
    let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
    // The peer's address is what registration and login are limited by,
    // unless a trusted proxy's header is configured.
    let service = router(app).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, service).with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = stopping_tx.send(true);
    });
    // Requests still running when the drain timeout ends are cut off.
    let deadline = async {
        let mut stopping = stopping_rx;
        let _ = stopping.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(config.drain_timeout).await;
    };
    tokio::select! {
        served = server => served?,
        _ = deadline => tracing::error!("requests still in flight after the drain timeout were cut off"),
    }
    tracing::info!("mrpt serve stopped");
    Ok(())
}

/// A worker shares the supervisor's port; a lone server binds its own.
async fn listen(config: &ServeConfig) -> anyhow::Result<tokio::net::TcpListener> {
    match config.worker_bind {
        Some(address) => {
            // A worker must not outlive its supervisor, even one killed outright.
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)?;
            let socket = crate::supervisor::reuse_port_socket(address)?;
            socket.listen(1024)?;
            Ok(tokio::net::TcpListener::from_std(socket.into())?)
        }
        None => tokio::net::TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind)),
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
