//! `mrpt loadtest` against the real server: a clean run passes with every
//! endpoint exercised, requests spread over several URLs, and a run that
//! meets a failure says so in its exit status.

mod common;

use common::TestServer;
use serde_json::Value;
use std::process::{Command, Output};

fn loadtest(urls: &[&str], extra: &[&str]) -> (Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let mut command = Command::new(env!("CARGO_BIN_EXE_mrpt"));
    command.arg("loadtest");
    for url in urls {
        command.args(["--url", url]);
    }
    let output = command.args(extra).arg("--json").arg(&json).output().expect("mrpt loadtest runs");
    let report = std::fs::read(&json).map(|bytes| serde_json::from_slice(&bytes).unwrap()).unwrap_or_default();
    (output, report)
}

fn endpoints(report: &Value) -> Vec<String> {
    report["endpoints"].as_array().unwrap().iter().map(|e| e["endpoint"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_clean_run_passes_and_covers_every_endpoint() {
    let server = TestServer::start().await;
    let (output, report) = loadtest(&[&server.base], &["--users", "10", "--rounds", "2", "--concurrency", "8"]);
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
    let (output, report) = loadtest(&[&first.base, &second.base], &["--users", "3", "--rounds", "1"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(report["served_by"].as_array().unwrap().len(), 2, "{report}");
}

#[tokio::test]
async fn an_unreachable_server_fails_the_run() {
    let server = TestServer::start().await;
    let base = server.base.clone();
    drop(server);
    let (output, _) = loadtest(&[&base], &["--users", "1", "--rounds", "1"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("openapi.json"));
}
