//! Test harness: starts the real `mrpt serve` binary on a free port with a
//! fresh data directory, and a small client that speaks API.md.
#![allow(dead_code)]

use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const PASSWORD: &str = "correct horse battery";

pub fn shared_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(name)
}

pub fn tiny_csv() -> Vec<u8> {
    std::fs::read(shared_data("tiny_wards.csv")).expect("shared/data/tiny_wards.csv is readable")
}

/// Runs `mrpt serve ARGS` expecting it to refuse to start; gives its
/// standard error once it has exited with a failure.
pub fn refused_start(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mrpt"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mrpt binary starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("mrpt serve {args:?} kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "mrpt serve {args:?} exited successfully");
    stderr
}

pub struct TestServer {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    logs: Arc<Mutex<String>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub async fn start_with(args: &[&str]) -> Self {
        Self::start_with_env(args, &[]).await
    }

    /// A server with extra environment variables, such as AWS_* settings.
    pub async fn start_with_env(args: &[&str], env: &[(&str, String)]) -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let data_dir = temp.path().join("data");
        Self::spawn(args, env, data_dir, Some(temp)).await
    }

    /// A second server process on another server's data directory.
    pub async fn start_on(data_dir: &Path, args: &[&str]) -> Self {
        Self::spawn(args, &[], data_dir.to_path_buf(), None).await
    }

    /// A server started by `launcher` (a program that runs the command it is
    /// given in its own place, such as `prlimit --as=N`).
    pub async fn start_under(launcher: &[&str], args: &[&str]) -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let data_dir = temp.path().join("data");
        Self::spawn_under(launcher, args, &[], data_dir, Some(temp)).await
    }

    async fn spawn(args: &[&str], env: &[(&str, String)], data_dir: PathBuf, temp: Option<tempfile::TempDir>) -> Self {
        Self::spawn_under(&[], args, env, data_dir, temp).await
    }

    async fn spawn_under(
        launcher: &[&str],
        args: &[&str],
        env: &[(&str, String)],
        data_dir: PathBuf,
        temp: Option<tempfile::TempDir>,
    ) -> Self {
        let binary = env!("CARGO_BIN_EXE_mrpt");
        let mut command = match launcher.split_first() {
            Some((program, options)) => {
                let mut command = Command::new(program);
                command.args(options).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        let mut child = command
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .args(args)
            .envs(env.iter().cloned())
            .env("MRPT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mrpt binary starts");
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("mrpt serve listening") {
                    let log: Value = serde_json::from_str(&line).unwrap_or_default();
                    let _ = address_tx.send(log["address"].as_str().unwrap_or_default().to_owned());
                }
                let mut logs = sink.lock().unwrap();
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let address = address_rx.recv_timeout(Duration::from_secs(30)).expect("server reports its address");
        Self { child, base: format!("http://{address}"), data_dir, _temp: temp, logs }
    }

    pub fn client(&self) -> TestClient {
        TestClient::new(&self.base)
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    pub fn state_db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.data_dir.join("state.sqlite3")).unwrap()
    }

    /// Counts the files under the file store (partial uploads included).
    pub fn stored_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(&self.data_dir.join("files"), &mut files);
        files
    }

    pub async fn metric(&self, name: &str) -> f64 {
        self.metric_where(name, "").await
    }

    /// The sum of a metric's series whose labels contain `labels`.
    pub async fn metric_where(&self, name: &str, labels: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.base)).await.unwrap().text().await.unwrap();
        text.lines()
            .filter(|line| line.starts_with(name) && !line.starts_with('#') && line.contains(labels))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl TestServer {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process ids of the server's workers (the supervisor's children).
    pub fn worker_pids(&self) -> Vec<u32> {
        let pid = self.pid();
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        let mut pids: Vec<u32> = children.split_whitespace().filter_map(|p| p.parse().ok()).collect();
        pids.sort_unstable();
        pids
    }

    /// Sends SIGTERM and waits for the exit status (at most `patience`).
    pub fn terminate(&mut self, patience: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = std::time::Instant::now() + patience;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // SIGTERM first, so a supervisor stops its workers too.
        if self.terminate(Duration::from_secs(5)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A client that keeps its own session cookie and CSRF token, so tests can
/// replay, drop or swap them at will.
#[derive(Clone)]
pub struct TestClient {
    pub base: String,
    pub http: reqwest::Client,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("JSON body, got {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|value| value.to_str().unwrap().to_owned())
    }

    pub fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_owned()
    }

    /// The error body without its request id, to compare two answers.
    pub fn error_without_request_id(&self) -> Value {
        let mut body = self.json();
        body["error"].as_object_mut().unwrap().remove("request_id");
        body
    }

    #[track_caller]
    pub fn expect(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", String::from_utf8_lossy(&self.body));
        if !code.is_empty() {
            assert_eq!(self.error_code(), code);
        }
    }
}

impl TestClient {
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { base: base.to_owned(), http, cookie: None, csrf: None }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        if method != Method::GET {
            if let Some(csrf) = &self.csrf {
                request = request.header("X-CSRF-Token", csrf);
            }
        }
        request
    }

    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let response: Response = request.send().await.expect("request is answered");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap().to_vec();
        Answer { status, headers, body }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let request = self.request(Method::GET, path);
        self.send(request).await
    }

    pub async fn delete(&mut self, path: &str) -> Answer {
        let request = self.request(Method::DELETE, path);
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, body: Value) -> Answer {
        let request = self.request(Method::POST, path).json(&body);
        self.send(request).await
    }

    pub async fn delete_json(&mut self, path: &str, body: Value) -> Answer {
        let request = self.request(Method::DELETE, path).json(&body);
        self.send(request).await
    }

    pub async fn register(&mut self, username: &str) -> Answer {
        let answer = self.post("/api/auth/register", json!({"username": username, "password": PASSWORD})).await;
        answer.expect(201, "");
        answer
    }

    /// Logs in and keeps the session cookie and CSRF token from the answer.
    pub async fn login_with(&mut self, username: &str, password: &str) -> Answer {
        let answer = self.post("/api/auth/login", json!({"username": username, "password": password})).await;
        if answer.status == StatusCode::OK {
            let set_cookie = answer.header(SET_COOKIE.as_str()).expect("login sets the cookie");
            self.cookie = Some(set_cookie.split(';').next().unwrap().to_owned());
            self.csrf = Some(answer.json()["csrf_token"].as_str().unwrap().to_owned());
        }
        answer
    }

    pub async fn login(&mut self, username: &str) -> Answer {
        let answer = self.login_with(username, PASSWORD).await;
        answer.expect(200, "");
        answer
    }

    /// Registers a fresh user and logs in as them.
    pub async fn signed_up(server: &TestServer, username: &str) -> Self {
        let mut client = server.client();
        client.register(username).await;
        client.login(username).await;
        client
    }

    pub async fn upload(&mut self, file_name: &str, bytes: Vec<u8>) -> Answer {
        let form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned()));
        let request = self.request(Method::POST, "/api/datasets").multipart(form);
        self.send(request).await
    }

    pub async fn upload_form(&mut self, form: reqwest::multipart::Form) -> Answer {
        let request = self.request(Method::POST, "/api/datasets").multipart(form);
        self.send(request).await
    }

    /// Waits until `/readyz` answers `status` (within 30 s).
    pub async fn wait_ready(&mut self, status: u16) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.get("/readyz").await.status.as_u16() != status {
            assert!(std::time::Instant::now() < deadline, "/readyz never became {status}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn dataset_ids(&mut self) -> Vec<String> {
        let answer = self.get("/api/datasets").await;
        answer.expect(200, "");
        answer.json()["datasets"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_owned()).collect()
    }
}

/// A local HTTP listener that records the JSON bodies POSTed to it, standing
/// in for an operator's alert endpoint.
pub struct WebhookSink {
    pub url: String,
    bodies: tokio::sync::mpsc::UnboundedReceiver<Value>,
}

impl WebhookSink {
    pub async fn start() -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/alerts", listener.local_addr().unwrap());
        let (sender, bodies) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let sender = sender.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 4096];
                    loop {
                        let read = stream.read(&mut buffer).await.unwrap_or(0);
                        if read == 0 {
                            return;
                        }
                        request.extend_from_slice(&buffer[..read]);
                        let text = String::from_utf8_lossy(&request).into_owned();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let length = head
                                .lines()
                                .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
                                .unwrap_or(0);
                            if body.len() >= length {
                                let _ = sender.send(serde_json::from_str(&body[..length]).unwrap_or(Value::Null));
                                let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n").await;
                                return;
                            }
                        }
                    }
                });
            }
        });
        Self { url, bodies }
    }

    pub async fn next(&mut self, within: Duration) -> Option<Value> {
        tokio::time::timeout(within, self.bodies.recv()).await.ok().flatten()
    }
}
