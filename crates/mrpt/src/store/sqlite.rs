//! The embedded default state store: one SQLite file in WAL mode, safe for
//! several server processes on the same data directory at once.

use super::{
    LoginAttempt, NewOwned, OwnedKind, SecurityEvent, SessionKey, SessionRecord, SessionWithOwned, StateStore, StoreError, StoreResult,
    UserRecord,
};
use crate::domain::{Millis, SessionId, UserId, Username};
use crate::principal::Principal;
use crate::token::TokenHash;
use async_trait::async_trait;
use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash BLOB PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    idle_expires_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    expiry_noted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user_id);
CREATE TABLE IF NOT EXISTS login_failures (
    username TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_by_name ON login_failures(username, at);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT NOT NULL,
    until INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (name, until)
);
CREATE INDEX IF NOT EXISTS counters_by_end ON counters(until);
CREATE TABLE IF NOT EXISTS owned (
    owner_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    parent_id TEXT,
    session_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (owner_id, kind, id)
);
CREATE INDEX IF NOT EXISTS owned_by_parent ON owned(owner_id, parent_id);
CREATE INDEX IF NOT EXISTS owned_by_time ON owned(owner_id, kind, created_at);
CREATE TABLE IF NOT EXISTS security_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT,
    session_id TEXT,
    request_id TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS security_events_by_time ON security_events(at);
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until INTEGER NOT NULL
);
";

/// How long a timed-out session is kept so that its cookie keeps getting
/// `session_expired` rather than `unauthenticated`.
const EXPIRED_SESSION_RETENTION_MS: i64 = 24 * 3600 * 1000;

pub struct SqliteStore {
    pool: Pool<SqliteConnectionManager>,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        crate::private_fs::ensure_file(path).map_err(unavailable)?;
        // The journal mode and the schema are set up on one connection before
        // the pool opens its own: switching a new file to WAL takes the write
        // lock, and the pool's connections opening at once would contend for
        // it and log "database is locked" on a normal first start.
        let setup = Connection::open(path).map_err(unavailable)?;
        setup.busy_timeout(Duration::from_secs(10)).map_err(unavailable)?;
        setup.execute_batch("PRAGMA journal_mode = WAL;").map_err(unavailable)?;
        setup.execute_batch(SCHEMA).map_err(unavailable)?;
        drop(setup);
        let manager = SqliteConnectionManager::file(path).with_init(|conn| {
            // Several processes share the file: WAL (a property of the file,
            // set above) lets readers run beside a writer, and the busy
            // timeout makes writers queue, not fail.
            conn.busy_timeout(Duration::from_secs(10))?;
            conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
        });
        let pool = Pool::builder()
            .max_size(8)
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(unavailable)?;
        Ok(Self { pool })
    }

    /// Runs `work` on a pooled connection on the blocking thread pool.
    async fn with_conn<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(unavailable)?;
            work(&mut conn)
        })
        .await
        .map_err(unavailable)?
    }
}

fn unavailable(err: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        unavailable(err)
    }
}

fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<UserRecord> {
    let id: String = row.get(0)?;
    let username: String = row.get(1)?;
    Ok(UserRecord {
        id: parse_id(&id, UserId::parse)?,
        username: Username::parse(&username).map_err(|e| conversion_error(e.to_string()))?,
        password_hash: row.get(2)?,
        created_at: Millis(row.get(3)?),
    })
}

const SESSION_COLUMNS: &str = "token_hash, id, user_id, created_at, last_seen_at, idle_expires_at, expires_at";

fn select_session(conn: &rusqlite::Connection, key: SessionKey) -> StoreResult<Option<SessionRecord>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = ?1 AND user_id = ?2"))?
        .query_row(params![key.token_hash.0.as_slice(), key.user_id.to_string()], session_from_row)
        .optional()?)
}

fn select_owned(conn: &rusqlite::Connection, owner: UserId, kind: OwnedKind, id: &str) -> StoreResult<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT body FROM owned WHERE owner_id = ?1 AND kind = ?2 AND id = ?3")?
        .query_row(params![owner.to_string(), kind.as_str(), id], |row| row.get(0))
        .optional()?)
}

fn session_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRecord> {
    let hash: Vec<u8> = row.get(0)?;
    let id: String = row.get(1)?;
    let user_id: String = row.get(2)?;
    Ok(SessionRecord {
        token_hash: TokenHash(hash.try_into().map_err(|_| conversion_error("token hash length".into()))?),
        id: parse_id(&id, SessionId::parse)?,
        user_id: parse_id(&user_id, UserId::parse)?,
        created_at: Millis(row.get(3)?),
        last_seen_at: Millis(row.get(4)?),
        idle_expires_at: Millis(row.get(5)?),
        expires_at: Millis(row.get(6)?),
    })
}

fn parse_id<T>(raw: &str, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    parse(raw).ok_or_else(|| conversion_error(format!("malformed id {raw:?}")))
}

fn conversion_error(message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, message.into())
}

#[async_trait]
impl StateStore for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.with_conn(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?)).await
    }

    async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
        let user = user.clone();
        self.with_conn(move |conn| {
            let inserted = conn.execute(
                "INSERT INTO users (id, username, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (username) DO NOTHING",
                params![user.id.to_string(), user.username.as_str(), user.password_hash, user.created_at.0],
            )?;
            if inserted == 0 {
                return Err(StoreError::UsernameTaken);
            }
            Ok(())
        })
        .await
    }

    async fn find_user_by_name(&self, username: &Username) -> StoreResult<Option<UserRecord>> {
        let username = username.clone();
        self.with_conn(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT id, username, password_hash, created_at FROM users WHERE username = ?1",
                    [username.as_str()],
                    user_from_row,
                )
                .optional()?)
        })
        .await
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        self.with_conn(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT id, username, password_hash, created_at FROM users WHERE id = ?1",
                    [id.to_string()],
                    user_from_row,
                )
                .optional()?)
        })
        .await
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        self.with_conn(|conn| {
            let mut statement =
                conn.prepare("SELECT id, username, password_hash, created_at FROM users ORDER BY username")?;
            let users = statement.query_map([], user_from_row)?.collect::<rusqlite::Result<_>>()?;
            Ok(users)
        })
        .await
    }

    async fn change_password(&self, user: UserId, new_hash: &str, keep: SessionId) -> StoreResult<u64> {
        let new_hash = new_hash.to_owned();
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("UPDATE users SET password_hash = ?1 WHERE id = ?2", params![new_hash, user.to_string()])?;
            let ended = tx.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND id <> ?2",
                params![user.to_string(), keep.to_string()],
            )?;
            tx.commit()?;
            Ok(ended as u64)
        })
        .await
    }

    async fn delete_user(&self, user: UserId) -> StoreResult<()> {
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let id = user.to_string();
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", [&id])?;
            tx.execute("DELETE FROM owned WHERE owner_id = ?1", [&id])?;
            let username: Option<String> =
                tx.query_row("SELECT username FROM users WHERE id = ?1", [&id], |row| row.get(0)).optional()?;
            if let Some(username) = username {
                tx.execute("DELETE FROM login_failures WHERE username = ?1", [username])?;
            }
            tx.execute("DELETE FROM users WHERE id = ?1", [&id])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn count_login_attempt(&self, username: &Username, at: Millis, since: Millis, limit: u32) -> StoreResult<LoginAttempt> {
        let username = username.clone();
        self.with_conn(move |conn| {
            // Attempts older than a day never matter again; drop them as we go.
            conn.execute(
                "DELETE FROM login_failures WHERE username = ?1 AND at < ?2",
                params![username.as_str(), at.0 - 24 * 3600 * 1000],
            )?;
            // One statement counts and inserts, so no other attempt can come between.
            let counted = conn.execute(
                "INSERT INTO login_failures (username, at) SELECT ?1, ?2 \
                 WHERE (SELECT COUNT(*) FROM login_failures WHERE username = ?1 AND at >= ?3) < ?4",
                params![username.as_str(), at.0, since.0, limit],
            )?;
            if counted == 1 {
                return Ok(LoginAttempt::Counted);
            }
            let oldest = conn.query_row(
                "SELECT at FROM login_failures WHERE username = ?1 AND at >= ?2 ORDER BY at DESC LIMIT 1 OFFSET ?3",
                params![username.as_str(), since.0, limit.saturating_sub(1)],
                |row| Ok(Millis(row.get(0)?)),
            )?;
            Ok(LoginAttempt::Refused { oldest })
        })
        .await
    }

    async fn clear_login_failures(&self, username: &Username) -> StoreResult<()> {
        let username = username.clone();
        self.with_conn(move |conn| {
            conn.execute("DELETE FROM login_failures WHERE username = ?1", [username.as_str()])?;
            Ok(())
        })
        .await
    }

    async fn increment_counter(&self, name: &str, now: Millis, until: Millis) -> StoreResult<u64> {
        let name = name.to_owned();
        self.with_conn(move |conn| {
            conn.execute("DELETE FROM counters WHERE until <= ?1", [now.0])?;
            let count: i64 = conn.query_row(
                "INSERT INTO counters (name, until, count) VALUES (?1, ?2, 1) \
                 ON CONFLICT (name, until) DO UPDATE SET count = count + 1 RETURNING count",
                params![name, until.0],
                |row| row.get(0),
            )?;
            Ok(count.unsigned_abs())
        })
        .await
    }

    async fn create_session(&self, session: &SessionRecord, credential: &str) -> StoreResult<()> {
        let s = session.clone();
        let credential = credential.to_owned();
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: Option<String> = tx
                .query_row("SELECT password_hash FROM users WHERE id = ?1", [s.user_id.to_string()], |row| row.get(0))
                .optional()?;
            if current.as_deref() != Some(credential.as_str()) {
                return Err(StoreError::CredentialChanged);
            }
            let stale_before = s.created_at.0 - EXPIRED_SESSION_RETENTION_MS;
            tx.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND (idle_expires_at < ?2 OR expires_at < ?2)",
                params![s.user_id.to_string(), stale_before],
            )?;
            tx.execute(
                &format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                params![
                    s.token_hash.0.as_slice(),
                    s.id.to_string(),
                    s.user_id.to_string(),
                    s.created_at.0,
                    s.last_seen_at.0,
                    s.idle_expires_at.0,
                    s.expires_at.0
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn session_by_token(&self, key: SessionKey) -> StoreResult<Option<SessionRecord>> {
        self.with_conn(move |conn| select_session(conn, key)).await
    }

    async fn session_with_owned(
        &self,
        key: SessionKey,
        kind: OwnedKind,
        id: &str,
    ) -> StoreResult<Option<SessionWithOwned>> {
        let id = id.to_owned();
        self.with_conn(move |conn| {
            // One snapshot: the record is read as of the session's check.
            let tx = conn.transaction()?;
            let Some(session) = select_session(&tx, key)? else { return Ok(None) };
            let body = select_owned(&tx, key.user_id, kind, &id)?;
            Ok(Some(SessionWithOwned { session, body }))
        })
        .await
    }

    async fn touch_session(&self, key: SessionKey, now: Millis, idle_expires_at: Millis) -> StoreResult<bool> {
        self.with_conn(move |conn| {
            let updated = conn.prepare_cached(
                "UPDATE sessions SET last_seen_at = ?2, idle_expires_at = MAX(idle_expires_at, ?3)
                 WHERE token_hash = ?1 AND user_id = ?4 AND idle_expires_at > ?2 AND expires_at > ?2",
            )?
            .execute(params![key.token_hash.0.as_slice(), now.0, idle_expires_at.0, key.user_id.to_string()])?;
            Ok(updated == 1)
        })
        .await
    }

    async fn note_session_expired(&self, key: SessionKey) -> StoreResult<bool> {
        self.with_conn(move |conn| {
            let noted = conn.execute(
                "UPDATE sessions SET expiry_noted = 1 WHERE token_hash = ?1 AND user_id = ?2 AND expiry_noted = 0",
                params![key.token_hash.0.as_slice(), key.user_id.to_string()],
            )?;
            Ok(noted == 1)
        })
        .await
    }

    async fn end_session_by_token(&self, key: SessionKey) -> StoreResult<Option<SessionRecord>> {
        self.with_conn(move |conn| {
            Ok(conn
                .query_row(
                    &format!("DELETE FROM sessions WHERE token_hash = ?1 AND user_id = ?2 RETURNING {SESSION_COLUMNS}"),
                    params![key.token_hash.0.as_slice(), key.user_id.to_string()],
                    session_from_row,
                )
                .optional()?)
        })
        .await
    }

    async fn end_session_by_id(&self, user: UserId, id: SessionId) -> StoreResult<bool> {
        self.with_conn(move |conn| {
            let now = Millis::now().0;
            let deleted = conn.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND id = ?2 AND idle_expires_at > ?3 AND expires_at > ?3",
                params![user.to_string(), id.to_string(), now],
            )?;
            Ok(deleted == 1)
        })
        .await
    }

    async fn end_user_sessions(&self, user: UserId, except: Option<SessionId>) -> StoreResult<u64> {
        self.with_conn(move |conn| {
            let except = except.map(|id| id.to_string()).unwrap_or_default();
            let deleted = conn.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND id <> ?2",
                params![user.to_string(), except],
            )?;
            Ok(deleted as u64)
        })
        .await
    }

    async fn live_sessions(&self, user: UserId, now: Millis) -> StoreResult<Vec<SessionRecord>> {
        self.with_conn(move |conn| {
            let mut statement = conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions
                 WHERE user_id = ?1 AND idle_expires_at > ?2 AND expires_at > ?2
                 ORDER BY created_at DESC, rowid DESC"
            ))?;
            let rows = statement.query_map(params![user.to_string(), now.0], session_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn insert_owned(&self, principal: &Principal, record: NewOwned<'_>) -> StoreResult<()> {
        let (owner, session) = (principal.user_id().to_string(), principal.session_id().to_string());
        let (kind, id, parent, created_at) = (record.kind.as_str(), record.id, record.parent, record.created_at.0);
        let parent_kind = record.kind.parent_kind().map(OwnedKind::as_str);
        let body = record.body.to_vec();
        self.with_conn(move |conn| {
            // The liveness and parent checks and the insert are one
            // transaction, so a logout or a delete of the parent that lands
            // first leaves no record behind.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = Millis::now().0;
            let live: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1 AND user_id = ?2
                                AND idle_expires_at > ?3 AND expires_at > ?3)",
                params![session, owner, now],
                |row| row.get(0),
            )?;
            if !live {
                return Err(StoreError::SessionEnded);
            }
            if let Some(parent) = &parent {
                let parent_exists: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM owned WHERE owner_id = ?1 AND kind = ?2 AND id = ?3)",
                    params![owner, parent_kind, parent],
                    |row| row.get(0),
                )?;
                if !parent_exists {
                    return Err(StoreError::ParentGone);
                }
            }
            tx.execute(
                "INSERT INTO owned (owner_id, kind, id, parent_id, session_id, created_at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![owner, kind, id, parent, session, created_at, body],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn get_owned(&self, principal: &Principal, kind: OwnedKind, id: &str) -> StoreResult<Option<Vec<u8>>> {
        let (owner, id) = (principal.user_id(), id.to_owned());
        self.with_conn(move |conn| select_owned(conn, owner, kind, &id)).await
    }

    async fn list_owned(&self, principal: &Principal, kind: OwnedKind) -> StoreResult<Vec<Vec<u8>>> {
        let owner = principal.user_id().to_string();
        self.with_conn(move |conn| {
            let mut statement = conn.prepare_cached(
                "SELECT body FROM owned WHERE owner_id = ?1 AND kind = ?2 ORDER BY created_at DESC, rowid DESC",
            )?;
            let rows = statement.query_map(params![owner, kind.as_str()], |row| row.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn replace_owned(
        &self,
        principal: &Principal,
        kind: OwnedKind,
        id: &str,
        expected: &[u8],
        body: &[u8],
    ) -> StoreResult<bool> {
        let (owner, id) = (principal.user_id().to_string(), id.to_owned());
        let (expected, body) = (expected.to_vec(), body.to_vec());
        self.with_conn(move |conn| {
            let replaced = conn.execute(
                "UPDATE owned SET body = ?5 WHERE owner_id = ?1 AND kind = ?2 AND id = ?3 AND body = ?4",
                params![owner, kind.as_str(), id, expected, body],
            )?;
            Ok(replaced == 1)
        })
        .await
    }

    async fn delete_owned(&self, principal: &Principal, kind: OwnedKind, id: &str) -> StoreResult<bool> {
        let (owner, id) = (principal.user_id().to_string(), id.to_owned());
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let deleted = tx.execute(
                "DELETE FROM owned WHERE owner_id = ?1 AND kind = ?2 AND id = ?3",
                params![owner, kind.as_str(), id],
            )?;
            if deleted == 1 {
                // Descendants: records whose parent chain leads to this one.
                tx.execute(
                    "WITH RECURSIVE tree(id) AS (
                         SELECT id FROM owned WHERE owner_id = ?1 AND parent_id = ?2
                         UNION SELECT o.id FROM owned o JOIN tree t ON o.parent_id = t.id WHERE o.owner_id = ?1)
                     DELETE FROM owned WHERE owner_id = ?1 AND id IN tree",
                    params![owner, id],
                )?;
            }
            tx.commit()?;
            Ok(deleted == 1)
        })
        .await
    }

    async fn purge_ended_sessions(&self, now: Millis) -> StoreResult<u64> {
        let before = Millis(now.0 - EXPIRED_SESSION_RETENTION_MS);
        self.with_conn(move |conn| {
            let purged = conn.execute(
                "DELETE FROM sessions WHERE idle_expires_at < ?1 OR expires_at < ?1",
                params![before.0],
            )?;
            Ok(purged as u64)
        })
        .await
    }

    async fn try_lease(&self, name: &str, holder: &str, now: Millis, until: Millis) -> StoreResult<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.with_conn(move |conn| {
            let taken = conn.execute(
                "INSERT INTO leases (name, holder, until) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                 WHERE leases.until <= ?4",
                params![name, holder, until.0, now.0],
            )?;
            Ok(taken == 1)
        })
        .await
    }

    async fn record_event(&self, event: &SecurityEvent) -> StoreResult<()> {
        let event = event.clone();
        self.with_conn(move |conn| {
            conn.execute(
                "INSERT INTO security_events (at, kind, user_id, session_id, request_id, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    event.at.0,
                    event.kind,
                    event.user_id.map(|id| id.to_string()),
                    event.session_id.map(|id| id.to_string()),
                    event.request_id,
                    event.detail
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn events_since(&self, since: Millis) -> StoreResult<Vec<SecurityEvent>> {
        self.with_conn(move |conn| {
            let mut statement = conn.prepare_cached(
                "SELECT at, kind, user_id, session_id, request_id, detail FROM security_events
                 WHERE at >= ?1 ORDER BY seq",
            )?;
            let rows = statement.query_map([since.0], |row| {
                let user_id: Option<String> = row.get(2)?;
                let session_id: Option<String> = row.get(3)?;
                Ok(SecurityEvent {
                    at: Millis(row.get(0)?),
                    kind: row.get(1)?,
                    user_id: user_id.as_deref().and_then(UserId::parse),
                    session_id: session_id.as_deref().and_then(SessionId::parse),
                    request_id: row.get(4)?,
                    detail: row.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}
