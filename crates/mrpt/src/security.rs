//! The security event log: what an operator must be able to see afterwards
//! (isolation violations, CSRF refusals, forged tokens, lock-outs,
//! revocations). Events go to the state store and to the error log; never a
//! token, a password or a cell of user data.

use crate::domain::{Millis, SessionId, UserId};
use crate::principal::Principal;
use crate::store::{SecurityEvent, SharedStateStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    IsolationViolation,
    CsrfRefused,
    ForgedToken,
    LoginLockout,
    SessionRevoked,
    SessionsEnded,
    PasswordChanged,
    AccountDeleted,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IsolationViolation => "isolation_violation",
            Self::CsrfRefused => "csrf_refused",
            Self::ForgedToken => "forged_token",
            Self::LoginLockout => "login_lockout",
            Self::SessionRevoked => "session_revoked",
            Self::SessionsEnded => "sessions_ended",
            Self::PasswordChanged => "password_changed",
            Self::AccountDeleted => "account_deleted",
        }
    }
}

/// Who an event concerns, as far as the request established it.
#[derive(Debug, Clone, Default)]
pub struct EventSubject {
    pub user_id: Option<UserId>,
    pub session_id: Option<SessionId>,
    pub request_id: Option<String>,
}

impl From<&Principal> for EventSubject {
    fn from(principal: &Principal) -> Self {
        Self {
            user_id: Some(principal.user_id()),
            session_id: Some(principal.session_id()),
            request_id: Some(principal.request_id().to_owned()),
        }
    }
}

#[derive(Clone)]
pub struct SecurityLog {
    store: SharedStateStore,
}

impl SecurityLog {
    pub fn new(store: SharedStateStore) -> Self {
        Self { store }
    }

    /// Records an event. A store failure here must not hide the answer the
    /// request already has, so it is logged, not returned.
    pub async fn record(&self, kind: EventKind, subject: EventSubject, detail: impl Into<String>) {
        let event = SecurityEvent {
            at: Millis::now(),
            kind: kind.as_str().to_owned(),
            user_id: subject.user_id,
            session_id: subject.session_id,
            request_id: subject.request_id,
            detail: detail.into(),
        };
        metrics::counter!("mrpt_security_events_total", "kind" => kind.as_str()).increment(1);
        if let Err(err) = self.store.record_event(&event).await {
            tracing::error!(event = kind.as_str(), error = %err, "could not record a security event");
        }
    }

    /// A stored record's owner differed from the principal reading it. This
    /// must never happen; it is made as loud as possible.
    pub async fn isolation_violation(&self, principal: &Principal, what: &str) {
        metrics::counter!("mrpt_isolation_violations_total").increment(1);
        tracing::error!(
            request_id = principal.request_id(),
            session_id = %principal.session_id(),
            record = what,
            "ISOLATION VIOLATION: a stored record's owner differs from the session's user"
        );
        self.record(EventKind::IsolationViolation, principal.into(), what).await;
    }
}
