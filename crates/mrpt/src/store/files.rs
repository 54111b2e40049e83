//! The file store: uploaded tables and boundaries, and large results. Keys
//! are derived from the principal and server-made ids only, never from a
//! client's file name, so they cannot escape the owner's namespace.

pub mod dir;
pub mod s3;

use crate::domain::{AnalysisId, DatasetId, PieceId, PlanId, UploadId, UserId};
use crate::principal::Principal;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::TryStreamExt;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

pub type SharedFileStore = Arc<dyn FileStore>;

/// Which file store to use, as given to `--files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStoreChoice {
    /// The folder `files` under the data directory.
    Directory,
    S3(s3::S3Location),
}

impl std::str::FromStr for FileStoreChoice {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "dir" => Ok(Self::Directory),
            _ => s3::S3Location::parse(raw).map(Self::S3),
        }
    }
}

impl std::fmt::Display for FileStoreChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Directory => f.write_str("dir"),
            Self::S3(location) => location.fmt(f),
        }
    }
}

/// Printed in the start-up configuration: a location never holds a secret,
/// since credentials come only from the environment.
impl Serialize for FileStoreChoice {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl FileStoreChoice {
    pub async fn open(&self, data_dir: &Path) -> Result<SharedFileStore, FileStoreError> {
        Ok(match self {
            Self::Directory => Arc::new(dir::DirFileStore::open(&data_dir.join("files")).await?),
            Self::S3(location) => Arc::new(s3::S3FileStore::open(location).await?),
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the file store is unavailable: {0}")]
pub struct FileStoreError(pub String);

impl From<std::io::Error> for FileStoreError {
    fn from(err: std::io::Error) -> Self {
        Self(err.to_string())
    }
}

/// The location of one file, made only from an owner and server-made ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileKey(String);

/// Everything stored under one owner, or under one of their datasets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePrefix(String);

/// What a dataset keeps in the file store.
#[derive(Debug, Clone, Copy)]
pub enum DatasetFile {
    Table,
    Boundaries,
    /// The checked table in its compact form (`mrpt_analysis::compact`).
    ParsedTable,
    /// The checked boundaries in their compact form.
    ParsedBoundaries,
}

impl FileKey {
    pub fn dataset(principal: &Principal, dataset: DatasetId, file: DatasetFile) -> Self {
        let name = match file {
            DatasetFile::Table => "table",
            DatasetFile::Boundaries => "boundaries",
            DatasetFile::ParsedTable => "table.parsed",
            DatasetFile::ParsedBoundaries => "boundaries.parsed",
        };
        Self(format!("{}{name}", FilePrefix::dataset(principal, dataset).0))
    }

    /// The full result of an analysis; its metadata is in the state store.
    pub fn analysis_result(principal: &Principal, dataset: DatasetId, analysis: AnalysisId) -> Self {
        Self(format!("{}result.json", FilePrefix::analysis(principal, dataset, analysis).0))
    }

    pub fn plan(principal: &Principal, dataset: DatasetId, analysis: AnalysisId, plan: PlanId) -> Self {
        Self(format!("{}plans/{}.json", FilePrefix::analysis(principal, dataset, analysis).0, segment(plan.as_uuid())))
    }

    /// One piece of a resumable upload, as one PATCH received it.
    pub fn upload_piece(principal: &Principal, upload: UploadId, piece: PieceId) -> Self {
        Self(format!("{}{}", FilePrefix::upload(principal, upload).0, segment(piece.as_uuid())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FilePrefix {
    /// The pieces of one resumable upload.
    pub fn upload(principal: &Principal, upload: UploadId) -> Self {
        Self(format!("{}uploads/{}/", Self::user(principal.user_id()).0, segment(upload.as_uuid())))
    }

    /// An analysis and its plans; a dataset's prefix contains it.
    pub fn analysis(principal: &Principal, dataset: DatasetId, analysis: AnalysisId) -> Self {
        Self(format!("{}analyses/{}/", Self::dataset(principal, dataset).0, segment(analysis.as_uuid())))
    }

    pub fn dataset(principal: &Principal, dataset: DatasetId) -> Self {
        Self(format!("{}datasets/{}/", Self::user(principal.user_id()).0, segment(dataset.as_uuid())))
    }

    /// Every user's files; only the sweeper looks at them all.
    pub fn all_users() -> Self {
        Self("users/".to_owned())
    }

    /// All of a user's files; used when the account is deleted.
    pub fn user(user: UserId) -> Self {
        Self(format!("users/{}/", segment(user.as_uuid())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An id as one segment of a key: its 16 bytes in base64url (22
/// characters rather than 36), so that a plan's key stays near 130 bytes.
/// File-system-backed S3 servers name their metadata after the whole key
/// encoded again, and the file name of that must stay within 255 bytes.
pub fn segment(id: &uuid::Uuid) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// A stored file as a listing shows it, for the sweeper: its key, which
/// only a listing can make, and when it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFile {
    key: String,
    pub written_at: crate::domain::Millis,
}

impl ListedFile {
    pub(crate) fn new(key: String, written_at: crate::domain::Millis) -> Self {
        Self { key, written_at }
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

/// A stored file being read, chunk by chunk, with its length known first.
pub struct FileStream {
    pub bytes: u64,
    pub chunks: BoxStream<'static, Result<Bytes, FileStoreError>>,
}

#[async_trait]
pub trait FileStore: Send + Sync {
    async fn ping(&self) -> Result<(), FileStoreError>;
    /// Starts writing a file; it becomes visible only when finished.
    async fn begin(&self, key: &FileKey) -> Result<Box<dyn FileUpload>, FileStoreError>;
    /// Opens a file to stream it; `None` when there is none.
    async fn open(&self, key: &FileKey) -> Result<Option<FileStream>, FileStoreError>;

    /// A whole file in memory, for readers that need it as one slice.
    async fn read(&self, key: &FileKey) -> Result<Option<Bytes>, FileStoreError> {
        let Some(file) = self.open(key).await? else { return Ok(None) };
        let capacity = usize::try_from(file.bytes).unwrap_or(0);
        let whole = file
            .chunks
            .try_fold(BytesMut::with_capacity(capacity), |mut whole, chunk| async move {
                whole.extend_from_slice(&chunk);
                Ok(whole)
            })
            .await?;
        Ok(Some(whole.freeze()))
    }

    /// Deletes one file; a file that is not there is already deleted.
    async fn delete(&self, key: &FileKey) -> Result<(), FileStoreError>;
    async fn delete_prefix(&self, prefix: &FilePrefix) -> Result<(), FileStoreError>;

    /// Every finished file under `prefix`.
    async fn list(&self, prefix: &FilePrefix) -> Result<Vec<ListedFile>, FileStoreError>;
    /// Files that writers killed midway left unfinished. In a bucket these
    /// are incomplete multipart uploads, which the bucket's own lifecycle
    /// rule removes, so none are listed.
    async fn unfinished(&self) -> Result<Vec<ListedFile>, FileStoreError>;
    /// Deletes a file a listing gave.
    async fn delete_listed(&self, file: &ListedFile) -> Result<(), FileStoreError>;
}

/// A file being written. Dropped unfinished, it leaves nothing behind.
#[async_trait]
pub trait FileUpload: Send {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), FileStoreError>;
    async fn finish(self: Box<Self>) -> Result<(), FileStoreError>;
}

