//! The store behaviour suite against a three-node Redis Cluster that this
//! test binary starts on free loopback ports and shares across its tests,
//! each test under its own key prefix.

mod redis_servers;
mod store_suite;

use mrpt::store::redis::{RedisStore, RedisTarget};
use mrpt::store::SharedStateStore;
use redis_servers::RedisCluster;
use std::sync::{Arc, OnceLock};

/// Started by the first test that needs it; its servers stop when the test
/// binary exits (see `redis_servers`).
static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();

async fn fresh_store() -> SharedStateStore {
    let cluster = tokio::task::spawn_blocking(|| CLUSTER.get_or_init(RedisCluster::start).url()).await.unwrap();
    let prefix = format!("mrpt-test-{}", uuid::Uuid::new_v4().simple());
    let target = RedisTarget::parse(&cluster).unwrap();
    Arc::new(RedisStore::connect(&target, &prefix).await.expect("the test cluster answers"))
}

store_suite!(fresh_store());
