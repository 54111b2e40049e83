//! The one error type of the HTTP API, mapped to status codes and error
//! codes in one place. The JSON body (which needs the request id) is written
//! by the request-context middleware from the [`ErrorBody`] left here.

use crate::store::files::FileStoreError;
use crate::store::StoreError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mrpt_analysis::BudgetExceeded;
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    InvalidInput { field: String, message: String },
    #[error("Please log in.")]
    Unauthenticated,
    #[error("Your session has expired. Please log in again.")]
    SessionExpired,
    #[error("The request was refused because its CSRF token is missing or wrong. Reload the page and try again.")]
    CsrfFailed,
    /// Wrong credentials: 401 at login, 403 when a logged-in user confirms
    /// their password.
    #[error("The username or password is wrong.")]
    InvalidCredentials { status: StatusCode },
    #[error("Too many failed logins for this username. Try again in {retry_after_secs} seconds.")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("This username is taken. Please choose another.")]
    UsernameTaken,
    #[error("This request came from another site and was refused. Use the mrpt page itself.")]
    CrossSiteRefused,
    #[error("Registration is closed on this server. Ask your administrator for an account.")]
    RegistrationClosed,
    #[error("Not found.")]
    NotFound,
    #[error("This method is not allowed here.")]
    MethodNotAllowed,
    /// An input over one of its budgets: the body says which (`limit`) and its value (`max`).
    #[error("{0}")]
    PayloadTooLarge(#[from] BudgetExceeded),
    #[error("{0}")]
    UnsupportedFormat(String),
    /// The request body stopped arriving for longer than the body idle timeout.
    #[error("The request body stopped arriving and was cut off. Please try again.")]
    RequestTimeout,
    #[error("{message}")]
    InvalidFile { message: String, line: Option<usize> },
    #[error("{0}")]
    MissingWardColumn(String),
    #[error("{message}")]
    InvalidVariables { message: String, variable: Option<String> },
    #[error("This dataset was uploaded without ward boundaries, so there is no map.")]
    NoBoundaries,
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A resumable-upload request without `Tus-Resumable: 1.0.0`.
    #[error("This server speaks tus 1.0.0: send the header Tus-Resumable: 1.0.0.")]
    TusVersionUnsupported,
    /// A PATCH at another offset than the upload has reached.
    #[error("The upload is at another offset; ask for it with HEAD and go on from there.")]
    UploadOffsetConflict,
    #[error("This upload is not complete yet.")]
    UploadIncomplete,
    /// A PATCH whose bytes do not have the announced `Upload-Checksum`.
    #[error("The piece does not match its checksum and was discarded.")]
    ChecksumMismatch,
    #[error("You have {limit} unfinished uploads. Finish or cancel one first.")]
    TooManyUploads { limit: u32 },
    /// One user already has their share of expensive work in flight, or a
    /// client address its share of logins or registrations.
    #[error("Too many requests at once. Try again in {retry_after_secs} seconds.")]
    TooManyRequests { retry_after_secs: u64 },
    /// The bounded queue for expensive work or password hashing is full.
    #[error("The server is busy. Try again in {retry_after_secs} seconds.")]
    Busy { retry_after_secs: u64 },
    #[error("The service is temporarily unavailable. Please try again shortly.")]
    StoreUnavailable,
    #[error("Something went wrong on the server. Please try again.")]
    Internal,
}

impl ApiError {
    pub fn invalid_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidInput { field: field.into(), message: message.into() }
    }

    /// A body or file of more than `max` bytes.
    pub fn too_many_bytes(max: u64) -> Self {
        Self::PayloadTooLarge(BudgetExceeded { limit: "bytes", max })
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidInput { .. } | Self::InvalidFile { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated | Self::SessionExpired => StatusCode::UNAUTHORIZED,
            Self::CsrfFailed | Self::CrossSiteRefused | Self::RegistrationClosed => StatusCode::FORBIDDEN,
            Self::InvalidCredentials { status } => *status,
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::UsernameTaken => StatusCode::CONFLICT,
            Self::NotFound | Self::NoBoundaries => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedFormat(_) | Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TusVersionUnsupported => StatusCode::PRECONDITION_FAILED,
            Self::UploadOffsetConflict | Self::UploadIncomplete => StatusCode::CONFLICT,
            // tus's own status for a checksum mismatch.
            Self::ChecksumMismatch => StatusCode::from_u16(460).expect("460 is a valid status"),
            Self::TooManyUploads { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::MissingWardColumn(_) | Self::InvalidVariables { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::StoreUnavailable | Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "invalid_input",
            Self::Unauthenticated => "unauthenticated",
            Self::SessionExpired => "session_expired",
            Self::CsrfFailed => "csrf_failed",
            Self::InvalidCredentials { .. } => "invalid_credentials",
            Self::TooManyAttempts { .. } => "too_many_attempts",
            Self::UsernameTaken => "username_taken",
            Self::CrossSiteRefused => "cross_site_refused",
            Self::RegistrationClosed => "registration_closed",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::UnsupportedFormat(_) => "unsupported_format",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::TusVersionUnsupported => "tus_version_unsupported",
            Self::UploadOffsetConflict => "upload_offset_conflict",
            Self::UploadIncomplete => "upload_incomplete",
            Self::ChecksumMismatch => "checksum_mismatch",
            Self::TooManyUploads { .. } => "too_many_uploads",
            Self::InvalidFile { .. } => "invalid_file",
            Self::MissingWardColumn(_) => "missing_ward_column",
            Self::InvalidVariables { .. } => "invalid_variables",
            Self::NoBoundaries => "no_boundaries",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Busy { .. } => "busy",
            Self::StoreUnavailable => "store_unavailable",
            Self::Internal => "internal_error",
        }
    }

    fn extra(&self) -> Map<String, Value> {
        let mut extra = Map::new();
        match self {
            Self::InvalidInput { field, .. } => {
                extra.insert("field".into(), field.clone().into());
            }
            Self::InvalidFile { line: Some(line), .. } => {
                extra.insert("line".into(), (*line).into());
            }
            Self::InvalidVariables { variable: Some(variable), .. } => {
                extra.insert("variable".into(), variable.clone().into());
            }
            Self::TooManyAttempts { retry_after_secs }
            | Self::TooManyRequests { retry_after_secs }
            | Self::Busy { retry_after_secs } => {
                extra.insert("retry_after".into(), (*retry_after_secs).into());
            }
            Self::TooManyUploads { limit } => {
                extra.insert("limit".into(), (*limit).into());
            }
            Self::PayloadTooLarge(exceeded) => {
                extra.insert("limit".into(), exceeded.limit.into());
                extra.insert("max".into(), exceeded.max.into());
            }
            _ => {}
        }
        extra
    }
}

/// What an error response carries until the middleware writes its body.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
    pub extra: Map<String, Value>,
}

impl ErrorBody {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), extra: Map::new() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        if let Self::TooManyAttempts { retry_after_secs }
        | Self::TooManyRequests { retry_after_secs }
        | Self::Busy { retry_after_secs } = self
        {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if let Self::RequestTimeout = self {
            // The rest of a stalled body may still come: the connection cannot be reused.
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response.extensions_mut().insert(ErrorBody { code: self.code(), message: self.to_string(), extra: self.extra() });
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(reason) => {
                tracing::error!(%reason, "state store unavailable");
                Self::StoreUnavailable
            }
            StoreError::UsernameTaken => Self::UsernameTaken,
            StoreError::SessionEnded => Self::Unauthenticated,
            StoreError::ParentGone => Self::NotFound,
            StoreError::RecordTooLarge { max } => Self::PayloadTooLarge(BudgetExceeded { limit: "record_bytes", max }),
            // The password the login checked is no longer the user's.
            StoreError::CredentialChanged => Self::InvalidCredentials { status: StatusCode::UNAUTHORIZED },
            StoreError::Corrupt(reason) => {
                tracing::error!(%reason, "corrupt record in the state store");
                Self::Internal
            }
        }
    }
}

impl From<FileStoreError> for ApiError {
    fn from(err: FileStoreError) -> Self {
        tracing::error!(reason = %err.0, "file store unavailable");
        metrics::counter!("mrpt_store_errors_total", "store" => "files").increment(1);
        Self::StoreUnavailable
    }
}
