//! The last step of storing a record whose files are already written: its
//! insert. After any fault a user must see the whole thing or nothing.
//!
//! A refused insert (the session ended, the parent was deleted) certainly
//! stored nothing, so the files go at once. A store that did not answer may
//! still apply the insert later (a paused Redis runs the queued command when
//! it resumes): removing the files then would leave a record without them.
//! They are kept, and `mrpt admin sweep` removes them once it is past doubt
//! that no record came.

use super::AppState;
use crate::error::ApiError;
use crate::principal::Principal;
use crate::store::files::{FileKey, FilePrefix};
use crate::store::owned::OwnedRecord;
use crate::store::StoreError;

/// The files a record stands for.
pub(super) enum Written<'a> {
    File(&'a FileKey),
    Folder(&'a FilePrefix),
}

/// Inserts `record` after its files, as described above.
pub(super) async fn insert_after_files<R: OwnedRecord>(
    app: &AppState,
    principal: &Principal,
    record: &R,
    written: Written<'_>,
) -> Result<(), ApiError> {
    let Err(err) = app.owned.insert(principal, record).await else { return Ok(()) };
    if matches!(err, StoreError::Unavailable(_)) {
        tracing::warn!(request_id = principal.request_id(), "an insert's outcome is unknown; its files stay for the sweeper");
    } else {
        remove(app, written).await;
    }
    Err(err.into())
}

/// Removes files that no record will ever stand for.
pub(super) async fn remove(app: &AppState, written: Written<'_>) {
    let removed = match written {
        Written::File(key) => app.files.delete(key).await,
        Written::Folder(prefix) => app.files.delete_prefix(prefix).await,
    };
    if let Err(err) = removed {
        tracing::error!(error = %err.0, "could not remove the files of a record that was not stored; the sweeper will");
    }
}
