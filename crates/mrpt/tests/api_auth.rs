//! Accounts, login, logout, sessions, CSRF and expiry, driven over HTTP
//! against the real server (API.md, Sessions and authentication).

mod common;

use common::{TestClient, TestServer, PASSWORD};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn register_validates_and_refuses_taken_names() {
    let server = TestServer::start().await;
    let mut client = server.client();
    let created = client.register("Amina.Bello").await;
    assert_eq!(created.json()["user"]["username"], "amina.bello");
    assert_eq!(created.json()["user"]["id"].as_str().unwrap().len(), 36);
    assert!(created.json()["user"]["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(created.header("set-cookie").is_none(), "register does not log in");

    let taken = client.post("/api/auth/register", json!({"username": "AMINA.bello", "password": PASSWORD})).await;
    taken.expect(409, "username_taken");
    let short_name = client.post("/api/auth/register", json!({"username": "ab", "password": PASSWORD})).await;
    short_name.expect(400, "invalid_input");
    assert_eq!(short_name.json()["error"]["field"], "username");
    let bad_chars = client.post("/api/auth/register", json!({"username": "amina bello", "password": PASSWORD})).await;
    assert_eq!(bad_chars.json()["error"]["field"], "username");
    let short_password = client.post("/api/auth/register", json!({"username": "musa", "password": "too short"})).await;
    short_password.expect(400, "invalid_input");
    assert_eq!(short_password.json()["error"]["field"], "password");
    let long_password = client.post("/api/auth/register", json!({"username": "musa", "password": "x".repeat(1025)})).await;
    assert_eq!(long_password.json()["error"]["field"], "password");
    let missing = client.post("/api/auth/register", json!({"username": "musa"})).await;
    missing.expect(400, "invalid_input");
    assert_eq!(missing.json()["error"]["field"], "password");
    let wrong_type = client.post("/api/auth/register", json!({"username": 5, "password": PASSWORD})).await;
    assert_eq!(wrong_type.json()["error"]["field"], "username");
    let malformed = client.send(client.request(Method::POST, "/api/auth/register").header("content-type", "application/json").body("{not json")).await;
    malformed.expect(400, "invalid_input");
}

#[tokio::test]
async fn closed_registration_is_refused() {
    let server = TestServer::start_with(&["--registration", "closed"]).await;
    let answer = server.client().post("/api/auth/register", json!({"username": "musa", "password": PASSWORD})).await;
    answer.expect(403, "registration_closed");
}

#[tokio::test]
async fn login_sets_a_strict_cookie_and_returns_the_session() {
    let server = TestServer::start().await;
    let mut client = server.client();
    client.register("amina").await;
    let answer = client.login("amina").await;
    let cookie = answer.header("set-cookie").unwrap();
    let (pair, attributes) = cookie.split_once(';').unwrap();
    let (name, token) = pair.split_once('=').unwrap();
    assert_eq!(name, "mrpt_session");
    assert!(token.len() >= 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(attributes.contains(attribute), "{cookie}");
    }
    assert!(!attributes.contains("Domain") && !attributes.contains("Secure"), "{cookie}");
    let body = answer.json();
    assert_eq!(body["user"]["username"], "amina");
    assert_eq!(body["session"]["current"], true);
    assert!(!String::from_utf8_lossy(&answer.body).contains(token), "no token in a body");
    assert_ne!(body["session"]["id"].as_str().unwrap(), token);

    let me = client.get("/api/session").await;
    me.expect(200, "");
    assert_eq!(me.json()["csrf_token"], body["csrf_token"]);
    assert_eq!(me.json()["session"]["id"], body["session"]["id"]);
    assert!(me.header("set-cookie").is_none(), "only login, logout and revocation set cookies");
    assert!(!server.logs().contains(token), "no token in the logs");
    assert!(!server.logs().contains(PASSWORD), "no password in the logs");
}

#[tokio::test]
async fn https_public_url_makes_the_cookie_secure_and_host_prefixed() {
    let server = TestServer::start_with(&["--public-url", "https://mrpt.example.org"]).await;
    let mut client = server.client();
    client.register("amina").await;
    let answer = client.post("/api/auth/login", json!({"username": "amina", "password": PASSWORD})).await;
    let cookie = answer.header("set-cookie").unwrap();
    assert!(cookie.starts_with("__Host-mrpt_session="), "{cookie}");
    assert!(cookie.contains("; Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"), "{cookie}");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let server = TestServer::start().await;
    let mut client = server.client();
    client.register("amina").await;
    let wrong = client.login_with("amina", "not the password").await;
    let unknown = client.login_with("nobody", PASSWORD).await;
    wrong.expect(401, "invalid_credentials");
    unknown.expect(401, "invalid_credentials");
    assert_eq!(wrong.error_without_request_id(), unknown.error_without_request_id());
    assert!(wrong.header("set-cookie").is_none());
    assert!(server.metric("mrpt_login_failures_total").await >= 2.0);
}

#[tokio::test]
async fn an_unknown_user_costs_the_same_hash_as_a_known_one() {
    let server = TestServer::start().await;
    let mut client = server.client();
    client.register("amina").await;
    client.login_with("amina", "not the password").await.expect(401, "invalid_credentials");
    assert_eq!(server.metric("mrpt_decoy_hashes_total").await, 0.0);
    client.login_with("nobody", PASSWORD).await.expect(401, "invalid_credentials");
    assert_eq!(server.metric("mrpt_decoy_hashes_total").await, 1.0, "the unknown user's password was hashed");
}

#[tokio::test]
async fn fifty_parallel_wrong_passwords_get_no_more_than_five_checked() {
    let server = TestServer::start().await;
    let client = server.client();
    client.clone().register("amina").await;
    let guesses = (0..50).map(|i| {
        let mut client = client.clone();
        async move { client.login_with("amina", &format!("guess number {i}")).await }
    });
    let answers = futures::future::join_all(guesses).await;
    // Every 401 is a password really checked; the rest were refused before.
    let checked = answers.iter().filter(|answer| answer.status == 401).count();
    let refused = answers.iter().filter(|answer| answer.error_code() == "too_many_attempts").count();
    assert_eq!((checked, refused), (5, 45));
    client.clone().login_with("amina", PASSWORD).await.expect(429, "too_many_attempts");
}

#[tokio::test]
async fn five_failures_lock_the_username_out() {
    let server = TestServer::start().await;
    let mut client = server.client();
    client.register("amina").await;
    client.register("musa").await;
    for _ in 0..5 {
        client.login_with("amina", "not the password").await.expect(401, "invalid_credentials");
    }
    let locked = client.login_with("amina", PASSWORD).await;
    locked.expect(429, "too_many_attempts");
    let retry_after: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert!(locked.header("set-cookie").is_none());
    // Another username is not affected, and a second server process on the
    // same store sees the same lock-out.
    client.login("musa").await;
    let other_process = TestServer::start_on(&server.data_dir, &[]).await;
    other_process.client().login_with("amina", PASSWORD).await.expect(429, "too_many_attempts");
}

#[tokio::test]
async fn login_and_registration_from_another_site_are_refused() {
    let server = TestServer::start().await;
    let mut client = server.client();
    client.register("amina").await;
    let credentials = json!({"username": "amina", "password": PASSWORD});
    // What a form on another site can send: text/plain, so no preflight.
    let form = client
        .request(Method::POST, "/api/auth/login")
        .header("content-type", "text/plain")
        .header("origin", "https://evil.example")
        .body(credentials.to_string());
    let refused = client.send(form).await;
    assert!(refused.header("set-cookie").is_none());
    assert!([403, 415].contains(&refused.status.as_u16()));
    for (name, value) in [("origin", "https://evil.example"), ("origin", "null"), ("sec-fetch-site", "cross-site"), ("sec-fetch-site", "same-site")] {
        for path in ["/api/auth/login", "/api/auth/register"] {
            let body = json!({"username": "bola", "password": PASSWORD});
            let request = client.request(Method::POST, path).header(name, value).json(&body);
            let answer = client.send(request).await;
            answer.expect(403, "cross_site_refused");
            assert!(answer.header("set-cookie").is_none());
        }
    }
    let own_origin = server.base.clone();
    for (name, value) in [("origin", own_origin.as_str()), ("sec-fetch-site", "same-origin"), ("sec-fetch-site", "none")] {
        let request = client.request(Method::POST, "/api/auth/login").header(name, value).json(&credentials);
        client.send(request).await.expect(200, "");
    }
}

#[tokio::test]
async fn login_never_adopts_a_presented_session() {
    let server = TestServer::start().await;
    let mut victim = TestClient::signed_up(&server, "amina").await;
    let planted = victim.cookie.clone().unwrap();

    // Logging in with a live session's cookie ends that session.
    let mut again = victim.clone();
    again.login("amina").await;
    assert_ne!(again.cookie.as_deref(), Some(planted.as_str()));
    victim.get("/api/session").await.expect(401, "unauthenticated");
    again.get("/api/session").await.expect(200, "");

    // A token the server never issued is not adopted either.
    let mut attacker = server.client();
    let forged = format!("mrpt_session={}", "A".repeat(64));
    attacker.cookie = Some(forged.clone());
    attacker.login("amina").await;
    assert_ne!(attacker.cookie.as_deref(), Some(forged.as_str()));
    let mut replay = server.client();
    replay.cookie = Some(forged);
    replay.get("/api/session").await.expect(401, "unauthenticated");
}

#[tokio::test]
async fn logout_ends_the_session_for_good() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let stolen = client.clone();

    let mut no_csrf = client.clone();
    no_csrf.csrf = None;
    no_csrf.post("/api/auth/logout", json!({})).await.expect(403, "csrf_failed");
    client.get("/api/session").await.expect(200, "");

    let answer = client.send(client.request(Method::POST, "/api/auth/logout")).await;
    answer.expect(204, "");
    assert_eq!(answer.header("clear-site-data").as_deref(), Some("\"cookies\", \"storage\""));
    let cookie = answer.header("set-cookie").unwrap();
    assert!(cookie.starts_with("mrpt_session=;") && cookie.contains("Max-Age=0"), "{cookie}");

    let mut replay = stolen;
    replay.get("/api/session").await.expect(401, "unauthenticated");
    replay.get("/api/datasets").await.expect(401, "unauthenticated");
    // Logging out again, or with no session at all, is still 204.
    replay.send(replay.request(Method::POST, "/api/auth/logout")).await.expect(204, "");
    let anonymous = server.client();
    anonymous.clone().send(anonymous.request(Method::POST, "/api/auth/logout")).await.expect(204, "");
}

#[tokio::test]
async fn session_listing_and_revocation() {
    let server = TestServer::start().await;
    let mut laptop = TestClient::signed_up(&server, "amina").await;
    let mut phone = server.client();
    phone.login("amina").await;
    let mut other_user = TestClient::signed_up(&server, "musa").await;

    let listed = laptop.get("/api/sessions").await;
    listed.expect(200, "");
    let sessions = listed.json()["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    for key in ["id", "created_at", "last_seen_at", "idle_expires_at", "expires_at"] {
        assert!(sessions[0][key].is_string(), "{key}");
    }
    let phone_id = phone.get("/api/session").await.json()["session"]["id"].as_str().unwrap().to_owned();

    // Another user's session, a random id and garbage are all 404.
    let musa_id = other_user.get("/api/session").await.json()["session"]["id"].as_str().unwrap().to_owned();
    laptop.delete(&format!("/api/sessions/{musa_id}")).await.expect(404, "not_found");
    other_user.get("/api/session").await.expect(200, "");
    laptop.delete(&format!("/api/sessions/{}", uuid_like())).await.expect(404, "not_found");
    laptop.delete("/api/sessions/nonsense").await.expect(404, "not_found");

    // Revocation needs the CSRF token.
    let mut forged = laptop.clone();
    forged.csrf = Some("wrong".into());
    forged.delete(&format!("/api/sessions/{phone_id}")).await.expect(403, "csrf_failed");
    phone.get("/api/session").await.expect(200, "");

    laptop.delete(&format!("/api/sessions/{phone_id}")).await.expect(204, "");
    phone.get("/api/session").await.expect(401, "unauthenticated");
    laptop.delete(&format!("/api/sessions/{phone_id}")).await.expect(404, "not_found");
    assert_eq!(laptop.get("/api/sessions").await.json()["sessions"].as_array().unwrap().len(), 1);

    let mut tablet = server.client();
    tablet.login("amina").await;
    let everywhere = laptop.delete("/api/sessions").await;
    everywhere.expect(204, "");
    assert!(everywhere.header("set-cookie").unwrap().contains("Max-Age=0"));
    laptop.get("/api/session").await.expect(401, "unauthenticated");
    tablet.get("/api/session").await.expect(401, "unauthenticated");
    other_user.get("/api/session").await.expect(200, "");
}

fn uuid_like() -> String {
    "5d0e8c52-7f7c-4b7e-9a55-3c2f1e0b9d11".to_owned()
}

#[tokio::test]
async fn password_change_ends_the_other_sessions() {
    let server = TestServer::start().await;
    let mut current = TestClient::signed_up(&server, "amina").await;
    let mut other = server.client();
    other.login("amina").await;

    let wrong = current.post("/api/auth/password", json!({"current_password": "nope nope nope", "new_password": "a new passphrase"})).await;
    wrong.expect(403, "invalid_credentials");
    let short = current.post("/api/auth/password", json!({"current_password": PASSWORD, "new_password": "short"})).await;
    short.expect(400, "invalid_input");
    assert_eq!(short.json()["error"]["field"], "new_password");
    other.get("/api/session").await.expect(200, "");

    current.post("/api/auth/password", json!({"current_password": PASSWORD, "new_password": "a new passphrase"})).await.expect(204, "");
    current.get("/api/session").await.expect(200, "");
    other.get("/api/session").await.expect(401, "unauthenticated");
    server.client().login_with("amina", PASSWORD).await.expect(401, "invalid_credentials");
    server.client().login_with("amina", "a new passphrase").await.expect(200, "");
    server.client().post("/api/auth/password", json!({"current_password": "a", "new_password": "b"})).await.expect(401, "unauthenticated");
}

#[tokio::test]
async fn account_deletion_removes_everything() {
    let server = TestServer::start().await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let mut other_session = server.client();
    other_session.login("amina").await;
    let mut neighbour = TestClient::signed_up(&server, "musa").await;
    client.upload("tiny.csv", common::tiny_csv()).await.expect(201, "");
    neighbour.upload("tiny.csv", common::tiny_csv()).await.expect(201, "");
    // Each upload is its file and its compact form.
    assert_eq!(server.stored_files().len(), 4);

    client.delete_json("/api/account", json!({"password": "wrong password"})).await.expect(403, "invalid_credentials");
    let mut no_csrf = client.clone();
    no_csrf.csrf = None;
    no_csrf.delete_json("/api/account", json!({"password": PASSWORD})).await.expect(403, "csrf_failed");

    let deleted = client.delete_json("/api/account", json!({"password": PASSWORD})).await;
    deleted.expect(204, "");
    assert!(deleted.header("set-cookie").unwrap().contains("Max-Age=0"));
    client.get("/api/session").await.expect(401, "unauthenticated");
    other_session.get("/api/datasets").await.expect(401, "unauthenticated");
    server.client().login_with("amina", PASSWORD).await.expect(401, "invalid_credentials");
    assert_eq!(server.stored_files().len(), 2, "only the neighbour's files are left");
    assert_eq!(neighbour.dataset_ids().await.len(), 1);
    // The name is free again.
    server.client().register("amina").await;
}

#[tokio::test]
async fn idle_sessions_expire_and_stay_expired() {
    let server = TestServer::start_with(&["--session-idle", "2"]).await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    // Use keeps it alive past the idle timeout...
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        client.get("/api/session").await.expect(200, "");
    }
    // ...and idleness ends it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    client.get("/api/session").await.expect(401, "session_expired");
    client.get("/api/datasets").await.expect(401, "session_expired");
    assert!(client.get("/api/sessions").await.header("set-cookie").is_none());
    assert_eq!(server.metric("mrpt_sessions_expired_total").await, 1.0);
    client.login("amina").await;
    assert_eq!(client.get("/api/sessions").await.json()["sessions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn absolute_lifetime_does_not_slide() {
    let server = TestServer::start_with(&["--session-absolute", "3"]).await;
    let mut client = TestClient::signed_up(&server, "amina").await;
    let mut expired = false;
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let answer = client.get("/api/session").await;
        if answer.status == 401 {
            answer.expect(401, "session_expired");
            expired = true;
            break;
        }
    }
    assert!(expired, "the session outlived its absolute lifetime");
}

#[tokio::test]
async fn concurrent_requests_of_one_session_keep_every_write() {
    // Uploads are expensive work: the share lets all 50 be parsed at once.
    let server = TestServer::start_with(&["--session-idle", "1h", "--work-share", "50", "--work-queue", "50"]).await;
    let client = TestClient::signed_up(&server, "amina").await;
    let uploads = (0..50).map(|i| {
        let mut client = client.clone();
        async move { client.upload(&format!("wards-{i}.csv"), common::tiny_csv()).await }
    });
    for answer in futures::future::join_all(uploads).await {
        answer.expect(201, "");
    }
    let mut client = client;
    assert_eq!(client.dataset_ids().await.len(), 50);
    client.get("/api/session").await.expect(200, "");
}

#[tokio::test]
async fn a_login_in_flight_when_the_password_changes_leaves_no_session() {
    let server = TestServer::start().await;
    let mut owner = TestClient::signed_up(&server, "amina").await;
    let mut password = PASSWORD.to_owned();
    for round in 0..6 {
        let new_password = format!("{PASSWORD} round {round}");
        let login = {
            let (mut late, old) = (server.client(), password.clone());
            async move { (late.login_with("amina", &old).await, late) }
        };
        let change =
            owner.post("/api/auth/password", json!({"current_password": password, "new_password": new_password}));
        let ((logged_in, mut late), changed) = tokio::join!(login, change);
        changed.expect(204, "");
        if logged_in.status == 200 {
            // Logged in with the old password: ended by the change, or never created.
            late.get("/api/session").await.expect(401, "unauthenticated");
        }
        password = new_password;
    }
}

#[tokio::test]
async fn logins_and_registrations_are_limited_per_client_address() {
    let server = TestServer::start_with(&[
        "--client-address-header",
        "X-Forwarded-For",
        "--logins-per-address",
        "3",
        "--registrations-per-address",
        "2",
    ])
    .await;
    let mut client = server.client();
    let from = |client: &TestClient, address: &str, path: &str, body: serde_json::Value| {
        client.request(Method::POST, path).header("X-Forwarded-For", format!("203.0.113.9, {address}")).json(&body)
    };
    let account = |name: &str| json!({"username": name, "password": PASSWORD});
    for name in ["amina", "musa"] {
        let request = from(&client, "10.0.0.1", "/api/auth/register", account(name));
        client.send(request).await.expect(201, "");
    }
    let third = client.send(from(&client, "10.0.0.1", "/api/auth/register", account("bala"))).await;
    third.expect(429, "too_many_requests");
    let retry_after: u64 = third.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // The last address of the header is the client's; another one is not limited.
    client.send(from(&client, "10.0.0.2", "/api/auth/register", account("bala"))).await.expect(201, "");

    for _ in 0..3 {
        client.send(from(&client, "10.0.0.1", "/api/auth/login", account("amina"))).await.expect(200, "");
    }
    client.send(from(&client, "10.0.0.1", "/api/auth/login", account("amina"))).await.expect(429, "too_many_requests");
    client.send(from(&client, "10.0.0.2", "/api/auth/login", account("amina"))).await.expect(200, "");
    assert_eq!(server.metric_where("mrpt_address_limited_total", "action=\"login\"").await, 1.0);
}

#[tokio::test]
async fn password_hashing_beyond_its_pool_and_queue_is_busy() {
    let server = TestServer::start_with(&["--hash-threads", "1", "--hash-queue", "0"]).await;
    let client = server.client();
    let registrations = (0..20).map(|i| {
        let mut client = client.clone();
        async move { client.post("/api/auth/register", json!({"username": format!("officer{i}"), "password": PASSWORD})).await }
    });
    let answers = futures::future::join_all(registrations).await;
    let busy: Vec<_> = answers.iter().filter(|answer| answer.status == 503).collect();
    assert!(!busy.is_empty(), "one thread and no queue cannot take 20 hashes at once");
    for answer in &busy {
        answer.expect(503, "busy");
        assert_eq!(answer.header("retry-after").as_deref(), Some("2"));
    }
    assert!(answers.iter().all(|answer| answer.status == 201 || answer.status == 503));
    assert_eq!(server.metric_where("mrpt_work_refused_total", "pool=\"hash\"").await, busy.len() as f64);
    // Nothing is held after the refusals: hashing one at a time goes through.
    client.clone().register("latecomer").await.expect(201, "");
}
