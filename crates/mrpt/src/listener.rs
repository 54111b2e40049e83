//! How a worker holds its connections: HTTP/1 and HTTP/2 with a bounded time
//! for request headers (and for a kept-alive connection's next request), a
//! bounded number of connections at once, a raised open-file limit, and
//! draining on shutdown (API.md "Limits and fairness").

use crate::config::parse_duration;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use clap::Args;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// A failed accept (out of file descriptors, most often) is retried after
/// this pause rather than at once, which would spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Args, Serialize)]
pub struct ConnectionLimits {
    /// Request headers must arrive within this long after a connection
    /// opens or its previous answer was sent; then the connection is closed.
    #[arg(long, env = "MRPT_HEADER_TIMEOUT", default_value = "10", value_parser = parse_duration)]
    #[serde(serialize_with = "crate::config::as_seconds")]
    pub header_timeout: Duration,

    /// A request body that makes no progress for this long is cut off (408
    /// `request_timeout`); a slow but steady body never is.
    #[arg(long, env = "MRPT_BODY_IDLE_TIMEOUT", default_value = "30", value_parser = parse_duration)]
    #[serde(serialize_with = "crate::config::as_seconds")]
    pub body_idle_timeout: Duration,

    /// Connections one worker holds at once; more wait in the listen queue
    /// until one closes.
    #[arg(long, env = "MRPT_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Requests one HTTP/2 connection may have in flight at once.
    #[arg(long, env = "MRPT_MAX_STREAMS", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams: u32,
}

/// Serves `app` on `listener` until `stopping` resolves, then returns once
/// the open connections have finished their requests.
pub async fn serve(listener: TcpListener, app: Router, limits: &ConnectionLimits, stopping: impl Future<Output = ()>) {
    let builder = Arc::new(connection_builder(limits));
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    let graceful = GracefulShutdown::new();
    let mut stopping = std::pin::pin!(stopping);
    loop {
        // A full worker stops accepting: new connections wait in the
        // kernel's queue, and the header timeout frees the slots of idle ones.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut stopping => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::error!(error = %err, "could not accept a connection");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = &mut stopping => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request.map(Body::new))
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            // Choosing between HTTP/1 and HTTP/2 waits for the first bytes,
            // before hyper's header timer runs: a socket that sends nothing
            // is closed after the same time.
            // (`readable` may report a fresh socket ready with nothing to
            // read; a peek waits for a real byte.)
            let mut first = [0u8; 1];
            if !matches!(tokio::time::timeout(header_timeout, stream.peek(&mut first)).await, Ok(Ok(1))) {
                drop(slot);
                return;
            }
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            // A client that goes away mid-request is its own business.
            let _ = watcher.watch(connection.into_owned()).await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

fn connection_builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper starts this timer whenever it waits for a request head, so it
    // also closes a kept-alive connection that sends nothing more.
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams)
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(limits.header_timeout);
    builder
}

/// Raises this process's soft limit of open files to its hard limit, so that
/// the connection cap, not the default 1,024 descriptors, is what binds.
pub fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::info!(from = soft, to = hard, "raised the open-file limit"),
            Err(err) => tracing::warn!(error = %err, soft, hard, "could not raise the open-file limit"),
        },
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "could not read the open-file limit"),
    }
}
