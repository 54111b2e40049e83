//! `mrpt serve --workers N`: workers share the port, any worker serves any
//! session, a killed worker is replaced, and SIGTERM drains requests.

mod common;

use common::{tiny_csv, TestClient, TestServer};
use reqwest::Method;
use std::collections::HashSet;
use std::time::Duration;

/// `X-Served-By` of one request on a fresh connection (the kernel picks a
/// worker per connection).
async fn served_by(base: &str) -> String {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let response = client.get(format!("{base}/healthz")).send().await.unwrap();
    response.headers()["x-served-by"].to_str().unwrap().to_owned()
}

async fn workers_seen(base: &str, requests: usize) -> HashSet<String> {
    let mut seen = HashSet::new();
    for _ in 0..requests {
        seen.insert(served_by(base).await);
    }
    seen
}

#[tokio::test]
async fn workers_share_the_port_and_every_session() {
    let server = TestServer::start_with(&["--workers", "3", "--instance", "east"]).await;
    let seen = workers_seen(&server.base, 60).await;
    assert!(seen.len() >= 2, "connections spread over the workers: {seen:?}");
    assert!(seen.iter().all(|s| s.starts_with("east/")));

    // A session made on one worker works on all of them.
    let mut client = TestClient::signed_up(&server, "amina").await;
    let id = client.upload("t.csv", tiny_csv()).await.json()["id"].as_str().unwrap().to_owned();
    let mut workers = HashSet::new();
    for _ in 0..30 {
        let mut fresh = client.clone();
        fresh.http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        let answer = fresh.get(&format!("/api/datasets/{id}")).await;
        answer.expect(200, "");
        workers.insert(answer.header("x-served-by").unwrap());
    }
    assert!(workers.len() >= 2, "{workers:?}");
    client.send(client.request(Method::POST, "/api/auth/logout")).await.expect(204, "");
    for _ in 0..10 {
        let mut fresh = client.clone();
        fresh.http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        fresh.get("/api/datasets").await.expect(401, "unauthenticated");
    }
}

#[tokio::test]
async fn a_killed_worker_is_replaced() {
    let server = TestServer::start_with(&["--workers", "2"]).await;
    let before = workers_seen(&server.base, 40).await;
    let victim = before.iter().next().unwrap().rsplit('/').next().unwrap().to_owned();
    std::process::Command::new("kill").args(["-KILL", &victim]).status().unwrap();

    let mut replaced = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = workers_seen(&server.base, 20).await;
        if now.len() == 2 && !now.iter().any(|s| s.ends_with(&format!("/{victim}"))) {
            replaced = true;
            break;
        }
    }
    assert!(replaced, "a new worker took the killed one's place");
    server.client().get("/readyz").await.expect(200, "");
}

#[tokio::test]
async fn sigterm_lets_requests_in_flight_finish() {
    let mut server = TestServer::start_with(&["--workers", "2"]).await;
    let client = TestClient::signed_up(&server, "amina").await;

    // An upload whose body arrives slowly is in flight when SIGTERM comes.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)));
    let request = client
        .request(Method::POST, "/api/datasets")
        .header("content-type", "multipart/form-data; boundary=b")
        .body(body);
    let upload = tokio::spawn(request.send());
    sender
        .send(Ok(b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.csv\"\r\n\r\n".to_vec()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let stopping = tokio::task::spawn_blocking(move || {
        let status = server.terminate(Duration::from_secs(20));
        (server, status)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    sender.send(Ok(tiny_csv())).await.unwrap();
    sender.send(Ok(b"\r\n--b--\r\n".to_vec())).await.unwrap();
    drop(sender);

    let answer = upload.await.unwrap().unwrap();
    assert_eq!(answer.status(), 201, "the request in flight finished");
    let (_server, status) = stopping.await.unwrap();
    assert!(status.expect("the server stopped").success());
}

#[tokio::test]
async fn workers_that_cannot_start_stop_the_server() {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_mrpt"))
        .args(["serve", "--bind", "127.0.0.1:0", "--workers", "2", "--data-dir", "/proc/mrpt-cannot-be-here"])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
}
