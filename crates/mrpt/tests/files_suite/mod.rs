//! The behaviour every file store must have, written once and run against
//! each implementation by `files_suite!`.
#![allow(dead_code)]

use mrpt::domain::{AnalysisId, DatasetId, PlanId, UserId};
use mrpt::principal::Principal;
use mrpt::store::files::{DatasetFile, FileKey, FilePrefix, SharedFileStore};
use mrpt::store::SessionRecord;
use mrpt::token::SessionToken;
use rand::RngCore;
use std::time::{Duration, Instant};

/// What `files_suite!`'s `$make` gives: the store, and a way to see
/// everything it keeps, unfinished uploads included.
#[async_trait::async_trait]
pub trait Fixture {
    fn store(&self) -> SharedFileStore;
    /// Every object or file the store holds, finished or not, by name.
    async fn everything_stored(&self) -> Vec<String>;
}

fn principal() -> Principal {
    let token = SessionToken::issue(UserId::random());
    let session = SessionRecord::start(&token, Duration::from_secs(60), Duration::from_secs(3600));
    Principal::from_session(&session, "test".into())
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

/// Writes a file in chunks of uneven sizes, as uploads arrive.
async fn write(store: &SharedFileStore, key: &FileKey, bytes: &[u8]) {
    let mut upload = store.begin(key).await.unwrap();
    let mut rest = bytes;
    for size in [1, 1000, 65_536, 3 << 20].into_iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, later) = rest.split_at(size.min(rest.len()));
        upload.write(chunk).await.unwrap();
        rest = later;
    }
    upload.finish().await.unwrap();
}

async fn read(store: &SharedFileStore, key: &FileKey) -> Option<Vec<u8>> {
    store.read(key).await.unwrap().map(|bytes| bytes.to_vec())
}

/// Waits until the store holds exactly `expected` (an abort may run on
/// its own task after the upload was dropped).
pub async fn settles_to(fixture: &impl Fixture, expected: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut stored = fixture.everything_stored().await;
        stored.sort();
        if stored == expected {
            return;
        }
        assert!(Instant::now() < deadline, "the store still holds {stored:?}, expected {expected:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn files_are_written_read_and_deleted(fixture: impl Fixture) {
    let store = fixture.store();
    let owner = principal();
    let key = FileKey::dataset(&owner, DatasetId::random(), DatasetFile::Table);
    assert_eq!(read(&store, &key).await, None);
    assert!(store.open(&key).await.unwrap().is_none());

    write(&store, &key, b"WardName,Population\nA,1\n").await;
    assert_eq!(read(&store, &key).await.unwrap(), b"WardName,Population\nA,1\n");
    assert_eq!(store.open(&key).await.unwrap().unwrap().bytes, 24);

    // Written again, the file is replaced whole.
    write(&store, &key, b"WardName\nB\n").await;
    assert_eq!(read(&store, &key).await.unwrap(), b"WardName\nB\n");

    store.delete(&key).await.unwrap();
    assert_eq!(read(&store, &key).await, None);
    store.delete(&key).await.unwrap();
    settles_to(&fixture, &[]).await;
}

/// The deepest keys (a plan, under its analysis, under its dataset) are
/// stored and read like any other.
pub async fn the_longest_keys_are_stored(fixture: impl Fixture) {
    let store = fixture.store();
    let key = FileKey::plan(&principal(), DatasetId::random(), AnalysisId::random(), PlanId::random());
    write(&store, &key, b"{\"plan\": true}").await;
    assert_eq!(read(&store, &key).await.unwrap(), b"{\"plan\": true}");
    store.delete(&key).await.unwrap();
    settles_to(&fixture, &[]).await;
}

pub async fn an_empty_file_is_a_file(fixture: impl Fixture) {
    let store = fixture.store();
    let key = FileKey::dataset(&principal(), DatasetId::random(), DatasetFile::Boundaries);
    write(&store, &key, b"").await;
    assert_eq!(read(&store, &key).await.unwrap(), b"");
}

pub async fn a_file_is_invisible_until_finished(fixture: impl Fixture) {
    let store = fixture.store();
    let key = FileKey::dataset(&principal(), DatasetId::random(), DatasetFile::Table);
    let mut upload = store.begin(&key).await.unwrap();
    upload.write(b"half of a ").await.unwrap();
    assert_eq!(read(&store, &key).await, None);
    upload.write(b"file").await.unwrap();
    upload.finish().await.unwrap();
    assert_eq!(read(&store, &key).await.unwrap(), b"half of a file");
}

pub async fn dropped_unfinished_uploads_leave_nothing(fixture: impl Fixture) {
    let store = fixture.store();
    let owner = principal();
    for len in [10, 20 << 20] {
        let key = FileKey::dataset(&owner, DatasetId::random(), DatasetFile::Table);
        let mut upload = store.begin(&key).await.unwrap();
        upload.write(&random_bytes(len)).await.unwrap();
        drop(upload);
        assert_eq!(read(&store, &key).await, None);
    }
    settles_to(&fixture, &[]).await;
}

pub async fn large_files_round_trip_byte_exact(fixture: impl Fixture) {
    let store = fixture.store();
    let key = FileKey::dataset(&principal(), DatasetId::random(), DatasetFile::Table);
    // Several parts of a multipart upload, the last one short.
    let bytes = random_bytes((20 << 20) + 12_345);
    write(&store, &key, &bytes).await;
    let streamed = store.open(&key).await.unwrap().unwrap();
    assert_eq!(streamed.bytes, bytes.len() as u64);
    assert!(read(&store, &key).await.unwrap() == bytes, "the bytes read back differ");
}

pub async fn prefixes_delete_only_what_is_under_them(fixture: impl Fixture) {
    let store = fixture.store();
    let owner = principal();
    let (kept, gone) = (DatasetId::random(), DatasetId::random());
    let analysis = AnalysisId::random();
    let kept_key = FileKey::dataset(&owner, kept, DatasetFile::Table);
    let gone_keys = [
        FileKey::dataset(&owner, gone, DatasetFile::Table),
        FileKey::dataset(&owner, gone, DatasetFile::Boundaries),
        FileKey::analysis_result(&owner, gone, analysis),
    ];
    write(&store, &kept_key, b"kept").await;
    for key in &gone_keys {
        write(&store, key, b"gone").await;
    }

    store.delete_prefix(&FilePrefix::dataset(&owner, gone)).await.unwrap();
    for key in &gone_keys {
        assert_eq!(read(&store, key).await, None);
    }
    assert_eq!(read(&store, &kept_key).await.unwrap(), b"kept");
    // A prefix with nothing under it is already deleted.
    store.delete_prefix(&FilePrefix::dataset(&owner, gone)).await.unwrap();

    store.delete_prefix(&FilePrefix::user(owner.user_id())).await.unwrap();
    assert_eq!(read(&store, &kept_key).await, None);
    settles_to(&fixture, &[]).await;
}

pub async fn two_owners_keys_never_collide(fixture: impl Fixture) {
    let store = fixture.store();
    let (amina, musa) = (principal(), principal());
    // Even the same dataset id names two different files for two owners.
    let dataset = DatasetId::random();
    let amina_key = FileKey::dataset(&amina, dataset, DatasetFile::Table);
    let musa_key = FileKey::dataset(&musa, dataset, DatasetFile::Table);
    assert_ne!(amina_key, musa_key);
    assert!(!amina_key.as_str().starts_with(FilePrefix::user(musa.user_id()).as_str()));
    write(&store, &amina_key, b"amina's").await;
    write(&store, &musa_key, b"musa's").await;
    assert_eq!(read(&store, &amina_key).await.unwrap(), b"amina's");
    assert_eq!(read(&store, &musa_key).await.unwrap(), b"musa's");

    store.delete_prefix(&FilePrefix::user(amina.user_id())).await.unwrap();
    assert_eq!(read(&store, &amina_key).await, None);
    assert_eq!(read(&store, &musa_key).await.unwrap(), b"musa's");
}

#[macro_export]
macro_rules! files_suite {
    ($make:expr) => {
        $crate::files_suite!(@tests $make;
            files_are_written_read_and_deleted,
            the_longest_keys_are_stored,
            an_empty_file_is_a_file,
            a_file_is_invisible_until_finished,
            dropped_unfinished_uploads_leave_nothing,
            large_files_round_trip_byte_exact,
            prefixes_delete_only_what_is_under_them,
            two_owners_keys_never_collide);
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                files_suite::$name($make.await).await;
            }
        )*
    };
}
