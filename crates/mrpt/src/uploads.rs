//! Resumable uploads as the state store keeps them: an owned record with the
//! length, the offset reached and the pieces received so far, each piece a
//! file in the file store. Any worker of any instance can take the next
//! PATCH, because nothing about an upload lives in a worker.

use crate::config::parse_duration;
use crate::domain::{Millis, PieceId, UploadId, UserId};
use crate::principal::Principal;
use crate::store::owned::OwnedRecord;
use crate::store::OwnedKind;
use clap::Args;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Most pieces one upload may be made of: each PATCH (or each cut
/// connection) adds one, and the record lists them all.
pub const MAX_PIECES: usize = 1000;

/// Flags of `mrpt serve` for resumable uploads.
#[derive(Debug, Clone, Args, Serialize)]
pub struct UploadConfig {
    /// A resumable upload not yet turned into a dataset expires this long
    /// after its last PATCH (e.g. `24h`), and its pieces are removed.
    #[arg(long, env = "MRPT_UPLOAD_EXPIRY", default_value = "24h", value_parser = parse_duration)]
    #[serde(serialize_with = "crate::config::as_seconds")]
    pub upload_expiry: Duration,

    /// How many resumable uploads not yet turned into a dataset one user may
    /// have at once (429 beyond).
    #[arg(long, env = "MRPT_MAX_OPEN_UPLOADS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_open_uploads: u32,
}

/// What a finished upload becomes: the ward table or its boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadRole {
    File,
    Boundaries,
}

impl UploadRole {
    pub fn parse(raw: Option<&str>) -> Option<Self> {
        match raw {
            None | Some("file") => Some(Self::File),
            Some("boundaries") => Some(Self::Boundaries),
            Some(_) => None,
        }
    }
}

/// One PATCH's bytes, stored as one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piece {
    pub id: PieceId,
    pub bytes: u64,
}

/// A resumable upload. It names its owner so that every read can check it
/// again; the pieces are in order and add up to `offset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub id: UploadId,
    pub owner_id: UserId,
    pub role: UploadRole,
    pub filename: String,
    pub name: Option<String>,
    /// `Upload-Metadata` as the client sent it, echoed on HEAD.
    pub metadata: String,
    pub length: u64,
    pub offset: u64,
    pub pieces: Vec<Piece>,
    pub created_at: Millis,
    pub expires_at: Millis,
}

impl OwnedRecord for UploadRecord {
    const KIND: OwnedKind = OwnedKind::Upload;
    type Id = UploadId;

    fn id(&self) -> String {
        self.id.to_string()
    }

    fn owner(&self) -> UserId {
        self.owner_id
    }

    fn created_at(&self) -> Millis {
        self.created_at
    }
}

/// What a creation request asked for, already checked.
pub struct NewUpload {
    pub role: UploadRole,
    pub filename: String,
    pub name: Option<String>,
    pub metadata: String,
    pub length: u64,
}

impl UploadRecord {
    pub fn new(principal: &Principal, new: NewUpload, expiry: Duration) -> Self {
        let now = Millis::now();
        Self {
            id: UploadId::random(),
            owner_id: principal.user_id(),
            role: new.role,
            filename: new.filename,
            name: new.name,
            metadata: new.metadata,
            length: new.length,
            offset: 0,
            pieces: Vec::new(),
            created_at: now,
            expires_at: now.plus(expiry),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.offset == self.length
    }

    /// An upload not turned into a dataset in time expires, finished or
    /// not, so that no user can keep bytes in the store without a dataset.
    pub fn is_expired_at(&self, now: Millis) -> bool {
        now >= self.expires_at
    }

    /// Bytes still to come.
    pub fn remaining(&self) -> u64 {
        self.length - self.offset
    }

    /// The record once `piece` is appended at the current offset; the
    /// expiry slides from this PATCH.
    pub fn appended(&self, piece: Piece, expiry: Duration) -> Self {
        let mut next = self.clone();
        next.offset += piece.bytes;
        next.pieces.push(piece);
        next.expires_at = Millis::now().plus(expiry);
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(length: u64, expiry: Duration) -> UploadRecord {
        let principal = Principal::operator(UserId::random(), "test");
        let new = NewUpload { role: UploadRole::File, filename: "w.csv".into(), name: None, metadata: String::new(), length };
        UploadRecord::new(&principal, new, expiry)
    }

    #[test]
    fn pieces_move_the_offset_and_the_expiry() {
        let started = upload(100, Duration::from_secs(60));
        assert_eq!((started.offset, started.remaining(), started.is_finished()), (0, 100, false));
        let first = started.appended(Piece { id: PieceId::random(), bytes: 60 }, Duration::from_secs(3600));
        assert_eq!((first.offset, first.remaining()), (60, 40));
        assert!(first.expires_at > started.expires_at, "the expiry slides from the last PATCH");
        let done = first.appended(Piece { id: PieceId::random(), bytes: 40 }, Duration::from_secs(3600));
        assert!(done.is_finished());
        assert_eq!(done.pieces.iter().map(|piece| piece.bytes).sum::<u64>(), done.offset);
        assert_eq!(started.pieces.len(), 0, "appending leaves the current record as it was");
    }

    #[test]
    fn uploads_expire_finished_or_not() {
        let record = upload(10, Duration::from_secs(60));
        assert!(!record.is_expired_at(record.created_at));
        assert!(record.is_expired_at(record.expires_at));
        let done = record.appended(Piece { id: PieceId::random(), bytes: 10 }, Duration::from_secs(60));
        assert!(done.is_expired_at(done.expires_at.plus(Duration::from_secs(1))));
    }

    #[test]
    fn roles_default_to_the_table() {
        assert_eq!(UploadRole::parse(None), Some(UploadRole::File));
        assert_eq!(UploadRole::parse(Some("boundaries")), Some(UploadRole::Boundaries));
        assert_eq!(UploadRole::parse(Some("other")), None);
    }
}
