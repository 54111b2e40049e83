//! The authenticated caller of a request. In the server it is made only from
//! a session record that the store returned for the request's cookie, so
//! nothing else in a request can name whose data is touched (DESIGN.md rule 2).

use crate::domain::{SessionId, UserId};
use crate::store::SessionRecord;

#[derive(Debug, Clone)]
pub struct Principal {
    user_id: UserId,
    session_id: SessionId,
    request_id: String,
}

impl Principal {
    /// Only the session extractor makes principals for requests; store
    /// tests make them from session records they created themselves.
    pub fn from_session(session: &SessionRecord, request_id: String) -> Self {
        Self { user_id: session.user_id, session_id: session.id, request_id }
    }

    /// An operator reading or removing a user's records with `mrpt admin`,
    /// which holds the store's credentials anyway. Its session is a fresh
    /// random id that is no live session, so it can never insert a record.
    pub fn operator(user_id: UserId, action: &str) -> Self {
        Self { user_id, session_id: SessionId::random(), request_id: format!("admin:{action}") }
    }

    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// The request this principal was authenticated for, for logs and events.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }
}
