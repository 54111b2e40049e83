//! Folders and files that only the server's own user may open: on a shared
//! host, stored tables and the state database are nobody else's business.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `path` and its missing parents as 0700, and tightens `path`
/// itself if it already existed more open.
pub fn create_dir(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}

/// Creates `path` as an empty 0600 file when it is missing, and tightens it
/// when it exists. Files SQLite adds beside a database (its WAL and shared
/// memory) take the database file's mode.
pub fn ensure_file(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new().append(true).create(true).mode(0o600).open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

/// Options that create a new 0600 file for writing.
pub fn new_file_options() -> tokio::fs::OpenOptions {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true).mode(0o600);
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn folders_and_files_are_private_even_when_they_existed_open() {
        let temp = tempfile::tempdir().unwrap();
        let nested = temp.path().join("a/b");
        create_dir(&nested).unwrap();
        assert_eq!((mode(&temp.path().join("a")), mode(&nested)), (0o700, 0o700));
        std::fs::set_permissions(&nested, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_dir(&nested).unwrap();
        assert_eq!(mode(&nested), 0o700);

        let file = nested.join("state.sqlite3");
        std::fs::write(&file, b"kept").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        ensure_file(&file).unwrap();
        assert_eq!((mode(&file), std::fs::read(&file).unwrap()), (0o600, b"kept".to_vec()));
    }
}
