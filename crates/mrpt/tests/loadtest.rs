//! `mrpt loadtest` against the real server: a clean run passes with every
//! endpoint exercised and requests spread over several URLs; behind a
//! shared cache that leaks answers between users, the run finds the bleeds
//! and fails.

mod common;

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use common::TestServer;
use serde_json::Value;
use std::collections::HashMap;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

/// Runs the load tester as a user would, on a thread of its own so that
/// servers in this process go on answering.
async fn loadtest(urls: &[&str], extra: &[&str]) -> (Output, Value) {
    let args: Vec<String> = urls.iter().flat_map(|url| ["--url".to_owned(), url.to_string()]).chain(extra.iter().map(|a| a.to_string())).collect();
    tokio::task::spawn_blocking(move || run_loadtest(&args)).await.unwrap()
}

fn run_loadtest(args: &[String]) -> (Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let output = Command::new(env!("CARGO_BIN_EXE_mrpt"))
        .arg("loadtest")
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("mrpt loadtest runs");
    let report = std::fs::read(&json).map(|bytes| serde_json::from_slice(&bytes).unwrap()).unwrap_or_default();
    (output, report)
}

fn endpoints(report: &Value) -> Vec<String> {
    report["endpoints"].as_array().unwrap().iter().map(|e| e["endpoint"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_clean_run_passes_and_covers_every_endpoint() {
    let server = TestServer::start().await;
    let (output, report) = loadtest(&[&server.base], &["--users", "10", "--rounds", "2", "--concurrency", "8"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(report["bleeds"], 0, "{stdout}");
    assert_eq!(report["errors"], 0, "{stdout}");
    assert_eq!(report["users"], 10);

    let seen = endpoints(&report);
    let expected = [
        "POST /api/auth/register",
        "POST /api/auth/login",
        "POST /api/datasets",
        "GET /api/datasets",
        "GET /api/datasets/{id}",
        "GET /api/datasets/{id}/file",
        "POST /api/datasets/{id}/analyses",
        "GET /api/analyses",
        "GET /api/analyses/{id}",
        "GET /api/analyses/{id}/export.csv",
        "GET /api/analyses/{id}/map.svg",
        "GET /api/analyses/{id}/chart.svg",
        "POST /api/analyses/{id}/itn",
        "GET /api/itn/{id}",
        "GET /api/itn/{id}/export.csv",
        "GET /api/session",
        "GET /api/sessions",
        "GET /api/datasets/{id} [probe]",
        "GET /api/datasets/{id}/file [probe]",
        "GET /api/analyses/{id} [probe]",
        "GET /api/analyses/{id}/export.csv [probe]",
        "GET /api/analyses/{id}/map.svg [probe]",
        "GET /api/analyses/{id}/chart.svg [probe]",
        "GET /api/itn/{id} [probe]",
        "GET /api/itn/{id}/export.csv [probe]",
        "DELETE /api/datasets/{id} [probe]",
        "DELETE /api/analyses/{id} [probe]",
        "DELETE /api/sessions/{id} [probe]",
    ];
    for endpoint in expected {
        assert!(seen.iter().any(|s| s == endpoint), "{endpoint} missing from {seen:?}");
    }
    let entry = report["endpoints"].as_array().unwrap().iter().find(|e| e["endpoint"] == "GET /api/datasets").unwrap();
    assert_eq!(entry["requests"], 20, "10 users, 2 rounds");
    assert!(entry["p50_ms"].as_f64().unwrap() <= entry["max_ms"].as_f64().unwrap());
    assert_eq!(report["served_by"].as_array().unwrap().len(), 1);
    assert!(stdout.contains("bleeds 0"), "{stdout}");
    assert_eq!(server.metric("mrpt_isolation_violations_total").await, 0.0);
}

#[tokio::test]
async fn requests_are_spread_over_every_url() {
    let first = TestServer::start().await;
    let second = TestServer::start_on(&first.data_dir, &[]).await;
    let (output, report) = loadtest(&[&first.base, &second.base], &["--users", "3", "--rounds", "1"]).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(report["served_by"].as_array().unwrap().len(), 2, "{report}");
}

#[tokio::test]
async fn an_unreachable_server_fails_the_run() {
    let server = TestServer::start().await;
    let base = server.base.clone();
    drop(server);
    let (output, _) = loadtest(&[&base], &["--users", "1", "--rounds", "1"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("openapi.json"));
}

type Cached = (StatusCode, HeaderMap, axum::body::Bytes);

/// A shared cache in front of `upstream` that keys `GET /api/datasets` and
/// `GET /api/session` by path alone, ignoring `Cache-Control` and `Vary`:
/// the CDN failure the server's headers exist to prevent.
async fn leaky_cache(upstream: String) -> String {
    let cache: Arc<Mutex<HashMap<String, Cached>>> = Arc::default();
    let http = reqwest::Client::new();
    let forward = move |request: Request| {
        let (cache, http, upstream) = (cache.clone(), http.clone(), upstream.clone());
        async move {
            let path = request.uri().path().to_owned();
            let cacheable = request.method() == "GET" && ["/api/datasets", "/api/session"].contains(&path.as_str());
            if let Some((status, headers, body)) = cache.lock().unwrap().get(&path).filter(|_| cacheable).cloned() {
                return answer(status, headers, body);
            }
            let (parts, body) = request.into_parts();
            let mut headers = parts.headers;
            headers.remove("host");
            let body = to_bytes(body, usize::MAX).await.unwrap();
            let url = format!("{upstream}{}", parts.uri.path_and_query().unwrap());
            let reply = http.request(parts.method, url).headers(headers).body(body).send().await.unwrap();
            let (status, mut headers) = (reply.status(), reply.headers().clone());
            headers.remove("content-length");
            let body = reply.bytes().await.unwrap();
            if cacheable && status == StatusCode::OK {
                cache.lock().unwrap().insert(path, (status, headers.clone(), body.clone()));
            }
            answer(status, headers, body)
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().fallback(forward)).await.unwrap() });
    format!("http://{address}")
}

fn answer(status: StatusCode, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

#[tokio::test]
async fn a_cache_that_leaks_answers_between_users_is_caught() {
    let server = TestServer::start().await;
    let cache = leaky_cache(server.base.clone()).await;
    // One request at a time, so that the first answer is cached before
    // any other user asks.
    let (output, report) = loadtest(&[&cache], &["--users", "4", "--rounds", "1", "--concurrency", "1"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(report["bleeds"].as_u64().unwrap() >= 6, "three users see the first one's two cached answers: {stdout}");
    let details = report["bleed_details"].to_string();
    assert!(details.contains("GET /api/datasets"), "{details}");
    assert!(details.contains("GET /api/session"), "{details}");
    assert!(details.contains("other users' markers"), "{details}");
    assert!(stdout.contains("bleed: user"), "the first bleeds are printed in full: {stdout}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("bleeds"));
}
