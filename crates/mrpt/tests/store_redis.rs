//! The store behaviour suite against a standalone Redis (the one listening
//! on 127.0.0.1:6379), each test under its own key prefix; plus the checks
//! only Redis needs: records under the wrong key are refused, session keys
//! expire by themselves, and a paused Redis answers "unavailable" quickly.

mod redis_servers;
mod store_suite;

use mrpt::domain::{Millis, UserId};
use mrpt::principal::Principal;
use mrpt::store::redis::{RedisStore, RedisTarget, COMMAND_TIMEOUT};
use mrpt::store::{NewOwned, OwnedKind, SharedStateStore, StoreError};
use mrpt::token::SessionToken;
use redis_servers::{RedisServer, SHARED_REDIS};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store_suite::Fixture;

/// A store under a fresh prefix whose keys are removed when the test ends,
/// passed or failed.
struct Scoped {
    store: SharedStateStore,
    prefix: String,
}

impl Fixture for Scoped {
    fn store(&self) -> SharedStateStore {
        self.store.clone()
    }
}

impl Drop for Scoped {
    fn drop(&mut self) {
        let Ok(mut conn) = redis::Client::open(SHARED_REDIS).and_then(|client| client.get_connection()) else { return };
        // KEYS is fine on a test Redis; the prefix is this test's alone.
        let keys: Vec<String> =
            redis::cmd("KEYS").arg(format!("{}:*", self.prefix)).query(&mut conn).unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

async fn scoped() -> Scoped {
    let prefix = format!("mrpt-test-{}", uuid::Uuid::new_v4().simple());
    let target = RedisTarget::parse(SHARED_REDIS).unwrap();
    let store = RedisStore::connect(&target, &prefix).await.expect("Redis listens on 127.0.0.1:6379");
    Scoped { store: Arc::new(store), prefix }
}

store_suite!(scoped());

fn raw() -> redis::Connection {
    redis::Client::open(SHARED_REDIS).unwrap().get_connection().unwrap()
}

#[tokio::test]
async fn records_under_another_users_key_are_refused() {
    let fixture = scoped().await;
    let store = fixture.store();
    let amina = store_suite::user(&store, "amina").await;
    let musa = store_suite::user(&store, "musa").await;
    let (musa_session, musa_token) = store_suite::session(&store, &musa, Duration::from_secs(60)).await;
    let (amina_session, _) = store_suite::session(&store, &amina, Duration::from_secs(60)).await;
    let musa_p = Principal::from_session(&musa_session, "test".into());
    let body =
        NewOwned { kind: OwnedKind::Dataset, id: "d1".into(), parent: None, created_at: Millis(1), body: b"musa's" };
    store.insert_owned(&musa_p, body).await.unwrap();

    // Copy Musa's session and dataset under keys of Amina, as a bug or an
    // attacker with write access might.
    let mut conn = raw();
    let prefix = &fixture.prefix;
    let forged = SessionToken::issue(amina.id);
    let musa_session_key = format!("{prefix}:{{u:{}}}:session:{}", musa.id, musa_token.hash().to_hex());
    let amina_session_key = format!("{prefix}:{{u:{}}}:session:{}", amina.id, forged.hash().to_hex());
    let musa_dataset = format!("{prefix}:{{u:{}}}:owned:dataset:d1", musa.id);
    let amina_dataset = format!("{prefix}:{{u:{}}}:owned:dataset:d1", amina.id);
    for (from, to) in [(&musa_session_key, &amina_session_key), (&musa_dataset, &amina_dataset)] {
        let fields: Vec<(String, Vec<u8>)> = redis::cmd("HGETALL").arg(from).query(&mut conn).unwrap();
        assert!(!fields.is_empty(), "{from} exists");
        let _: () = redis::cmd("HSET").arg(to).arg(fields).query(&mut conn).unwrap();
    }
    let _: () = redis::cmd("SADD")
        .arg(format!("{prefix}:{{u:{}}}:index:dataset", amina.id))
        .arg("d1")
        .query(&mut conn)
        .unwrap();

    assert!(matches!(store.session_by_token(forged.key()).await, Err(StoreError::Corrupt(_))));
    let amina_p = Principal::from_session(&amina_session, "test".into());
    assert!(matches!(store.get_owned(&amina_p, OwnedKind::Dataset, "d1").await, Err(StoreError::Corrupt(_))));
    assert!(matches!(store.list_owned(&amina_p, OwnedKind::Dataset).await, Err(StoreError::Corrupt(_))));
    // Musa's own records are untouched.
    assert_eq!(store.get_owned(&musa_p, OwnedKind::Dataset, "d1").await.unwrap().unwrap(), b"musa's");
}

#[tokio::test]
async fn session_keys_expire_a_day_after_the_session_times_out() {
    let fixture = scoped().await;
    let store = fixture.store();
    let amina = store_suite::user(&store, "amina").await;
    let (record, token) = store_suite::session(&store, &amina, Duration::from_secs(60)).await;
    let key = format!("{}:{{u:{}}}:session:{}", fixture.prefix, amina.id, token.hash().to_hex());
    let day = 24 * 3600 * 1000;
    let pttl = |conn: &mut redis::Connection| -> i64 { redis::cmd("PTTL").arg(&key).query(conn).unwrap() };
    let mut conn = raw();
    let expected = record.idle_expires_at.0 + day - Millis::now().0;
    assert!((pttl(&mut conn) - expected).abs() < 10_000, "expires a day after the idle timeout");

    let later = Millis(record.created_at.0 + 30_000);
    assert!(store.touch_session(token.key(), later, later.plus(Duration::from_secs(60))).await.unwrap());
    let expected = later.0 + 60_000 + day - Millis::now().0;
    assert!((pttl(&mut conn) - expected).abs() < 10_000, "a touch moves the expiry with the idle timeout");
}

#[tokio::test]
async fn a_paused_redis_is_unavailable_quickly_and_recovers_with_the_right_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = RedisServer::start(dir.path());
    let target = RedisTarget::parse(&server.url()).unwrap();
    let store: SharedStateStore = Arc::new(RedisStore::connect(&target, "mrpt").await.unwrap());
    let amina = store_suite::user(&store, "amina").await;
    let (_, token) = store_suite::session(&store, &amina, Duration::from_secs(600)).await;

    server.pause(Duration::from_secs(6));
    let started = Instant::now();
    let (ping, read) = tokio::join!(store.ping(), store.session_by_token(token.key()));
    assert!(matches!(ping, Err(StoreError::Unavailable(_))));
    assert!(matches!(read, Err(StoreError::Unavailable(_))));
    assert!(started.elapsed() < COMMAND_TIMEOUT + Duration::from_secs(2), "bounded by the command timeout");

    // Once Redis answers again, the late replies to the abandoned calls are
    // not handed to the calls that follow.
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.ping().await.is_err() {
        assert!(Instant::now() < deadline, "the store recovers by itself");
    }
    for _ in 0..20 {
        assert_eq!(store.session_by_token(token.key()).await.unwrap().unwrap().user_id, amina.id);
        assert_eq!(store.get_user(amina.id).await.unwrap().unwrap().id, amina.id);
        assert!(store.get_user(UserId::random()).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn an_unreachable_redis_fails_to_connect_with_its_address() {
    let port = redis_servers::free_port();
    let target = RedisTarget::parse(&format!("redis://:hunter2@127.0.0.1:{port}")).unwrap();
    let started = Instant::now();
    let Err(StoreError::Unavailable(message)) = RedisStore::connect(&target, "mrpt").await else {
        panic!("connecting to a closed port must fail");
    };
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(!message.contains("hunter2"), "no password in {message}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
