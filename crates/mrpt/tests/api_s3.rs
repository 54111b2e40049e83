//! The server with its files in an S3-compatible bucket (s3s-fs, started by
//! each test): uploads land in the bucket and come back byte-exact, uploads
//! cut off or refused leave no object, an outage answers 503
//! `store_unavailable` and passes by itself, and a server never starts on a
//! bucket that does not answer.

mod common;
mod s3_server;

use common::{tiny_csv, TestClient, TestServer};
use s3_server::{free_port, S3Server, BUCKET, SECRET_KEY};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const PREFIX: &str = "mrpt/ci";

async fn serve_on(bucket: &S3Server) -> TestServer {
    let files = format!("s3://{BUCKET}/{PREFIX}");
    TestServer::start_with_env(&["--files", &files], &bucket.env()).await
}

/// A ward table of `rows` rows, larger than one part of a multipart upload
/// when `rows` is large.
fn big_csv(rows: usize) -> Vec<u8> {
    let mut csv = b"WardName,Population,Rainfall\n".to_vec();
    for row in 0..rows {
        writeln!(csv, "Ward {row},{},{}.5", 1000 + row % 7919, row % 311).unwrap();
    }
    csv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_round_trip_through_the_bucket() {
    let bucket = S3Server::start();
    let server = serve_on(&bucket).await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    client.get("/readyz").await.expect(200, "");

    let big = big_csv(400_000);
    assert!(big.len() > mrpt::store::files::s3::PART_SIZE, "the big table needs a multipart upload");
    let mut ids = Vec::new();
    for (name, bytes) in [("tiny.csv", tiny_csv()), ("big.csv", big)] {
        let created = client.upload(name, bytes.clone()).await;
        created.expect(201, "");
        let dataset = created.json();
        assert_eq!(dataset["sha256"], hex::encode(Sha256::digest(&bytes)));
        assert_eq!(dataset["bytes"], bytes.len());
        let id = dataset["id"].as_str().unwrap().to_owned();
        let file = client.get(&format!("/api/datasets/{id}/file")).await;
        file.expect(200, "");
        assert_eq!(file.header("content-length"), Some(bytes.len().to_string()));
        assert!(file.body == bytes, "{name} comes back byte-exact");
        ids.push(id);
    }

    let user = client.get("/api/session").await.json()["user"]["id"].as_str().unwrap().to_owned();
    let segment = |id: &str| mrpt::store::files::segment(&uuid::Uuid::parse_str(id).unwrap());
    let mut expected: Vec<String> = ids
        .iter()
        .flat_map(|id| ["table", "table.parsed"].map(|file| format!("{PREFIX}/users/{}/datasets/{}/{file}", segment(&user), segment(id))))
        .collect();
    expected.sort();
    let mut stored = bucket.everything_stored().await;
    stored.sort();
    assert_eq!(stored, expected);
    assert!(server.stored_files().is_empty(), "nothing is kept on local disk");

    for id in &ids {
        client.delete(&format!("/api/datasets/{id}")).await.expect(204, "");
        client.get(&format!("/api/datasets/{id}/file")).await.expect(404, "not_found");
    }
    assert!(bucket.everything_stored().await.is_empty());
    assert!(!server.logs().contains(SECRET_KEY), "the secret key is never logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_cut_off_or_refused_leave_no_object() {
    let bucket = S3Server::start();
    let server = serve_on(&bucket).await;
    let mut client = TestClient::signed_up(&server, "amina").await;

    // A body that announces more than it sends, then the connection closes.
    let address = server.base.trim_start_matches("http://").to_owned();
    let (cookie, csrf) = (client.cookie.clone().unwrap(), client.csrf.clone().unwrap());
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        let mut body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.csv\"\r\n\r\n".to_vec();
        body.extend(big_csv(200_000));
        write!(
            stream,
            "POST /api/datasets HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n\
             Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {}\r\n\r\n",
            body.len() * 2
        )
        .unwrap();
        stream.write_all(&body).unwrap();
        stream.shutdown(std::net::Shutdown::Both).unwrap();
        let _ = stream.read(&mut [0u8; 64]);
    })
    .await
    .unwrap();

    // Refused as not a ward table, and as too large to keep.
    client.upload("bad.csv", b"WardName,Population\nA,1\nB\x07,2\n".to_vec()).await.expect(400, "invalid_file");
    client.upload("empty.csv", Vec::new()).await.expect(400, "invalid_file");

    client.upload("tiny.csv", tiny_csv()).await.expect(201, "");
    assert_eq!(client.dataset_ids().await.len(), 1, "only the good upload is a dataset");
    assert_eq!(bucket.everything_stored().await.len(), 2, "only the good upload (file and compact form) is in the bucket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_outage_answers_503_and_passes_by_itself() {
    let mut bucket = S3Server::start();
    let server = serve_on(&bucket).await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let created = client.upload("tiny.csv", tiny_csv()).await;
    created.expect(201, "");
    let id = created.json()["id"].as_str().unwrap().to_owned();

    bucket.stop();
    let started = Instant::now();
    client.get("/readyz").await.expect(503, "store_unavailable");
    client.get(&format!("/api/datasets/{id}/file")).await.expect(503, "store_unavailable");
    client.upload("again.csv", tiny_csv()).await.expect(503, "store_unavailable");
    assert!(started.elapsed() < Duration::from_secs(20), "answers come within seconds, took {:?}", started.elapsed());
    assert_eq!(client.dataset_ids().await, vec![id.clone()], "the failed upload is no dataset");
    assert!(server.stored_files().is_empty(), "never a fallback to local disk");

    bucket.restart();
    client.wait_ready(200).await;
    let file = client.get(&format!("/api/datasets/{id}/file")).await;
    file.expect(200, "");
    assert_eq!(file.body, tiny_csv());
    client.upload("again.csv", tiny_csv()).await.expect(201, "");
    assert_eq!(bucket.everything_stored().await.len(), 4);
}

#[test]
fn serve_exits_with_a_clear_message_when_the_bucket_does_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let closed = format!("http://127.0.0.1:{}", free_port());
    let files = format!("s3://{BUCKET}/{PREFIX}");
    let data_dir = dir.path().to_str().unwrap();
    let env = [
        ("AWS_ACCESS_KEY_ID", "key"),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", closed.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
    ];
    let stderr = common::refused_start(&["--files", &files, "--data-dir", data_dir], &env);
    assert!(stderr.contains("mrpt: ") && stderr.contains("file store") && stderr.contains(&files), "{stderr}");
    assert!(!stderr.contains(SECRET_KEY), "no secret in {stderr}");
}
