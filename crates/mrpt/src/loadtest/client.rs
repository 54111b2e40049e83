//! The load tester's HTTP client: one connection pool for the whole run,
//! each request sent to the next URL in turn (as a non-sticky balancer
//! would), each user's cookie and CSRF token carried explicitly, a bound on
//! requests in flight, and the retry policy for lost connections and a
//! paused store.

use super::fixture::WardTable;
use super::report::Recorder;
use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How long to wait before asking again after 503 `store_unavailable`.
const UNAVAILABLE_BACKOFF: Duration = Duration::from_millis(200);
/// How long a store may stay away before its absence is an error.
const UNAVAILABLE_PATIENCE: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Transport {
    http: reqwest::Client,
    urls: Vec<String>,
    next: AtomicUsize,
    in_flight: Semaphore,
    recorder: Arc<Recorder>,
}

/// One user's session: the cookie and CSRF token from its login.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    cookie: Option<String>,
    csrf: Option<String>,
}

impl Credentials {
    /// The session a login answer hands out, if it hands one out.
    pub fn from_login(reply: &Reply, doc: &Value) -> Option<Self> {
        let set_cookie = reply.headers.get(SET_COOKIE)?.to_str().ok()?;
        let cookie = set_cookie.split(';').next()?.trim().to_owned();
        let csrf = doc["csrf_token"].as_str()?.to_owned();
        Some(Self { cookie: Some(cookie), csrf: Some(csrf) })
    }
}

pub enum Payload {
    Empty,
    Json(Value),
    Upload(Arc<WardTable>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Sending it twice has the effect of sending it once.
    AfterConnectionError,
    /// The caller decides what a lost answer means.
    Never,
}

pub struct Call {
    pub method: Method,
    /// The route template, e.g. `/api/datasets/{id}`, that names the
    /// endpoint in the statistics.
    pub template: String,
    pub path: String,
    pub payload: Payload,
    pub retry: Retry,
    /// Sent with another user's id: kept apart in the statistics, as a
    /// refusal costs the server less than an answer.
    probe: bool,
}

impl Call {
    pub fn new(method: Method, template: &str, id: Option<&str>) -> Self {
        let path = match id {
            Some(id) => template.replace("{id}", id),
            None => template.to_owned(),
        };
        let retry = if matches!(method, Method::GET | Method::DELETE) { Retry::AfterConnectionError } else { Retry::Never };
        Self { method, template: template.to_owned(), path, payload: Payload::Empty, retry, probe: false }
    }

    pub fn get(template: &str, id: Option<&str>) -> Self {
        Self::new(Method::GET, template, id)
    }

    pub fn post(template: &str, id: Option<&str>, body: Value) -> Self {
        Self { payload: Payload::Json(body), ..Self::new(Method::POST, template, id) }
    }

    pub fn upload(table: Arc<WardTable>) -> Self {
        Self { payload: Payload::Upload(table), ..Self::new(Method::POST, "/api/datasets", None) }
    }

    /// For a POST whose repetition is harmless to what the run checks.
    pub fn repeatable(self) -> Self {
        Self { retry: Retry::AfterConnectionError, ..self }
    }

    pub fn probe(self) -> Self {
        Self { probe: true, ..self }
    }

    pub fn endpoint(&self) -> String {
        let probe = if self.probe { " [probe]" } else { "" };
        format!("{} {}{probe}", self.method, self.template)
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    pub fn error_code(&self) -> Option<String> {
        if self.status.is_success() {
            return None;
        }
        self.json()?["error"]["code"].as_str().map(str::to_owned)
    }

    fn is_store_unavailable(&self) -> bool {
        self.status == StatusCode::SERVICE_UNAVAILABLE && self.error_code().as_deref() == Some("store_unavailable")
    }
}

#[derive(Debug)]
pub enum Failure {
    /// Refused, reset or closed before a whole answer came.
    Connection(String),
    Timeout(String),
}

impl Failure {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Connection(_) => "connection",
            Self::Timeout(_) => "timeout",
        }
    }

    fn of(err: reqwest::Error) -> Self {
        // reqwest's own message hides the cause (reset, refused) in its
        // source chain.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        if err.is_timeout() {
            Self::Timeout(message)
        } else {
            Self::Connection(message)
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connection(message) | Self::Timeout(message) => write!(f, "{}: {message}", self.code()),
        }
    }
}

impl Transport {
    pub fn new(urls: Vec<String>, concurrency: usize, timeout: Duration, recorder: Arc<Recorder>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            // Traffic goes to the given URLs and nowhere else.
            .no_proxy()
            .build()?;
        let urls = urls.into_iter().map(|url| url.trim_end_matches('/').to_owned()).collect();
        Ok(Self { http, urls, next: AtomicUsize::new(0), in_flight: Semaphore::new(concurrency.max(1)), recorder })
    }

    /// Sends a call, asking again after a paused store (bounded) and, for
    /// calls that allow it, once after a lost connection.
    pub async fn send(&self, credentials: &Credentials, call: &Call) -> Result<Reply, Failure> {
        let give_up = Instant::now() + UNAVAILABLE_PATIENCE;
        let mut retried = false;
        loop {
            match self.attempt(credentials, call).await {
                Ok(reply) if reply.is_store_unavailable() && Instant::now() + UNAVAILABLE_BACKOFF < give_up => {
                    self.recorder.unavailable();
                    tokio::time::sleep(UNAVAILABLE_BACKOFF).await;
                }
                Err(Failure::Connection(_)) if call.retry == Retry::AfterConnectionError && !retried => {
                    retried = true;
                    self.recorder.retried();
                }
                outcome => return outcome,
            }
        }
    }

    async fn attempt(&self, credentials: &Credentials, call: &Call) -> Result<Reply, Failure> {
        let base = &self.urls[self.next.fetch_add(1, Ordering::Relaxed) % self.urls.len()];
        let mut request = self.http.request(call.method.clone(), format!("{base}{}", call.path));
        if let Some(cookie) = &credentials.cookie {
            request = request.header(COOKIE, cookie);
        }
        if let (Some(csrf), false) = (&credentials.csrf, call.method == Method::GET) {
            request = request.header("X-CSRF-Token", csrf);
        }
        request = match &call.payload {
            Payload::Empty => request,
            Payload::Json(body) => request.json(body),
            Payload::Upload(table) => request.multipart(upload_form(table)),
        };
        let _permit = self.in_flight.acquire().await.expect("the semaphore is never closed");
        let started = Instant::now();
        let response = request.send().await.map_err(Failure::of)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(Failure::of)?;
        let served_by = headers.get("x-served-by").and_then(|value| value.to_str().ok());
        self.recorder.answered(&call.endpoint(), started.elapsed(), served_by);
        Ok(Reply { status, headers, body })
    }
}

fn upload_form(table: &WardTable) -> reqwest::multipart::Form {
    use reqwest::multipart::{Form, Part};
    let file = Part::bytes(table.csv.clone()).file_name(table.filename.clone());
    let boundaries = Part::bytes(table.geojson.clone()).file_name("wards.geojson");
    Form::new().part("file", file).part("boundaries", boundaries).text("name", table.name.clone())
}
