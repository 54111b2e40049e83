//! The server on a Redis state store that the test starts, pauses, stops and
//! restarts: it fails closed with 503 `store_unavailable` while Redis is
//! away, recovers by itself, and refuses to start without Redis.

mod common;
mod redis_servers;

use common::{tiny_csv, TestClient, TestServer};
use redis_servers::{free_port, RedisServer};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_fails_closed_while_redis_is_away_and_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path());
    let port = redis.port;
    let server = TestServer::start_with(&["--store", &redis.url()]).await;
    let mut amina = TestClient::signed_up(&server, "amina").await;
    let mut musa = TestClient::signed_up(&server, "musa").await;
    amina.upload("wards.csv", tiny_csv()).await.expect(201, "");
    let datasets = amina.dataset_ids().await;
    assert_eq!(datasets.len(), 1);
    assert!(musa.dataset_ids().await.is_empty());

    // Paused: every call that needs the store is 503, within the store's
    // command timeout rather than after the pause.
    redis.pause(Duration::from_secs(10));
    let started = Instant::now();
    let login = serde_json::json!({"username": "amina", "password": common::PASSWORD});
    let (mut a, mut b, mut c, mut d) = (amina.clone(), amina.clone(), musa.clone(), server.client());
    let (datasets_during, ready_during, session_during, login_during) =
        tokio::join!(a.get("/api/datasets"), b.get("/readyz"), c.get("/api/session"), d.post("/api/auth/login", login));
    for answer in [datasets_during, ready_during, session_during, login_during] {
        answer.expect(503, "store_unavailable");
    }
    assert!(started.elapsed() < Duration::from_secs(8), "answers come before the pause ends");
    assert!(
        server.metric_where("mrpt_store_errors_total", "operation=\"session_by_token\",error=\"unavailable\"").await >= 2.0,
        "the failed session lookups are counted by operation"
    );

    // Back by itself, and every answer is still the asker's own.
    amina.wait_ready(200).await;
    for _ in 0..10 {
        assert_eq!(amina.dataset_ids().await, datasets);
        assert!(musa.dataset_ids().await.is_empty());
        let session = musa.get("/api/session").await;
        session.expect(200, "");
        assert_eq!(session.json()["user"]["username"], "musa");
    }

    // Stopped: 503 again, never an answer from memory.
    redis.stop();
    amina.get("/api/datasets").await.expect(503, "store_unavailable");
    amina.get("/readyz").await.expect(503, "store_unavailable");

    // Restarted empty on the same port: ready again; the old sessions are
    // unknown, so 401, and the accounts can be made afresh.
    let _redis = RedisServer::start_on(port, dir.path(), &[]);
    amina.wait_ready(200).await;
    amina.get("/api/datasets").await.expect(401, "unauthenticated");
    let mut again = TestClient::signed_up(&server, "amina").await;
    assert!(again.dataset_ids().await.is_empty());
}

#[test]
fn serve_exits_with_a_clear_message_when_redis_does_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("redis://127.0.0.1:{}", free_port());
    let stderr = common::refused_start(&["--store", &url, "--data-dir", dir.path().to_str().unwrap()], &[]);
    assert!(stderr.contains("mrpt: ") && stderr.contains("Redis") && stderr.contains(&url), "{stderr}");
}
