//! HTTP limits over real sockets: header and body timeouts, the connection
//! cap, and `/metrics` on its own private address.

mod common;

use common::{TestServer, PASSWORD};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn address(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection or `within` passes;
/// whatever was read, and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&seen).into_owned(), true),
            Ok(Ok(read)) => seen.extend_from_slice(&buffer[..read]),
            Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), false),
        }
    }
}

fn register_request(host: &str, username: &str) -> (String, Vec<u8>) {
    let body = json!({"username": username, "password": PASSWORD}).to_string().into_bytes();
    let head = format!(
        "POST /api/auth/register HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    (head, body)
}

#[tokio::test]
async fn metrics_can_move_to_a_private_address() {
    let server = TestServer::start_with(&["--metrics-bind", "127.0.0.1:0"]).await;
    let logs = server.logs();
    let line = logs.lines().find(|line| line.contains("metrics listening")).expect("the metrics address is logged");
    let private = serde_json::from_str::<Value>(line).unwrap()["address"].as_str().unwrap().to_owned();
    let mut public = server.client();
    public.get("/healthz").await.expect(200, "");
    public.get("/metrics").await.expect(404, "not_found");
    let scraped = reqwest::get(format!("http://{private}/metrics")).await.unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    assert!(text.contains("mrpt_http_requests_total") && text.contains("route=\"/healthz\""), "{text}");
    let elsewhere = reqwest::get(format!("http://{private}/healthz")).await.unwrap();
    assert_eq!(elsewhere.status(), 404);
}

#[tokio::test]
async fn idle_sockets_do_not_stop_the_server() {
    let server = TestServer::start_with(&["--header-timeout", "2"]).await;
    let host = address(&server);
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(&host).await.unwrap());
    }
    let started = Instant::now();
    server.client().get("/healthz").await.expect(200, "");
    assert!(started.elapsed() < Duration::from_secs(1), "/healthz took {:?} beside 300 idle sockets", started.elapsed());
    // The header timeout closes every one of them.
    for stream in &mut idle[..10] {
        let (_, closed) = read_until_closed(stream, Duration::from_secs(5)).await;
        assert!(closed, "an idle socket outlived the header timeout");
    }
}

#[tokio::test]
async fn a_full_worker_makes_new_connections_wait_for_a_slot() {
    let server = TestServer::start_with(&["--header-timeout", "2", "--max-connections", "4"]).await;
    let host = address(&server);
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(&host).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    server.client().get("/healthz").await.expect(200, "");
    let waited = started.elapsed();
    assert!(waited > Duration::from_millis(1000) && waited < Duration::from_secs(5), "/healthz answered after {waited:?}");
}

#[tokio::test]
async fn headers_must_arrive_in_time() {
    let server = TestServer::start_with(&["--header-timeout", "2"]).await;
    let mut stream = TcpStream::connect(address(&server)).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(6)).await;
    assert!(closed && started.elapsed() >= Duration::from_millis(1500), "closed {closed} after {:?}", started.elapsed());
}

#[tokio::test]
async fn a_stalled_body_is_cut_off_and_a_slow_steady_one_is_not() {
    let server = TestServer::start_with(&["--body-idle-timeout", "2", "--header-timeout", "2"]).await;
    let host = address(&server);

    let (head, body) = register_request(&host, "stalled");
    let mut stalled = TcpStream::connect(&host).await.unwrap();
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(&body[..10]).await.unwrap();
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut stalled, Duration::from_secs(8)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(closed, "the connection of a stalled body stays open");
    assert!(started.elapsed() >= Duration::from_millis(1500), "cut off after {:?}", started.elapsed());

    // One byte every 100 ms: far longer than the idle timeout in all.
    let (head, body) = register_request(&host, "steady");
    let mut steady = TcpStream::connect(&host).await.unwrap();
    steady.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    for byte in &body {
        steady.write_all(std::slice::from_ref(byte)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started.elapsed() > Duration::from_secs(4));
    let mut answer = vec![0u8; 12];
    steady.read_exact(&mut answer).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&answer), "HTTP/1.1 201");
    server.client().login("steady").await;
}
