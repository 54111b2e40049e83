//! The load tester's HTTP client: one connection pool for the whole run,
//! each request sent to the next URL in turn (as a non-sticky balancer
//! would), each user's cookie and CSRF token carried explicitly, a bound on
//! requests in flight, and the retry policy of `retry.rs` applied.

use super::fixture::WardTable;
use super::report::Recorder;
use super::retry::{self, Retry, UNAVAILABLE_BACKOFF, UNAVAILABLE_PATIENCE};
use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

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
        let retry = if matches!(method, Method::GET | Method::DELETE) { Retry::AfterLostAnswer } else { Retry::Never };
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
        Self { retry: Retry::AfterLostAnswer, ..self }
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

    pub fn is_store_unavailable(&self) -> bool {
        self.status == StatusCode::SERVICE_UNAVAILABLE && self.error_code().as_deref() == Some("store_unavailable")
    }

    /// An answer made by a balancer or cache in front of the servers about
    /// its own connection to them (502, 504, or a 503 without the server's
    /// error body): the server's answer is lost, as with a dropped
    /// connection. The server itself never answers 502 or 504, and its 503
    /// always names its error.
    fn is_relayed_failure(&self) -> bool {
        matches!(self.status.as_u16(), 502..=504) && self.error_code().is_none()
    }
}

#[derive(Debug)]
pub enum Failure {
    /// Refused, reset or closed before a whole answer came.
    Connection(String),
    /// A balancer or cache in front of the servers lost its connection to
    /// them and said so.
    Gateway(String),
    Timeout(String),
}

impl Failure {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Connection(_) => "connection",
            Self::Gateway(_) => "gateway",
            Self::Timeout(_) => "timeout",
        }
    }

    /// The call may or may not have taken effect, and its answer will
    /// never come.
    pub fn answer_lost(&self) -> bool {
        matches!(self, Self::Connection(_) | Self::Gateway(_))
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
            Self::Connection(message) | Self::Gateway(message) | Self::Timeout(message) => write!(f, "{}: {message}", self.code()),
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
    /// calls that allow it, once after a lost answer.
    pub async fn send(&self, credentials: &Credentials, call: &Call) -> Result<Reply, Failure> {
        let give_up = Instant::now() + UNAVAILABLE_PATIENCE;
        let mut resent = false;
        loop {
            let outcome = self.attempt(credentials, call).await;
            let patient = Instant::now() + UNAVAILABLE_BACKOFF < give_up;
            match retry::next(&outcome, call.retry, resent, patient) {
                retry::Next::AskAgainLater => {
                    self.recorder.unavailable();
                    tokio::time::sleep(UNAVAILABLE_BACKOFF).await;
                }
                retry::Next::SendAgain => {
                    resent = true;
                    self.recorder.retried();
                }
                retry::Next::Judge => return outcome,
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
        let reply = Reply { status, headers, body };
        if reply.is_relayed_failure() {
            return Err(Failure::Gateway(format!("{status} from a balancer or cache in front of the server")));
        }
        Ok(reply)
    }
}

fn upload_form(table: &WardTable) -> reqwest::multipart::Form {
    use reqwest::multipart::{Form, Part};
    let file = Part::bytes(table.csv.clone()).file_name(table.filename.clone());
    let boundaries = Part::bytes(table.geojson.clone()).file_name("wards.geojson");
    Form::new().part("file", file).part("boundaries", boundaries).text("name", table.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply { status: StatusCode::from_u16(status).unwrap(), headers: HeaderMap::new(), body: body.to_owned().into() }
    }

    #[test]
    fn only_a_proxys_own_gateway_errors_count_as_lost_answers() {
        assert!(reply(502, "<html>Bad Gateway</html>").is_relayed_failure());
        assert!(reply(504, "").is_relayed_failure());
        assert!(reply(503, "Backend fetch failed").is_relayed_failure());
        let unavailable = reply(503, r#"{"error":{"code":"store_unavailable","message":"m","request_id":"r"}}"#);
        assert!(!unavailable.is_relayed_failure());
        assert!(unavailable.is_store_unavailable());
        assert!(!reply(500, "").is_relayed_failure());
        assert!(!reply(404, "").is_relayed_failure());
    }
}
