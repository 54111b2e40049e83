//! Extractors: the session (the only source of identity, DESIGN.md rule 2),
//! JSON bodies (only when sent as JSON) with field-naming errors, and ids in paths.

use super::middleware::RequestContext;
use super::AppState;
use crate::domain::Millis;
use crate::error::ApiError;
use crate::principal::Principal;
use crate::security::{EventKind, EventSubject};
use crate::store::owned::OwnedRecord;
use crate::store::{OwnedKind, SessionRecord};
use crate::token::SessionToken;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use serde::de::DeserializeOwned;
use std::str::FromStr;
use std::sync::Arc;

pub const CSRF_HEADER: &str = "x-csrf-token";

/// The caller's live session, loaded from the store by the cookie's token.
/// For POST, PUT, PATCH and DELETE it also proves the CSRF token.
pub struct CurrentSession {
    pub principal: Principal,
    pub record: SessionRecord,
    pub token: SessionToken,
}

/// The value of the session cookie, if the request carries one.
pub fn session_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

pub fn request_context(parts: &Parts) -> Arc<RequestContext> {
    parts.extensions.get::<Arc<RequestContext>>().cloned().expect("the request-context middleware runs first")
}

fn needs_csrf(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
}

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let (session, _) = authenticate(parts, app, None).await?;
        Ok(session)
    }
}

/// The caller's session and the record the path's id names, fetched from
/// the store in the same round trip: the common read costs one store call.
/// `record` is `None` when the caller has no such record.
pub struct SessionAnd<R> {
    pub session: CurrentSession,
    pub record: Option<R>,
}

impl<R: OwnedRecord + Send> FromRequestParts<AppState> for SessionAnd<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let PathId(id) = PathId::<R::Id>::from_request_parts(parts, app).await?;
        let (session, body) = authenticate(parts, app, Some((R::KIND, &id.to_string()))).await?;
        let record = match body {
            Some(body) => app.owned.checked::<R>(&session.principal, &body).await?,
            None => None,
        };
        Ok(Self { session, record })
    }
}

/// Finds and checks the session named by the cookie and, when asked, reads
/// one record of the token's user beside it. The record is handed out only
/// once the session has passed every check.
async fn authenticate(
    parts: &Parts,
    app: &AppState,
    with_record: Option<(OwnedKind, &str)>,
) -> Result<(CurrentSession, Option<Vec<u8>>), ApiError> {
    let context = request_context(parts);
    let raw = session_cookie(&parts.headers, app.cookie.name).ok_or(ApiError::Unauthenticated)?;
    let subject = || EventSubject { request_id: Some(context.request_id.clone()), ..Default::default() };
    let Some(token) = SessionToken::parse(raw) else {
        app.security.record(EventKind::ForgedToken, subject(), "malformed session cookie").await;
        return Err(ApiError::Unauthenticated);
    };
    let key = token.key();
    let (record, body) = match with_record {
        None => (app.state.session_by_token(key).await?, None),
        Some((kind, id)) => match app.state.session_with_owned(key, kind, id).await? {
            Some(found) => (Some(found.session), found.body),
            None => (None, None),
        },
    };
    let record = record.ok_or(ApiError::Unauthenticated)?;
    if record.user_id != token.claimed_user() {
        app.security.record(EventKind::ForgedToken, subject(), "session cookie names another user").await;
        return Err(ApiError::Unauthenticated);
    }
    let now = Millis::now();
    if record.is_expired_at(now) {
        if app.state.note_session_expired(key).await? {
            metrics::counter!("mrpt_sessions_expired_total").increment(1);
        }
        return Err(ApiError::SessionExpired);
    }
    context.set_session(record.id);
    let principal = Principal::from_session(&record, context.request_id.clone());
    if needs_csrf(&parts.method) {
        let presented = parts.headers.get(CSRF_HEADER).and_then(|value| value.to_str().ok()).unwrap_or("");
        if !token.csrf_matches(presented) {
            app.security.record(EventKind::CsrfRefused, (&principal).into(), parts.uri.path().to_owned()).await;
            return Err(ApiError::CsrfFailed);
        }
    }
    let touch_due = now.0 - record.last_seen_at.0 >= app.sessions.touch_interval().as_millis() as i64;
    if touch_due && !app.state.touch_session(key, now, now.plus(app.sessions.idle)).await? {
        // Ended or timed out between the read and the touch.
        return Err(ApiError::Unauthenticated);
    }
    Ok((CurrentSession { principal, record, token }, body))
}

/// A JSON body that may be left out entirely, meaning `{}`.
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, app: &AppState) -> Result<Self, ApiError> {
        let no_body = !request.headers().contains_key(header::CONTENT_TYPE)
            && request.headers().get(header::CONTENT_LENGTH).is_none_or(|length| length == "0");
        if no_body {
            return Ok(Self(T::default()));
        }
        let bytes = json_body(request, app).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

/// A JSON body; a malformed body or a missing or wrong field is 400
/// `invalid_input` naming the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, app: &AppState) -> Result<Self, ApiError> {
        let bytes = json_body(request, app).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Whether the request says its body is JSON (`application/json`, with or
/// without parameters such as `charset`).
pub fn is_json(headers: &HeaderMap) -> bool {
    let media_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or_default();
    media_type.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case("application/json")
}

/// A JSON body, refused with 415 unless it is sent as JSON (a cross-site
/// form can only send `text/plain`, form or multipart bodies), and with 413
/// as soon as it passes its budget, whatever length it declares.
async fn json_body(request: Request, app: &AppState) -> Result<Bytes, ApiError> {
    if !is_json(request.headers()) {
        return Err(ApiError::UnsupportedMediaType("This call takes a JSON body: send it with Content-Type: application/json.".into()));
    }
    let max = app.budgets.max_json_body;
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max) {
        return Err(ApiError::too_many_bytes(max));
    }
    axum::body::to_bytes(request.into_body(), usize::try_from(max).unwrap_or(usize::MAX)).await.map_err(|err| {
        let over = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
            .any(|e| e.is::<http_body_util::LengthLimitError>());
        match over {
            true => ApiError::too_many_bytes(max),
            false => ApiError::invalid_input("body", "The request body could not be read."),
        }
    })
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let inner = err.inner().to_string();
        let path = err.path().to_string();
        let named = inner.strip_prefix("missing field `").or_else(|| inner.strip_prefix("unknown field `"));
        let field = match named {
            Some(rest) => rest.split('`').next().unwrap_or_default().to_owned(),
            None if path != "." => path,
            None => "body".to_owned(),
        };
        let message = if inner.starts_with("missing field") {
            format!("The field '{field}' is required.")
        } else if inner.starts_with("unknown field") {
            format!("The field '{field}' is not known here.")
        } else if field == "body" {
            "The request body must be a JSON object.".to_owned()
        } else {
            format!("The field '{field}' is not valid: {}", inner.split(" at line").next().unwrap_or(&inner))
        };
        ApiError::InvalidInput { field, message }
    })
}

/// An id in the path; one that cannot be an id is just not found, so that
/// `/api/datasets/x.css` never reaches a handler's logic.
pub struct PathId<T>(pub T);

impl<T: FromStr + Send> FromRequestParts<AppState> for PathId<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, app).await.map_err(|_| ApiError::NotFound)?;
        raw.parse().map(PathId).map_err(|_| ApiError::NotFound)
    }
}
