//! The file store in an S3-compatible bucket: for machines that do not share
//! a disk. Object keys are the bucket prefix followed by the [`FileKey`].

use super::{FileKey, FilePrefix, FileStore, FileStoreError, FileStream, FileUpload, ListedFile};
use crate::domain::Millis;
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use humantime::format_duration;
use object_store::aws::AmazonS3ConfigKey::Client;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientConfigKey, MultipartUpload, ObjectStore, PutPayload, RetryConfig};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Size of each part of a multipart upload; a file no larger than one part
/// is sent in a single PUT. (S3 wants parts of at least 5 MiB.)
pub const PART_SIZE: usize = 8 << 20;
/// Parts sent at once by one upload: enough to keep the link busy while
/// the next part is gathered, few enough to bound memory to a few parts.
const PARTS_IN_FLIGHT: usize = 2;

/// An unreachable bucket must fail a call within a few seconds, not after
/// the client's default retries that last minutes (API.md: 503 at once).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Bounds calls that move no file body (ping, listing, deleting, opening a
/// download) including their retries.
const CALL_TIMEOUT: Duration = Duration::from_secs(4);
/// One request carrying a part: 8 MiB needs a link of at least 0.4 MB/s.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(20);

/// A bucket and a key prefix, as given to `--files s3://BUCKET/PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    bucket: String,
    /// Empty, or path segments each followed by `/`.
    prefix: String,
}

impl S3Location {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let rest = raw
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{raw:?} is neither `dir` nor `s3://BUCKET/PREFIX`"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // S3 bucket naming rules; they also keep credentials, ports and
        // queries out of the location, which is printed at start-up.
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !bucket_ok {
            return Err(format!("{bucket:?} is not a bucket name (3 to 63 of a-z, 0-9, '.' and '-')"));
        }
        let prefix = prefix.trim_end_matches('/');
        let segment_ok = |segment: &str| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        if !prefix.is_empty() && !prefix.split('/').all(segment_ok) {
            return Err(format!("{prefix:?} is not a key prefix (segments of A-Z, a-z, 0-9, '-', '_' and '.')"));
        }
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        Ok(Self { bucket: bucket.to_owned(), prefix })
    }

    fn object(&self, key: &str) -> ObjectPath {
        ObjectPath::from(format!("{}{key}", self.prefix))
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

impl From<object_store::Error> for FileStoreError {
    fn from(err: object_store::Error) -> Self {
        Self(err.to_string())
    }
}

pub struct S3FileStore {
    store: Arc<AmazonS3>,
    location: S3Location,
}

impl S3FileStore {
    /// Connects with the standard AWS_* environment variables and checks
    /// that the bucket answers.
    pub async fn open(location: &S3Location) -> Result<Self, FileStoreError> {
        Self::open_with(location, AmazonS3Builder::from_env()).await
    }

    /// Connects with the given settings (credentials, region, endpoint);
    /// the bucket, addressing, timeouts and retries are always this store's.
    pub async fn open_with(location: &S3Location, settings: AmazonS3Builder) -> Result<Self, FileStoreError> {
        let store = settings
            .with_bucket_name(&location.bucket)
            // Path-style requests, which every S3-compatible server accepts.
            .with_virtual_hosted_style_request(false)
            // Set key by key: the settings' own client options (such as
            // AWS_ALLOW_HTTP) must stay.
            .with_config(Client(ClientConfigKey::ConnectTimeout), format_duration(CONNECT_TIMEOUT).to_string())
            .with_config(Client(ClientConfigKey::Timeout), format_duration(TRANSFER_TIMEOUT).to_string())
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: CALL_TIMEOUT,
                backoff: BackoffConfig { init_backoff: Duration::from_millis(100), max_backoff: Duration::from_secs(1), base: 2.0 },
            })
            .build()?;
        let store = Self { store: Arc::new(store), location: location.clone() };
        store.ping().await?;
        Ok(store)
    }
}

/// Fails a call that has not answered within [`CALL_TIMEOUT`].
async fn bounded<T>(call: impl Future<Output = object_store::Result<T>>) -> object_store::Result<T> {
    tokio::time::timeout(CALL_TIMEOUT, call).await.unwrap_or_else(|_| {
        Err(object_store::Error::Generic { store: "S3", source: format!("no answer within {CALL_TIMEOUT:?}").into() })
    })
}

#[async_trait]
impl FileStore for S3FileStore {
    async fn ping(&self) -> Result<(), FileStoreError> {
        // A listing, unlike a HEAD, fails when the bucket itself is missing.
        let prefix = self.location.object("");
        bounded(self.store.list_with_delimiter(Some(&prefix))).await?;
        Ok(())
    }

    async fn begin(&self, key: &FileKey) -> Result<Box<dyn FileUpload>, FileStoreError> {
        Ok(Box::new(S3Upload {
            store: self.store.clone(),
            path: self.location.object(key.as_str()),
            buffer: Vec::new(),
            multipart: None,
            parts: JoinSet::new(),
        }))
    }

    async fn open(&self, key: &FileKey) -> Result<Option<FileStream>, FileStoreError> {
        let found = match bounded(self.store.get(&self.location.object(key.as_str()))).await {
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            answer => answer?,
        };
        let bytes = found.meta.size;
        Ok(Some(FileStream { bytes, chunks: found.into_stream().map_err(FileStoreError::from).boxed() }))
    }

    async fn delete(&self, key: &FileKey) -> Result<(), FileStoreError> {
        // S3 answers a delete of a missing object with success.
        Ok(bounded(self.store.delete(&self.location.object(key.as_str()))).await?)
    }

    async fn delete_prefix(&self, prefix: &FilePrefix) -> Result<(), FileStoreError> {
        let prefix = self.location.object(prefix.as_str());
        let listed = self.store.list(Some(&prefix)).map_ok(|object| object.location).boxed();
        bounded(self.store.delete_stream(listed).try_collect::<Vec<_>>()).await?;
        Ok(())
    }

    async fn list(&self, prefix: &FilePrefix) -> Result<Vec<ListedFile>, FileStoreError> {
        let objects: Vec<_> = bounded(self.store.list(Some(&self.location.object(prefix.as_str()))).try_collect()).await?;
        Ok(objects
            .into_iter()
            .filter_map(|object| {
                let key = object.location.as_ref().strip_prefix(self.location.prefix.as_str())?.to_owned();
                Some(ListedFile::new(key, Millis(object.last_modified.timestamp_millis())))
            })
            .collect())
    }

    async fn unfinished(&self) -> Result<Vec<ListedFile>, FileStoreError> {
        Ok(Vec::new())
    }

    async fn delete_listed(&self, file: &ListedFile) -> Result<(), FileStoreError> {
        Ok(bounded(self.store.delete(&self.location.object(file.key()))).await?)
    }
}

/// A file being written: gathered into one part, sent with a single PUT
/// when it ends there, else as a multipart upload that only `finish` makes
/// visible.
struct S3Upload {
    store: Arc<AmazonS3>,
    path: ObjectPath,
    buffer: Vec<u8>,
    /// Started once the file outgrows one part; `None` again once complete.
    multipart: Option<Box<dyn MultipartUpload>>,
    parts: JoinSet<object_store::Result<()>>,
}

impl S3Upload {
    async fn send_part(&mut self) -> Result<(), FileStoreError> {
        let upload = match &mut self.multipart {
            Some(upload) => upload,
            None => self.multipart.insert(bounded(self.store.put_multipart(&self.path)).await?),
        };
        while self.parts.len() >= PARTS_IN_FLIGHT {
            settled(self.parts.join_next().await)?;
        }
        let part = std::mem::replace(&mut self.buffer, Vec::with_capacity(PART_SIZE));
        self.parts.spawn(upload.put_part(PutPayload::from(part)));
        Ok(())
    }
}

/// The outcome of one part sent on its own task.
fn settled(joined: Option<Result<object_store::Result<()>, tokio::task::JoinError>>) -> Result<(), FileStoreError> {
    match joined {
        Some(Ok(sent)) => Ok(sent?),
        Some(Err(err)) => Err(FileStoreError(format!("sending a part failed: {err}"))),
        None => Ok(()),
    }
}

#[async_trait]
impl FileUpload for S3Upload {
    async fn write(&mut self, mut chunk: &[u8]) -> Result<(), FileStoreError> {
        while !chunk.is_empty() {
            let (now, later) = chunk.split_at(chunk.len().min(PART_SIZE - self.buffer.len()));
            self.buffer.extend_from_slice(now);
            chunk = later;
            if self.buffer.len() == PART_SIZE {
                self.send_part().await?;
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<(), FileStoreError> {
        if self.multipart.is_none() {
            let whole = PutPayload::from(std::mem::take(&mut self.buffer));
            self.store.put(&self.path, whole).await?;
            return Ok(());
        }
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        while !self.parts.is_empty() {
            settled(self.parts.join_next().await)?;
        }
        if let Some(upload) = self.multipart.as_mut() {
            upload.complete().await?;
        }
        self.multipart = None;
        Ok(())
    }
}

/// An unfinished multipart upload is aborted, so that its parts do not stay
/// in the bucket. Drop cannot wait, so the abort runs on its own task; if
/// the process stops first, the bucket's lifecycle rule for incomplete
/// multipart uploads is the safety net.
impl Drop for S3Upload {
    fn drop(&mut self) {
        let Some(mut upload) = self.multipart.take() else { return };
        let mut parts = std::mem::take(&mut self.parts);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(key = %self.path, "an unfinished multipart upload is left to the bucket's lifecycle rule");
            return;
        };
        let key = self.path.clone();
        runtime.spawn(async move {
            // Parts still being sent would land after the abort and keep the
            // upload alive; stop them first.
            parts.shutdown().await;
            if let Err(err) = upload.abort().await {
                tracing::warn!(%key, error = %err, "could not abort an unfinished multipart upload");
            }
        });
    }
}
