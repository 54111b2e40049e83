//! `rediss://`: the state store over TLS, with the server's certificate
//! verified against the system's trust store (here `SSL_CERT_FILE` naming a
//! test authority), and refused when it cannot be verified.

mod common;
mod redis_servers;

use common::{tiny_csv, TestClient, TestServer};
use redis_servers::{free_port, RedisServer};
use std::path::Path;
use std::process::Command;

/// A test authority and a server certificate for 127.0.0.1 signed by it,
/// made with the openssl tool: (authority, certificate, key).
fn certificates(dir: &Path) -> [String; 3] {
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let extensions = path("server.ext");
    std::fs::write(&extensions, "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        .unwrap();
    let (authority, authority_key, request) = (path("ca.pem"), path("ca.key"), path("server.csr"));
    let (cert, key) = (path("server.pem"), path("server.key"));
    let steps: [&[&str]; 3] = [
        &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=mrpt test authority",
          "-keyout", &authority_key, "-out", &authority],
        &["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", &key, "-out", &request],
        &["x509", "-req", "-in", &request, "-CA", &authority, "-CAkey", &authority_key, "-CAcreateserial", "-days", "1",
          "-extfile", &extensions, "-out", &cert],
    ];
    for step in steps {
        let made = Command::new("openssl").args(step).output().expect("the openssl tool is installed (scripts/test installs it)");
        assert!(made.status.success(), "openssl {step:?}: {}", String::from_utf8_lossy(&made.stderr));
    }
    [authority, cert, key]
}

/// A Redis answering TLS on its own port (and plain text on another, for the
/// harness's readiness check).
fn tls_redis(dir: &Path) -> (RedisServer, String, u16) {
    let [authority, cert, key] = certificates(dir);
    let tls_port = free_port();
    let tls_port_text = tls_port.to_string();
    let tls = [
        "--tls-port", &tls_port_text, "--tls-cert-file", &cert, "--tls-key-file", &key, "--tls-ca-cert-file", &authority,
        "--tls-auth-clients", "no",
    ];
    (RedisServer::start_on(free_port(), dir, &tls), authority, tls_port)
}

fn admin_users(store: &str, trust: Option<&str>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mrpt"));
    command.args(["admin", "--store", store, "users"]).env("MRPT_LOG", "warn");
    match trust {
        Some(file) => command.env("SSL_CERT_FILE", file),
        None => command.env_remove("SSL_CERT_FILE"),
    };
    command.output().expect("mrpt runs")
}

#[tokio::test]
async fn the_store_speaks_tls_and_verifies_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (_redis, authority, tls_port) = tls_redis(dir.path());
    let url = format!("rediss://127.0.0.1:{tls_port}");

    let untrusted = admin_users(&url, None);
    assert!(!untrusted.status.success(), "a certificate nobody vouches for is refused");
    let message = String::from_utf8_lossy(&untrusted.stderr);
    assert!(message.contains(&format!("cannot reach Redis at {url}")), "{message}");

    let trusted = admin_users(&url, Some(&authority));
    assert!(trusted.status.success(), "{}", String::from_utf8_lossy(&trusted.stderr));

    // The server itself, over TLS: accounts, uploads and reads work.
    std::env::set_var("SSL_CERT_FILE", &authority);
    let server = TestServer::start_with(&["--store", &url]).await;
    let mut amina = TestClient::signed_up(&server, "amina").await;
    let id = amina.upload("wards.csv", tiny_csv()).await.json()["id"].as_str().unwrap().to_owned();
    amina.get(&format!("/api/datasets/{id}")).await.expect(200, "");
    let listed = admin_users(&url, Some(&authority));
    assert!(String::from_utf8_lossy(&listed.stdout).lines().any(|line| line.starts_with("amina")));
}
