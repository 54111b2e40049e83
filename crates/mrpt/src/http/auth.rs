//! Accounts and login: register, login, logout, password change and
//! account deletion (API.md, Sessions and authentication).

use super::cross_site::SameOrigin;
use super::extract::{request_context, session_cookie, ApiJson, CurrentSession, CSRF_HEADER};
use super::views::{ErrorResponse, SessionEnvelope, User};
use super::AppState;
use crate::client_limits::AddressAction;
use crate::config::Registration;
use crate::domain::{Millis, NewPassword, UserId, Username};
use crate::error::ApiError;
use crate::security::{EventKind, EventSubject};
use crate::store::{LoginAttempt, SessionRecord, UserRecord};
use crate::token::SessionToken;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// API.md: 429 after 5 failures for one username within 15 minutes.
const LOGIN_FAILURE_LIMIT: u32 = 5;
const LOGIN_FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
const CLEAR_SITE_DATA: HeaderName = HeaderName::from_static("clear-site-data");

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(change_password))
        .routes(routes!(delete_account))
}

#[derive(Deserialize, ToSchema)]
pub struct Credentials {
    username: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct UserEnvelope {
    user: User,
}

#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = Credentials,
    responses(
        (status = 201, description = "Account created", body = UserEnvelope),
        (status = 400, description = "invalid_input", body = ErrorResponse),
        (status = 403, description = "registration_closed or cross_site_refused", body = ErrorResponse),
        (status = 409, description = "username_taken", body = ErrorResponse),
        (status = 429, description = "too_many_requests: too many registrations from this client address (with Retry-After)", body = ErrorResponse),
        (status = 415, description = "unsupported_media_type", body = ErrorResponse),
        (status = 503, description = "busy: the password-hashing queue is full (with Retry-After)", body = ErrorResponse)))]
async fn register(
    State(app): State<AppState>,
    _: SameOrigin,
    parts: Parts,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<(StatusCode, Json<UserEnvelope>), ApiError> {
    if app.registration == Registration::Closed {
        return Err(ApiError::RegistrationClosed);
    }
    app.address_limits.check(&*app.state, AddressAction::Registration, &parts).await?;
    let username = Username::parse(&body.username).map_err(|msg| ApiError::invalid_input("username", msg))?;
    let password = NewPassword::parse(body.password).map_err(|msg| ApiError::invalid_input("password", msg))?;
    let user = UserRecord {
        id: UserId::random(),
        username,
        password_hash: app.passwords.hash(password.expose().to_owned()).await?,
        created_at: Millis::now(),
    };
    app.state.create_user(&user).await?;
    Ok((StatusCode::CREATED, Json(UserEnvelope { user: (&user).into() })))
}

#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = Credentials,
    responses(
        (status = 200, description = "Logged in; the session cookie is set", body = SessionEnvelope),
        (status = 400, description = "invalid_input", body = ErrorResponse),
        (status = 401, description = "invalid_credentials", body = ErrorResponse),
        (status = 403, description = "cross_site_refused", body = ErrorResponse),
        (status = 415, description = "unsupported_media_type", body = ErrorResponse),
        (status = 429, description = "too_many_attempts, or too_many_requests from this client address; with Retry-After", body = ErrorResponse),
        (status = 503, description = "busy: the password-hashing queue is full (with Retry-After)", body = ErrorResponse)))]
async fn login(
    State(app): State<AppState>,
    _: SameOrigin,
    parts: Parts,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    let context = request_context(&parts);
    app.address_limits.check(&*app.state, AddressAction::Login, &parts).await?;
    let invalid = ApiError::InvalidCredentials { status: StatusCode::UNAUTHORIZED };
    let Ok(username) = Username::parse(&body.username) else {
        // No such account can exist; spend the same time as for a real one.
        app.passwords.verify(body.password, None).await?;
        return Err(invalid);
    };
    let now = Millis::now();
    let window_start = Millis(now.0 - LOGIN_FAILURE_WINDOW.as_millis() as i64);
    // Counted before the password is checked, so parallel guesses cannot
    // get more than the limit checked.
    let attempt = app.state.count_login_attempt(&username, now, window_start, LOGIN_FAILURE_LIMIT).await?;
    if let LoginAttempt::Refused { oldest } = attempt {
        let reopens = oldest.plus(LOGIN_FAILURE_WINDOW);
        let retry_after_secs = ((reopens.0 - now.0).max(1000) as u64).div_ceil(1000);
        let subject = EventSubject { request_id: Some(context.request_id.clone()), ..Default::default() };
        app.security.record(EventKind::LoginLockout, subject, format!("username {username}")).await;
        return Err(ApiError::TooManyAttempts { retry_after_secs });
    }
    let user = app.state.find_user_by_name(&username).await?;
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    // Verified before looking at whether the user exists, so that an
    // unknown user costs the decoy hash, exactly the work of a known one.
    let verified = app.passwords.verify(body.password, stored_hash).await?;
    let user = match user {
        Some(user) if verified => user,
        _ => {
            // The attempt stays counted, for unknown usernames too, so that
            // the lock-out does not tell which names exist.
            metrics::counter!("mrpt_login_failures_total").increment(1);
            return Err(invalid);
        }
    };
    app.state.clear_login_failures(&username).await?;

    // A session cookie sent with a login is never adopted; a live session it
    // names is ended (no session fixation).
    if let Some(old) = session_cookie(&parts.headers, app.cookie.name).and_then(SessionToken::parse) {
        app.state.end_session_by_token(old.key()).await?;
    }
    let token = SessionToken::issue(user.id);
    let record = SessionRecord::start(&token, app.sessions.idle, app.sessions.absolute);
    app.state.create_session(&record, &user.password_hash).await?;
    metrics::counter!("mrpt_sessions_created_total").increment(1);
    context.set_session(record.id);
    let envelope = SessionEnvelope {
        user: (&user).into(),
        csrf_token: token.csrf_token(),
        session: super::views::Session::of(&record, record.id),
    };
    Ok(([(header::SET_COOKIE, app.cookie.set(&token.cookie_value()))], Json(envelope)).into_response())
}

/// The answer that ends a session in the browser too.
pub(super) fn session_cleared(app: &AppState) -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, app.cookie.expire()), (CLEAR_SITE_DATA, HeaderValue::from_static("\"cookies\", \"storage\""))],
    )
        .into_response()
}

#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses(
        (status = 204, description = "Logged out (also without a live session)"),
        (status = 403, description = "csrf_failed: a live session needs its CSRF token", body = ErrorResponse)))]
async fn logout(State(app): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    let context = request_context(&parts);
    let token = session_cookie(&parts.headers, app.cookie.name).and_then(SessionToken::parse);
    if let Some(token) = token {
        let live = app.state.session_by_token(token.key()).await?.filter(|s| !s.is_expired_at(Millis::now()));
        if let Some(session) = live {
            let presented = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !token.csrf_matches(presented) {
                let subject = EventSubject {
                    user_id: Some(session.user_id),
                    session_id: Some(session.id),
                    request_id: Some(context.request_id.clone()),
                };
                app.security.record(EventKind::CsrfRefused, subject, "/api/auth/logout").await;
                return Err(ApiError::CsrfFailed);
            }
            context.set_session(session.id);
        }
        if app.state.end_session_by_token(token.key()).await?.is_some() {
            metrics::counter!("mrpt_sessions_ended_total", "reason" => "logout").increment(1);
        }
    }
    Ok(session_cleared(&app))
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

#[utoipa::path(post, path = "/api/auth/password", tag = "auth", request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; every other session of the user ended"),
        (status = 400, description = "invalid_input", body = ErrorResponse),
        (status = 401, description = "unauthenticated or session_expired", body = ErrorResponse),
        (status = 403, description = "invalid_credentials or csrf_failed", body = ErrorResponse),
        (status = 503, description = "busy: the password-hashing queue is full (with Retry-After)", body = ErrorResponse)))]
async fn change_password(
    State(app): State<AppState>,
    session: CurrentSession,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let principal = &session.principal;
    let new_password =
        NewPassword::parse(body.new_password).map_err(|msg| ApiError::invalid_input("new_password", msg))?;
    confirm_password(&app, principal.user_id(), body.current_password).await?;
    let hash = app.passwords.hash(new_password.expose().to_owned()).await?;
    let ended = app.state.change_password(principal.user_id(), &hash, principal.session_id()).await?;
    metrics::counter!("mrpt_sessions_ended_total", "reason" => "password_change").increment(ended);
    app.security.record(EventKind::PasswordChanged, principal.into(), format!("{ended} other sessions ended")).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks a logged-in user's password: 403 `invalid_credentials` when wrong.
async fn confirm_password(app: &AppState, user_id: UserId, password: String) -> Result<(), ApiError> {
    let user = app.state.get_user(user_id).await?.ok_or(ApiError::Unauthenticated)?;
    if !app.passwords.verify(password, Some(user.password_hash)).await? {
        return Err(ApiError::InvalidCredentials { status: StatusCode::FORBIDDEN });
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
pub struct AccountDeletion {
    password: String,
}

#[utoipa::path(delete, path = "/api/account", tag = "auth", request_body = AccountDeletion,
    responses(
        (status = 204, description = "The account, its sessions and all its data are deleted"),
        (status = 401, description = "unauthenticated or session_expired", body = ErrorResponse),
        (status = 403, description = "invalid_credentials or csrf_failed", body = ErrorResponse),
        (status = 503, description = "busy: the password-hashing queue is full (with Retry-After)", body = ErrorResponse)))]
async fn delete_account(
    State(app): State<AppState>,
    session: CurrentSession,
    ApiJson(body): ApiJson<AccountDeletion>,
) -> Result<Response, ApiError> {
    let principal = &session.principal;
    confirm_password(&app, principal.user_id(), body.password).await?;
    crate::account_deletion::delete(&app.state, &app.files, principal.user_id(), principal.session_id()).await?;
    app.security.record(EventKind::AccountDeleted, principal.into(), "").await;
    Ok(session_cleared(&app))
}
