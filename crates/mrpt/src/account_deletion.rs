//! Deleting an account so that a failure at any step is finished later, never
//! left half-done: a tombstone first (login refused, every session ended),
//! then the files, then the state. The sweeper finishes any deletion that
//! stopped after its tombstone.

use crate::domain::{SessionId, UserId};
use crate::error::ApiError;
use crate::store::files::{FilePrefix, FileStoreError, SharedFileStore};
use crate::store::{SharedStateStore, StoreError, UserRecord};

/// The password hash of an account being deleted: no password matches it,
/// since it is not a hash at all.
const TOMBSTONE: &str = "!account-being-deleted";

#[derive(Debug, thiserror::Error)]
pub enum DeletionError {
    #[error(transparent)]
    State(#[from] StoreError),
    #[error(transparent)]
    Files(#[from] FileStoreError),
}

impl From<DeletionError> for ApiError {
    fn from(err: DeletionError) -> Self {
        match err {
            DeletionError::State(err) => err.into(),
            DeletionError::Files(err) => err.into(),
        }
    }
}

pub fn is_being_deleted(user: &UserRecord) -> bool {
    user.password_hash == TOMBSTONE
}

/// Deletes the account of `user`, whose session `current` asked for it.
pub async fn delete(state: &SharedStateStore, files: &SharedFileStore, user: UserId, current: SessionId) -> Result<(), DeletionError> {
    state.change_password(user, TOMBSTONE, current).await?;
    state.end_user_sessions(user, None).await?;
    finish(state, files, user).await
}

/// The steps after the tombstone: files, then the account itself, so that a
/// failure in between leaves the tombstone for the sweeper to find again.
pub async fn finish(state: &SharedStateStore, files: &SharedFileStore, user: UserId) -> Result<(), DeletionError> {
    files.delete_prefix(&FilePrefix::user(user)).await?;
    state.delete_user(user).await?;
    Ok(())
}
