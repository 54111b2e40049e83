//! Upload spooling: each file of an upload form goes to a private temporary
//! file as it arrives, then is read back as one memory-mapped slice.
//!
//! Why: the table reader needs the whole file as one `&[u8]`, the file store
//! must get only files that were received whole and checked, and neither a
//! large upload nor many at once may sit in memory. Spooling keeps the body
//! on local disk while it arrives (the size limit and the SHA-256 are taken
//! on the way), the map hands the parser a slice without a copy, and only a
//! checked file is then written to the file store, chunk by chunk from the
//! map. The spool files are unnamed (`O_TMPFILE`, or unlinked at once where
//! that is missing), so no other process can open them, and the kernel frees
//! them when the last handle closes, even if the server is killed.

use memmap2::Mmap;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// The folder where parts wait while they are checked.
#[derive(Clone)]
pub struct SpoolDir(Arc<PathBuf>);

impl SpoolDir {
    /// Creates the folder (or tightens an existing one) for this user only.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        crate::private_fs::create_dir(path)?;
        Ok(Self(Arc::new(path.to_path_buf())))
    }

    pub async fn start(&self) -> std::io::Result<SpoolWriter> {
        let dir = self.0.clone();
        let file = tokio::task::spawn_blocking(move || tempfile::tempfile_in(dir.as_path())).await??;
        Ok(SpoolWriter { file: tokio::fs::File::from_std(file), hasher: Sha256::new(), bytes: 0 })
    }
}

/// A part being received.
pub struct SpoolWriter {
    file: tokio::fs::File,
    hasher: Sha256,
    bytes: u64,
}

impl SpoolWriter {
    /// How much has arrived so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.file.write_all(chunk).await?;
        self.hasher.update(chunk);
        self.bytes += chunk.len() as u64;
        Ok(())
    }

    pub async fn finish(mut self) -> std::io::Result<Spooled> {
        self.file.flush().await?;
        let file = self.file.into_std().await;
        // Mapping a zero-length file is an error on Linux; an empty part
        // needs no map.
        let map = if self.bytes == 0 {
            None
        } else {
            // SAFETY: the file is unnamed and private to this process, which
            // no longer writes to it, so the mapped bytes cannot change.
            Some(tokio::task::spawn_blocking(move || unsafe { Mmap::map(&file) }).await??)
        };
        Ok(Spooled { map, sha256: hex::encode(self.hasher.finalize()) })
    }
}

/// A part received whole: its bytes (mapped from the spool) and their
/// SHA-256. Dropping it frees the spool file.
pub struct Spooled {
    map: Option<Mmap>,
    pub sha256: String,
}

impl Spooled {
    pub fn len(&self) -> u64 {
        self.as_ref().len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_none()
    }
}

impl AsRef<[u8]> for Spooled {
    fn as_ref(&self) -> &[u8] {
        self.map.as_deref().unwrap_or_default()
    }
}
