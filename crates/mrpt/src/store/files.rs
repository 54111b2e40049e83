//! The file store: uploaded tables and boundaries, and large results. Keys
//! are derived from the principal and server-made ids only, never from a
//! client's file name, so they cannot escape the owner's namespace.

use crate::domain::{AnalysisId, DatasetId, PlanId, UserId};
use crate::principal::Principal;
use async_trait::async_trait;
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

pub type SharedFileStore = Arc<dyn FileStore>;

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
}

impl FileKey {
    pub fn dataset(principal: &Principal, dataset: DatasetId, file: DatasetFile) -> Self {
        let name = match file {
            DatasetFile::Table => "table",
            DatasetFile::Boundaries => "boundaries",
        };
        Self(format!("{}{name}", FilePrefix::dataset(principal, dataset).0))
    }

    /// The full result of an analysis; its metadata is in the state store.
    pub fn analysis_result(principal: &Principal, dataset: DatasetId, analysis: AnalysisId) -> Self {
        Self(format!("{}result.json", FilePrefix::analysis(principal, dataset, analysis).0))
    }

    pub fn plan(principal: &Principal, dataset: DatasetId, analysis: AnalysisId, plan: PlanId) -> Self {
        Self(format!("{}plans/{plan}.json", FilePrefix::analysis(principal, dataset, analysis).0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FilePrefix {
    /// An analysis and its plans; a dataset's prefix contains it.
    pub fn analysis(principal: &Principal, dataset: DatasetId, analysis: AnalysisId) -> Self {
        Self(format!("{}analyses/{analysis}/", Self::dataset(principal, dataset).0))
    }

    pub fn dataset(principal: &Principal, dataset: DatasetId) -> Self {
        Self(format!("{}datasets/{dataset}/", Self::user(principal.user_id()).0))
    }

    /// All of a user's files; used when the account is deleted.
    pub fn user(user: UserId) -> Self {
        Self(format!("users/{user}/"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[async_trait]
pub trait FileStore: Send + Sync {
    async fn ping(&self) -> Result<(), FileStoreError>;
    /// Starts writing a file; it becomes visible only when finished.
    async fn begin(&self, key: &FileKey) -> Result<Box<dyn FileUpload>, FileStoreError>;
    async fn read(&self, key: &FileKey) -> Result<Option<Bytes>, FileStoreError>;
    /// Deletes one file; a file that is not there is already deleted.
    async fn delete(&self, key: &FileKey) -> Result<(), FileStoreError>;
    async fn delete_prefix(&self, prefix: &FilePrefix) -> Result<(), FileStoreError>;
}

/// A file being written. Dropped unfinished, it leaves nothing behind.
#[async_trait]
pub trait FileUpload: Send {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), FileStoreError>;
    async fn finish(self: Box<Self>) -> Result<(), FileStoreError>;
}

/// Files in a local directory: written to a temporary name, synced, then
/// renamed into place, so a reader sees a whole file or none.
pub struct DirFileStore {
    root: PathBuf,
}

impl DirFileStore {
    pub async fn open(root: &Path) -> Result<Self, FileStoreError> {
        tokio::fs::create_dir_all(root.join(".partial")).await?;
        Ok(Self { root: root.to_path_buf() })
    }

    fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

#[async_trait]
impl FileStore for DirFileStore {
    async fn ping(&self) -> Result<(), FileStoreError> {
        tokio::fs::metadata(self.root.join(".partial")).await?;
        Ok(())
    }

    async fn begin(&self, key: &FileKey) -> Result<Box<dyn FileUpload>, FileStoreError> {
        let partial = self.root.join(".partial").join(format!("{}.part", uuid::Uuid::new_v4()));
        let file = tokio::fs::File::create(&partial).await?;
        Ok(Box::new(DirUpload { file: Some(file), partial, target: self.path_of(key.as_str()) }))
    }

    async fn read(&self, key: &FileKey) -> Result<Option<Bytes>, FileStoreError> {
        match tokio::fs::read(self.path_of(key.as_str())).await {
            Ok(bytes) => Ok(Some(bytes.into())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    async fn delete(&self, key: &FileKey) -> Result<(), FileStoreError> {
        match tokio::fs::remove_file(self.path_of(key.as_str())).await {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err.into()),
            _ => Ok(()),
        }
    }

    async fn delete_prefix(&self, prefix: &FilePrefix) -> Result<(), FileStoreError> {
        match tokio::fs::remove_dir_all(self.path_of(prefix.as_str())).await {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err.into()),
            _ => Ok(()),
        }
    }
}

struct DirUpload {
    file: Option<tokio::fs::File>,
    partial: PathBuf,
    target: PathBuf,
}

#[async_trait]
impl FileUpload for DirUpload {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), FileStoreError> {
        let file = self.file.as_mut().expect("an unfinished upload has its file");
        file.write_all(chunk).await?;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<(), FileStoreError> {
        let file = self.file.take().expect("an unfinished upload has its file");
        file.sync_all().await?;
        drop(file);
        let parent = self.target.parent().expect("file keys have a folder");
        tokio::fs::create_dir_all(parent).await?;
        tokio::fs::rename(&self.partial, &self.target).await?;
        // The rename is durable only once the folder itself is synced.
        tokio::fs::File::open(parent).await?.sync_all().await?;
        self.partial = PathBuf::new();
        Ok(())
    }
}

impl Drop for DirUpload {
    fn drop(&mut self) {
        if !self.partial.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}
