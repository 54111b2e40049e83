//! Datasets over HTTP: upload, list, preview, download, delete, the
//! isolation rule, and a corpus of hostile uploads (API.md, Datasets).

mod common;

use common::{shared_data, tiny_csv, TestClient, TestServer};
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::time::Duration;

#[tokio::test]
async fn upload_list_show_download_delete() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let session_id = client.get("/api/session").await.json()["session"]["id"].clone();

    let created = client.upload("tiny_wards.csv", tiny_csv()).await;
    created.expect(201, "");
    let dataset = created.json();
    assert_eq!(dataset["name"], "tiny_wards");
    assert_eq!(dataset["filename"], "tiny_wards.csv");
    assert_eq!(dataset["format"], "csv");
    assert_eq!(dataset["bytes"], tiny_csv().len());
    assert_eq!(dataset["sha256"], hex::encode(Sha256::digest(tiny_csv())));
    assert_eq!(dataset["rows"], 10);
    assert_eq!(dataset["ward_column"], "WardName");
    assert_eq!(dataset["has_boundaries"], false);
    assert_eq!(dataset["session_id"], session_id);
    assert!(dataset["uploaded_at"].as_str().unwrap().ends_with('Z'));
    assert!(dataset.get("preview").is_none());
    let columns = dataset["columns"].as_array().unwrap();
    assert_eq!(columns.len(), 16);
    assert_eq!(columns[0], json!({"name": "WardName", "kind": "text", "missing": 0}));
    assert_eq!(columns[5], json!({"name": "Population", "kind": "numeric", "missing": 0}));
    let id = dataset["id"].as_str().unwrap().to_owned();

    let named = client
        .upload_form(
            Form::new()
                .part("file", Part::bytes(tiny_csv()).file_name("t.csv"))
                .text("name", "Gombe pilot"),
        )
        .await;
    named.expect(201, "");
    assert_eq!(named.json()["name"], "Gombe pilot");
    assert_eq!(client.dataset_ids().await, vec![named.json()["id"].as_str().unwrap().to_owned(), id.clone()], "newest first");

    let shown = client.get(&format!("/api/datasets/{id}")).await;
    shown.expect(200, "");
    let preview = &shown.json()["preview"];
    assert_eq!(preview["columns"].as_array().unwrap().len(), 16);
    let rows = preview["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[0][0], "Dutsen Taraba II");
    assert_eq!(rows[0][5], json!(12600.0));

    let file = client.get(&format!("/api/datasets/{id}/file")).await;
    file.expect(200, "");
    assert_eq!(file.body, tiny_csv());
    let disposition = file.header("content-disposition").unwrap();
    assert!(disposition.starts_with("attachment;") && disposition.contains("tiny_wards.csv"), "{disposition}");

    let mut no_csrf = client.clone();
    no_csrf.csrf = None;
    no_csrf.delete(&format!("/api/datasets/{id}")).await.expect(403, "csrf_failed");
    client.get(&format!("/api/datasets/{id}")).await.expect(200, "");

    client.delete(&format!("/api/datasets/{id}")).await.expect(204, "");
    client.get(&format!("/api/datasets/{id}")).await.expect(404, "not_found");
    client.get(&format!("/api/datasets/{id}/file")).await.expect(404, "not_found");
    client.delete(&format!("/api/datasets/{id}")).await.expect(404, "not_found");
    // The other dataset's file and its compact form.
    assert_eq!(server.stored_files().len(), 2);
}

#[tokio::test]
async fn preview_shows_missing_cells_as_null_and_caps_at_twenty_rows() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let kano = std::fs::read(shared_data("kano_like_wards.csv")).unwrap();
    let created = client.upload("kano.csv", kano).await;
    created.expect(201, "");
    assert_eq!(created.json()["rows"], 480);
    let missing: u64 = created.json()["columns"].as_array().unwrap().iter().map(|c| c["missing"].as_u64().unwrap()).sum();
    assert_eq!(missing, 106);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let preview = client.get(&format!("/api/datasets/{id}")).await.json()["preview"].clone();
    assert_eq!(preview["rows"].as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn no_record_outgrows_its_cap_and_long_cells_are_cut_only_in_the_preview() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let long = "é".repeat(50_000);
    let csv = format!("WardName,notes\nA,{long}\nB,short\n");
    let created = client.upload("notes.csv", csv.clone().into_bytes()).await;
    created.expect(201, "");
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let preview = client.get(&format!("/api/datasets/{id}")).await.json()["preview"].clone();
    assert_eq!(preview["rows"][0][1].as_str().unwrap(), format!("{}…", "é".repeat(200)));
    assert_eq!(preview["rows"][1][1], "short");
    assert_eq!(client.get(&format!("/api/datasets/{id}/file")).await.body, csv.into_bytes(), "the file keeps every character");

    // Column names of 100 KiB each, within the cell budget: a record that
    // would slow every listing.
    let names: Vec<String> = (0..25).map(|i| format!("{i}{}", "x".repeat(100 << 10))).collect();
    let values = vec!["1"; 25].join(",");
    let refused = client.upload("wide.csv", format!("WardName,{}\nA,{values}\n", names.join(",")).into_bytes()).await;
    refused.expect(413, "payload_too_large");
    assert_eq!(refused.json()["error"]["limit"], "record_bytes");
    assert_eq!(refused.json()["error"]["max"], 2 << 20);
    assert_eq!(client.dataset_ids().await, [id], "nothing of the refused upload is listed");
    assert_eq!(server.stored_files().len(), 2, "the first upload's table and compact form only");
}

#[tokio::test]
async fn another_users_ids_are_exactly_like_unknown_ids() {
    let server = TestServer::start().await;
    let mut owner = TestClient::signed_up(&server, "amina").await;
    let mut intruder = TestClient::signed_up(&server, "musa").await;
    let id = owner.upload("tiny.csv", tiny_csv()).await.json()["id"].as_str().unwrap().to_owned();
    let random = "0b7e5a36-3f0f-4c1e-9d43-2a6f8e5b7c10";

    for (method, suffix) in [(Method::GET, ""), (Method::GET, "/file"), (Method::DELETE, "")] {
        let foreign = intruder.send(intruder.request(method.clone(), &format!("/api/datasets/{id}{suffix}"))).await;
        let unknown = intruder.send(intruder.request(method.clone(), &format!("/api/datasets/{random}{suffix}"))).await;
        foreign.expect(404, "not_found");
        assert_eq!(foreign.error_without_request_id(), unknown.error_without_request_id());
        assert_eq!(foreign.headers.get("content-length"), unknown.headers.get("content-length"));
    }
    assert!(intruder.dataset_ids().await.is_empty());
    assert_eq!(owner.dataset_ids().await, vec![id.clone()]);
    owner.get(&format!("/api/datasets/{id}/file")).await.expect(200, "");
}

#[tokio::test]
async fn a_record_whose_owner_was_changed_is_refused_and_reported() {
    let mut webhook = common::WebhookSink::start().await;
    let server = TestServer::start_with(&["--alert-webhook", &webhook.url, "--instance", "east-1"]).await;
    let mut owner = TestClient::signed_up(&server, "amina").await;
    let id = owner.upload("tiny.csv", tiny_csv()).await.json()["id"].as_str().unwrap().to_owned();
    let intruder_id = TestClient::signed_up(&server, "musa").await.get("/api/session").await.json()["user"]["id"].clone();

    // Tamper with the stored body only: the row stays in amina's namespace.
    let db = server.state_db();
    let body: Vec<u8> = db.query_row("SELECT body FROM owned WHERE id = ?1", [&id], |row| row.get(0)).unwrap();
    let mut record: Value = serde_json::from_slice(&body).unwrap();
    record["owner_id"] = intruder_id;
    db.execute("UPDATE owned SET body = ?1 WHERE id = ?2", rusqlite::params![serde_json::to_vec(&record).unwrap(), id]).unwrap();

    let answer = owner.get(&format!("/api/datasets/{id}")).await;
    answer.expect(404, "not_found");
    assert!(owner.dataset_ids().await.is_empty());
    assert_eq!(server.metric("mrpt_isolation_violations_total").await, 2.0);
    let request_id = answer.header("x-request-id").unwrap();
    let events: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM security_events WHERE kind = 'isolation_violation' AND request_id = ?1",
            [&request_id],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(events, 1);
    assert!(server.logs().lines().any(|line| line.contains("ISOLATION VIOLATION") && line.contains(&request_id)));

    let alert = webhook.next(Duration::from_secs(10)).await.expect("the alert webhook is called");
    assert_eq!(alert["event"], "isolation_violation");
    assert_eq!(alert["request_id"], request_id.as_str());
    assert_eq!(alert["instance"], "east-1");
    assert!(alert["worker"].is_u64() && alert["time"].is_string());
    let cookie = owner.cookie.clone().unwrap();
    let text = alert.to_string();
    assert!(!text.contains(cookie.split('=').nth(1).unwrap()) && !text.contains("Dutsen"), "no token, no data");
}

#[tokio::test]
async fn a_burst_of_forged_tokens_raises_one_alert() {
    let mut webhook = common::WebhookSink::start().await;
    let server = TestServer::start_with(&["--alert-webhook", &webhook.url]).await;
    let mut forger = server.client();
    for attempt in 0..25 {
        forger.cookie = Some(format!("mrpt_session=forged-{attempt}"));
        forger.get("/api/datasets").await.expect(401, "unauthenticated");
    }
    let alert = webhook.next(Duration::from_secs(10)).await.expect("a burst alert");
    assert_eq!(alert["event"], "forged_token");
    assert!(webhook.next(Duration::from_millis(500)).await.is_none(), "one alert per burst");
}

#[tokio::test]
async fn a_webhook_that_fails_never_puts_its_secret_in_the_log() {
    // Nothing listens on the discard port: every delivery fails.
    let server = TestServer::start_with(&["--alert-webhook", "http://127.0.0.1:9/hook/path-secret?token=query-secret"]).await;
    let mut forger = server.client();
    for attempt in 0..25 {
        forger.cookie = Some(format!("mrpt_session=forged-{attempt}"));
        forger.get("/api/datasets").await.expect(401, "unauthenticated");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !server.logs().contains("could not deliver a security alert") {
        assert!(std::time::Instant::now() < deadline, "the failed delivery is logged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs = server.logs();
    assert!(!logs.contains("query-secret") && !logs.contains("path-secret"), "{logs}");
}

#[tokio::test]
async fn stored_data_is_private_and_a_fresh_start_logs_no_error() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start_with(&["--workers", "2"]).await;
    let mut alice = TestClient::signed_up(&server, "alice").await;
    alice.upload("wards.csv", tiny_csv()).await.expect(201, "");
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&server.data_dir), 0o700);
    assert_eq!(mode(&server.data_dir.join("state.sqlite3")), 0o600);
    let files = server.stored_files();
    assert!(!files.is_empty());
    for file in files {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
        for folder in file.ancestors().skip(1).take_while(|f| f.starts_with(&server.data_dir)) {
            assert_eq!(mode(folder), 0o700, "{}", folder.display());
        }
    }
    let logs = server.logs();
    assert!(!logs.contains("\"ERROR\""), "a normal first start logs no error:\n{logs}");
}

#[tokio::test]
async fn boundaries_are_validated_and_recorded() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let csv = std::fs::read(shared_data("adamawa_like_wards.csv")).unwrap();
    let geojson = std::fs::read(shared_data("adamawa_like_wards.geojson")).unwrap();
    let with_map = client
        .upload_form(
            Form::new()
                .part("file", Part::bytes(csv.clone()).file_name("adamawa.csv"))
                .part("boundaries", Part::bytes(geojson).file_name("adamawa.geojson")),
        )
        .await;
    with_map.expect(201, "");
    assert_eq!(with_map.json()["has_boundaries"], true);

    let broken = client
        .upload_form(
            Form::new()
                .part("file", Part::bytes(csv).file_name("adamawa.csv"))
                .part("boundaries", Part::bytes(b"{\"type\": \"Feature".to_vec()).file_name("b.geojson")),
        )
        .await;
    broken.expect(400, "invalid_file");
    assert_eq!(client.dataset_ids().await.len(), 1);
}

/// Uploads one hostile file and checks the answer and that the user's good
/// data is exactly as before.
async fn refused(client: &mut TestClient, file_name: &str, bytes: Vec<u8>, status: u16, code: &str) -> Value {
    let before = client.get("/api/datasets").await.json();
    let answer = client.upload(file_name, bytes).await;
    answer.expect(status, code);
    assert!(!answer.json()["error"]["message"].as_str().unwrap().is_empty());
    assert_eq!(client.get("/api/datasets").await.json(), before, "good data unchanged after {file_name}");
    answer.json()
}

#[tokio::test]
async fn hostile_uploads_get_clear_errors_and_change_nothing() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let good = client.upload("good.csv", tiny_csv()).await.json();
    let files_before = server.stored_files();

    refused(&mut client, "binary.csv", vec![0x00, 0xff, 0x13, 0x37, 0x00, 0x01, 0x02], 400, "invalid_file").await;
    refused(&mut client, "empty.csv", Vec::new(), 400, "invalid_file").await;
    refused(&mut client, "header.csv", b"WardName,Population\n".to_vec(), 400, "invalid_file").await;
    let ragged = refused(&mut client, "ragged.csv", b"WardName,Population\nA,1\nB,2,3\n".to_vec(), 400, "invalid_file").await;
    assert_eq!(ragged["error"]["line"], 3);
    refused(&mut client, "dup.csv", b"WardName,x,x\nA,1,2\n".to_vec(), 400, "invalid_file").await;
    refused(&mut client, "noward.csv", b"Name,Population\nA,1\n".to_vec(), 422, "missing_ward_column").await;
    refused(&mut client, "notes.txt", tiny_csv(), 415, "unsupported_format").await;
    refused(&mut client, "fake.xlsx", tiny_csv(), 400, "invalid_file").await;
    let cut = refused(&mut client, "control.csv", b"WardName,Population\nA,1\nB\x07,2\n".to_vec(), 400, "invalid_file").await;
    assert_eq!(cut["error"]["line"], 3);
    assert_eq!(server.stored_files(), files_before, "refused uploads leave no file");

    // Accepted oddities: a traversal name, control characters, a BOM,
    // Windows-1252, very wide tables and huge cells.
    let traversal = client.upload("../../../etc/passwd.csv", tiny_csv()).await;
    traversal.expect(201, "");
    assert_eq!(traversal.json()["filename"], "passwd.csv");
    let control = client.upload("wa\trds.csv", tiny_csv()).await;
    control.expect(201, "");
    assert_eq!(control.json()["filename"], "wards.csv");
    // Raw control characters cannot even form a valid multipart header.
    refused(&mut client, "\u{1b}[31mwards\u{7}.csv", tiny_csv(), 400, "invalid_input").await;

    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(&tiny_csv());
    let bom = client.upload("bom.csv", bom).await;
    bom.expect(201, "");
    assert_eq!(bom.json()["ward_column"], "WardName");

    let latin = client.upload("latin.csv", b"WardName,Population\nGar\xe9,12\n".to_vec()).await;
    latin.expect(201, "");
    let id = latin.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(client.get(&format!("/api/datasets/{id}")).await.json()["preview"]["rows"][0][0], "Garé");

    let header: Vec<String> = std::iter::once("WardName".to_owned()).chain((1..2000).map(|i| format!("v{i}"))).collect();
    let row: Vec<String> = std::iter::once("A".to_owned()).chain((1..2000).map(|i| i.to_string())).collect();
    let wide = client.upload("wide.csv", format!("{}\n{}\n", header.join(","), row.join(",")).into_bytes()).await;
    wide.expect(201, "");
    assert_eq!(wide.json()["columns"].as_array().unwrap().len(), 2000);

    let huge = client.upload("huge.csv", format!("WardName,notes\nA,{}\n", "x".repeat(128 << 10)).into_bytes()).await;
    huge.expect(201, "");

    let good_id = good["id"].as_str().unwrap();
    let file = client.get(&format!("/api/datasets/{good_id}/file")).await;
    assert_eq!(file.body, tiny_csv(), "the good dataset is untouched");
}

/// A refusal over a budget names the budget and its value.
fn over_budget(answer: &Value, limit: &str, max: u64) {
    assert_eq!(answer["error"]["limit"], limit, "{answer}");
    assert_eq!(answer["error"]["max"], max, "{answer}");
}

fn ward_rows(rows: usize, columns: usize, cell: &str) -> Vec<u8> {
    let header: Vec<String> = std::iter::once("WardName".to_owned()).chain((1..columns).map(|i| format!("v{i}"))).collect();
    let mut text = header.join(",") + "\n";
    for r in 0..rows {
        let row: Vec<String> = std::iter::once(format!("w{r}")).chain((1..columns).map(|_| cell.to_owned())).collect();
        text += &(row.join(",") + "\n");
    }
    text.into_bytes()
}

fn squares_geojson(n: usize) -> Vec<u8> {
    let features: Vec<String> = (0..n)
        .map(|i| {
            let (x, x1) = (i as f64, i as f64 + 1.0);
            format!(r#"{{"type":"Feature","properties":{{"WardName":"w{i}"}},"geometry":{{"type":"Polygon","coordinates":[[[{x},0],[{x1},0],[{x1},1],[{x},1],[{x},0]]]}}}}"#)
        })
        .collect();
    format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(",")).into_bytes()
}

#[tokio::test]
async fn inputs_over_a_budget_get_413_with_limit_and_max_and_leave_nothing() {
    let server = TestServer::start_with(&[
        "--max-rows", "3", "--max-columns", "4", "--max-cells", "12", "--max-cell-bytes", "10",
        "--max-features", "3", "--max-name-bytes", "16", "--max-json-body", "300",
    ])
    .await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let edge = client.upload("edge.csv", ward_rows(3, 4, "1234567890")).await;
    edge.expect(201, "");
    let files_before = server.stored_files();

    over_budget(&refused(&mut client, "rows.csv", ward_rows(4, 4, "1"), 413, "payload_too_large").await, "rows", 3);
    over_budget(&refused(&mut client, "columns.csv", ward_rows(1, 5, "1"), 413, "payload_too_large").await, "columns", 4);
    over_budget(&refused(&mut client, "cell.csv", ward_rows(1, 2, "12345678901"), 413, "payload_too_large").await, "cell_bytes", 10);

    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "WardName").unwrap();
    sheet.write_string(1_048_575, 16_383, "far").unwrap();
    let far = book.save_to_buffer().unwrap();
    assert!(far.len() < 10_000);
    over_budget(&refused(&mut client, "far.xlsx", far, 413, "payload_too_large").await, "columns", 4);

    let with_boundaries = |features: usize| {
        Form::new()
            .part("file", Part::bytes(ward_rows(3, 2, "1")).file_name("w.csv"))
            .part("boundaries", Part::bytes(squares_geojson(features)).file_name("w.geojson"))
    };
    let answer = client.upload_form(with_boundaries(4)).await;
    answer.expect(413, "payload_too_large");
    over_budget(&answer.json(), "features", 3);
    client.upload_form(with_boundaries(3)).await.expect(201, "");
    let files_before_names = server.stored_files();

    let named = |name: &str| Form::new().part("file", Part::bytes(ward_rows(1, 2, "1")).file_name("n.csv")).text("name", name.to_owned());
    let answer = client.upload_form(named("seventeen bytes!!")).await;
    answer.expect(413, "payload_too_large");
    over_budget(&answer.json(), "name_bytes", 16);

    let dataset = edge.json()["id"].as_str().unwrap().to_owned();
    let big_body = json!({"variables": vec!["v1"; 60]});
    let answer = client.post(&format!("/api/datasets/{dataset}/analyses"), big_body).await;
    answer.expect(413, "payload_too_large");
    over_budget(&answer.json(), "bytes", 300);

    assert_eq!(server.stored_files(), files_before_names, "refused inputs leave no file");
    assert!(files_before.iter().all(|f| files_before_names.contains(f)));
    assert_eq!(client.dataset_ids().await.len(), 2);
    assert_eq!(client.get("/api/analyses").await.json()["analyses"], json!([]));
}

#[tokio::test]
async fn oversize_uploads_are_refused_before_reading_the_body() {
    let server = TestServer::start_with(&["--max-upload", "200KB"]).await;
    let mut client = TestClient::signed_up(&server, "amina").await;

    // Announce a gigabyte and send none of it: the answer comes at once.
    let address = server.base.trim_start_matches("http://").to_owned();
    let (cookie, csrf) = (client.cookie.clone().unwrap(), client.csrf.clone().unwrap());
    let raw = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            stream,
            "POST /api/datasets HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n\
             Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000000\r\n\r\n"
        )
        .unwrap();
        let mut answer = vec![0u8; 4096];
        let read = stream.read(&mut answer).unwrap();
        String::from_utf8_lossy(&answer[..read]).into_owned()
    })
    .await
    .unwrap();
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw.contains("payload_too_large"), "{raw}");

    // A body that grows past the limit without announcing its length is cut
    // off at the limit too.
    let address = server.base.trim_start_matches("http://").to_owned();
    let (cookie, csrf) = (client.cookie.clone().unwrap(), client.csrf.clone().unwrap());
    let raw = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut request = format!(
            "POST /api/datasets HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n\
             Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        let mut body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\n".to_vec();
        body.extend(std::iter::repeat_n(b'x', 300_000));
        for chunk in body.chunks(16_384) {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(chunk);
            request.extend_from_slice(b"\r\n");
        }
        // The server may stop reading at the limit: a failed write is expected.
        let _ = stream.write_all(&request);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(client.dataset_ids().await.is_empty());
    assert!(server.stored_files().is_empty());
}

#[tokio::test]
async fn a_logout_during_a_slow_upload_leaves_the_session_dead() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(receiver));
    let boundary = "slowboundary";
    let request = client
        .request(Method::POST, "/api/datasets")
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body);
    let upload = tokio::spawn(request.send());

    let head = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.csv\"\r\n\r\n");
    sender.send(Ok(head.into_bytes())).await.unwrap();
    sender.send(Ok(tiny_csv()[..200].to_vec())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut logout = client.clone();
    logout.send(logout.request(Method::POST, "/api/auth/logout")).await.expect(204, "");

    sender.send(Ok(tiny_csv()[200..].to_vec())).await.unwrap();
    sender.send(Ok(format!("\r\n--{boundary}--\r\n").into_bytes())).await.unwrap();
    drop(sender);
    let answer = upload.await.unwrap().unwrap();
    assert_eq!(answer.status(), 401);
    client.get("/api/session").await.expect(401, "unauthenticated");
    let mut again = server.client();
    again.login("amina").await;
    assert!(again.dataset_ids().await.is_empty(), "the upload of an ended session is not kept");
    assert!(server.stored_files().is_empty());
}

fn tokio_stream_from(
    mut receiver: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

#[tokio::test]
async fn two_processes_on_one_data_directory_serve_the_same_users() {
    let first = TestServer::start().await;
    let second = TestServer::start_on(&first.data_dir, &[]).await;
    let mut on_first = TestClient::signed_up(&first, "amina").await;
    let id = on_first.upload("tiny.csv", tiny_csv()).await.json()["id"].as_str().unwrap().to_owned();

    let mut on_second = on_first.clone();
    on_second.base = second.base.clone();
    on_second.get(&format!("/api/datasets/{id}/file")).await.expect(200, "");
    on_second.delete(&format!("/api/datasets/{id}")).await.expect(204, "");
    on_first.get(&format!("/api/datasets/{id}")).await.expect(404, "not_found");
    on_second.send(on_second.request(Method::POST, "/api/auth/logout")).await.expect(204, "");
    on_first.get("/api/session").await.expect(401, "unauthenticated");
}

#[tokio::test]
async fn excel_workbooks_are_read_like_csv() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let csv = String::from_utf8(tiny_csv()).unwrap();
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (row, line) in csv.lines().enumerate() {
        for (column, cell) in line.split(',').enumerate() {
            let (row, column) = (row as u32, column as u16);
            match cell.parse::<f64>() {
                Ok(number) if row > 0 => sheet.write_number(row, column, number).map(|_| ()),
                _ => sheet.write_string(row, column, cell).map(|_| ()),
            }
            .unwrap();
        }
    }
    let bytes = book.save_to_buffer().unwrap();
    let created = client.upload("Tiny wards.xlsx", bytes.clone()).await;
    created.expect(201, "");
    let dataset = created.json();
    assert_eq!(dataset["format"], "xlsx");
    assert_eq!(dataset["rows"], 10);
    assert_eq!(dataset["columns"][5], json!({"name": "Population", "kind": "numeric", "missing": 0}));
    let id = dataset["id"].as_str().unwrap();
    let file = client.get(&format!("/api/datasets/{id}/file")).await;
    assert_eq!(file.body, bytes);
    assert!(file.header("content-type").unwrap().contains("spreadsheetml"));
    let analysis = client.post(&format!("/api/datasets/{id}/analyses"), json!({})).await;
    analysis.expect(201, "");
    assert_eq!(analysis.json()["composite"]["wards"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn a_refused_csrf_token_changes_nothing() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let id = client.upload("good.csv", tiny_csv()).await.json()["id"].as_str().unwrap().to_owned();
    let before = client.get("/api/datasets").await.json();
    for forged in [None, Some("".to_owned()), Some("not-the-token".to_owned())] {
        let mut attacker = client.clone();
        attacker.csrf = forged;
        attacker.upload("evil.csv", tiny_csv()).await.expect(403, "csrf_failed");
        attacker.delete(&format!("/api/datasets/{id}")).await.expect(403, "csrf_failed");
        attacker.post(&format!("/api/datasets/{id}/analyses"), json!({})).await.expect(403, "csrf_failed");
        attacker
            .post("/api/auth/password", json!({"current_password": common::PASSWORD, "new_password": "attacker passphrase"}))
            .await
            .expect(403, "csrf_failed");
        attacker.delete_json("/api/account", json!({"password": common::PASSWORD})).await.expect(403, "csrf_failed");
        attacker.delete("/api/sessions").await.expect(403, "csrf_failed");
    }
    assert_eq!(client.get("/api/datasets").await.json(), before);
    assert_eq!(client.get("/api/analyses").await.json()["analyses"], json!([]));
    client.get("/api/session").await.expect(200, "");
    server.client().login_with("amina", common::PASSWORD).await.expect(200, "");
    let refusals: i64 = server
        .state_db()
        .query_row("SELECT COUNT(*) FROM security_events WHERE kind = 'csrf_refused'", [], |row| row.get(0))
        .unwrap();
    assert_eq!(refusals, 18);
}
