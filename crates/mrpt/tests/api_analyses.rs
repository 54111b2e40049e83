//! Analyses and bed-net plans over HTTP (API.md, Analyses and Bed-net
//! plans): defaults, errors, exports, pictures, cascade deletes and the
//! isolation rule for every id.

mod common;

use common::{shared_data, tiny_csv, Answer, TestClient, TestServer};
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};

async fn upload_with_boundaries(client: &mut TestClient, stem: &str) -> String {
    let csv = std::fs::read(shared_data(&format!("{stem}.csv"))).unwrap();
    let geojson = std::fs::read(shared_data(&format!("{stem}.geojson"))).unwrap();
    let form = Form::new()
        .part("file", Part::bytes(csv).file_name(format!("{stem}.csv")))
        .part("boundaries", Part::bytes(geojson).file_name(format!("{stem}.geojson")))
        .text("name", "Kano <wards> & \"co\"");
    let answer = client.upload_form(form).await;
    answer.expect(201, "");
    answer.json()["id"].as_str().unwrap().to_owned()
}

async fn analyse(client: &mut TestClient, dataset: &str, body: Value) -> Answer {
    client.post(&format!("/api/datasets/{dataset}/analyses"), body).await
}

fn assert_ranking(wards: &Value, n: usize) {
    let wards = wards.as_array().unwrap();
    assert_eq!(wards.len(), n);
    let k = n / 3;
    for (i, ward) in wards.iter().enumerate() {
        assert_eq!(ward["rank"], i + 1);
        let expected = if i < k { "High" } else if i >= n - k { "Low" } else { "Medium" };
        assert_eq!(ward["category"], expected);
    }
}

#[tokio::test]
async fn default_analysis_of_a_table_with_boundaries() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let dataset = upload_with_boundaries(&mut client, "kano_like_wards").await;

    let answer = client.send(client.request(Method::POST, &format!("/api/datasets/{dataset}/analyses"))).await;
    answer.expect(201, "");
    let analysis = answer.json();
    assert_eq!(analysis["dataset_id"], dataset.as_str());
    assert_eq!(analysis["method"], "both");
    let names: Vec<&str> = analysis["variables"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["u5_tpr_rdt", "rainfall", "ndwi", "housing_quality", "elevation", "urban_percentage"], "North_West zone");
    let housing = analysis["variables"].as_array().unwrap().iter().find(|v| v["name"] == "housing_quality").unwrap();
    assert_eq!(housing["direction"], "inverse");
    let imputed: u64 = analysis["variables"].as_array().unwrap().iter().map(|v| v["imputed"].as_u64().unwrap()).sum();
    assert!(imputed > 0);
    assert_eq!(analysis["unmatched_wards"], json!([]));
    assert_eq!(analysis["composite"]["models"].as_array().unwrap().len(), 16, "more than five variables");
    assert_ranking(&analysis["composite"]["wards"], 480);
    assert!(analysis["pca"]["suitable"].is_boolean());
    let id = analysis["id"].as_str().unwrap().to_owned();

    assert_eq!(client.get(&format!("/api/analyses/{id}")).await.json(), analysis);
    let listed = client.get("/api/analyses").await.json();
    assert_eq!(listed["analyses"][0], json!({"id": id, "dataset_id": dataset, "created_at": analysis["created_at"], "method": "both"}));

    let csv = client.get(&format!("/api/analyses/{id}/export.csv")).await;
    csv.expect(200, "");
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert!(csv.header("content-disposition").unwrap().starts_with("attachment"));
    let text = String::from_utf8(csv.body).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("ward,ward_code,composite_score,composite_rank,composite_category,pca_score,pca_rank,pca_category"));
    assert_eq!(lines.count(), 480);

    let map = client.get(&format!("/api/analyses/{id}/map.svg")).await;
    map.expect(200, "");
    assert_eq!(map.header("content-type").as_deref(), Some("image/svg+xml"));
    let svg = String::from_utf8(map.body).unwrap();
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"));
    assert!(svg.contains("<title>"));
    assert!(svg.contains("Kano &lt;wards&gt; &amp;"), "the title is escaped");
    assert!(!svg.contains("<wards>"));
    let chart = client.get(&format!("/api/analyses/{id}/chart.svg")).await;
    chart.expect(200, "");
    assert_eq!(chart.header("content-type").as_deref(), Some("image/svg+xml"));
}

#[tokio::test]
async fn requested_variables_methods_and_errors() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let dataset = client.upload("tiny.csv", tiny_csv()).await.json()["id"].as_str().unwrap().to_owned();

    let composite = analyse(&mut client, &dataset, json!({"method": "composite", "variables": ["U5_TPR_RDT", "rainfall", "housing_quality"], "directions": {"rainfall": "inverse"}, "inversion": "complement"})).await;
    composite.expect(201, "");
    let body = composite.json();
    assert_eq!(body["pca"], Value::Null);
    assert_eq!(body["variables"][0]["name"], "u5_tpr_rdt");
    assert_eq!(body["variables"][1]["direction"], "inverse");
    assert_eq!(body["composite"]["models"].as_array().unwrap().len(), 4);
    assert_ranking(&body["composite"]["wards"], 10);

    let pca = analyse(&mut client, &dataset, json!({"method": "pca"})).await;
    pca.expect(201, "");
    assert_eq!(pca.json()["composite"], Value::Null);

    let unknown = analyse(&mut client, &dataset, json!({"variables": ["u5_tpr_rdt", "no_such_column"]})).await;
    unknown.expect(422, "invalid_variables");
    assert_eq!(unknown.json()["error"]["variable"], "no_such_column");
    analyse(&mut client, &dataset, json!({"variables": ["u5_tpr_rdt", "LGA"]})).await.expect(422, "invalid_variables");
    analyse(&mut client, &dataset, json!({"variables": ["u5_tpr_rdt"]})).await.expect(422, "invalid_variables");
    analyse(&mut client, &dataset, json!({"variables": []})).await.expect(422, "invalid_variables");
    let spatial = analyse(&mut client, &dataset, json!({"imputation": "spatial"})).await;
    spatial.expect(400, "invalid_input");
    assert_eq!(spatial.json()["error"]["field"], "imputation");
    let bad_method = analyse(&mut client, &dataset, json!({"method": "magic"})).await;
    bad_method.expect(400, "invalid_input");
    assert_eq!(bad_method.json()["error"]["field"], "method");
    analyse(&mut client, &dataset, json!({"surprise": 1})).await.expect(400, "invalid_input");

    let id = composite.json()["id"].as_str().unwrap().to_owned();
    client.get(&format!("/api/analyses/{id}/map.svg")).await.expect(404, "no_boundaries");
    assert_eq!(client.get("/api/analyses").await.json()["analyses"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn exports_escape_cells_that_spreadsheets_would_run() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let table = "WardName,WardCode,Population,u5_tpr_rdt,rainfall\n\
                 =HYPERLINK(\"http://evil\"),@X1,1000,10,100\n\
                 +Plus,-2,2000,20,200\n\
                 Plain,P3,3000,30,300\n";
    let dataset = client.upload("evil.csv", table.as_bytes().to_vec()).await.json()["id"].as_str().unwrap().to_owned();
    let analysis = analyse(&mut client, &dataset, json!({"method": "composite"})).await;
    analysis.expect(201, "");
    let id = analysis.json()["id"].as_str().unwrap().to_owned();
    let text = String::from_utf8(client.get(&format!("/api/analyses/{id}/export.csv")).await.body).unwrap();
    assert!(text.contains("'=HYPERLINK"), "{text}");
    assert!(text.contains("'@X1"), "{text}");
    assert!(text.contains("'+Plus"), "{text}");
    assert!(!text.contains("'-2"), "numbers stay numbers: {text}");
    assert!(text.lines().all(|line| !line.starts_with('=') && !line.starts_with('+') && !line.starts_with('@')));
}

#[tokio::test]
async fn bed_net_plans() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let dataset = client.upload("tiny.csv", tiny_csv()).await.json()["id"].as_str().unwrap().to_owned();
    let analysis = analyse(&mut client, &dataset, json!({})).await.json()["id"].as_str().unwrap().to_owned();

    let greedy = client.post(&format!("/api/analyses/{analysis}/itn"), json!({"total_nets": 20000})).await;
    greedy.expect(201, "");
    let plan = greedy.json();
    assert_eq!(plan["analysis_id"], analysis.as_str());
    assert_eq!(plan["method"], "greedy");
    assert_eq!(plan["wards"].as_array().unwrap().len(), 10);
    let allocated: u64 = plan["wards"].as_array().unwrap().iter().map(|w| w["nets_allocated"].as_u64().unwrap()).sum();
    assert_eq!(plan["totals"]["nets_allocated"], allocated);
    assert_eq!(allocated + plan["totals"]["nets_left"].as_u64().unwrap(), 20000);
    let id = plan["id"].as_str().unwrap().to_owned();
    assert_eq!(client.get(&format!("/api/itn/{id}")).await.json(), plan);
    let csv = client.get(&format!("/api/itn/{id}/export.csv")).await;
    csv.expect(200, "");
    assert_eq!(String::from_utf8(csv.body).unwrap().lines().count(), 11);

    let proportional = client.post(&format!("/api/analyses/{analysis}/itn"), json!({"total_nets": 5000, "method": "proportional", "avg_household_size": 4.5, "urban_threshold": 50})).await;
    proportional.expect(201, "");
    assert_eq!(proportional.json()["totals"]["nets_allocated"], 5000);

    let missing = client.post(&format!("/api/analyses/{analysis}/itn"), json!({})).await;
    missing.expect(400, "invalid_input");
    assert_eq!(missing.json()["error"]["field"], "total_nets");
    let bad = client.post(&format!("/api/analyses/{analysis}/itn"), json!({"total_nets": 10, "avg_household_size": 0})).await;
    bad.expect(400, "invalid_input");
    assert_eq!(bad.json()["error"]["field"], "avg_household_size");
    let column = client.post(&format!("/api/analyses/{analysis}/itn"), json!({"total_nets": 10, "population_column": "People"})).await;
    column.expect(422, "invalid_variables");
}

#[tokio::test]
async fn everything_of_another_user_is_not_found_and_deletes_cascade() {
    let server = TestServer::start().await;
    let mut owner = TestClient::signed_up(&server, "amina").await;
    let mut intruder = TestClient::signed_up(&server, "musa").await;
    let dataset = upload_with_boundaries(&mut owner, "adamawa_like_wards").await;
    let analysis = analyse(&mut owner, &dataset, json!({})).await.json()["id"].as_str().unwrap().to_owned();
    let plan = owner.post(&format!("/api/analyses/{analysis}/itn"), json!({"total_nets": 1000})).await.json()["id"].as_str().unwrap().to_owned();
    let random = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

    let probes = [
        (Method::POST, format!("/api/datasets/{dataset}/analyses")),
        (Method::GET, format!("/api/analyses/{analysis}")),
        (Method::GET, format!("/api/analyses/{analysis}/export.csv")),
        (Method::GET, format!("/api/analyses/{analysis}/map.svg")),
        (Method::GET, format!("/api/analyses/{analysis}/chart.svg")),
        (Method::POST, format!("/api/analyses/{analysis}/itn")),
        (Method::DELETE, format!("/api/analyses/{analysis}")),
        (Method::GET, format!("/api/itn/{plan}")),
        (Method::GET, format!("/api/itn/{plan}/export.csv")),
    ];
    for (method, path) in &probes {
        let body = if path.ends_with("/itn") { json!({"total_nets": 10}) } else { json!({}) };
        let foreign = intruder.send(intruder.request(method.clone(), path).json(&body)).await;
        let unknown_path = path.replace(&dataset, random).replace(&analysis, random).replace(&plan, random);
        let unknown = intruder.send(intruder.request(method.clone(), &unknown_path).json(&body)).await;
        foreign.expect(404, "not_found");
        assert_eq!(foreign.error_without_request_id(), unknown.error_without_request_id(), "{path}");
    }
    assert_eq!(intruder.get("/api/analyses").await.json()["analyses"], json!([]));
    owner.get(&format!("/api/itn/{plan}")).await.expect(200, "");

    let files_before = server.stored_files().len();
    owner.delete(&format!("/api/analyses/{analysis}")).await.expect(204, "");
    owner.get(&format!("/api/itn/{plan}")).await.expect(404, "not_found");
    assert_eq!(server.stored_files().len(), files_before - 2, "result and plan files are gone");

    let again = analyse(&mut owner, &dataset, json!({})).await.json()["id"].as_str().unwrap().to_owned();
    let plan = owner.post(&format!("/api/analyses/{again}/itn"), json!({"total_nets": 1000})).await.json()["id"].as_str().unwrap().to_owned();
    owner.delete(&format!("/api/datasets/{dataset}")).await.expect(204, "");
    owner.get(&format!("/api/analyses/{again}")).await.expect(404, "not_found");
    owner.get(&format!("/api/itn/{plan}")).await.expect(404, "not_found");
    assert_eq!(owner.get("/api/analyses").await.json()["analyses"], json!([]));
    assert!(server.stored_files().is_empty());
}

/// A national-size table (9,400 wards) whose values use every digit an f64
/// has, so any number that changed on its way through the store shows.
fn national_table() -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut csv = String::from("WardName,WardCode,Population,urban_percentage,u5_tpr_rdt,rainfall,ndwi,housing_quality,elevation\n");
    for ward in 0..9_400 {
        let cells: Vec<String> = [20_000.0, 100.0, 80.0, 2_000.0, 1.0, 1.0, 900.0].iter().map(|scale| (scale * next()).to_string()).collect();
        csv.push_str(&format!("Ward {ward},NG{ward:05},{}\n", cells.join(",")));
    }
    csv.into_bytes()
}

/// Every number of a CSV export's `column`, by ward.
fn exported_numbers(csv: &[u8], column: &str) -> std::collections::HashMap<String, u64> {
    let mut reader = csv::Reader::from_reader(csv);
    let at = reader.headers().unwrap().iter().position(|h| h == column).unwrap();
    reader.records().map(|r| r.unwrap()).map(|r| (r[0].to_owned(), r[at].parse::<f64>().unwrap().to_bits())).collect()
}

#[tokio::test]
async fn numbers_read_back_bit_for_bit_in_answers_reads_and_exports() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let dataset = client.upload("national.csv", national_table()).await.json()["id"].as_str().unwrap().to_owned();
    let answered = analyse(&mut client, &dataset, json!({"method": "composite"})).await;
    answered.expect(201, "");
    let analysis = answered.json();
    let id = analysis["id"].as_str().unwrap();
    assert_eq!(client.get(&format!("/api/analyses/{id}")).await.json(), analysis, "the stored analysis reads back exactly");
    let exported = exported_numbers(&client.get(&format!("/api/analyses/{id}/export.csv")).await.body, "composite_score");
    let wards = analysis["composite"]["wards"].as_array().unwrap();
    assert_eq!(wards.len(), 9_400);
    for ward in wards {
        assert_eq!(exported[ward["ward"].as_str().unwrap()], ward["score"].as_f64().unwrap().to_bits(), "{ward}");
    }

    let planned = client.post(&format!("/api/analyses/{id}/itn"), json!({"total_nets": 1_000_000, "avg_household_size": 4.7})).await;
    planned.expect(201, "");
    let plan = planned.json();
    let plan_id = plan["id"].as_str().unwrap();
    assert_eq!(client.get(&format!("/api/itn/{plan_id}")).await.json(), plan, "the stored plan reads back exactly");
    let exported = exported_numbers(&client.get(&format!("/api/itn/{plan_id}/export.csv")).await.body, "coverage_pct");
    for ward in plan["wards"].as_array().unwrap() {
        assert_eq!(exported[ward["ward"].as_str().unwrap()], ward["coverage_pct"].as_f64().unwrap().to_bits(), "{ward}");
    }
}

#[tokio::test]
async fn a_plan_whose_population_cannot_add_up_is_refused_and_not_stored() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let csv = b"WardName,Population,rainfall,ndwi\nA,1e308,1,2\nB,1.7e308,2,1\nC,NA,3,3\n".to_vec();
    let dataset = client.upload("huge.csv", csv).await.json()["id"].as_str().unwrap().to_owned();
    let analysis = analyse(&mut client, &dataset, json!({"method": "composite"})).await.json()["id"].as_str().unwrap().to_owned();
    let refused = client.post(&format!("/api/analyses/{analysis}/itn"), json!({"total_nets": 10})).await;
    refused.expect(422, "invalid_variables");
    assert_eq!(refused.json()["error"]["variable"], "Population");
    let plans = server.state_db().query_row("SELECT COUNT(*) FROM owned WHERE kind = 'itn_plan'", [], |r| r.get::<_, i64>(0));
    assert_eq!(plans.unwrap(), 0);
}

#[tokio::test]
async fn analyses_over_the_variable_budget_are_refused_before_any_work() {
    // A body cap large enough to carry 200,000 names to the analysis budget.
    let server = TestServer::start_with(&["--max-variables", "3", "--max-analysis-cells", "30", "--max-json-body", "4MiB"]).await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let dataset = client.upload("tiny.csv", tiny_csv()).await.json()["id"].as_str().unwrap().to_owned();

    let three = analyse(&mut client, &dataset, json!({"variables": ["u5_tpr_rdt", "rainfall", "housing_quality"]})).await;
    three.expect(201, "");
    let all = analyse(&mut client, &dataset, json!({})).await;
    all.expect(413, "payload_too_large");
    assert_eq!((all.json()["error"]["limit"].clone(), all.json()["error"]["max"].clone()), (json!("variables"), json!(3)));
    let many: Vec<String> = (0..200_000).map(|i| format!("v{i}")).collect();
    let named = analyse(&mut client, &dataset, json!({"variables": many})).await;
    named.expect(413, "payload_too_large");
    assert_eq!(named.json()["error"]["limit"], "variables");
    let list = client.get("/api/analyses").await.json();
    assert_eq!(list["analyses"].as_array().unwrap().len(), 1, "refused analyses are not stored");
}

/// The stored files of one dataset whose names end with `suffix`.
fn dataset_files(server: &TestServer, dataset: &str, suffix: &str) -> Vec<std::path::PathBuf> {
    let folder = format!("/datasets/{}/", mrpt::store::files::segment(&dataset.parse().unwrap()));
    let files: Vec<_> = server
        .stored_files()
        .into_iter()
        .filter(|f| f.to_string_lossy().contains(&folder) && f.to_string_lossy().ends_with(suffix))
        .collect();
    assert!(!files.is_empty(), "no {suffix} file for {dataset}");
    files
}

#[tokio::test]
async fn uploads_are_parsed_once_and_older_datasets_still_work() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;

    // The originals of this dataset are broken after the upload: analyses, maps and plans
    // work from the compact form kept at upload.
    let dataset = upload_with_boundaries(&mut client, "kano_like_wards").await;
    for original in [dataset_files(&server, &dataset, "/table"), dataset_files(&server, &dataset, "/boundaries")].concat() {
        std::fs::write(original, b"not a table any more").unwrap();
    }
    let analysis = analyse(&mut client, &dataset, json!({})).await;
    analysis.expect(201, "");
    let id = analysis.json()["id"].as_str().unwrap().to_owned();
    client.get(&format!("/api/analyses/{id}/map.svg")).await.expect(200, "");
    client.post(&format!("/api/analyses/{id}/itn"), json!({"total_nets": 10000})).await.expect(201, "");

    // A dataset stored without the compact form (as before it existed) is read from its
    // originals, with the same result.
    let older = upload_with_boundaries(&mut client, "kano_like_wards").await;
    for parsed in [dataset_files(&server, &older, "/table.parsed"), dataset_files(&server, &older, "/boundaries.parsed")].concat() {
        std::fs::remove_file(parsed).unwrap();
    }
    let again = analyse(&mut client, &older, json!({})).await;
    again.expect(201, "");
    assert_eq!(again.json()["composite"], analysis.json()["composite"]);
    assert_eq!(again.json()["pca"], analysis.json()["pca"]);
}

/// A table whose principal-component analysis keeps a thread busy for a
/// while: 19,000 wards by 100 variables.
fn wide_csv() -> Vec<u8> {
    let mut csv = String::from("WardName,WardCode");
    for v in 0..100 {
        csv.push_str(&format!(",v{v}"));
    }
    csv.push('\n');
    for ward in 0..19_000u64 {
        csv.push_str(&format!("Ward {ward},W{ward}"));
        for v in 0..100u64 {
            csv.push_str(&format!(",{}", (ward * 7919 + v * 104_729) % 1000));
        }
        csv.push('\n');
    }
    csv.into_bytes()
}

#[tokio::test]
async fn expensive_work_beyond_its_pool_is_busy_and_beyond_a_users_share_too_many() {
    let server = TestServer::start_with(&["--work-threads", "1", "--work-queue", "0"]).await;
    let mut amina = TestClient::signed_up(&server, "amina").await;
    let mut bala = TestClient::signed_up(&server, "bala").await;
    let amina_dataset = amina.upload("wide.csv", wide_csv()).await.json()["id"].as_str().unwrap().to_owned();
    let bala_dataset = bala.upload("tiny.csv", tiny_csv()).await.json()["id"].as_str().unwrap().to_owned();

    let slow = tokio::spawn({
        let (mut amina, dataset) = (amina.clone(), amina_dataset.clone());
        async move { analyse(&mut amina, &dataset, json!({"method": "pca"})).await }
    });
    while server.metric_where("mrpt_work_in_flight", "pool=\"work\"").await < 1.0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let busy = analyse(&mut bala, &bala_dataset, json!({})).await;
    busy.expect(503, "busy");
    assert_eq!(busy.header("retry-after").as_deref(), Some("2"));
    let again = analyse(&mut amina, &amina_dataset, json!({"method": "pca"})).await;
    again.expect(429, "too_many_requests");
    assert_eq!(again.header("retry-after").as_deref(), Some("2"));
    // Reads never wait behind expensive work.
    amina.get("/api/datasets").await.expect(200, "");
    assert!(!slow.is_finished(), "the analysis held the only thread throughout");

    slow.await.unwrap().expect(201, "");
    analyse(&mut bala, &bala_dataset, json!({})).await.expect(201, "");
    analyse(&mut amina, &amina_dataset, json!({"method": "pca", "variables": ["v1", "v2"]})).await.expect(201, "");
    assert_eq!(server.metric_where("mrpt_work_in_flight", "pool=\"work\"").await, 0.0);
}
