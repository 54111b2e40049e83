//! The store behaviour suite against the embedded SQLite store.

mod store_suite;

use mrpt::store::sqlite::SqliteStore;
use mrpt::store::SharedStateStore;
use std::sync::Arc;

async fn fresh_store() -> SharedStateStore {
    // The directory is leaked on purpose: it must outlive the store.
    let dir = tempfile::tempdir().unwrap().keep();
    Arc::new(SqliteStore::open(&dir.join("state.sqlite3")).unwrap())
}

store_suite!(fresh_store());
