//! Typed access to the records a user owns, with the owner checked again on
//! every read (DESIGN.md rule 4): a record whose stored owner is not the
//! principal is never returned, and the violation is reported.

use super::{NewOwned, OwnedKind, SharedStateStore, StoreError, StoreResult};
use crate::domain::{Millis, UserId};
use crate::principal::Principal;
use crate::security::SecurityLog;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The largest stored record. Listings read whole records, so one huge
/// record (a table whose header is megabytes long) would slow every listing
/// of the store for everyone; its files have no such cap.
pub const MAX_RECORD_BYTES: usize = 2 << 20;

/// A record that belongs to one user and names that user in its body.
pub trait OwnedRecord: Serialize + DeserializeOwned {
    const KIND: OwnedKind;
    /// The type of its id, as it appears in paths.
    type Id: std::str::FromStr + std::fmt::Display + Send;
    fn id(&self) -> String;
    fn owner(&self) -> UserId;
    fn created_at(&self) -> Millis;
    /// The record this one belongs to; deleting that deletes this.
    fn parent(&self) -> Option<String> {
        None
    }
}

#[derive(Clone)]
pub struct OwnedRecords {
    store: SharedStateStore,
    security: SecurityLog,
}

impl OwnedRecords {
    pub fn new(store: SharedStateStore, security: SecurityLog) -> Self {
        Self { store, security }
    }

    pub async fn insert<R: OwnedRecord>(&self, principal: &Principal, record: &R) -> StoreResult<()> {
        // Records are built from the principal; anything else is a bug here.
        assert_eq!(record.owner(), principal.user_id(), "a record is inserted for its own owner");
        let body = serde_json::to_vec(record).map_err(|err| StoreError::Corrupt(err.to_string()))?;
        if body.len() > MAX_RECORD_BYTES {
            return Err(StoreError::RecordTooLarge { max: MAX_RECORD_BYTES as u64 });
        }
        let new = NewOwned {
            kind: R::KIND,
            id: record.id(),
            parent: record.parent(),
            created_at: record.created_at(),
            body: &body,
        };
        self.store.insert_owned(principal, new).await
    }

    pub async fn get<R: OwnedRecord>(&self, principal: &Principal, id: &str) -> StoreResult<Option<R>> {
        match self.store.get_owned(principal, R::KIND, id).await? {
            Some(body) => self.checked(principal, &body).await,
            None => Ok(None),
        }
    }

    pub async fn list<R: OwnedRecord>(&self, principal: &Principal) -> StoreResult<Vec<R>> {
        let mut records = Vec::new();
        for body in self.store.list_owned(principal, R::KIND).await? {
            if let Some(record) = self.checked(principal, &body).await? {
                records.push(record);
            }
        }
        Ok(records)
    }

    /// Replaces `current` with `next` only while the stored record is still
    /// `current`: of requests racing to change one record, exactly one
    /// wins. Both serialise the same way they were read, field by field.
    pub async fn replace<R: OwnedRecord>(&self, principal: &Principal, current: &R, next: &R) -> StoreResult<bool> {
        assert_eq!(next.owner(), principal.user_id(), "a record is replaced by its own owner");
        let encode = |record: &R| serde_json::to_vec(record).map_err(|err| StoreError::Corrupt(err.to_string()));
        let (expected, body) = (encode(current)?, encode(next)?);
        if body.len() > MAX_RECORD_BYTES {
            return Err(StoreError::RecordTooLarge { max: MAX_RECORD_BYTES as u64 });
        }
        self.store.replace_owned(principal, R::KIND, &current.id(), &expected, &body).await
    }

    /// Deletes one of the principal's records (and its descendants) and
    /// gives back what was deleted, `None` when there was nothing to delete.
    pub async fn delete<R: OwnedRecord>(&self, principal: &Principal, id: &str) -> StoreResult<Option<R>> {
        // Reading first applies the owner check to deletes too.
        let Some(record) = self.get::<R>(principal, id).await? else {
            return Ok(None);
        };
        Ok(self.store.delete_owned(principal, R::KIND, id).await?.then_some(record))
    }

    /// Reads a stored body as the principal's record; one that names
    /// another owner is withheld and reported.
    pub async fn checked<R: OwnedRecord>(&self, principal: &Principal, body: &[u8]) -> StoreResult<Option<R>> {
        let record: R = serde_json::from_slice(body).map_err(|err| StoreError::Corrupt(err.to_string()))?;
        if record.owner() != principal.user_id() {
            let what = format!("{} {}", R::KIND.as_str(), record.id());
            self.security.isolation_violation(principal, &what).await;
            return Ok(None);
        }
        Ok(Some(record))
    }
}
