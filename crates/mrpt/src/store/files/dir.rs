//! The file store in a local directory: the default when every worker
//! shares one disk.

use super::{FileKey, FilePrefix, FileStore, FileStoreError, FileStream, FileUpload, ListedFile};
use crate::domain::Millis;
use async_trait::async_trait;
use futures::TryStreamExt;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// How much of a file a read takes at a time.
const READ_CHUNK: usize = 256 << 10;

/// Files in a local directory: written to a temporary name, synced, then
/// renamed into place, so a reader sees a whole file or none.
pub struct DirFileStore {
    root: PathBuf,
}

impl DirFileStore {
    pub async fn open(root: &Path) -> Result<Self, FileStoreError> {
        let partial = root.join(".partial");
        tokio::task::spawn_blocking(move || crate::private_fs::create_dir(&partial)).await.map_err(std::io::Error::other)??;
        Ok(Self { root: root.to_path_buf() })
    }

    fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// Every file under `folder` (of the root), with keys relative to the root.
    async fn walk(&self, folder: &str) -> Result<Vec<ListedFile>, FileStoreError> {
        let root = self.root.clone();
        let start = self.path_of(folder);
        let walked = tokio::task::spawn_blocking(move || {
            let mut files = Vec::new();
            let mut pending = vec![start];
            while let Some(dir) = pending.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                    entries => entries?,
                };
                for entry in entries {
                    let entry = entry?;
                    let metadata = entry.metadata()?;
                    if metadata.is_dir() {
                        pending.push(entry.path());
                        continue;
                    }
                    let path = entry.path();
                    let key = path.strip_prefix(&root).ok().and_then(|key| key.to_str()).map(str::to_owned);
                    let written = metadata.modified()?.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                    if let Some(key) = key {
                        files.push(ListedFile::new(key, Millis(i64::try_from(written.as_millis()).unwrap_or(i64::MAX))));
                    }
                }
            }
            Ok::<_, std::io::Error>(files)
        });
        Ok(walked.await.map_err(std::io::Error::other)??)
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
        let file = crate::private_fs::new_file_options().open(&partial).await?;
        Ok(Box::new(DirUpload { file: Some(file), partial, target: self.path_of(key.as_str()) }))
    }

    async fn open(&self, key: &FileKey) -> Result<Option<FileStream>, FileStoreError> {
        let file = match tokio::fs::File::open(self.path_of(key.as_str())).await {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        // Files are replaced by rename, never changed in place: the length
        // read now is the length streamed.
        let bytes = file.metadata().await?.len();
        let chunks = tokio_util::io::ReaderStream::with_capacity(file, READ_CHUNK).map_err(FileStoreError::from);
        Ok(Some(FileStream { bytes, chunks: Box::pin(chunks) }))
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

    async fn list(&self, prefix: &FilePrefix) -> Result<Vec<ListedFile>, FileStoreError> {
        self.walk(prefix.as_str()).await
    }

    async fn unfinished(&self) -> Result<Vec<ListedFile>, FileStoreError> {
        self.walk(".partial").await
    }

    async fn delete_listed(&self, file: &ListedFile) -> Result<(), FileStoreError> {
        match tokio::fs::remove_file(self.path_of(file.key())).await {
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
        tokio::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).await?;
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
