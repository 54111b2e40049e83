//! The file store in a local directory: the default when every worker
//! shares one disk.

use super::{FileKey, FilePrefix, FileStore, FileStoreError, FileStream, FileUpload};
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
