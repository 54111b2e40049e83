//! The state store: every fact about users, sessions and their data lives
//! behind [`StateStore`], never in a worker. Methods that touch user data
//! take the [`Principal`] and derive every key from it (DESIGN.md rule 3).

pub mod files;
pub mod metered;
pub mod owned;
pub mod redis;
pub mod sqlite;

use crate::domain::{Millis, SessionId, UserId, Username};
use crate::principal::Principal;
use crate::token::TokenHash;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use crate::config::StoreConfig;
use anyhow::Context;
use files::SharedFileStore;
use std::sync::Arc;

pub type SharedStateStore = Arc<dyn StateStore>;

/// Which state store `mrpt serve` uses, as given to `--store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// The embedded SQLite file under the data directory.
    Sqlite,
    Redis(redis::RedisTarget),
}

impl std::str::FromStr for StoreChoice {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "sqlite" => Ok(Self::Sqlite),
            _ => redis::RedisTarget::parse(raw).map(Self::Redis),
        }
    }
}

impl std::fmt::Display for StoreChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite => f.write_str("sqlite"),
            Self::Redis(target) => f.write_str(&target.redacted()),
        }
    }
}

/// Printed in the start-up configuration, so never with a password.
impl Serialize for StoreChoice {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The state store and the file store, as configured.
#[derive(Clone)]
pub struct Stores {
    pub state: SharedStateStore,
    pub files: SharedFileStore,
}

impl Stores {
    /// Opens both stores and checks that they answer: a server or an admin
    /// command never starts on a store it cannot reach.
    pub async fn open(config: &StoreConfig) -> anyhow::Result<Self> {
        crate::private_fs::create_dir(&config.data_dir)
            .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
        let (state, backend): (SharedStateStore, _) = match &config.store {
            StoreChoice::Sqlite => {
                let path = config.data_dir.join("state.sqlite3");
                let store =
                    sqlite::SqliteStore::open(&path).with_context(|| format!("cannot open the state store {}", path.display()))?;
                (Arc::new(store), "sqlite")
            }
            StoreChoice::Redis(target) => (Arc::new(redis::RedisStore::connect(target, &config.store_prefix).await?), "redis"),
        };
        let state = Arc::new(metered::MeteredStateStore::new(state, backend));
        let files = config.files.open(&config.data_dir).await.with_context(|| format!("cannot open the file store {}", config.files))?;
        Ok(Self { state, files })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store did not answer or failed; the request must fail closed.
    #[error("the state store is unavailable: {0}")]
    Unavailable(String),
    #[error("the username is taken")]
    UsernameTaken,
    /// The session that asked ended before its write could land.
    #[error("the session has ended")]
    SessionEnded,
    /// The record is larger than any record may be.
    #[error("the record is larger than {max} bytes")]
    RecordTooLarge { max: u64 },
    /// The record a new record belongs to was deleted before the insert.
    #[error("the record this one belongs to is gone")]
    ParentGone,
    /// The password a login verified was changed before its session was
    /// created.
    #[error("the password changed while the login was checked")]
    CredentialChanged,
    /// A stored record could not be read back: a bug or tampering.
    #[error("a stored record is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: UserId,
    pub username: Username,
    pub password_hash: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user_id: UserId,
    pub token_hash: TokenHash,
    pub created_at: Millis,
    pub last_seen_at: Millis,
    pub idle_expires_at: Millis,
    pub expires_at: Millis,
}

/// How a store finds a session: the hash of its token, with the user id the
/// token carries so that a store can keep sessions beside their user's
/// records (one Redis Cluster slot per user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionKey {
    pub user_id: UserId,
    pub token_hash: TokenHash,
}

impl SessionRecord {
    /// A new session for the token's user, starting now.
    pub fn start(token: &crate::token::SessionToken, idle: std::time::Duration, absolute: std::time::Duration) -> Self {
        let now = Millis::now();
        Self {
            id: SessionId::random(),
            user_id: token.claimed_user(),
            token_hash: token.hash(),
            created_at: now,
            last_seen_at: now,
            idle_expires_at: now.plus(idle),
            expires_at: now.plus(absolute),
        }
    }

    pub fn key(&self) -> SessionKey {
        SessionKey { user_id: self.user_id, token_hash: self.token_hash }
    }

    pub fn is_expired_at(&self, now: Millis) -> bool {
        now >= self.idle_expires_at || now >= self.expires_at
    }
}

/// A session found by its key, with the record fetched beside it.
#[derive(Debug)]
pub struct SessionWithOwned {
    pub session: SessionRecord,
    pub body: Option<Vec<u8>>,
}

/// The kinds of records a user owns. Deleting a record deletes the records
/// whose parent it is (a dataset's analyses, an analysis's plans).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnedKind {
    Dataset,
    Analysis,
    ItnPlan,
    /// A resumable upload that is not yet a dataset.
    Upload,
}

impl OwnedKind {
    pub const ALL: [OwnedKind; 4] = [OwnedKind::Dataset, OwnedKind::Analysis, OwnedKind::ItnPlan, OwnedKind::Upload];

    pub fn as_str(self) -> &'static str {
        match self {
            OwnedKind::Dataset => "dataset",
            OwnedKind::Analysis => "analysis",
            OwnedKind::ItnPlan => "itn_plan",
            OwnedKind::Upload => "upload",
        }
    }

    /// The kind of record a record of this kind belongs to, if any.
    pub fn parent_kind(self) -> Option<OwnedKind> {
        match self {
            OwnedKind::Analysis => Some(OwnedKind::Dataset),
            OwnedKind::ItnPlan => Some(OwnedKind::Analysis),
            OwnedKind::Dataset | OwnedKind::Upload => None,
        }
    }
}

/// A record to insert for the principal: its body is the serialised record,
/// which itself names its owner so that reads can check it again.
pub struct NewOwned<'a> {
    pub kind: OwnedKind,
    pub id: String,
    pub parent: Option<String>,
    pub created_at: Millis,
    pub body: &'a [u8],
}

/// The answer to counting a login attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginAttempt {
    /// Recorded: the password may be checked.
    Counted,
    /// Not recorded: the limit is reached. Logins reopen when the attempt
    /// `oldest` (the first of the last `limit`) leaves the window.
    Refused { oldest: Millis },
}

/// A security-relevant event, kept in the store for `mrpt admin events`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecurityEvent {
    pub at: Millis,
    pub kind: String,
    pub user_id: Option<UserId>,
    pub session_id: Option<SessionId>,
    pub request_id: Option<String>,
    pub detail: String,
}

#[async_trait]
pub trait StateStore: Send + Sync {
    /// Answers when the store is reachable; used by `/readyz`.
    async fn ping(&self) -> StoreResult<()>;

    async fn create_user(&self, user: &UserRecord) -> StoreResult<()>;
    async fn find_user_by_name(&self, username: &Username) -> StoreResult<Option<UserRecord>>;
    async fn get_user(&self, id: UserId) -> StoreResult<Option<UserRecord>>;
    /// Every user, by username; for operators (`mrpt admin`).
    async fn list_users(&self) -> StoreResult<Vec<UserRecord>>;
    /// Sets a new password hash and ends every session of the user but `keep`,
    /// in one atomic step. Returns how many sessions ended.
    async fn change_password(&self, user: UserId, new_hash: &str, keep: SessionId) -> StoreResult<u64>;
    /// Deletes the user, their sessions and every record they own, atomically.
    async fn delete_user(&self, user: UserId) -> StoreResult<()>;

    /// Counts a login attempt for `username` at `at`, before its password is
    /// checked, in one atomic step: it is recorded only while fewer than
    /// `limit` attempts are recorded since `since`, so parallel attempts can
    /// never pass the limit. A successful login clears them.
    async fn count_login_attempt(&self, username: &Username, at: Millis, since: Millis, limit: u32)
        -> StoreResult<LoginAttempt>;
    async fn clear_login_failures(&self, username: &Username) -> StoreResult<()>;
    /// Adds one to the counter `name` that lasts until `until` and returns
    /// its count, in one atomic step; at `until` the counter is forgotten.
    async fn increment_counter(&self, name: &str, now: Millis, until: Millis) -> StoreResult<u64>;

    /// Creates a session only while the user's password hash is still
    /// `credential`, the one the login verified, checked in the same atomic
    /// step as the insert: a login still in flight when the password changed
    /// leaves no session ([`StoreError::CredentialChanged`]).
    async fn create_session(&self, session: &SessionRecord, credential: &str) -> StoreResult<()>;
    /// The session with this key, live or timed out; ended sessions
    /// are gone.
    async fn session_by_token(&self, key: SessionKey) -> StoreResult<Option<SessionRecord>>;
    /// The session with this key and, in the same round trip, the body of
    /// the key's user's record `kind`/`id`: an authenticated read costs one
    /// store call. The body comes back only beside a session of that user,
    /// and the caller must validate the session before using it.
    async fn session_with_owned(&self, key: SessionKey, kind: OwnedKind, id: &str)
        -> StoreResult<Option<SessionWithOwned>>;
    /// Slides the idle expiry of a session that is still live; never revives
    /// an ended or timed-out one. Returns whether it was live.
    async fn touch_session(&self, key: SessionKey, now: Millis, idle_expires_at: Millis) -> StoreResult<bool>;
    /// Notes that a timed-out session was refused; true only the first time,
    /// so that expiries are counted once.
    async fn note_session_expired(&self, key: SessionKey) -> StoreResult<bool>;
    /// Ends the session with this key; returns it if it existed.
    async fn end_session_by_token(&self, key: SessionKey) -> StoreResult<Option<SessionRecord>>;
    /// Ends one session of the user by public id; false when it is not theirs.
    async fn end_session_by_id(&self, user: UserId, id: SessionId) -> StoreResult<bool>;
    /// Ends every session of the user, or every one but `except`.
    async fn end_user_sessions(&self, user: UserId, except: Option<SessionId>) -> StoreResult<u64>;
    /// The user's live sessions at `now`, newest first.
    async fn live_sessions(&self, user: UserId, now: Millis) -> StoreResult<Vec<SessionRecord>>;

    /// Inserts a record owned by the principal, only while the principal's
    /// session is still live ([`StoreError::SessionEnded`] otherwise) and
    /// its parent record still exists ([`StoreError::ParentGone`]
    /// otherwise), checked in the same atomic step as the insert.
    async fn insert_owned(&self, principal: &Principal, record: NewOwned<'_>) -> StoreResult<()>;
    /// The body of one of the principal's records, looked up in their
    /// namespace only.
    async fn get_owned(&self, principal: &Principal, kind: OwnedKind, id: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Bodies of the principal's records of one kind, newest first.
    async fn list_owned(&self, principal: &Principal, kind: OwnedKind) -> StoreResult<Vec<Vec<u8>>>;
    /// Replaces the body of one of the principal's records only while it is
    /// still exactly `expected`: of writers racing from the same body,
    /// exactly one wins. Returns whether it replaced.
    async fn replace_owned(&self, principal: &Principal, kind: OwnedKind, id: &str, expected: &[u8], body: &[u8])
        -> StoreResult<bool>;
    /// Deletes one of the principal's records and its descendants.
    async fn delete_owned(&self, principal: &Principal, kind: OwnedKind, id: &str) -> StoreResult<bool>;

    async fn record_event(&self, event: &SecurityEvent) -> StoreResult<()>;

    /// Removes the sessions of every user that ended long enough before
    /// `now` that their cookies need no `session_expired` answer any more
    /// (the sweeper's work; a store whose sessions expire by themselves
    /// removes none).
    async fn purge_ended_sessions(&self, now: Millis) -> StoreResult<u64>;
    /// Takes the lease `name` for `holder` until `until` when nobody holds it
    /// at `now`; false when another holder's lease is still running. Keeps
    /// periodic work such as the sweep to one process at a time.
    async fn try_lease(&self, name: &str, holder: &str, now: Millis, until: Millis) -> StoreResult<bool>;
    async fn events_since(&self, since: Millis) -> StoreResult<Vec<SecurityEvent>>;
}
