//! JSON shapes of the API that several routes share (API.md: `User`,
//! `Session`, the error object), with their OpenAPI schemas.

use crate::domain::{Millis, SessionId};
use crate::store::{SessionRecord, UserRecord};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct User {
    pub id: String,
    pub username: String,
    pub created_at: String,
}

impl From<&UserRecord> for User {
    fn from(user: &UserRecord) -> Self {
        Self { id: user.id.to_string(), username: user.username.to_string(), created_at: user.created_at.rfc3339() }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Session {
    pub id: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub idle_expires_at: String,
    pub expires_at: String,
    /// Whether this is the session making the request.
    pub current: bool,
}

impl Session {
    pub fn of(record: &SessionRecord, current: SessionId) -> Self {
        Self {
            id: record.id.to_string(),
            created_at: record.created_at.rfc3339(),
            last_seen_at: record.last_seen_at.rfc3339(),
            idle_expires_at: Millis(record.idle_expires_at.0.min(record.expires_at.0)).rfc3339(),
            expires_at: record.expires_at.rfc3339(),
            current: record.id == current,
        }
    }
}

/// The answer of login and `GET /api/session`.
#[derive(Serialize, ToSchema)]
pub struct SessionEnvelope {
    pub user: User,
    /// Send this back as `X-CSRF-Token` on every POST, PUT, PATCH and DELETE.
    pub csrf_token: String,
    pub session: Session,
}

/// Every error answer: `{"error": {...}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorObject,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorObject {
    /// A stable snake_case code, e.g. `invalid_input`.
    pub code: String,
    /// A sentence for a person.
    pub message: String,
    pub request_id: String,
    /// The offending field, for `invalid_input`.
    pub field: Option<String>,
    /// The offending line of an uploaded file, for `invalid_file`.
    pub line: Option<u64>,
    /// The offending variable, for `invalid_variables`.
    pub variable: Option<String>,
}
