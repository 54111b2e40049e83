//! Resumable uploads over HTTP (API.md, Resumable uploads): the tus 1.0.0
//! protocol, finishing into a dataset through the same checks as a
//! multipart upload, racing PATCHes, cut connections, limits, expiry, and
//! the isolation rule.

mod common;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use common::{tiny_csv, Answer, TestClient, TestServer};
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TUS: (&str, &str) = ("Tus-Resumable", "1.0.0");

fn metadata(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(key, value)| format!("{key} {}", BASE64.encode(value))).collect::<Vec<_>>().join(",")
}

async fn create(client: &mut TestClient, length: usize, pairs: &[(&str, &str)]) -> Answer {
    let request = client
        .request(Method::POST, "/api/uploads/")
        .header(TUS.0, TUS.1)
        .header("Upload-Length", length.to_string())
        .header("Upload-Metadata", metadata(pairs));
    client.send(request).await
}

/// Creates an upload and gives its path.
async fn created(client: &mut TestClient, length: usize, file_name: &str) -> String {
    let answer = create(client, length, &[("filename", file_name)]).await;
    answer.expect(201, "");
    answer.header("location").expect("a Location")
}

async fn head(client: &mut TestClient, path: &str) -> Answer {
    let request = client.request(Method::HEAD, path).header(TUS.0, TUS.1);
    client.send(request).await
}

async fn offset(client: &mut TestClient, path: &str) -> u64 {
    let answer = head(client, path).await;
    answer.expect(200, "");
    answer.header("upload-offset").unwrap().parse().unwrap()
}

fn patch_request(client: &TestClient, path: &str, at: usize, bytes: &[u8]) -> reqwest::RequestBuilder {
    client
        .request(Method::PATCH, path)
        .header(TUS.0, TUS.1)
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", at.to_string())
        .body(bytes.to_vec())
}

async fn patch(client: &mut TestClient, path: &str, at: usize, bytes: &[u8]) -> Answer {
    let request = patch_request(client, path, at, bytes);
    client.send(request).await
}

/// Sends a whole file as one upload and gives the upload's id.
async fn uploaded(client: &mut TestClient, bytes: &[u8], pairs: &[(&str, &str)]) -> String {
    let answer = create(client, bytes.len(), pairs).await;
    answer.expect(201, "");
    let path = answer.header("location").unwrap();
    patch(client, &path, 0, bytes).await.expect(204, "");
    path.rsplit('/').next().unwrap().to_owned()
}

fn upload_path(id: &str) -> String {
    format!("/api/uploads/{id}")
}

#[tokio::test]
async fn options_describe_the_protocol_to_a_logged_in_user() {
    let server = TestServer::start_with(&["--max-upload", "2MiB"]).await;
    let mut anonymous = server.client();
    anonymous.send(anonymous.request(Method::OPTIONS, "/api/uploads/")).await.expect(401, "unauthenticated");

    let mut client = TestClient::signed_up(&server, "amina").await;
    let answer = client.send(client.request(Method::OPTIONS, "/api/uploads/")).await;
    answer.expect(204, "");
    assert_eq!(answer.header("tus-version").as_deref(), Some("1.0.0"));
    assert_eq!(answer.header("tus-max-size").as_deref(), Some("2097152"));
    assert_eq!(answer.header("tus-extension").as_deref(), Some("creation,termination,checksum,expiration"));
    assert_eq!(answer.header("tus-checksum-algorithm").as_deref(), Some("sha256,sha1"));
}

#[tokio::test]
async fn an_upload_sent_in_pieces_becomes_a_dataset_and_is_consumed() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let csv = tiny_csv();

    let answer = create(&mut client, csv.len(), &[("filename", "wards.csv"), ("name", "Kano pilot"), ("role", "file")]).await;
    answer.expect(201, "");
    assert_eq!(answer.header("tus-resumable").as_deref(), Some("1.0.0"));
    assert!(answer.header("upload-expires").unwrap().ends_with(" GMT"));
    let path = answer.header("location").unwrap();
    assert!(path.starts_with("/api/uploads/"));

    let described = head(&mut client, &path).await;
    described.expect(200, "");
    assert_eq!(described.header("upload-offset").as_deref(), Some("0"));
    assert_eq!(described.header("upload-length"), Some(csv.len().to_string()));
    assert_eq!(described.header("upload-metadata"), Some(metadata(&[("filename", "wards.csv"), ("name", "Kano pilot"), ("role", "file")])));
    assert_eq!(described.header("cache-control").as_deref(), Some("no-store"));

    let (first, rest) = csv.split_at(100);
    let (second, third) = rest.split_at(200);
    let piece = patch(&mut client, &path, 0, first).await;
    piece.expect(204, "");
    assert_eq!(piece.header("upload-offset").as_deref(), Some("100"));
    assert!(piece.header("upload-expires").is_some());
    let sha256 = format!("sha256 {}", BASE64.encode(Sha256::digest(second)));
    let request = patch_request(&client, &path, 100, second).header("Upload-Checksum", sha256);
    client.send(request).await.expect(204, "");
    let sha1 = format!("sha1 {}", BASE64.encode(sha1::Sha1::digest(third)));
    let request = patch_request(&client, &path, 300, third).header("Upload-Checksum", sha1);
    client.send(request).await.expect(204, "");
    assert_eq!(offset(&mut client, &path).await, csv.len() as u64);

    let id = path.rsplit('/').next().unwrap();
    let dataset = client.post("/api/datasets", json!({"file": id})).await;
    dataset.expect(201, "");
    let dataset = dataset.json();
    assert_eq!(dataset["name"], "Kano pilot");
    assert_eq!(dataset["filename"], "wards.csv");
    assert_eq!(dataset["sha256"], hex::encode(Sha256::digest(&csv)));
    assert_eq!(dataset["rows"], 10);
    let file = client.get(&format!("/api/datasets/{}/file", dataset["id"].as_str().unwrap())).await;
    assert_eq!(file.body, csv);

    head(&mut client, &path).await.expect(404, "");
    client.post("/api/datasets", json!({"file": id})).await.expect(404, "not_found");
    let leftovers: Vec<_> = server.stored_files().into_iter().filter(|file| file.to_string_lossy().contains("/uploads/")).collect();
    assert!(leftovers.is_empty(), "pieces of a consumed upload are removed: {leftovers:?}");
}

#[tokio::test]
async fn a_table_with_boundaries_is_finished_from_two_uploads() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let table = std::fs::read(common::shared_data("adamawa_like_wards.csv")).unwrap();
    let boundaries = std::fs::read(common::shared_data("adamawa_like_wards.geojson")).unwrap();
    let file = uploaded(&mut client, &table, &[("filename", "adamawa.csv")]).await;
    let shapes = uploaded(&mut client, &boundaries, &[("filename", "adamawa.geojson"), ("role", "boundaries")]).await;

    let wrong_role = client.post("/api/datasets", json!({"file": shapes})).await;
    wrong_role.expect(400, "invalid_input");
    let dataset = client.post("/api/datasets", json!({"file": file, "boundaries": shapes, "name": "Adamawa"})).await;
    dataset.expect(201, "");
    assert_eq!(dataset.json()["has_boundaries"], true);
    assert_eq!(dataset.json()["name"], "Adamawa");
    head(&mut client, &upload_path(&shapes)).await.expect(404, "");
}

#[tokio::test]
async fn finishing_gives_the_answers_of_a_multipart_upload() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let no_wards = b"Population,Rainfall\n100,3\n200,4\n".to_vec();

    let multipart = client.upload("nowards.csv", no_wards.clone()).await;
    multipart.expect(422, "missing_ward_column");
    let id = uploaded(&mut client, &no_wards, &[("filename", "nowards.csv")]).await;
    let resumable = client.post("/api/datasets", json!({"file": id})).await;
    resumable.expect(422, "missing_ward_column");
    assert_eq!(resumable.error_without_request_id(), multipart.error_without_request_id());
    assert_eq!(offset(&mut client, &upload_path(&id)).await, no_wards.len() as u64, "a refused finish consumes nothing");

    let broken = b"WardName,Population\n\"unterminated,1\n".to_vec();
    let multipart = client.upload("broken.csv", broken.clone()).await;
    let id = uploaded(&mut client, &broken, &[("filename", "broken.csv")]).await;
    let resumable = client.post("/api/datasets", json!({"file": id})).await;
    assert_eq!(resumable.status, multipart.status);
    assert_eq!(resumable.error_without_request_id(), multipart.error_without_request_id());

    let path = created(&mut client, 50, "half.csv").await;
    patch(&mut client, &path, 0, &[b'x'; 20]).await.expect(204, "");
    let id = path.rsplit('/').next().unwrap();
    client.post("/api/datasets", json!({"file": id})).await.expect(409, "upload_incomplete");
    client.post("/api/datasets", json!({"file": "not-an-id"})).await.expect(404, "not_found");
    client.post("/api/datasets", json!({"file": id, "extra": 1})).await.expect(400, "invalid_input");
}

#[tokio::test]
async fn protocol_errors_change_nothing() {
    let server = TestServer::start_with(&["--max-upload", "1KiB"]).await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let path = created(&mut client, 100, "wards.csv").await;
    patch(&mut client, &path, 0, &[b'a'; 10]).await.expect(204, "");

    // Without the version header, every call is refused.
    let no_version = client.request(Method::POST, "/api/uploads/").header("Upload-Length", "10");
    let refused = client.send(no_version).await;
    refused.expect(412, "tus_version_unsupported");
    assert_eq!(refused.header("tus-resumable").as_deref(), Some("1.0.0"));
    assert_eq!(client.send(client.request(Method::HEAD, &path)).await.status, 412);
    let unversioned = client
        .request(Method::PATCH, &path)
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "10")
        .body(vec![b'b'; 5]);
    client.send(unversioned).await.expect(412, "tus_version_unsupported");
    client.send(client.request(Method::DELETE, &path)).await.expect(412, "tus_version_unsupported");

    patch(&mut client, &path, 0, b"again").await.expect(409, "upload_offset_conflict");
    patch(&mut client, &path, 50, b"ahead").await.expect(409, "upload_offset_conflict");
    let mismatch = patch_request(&client, &path, 10, b"bbbbb").header("Upload-Checksum", format!("sha256 {}", BASE64.encode(Sha256::digest(b"other"))));
    client.send(mismatch).await.expect(460, "checksum_mismatch");
    let unknown = patch_request(&client, &path, 10, b"bbbbb").header("Upload-Checksum", "md5 XUFAKrxLKna5cZ2REBfFkg==");
    client.send(unknown).await.expect(400, "invalid_input");
    let json_body = client
        .request(Method::PATCH, &path)
        .header(TUS.0, TUS.1)
        .header("Content-Type", "application/json")
        .header("Upload-Offset", "10")
        .body(b"bbbbb".to_vec());
    client.send(json_body).await.expect(415, "unsupported_media_type");
    patch(&mut client, &path, 10, &[b'c'; 91]).await.expect(413, "payload_too_large");
    assert_eq!(offset(&mut client, &path).await, 10, "no refused PATCH moved the offset");

    create(&mut client, 1025, &[("filename", "big.csv")]).await.expect(413, "payload_too_large");
    create(&mut client, 10, &[("name", "no file name")]).await.expect(400, "invalid_input");
    create(&mut client, 10, &[("filename", "wards.txt")]).await.expect(415, "unsupported_format");
    create(&mut client, 10, &[("filename", "w.csv"), ("role", "other")]).await.expect(400, "invalid_input");
    let deferred = client
        .request(Method::POST, "/api/uploads/")
        .header(TUS.0, TUS.1)
        .header("Upload-Defer-Length", "1")
        .header("Upload-Metadata", metadata(&[("filename", "w.csv")]));
    client.send(deferred).await.expect(400, "invalid_input");
    let without_csrf = client.http.post(format!("{}/api/uploads/", client.base))
        .header("Cookie", client.cookie.clone().unwrap())
        .header(TUS.0, TUS.1)
        .header("Upload-Length", "10")
        .header("Upload-Metadata", metadata(&[("filename", "w.csv")]));
    client.send(without_csrf).await.expect(403, "csrf_failed");

    let deleted = client.send(client.request(Method::DELETE, &path).header(TUS.0, TUS.1)).await;
    deleted.expect(204, "");
    head(&mut client, &path).await.expect(404, "");
    patch(&mut client, &path, 10, b"late").await.expect(404, "not_found");
}

#[tokio::test]
async fn of_patches_racing_at_one_offset_exactly_one_wins() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let csv = tiny_csv();
    let path = created(&mut client, csv.len(), "wards.csv").await;

    let racers: Vec<_> = (0..8)
        .map(|n| {
            // Each racer sends a different first half; only one may be kept.
            let mut piece = csv[..csv.len() / 2].to_vec();
            piece[0] = b'a' + n;
            let request = patch_request(&client, &path, 0, &piece);
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses: Vec<u16> = futures::future::join_all(racers).await.into_iter().map(Result::unwrap).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 409, 409, 409, 409, 409, 409, 409]);
    assert_eq!(offset(&mut client, &path).await, (csv.len() / 2) as u64);

    patch(&mut client, &path, csv.len() / 2, &csv[csv.len() / 2..]).await.expect(204, "");
    let pieces = server.stored_files().into_iter().filter(|file| file.to_string_lossy().contains("/uploads/")).count();
    assert_eq!(pieces, 2, "the losers' pieces are deleted");
}

#[tokio::test]
async fn a_cut_connection_keeps_the_bytes_that_arrived() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let path = created(&mut client, 1000, "wards.csv").await;

    let address = client.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {address}\r\nCookie: {}\r\nX-CSRF-Token: {}\r\nTus-Resumable: 1.0.0\r\n\
         Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: 1000\r\n\r\n",
        client.cookie.clone().unwrap(),
        client.csrf.clone().unwrap()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[b'x'; 600]).await.unwrap();
    stream.flush().await.unwrap();
    // Give the server the bytes before the connection goes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(stream);

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while offset(&mut client, &path).await != 600 {
        assert!(std::time::Instant::now() < deadline, "the 600 bytes that arrived were never kept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    patch(&mut client, &path, 600, &[b'y'; 400]).await.expect(204, "");
    assert_eq!(offset(&mut client, &path).await, 1000);

    // A piece with a checksum that is cut short is discarded whole.
    let path = created(&mut client, 1000, "wards.csv").await;
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {address}\r\nCookie: {}\r\nX-CSRF-Token: {}\r\nTus-Resumable: 1.0.0\r\n\
         Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: 1000\r\n\
         Upload-Checksum: sha1 qvTGHdzF6KLavt4PO0gs2a6pQ00=\r\n\r\n",
        client.cookie.clone().unwrap(),
        client.csrf.clone().unwrap()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[b'x'; 600]).await.unwrap();
    stream.shutdown().await.unwrap();
    // The server ends the connection once it has given up on the body.
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert_eq!(offset(&mut client, &path).await, 0);
}

#[tokio::test]
async fn another_users_upload_is_not_found_and_stays_unchanged() {
    let server = TestServer::start().await;
    let mut amina = TestClient::signed_up(&server, "amina").await;
    let mut musa = TestClient::signed_up(&server, "musa").await;
    let csv = tiny_csv();
    let path = created(&mut amina, csv.len(), "wards.csv").await;
    patch(&mut amina, &path, 0, &csv[..50]).await.expect(204, "");
    let id = path.rsplit('/').next().unwrap().to_owned();
    let random = upload_path(&uuid::Uuid::new_v4().to_string());

    for target in [&path, &random] {
        let seen = head(&mut musa, target).await;
        seen.expect(404, "");
        let patched = patch(&mut musa, target, 50, b"musa was here").await;
        patched.expect(404, "not_found");
        let deleted = musa.send(musa.request(Method::DELETE, target).header(TUS.0, TUS.1)).await;
        deleted.expect(404, "not_found");
    }
    let foreign = patch(&mut musa, &path, 50, b"x").await;
    let unknown = patch(&mut musa, &random, 50, b"x").await;
    assert_eq!(foreign.error_without_request_id(), unknown.error_without_request_id(), "indistinguishable");

    let finished_by_musa = musa.post("/api/datasets", json!({"file": id})).await;
    finished_by_musa.expect(404, "not_found");
    let own = uploaded(&mut musa, &csv, &[("filename", "musa.csv")]).await;
    musa.post("/api/datasets", json!({"file": own, "boundaries": id})).await.expect(404, "not_found");
    assert_eq!(offset(&mut musa, &upload_path(&own)).await, csv.len() as u64, "musa's own upload is not consumed");

    assert_eq!(offset(&mut amina, &path).await, 50, "amina's upload is unchanged");
    patch(&mut amina, &path, 50, &csv[50..]).await.expect(204, "");
    let dataset = amina.post("/api/datasets", json!({"file": id})).await;
    dataset.expect(201, "");
    assert_eq!(dataset.json()["sha256"], hex::encode(Sha256::digest(&csv)));
    assert_eq!(server.metric("mrpt_isolation_violations_total").await, 0.0);
}

#[tokio::test]
async fn unfinished_uploads_are_bounded_per_user() {
    let server = TestServer::start_with(&["--max-open-uploads", "2"]).await;
    let mut amina = TestClient::signed_up(&server, "amina").await;
    let mut musa = TestClient::signed_up(&server, "musa").await;
    let first = created(&mut amina, 10, "a.csv").await;
    created(&mut amina, 10, "b.csv").await;
    let refused = create(&mut amina, 10, &[("filename", "c.csv")]).await;
    refused.expect(429, "too_many_uploads");
    assert_eq!(refused.json()["error"]["limit"], 2);
    created(&mut musa, 10, "m.csv").await;

    // A finished upload still counts until it is a dataset; a terminated
    // one is gone.
    patch(&mut amina, &first, 0, &[b'x'; 10]).await.expect(204, "");
    create(&mut amina, 10, &[("filename", "c.csv")]).await.expect(429, "too_many_uploads");
    amina.send(amina.request(Method::DELETE, &first).header(TUS.0, TUS.1)).await.expect(204, "");
    created(&mut amina, 10, "c.csv").await;
    create(&mut amina, 10, &[("filename", "d.csv")]).await.expect(429, "too_many_uploads");
}

#[tokio::test]
async fn uploads_expire_with_their_pieces() {
    let server = TestServer::start_with(&["--upload-expiry", "1"]).await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let path = created(&mut client, 100, "wards.csv").await;
    patch(&mut client, &path, 0, &[b'x'; 40]).await.expect(204, "");
    let complete = uploaded(&mut client, &tiny_csv(), &[("filename", "done.csv")]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    head(&mut client, &path).await.expect(404, "");
    patch(&mut client, &path, 40, &[b'x'; 60]).await.expect(404, "not_found");
    client.post("/api/datasets", json!({"file": complete})).await.expect(404, "not_found");
    let pieces = server.stored_files().into_iter().filter(|file| file.to_string_lossy().contains("/uploads/")).count();
    assert_eq!(pieces, 0, "the pieces of expired uploads are removed");
}
