//! The file store behaviour suite against an S3-compatible bucket, each
//! test on its own s3s-fs server; plus the checks only a bucket needs: keys
//! sit under the configured prefix, and an outage fails calls quickly.

mod files_suite;
mod s3_server;

use files_suite::Fixture;
use mrpt::domain::{DatasetId, UserId};
use mrpt::principal::Principal;
use mrpt::store::files::s3::{S3FileStore, S3Location};
use mrpt::store::files::{DatasetFile, FileKey, FileStore, SharedFileStore};
use mrpt::store::SessionRecord;
use mrpt::token::SessionToken;
use s3_server::{S3Server, BUCKET};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct InBucket {
    store: SharedFileStore,
    server: S3Server,
}

#[async_trait::async_trait]
impl Fixture for InBucket {
    fn store(&self) -> SharedFileStore {
        self.store.clone()
    }

    async fn everything_stored(&self) -> Vec<String> {
        self.server.everything_stored().await
    }
}

async fn open(server: &S3Server, prefix: &str) -> S3FileStore {
    let location = S3Location::parse(&format!("s3://{BUCKET}/{prefix}")).unwrap();
    S3FileStore::open_with(&location, server.settings()).await.expect("the bucket answers")
}

async fn in_bucket() -> InBucket {
    let server = S3Server::start();
    InBucket { store: Arc::new(open(&server, "").await), server }
}

files_suite!(in_bucket());

fn principal() -> Principal {
    let token = SessionToken::issue(UserId::random());
    Principal::from_session(&SessionRecord::start(&token, Duration::from_secs(60), Duration::from_secs(60)), "test".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_keys_are_the_prefix_then_the_file_key() {
    let server = S3Server::start();
    let store = open(&server, "deployments/blue/").await;
    let key = FileKey::dataset(&principal(), DatasetId::random(), DatasetFile::Table);
    let mut upload = store.begin(&key).await.unwrap();
    upload.write(b"WardName\nA\n").await.unwrap();
    upload.finish().await.unwrap();
    assert_eq!(server.everything_stored().await, vec![format!("deployments/blue/{}", key.as_str())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_bucket_fails_calls_quickly_and_recovers() {
    let mut server = S3Server::start();
    let store = open(&server, "").await;
    let key = FileKey::dataset(&principal(), DatasetId::random(), DatasetFile::Table);
    let mut upload = store.begin(&key).await.unwrap();
    upload.write(b"kept").await.unwrap();
    upload.finish().await.unwrap();

    server.stop();
    let started = Instant::now();
    assert!(store.ping().await.is_err());
    assert!(store.read(&key).await.is_err(), "an outage is an error, never a missing file");
    let mut upload = store.begin(&key).await.unwrap();
    upload.write(b"lost").await.unwrap();
    assert!(upload.finish().await.is_err());
    assert!(started.elapsed() < Duration::from_secs(10), "bounded, took {:?}", started.elapsed());

    server.restart();
    store.ping().await.expect("the store recovers by itself");
    assert_eq!(store.read(&key).await.unwrap().unwrap().as_ref(), b"kept");
}

#[tokio::test]
async fn locations_are_checked() {
    for good in ["s3://bucket", "s3://my.bucket-1/", "s3://bucket/a/b", "s3://bucket/a/b/"] {
        assert!(S3Location::parse(good).is_ok(), "{good}");
    }
    assert_eq!(S3Location::parse("s3://bucket/a/b").unwrap().to_string(), "s3://bucket/a/b/");
    for bad in [
        "bucket",
        "http://bucket",
        "s3://",
        "s3://Bucket",
        "s3://key:secret@bucket",
        "s3://bucket:9000",
        "s3://bucket?x=1",
        "s3://bucket/a//b",
        "s3://bucket/../b",
        "s3://bucket/a b",
    ] {
        assert!(S3Location::parse(bad).is_err(), "{bad}");
    }
}
