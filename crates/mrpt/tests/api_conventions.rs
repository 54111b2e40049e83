//! API.md's conventions over HTTP: request ids, cache headers on every API
//! answer (errors too), strict routing, error shapes and operations routes.

mod common;

use common::{TestClient, TestServer};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn request_ids_are_echoed_when_safe_and_replaced_otherwise() {
    let server = TestServer::start().await;
    let mut client = server.client();
    let echoed = client.send(client.request(Method::GET, "/api/session").header("X-Request-ID", "trace-42.a_b")).await;
    assert_eq!(echoed.header("x-request-id").as_deref(), Some("trace-42.a_b"));
    assert_eq!(echoed.json()["error"]["request_id"], "trace-42.a_b");
    for hostile in ["has space", "semi;colon", &"x".repeat(129)] {
        let replaced = client.send(client.request(Method::GET, "/api/session").header("X-Request-ID", hostile)).await;
        let id = replaced.header("x-request-id").unwrap();
        assert_ne!(id, hostile);
        assert_eq!(replaced.json()["error"]["request_id"], id.as_str());
    }
    let fresh = client.get("/healthz").await;
    assert!(fresh.header("x-request-id").is_some());
}

#[tokio::test]
async fn every_api_answer_is_uncacheable_and_names_its_server() {
    let server = TestServer::start_with(&["--instance", "east-1"]).await;
    let mut anonymous = server.client();
    let mut user = TestClient::signed_up(&server, "amina").await;
    let answers = vec![
        anonymous.get("/api/session").await,
        anonymous.get("/api/nothing-here").await,
        anonymous.send(anonymous.request(Method::PUT, "/api/session")).await,
        user.get("/api/session").await,
        user.get("/api/datasets").await,
        user.get("/api/datasets/x.css").await,
        user.post("/api/auth/register", json!({})).await,
    ];
    for answer in &answers {
        assert_eq!(answer.header("cache-control").as_deref(), Some("no-store"));
        assert_eq!(answer.header("vary").as_deref(), Some("Cookie"));
        let served_by = answer.header("x-served-by").unwrap();
        let (instance, worker) = served_by.split_once('/').unwrap();
        assert_eq!(instance, "east-1");
        assert!(worker.parse::<u32>().is_ok());
        assert!(answer.header("set-cookie").is_none());
    }
    let quiet = TestServer::start_with(&["--served-by", "off"]).await;
    assert!(quiet.client().get("/healthz").await.header("x-served-by").is_none());
}

#[tokio::test]
async fn routing_is_strict() {
    let server = TestServer::start().await;
    let mut user = TestClient::signed_up(&server, "amina").await;
    let mut anonymous = server.client();
    for path in ["/api/datasets/x.css", "/api/session.css", "/api/datasets/", "/api/sessions/a/b", "/api/nope", "/api/datasets.json"] {
        user.get(path).await.expect(404, "not_found");
        anonymous.get(path).await.expect(404, "not_found");
    }
    let id = user.upload("t.csv", common::tiny_csv()).await.json()["id"].as_str().unwrap().to_owned();
    user.get(&format!("/api/datasets/{id}.css")).await.expect(404, "not_found");
    user.get(&format!("/api/datasets/{id}/file.css")).await.expect(404, "not_found");
    user.get(&format!("/api/datasets/{id}/")).await.expect(404, "not_found");
    user.get(&format!("/api/datasets/{}", id.to_uppercase())).await.expect(404, "not_found");
    user.send(user.request(Method::PATCH, "/api/datasets")).await.expect(405, "method_not_allowed");
    user.send(user.request(Method::POST, &format!("/api/datasets/{id}"))).await.expect(405, "method_not_allowed");
    anonymous.send(anonymous.request(Method::POST, "/api/nope")).await.expect(404, "not_found");
}

#[tokio::test]
async fn operations_routes_answer() {
    let server = TestServer::start().await;
    let mut client = server.client();
    client.get("/healthz").await.expect(200, "");
    client.get("/readyz").await.expect(200, "");
    TestClient::signed_up(&server, "amina").await;
    let metrics = client.get("/metrics").await;
    let text = String::from_utf8(metrics.body).unwrap();
    for name in [
        "mrpt_http_requests_total",
        "mrpt_http_request_duration_seconds_bucket",
        "mrpt_sessions_created_total",
        "mrpt_isolation_violations_total",
        "backend=\"sqlite\",operation=\"create_session\"",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    let store_call = text.lines().find(|line| line.starts_with("mrpt_store_duration_seconds_count")).unwrap();
    assert!(store_call.contains("instance=") && store_call.contains("worker="), "per-worker labels: {store_call}");
    let openapi = client.get("/api/openapi.json").await.json();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in ["/api/auth/register", "/api/auth/login", "/api/auth/logout", "/api/auth/password", "/api/account",
                 "/api/session", "/api/sessions", "/api/sessions/{id}", "/api/datasets", "/api/datasets/{id}",
                 "/api/datasets/{id}/file", "/api/uploads/", "/api/uploads/{id}"] {
        assert!(openapi["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
}

#[tokio::test]
async fn the_web_page_is_public_and_cacheable() {
    let server = TestServer::start().await;
    let mut client = server.client();
    let page = client.get("/").await;
    page.expect(200, "");
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(page.header("cache-control").unwrap().contains("public"));
    assert!(page.header("set-cookie").is_none());
    let etag = page.header("etag").unwrap();
    let revalidated = client.send(client.request(Method::GET, "/").header("If-None-Match", etag)).await;
    assert_eq!(revalidated.status, 304);
}

#[tokio::test]
async fn json_routes_take_only_json() {
    let server = TestServer::start().await;
    let mut user = TestClient::signed_up(&server, "amina").await;
    let body = json!({"username": "bola", "password": common::PASSWORD}).to_string();
    for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("application/jsonx")] {
        let mut request = user.request(Method::POST, "/api/auth/register").body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        user.send(request).await.expect(415, "unsupported_media_type");
    }
    let with_charset =
        user.request(Method::POST, "/api/auth/register").header("content-type", "application/json; charset=utf-8");
    user.send(with_charset.body(body)).await.expect(201, "");
    let id = user.upload("t.csv", common::tiny_csv()).await.json()["id"].as_str().unwrap().to_owned();
    let analyses = format!("/api/datasets/{id}/analyses");
    let as_text = user.request(Method::POST, &analyses).header("content-type", "text/plain").body("{}");
    user.send(as_text).await.expect(415, "unsupported_media_type");
    // An analysis's options may be left out entirely.
    user.send(user.request(Method::POST, &analyses)).await.expect(201, "");
}

#[tokio::test]
async fn framework_rejections_are_the_api_error_body() {
    let server = TestServer::start().await;
    let mut user = TestClient::signed_up(&server, "amina").await;
    let malformed = user
        .request(Method::POST, "/api/datasets")
        .header("content-type", "multipart/form-data; boundary=")
        .body("--\r\nnot a form\r\n");
    let answer = user.send(malformed).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.header("content-type").as_deref(), Some("application/json"));
    assert_eq!(answer.json()["error"]["code"], "invalid_input");
    let no_boundary = user.request(Method::POST, "/api/datasets").header("content-type", "multipart/form-data");
    let answer = user.send(no_boundary.body("x")).await;
    assert!(answer.status.is_client_error());
    assert!(answer.json()["error"]["code"].is_string());
    let bad_path = user.get("/api/datasets/%FF%FE").await;
    bad_path.expect(404, "not_found");
    assert_eq!(bad_path.header("content-type").as_deref(), Some("application/json"));
}

#[tokio::test]
async fn random_methods_add_no_metric_series() {
    let server = TestServer::start().await;
    let mut client = server.client();
    let series = |answer: common::Answer| {
        String::from_utf8(answer.body).unwrap().lines().filter(|line| !line.is_empty() && !line.starts_with('#')).map(str::to_owned).collect::<Vec<_>>()
    };
    let flood = async |client: &mut TestClient, round: usize| {
        for n in 0..40 {
            let method = Method::from_bytes(format!("FLOOD{round}X{n}{}", "X".repeat(n * 20)).as_bytes()).unwrap();
            for path in ["/api/session", &format!("/unknown/{round}/{n}")] {
                let answer = client.send(client.request(method.clone(), path)).await;
                assert!(answer.json()["error"]["code"].is_string());
            }
        }
    };
    // The first round may add the shared `other` and `unmatched` series (and
    // a scrape its own); later ones add nothing.
    flood(&mut client, 0).await;
    client.get("/metrics").await;
    let before = series(client.get("/metrics").await);
    flood(&mut client, 1).await;
    let after = series(client.get("/metrics").await);
    assert!(after.iter().all(|line| !line.contains("FLOOD") && !line.contains("/unknown/")), "a method or path became a label");
    let names = |lines: &[String]| lines.iter().map(|line| line.rsplit_once(' ').unwrap().0.to_owned()).collect::<std::collections::BTreeSet<_>>();
    assert_eq!(names(&before), names(&after), "the flood added series");
}
