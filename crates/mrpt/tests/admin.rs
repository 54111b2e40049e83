//! `mrpt admin` against the stores of a running server, on SQLite and on
//! Redis: what it lists, and that what it ends or removes is gone for the
//! server at once.

mod common;
mod redis_servers;
mod s3_server;

use common::{tiny_csv, TestClient, TestServer};
use std::process::Command;
use std::time::Duration;

/// Runs `mrpt admin <store flags> <command>`; returns (success, stdout, stderr).
fn admin(store: &[&str], command: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_mrpt"))
        .arg("admin")
        .args(store)
        .args(command)
        .env("MRPT_LOG", "warn")
        .output()
        .expect("mrpt admin runs");
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into(), String::from_utf8_lossy(&output.stderr).into())
}

fn admin_ok(store: &[&str], command: &[&str]) -> String {
    let (ok, stdout, stderr) = admin(store, command);
    assert!(ok, "mrpt admin {command:?} failed: {stderr}");
    stdout
}

/// The row of a table whose first cell is `first`.
fn row<'a>(table: &'a str, first: &str) -> Vec<&'a str> {
    table
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&first))
        .unwrap_or_else(|| panic!("no row for {first} in\n{table}"))
}

async fn every_command_acts_on(server: &TestServer, store: &[&str]) {
    let mut amina = TestClient::signed_up(server, "amina").await;
    let mut amina_phone = server.client();
    amina_phone.login("amina").await.expect(200, "");
    let mut bello = TestClient::signed_up(server, "bello").await;
    let old = amina.upload("old.csv", tiny_csv()).await.json()["id"].as_str().unwrap().to_owned();
    bello.upload("bello.csv", tiny_csv()).await.expect(201, "");

    let users = admin_ok(store, &["users"]);
    assert_eq!(row(&users, "USERNAME"), ["USERNAME", "ID", "CREATED", "SESSIONS", "DATASETS"]);
    assert_eq!(row(&users, "amina")[3..], ["2", "1"], "{users}");
    assert_eq!(row(&users, "bello")[3..], ["1", "1"], "{users}");

    let sessions = admin_ok(store, &["sessions", "--user", "amina"]);
    assert_eq!(sessions.lines().filter(|line| line.starts_with("amina")).count(), 2, "{sessions}");
    assert!(!sessions.contains("bello"), "{sessions}");
    let (ok, _, stderr) = admin(store, &["sessions", "--user", "nobody"]);
    assert!(!ok && stderr.contains("there is no user named nobody"), "{stderr}");

    // Revoking a user ends both of their sessions and nobody else's.
    assert!(admin_ok(store, &["revoke-user", "amina"]).contains("ended 2 session(s) of amina"));
    amina.get("/api/session").await.expect(401, "unauthenticated");
    amina_phone.get("/api/session").await.expect(401, "unauthenticated");
    bello.get("/api/session").await.expect(200, "");

    // A purge keeps what is younger than the retention period.
    amina.login("amina").await.expect(200, "");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let fresh = amina.upload("fresh.csv", tiny_csv()).await.json()["id"].as_str().unwrap().to_owned();
    let purged = admin_ok(store, &["purge", "--older-than", "2s"]);
    assert!(purged.contains(&old) && purged.contains("removed 2 dataset(s)"), "{purged}");
    assert!(!purged.contains(&fresh), "{purged}");
    amina.get(&format!("/api/datasets/{old}")).await.expect(404, "not_found");
    amina.get(&format!("/api/datasets/{fresh}/file")).await.expect(200, "");
    assert!(bello.dataset_ids().await.is_empty());
    bello.get("/api/session").await.expect(200, "");

    // The reset needs confirming, then logs everyone out.
    let (ok, _, stderr) = admin(store, &["reset-sessions"]);
    assert!(!ok && stderr.contains("--yes"), "{stderr}");
    bello.get("/api/session").await.expect(200, "");
    assert!(admin_ok(store, &["reset-sessions", "--yes"]).contains("ended 2 session(s) of 2 user(s)"));
    amina.get("/api/session").await.expect(401, "unauthenticated");
    bello.get("/api/session").await.expect(401, "unauthenticated");

    let events = admin_ok(store, &["events", "--since", "1h"]);
    let revoked = events.lines().find(|line| line.contains("session_revoked")).expect("the revocation is an event");
    assert_eq!(revoked.split_whitespace().collect::<Vec<_>>()[1..3], ["session_revoked", "amina"], "{events}");
    assert!(events.contains("sessions_reset"), "{events}");
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    assert_eq!(admin_ok(store, &["events", "--since", &tomorrow]).lines().count(), 1, "only the header");
}

#[tokio::test]
async fn admin_commands_on_sqlite() {
    let server = TestServer::start().await;
    let data_dir = server.data_dir.to_str().unwrap().to_owned();
    every_command_acts_on(&server, &["--data-dir", &data_dir]).await;
}

#[tokio::test]
async fn admin_commands_on_redis() {
    let temp = tempfile::tempdir().unwrap();
    let redis = redis_servers::RedisServer::start(temp.path());
    let server = TestServer::start_with(&["--store", &redis.url()]).await;
    let data_dir = server.data_dir.to_str().unwrap().to_owned();
    every_command_acts_on(&server, &["--data-dir", &data_dir, "--store", &redis.url()]).await;
}

#[tokio::test]
async fn admin_refuses_a_store_that_does_not_answer() {
    let port = redis_servers::free_port().to_string();
    let (ok, _, stderr) = admin(&["--store", &format!("redis://127.0.0.1:{port}")], &["users"]);
    assert!(!ok);
    assert!(stderr.contains(&format!("cannot reach Redis at redis://127.0.0.1:{port}")), "{stderr}");
}

/// Every stored file whose path ends with `suffix`.
fn stored_ending(server: &TestServer, suffix: &str) -> Vec<std::path::PathBuf> {
    server.stored_files().into_iter().filter(|f| f.to_string_lossy().ends_with(suffix)).collect()
}

/// The sweep on one store: what crashes and timeouts leave is found by a dry
/// run, removed by a sweep, and a second sweep finds nothing; what users
/// still have is untouched, and fresh files wait out the grace period.
async fn the_sweep_repairs(server: &TestServer, store: &[&str]) {
    let mut amina = TestClient::signed_up(server, "amina").await;
    let kept = amina.upload("kept.csv", tiny_csv()).await.json()["id"].as_str().unwrap().to_owned();
    let analysis = amina.post(&format!("/api/datasets/{kept}/analyses"), serde_json::json!({})).await.json()["id"].as_str().unwrap().to_owned();
    let plan = amina.post(&format!("/api/analyses/{analysis}/itn"), serde_json::json!({"total_nets": 100})).await.json()["id"].as_str().unwrap().to_owned();
    let sweep = |extra: &[&str]| admin_ok(store, &[&["sweep"], extra].concat());
    assert!(sweep(&["--dry-run", "--grace", "0"]).contains("would remove 0 item(s)"));

    // A resumable upload with one piece received, left to expire (1 s).
    let upload = amina.request(reqwest::Method::POST, "/api/uploads/").header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "100").header("Upload-Metadata", "filename YS5jc3Y=");
    let location = amina.send(upload).await.header("location").expect("an upload");
    let piece = amina.request(reqwest::Method::PATCH, &location).header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0").header("Content-Type", "application/offset+octet-stream").body(vec![b'x'; 10]);
    amina.send(piece).await.expect(204, "");
    // A killed writer's unfinished file, and a result whose insert never came.
    let files = server.data_dir.join("files");
    std::fs::write(files.join(".partial/killed.part"), b"half").unwrap();
    let stray = files.join("users/AAAAAAAAAAAAAAAAAAAAAA/datasets/BBBBBBBBBBBBBBBBBBBBBB/table");
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"ward\n").unwrap();
    // An analysis whose result file was lost.
    for result in stored_ending(server, "result.json") {
        std::fs::remove_file(result).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let dry = sweep(&["--dry-run", "--grace", "0"]);
    for found in ["unfinished file", "file without a record", "record without its files", "expired upload", &analysis] {
        assert!(dry.contains(found), "{found} in\n{dry}");
    }
    assert!(stray.exists(), "a dry run removes nothing");
    let swept = sweep(&[]);
    assert!(swept.contains("removed 2 item(s)"), "the expired upload and the broken analysis: {swept}");
    assert!(stray.exists() && files.join(".partial/killed.part").exists(), "fresh files wait out the grace period");
    let swept = sweep(&["--grace", "0"]);
    assert!(swept.contains("removed 2 item(s)"), "{swept}");
    assert!(sweep(&["--dry-run", "--grace", "0"]).contains("would remove 0 item(s)"), "nothing is left to do");
    assert!(!stray.exists() && !files.join(".partial/killed.part").exists());
    assert!(stored_ending(server, "table").len() == 1, "the dataset's own files stay");
    amina.get(&format!("/api/datasets/{kept}/file")).await.expect(200, "");
    amina.get(&format!("/api/analyses/{analysis}")).await.expect(404, "not_found");
    amina.get(&format!("/api/itn/{plan}")).await.expect(404, "not_found");
    let head = amina.request(reqwest::Method::HEAD, &location).header("Tus-Resumable", "1.0.0");
    assert_eq!(amina.send(head).await.status.as_u16(), 404);
    let events = admin_ok(store, &["events", "--since", "1h"]);
    assert!(events.contains("record_without_files"), "{events}");
}

#[tokio::test]
async fn the_sweep_on_sqlite() {
    let server = TestServer::start_with(&["--upload-expiry", "1s"]).await;
    let data_dir = server.data_dir.to_str().unwrap().to_owned();
    the_sweep_repairs(&server, &["--data-dir", &data_dir]).await;
}

#[tokio::test]
async fn the_sweep_on_redis() {
    let temp = tempfile::tempdir().unwrap();
    let redis = redis_servers::RedisServer::start(temp.path());
    let server = TestServer::start_with(&["--store", &redis.url(), "--upload-expiry", "1s"]).await;
    let data_dir = server.data_dir.to_str().unwrap().to_owned();
    the_sweep_repairs(&server, &["--data-dir", &data_dir, "--store", &redis.url()]).await;
}

#[tokio::test]
async fn an_account_deletion_that_stopped_after_its_tombstone_is_finished_by_the_sweep() {
    let server = TestServer::start().await;
    let data_dir = server.data_dir.to_str().unwrap().to_owned();
    let store = ["--data-dir", data_dir.as_str()];
    let mut amina = TestClient::signed_up(&server, "amina").await;
    amina.upload("wards.csv", tiny_csv()).await.expect(201, "");
    let mut bello = TestClient::signed_up(&server, "bello").await;
    bello.upload("wards.csv", tiny_csv()).await.expect(201, "");
    // The state a deletion leaves when the file store fails after the
    // tombstone: the account refuses logins, its data is still there.
    server.state_db().execute("UPDATE users SET password_hash = '!account-being-deleted' WHERE username = 'amina'", []).unwrap();
    server.client().login_with("amina", common::PASSWORD).await.expect(401, "invalid_credentials");
    assert_eq!(server.stored_files().len(), 4, "two datasets, each a table and its compact form");

    let swept = admin_ok(&store, &["sweep"]);
    assert!(swept.contains("unfinished account deletion"), "{swept}");
    assert_eq!(server.stored_files().len(), 2, "only bello's files are left");
    let users = admin_ok(&store, &["users"]);
    assert!(!users.contains("amina") && users.contains("bello"), "{users}");
    bello.get("/api/datasets").await.expect(200, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_with_files_in_a_bucket() {
    use mrpt::domain::{AnalysisId, DatasetId, UserId};
    use mrpt::principal::Principal;
    use mrpt::store::files::{s3::{S3FileStore, S3Location}, DatasetFile, FileKey, FileStore};
    let bucket = s3_server::S3Server::start();
    let location = format!("s3://{}/mrpt/ci", s3_server::BUCKET);
    let server = TestServer::start_with_env(&["--files", &location], &bucket.env()).await;
    let data_dir = server.data_dir.to_str().unwrap().to_owned();
    let store = ["--data-dir", data_dir.as_str(), "--files", location.as_str()];
    let sweep = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_mrpt"))
            .args(["admin"]).args(store).arg("sweep").args(extra).envs(bucket.env()).env("MRPT_LOG", "warn")
            .output().expect("mrpt admin sweep runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let mut amina = TestClient::signed_up(&server, "amina").await;
    let kept = amina.upload("kept.csv", tiny_csv()).await.json()["id"].as_str().unwrap().to_owned();
    let analysis = amina.post(&format!("/api/datasets/{kept}/analyses"), serde_json::json!({})).await.json()["id"].as_str().unwrap().to_owned();
    assert!(sweep(&["--dry-run", "--grace", "0"]).contains("would remove 0 item(s)"));

    // A table whose insert never came, and an analysis whose result was lost.
    let files = S3FileStore::open_with(&S3Location::parse(&location).unwrap(), bucket.settings()).await.unwrap();
    let stranger = Principal::operator(UserId::random(), "test");
    let stray = FileKey::dataset(&stranger, DatasetId::random(), DatasetFile::Table);
    let mut upload = files.begin(&stray).await.unwrap();
    upload.write(b"ward\n").await.unwrap();
    upload.finish().await.unwrap();
    let user: UserId = amina.get("/api/session").await.json()["user"]["id"].as_str().unwrap().parse().unwrap();
    let owner = Principal::operator(user, "test");
    files.delete(&FileKey::analysis_result(&owner, kept.parse().unwrap(), analysis.parse::<AnalysisId>().unwrap())).await.unwrap();

    let swept = sweep(&["--grace", "0"]);
    assert!(swept.contains("file without a record") && swept.contains("record without its files") && swept.contains("removed 2 item(s)"), "{swept}");
    assert!(files.open(&stray).await.unwrap().is_none());
    assert!(sweep(&["--dry-run", "--grace", "0"]).contains("would remove 0 item(s)"));
    amina.get(&format!("/api/datasets/{kept}/file")).await.expect(200, "");
    amina.get(&format!("/api/analyses/{analysis}")).await.expect(404, "not_found");
}
