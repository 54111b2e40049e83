//! Redis servers that a test starts for itself on free loopback ports: a
//! single server it can pause, stop and restart, or a three-node cluster.
//! Each server runs under a small shell that stops it when the test process
//! lets go of its stdin, so no server outlives the test binary, even one
//! kept in a `static`.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Redis every CI machine has listening.
pub const SHARED_REDIS: &str = "redis://127.0.0.1:6379";

pub struct RedisServer {
    pub port: u16,
    child: Child,
}

impl RedisServer {
    /// A plain server on a free port, keeping nothing on disk.
    pub fn start(dir: &Path) -> Self {
        Self::start_on(free_port(), dir, &[])
    }

    pub fn start_on(port: u16, dir: &Path, extra: &[&str]) -> Self {
        let port_text = port.to_string();
        let mut args = vec!["--bind", "127.0.0.1", "--port", &port_text, "--save", "", "--appendonly", "no"];
        args.extend(["--dir", dir.to_str().expect("a UTF-8 temp dir")]);
        args.extend(extra);
        let child = Command::new("sh")
            .arg("-c")
            .arg(
                "redis-server \"$@\" </dev/null >/dev/null 2>&1 & server=$!; read -r _line; kill $server; wait $server",
            )
            .arg("sh")
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh and redis-server are on PATH");
        let server = Self { port, child };
        wait_until(Duration::from_secs(15), || cli(port, &["PING"]).trim() == "PONG", "redis-server answers");
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Makes every client of the server wait (`CLIENT PAUSE … ALL`).
    pub fn pause(&self, how_long: Duration) {
        let reply = cli(self.port, &["CLIENT", "PAUSE", &how_long.as_millis().to_string(), "ALL"]);
        assert_eq!(reply.trim(), "OK", "CLIENT PAUSE");
    }

    /// Stops the server and waits until its port is closed.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
        let port = self.port;
        wait_until(Duration::from_secs(15), || TcpStream::connect(("127.0.0.1", port)).is_err(), "redis-server stops");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.child.stdin.is_some() {
            self.shut_down();
        }
    }
}

/// Three cluster nodes on loopback, one primary each, holding all slots.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                // The cluster bus listens on the port plus 10000.
                let port = loop {
                    let port = free_port();
                    if port <= 55535 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
                        break port;
                    }
                };
                let config: PathBuf = dir.path().join(format!("nodes-{port}.conf"));
                let config = config.to_str().unwrap().to_owned();
                RedisServer::start_on(port, dir.path(), &["--cluster-enabled", "yes", "--cluster-config-file", &config])
            })
            .collect();
        let addresses: Vec<String> = nodes.iter().map(|node| format!("127.0.0.1:{}", node.port)).collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli runs");
        assert!(created.status.success(), "redis-cli --cluster create: {}", String::from_utf8_lossy(&created.stdout));
        for node in &nodes {
            wait_until(
                Duration::from_secs(30),
                || cli(node.port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"),
                "the cluster is ok on every node",
            );
        }
        Self { nodes, _dir: dir }
    }

    pub fn url(&self) -> String {
        let hosts: Vec<String> = self.nodes.iter().map(|node| format!("127.0.0.1:{}", node.port)).collect();
        format!("redis+cluster://{}", hosts.join(","))
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap().port()
}

/// Runs `redis-cli` against a loopback port and returns what it printed.
pub fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[track_caller]
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
