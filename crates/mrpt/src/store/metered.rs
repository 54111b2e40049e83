//! Latency and failures of every state-store call, by operation, for
//! `/metrics`: a slow or failing store shows up before users complain.

use super::{
    LoginAttempt, NewOwned, OwnedKind, SecurityEvent, SessionKey, SessionRecord, SessionWithOwned, SharedStateStore, StateStore, StoreError,
    StoreResult, UserRecord,
};
use crate::domain::{Millis, SessionId, UserId, Username};
use crate::principal::Principal;
use async_trait::async_trait;
use std::future::Future;
use std::time::Instant;

/// A state store whose every call is timed and whose failures are counted.
pub struct MeteredStateStore {
    inner: SharedStateStore,
    backend: &'static str,
}

impl MeteredStateStore {
    pub fn new(inner: SharedStateStore, backend: &'static str) -> Self {
        Self { inner, backend }
    }

    async fn observe<T>(&self, operation: &'static str, call: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        let started = Instant::now();
        let result = call.await;
        metrics::histogram!("mrpt_store_duration_seconds", "backend" => self.backend, "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        let failure = match &result {
            Err(StoreError::Unavailable(_)) => Some("unavailable"),
            Err(StoreError::Corrupt(_)) => Some("corrupt"),
            _ => None,
        };
        if let Some(failure) = failure {
            metrics::counter!("mrpt_store_errors_total", "store" => "state", "operation" => operation, "error" => failure)
                .increment(1);
        }
        result
    }
}

/// Every method forwards to the inner store under its own name.
macro_rules! metered {
    ($(async fn $name:ident(&self $(, $arg:ident: $type:ty)*) -> $output:ty;)*) => {
        #[async_trait]
        impl StateStore for MeteredStateStore {
            $(async fn $name(&self $(, $arg: $type)*) -> StoreResult<$output> {
                self.observe(stringify!($name), self.inner.$name($($arg),*)).await
            })*
        }
    };
}

metered! {
    async fn ping(&self) -> ();
    async fn create_user(&self, user: &UserRecord) -> ();
    async fn find_user_by_name(&self, username: &Username) -> Option<UserRecord>;
    async fn get_user(&self, id: UserId) -> Option<UserRecord>;
    async fn list_users(&self) -> Vec<UserRecord>;
    async fn change_password(&self, user: UserId, new_hash: &str, keep: SessionId) -> u64;
    async fn delete_user(&self, user: UserId) -> ();
    async fn count_login_attempt(&self, username: &Username, at: Millis, since: Millis, limit: u32) -> LoginAttempt;
    async fn clear_login_failures(&self, username: &Username) -> ();
    async fn increment_counter(&self, name: &str, now: Millis, until: Millis) -> u64;
    async fn create_session(&self, session: &SessionRecord, credential: &str) -> ();
    async fn session_by_token(&self, key: SessionKey) -> Option<SessionRecord>;
    async fn session_with_owned(&self, key: SessionKey, kind: OwnedKind, id: &str) -> Option<SessionWithOwned>;
    async fn touch_session(&self, key: SessionKey, now: Millis, idle_expires_at: Millis) -> bool;
    async fn note_session_expired(&self, key: SessionKey) -> bool;
    async fn end_session_by_token(&self, key: SessionKey) -> Option<SessionRecord>;
    async fn end_session_by_id(&self, user: UserId, id: SessionId) -> bool;
    async fn end_user_sessions(&self, user: UserId, except: Option<SessionId>) -> u64;
    async fn live_sessions(&self, user: UserId, now: Millis) -> Vec<SessionRecord>;
    async fn insert_owned(&self, principal: &Principal, record: NewOwned<'_>) -> ();
    async fn get_owned(&self, principal: &Principal, kind: OwnedKind, id: &str) -> Option<Vec<u8>>;
    async fn list_owned(&self, principal: &Principal, kind: OwnedKind) -> Vec<Vec<u8>>;
    async fn replace_owned(&self, principal: &Principal, kind: OwnedKind, id: &str, expected: &[u8], body: &[u8]) -> bool;
    async fn delete_owned(&self, principal: &Principal, kind: OwnedKind, id: &str) -> bool;
    async fn record_event(&self, event: &SecurityEvent) -> ();
    async fn purge_ended_sessions(&self, now: Millis) -> u64;
    async fn try_lease(&self, name: &str, holder: &str, now: Millis, until: Millis) -> bool;
    async fn events_since(&self, since: Millis) -> Vec<SecurityEvent>;
}
