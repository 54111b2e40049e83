//! The worker supervisor of `mrpt serve --workers N`: it holds the port,
//! starts N worker processes that each listen on it with SO_REUSEPORT (the
//! kernel spreads connections over them), restarts a worker that dies, and
//! on SIGTERM lets every worker drain its requests before exiting.
//!
//! Workers share nothing but the stores, so any worker may serve any
//! request and a dead worker loses nothing but its requests in flight.

use crate::config::ServeConfig;
use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use socket2::{Domain, Socket, Type};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// What a worker prints on its standard output once it listens.
pub const READY_LINE: &str = "mrpt-worker-ready";
/// A worker that dies this soon after starting is restarted only after a
/// pause, so a crash loop does not spin the machine.
const CRASH_WINDOW: Duration = Duration::from_secs(3);
const RESTART_BACKOFF: Duration = Duration::from_millis(500);

/// A socket bound to `address` with SO_REUSEPORT: listening in a worker,
/// or only holding the port in the supervisor.
pub fn reuse_port_socket(address: SocketAddr) -> anyhow::Result<Socket> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    socket.set_reuse_port(true)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into()).with_context(|| format!("cannot bind {address}"))?;
    Ok(socket)
}

type WorkerExit = (u16, u32, Duration, std::process::ExitStatus);

struct Workers {
    address: SocketAddr,
    running: JoinSet<WorkerExit>,
    pids: HashMap<u16, u32>,
    ready: mpsc::UnboundedSender<u16>,
}

pub async fn run(config: &ServeConfig) -> anyhow::Result<()> {
    // Holding the port (bound, never listening) fixes it for every worker,
    // restarts included, even when the configuration asked for port 0.
    let holder = reuse_port_socket(config.bind)?;
    let address = holder.local_addr()?.as_socket().context("the bound address is an IP address")?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let (ready, mut ready_rx) = mpsc::unbounded_channel();
    let mut workers = Workers { address, running: JoinSet::new(), pids: HashMap::new(), ready };
    for slot in 0..config.workers {
        workers.spawn(slot)?;
    }

    // Start-up: every worker listens, or the server does not start at all.
    let mut waiting: HashSet<u16> = (0..config.workers).collect();
    while !waiting.is_empty() {
        tokio::select! {
            Some(slot) = ready_rx.recv() => { waiting.remove(&slot); }
            Some(exited) = workers.running.join_next() => {
                let (_, _, _, status) = exited.context("worker watcher")?;
                workers.stop_all(config.drain_timeout).await;
                bail!("a worker could not start ({status}); see its error above");
            }
            _ = terminate.recv() => {
                workers.stop_all(config.drain_timeout).await;
                return Ok(());
            }
            _ = interrupt.recv() => {
                workers.stop_all(config.drain_timeout).await;
                return Ok(());
            }
        }
    }
    tracing::info!(address = %address, workers = config.workers, "mrpt serve listening");

    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            Some(_) = ready_rx.recv() => {}
            Some(exited) = workers.running.join_next() => {
                let (slot, pid, lived, status) = exited.context("worker watcher")?;
                tracing::error!(slot, pid, status = %status, "a worker exited; starting another");
                workers.pids.remove(&slot);
                if lived < CRASH_WINDOW {
                    tokio::time::sleep(RESTART_BACKOFF).await;
                }
                workers.spawn(slot)?;
            }
        }
    }
    tracing::info!("supervisor stopping: workers drain their requests");
    workers.stop_all(config.drain_timeout).await;
    drop(holder);
    Ok(())
}

impl Workers {
    /// Starts one worker: this same program with the same arguments, told to
    /// share the address.
    fn spawn(&mut self, slot: u16) -> anyhow::Result<()> {
        let program = std::env::current_exe().context("cannot find the mrpt executable")?;
        let mut child = Command::new(program)
            .args(std::env::args_os().skip(1))
            .arg(format!("--worker-bind={}", self.address))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start a worker process")?;
        let pid = child.id().unwrap_or_default();
        self.pids.insert(slot, pid);
        tracing::info!(slot, pid, "worker started");
        let stdout = child.stdout.take().context("worker stdout is piped")?;
        let ready = self.ready.clone();
        let born = Instant::now();
        self.running.spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            let watch_ready = async {
                while let Ok(Some(line)) = lines.next_line().await {
                    if line == READY_LINE {
                        let _ = ready.send(slot);
                    }
                }
            };
            let (status, ()) = tokio::join!(child.wait(), watch_ready);
            let status = status.unwrap_or_else(|_| std::os::unix::process::ExitStatusExt::from_raw(1));
            (slot, pid, born.elapsed(), status)
        });
        Ok(())
    }

    /// Asks every worker to stop (SIGTERM: stop accepting, finish requests
    /// in flight), then kills the ones still running after the drain timeout.
    async fn stop_all(&mut self, drain_timeout: Duration) {
        for pid in self.pids.values() {
            let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGTERM);
        }
        let drained = tokio::time::timeout(drain_timeout + Duration::from_secs(1), async {
            while self.running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::error!("workers did not stop in time; killing them");
            self.running.abort_all();
        }
    }
}
