//! An S3-compatible server (s3s-fs) that a test starts for itself on a free
//! loopback port with a fresh root directory, and can stop and start again.
//! scripts/test installs s3s-fs and names it in `MRPT_S3S_FS`. The server
//! runs under a small shell that stops it when the test process lets go of
//! its stdin, so no server outlives the test binary.
#![allow(dead_code)]

use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::ObjectStore;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BUCKET: &str = "mrpt-test";
pub const ACCESS_KEY: &str = "mrpt-test-key";
pub const SECRET_KEY: &str = "mrpt-test-secret-do-not-print";
const REGION: &str = "us-east-1";

pub struct S3Server {
    pub port: u16,
    root: tempfile::TempDir,
    child: Option<Child>,
}

impl S3Server {
    pub fn start() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(root.path().join(BUCKET)).expect("the bucket's folder");
        let mut server = Self { port: free_port(), root, child: None };
        server.run();
        server
    }

    fn run(&mut self) {
        let child = Command::new("sh")
            .arg("-c")
            .arg("\"$@\" </dev/null >/dev/null 2>&1 & server=$!; read -r _line; kill $server; wait $server")
            .arg("sh")
            .arg(binary())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh runs");
        self.child = Some(child);
        let port = self.port;
        wait_until(Duration::from_secs(15), || TcpStream::connect(("127.0.0.1", port)).is_ok(), "s3s-fs listens");
    }

    /// Stops the server and waits until its port is closed.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        drop(child.stdin.take());
        let _ = child.wait();
        let port = self.port;
        wait_until(Duration::from_secs(15), || TcpStream::connect(("127.0.0.1", port)).is_err(), "s3s-fs stops");
    }

    /// Starts the server again on the same port and root directory.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment `mrpt serve` reads to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
    }

    /// The same settings for a store made inside the test process.
    pub fn settings(&self) -> AmazonS3Builder {
        AmazonS3Builder::new()
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .with_region(REGION)
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
    }

    fn client(&self) -> AmazonS3 {
        self.settings().with_bucket_name(BUCKET).build().expect("an S3 client")
    }

    /// Every object in the bucket, and every multipart upload still open.
    pub async fn everything_stored(&self) -> Vec<String> {
        let objects: Vec<_> = self.client().list(None).try_collect().await.expect("the bucket lists");
        let mut stored: Vec<String> = objects.into_iter().map(|object| object.location.to_string()).collect();
        stored.extend(self.pending_uploads());
        stored
    }

    /// Multipart uploads neither completed nor aborted. s3s-fs does not
    /// answer ListMultipartUploads; it keeps each open upload as files named
    /// `.upload-<id>…` and `.upload_id-<id>.part-<n>` beside the buckets.
    fn pending_uploads(&self) -> Vec<String> {
        let entries = std::fs::read_dir(self.root.path()).expect("the root lists");
        entries
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".upload") || name.contains(".upload-"))
            .map(|name| format!("(pending upload) {name}"))
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The s3s-fs binary, which scripts/test installs.
fn binary() -> PathBuf {
    match std::env::var_os("MRPT_S3S_FS").map(PathBuf::from) {
        Some(path) if Path::new(&path).is_file() => path,
        _ => panic!("s3s-fs was not found: run scripts/test, which installs it and names it in MRPT_S3S_FS"),
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap().port()
}

#[track_caller]
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
