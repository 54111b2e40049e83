//! The security event log: what an operator must be able to see afterwards
//! (isolation violations, CSRF refusals, forged tokens, lock-outs,
//! revocations, resets). Events go to the state store and to the error log; never a
//! token, a password or a cell of user data.

use crate::domain::{Millis, SessionId, UserId};
use crate::principal::Principal;
use crate::store::{SecurityEvent, SharedStateStore};
use serde_json::json;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Forged tokens seen within one window that make an alert.
const FORGED_BURST: u64 = 20;
const FORGED_WINDOW_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    IsolationViolation,
    CsrfRefused,
    ForgedToken,
    LoginLockout,
    SessionRevoked,
    SessionsEnded,
    SessionsReset,
    PasswordChanged,
    AccountDeleted,
    /// A record whose files were gone, found and removed by the sweeper.
    RecordWithoutFiles,
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
            Self::SessionsReset => "sessions_reset",
            Self::PasswordChanged => "password_changed",
            Self::AccountDeleted => "account_deleted",
            Self::RecordWithoutFiles => "record_without_files",
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
    alerts: Option<Arc<AlertSender>>,
}

/// Posts alerts to the configured webhook, and counts forged tokens per
/// window to notice a burst. The counter is a metric of this worker, not a
/// fact about any user.
pub struct AlertSender {
    client: reqwest::Client,
    url: reqwest::Url,
    instance: String,
    forged_window_start: AtomicI64,
    forged_in_window: AtomicU64,
}

impl AlertSender {
    pub fn new(url: reqwest::Url, instance: String) -> Self {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("HTTP client builds");
        Self { client, url, instance, forged_window_start: AtomicI64::new(0), forged_in_window: AtomicU64::new(0) }
    }

    /// Sends in the background: an alert must never slow or fail the request
    /// that raised it.
    fn send(self: &Arc<Self>, event: EventKind, request_id: Option<&str>, detail: &str) {
        let body = json!({
            "event": event.as_str(),
            "request_id": request_id,
            "instance": self.instance,
            "worker": std::process::id(),
            "time": Millis::now().rfc3339(),
            "detail": detail,
        });
        let sender = self.clone();
        tokio::spawn(async move {
            let sent = sender.client.post(sender.url.clone()).json(&body).send().await;
            if let Err(err) = sent.and_then(|response| response.error_for_status()) {
                // The webhook's address can carry its secret (a token in the
                // path or query): never let it reach the log.
                tracing::error!(error = %err.without_url(), "could not deliver a security alert");
            }
        });
    }

    /// True once per window, when the forged tokens in it reach the burst size.
    fn forged_burst(&self, now: Millis) -> bool {
        let start = self.forged_window_start.load(Ordering::Relaxed);
        if now.0 - start > FORGED_WINDOW_MS {
            self.forged_window_start.store(now.0, Ordering::Relaxed);
            self.forged_in_window.store(0, Ordering::Relaxed);
        }
        self.forged_in_window.fetch_add(1, Ordering::Relaxed) + 1 == FORGED_BURST
    }
}

impl SecurityLog {
    pub fn new(store: SharedStateStore, alerts: Option<AlertSender>) -> Self {
        Self { store, alerts: alerts.map(Arc::new) }
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
        if let Some(alerts) = &self.alerts {
            let alarming = match kind {
                EventKind::IsolationViolation => true,
                EventKind::ForgedToken => alerts.forged_burst(event.at),
                _ => false,
            };
            if alarming {
                alerts.send(kind, event.request_id.as_deref(), &event.detail);
            }
        }
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
