//! Middleware every request passes: the request id, the error body, the
//! headers that keep personal answers out of shared caches, metrics whose
//! labels come from fixed sets, and the one log line per request.

use super::body_timeout::{IdleTimeoutBody, Stalled};
use super::AppState;
use crate::domain::SessionId;
use crate::error::{ApiError, ErrorBody};
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, Response, StatusCode};
use axum::middleware::Next;
use axum::response::IntoResponse;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");

/// Facts about one request that inner layers learn and the outer layer logs.
#[derive(Debug)]
pub struct RequestContext {
    pub request_id: String,
    route: OnceLock<String>,
    session: OnceLock<SessionId>,
}

impl RequestContext {
    /// Called by the session extractor so the log line names the session.
    pub fn set_session(&self, id: SessionId) {
        let _ = self.session.set(id);
    }
}

/// Marks a response as a static asset of the web page: cacheable, and so
/// never allowed to carry a cookie.
#[derive(Clone, Copy)]
pub struct StaticAsset;

fn is_valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub async fn request_context(State(app): State<AppState>, mut request: Request, next: Next) -> Response<Body> {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_valid_request_id(id))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let context = Arc::new(RequestContext { request_id, route: OnceLock::new(), session: OnceLock::new() });
    let method = request.method().clone();
    request.extensions_mut().insert(context.clone());
    let stalled = Stalled::default();
    let request = request.map(|body| Body::new(IdleTimeoutBody::new(body, app.body_idle_timeout, stalled.clone())));

    let mut response = next.run(request).await;
    if stalled.happened() {
        // Whatever the handler made of the cut-off body, the client stopped sending.
        response = ApiError::RequestTimeout.into_response();
    }

    let error = response.extensions_mut().remove::<ErrorBody>().or_else(|| framework_error(&response));
    if let Some(error) = error {
        write_error_body(&mut response, error, &context.request_id);
    }
    let is_static = response.extensions().get::<StaticAsset>().is_some();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&context.request_id) {
        headers.insert(REQUEST_ID, value);
    }
    if let Some(served_by) = &app.served_by {
        headers.insert(SERVED_BY, served_by.clone());
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if is_static {
        headers.remove(header::SET_COOKIE);
    } else {
        // Everything but the page's static files is personal or live: a
        // shared cache must neither store it nor reuse it across cookies.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::VARY, HeaderValue::from_static("Cookie"));
    }

    let status = response.status().as_u16();
    let route = context.route.get().map_or("unmatched", String::as_str);
    let elapsed = started.elapsed();
    metrics::counter!("mrpt_http_requests_total", "route" => route.to_owned(), "method" => method_label(&method), "status" => status.to_string()).increment(1);
    metrics::histogram!("mrpt_http_request_duration_seconds", "route" => route.to_owned()).record(elapsed.as_secs_f64());
    tracing::info!(
        request_id = %context.request_id,
        worker = std::process::id(),
        method = method_label(&method),
        route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        session_id = context.session.get().map(tracing::field::display),
        "request"
    );
    response
}

/// The metric label of a method: any method is a valid request line, so
/// only a fixed set is named and the rest share one series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// An error answered by the framework rather than by [`ApiError`] (a
/// rejection of a layer or extractor): given the API's error body too, so a
/// client never has to read plain text.
fn framework_error(response: &Response<Body>) -> Option<ErrorBody> {
    let status = response.status();
    let is_json = response.headers().get(header::CONTENT_TYPE).is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return None;
    }
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => return Some(ErrorBody::new("payload_too_large", "The request body is too large.")),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::UnsupportedMediaType("The request body's Content-Type is not accepted here.".into())
        }
        status if status.is_client_error() => ApiError::invalid_input("request", "The request could not be read."),
        _ => ApiError::Internal,
    };
    Some(ErrorBody::new(error.code(), error.to_string()))
}

fn write_error_body(response: &mut Response<Body>, error: ErrorBody, request_id: &str) {
    let mut object = serde_json::Map::new();
    object.insert("code".into(), error.code.into());
    object.insert("message".into(), error.message.into());
    object.insert("request_id".into(), request_id.into());
    object.extend(error.extra);
    let body = serde_json::json!({ "error": object }).to_string();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    *response.body_mut() = Body::from(body);
}

/// Copies the matched route template into the request context, for metrics
/// and logs that must not carry ids.
pub async fn record_route(request: Request, next: Next) -> Response<Body> {
    if let (Some(path), Some(context)) =
        (request.extensions().get::<MatchedPath>(), request.extensions().get::<Arc<RequestContext>>())
    {
        let _ = context.route.set(path.as_str().to_owned());
    }
    next.run(request).await
}

pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a request handler panicked");
    ApiError::Internal.into_response()
}
