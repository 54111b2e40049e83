//! Crash consistency: two instances on one Redis and one shared file folder
//! serve users who upload, analyse and plan while workers are SIGKILLed at
//! random moments and Redis stops answering for a while, several times.
//! Afterwards everything a user was told was saved reads back exactly,
//! nothing listed is half-made, and the sweep finds nothing to repair but
//! files of killed requests, which it then removes.

mod common;
mod redis_servers;

use common::{tiny_csv, TestClient, TestServer};
use rand::Rng;
use redis_servers::RedisServer;
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USERS: usize = 6;
const CHAOS: Duration = Duration::from_secs(15);

/// What one user was told was saved, with what was sent or answered.
#[derive(Default)]
struct Acknowledged {
    datasets: Vec<(String, Vec<u8>)>,
    analyses: Vec<(String, Value)>,
    plans: Vec<(String, Value)>,
    failed_requests: usize,
}

/// A request that may fail in every way a crash allows: `None` unless the
/// answer is `want` with a JSON body.
async fn attempt(request: reqwest::RequestBuilder, want: u16, failed: &mut usize) -> Option<Value> {
    match request.timeout(Duration::from_secs(15)).send().await {
        Ok(response) if response.status().as_u16() == want => response.json().await.ok(),
        Ok(response) if response.status().is_client_error() => {
            panic!("a request the chaos cannot explain was refused: {} {}", response.status(), response.text().await.unwrap_or_default())
        }
        _ => {
            // A client backs off before trying again, as the page does.
            *failed += 1;
            tokio::time::sleep(Duration::from_millis(250)).await;
            None
        }
    }
}

/// Upload, analyse and plan, round after round, until `stop`.
async fn work(client: TestClient, name: String, stop: Arc<AtomicBool>) -> (TestClient, Acknowledged) {
    let mut acked = Acknowledged::default();
    let mut round = 0;
    while !stop.load(Ordering::Relaxed) {
        // An officer's pace, so that reading everything back stays quick.
        tokio::time::sleep(Duration::from_millis(100)).await;
        round += 1;
        let mut table = tiny_csv();
        let row = format!("Round {round} of {name},R{round:05},Harawa,Gombe,GM,12600,2.0,52.6,1495,-0.33,0.03,0.19,353,0.27,925,0.8\n");
        table.extend_from_slice(row.as_bytes());
        let form = Form::new().part("file", Part::bytes(table.clone()).file_name(format!("{name}-{round}.csv")));
        let upload = client.request(Method::POST, "/api/datasets").multipart(form);
        let Some(dataset) = attempt(upload, 201, &mut acked.failed_requests).await else { continue };
        let dataset_id = dataset["id"].as_str().unwrap().to_owned();
        acked.datasets.push((dataset_id.clone(), table));
        let analyse = client.request(Method::POST, &format!("/api/datasets/{dataset_id}/analyses")).json(&json!({}));
        let Some(analysis) = attempt(analyse, 201, &mut acked.failed_requests).await else { continue };
        let analysis_id = analysis["id"].as_str().unwrap().to_owned();
        acked.analyses.push((analysis_id.clone(), analysis));
        let plan = client.request(Method::POST, &format!("/api/analyses/{analysis_id}/itn")).json(&json!({"total_nets": 5000}));
        if let Some(plan) = attempt(plan, 201, &mut acked.failed_requests).await {
            acked.plans.push((plan["id"].as_str().unwrap().to_owned(), plan));
        }
    }
    (client, acked)
}

fn sweep(store: &[&str], extra: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_mrpt"))
        .arg("admin")
        .args(store)
        .arg("sweep")
        .args(extra)
        .env("MRPT_LOG", "warn")
        .output()
        .expect("mrpt admin sweep runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn wait_ready(server: &TestServer, workers: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let probe = server.client();
    loop {
        let ready = probe.request(Method::GET, "/readyz").send().await.is_ok_and(|r| r.status().is_success());
        if ready && server.worker_pids().len() == workers {
            return;
        }
        assert!(Instant::now() < deadline, "the instance is serving again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_acknowledged_survives_killed_workers_and_a_paused_store() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path());
    let files = dir.path().join("shared");
    let store = redis.url();
    let instance_args = |name: &'static str| ["--store", store.as_str(), "--instance", name, "--workers", "2"].map(str::to_owned);
    let a_args = instance_args("a");
    let b_args = instance_args("b");
    let a = TestServer::start_on(&files, &a_args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let b = TestServer::start_on(&files, &b_args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    wait_ready(&a, 2).await;
    wait_ready(&b, 2).await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut users = Vec::new();
    for n in 0..USERS {
        // Accounts are made before the chaos starts.
        let name = format!("officer{n}");
        let client = TestClient::signed_up(if n % 2 == 0 { &a } else { &b }, &name).await;
        users.push(tokio::spawn(work(client, name, stop.clone())));
    }

    // The chaos: a worker of either instance killed every 0.2 to 0.7 s, and
    // the store unanswering for 3 s (longer than a store call may take)
    // every 5 s.
    let started = Instant::now();
    let (mut kills, mut pauses) = (0, 0);
    let mut next_pause = Duration::from_secs(3);
    while started.elapsed() < CHAOS {
        tokio::time::sleep(Duration::from_millis(rand::thread_rng().gen_range(200..700))).await;
        let instance = if rand::thread_rng().gen_bool(0.5) { &a } else { &b };
        let workers = instance.worker_pids();
        if let Some(&victim) = workers.get(rand::thread_rng().gen_range(0..workers.len().max(1))) {
            if Command::new("kill").args(["-KILL", &victim.to_string()]).status().unwrap().success() {
                kills += 1;
            }
        }
        if started.elapsed() >= next_pause {
            redis.pause(Duration::from_secs(3));
            pauses += 1;
            next_pause += Duration::from_secs(5);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut results = Vec::new();
    for user in users {
        results.push(user.await.unwrap());
    }
    wait_ready(&a, 2).await;
    wait_ready(&b, 2).await;

    let acked: usize = results.iter().map(|(_, r)| r.datasets.len() + r.analyses.len() + r.plans.len()).sum();
    let failed: usize = results.iter().map(|(_, r)| r.failed_requests).sum();
    assert!(kills >= 15 && pauses >= 3, "the chaos happened: {kills} kills, {pauses} pauses");
    assert!(acked >= USERS * 3, "work got done between the kills: {acked} acknowledged");

    for (client, acknowledged) in &mut results {
        // Every acknowledged thing reads back exactly.
        for (id, bytes) in &acknowledged.datasets {
            assert_eq!(&client.get(&format!("/api/datasets/{id}/file")).await.body, bytes, "dataset {id}");
        }
        for (id, answered) in &acknowledged.analyses {
            assert_eq!(&client.get(&format!("/api/analyses/{id}")).await.json(), answered, "analysis {id}");
        }
        for (id, answered) in &acknowledged.plans {
            assert_eq!(&client.get(&format!("/api/itn/{id}")).await.json(), answered, "plan {id}");
        }
        // Whatever is listed, acknowledged or not, is whole.
        for id in client.dataset_ids().await {
            client.get(&format!("/api/datasets/{id}/file")).await.expect(200, "");
            client.get(&format!("/api/datasets/{id}")).await.expect(200, "");
        }
        let analyses = client.get("/api/analyses").await.json();
        for analysis in analyses["analyses"].as_array().unwrap() {
            let id = analysis["id"].as_str().unwrap();
            client.get(&format!("/api/analyses/{id}")).await.expect(200, "");
        }
    }

    let store_flags = ["--data-dir", files.to_str().unwrap(), "--store", store.as_str()];
    let found = sweep(&store_flags, &["--dry-run", "--grace", "0"]);
    assert!(!found.contains("record without its files"), "no record lost its files:\n{found}");
    sweep(&store_flags, &["--grace", "0"]);
    let after = sweep(&store_flags, &["--dry-run", "--grace", "0"]);
    assert!(after.contains("would remove 0 item(s)"), "one sweep settles everything:\n{after}");
    eprintln!(
        "crash consistency: {kills} workers killed, {pauses} store pauses in {:?}; {acked} acknowledged, {failed} requests failed; the sweep found:\n{found}",
        started.elapsed()
    );
}
