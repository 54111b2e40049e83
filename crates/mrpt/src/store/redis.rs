//! The Redis state store, for deployments on several machines: one Redis
//! server (`redis://`, `rediss://` with TLS) or a Redis Cluster
//! (`redis+cluster://`), with the same behaviour as the SQLite store.
//!
//! # Key layout
//!
//! Every key starts with the configured prefix `P` (default `mrpt`). A
//! user's keys all carry the hash tag `{u:<user id>}`, so they share one
//! Cluster slot and every multi-key change of one user is a single Lua script
//! on one node:
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P:{u:U}:user` | hash | `id`, `username`, `password_hash`, `created_at` |
//! | `P:{u:U}:session:<token hash hex>` | hash | the session record (`token_hash`, `id`, `user_id`, times, `seq`, `expiry_noted`); expires by itself 24 h after the session timed out |
//! | `P:{u:U}:sessions` | sorted set | session id, scored by the time its record expires |
//! | `P:{u:U}:session-tokens` | hash | session id → token hash hex |
//! | `P:{u:U}:owned:<kind>:<id>` | hash | an owned record: `owner`, `kind`, `id`, `parent`, `session_id`, `created_at`, `seq`, `body` |
//! | `P:{u:U}:index:<kind>` | set | ids of the user's records of that kind |
//! | `P:{u:U}:children:<id>` | set | `<kind>:<id>` of the records whose parent is `<id>` |
//! | `P:{u:U}:seq` | counter | insertion order, to list records created in the same millisecond |
//! | `P:{n:<username>}:user-id` | string | the user id of a username |
//! | `P:{n:<username>}:login-failures` | sorted set | failed logins, scored by time |
//! | `P:{users}:directory` | set | ids of every user, for operators; may name a user whose registration failed |
//! | `P:{events}:log`, `P:{events}:seq` | sorted set, counter | security events, scored by time, capped |
//!
//! A session is found by its key alone (the token carries the user id), and
//! every record read back is checked against the key that was asked for: a
//! record that names another user, token or id is [`StoreError::Corrupt`].
//!
//! The client multiplexes requests on shared connections and matches each
//! reply to its request inside the connection's own task, so a request that
//! is dropped half-way (client gone, timeout) never leaves a reply for the
//! next one to read. Every call is bounded by [`COMMAND_TIMEOUT`]; a Redis
//! that does not answer gives [`StoreError::Unavailable`], never a retry of
//! an answer that may be stale.

use super::{
    LoginAttempt, NewOwned, OwnedKind, SecurityEvent, SessionKey, SessionRecord, SessionWithOwned, StateStore,
    StoreError, StoreResult, UserRecord,
};
use crate::domain::{Millis, SessionId, UserId, Username};
use crate::principal::Principal;
use crate::token::TokenHash;
use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, IntoConnectionInfo, RedisFuture, RedisResult, Script, ScriptInvocation, Value};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

/// The longest any one store call may take before it counts as unavailable.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Oldest security events are dropped beyond this many.
const MAX_EVENTS: u64 = 100_000;
/// A username being registered holds its name this long at most; a
/// registration that dies half-way frees the name by itself.
const PENDING_NAME_MS: u64 = 30_000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// Where the Redis store lives, as given to `--store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS).
    Single(String),
    /// `redis+cluster://[user:password@]host1:port1,host2:port2,…` or
    /// `rediss+cluster://…` (TLS): some nodes of a Redis Cluster; the rest
    /// are discovered.
    Cluster(Vec<String>),
}

impl RedisTarget {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (scheme, rest) = raw.split_once("://").ok_or_else(|| format!("{} is not a Redis URL", redact(raw)))?;
        let target = match scheme {
            "redis" | "rediss" => Self::Single(raw.to_owned()),
            "redis+cluster" | "rediss+cluster" => {
                let node_scheme = scheme.trim_end_matches("+cluster");
                let (credentials, hosts) = match rest.rsplit_once('@') {
                    Some((credentials, hosts)) => (format!("{credentials}@"), hosts),
                    None => (String::new(), rest),
                };
                let hosts = hosts.strip_suffix('/').unwrap_or(hosts);
                if hosts.is_empty() || hosts.contains('/') {
                    return Err(format!("{} must list host:port pairs and nothing after them", redact(raw)));
                }
                Self::Cluster(hosts.split(',').map(|host| format!("{node_scheme}://{credentials}{host}")).collect())
            }
            _ => return Err(format!("{} is not a redis://, rediss:// or redis+cluster:// URL", redact(raw))),
        };
        for url in target.urls() {
            url.as_str().into_connection_info().map_err(|err| format!("{}: {err}", redact(url)))?;
        }
        Ok(target)
    }

    fn urls(&self) -> &[String] {
        match self {
            Self::Single(url) => std::slice::from_ref(url),
            Self::Cluster(urls) => urls,
        }
    }

    fn uses_tls(&self) -> bool {
        self.urls().iter().any(|url| url.starts_with("rediss://"))
    }

    /// The target as it may be printed: without its password.
    pub fn redacted(&self) -> String {
        match self {
            Self::Single(url) => redact(url),
            Self::Cluster(urls) => {
                let hosts: Vec<String> = urls
                    .iter()
                    .map(|url| redact(url).split_once("://").map(|(_, h)| h.to_owned()).unwrap_or_default())
                    .collect();
                let scheme = if self.uses_tls() { "rediss+cluster" } else { "redis+cluster" };
                format!("{scheme}://{}", hosts.join(","))
            }
        }
    }
}

fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    match rest.rsplit_once('@') {
        Some((credentials, hosts)) => {
            let user = credentials.split_once(':').map_or(credentials, |(user, _)| user);
            format!("{scheme}://{user}:***@{hosts}")
        }
        None => url.to_owned(),
    }
}

/// Checks a key prefix: it must not contain `{` or `}` (that would move the
/// hash tag) nor pattern characters.
pub fn parse_prefix(raw: &str) -> Result<String, String> {
    let valid = !raw.is_empty()
        && raw.len() <= 64
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if valid {
        Ok(raw.to_owned())
    } else {
        Err("the key prefix must be 1 to 64 of A-Z, a-z, 0-9, '_', '-' or '.'".into())
    }
}

/// One Redis server behind an auto-reconnecting multiplexed connection, or a
/// cluster connection (itself multiplexed per node).
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// Functions shared by the scripts on one user's keys. `KEYS[1]` is the
/// user's key prefix `P:{u:U}`: it routes the script to the user's slot, and
/// every key a script touches starts with it.
const USER_LIB: &str = r#"
local base = KEYS[1]
local sessions_index = base .. ':sessions'
local session_tokens = base .. ':session-tokens'
local RETENTION = 86400000
local function int(x) return string.format('%d', x) end
local function session_key(hex) return base .. ':session:' .. hex end
local function record_key(kind, id) return base .. ':owned:' .. kind .. ':' .. id end
local function purge_at(idle, expires) return int(math.min(idle, expires) + RETENTION) end
-- Drops the index entries of sessions whose records have expired.
local function prune(now)
  local gone = redis.call('ZRANGEBYSCORE', sessions_index, '-inf', now)
  for _, id in ipairs(gone) do redis.call('HDEL', session_tokens, id) end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', sessions_index, '-inf', now) end
end
local function end_session(id, hex)
  redis.call('ZREM', sessions_index, id)
  redis.call('HDEL', session_tokens, id)
  return redis.call('DEL', session_key(hex))
end
-- Ends every session but the one with id `keep`; counts the records ended.
local function end_sessions(keep)
  local ended = 0
  local all = redis.call('HGETALL', session_tokens)
  for i = 1, #all, 2 do
    if all[i] ~= keep then ended = ended + end_session(all[i], all[i + 1]) end
  end
  return ended
end
-- The token hash of session `id` when it is live at `now`, else nil.
local function live_token(id, now)
  local hex = redis.call('HGET', session_tokens, id)
  if not hex then return nil end
  local v = redis.call('HMGET', session_key(hex), 'id', 'idle_expires_at', 'expires_at')
  if v[1] ~= id or tonumber(v[2]) <= now or tonumber(v[3]) <= now then return nil end
  return hex
end
"#;

const CREATE_USER: &str = r#"
local user = base .. ':user'
if redis.call('EXISTS', user) == 1 then return redis.error_reply('mrpt: the user already exists') end
redis.call('HSET', user, 'id', ARGV[1], 'username', ARGV[2], 'password_hash', ARGV[3], 'created_at', ARGV[4])
return 1
"#;

const CHANGE_PASSWORD: &str = r#"
local user = base .. ':user'
if redis.call('EXISTS', user) == 1 then redis.call('HSET', user, 'password_hash', ARGV[1]) end
return end_sessions(ARGV[2])
"#;

/// ARGV: the owned kinds.
const DELETE_USER: &str = r#"
local user = base .. ':user'
local username = redis.call('HGET', user, 'username')
end_sessions('')
for _, kind in ipairs(ARGV) do
  local index = base .. ':index:' .. kind
  for _, id in ipairs(redis.call('SMEMBERS', index)) do
    redis.call('DEL', record_key(kind, id), base .. ':children:' .. id)
  end
  redis.call('DEL', index)
end
redis.call('DEL', sessions_index, session_tokens, base .. ':seq', user)
return username
"#;

/// ARGV: token hash, id, user id, created, last seen, idle expiry, expiry,
/// the password hash the login verified. Returns 0, creating nothing, when
/// the user has another password hash by now.
const CREATE_SESSION: &str = r#"
local credential = redis.call('HGET', base .. ':user', 'password_hash')
if not credential then return redis.error_reply('mrpt: the user does not exist') end
if credential ~= ARGV[8] then return 0 end
prune(ARGV[4])
local key = session_key(ARGV[1])
local seq = redis.call('INCR', base .. ':seq')
redis.call('HSET', key, 'token_hash', ARGV[1], 'id', ARGV[2], 'user_id', ARGV[3], 'created_at', ARGV[4],
  'last_seen_at', ARGV[5], 'idle_expires_at', ARGV[6], 'expires_at', ARGV[7], 'seq', seq)
local until_ms = purge_at(tonumber(ARGV[6]), tonumber(ARGV[7]))
redis.call('PEXPIREAT', key, until_ms)
redis.call('ZADD', sessions_index, until_ms, ARGV[2])
redis.call('HSET', session_tokens, ARGV[2], ARGV[1])
return 1
"#;

/// ARGV: token hash, now, new idle expiry. Never creates or revives a record.
const TOUCH_SESSION: &str = r#"
local key = session_key(ARGV[1])
local v = redis.call('HMGET', key, 'id', 'idle_expires_at', 'expires_at')
if not v[1] then return 0 end
local now, idle, expires = tonumber(ARGV[2]), tonumber(v[2]), tonumber(v[3])
if idle <= now or expires <= now then return 0 end
idle = math.max(idle, tonumber(ARGV[3]))
redis.call('HSET', key, 'last_seen_at', ARGV[2], 'idle_expires_at', int(idle))
local until_ms = purge_at(idle, expires)
redis.call('PEXPIREAT', key, until_ms)
redis.call('ZADD', sessions_index, until_ms, v[1])
return 1
"#;

/// ARGV: token hash. HSETNX alone would create a record that is gone.
const NOTE_SESSION_EXPIRED: &str = r#"
local key = session_key(ARGV[1])
if redis.call('EXISTS', key) == 0 then return 0 end
return redis.call('HSETNX', key, 'expiry_noted', '1')
"#;

/// ARGV: token hash. Returns the ended record's fields, or nothing.
const END_SESSION_BY_TOKEN: &str = r#"
local fields = redis.call('HGETALL', session_key(ARGV[1]))
for i = 1, #fields, 2 do
  if fields[i] == 'id' then end_session(fields[i + 1], ARGV[1]) end
end
return fields
"#;

/// ARGV: session id, now.
const END_SESSION_BY_ID: &str = r#"
local hex = live_token(ARGV[1], tonumber(ARGV[2]))
if not hex then return 0 end
return end_session(ARGV[1], hex)
"#;

/// ARGV: the id of the session to keep, or ''.
const END_USER_SESSIONS: &str = "return end_sessions(ARGV[1])";

/// Returns token hash, fields, token hash, fields, … of every indexed session.
const LIST_SESSIONS: &str = r#"
local out = {}
local all = redis.call('HGETALL', session_tokens)
for i = 1, #all, 2 do
  local fields = redis.call('HGETALL', session_key(all[i + 1]))
  if #fields > 0 then
    table.insert(out, all[i + 1])
    table.insert(out, fields)
  end
end
return out
"#;

/// ARGV: session id, now, kind, id, parent or '', created, body, owner,
/// parent kind or ''. Inserts only while the session is live (0 otherwise)
/// and the parent exists (2 otherwise): one step with the checks.
const INSERT_OWNED: &str = r#"
if not live_token(ARGV[1], tonumber(ARGV[2])) then return 0 end
if ARGV[5] ~= '' and redis.call('EXISTS', record_key(ARGV[9], ARGV[5])) == 0 then return 2 end
local key = record_key(ARGV[3], ARGV[4])
if redis.call('EXISTS', key) == 1 then return redis.error_reply('mrpt: the record already exists') end
local seq = redis.call('INCR', base .. ':seq')
redis.call('HSET', key, 'owner', ARGV[8], 'kind', ARGV[3], 'id', ARGV[4], 'parent', ARGV[5], 'session_id', ARGV[1],
  'created_at', ARGV[6], 'seq', seq, 'body', ARGV[7])
redis.call('SADD', base .. ':index:' .. ARGV[3], ARGV[4])
if ARGV[5] ~= '' then redis.call('SADD', base .. ':children:' .. ARGV[5], ARGV[3] .. ':' .. ARGV[4]) end
return 1
"#;

/// ARGV: kind. Returns {owner, kind, id, created, seq, body} per record.
const LIST_OWNED: &str = r#"
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', base .. ':index:' .. ARGV[1])) do
  local v = redis.call('HMGET', record_key(ARGV[1], id), 'owner', 'kind', 'id', 'created_at', 'seq', 'body')
  if v[1] then table.insert(out, v) end
end
return out
"#;

/// ARGV: kind, id. Deletes the record and, depth first, its descendants.
const DELETE_OWNED: &str = r#"
local parent = redis.call('HGET', record_key(ARGV[1], ARGV[2]), 'parent')
if not parent then return 0 end
if parent ~= '' then redis.call('SREM', base .. ':children:' .. parent, ARGV[1] .. ':' .. ARGV[2]) end
local pending = {ARGV[1] .. ':' .. ARGV[2]}
while #pending > 0 do
  local kind, id = string.match(table.remove(pending), '^([^:]+):(.*)$')
  redis.call('DEL', record_key(kind, id))
  redis.call('SREM', base .. ':index:' .. kind, id)
  local children = base .. ':children:' .. id
  for _, child in ipairs(redis.call('SMEMBERS', children)) do table.insert(pending, child) end
  redis.call('DEL', children)
end
return 1
"#;

/// ARGV: kind, id, expected body, new body. Compare and set, so that of
/// writers racing from the same body exactly one wins.
const REPLACE_OWNED: &str = r#"
local key = record_key(ARGV[1], ARGV[2])
if redis.call('HGET', key, 'body') ~= ARGV[3] then return 0 end
redis.call('HSET', key, 'body', ARGV[4])
return 1
"#;

/// KEYS: name key. ARGV: user id. Keeps a pending name for good once its
/// user record exists.
const CLAIM_NAME: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PERSIST', KEYS[1])
return 1
"#;

/// KEYS: name key, then keys to delete with it. ARGV: the user id the name
/// must still point at.
const RELEASE_NAME: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
return 1
"#;

/// KEYS: name key. Returns the user id and whether the name is still
/// pending (has an expiry).
const READ_NAME: &str = r#"
local id = redis.call('GET', KEYS[1])
if not id then return {} end
return {id, redis.call('PTTL', KEYS[1])}
"#;

/// KEYS: attempts key. ARGV: time, unique member, how long to keep them,
/// window start, limit. Returns the first of the last `limit` attempts when
/// the limit is reached (nothing recorded), nothing when counted.
const COUNT_LOGIN_ATTEMPT: &str = r#"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%d', tonumber(ARGV[1]) - tonumber(ARGV[3])))
local recent = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[4], '+inf')
local limit = tonumber(ARGV[5])
if #recent >= limit then return recent[#recent - limit + 1] end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return false
"#;

/// KEYS: counter. ARGV: when it is forgotten. Returns the new count.
const INCREMENT_COUNTER: &str = r#"
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIREAT', KEYS[1], ARGV[1]) end
return count
"#;

/// KEYS: log, counter. ARGV: time, event JSON, cap. Members are the insertion
/// number then the JSON, so events of the same millisecond keep their order.
const RECORD_EVENT: &str = r#"
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], ARGV[1], string.format('%020d', seq) .. ARGV[2])
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if extra > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1) end
return 1
"#;
const EVENT_SEQ_WIDTH: usize = 20;

struct Scripts {
    create_user: Script,
    change_password: Script,
    delete_user: Script,
    create_session: Script,
    touch_session: Script,
    note_session_expired: Script,
    end_session_by_token: Script,
    end_session_by_id: Script,
    end_user_sessions: Script,
    list_sessions: Script,
    insert_owned: Script,
    list_owned: Script,
    replace_owned: Script,
    delete_owned: Script,
    claim_name: Script,
    release_name: Script,
    read_name: Script,
    count_login_attempt: Script,
    increment_counter: Script,
    record_event: Script,
}

impl Scripts {
    fn new() -> Self {
        let user = |body: &str| Script::new(&format!("{USER_LIB}{body}"));
        Self {
            create_user: user(CREATE_USER),
            change_password: user(CHANGE_PASSWORD),
            delete_user: user(DELETE_USER),
            create_session: user(CREATE_SESSION),
            touch_session: user(TOUCH_SESSION),
            note_session_expired: user(NOTE_SESSION_EXPIRED),
            end_session_by_token: user(END_SESSION_BY_TOKEN),
            end_session_by_id: user(END_SESSION_BY_ID),
            end_user_sessions: user(END_USER_SESSIONS),
            list_sessions: user(LIST_SESSIONS),
            insert_owned: user(INSERT_OWNED),
            list_owned: user(LIST_OWNED),
            replace_owned: user(REPLACE_OWNED),
            delete_owned: user(DELETE_OWNED),
            claim_name: Script::new(CLAIM_NAME),
            release_name: Script::new(RELEASE_NAME),
            read_name: Script::new(READ_NAME),
            count_login_attempt: Script::new(COUNT_LOGIN_ATTEMPT),
            increment_counter: Script::new(INCREMENT_COUNTER),
            record_event: Script::new(RECORD_EVENT),
        }
    }
}

/// Builds every key from the prefix; nothing else names a key.
struct Keys {
    prefix: String,
}

impl Keys {
    fn user_base(&self, user: UserId) -> String {
        format!("{}:{{u:{user}}}", self.prefix)
    }

    fn user(&self, user: UserId) -> String {
        format!("{}:user", self.user_base(user))
    }

    fn session(&self, key: SessionKey) -> String {
        format!("{}:session:{}", self.user_base(key.user_id), key.token_hash.to_hex())
    }

    fn owned(&self, user: UserId, kind: OwnedKind, id: &str) -> String {
        format!("{}:owned:{}:{id}", self.user_base(user), kind.as_str())
    }

    fn user_id_by_name(&self, name: &Username) -> String {
        format!("{}:{{n:{name}}}:user-id", self.prefix)
    }

    fn counter(&self, name: &str, until: Millis) -> String {
        format!("{}:{{c:{name}}}:{}", self.prefix, until.0)
    }

    fn login_failures(&self, name: &Username) -> String {
        format!("{}:{{n:{name}}}:login-failures", self.prefix)
    }

    fn directory(&self) -> String {
        format!("{}:{{users}}:directory", self.prefix)
    }

    fn lease(&self, name: &str) -> String {
        format!("{}:{{leases}}:{name}", self.prefix)
    }

    fn events(&self) -> [String; 2] {
        [format!("{}:{{events}}:log", self.prefix), format!("{}:{{events}}:seq", self.prefix)]
    }
}

pub struct RedisStore {
    conn: Connection,
    keys: Keys,
    scripts: Scripts,
}

impl RedisStore {
    /// Connects and checks that Redis answers; an error names the target
    /// (password hidden) so that start-up can fail with a clear message.
    pub async fn connect(target: &RedisTarget, prefix: &str) -> Result<Self, StoreError> {
        let prefix = parse_prefix(prefix).map_err(StoreError::Unavailable)?;
        if target.uses_tls() {
            // Only one TLS backend is built in; naming it keeps rustls from
            // guessing. An error means one is installed already: fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let conn = tokio::time::timeout(COMMAND_TIMEOUT * 3, open(target))
            .await
            .map_err(|_| StoreError::Unavailable(format!("Redis at {} did not answer in time", target.redacted())))?
            .map_err(|err| StoreError::Unavailable(format!("cannot reach Redis at {}: {err}", target.redacted())))?;
        let store = Self { conn, keys: Keys { prefix }, scripts: Scripts::new() };
        store
            .ping()
            .await
            .map_err(|err| StoreError::Unavailable(format!("Redis at {} does not answer: {err}", target.redacted())))?;
        Ok(store)
    }

    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> StoreResult<T> {
        let mut conn = self.conn.clone();
        bounded(cmd.query_async(&mut conn)).await
    }

    async fn eval<T: FromRedisValue>(&self, invocation: &ScriptInvocation<'_>) -> StoreResult<T> {
        let mut conn = self.conn.clone();
        bounded(invocation.invoke_async(&mut conn)).await
    }

    fn session_fields(&self, key: SessionKey) -> Cmd {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(self.keys.session(key));
        cmd
    }

    fn owned_fields(&self, user: UserId, kind: OwnedKind, id: &str) -> Cmd {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.keys.owned(user, kind, id)).arg(&["owner", "kind", "id", "body"]);
        cmd
    }

    /// A script on one user's keys.
    fn on_user<'a>(&self, script: &'a Script, user: UserId) -> ScriptInvocation<'a> {
        script.key(self.keys.user_base(user))
    }

    async fn release_name(&self, name: &Username, user: UserId, with_failures: bool) -> StoreResult<()> {
        let mut invocation = self.scripts.release_name.key(self.keys.user_id_by_name(name));
        if with_failures {
            invocation.key(self.keys.login_failures(name));
        }
        self.eval::<i64>(invocation.arg(user.to_string())).await.map(drop)
    }

    /// Frees a name whose user is gone though the name was kept (a deletion
    /// that failed half-way); a name still being registered is left alone.
    async fn free_orphaned_name(&self, name: &Username) -> StoreResult<bool> {
        let reply: Vec<Value> = self.eval(&self.scripts.read_name.key(self.keys.user_id_by_name(name))).await?;
        let [id, ttl] = reply.as_slice() else { return Ok(false) };
        let id =
            text(id).and_then(|raw| UserId::parse(&raw)).ok_or_else(|| corrupt("a username maps to a malformed id"))?;
        let kept = matches!(ttl, Value::Int(-1));
        if !kept || self.get_user(id).await?.is_some() {
            return Ok(false);
        }
        self.release_name(name, id, false).await?;
        Ok(true)
    }

    async fn claim_name(&self, user: &UserRecord) -> StoreResult<()> {
        let claimed: i64 = self
            .eval(self.scripts.claim_name.key(self.keys.user_id_by_name(&user.username)).arg(user.id.to_string()))
            .await?;
        if claimed == 1 {
            Ok(())
        } else {
            Err(StoreError::Unavailable("the registration took too long and its name was released".into()))
        }
    }
}

async fn open(target: &RedisTarget) -> RedisResult<Connection> {
    match target {
        RedisTarget::Single(url) => {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(COMMAND_TIMEOUT))
                .set_number_of_retries(1)
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_millis(500));
            let client = redis::Client::open(url.as_str())?;
            Ok(Connection::Single(ConnectionManager::new_with_config(client, config).await?))
        }
        RedisTarget::Cluster(urls) => {
            let client = redis::cluster::ClusterClientBuilder::new(urls.iter().map(String::as_str))
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(COMMAND_TIMEOUT)
                .retries(2)
                .build()?;
            Ok(Connection::Cluster(client.get_async_connection().await?))
        }
    }
}

/// Runs one Redis call within [`COMMAND_TIMEOUT`]. Dropping the call on
/// timeout is safe: its reply, should it come, is discarded by the
/// connection, never handed to another call.
async fn bounded<T>(call: impl Future<Output = RedisResult<T>>) -> StoreResult<T> {
    match tokio::time::timeout(COMMAND_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(StoreError::Unavailable(format!("redis: {err}"))),
        Err(_) => Err(StoreError::Unavailable("redis did not answer in time".into())),
    }
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(text) => Some(text.as_bytes()),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    bytes(value).and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
}

/// A hash read back from Redis, field by field.
struct Fields(HashMap<String, Value>);

impl Fields {
    /// From a flat `[field, value, field, value, …]` reply; `None` when empty.
    fn from_flat(value: Value) -> StoreResult<Option<Self>> {
        let items = match value {
            Value::Array(items) => items,
            Value::Map(pairs) => pairs.into_iter().flat_map(|(name, value)| [name, value]).collect(),
            Value::Nil => return Ok(None),
            other => return Err(corrupt(format!("expected a hash, got {other:?}"))),
        };
        if items.is_empty() {
            return Ok(None);
        }
        let mut fields = HashMap::new();
        let mut items = items.into_iter();
        while let (Some(name), Some(value)) = (items.next(), items.next()) {
            fields.insert(text(&name).ok_or_else(|| corrupt("a hash field name is not text"))?, value);
        }
        Ok(Some(Self(fields)))
    }

    fn text(&self, name: &str) -> StoreResult<String> {
        self.0.get(name).and_then(text).ok_or_else(|| corrupt(format!("field {name} is missing")))
    }

    fn millis(&self, name: &str) -> StoreResult<Millis> {
        self.text(name)?.parse().map(Millis).map_err(|_| corrupt(format!("field {name} is not a time")))
    }

    fn seq(&self) -> StoreResult<i64> {
        self.text("seq")?.parse().map_err(|_| corrupt("field seq is not a number"))
    }

    fn id<T>(&self, name: &str, parse: fn(&str) -> Option<T>) -> StoreResult<T> {
        parse(&self.text(name)?).ok_or_else(|| corrupt(format!("field {name} is not an id")))
    }
}

/// A session record, checked against the key it was loaded from.
fn session_from(fields: &Fields, key: SessionKey) -> StoreResult<SessionRecord> {
    let record = SessionRecord {
        id: fields.id("id", SessionId::parse)?,
        user_id: fields.id("user_id", UserId::parse)?,
        token_hash: TokenHash(
            hex::decode(fields.text("token_hash")?)
                .ok()
                .and_then(|raw| raw.try_into().ok())
                .ok_or_else(|| corrupt("field token_hash is not a hash"))?,
        ),
        created_at: fields.millis("created_at")?,
        last_seen_at: fields.millis("last_seen_at")?,
        idle_expires_at: fields.millis("idle_expires_at")?,
        expires_at: fields.millis("expires_at")?,
    };
    if record.key() != key {
        return Err(corrupt(format!("the session under user {} names another user or token", key.user_id)));
    }
    Ok(record)
}

/// A user record, checked against the id it was loaded by.
fn user_from(fields: &Fields, id: UserId) -> StoreResult<UserRecord> {
    let record = UserRecord {
        id: fields.id("id", UserId::parse)?,
        username: Username::parse(&fields.text("username")?).map_err(|_| corrupt("field username is malformed"))?,
        password_hash: fields.text("password_hash")?,
        created_at: fields.millis("created_at")?,
    };
    if record.id != id {
        return Err(corrupt(format!("the user record of {id} names another user")));
    }
    Ok(record)
}

/// Newest first; records of the same millisecond by insertion order.
fn newest_first<T>(records: &mut [(Millis, i64, T)]) {
    records.sort_by_key(|record| std::cmp::Reverse((record.0, record.1)));
}

#[async_trait]
impl StateStore for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
        let reply: String = self.query(&redis::cmd("PING")).await?;
        if reply == "PONG" {
            Ok(())
        } else {
            Err(StoreError::Unavailable(format!("unexpected PING reply {reply:?}")))
        }
    }

    async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
        // The name is taken first (it lives in its own slot), with an expiry
        // until the user record exists, so that a registration that dies
        // half-way cannot hold the name for ever.
        let name_key = self.keys.user_id_by_name(&user.username);
        let mut take = redis::cmd("SET");
        take.arg(&name_key).arg(user.id.to_string()).arg("NX").arg("PX").arg(PENDING_NAME_MS);
        let mut taken: Value = self.query(&take).await?;
        if taken == Value::Nil && self.free_orphaned_name(&user.username).await? {
            taken = self.query(&take).await?;
        }
        if taken == Value::Nil {
            return Err(StoreError::UsernameTaken);
        }
        let result = async {
            // Listed before it exists, so that no user can be missed by an
            // operator's `reset-sessions`; readers skip ids with no user.
            self.query::<i64>(redis::cmd("SADD").arg(self.keys.directory()).arg(user.id.to_string())).await?;
            self.eval::<i64>(
                self.on_user(&self.scripts.create_user, user.id)
                    .arg(user.id.to_string())
                    .arg(user.username.as_str())
                    .arg(&user.password_hash)
                    .arg(user.created_at.0),
            )
            .await?;
            self.claim_name(user).await
        }
        .await;
        if result.is_err() {
            // Undo what we can; the name's expiry covers a Redis that is gone.
            let _ = self.query::<i64>(redis::cmd("DEL").arg(self.keys.user(user.id))).await;
            let _ = self.release_name(&user.username, user.id, false).await;
            let _ = self.query::<i64>(redis::cmd("SREM").arg(self.keys.directory()).arg(user.id.to_string())).await;
        }
        result
    }

    async fn find_user_by_name(&self, username: &Username) -> StoreResult<Option<UserRecord>> {
        let id: Option<String> = self.query(redis::cmd("GET").arg(self.keys.user_id_by_name(username))).await?;
        let Some(id) = id else { return Ok(None) };
        let id = UserId::parse(&id).ok_or_else(|| corrupt("a username maps to a malformed id"))?;
        let Some(user) = self.get_user(id).await? else { return Ok(None) };
        if &user.username != username {
            return Err(corrupt(format!("username {username} maps to a user named otherwise")));
        }
        Ok(Some(user))
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        let reply: Value = self.query(redis::cmd("HGETALL").arg(self.keys.user(id))).await?;
        Fields::from_flat(reply)?.map(|fields| user_from(&fields, id)).transpose()
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        let ids: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(self.keys.directory())).await?;
        let mut users = Vec::with_capacity(ids.len());
        for id in ids {
            let id = UserId::parse(&id).ok_or_else(|| corrupt("the user directory holds a malformed id"))?;
            users.extend(self.get_user(id).await?);
        }
        users.sort_by(|a, b| a.username.as_str().cmp(b.username.as_str()));
        Ok(users)
    }

    async fn change_password(&self, user: UserId, new_hash: &str, keep: SessionId) -> StoreResult<u64> {
        self.eval(self.on_user(&self.scripts.change_password, user).arg(new_hash).arg(keep.to_string())).await
    }

    async fn delete_user(&self, user: UserId) -> StoreResult<()> {
        let kinds: Vec<&str> = OwnedKind::ALL.iter().map(|kind| kind.as_str()).collect();
        let username: Option<String> = self.eval(self.on_user(&self.scripts.delete_user, user).arg(kinds)).await?;
        if let Some(name) = username {
            let name = Username::parse(&name).map_err(|_| corrupt("a stored username is malformed"))?;
            self.release_name(&name, user, true).await?;
        }
        self.query::<i64>(redis::cmd("SREM").arg(self.keys.directory()).arg(user.to_string())).await.map(drop)
    }

    async fn count_login_attempt(&self, username: &Username, at: Millis, since: Millis, limit: u32) -> StoreResult<LoginAttempt> {
        let member = format!("{}:{}", at.0, uuid::Uuid::new_v4().simple());
        let mut invocation = self.scripts.count_login_attempt.key(self.keys.login_failures(username));
        invocation.arg(at.0).arg(member).arg(DAY_MS).arg(since.0).arg(limit);
        let oldest: Option<String> = self.eval(&invocation).await?;
        let Some(oldest) = oldest else { return Ok(LoginAttempt::Counted) };
        let at = oldest.split_once(':').and_then(|(at, _)| at.parse().ok()).ok_or_else(|| corrupt("a login attempt has no time"))?;
        Ok(LoginAttempt::Refused { oldest: Millis(at) })
    }

    async fn clear_login_failures(&self, username: &Username) -> StoreResult<()> {
        self.query::<i64>(redis::cmd("DEL").arg(self.keys.login_failures(username))).await.map(drop)
    }

    async fn increment_counter(&self, name: &str, _now: Millis, until: Millis) -> StoreResult<u64> {
        // Redis forgets the counter by itself at `until`.
        let mut invocation = self.scripts.increment_counter.key(self.keys.counter(name, until));
        self.eval(invocation.arg(until.0)).await
    }

    async fn create_session(&self, s: &SessionRecord, credential: &str) -> StoreResult<()> {
        let mut invocation = self.on_user(&self.scripts.create_session, s.user_id);
        invocation
            .arg(s.token_hash.to_hex())
            .arg(s.id.to_string())
            .arg(s.user_id.to_string())
            .arg(s.created_at.0)
            .arg(s.last_seen_at.0)
            .arg(s.idle_expires_at.0)
            .arg(s.expires_at.0)
            .arg(credential);
        match self.eval::<i64>(&invocation).await? {
            0 => Err(StoreError::CredentialChanged),
            _ => Ok(()),
        }
    }

    async fn session_by_token(&self, key: SessionKey) -> StoreResult<Option<SessionRecord>> {
        let reply: Value = self.query(&self.session_fields(key)).await?;
        Fields::from_flat(reply)?.map(|fields| session_from(&fields, key)).transpose()
    }

    async fn session_with_owned(
        &self,
        key: SessionKey,
        kind: OwnedKind,
        id: &str,
    ) -> StoreResult<Option<SessionWithOwned>> {
        // Both keys carry the user's hash tag, so the pipeline goes to one
        // node, even in a Cluster.
        let mut pipeline = redis::pipe();
        pipeline.add_command(self.session_fields(key)).add_command(self.owned_fields(key.user_id, kind, id));
        let mut conn = self.conn.clone();
        let (session, owned): (Value, Vec<Value>) = bounded(pipeline.query_async(&mut conn)).await?;
        let Some(session) = Fields::from_flat(session)?.map(|fields| session_from(&fields, key)).transpose()? else {
            return Ok(None);
        };
        Ok(Some(SessionWithOwned { session, body: owned_body(key.user_id, kind, id, &owned)? }))
    }

    async fn touch_session(&self, key: SessionKey, now: Millis, idle_expires_at: Millis) -> StoreResult<bool> {
        let mut invocation = self.on_user(&self.scripts.touch_session, key.user_id);
        invocation.arg(key.token_hash.to_hex()).arg(now.0).arg(idle_expires_at.0);
        Ok(self.eval::<i64>(&invocation).await? == 1)
    }

    async fn note_session_expired(&self, key: SessionKey) -> StoreResult<bool> {
        let mut invocation = self.on_user(&self.scripts.note_session_expired, key.user_id);
        invocation.arg(key.token_hash.to_hex());
        Ok(self.eval::<i64>(&invocation).await? == 1)
    }

    async fn end_session_by_token(&self, key: SessionKey) -> StoreResult<Option<SessionRecord>> {
        let mut invocation = self.on_user(&self.scripts.end_session_by_token, key.user_id);
        invocation.arg(key.token_hash.to_hex());
        let reply: Value = self.eval(&invocation).await?;
        Fields::from_flat(reply)?.map(|fields| session_from(&fields, key)).transpose()
    }

    async fn end_session_by_id(&self, user: UserId, id: SessionId) -> StoreResult<bool> {
        let mut invocation = self.on_user(&self.scripts.end_session_by_id, user);
        invocation.arg(id.to_string()).arg(Millis::now().0);
        Ok(self.eval::<i64>(&invocation).await? == 1)
    }

    async fn end_user_sessions(&self, user: UserId, except: Option<SessionId>) -> StoreResult<u64> {
        let keep = except.map(|id| id.to_string()).unwrap_or_default();
        self.eval(self.on_user(&self.scripts.end_user_sessions, user).arg(keep)).await
    }

    async fn live_sessions(&self, user: UserId, now: Millis) -> StoreResult<Vec<SessionRecord>> {
        let reply: Vec<Value> = self.eval(&self.on_user(&self.scripts.list_sessions, user)).await?;
        let mut sessions = Vec::new();
        for pair in reply.chunks(2) {
            let [hash, fields] = pair else { return Err(corrupt("a session listing is cut short")) };
            let token_hash = text(hash)
                .and_then(|hex| hex::decode(hex).ok())
                .and_then(|raw| raw.try_into().ok())
                .map(TokenHash)
                .ok_or_else(|| corrupt("a session index entry is not a hash"))?;
            let fields = Fields::from_flat(fields.clone())?.ok_or_else(|| corrupt("an empty session record"))?;
            let record = session_from(&fields, SessionKey { user_id: user, token_hash })?;
            if !record.is_expired_at(now) {
                sessions.push((record.created_at, fields.seq()?, record));
            }
        }
        newest_first(&mut sessions);
        Ok(sessions.into_iter().map(|(_, _, record)| record).collect())
    }

    async fn insert_owned(&self, principal: &Principal, record: NewOwned<'_>) -> StoreResult<()> {
        let user = principal.user_id();
        let mut invocation = self.on_user(&self.scripts.insert_owned, user);
        invocation
            .arg(principal.session_id().to_string())
            .arg(Millis::now().0)
            .arg(record.kind.as_str())
            .arg(&record.id)
            .arg(record.parent.as_deref().unwrap_or(""))
            .arg(record.created_at.0)
            .arg(record.body)
            .arg(user.to_string())
            .arg(record.kind.parent_kind().map_or("", OwnedKind::as_str));
        match self.eval::<i64>(&invocation).await? {
            1 => Ok(()),
            2 => Err(StoreError::ParentGone),
            _ => Err(StoreError::SessionEnded),
        }
    }

    async fn get_owned(&self, principal: &Principal, kind: OwnedKind, id: &str) -> StoreResult<Option<Vec<u8>>> {
        let user = principal.user_id();
        let reply: Vec<Value> = self.query(&self.owned_fields(user, kind, id)).await?;
        owned_body(user, kind, id, &reply)
    }

    async fn list_owned(&self, principal: &Principal, kind: OwnedKind) -> StoreResult<Vec<Vec<u8>>> {
        let user = principal.user_id();
        let reply: Vec<Value> = self.eval(self.on_user(&self.scripts.list_owned, user).arg(kind.as_str())).await?;
        let mut records = Vec::with_capacity(reply.len());
        for entry in &reply {
            let Value::Array(values) = entry else { return Err(corrupt("an owned listing entry is not a list")) };
            let [owner, stored_kind, stored_id, created_at, seq, body] = values.as_slice() else {
                return Err(corrupt("an owned listing entry has the wrong number of fields"));
            };
            let stored_id_text = text(stored_id).ok_or_else(|| corrupt("an owned record has no id"))?;
            check_owned(user, kind, &stored_id_text, owner, stored_kind, stored_id)?;
            let number = |value: &Value| text(value).and_then(|raw| raw.parse::<i64>().ok());
            let (Some(created_at), Some(seq)) = (number(created_at), number(seq)) else {
                return Err(corrupt("an owned record has a malformed time or order"));
            };
            let body = bytes(body).ok_or_else(|| corrupt("an owned record has no body"))?.to_vec();
            records.push((Millis(created_at), seq, body));
        }
        newest_first(&mut records);
        Ok(records.into_iter().map(|(_, _, body)| body).collect())
    }

    async fn replace_owned(
        &self,
        principal: &Principal,
        kind: OwnedKind,
        id: &str,
        expected: &[u8],
        body: &[u8],
    ) -> StoreResult<bool> {
        let mut invocation = self.on_user(&self.scripts.replace_owned, principal.user_id());
        invocation.arg(kind.as_str()).arg(id).arg(expected).arg(body);
        Ok(self.eval::<i64>(&invocation).await? == 1)
    }

    async fn delete_owned(&self, principal: &Principal, kind: OwnedKind, id: &str) -> StoreResult<bool> {
        let mut invocation = self.on_user(&self.scripts.delete_owned, principal.user_id());
        invocation.arg(kind.as_str()).arg(id);
        Ok(self.eval::<i64>(&invocation).await? == 1)
    }

    /// Sessions carry their own expiry in Redis, which removes them.
    async fn purge_ended_sessions(&self, _now: Millis) -> StoreResult<u64> {
        Ok(0)
    }

    async fn try_lease(&self, name: &str, holder: &str, _now: Millis, until: Millis) -> StoreResult<bool> {
        // Redis's own clock ends the lease, so `now` is not needed to judge it.
        let set = redis::cmd("SET").arg(self.keys.lease(name)).arg(holder).arg("NX").arg("PXAT").arg(until.0).clone();
        let reply: Option<String> = self.query(&set).await?;
        Ok(reply.is_some())
    }

    async fn record_event(&self, event: &SecurityEvent) -> StoreResult<()> {
        let json = serde_json::to_string(event).map_err(|err| corrupt(err.to_string()))?;
        let [log, seq] = self.keys.events();
        let mut invocation = self.scripts.record_event.key(log);
        invocation.key(seq).arg(event.at.0).arg(json).arg(MAX_EVENTS);
        self.eval::<i64>(&invocation).await.map(drop)
    }

    async fn events_since(&self, since: Millis) -> StoreResult<Vec<SecurityEvent>> {
        let [log, _] = self.keys.events();
        let members: Vec<Vec<u8>> = self.query(redis::cmd("ZRANGEBYSCORE").arg(log).arg(since.0).arg("+inf")).await?;
        members
            .iter()
            .map(|member| {
                let json = member.get(EVENT_SEQ_WIDTH..).ok_or_else(|| corrupt("a security event is cut short"))?;
                serde_json::from_slice(json).map_err(|err| corrupt(format!("a security event: {err}")))
            })
            .collect()
    }
}

/// The body of an owned record read by [`RedisStore::owned_fields`], once
/// it is checked to be the record that was asked for.
fn owned_body(user: UserId, kind: OwnedKind, id: &str, reply: &[Value]) -> StoreResult<Option<Vec<u8>>> {
    let [owner, stored_kind, stored_id, body] = reply else {
        return Err(corrupt("HMGET answered with the wrong number of fields"));
    };
    if matches!(owner, Value::Nil) {
        return Ok(None);
    }
    check_owned(user, kind, id, owner, stored_kind, stored_id)?;
    Ok(Some(bytes(body).ok_or_else(|| corrupt("an owned record has no body"))?.to_vec()))
}

/// An owned record must name the owner, kind and id it was looked up by.
fn check_owned(
    user: UserId,
    kind: OwnedKind,
    id: &str,
    owner: &Value,
    stored_kind: &Value,
    stored_id: &Value,
) -> StoreResult<()> {
    let matches = text(owner).as_deref() == Some(&user.to_string())
        && text(stored_kind).as_deref() == Some(kind.as_str())
        && text(stored_id).as_deref() == Some(id);
    if matches {
        Ok(())
    } else {
        Err(corrupt(format!("the {} {id} under user {user} names another owner, kind or id", kind.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_hide_passwords() {
        assert_eq!(
            RedisTarget::parse("redis://127.0.0.1:6379/2"),
            Ok(RedisTarget::Single("redis://127.0.0.1:6379/2".into()))
        );
        assert_eq!(
            RedisTarget::parse("redis+cluster://:secret@10.0.0.1:7000,10.0.0.2:7001"),
            Ok(RedisTarget::Cluster(vec![
                "redis://:secret@10.0.0.1:7000".into(),
                "redis://:secret@10.0.0.2:7001".into()
            ]))
        );
        let tls = RedisTarget::parse("rediss+cluster://a:7000,b:7001/").unwrap();
        assert_eq!(tls.redacted(), "rediss+cluster://a:7000,b:7001");
        assert!(!RedisTarget::parse("redis+cluster://user:pw@h:1").unwrap().redacted().contains("pw"));
        assert!(!RedisTarget::parse("rediss://user:pw@h:1/0").unwrap().redacted().contains("pw"));
        assert!(RedisTarget::parse("http://h:1").is_err());
        assert!(RedisTarget::parse("redis+cluster://h:1/0").is_err());
        assert!(RedisTarget::parse("redis+cluster://").is_err());
    }

    #[test]
    fn prefixes_cannot_move_the_hash_tag() {
        assert!(parse_prefix("mrpt").is_ok());
        assert!(parse_prefix("mrpt-test.1_a").is_ok());
        for bad in ["", "a{b", "a}b", "a*", "a:b", "a b"] {
            assert!(parse_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
