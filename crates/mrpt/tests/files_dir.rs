//! The file store behaviour suite against the directory store.

mod files_suite;

use files_suite::Fixture;
use mrpt::store::files::dir::DirFileStore;
use mrpt::store::files::SharedFileStore;
use std::path::Path;
use std::sync::Arc;

struct InDirectory {
    store: SharedFileStore,
    dir: tempfile::TempDir,
}

#[async_trait::async_trait]
impl Fixture for InDirectory {
    fn store(&self) -> SharedFileStore {
        self.store.clone()
    }

    async fn everything_stored(&self) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    out.push(path.strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
        let mut files = Vec::new();
        walk(self.dir.path(), self.dir.path(), &mut files);
        files
    }
}

async fn in_directory() -> InDirectory {
    let dir = tempfile::tempdir().unwrap();
    let store = DirFileStore::open(dir.path()).await.unwrap();
    InDirectory { store: Arc::new(store), dir }
}

files_suite!(in_directory());
