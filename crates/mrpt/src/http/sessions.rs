//! The caller's own sessions: who am I, which sessions are live, revoke one
//! or all (API.md, Sessions and authentication).

use super::auth::session_cleared;
use super::extract::{CurrentSession, PathId};
use super::views::{ErrorResponse, Session, SessionEnvelope};
use super::AppState;
use crate::domain::{Millis, SessionId};
use crate::error::ApiError;
use crate::security::EventKind;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(current_session))
        .routes(routes!(list_sessions, end_all_sessions))
        .routes(routes!(end_session))
}

#[utoipa::path(get, path = "/api/session", tag = "sessions",
    responses(
        (status = 200, description = "The caller, its CSRF token and its session", body = SessionEnvelope),
        (status = 401, description = "unauthenticated or session_expired", body = ErrorResponse)))]
async fn current_session(State(app): State<AppState>, session: CurrentSession) -> Result<Json<SessionEnvelope>, ApiError> {
    let user = app.state.get_user(session.principal.user_id()).await?.ok_or(ApiError::Unauthenticated)?;
    Ok(Json(SessionEnvelope {
        user: (&user).into(),
        csrf_token: session.token.csrf_token(),
        session: Session::of(&session.record, session.record.id),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct SessionList {
    sessions: Vec<Session>,
}

#[utoipa::path(get, path = "/api/sessions", tag = "sessions",
    responses(
        (status = 200, description = "The caller's live sessions, newest first", body = SessionList),
        (status = 401, description = "unauthenticated or session_expired", body = ErrorResponse)))]
async fn list_sessions(State(app): State<AppState>, session: CurrentSession) -> Result<Json<SessionList>, ApiError> {
    let principal = &session.principal;
    let live = app.state.live_sessions(principal.user_id(), Millis::now()).await?;
    let sessions = live.iter().map(|record| Session::of(record, principal.session_id())).collect();
    Ok(Json(SessionList { sessions }))
}

#[utoipa::path(delete, path = "/api/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "A session's public id")),
    responses(
        (status = 204, description = "The session ended"),
        (status = 401, description = "unauthenticated or session_expired", body = ErrorResponse),
        (status = 403, description = "csrf_failed", body = ErrorResponse),
        (status = 404, description = "not_found: not a live session of the caller", body = ErrorResponse)))]
async fn end_session(
    State(app): State<AppState>,
    PathId(id): PathId<SessionId>,
    session: CurrentSession,
) -> Result<Response, ApiError> {
    let principal = &session.principal;
    if !app.state.end_session_by_id(principal.user_id(), id).await? {
        return Err(ApiError::NotFound);
    }
    metrics::counter!("mrpt_sessions_revoked_total").increment(1);
    app.security.record(EventKind::SessionRevoked, principal.into(), format!("session {id}")).await;
    if id == principal.session_id() {
        return Ok(session_cleared(&app));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(delete, path = "/api/sessions", tag = "sessions",
    responses(
        (status = 204, description = "Every session of the caller ended, this one too"),
        (status = 401, description = "unauthenticated or session_expired", body = ErrorResponse),
        (status = 403, description = "csrf_failed", body = ErrorResponse)))]
async fn end_all_sessions(State(app): State<AppState>, session: CurrentSession) -> Result<Response, ApiError> {
    let principal = &session.principal;
    let ended = app.state.end_user_sessions(principal.user_id(), None).await?;
    metrics::counter!("mrpt_sessions_revoked_total").increment(ended);
    app.security.record(EventKind::SessionsEnded, principal.into(), format!("{ended} sessions ended")).await;
    Ok(session_cleared(&app))
}
