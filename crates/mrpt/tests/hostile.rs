//! The hostile corpus (API.md, Limits and fairness): files and requests made to exhaust a
//! worker, sent to a server of two workers under a 2 GiB address-space cap. Each gets its
//! documented 4xx within 5 seconds, and the same workers answer before and after: a worker that
//! died and was replaced fails the test. Every file is generated here; none is committed.

mod common;

use common::{TestClient, TestServer};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use std::io::{Cursor, Read, Write};
use std::time::{Duration, Instant};

const MEMORY_CAP: &str = "--as=2147483648";
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// A table every boundary file below can go with.
fn small_table() -> Vec<u8> {
    b"WardName,v\na,1\nb,2\n".to_vec()
}

/// A workbook whose only cells are at A1 and XFD1048576: 1.6 KB that spans 2^34 cells.
fn far_apart_cells() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "WardName").unwrap();
    sheet.write_string(1_048_575, 16_383, "x").unwrap();
    book.save_to_buffer().unwrap()
}

/// A real workbook whose shared strings are swapped for 200 MB of one repeated letter, which
/// deflate packs about a thousand times.
fn shared_strings_bomb() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "WardName").unwrap();
    sheet.write_string(1, 0, "a").unwrap();
    let original = book.save_to_buffer().unwrap();
    let mut archive = zip::ZipArchive::new(Cursor::new(original)).unwrap();
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().large_file(true);
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().into_owned();
        out.start_file(name.as_str(), options).unwrap();
        if name == "xl/sharedStrings.xml" {
            out.write_all(br#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="2" uniqueCount="2"><si><t>WardName</t></si><si><t>"#).unwrap();
            let block = vec![b'a'; 1 << 20];
            for _ in 0..200 {
                out.write_all(&block).unwrap();
            }
            out.write_all(b"</t></si></sst>").unwrap();
        } else {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            out.write_all(&data).unwrap();
        }
    }
    out.finish().unwrap().into_inner()
}

/// An XLS workbook of eight sheets that each declare 65,536 x 256 cells and hold two at
/// opposite corners.
fn xls_bomb() -> Vec<u8> {
    fn record(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut out = kind.to_le_bytes().to_vec();
        out.extend((data.len() as u16).to_le_bytes());
        out.extend(data);
        out
    }
    let bof = |kind: u16| record(0x0809, &[&0x0600u16.to_le_bytes()[..], &kind.to_le_bytes(), &[0u8; 12]].concat());
    let number = |row: u16, column: u16| record(0x0203, &[&row.to_le_bytes()[..], &column.to_le_bytes(), &[0, 0], &1f64.to_le_bytes()].concat());
    let dimensions = record(0x0200, &[&0u32.to_le_bytes()[..], &65_536u32.to_le_bytes(), &0u16.to_le_bytes(), &256u16.to_le_bytes(), &[0, 0]].concat());
    let sheets = 8;
    let bound_sheet = |position: u32, i: usize| record(0x0085, &[&position.to_le_bytes()[..], &[0, 0, 1, 0, b'A' + i as u8]].concat());
    let globals_len = bof(5).len() + sheets * bound_sheet(0, 0).len() + record(0x000A, &[]).len();
    let mut sheet = bof(0x10);
    sheet.extend(&dimensions);
    sheet.extend(number(0, 0));
    sheet.extend(number(65_535, 255));
    sheet.extend(record(0x000A, &[]));
    let mut stream = bof(5);
    for i in 0..sheets {
        stream.extend(bound_sheet((globals_len + i * sheet.len()) as u32, i));
    }
    stream.extend(record(0x000A, &[]));
    for _ in 0..sheets {
        stream.extend(&sheet);
    }
    stream.resize(stream.len().max(4096), 0);
    let mut file = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    file.create_stream("/Workbook").unwrap().write_all(&stream).unwrap();
    file.create_stream("/\u{5}SummaryInformation").unwrap().write_all(&[0u8; 64]).unwrap();
    file.flush().unwrap();
    file.into_inner().into_inner()
}

/// 40,000 triangles that all share the point (0, 0).
fn shared_vertex_geojson() -> Vec<u8> {
    let features: Vec<String> = (0..40_000)
        .map(|i| format!(r#"{{"type":"Feature","properties":{{"WardName":"w{i}"}},"geometry":{{"type":"Polygon","coordinates":[[[0,0],[{i},1],[{i}.5,1],[0,0]]]}}}}"#))
        .collect();
    format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(",")).into_bytes()
}

/// One ward whose ring has 5,000,000 points.
fn long_ring_geojson() -> Vec<u8> {
    let mut text = String::from(r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"WardName":"a"},"geometry":{"type":"Polygon","coordinates":[[[0,0]"#);
    for i in 1..4_999_999 {
        text.push_str(if i % 2 == 0 { ",[1,0]" } else { ",[0,1]" });
    }
    text.push_str(",[0,0]]]}}]}");
    text.into_bytes()
}

/// A zipped shapefile inside a zip.
fn zip_in_zip() -> Vec<u8> {
    let zip_of = |name: &str, data: &[u8]| {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        out.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        out.write_all(data).unwrap();
        out.finish().unwrap().into_inner()
    };
    zip_of("wards.zip", &zip_of("wards.shp", &[0u8; 100]))
}

/// 10,000 rows of 1,000 one-character cells.
fn ten_million_cells() -> Vec<u8> {
    let header: Vec<String> = std::iter::once("WardName".to_owned()).chain((1..1000).map(|i| format!("c{i}"))).collect();
    let row = vec!["1"; 1000].join(",");
    let mut text = header.join(",") + "\n";
    for _ in 0..10_000 {
        text.push_str(&row);
        text.push('\n');
    }
    text.into_bytes()
}

/// 2,000 rows of 2,000 numeric columns: within the table budget, not within an analysis's.
fn two_thousand_square() -> Vec<u8> {
    let header: Vec<String> = std::iter::once("WardName".to_owned()).chain((1..2000).map(|i| format!("v{i}"))).collect();
    let mut text = header.join(",") + "\n";
    for r in 0..2000 {
        text.push_str(&format!("w{r}"));
        for c in 1..2000 {
            text.push_str(&format!(",{}", (r * 7 + c * 13) % 97));
        }
        text.push('\n');
    }
    text.into_bytes()
}

/// Sends one attack and checks the answer and its time.
async fn refused(what: &str, request: impl std::future::Future<Output = common::Answer>, status: u16, code: &str, limit: Option<&str>) -> Value {
    let started = Instant::now();
    let answer = request.await;
    let took = started.elapsed();
    assert_eq!(answer.status.as_u16(), status, "{what}: {:?}", answer.json());
    let body = answer.json();
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    if let Some(limit) = limit {
        assert_eq!(body["error"]["limit"], limit, "{what}: {body}");
    }
    assert!(took < ANSWER_WITHIN, "{what} took {took:?}");
    eprintln!("{what}: {status} {code} {limit:?} in {took:?}");
    body
}

fn with_boundaries(name: &str, boundaries: Vec<u8>) -> Form {
    Form::new()
        .part("file", Part::bytes(small_table()).file_name("wards.csv"))
        .part("boundaries", Part::bytes(boundaries).file_name(name.to_owned()))
}

#[tokio::test]
async fn hostile_inputs_are_refused_and_no_worker_dies() {
    let server = TestServer::start_under(&["prlimit", MEMORY_CAP], &["--workers", "2"]).await;
    let workers = server.worker_pids();
    assert_eq!(workers.len(), 2, "two workers under the supervisor");
    let mut client = TestClient::signed_up(&server, "mallory").await;

    refused("A1 and XFD1048576", client.upload("far.xlsx", far_apart_cells()), 413, "payload_too_large", Some("columns")).await;
    let bomb = shared_strings_bomb();
    assert!(bomb.len() < 1 << 20, "the bomb is {} bytes", bomb.len());
    refused("shared strings bomb", client.upload("bomb.xlsx", bomb), 413, "payload_too_large", Some("compression_ratio")).await;
    refused("XLS bomb", client.upload("bomb.xls", xls_bomb()), 413, "payload_too_large", Some("cells")).await;
    refused("40,000 features at one vertex", client.upload_form(with_boundaries("fan.geojson", shared_vertex_geojson())), 413, "payload_too_large", Some("features_per_vertex")).await;
    refused("a ring of 5,000,000 vertices", client.upload_form(with_boundaries("ring.geojson", long_ring_geojson())), 413, "payload_too_large", Some("ring_vertices")).await;
    refused("zip in a zip", client.upload_form(with_boundaries("wards.zip", zip_in_zip())), 400, "invalid_file", None).await;
    refused("10 million cells", client.upload("cells.csv", ten_million_cells()), 413, "payload_too_large", Some("cells")).await;

    let square = client.upload("square.csv", two_thousand_square()).await;
    square.expect(201, "");
    let dataset = square.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/api/datasets/{dataset}/analyses");
    refused("2,000 x 2,000 analysed with {}", client.post(&path, json!({})), 413, "payload_too_large", Some("variables")).await;
    let many = vec!["a"; 200_000];
    refused("200,000 variables", client.post(&path, json!({"variables": many})), 413, "payload_too_large", Some("variables")).await;

    assert_eq!(client.dataset_ids().await, [dataset], "only the acceptable table was stored");
    assert_eq!(server.worker_pids(), workers, "the same workers answer after the attacks");
    client.get("/healthz").await.expect(200, "");
}
