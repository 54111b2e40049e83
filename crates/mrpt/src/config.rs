//! Configuration of `mrpt serve` and `mrpt admin`: flags, each also read
//! from the environment variable `MRPT_<NAME>`, printed once at start-up.

use crate::store::files::FileStoreChoice;
use crate::store::StoreChoice;
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Args, Serialize)]
pub struct ServeConfig {
    /// Address and port to listen on.
    #[arg(long, env = "MRPT_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    #[command(flatten)]
    #[serde(flatten)]
    pub stores: StoreConfig,

    /// Serve `/metrics` on this separate (private) address instead of the
    /// public one. With several workers each listens on it (SO_REUSEPORT),
    /// so give a fixed port.
    #[arg(long, env = "MRPT_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    #[command(flatten)]
    #[serde(flatten)]
    pub connections: crate::listener::ConnectionLimits,

    /// The URL users reach the server at; https turns on `Secure` cookies
    /// named `__Host-mrpt_session`.
    #[arg(long, env = "MRPT_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// A session ends after this long without use (e.g. `3600`, `30m`).
    #[arg(long, env = "MRPT_SESSION_IDLE", default_value = "3600", value_parser = parse_duration)]
    #[serde(serialize_with = "as_seconds")]
    pub session_idle: Duration,

    /// A session ends this long after login, however much it is used.
    #[arg(long, env = "MRPT_SESSION_ABSOLUTE", default_value = "12h", value_parser = parse_duration)]
    #[serde(serialize_with = "as_seconds")]
    pub session_absolute: Duration,

    /// Largest accepted upload request (e.g. `50MiB`, `200KB`, `1048576`).
    #[arg(long, env = "MRPT_MAX_UPLOAD", default_value = "50MiB", value_parser = parse_size)]
    pub max_upload: u64,

    #[command(flatten)]
    #[serde(flatten)]
    pub uploads: crate::uploads::UploadConfig,

    #[command(flatten)]
    #[serde(flatten)]
    pub budgets: crate::budgets::Budgets,

    #[command(flatten)]
    #[serde(flatten)]
    pub sweep: crate::sweep::SweepConfig,

    #[command(flatten)]
    #[serde(flatten)]
    pub work: crate::work::WorkConfig,

    #[command(flatten)]
    #[serde(flatten)]
    pub address_limits: crate::client_limits::AddressLimits,

    /// Whether anyone may register an account.
    #[arg(long, env = "MRPT_REGISTRATION", value_enum, default_value_t = Registration::Open)]
    pub registration: Registration,

    /// Name of this instance in `X-Served-By` (default: the host name).
    #[arg(long, env = "MRPT_INSTANCE")]
    pub instance: Option<String>,

    /// Whether responses carry `X-Served-By: <instance>/<worker>`.
    #[arg(long, env = "MRPT_SERVED_BY", value_enum, default_value_t = Switch::On)]
    pub served_by: Switch,

    /// Where to POST a JSON alert on an isolation violation or a burst of
    /// forged session tokens (never with a token or user data in it).
    #[arg(long, env = "MRPT_ALERT_WEBHOOK")]
    #[serde(serialize_with = "redacted_url")]
    pub alert_webhook: Option<reqwest::Url>,

    /// Worker processes sharing the port (SO_REUSEPORT), restarted when they
    /// die. 1 serves from this process.
    #[arg(long, env = "MRPT_WORKERS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: u16,

    /// How long a stopping server waits for requests in flight (SIGTERM).
    #[arg(long, env = "MRPT_DRAIN_TIMEOUT", default_value = "30", value_parser = parse_duration)]
    #[serde(serialize_with = "as_seconds")]
    pub drain_timeout: Duration,

    /// Set by the supervisor for its workers: the resolved address to share.
    #[arg(long, hide = true)]
    #[serde(skip)]
    pub worker_bind: Option<SocketAddr>,
}

/// Where users, sessions and files are kept: shared by `mrpt serve` and
/// `mrpt admin`, so both always name the same stores the same way.
#[derive(Debug, Clone, Args, Serialize)]
pub struct StoreConfig {
    /// Folder for the embedded state store (SQLite) and the uploaded files.
    #[arg(long, env = "MRPT_DATA_DIR", default_value = "./mrpt-data")]
    pub data_dir: PathBuf,

    /// The state store: `sqlite` (a file under --data-dir), `redis://HOST:PORT/DB`
    /// or `rediss://…` (TLS) for one Redis server, or
    /// `redis+cluster://HOST1:PORT1,HOST2:PORT2,…` (`rediss+cluster://…` for TLS)
    /// for a Redis Cluster named by some of its nodes. A password goes before
    /// the hosts: `redis://:PASSWORD@HOST:PORT`.
    #[arg(long, env = "MRPT_STORE", default_value = "sqlite")]
    pub store: StoreChoice,

    /// Prefix of every Redis key, so that several deployments can share one Redis.
    #[arg(long, env = "MRPT_STORE_PREFIX", default_value = "mrpt", value_parser = crate::store::redis::parse_prefix)]
    pub store_prefix: String,

    /// The file store (uploads, large results): `dir` for the folder `files`
    /// under --data-dir, or `s3://BUCKET/PREFIX` for an S3-compatible bucket,
    /// reached with the standard AWS_* environment variables (credentials,
    /// region, AWS_ENDPOINT_URL and AWS_ALLOW_HTTP for a local server).
    #[arg(long, env = "MRPT_FILES", default_value = "dir")]
    pub files: FileStoreChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    On,
    Off,
}

impl ServeConfig {
    pub fn instance_name(&self) -> String {
        self.instance.clone().unwrap_or_else(host_name)
    }

    /// Cookies are `Secure` and `__Host-` prefixed only behind https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.as_deref().is_some_and(|url| url.to_ascii_lowercase().starts_with("https://"))
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "mrpt".to_owned())
}

/// Webhook URLs often carry a secret in their path or query: only the
/// scheme and host are printed.
fn redacted_url<S: serde::Serializer>(url: &Option<reqwest::Url>, serializer: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serializer.serialize_str(&format!("{}://{}/…", url.scheme(), url.host_str().unwrap_or_default())),
        None => serializer.serialize_none(),
    }
}

pub(crate) fn as_seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_secs())
}

/// A plain number is seconds; otherwise a human duration like `12h` or `30m`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let duration = match raw.trim().parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(raw.trim()).map_err(|err| err.to_string())?,
    };
    if duration.is_zero() {
        return Err("the duration must be positive".into());
    }
    Ok(duration)
}

/// A plain number is bytes; `KB`/`MB`/`GB` are powers of 1000 and
/// `KiB`/`MiB`/`GiB` powers of 1024.
pub fn parse_size(raw: &str) -> Result<u64, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let number: u64 = digits.parse().map_err(|_| format!("{raw:?} is not a size like 50MiB"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?}")),
    };
    number.checked_mul(factor).filter(|size| *size > 0).ok_or_else(|| format!("{raw:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_size("50MiB"), Ok(50 << 20));
        assert_eq!(parse_size("200KB"), Ok(200_000));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("0").is_err());
        assert_eq!(parse_duration("3600"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert!(parse_duration("0").is_err());
    }
}
