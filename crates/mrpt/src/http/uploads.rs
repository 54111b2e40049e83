//! Resumable upload routes (API.md, Resumable uploads): tus 1.0.0 under
//! `/api/uploads/`, over the owner-scoped stores. Each PATCH stores its bytes
//! as one new piece in the file store, then moves the offset in the state
//! store with a compare-and-set: of PATCHes racing at one offset exactly one
//! wins, and a worker killed half-way leaves at most an unreferenced piece.

use super::extract::{CurrentSession, SessionAnd};
use super::spool::Spooled;
use super::views::ErrorResponse;
use super::AppState;
use crate::datasets::FileFormat;
use crate::domain::{Millis, PieceId, UploadId};
use crate::error::ApiError;
use crate::principal::Principal;
use crate::store::files::{FileKey, FilePrefix};
use crate::tus::{self, Checksum, Metadata};
use crate::uploads::{NewUpload, Piece, UploadRecord, UploadRole, MAX_PIECES};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_upload, describe_protocol))
        .routes(routes!(upload_offset, append_piece, terminate_upload))
        .layer(SetResponseHeaderLayer::overriding(tus::TUS_RESUMABLE, HeaderValue::from_static(tus::VERSION)))
}

#[utoipa::path(options, path = "/api/uploads/", tag = "uploads",
    responses(
        (status = 204, description = "Tus-Version, Tus-Extension, Tus-Max-Size and Tus-Checksum-Algorithm"),
        (status = 401, description = "unauthenticated or session_expired", body = ErrorResponse)))]
async fn describe_protocol(State(app): State<AppState>, _session: CurrentSession) -> Response {
    let headers = [
        (tus::TUS_VERSION, HeaderValue::from_static(tus::VERSION)),
        (tus::TUS_EXTENSION, HeaderValue::from_static(tus::EXTENSIONS)),
        (tus::TUS_MAX_SIZE, HeaderValue::from(app.max_upload)),
        (tus::TUS_CHECKSUM_ALGORITHM, HeaderValue::from_static(tus::CHECKSUM_ALGORITHMS)),
    ];
    (StatusCode::NO_CONTENT, headers).into_response()
}

#[utoipa::path(post, path = "/api/uploads/", tag = "uploads",
    params(
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Length" = u64, Header, description = "The whole upload's size in bytes"),
        ("Upload-Metadata" = String, Header, description = "`filename` (required), `name`, `role` (`file` or `boundaries`), values base64")),
    responses(
        (status = 201, description = "Created: Location and Upload-Expires"),
        (status = 400, description = "invalid_input naming the header", body = ErrorResponse),
        (status = 401, description = "unauthenticated or session_expired", body = ErrorResponse),
        (status = 403, description = "csrf_failed", body = ErrorResponse),
        (status = 412, description = "tus_version_unsupported", body = ErrorResponse),
        (status = 413, description = "payload_too_large", body = ErrorResponse),
        (status = 415, description = "unsupported_format", body = ErrorResponse),
        (status = 429, description = "too_many_uploads", body = ErrorResponse)))]
async fn create_upload(State(app): State<AppState>, session: CurrentSession, headers: HeaderMap) -> Result<Response, ApiError> {
    tus::require_version(&headers)?;
    let length = tus::upload_length(&headers)?;
    if length > app.max_upload {
        return Err(ApiError::too_many_bytes(app.max_upload));
    }
    let new = new_upload(Metadata::parse(&headers)?, length, &app)?;
    let principal = &session.principal;
    let limit = app.uploads.max_open_uploads;
    if open_uploads(&app, principal).await? >= limit as usize {
        return Err(ApiError::TooManyUploads { limit });
    }
    let record = UploadRecord::new(principal, new, app.uploads.upload_expiry);
    app.owned.insert(principal, &record).await?;
    let location = HeaderValue::from_str(&format!("/api/uploads/{}", record.id)).map_err(|_| ApiError::Internal)?;
    Ok((StatusCode::CREATED, [(header::LOCATION, location), (tus::UPLOAD_EXPIRES, expires(&record))]).into_response())
}

/// The metadata of a creation request, checked as far as it can be before
/// a byte arrives: a table must have a name the readers know.
fn new_upload(metadata: Metadata, length: u64, app: &AppState) -> Result<NewUpload, ApiError> {
    let role = UploadRole::parse(metadata.get("role"))
        .ok_or_else(|| ApiError::invalid_input("role", "The role must be 'file' or 'boundaries'."))?;
    let filename = metadata
        .get("filename")
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ApiError::invalid_input("filename", "Upload-Metadata must name the file (filename)."))?
        .to_owned();
    if role == UploadRole::File && FileFormat::from_file_name(&filename).is_none() {
        return Err(ApiError::UnsupportedFormat("The ward table must be a .csv, .xlsx or .xls file.".to_owned()));
    }
    let name = super::datasets::dataset_name(metadata.get("name").unwrap_or_default(), app)?;
    Ok(NewUpload { role, filename, name, metadata: metadata.raw().to_owned(), length })
}

/// How many uploads the user has that are not yet datasets and have not
/// expired; expired ones are removed on the way.
async fn open_uploads(app: &AppState, principal: &Principal) -> Result<usize, ApiError> {
    let now = Millis::now();
    let mut open = 0;
    for record in app.owned.list::<UploadRecord>(principal).await? {
        if record.is_expired_at(now) {
            remove(app, principal, &record).await?;
        } else {
            open += 1;
        }
    }
    Ok(open)
}

/// One of the principal's uploads, by an id a request body names (a
/// dataset's finish), if it has not expired.
pub(super) async fn find_upload(app: &AppState, principal: &Principal, id: UploadId) -> Result<UploadRecord, ApiError> {
    let record = app.owned.get::<UploadRecord>(principal, &id.to_string()).await?;
    unexpired(app, principal, record).await
}

/// The upload a request's path names, read beside its session in one store
/// call: HEAD and PATCH are the calls a resuming client repeats.
async fn named_upload(app: &AppState, found: SessionAnd<UploadRecord>) -> Result<(Principal, UploadRecord), ApiError> {
    let principal = found.session.principal;
    let record = unexpired(app, &principal, found.record).await?;
    Ok((principal, record))
}

/// An upload that is there and has not expired; an expired one is removed
/// and is then not found, like one that never existed.
async fn unexpired(app: &AppState, principal: &Principal, record: Option<UploadRecord>) -> Result<UploadRecord, ApiError> {
    let record = record.ok_or(ApiError::NotFound)?;
    if record.is_expired_at(Millis::now()) {
        remove(app, principal, &record).await?;
        return Err(ApiError::NotFound);
    }
    Ok(record)
}

/// Deletes an upload's record, then its pieces: pieces without a record
/// are never read again.
pub(super) async fn remove(app: &AppState, principal: &Principal, record: &UploadRecord) -> Result<(), ApiError> {
    app.owned.delete::<UploadRecord>(principal, &record.id.to_string()).await?;
    app.files.delete_prefix(&FilePrefix::upload(principal, record.id)).await?;
    Ok(())
}

fn expires(record: &UploadRecord) -> HeaderValue {
    HeaderValue::from_str(&tus::http_date(record.expires_at)).expect("an HTTP date is a header value")
}

#[utoipa::path(head, path = "/api/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "An upload id")),
    responses(
        (status = 200, description = "Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires"),
        (status = 401, description = "unauthenticated or session_expired"),
        (status = 404, description = "not_found"),
        (status = 412, description = "tus_version_unsupported")))]
async fn upload_offset(
    State(app): State<AppState>,
    found: SessionAnd<UploadRecord>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    tus::require_version(&headers)?;
    let (_, record) = named_upload(&app, found).await?;
    let mut answer = vec![
        (tus::UPLOAD_OFFSET, HeaderValue::from(record.offset)),
        (tus::UPLOAD_LENGTH, HeaderValue::from(record.length)),
        (tus::UPLOAD_EXPIRES, expires(&record)),
    ];
    if let Ok(metadata) = HeaderValue::from_str(&record.metadata) {
        if !metadata.is_empty() {
            answer.push((tus::UPLOAD_METADATA, metadata));
        }
    }
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().extend(answer);
    Ok(response)
}

#[utoipa::path(patch, path = "/api/uploads/{id}", tag = "uploads",
    params(
        ("id" = String, Path, description = "An upload id"),
        ("Upload-Offset" = u64, Header, description = "Where these bytes go: the upload's current offset"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha256 <base64>` or `sha1 <base64>` of this piece")),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "Appended: the new Upload-Offset and Upload-Expires"),
        (status = 400, description = "invalid_input naming the header", body = ErrorResponse),
        (status = 401, description = "unauthenticated or session_expired", body = ErrorResponse),
        (status = 403, description = "csrf_failed", body = ErrorResponse),
        (status = 404, description = "not_found", body = ErrorResponse),
        (status = 409, description = "upload_offset_conflict: nothing changed", body = ErrorResponse),
        (status = 412, description = "tus_version_unsupported", body = ErrorResponse),
        (status = 413, description = "payload_too_large: more bytes than the upload's length", body = ErrorResponse),
        (status = 415, description = "unsupported_media_type", body = ErrorResponse),
        (status = 460, description = "checksum_mismatch: the piece was discarded", body = ErrorResponse)))]
async fn append_piece(
    State(app): State<AppState>,
    found: SessionAnd<UploadRecord>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    tus::require_version(&headers)?;
    tus::require_patch_media_type(&headers)?;
    let offset = tus::upload_offset(&headers)?;
    let checksum = Checksum::parse(&headers)?;
    let (principal, record) = named_upload(&app, found).await?;
    if offset != record.offset {
        return Err(ApiError::UploadOffsetConflict);
    }
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > record.remaining()) {
        return Err(ApiError::too_many_bytes(record.length));
    }
    if record.pieces.len() >= MAX_PIECES {
        return Err(ApiError::invalid_input("Upload-Offset", format!("An upload can be sent in at most {MAX_PIECES} pieces.")));
    }
    // Receiving runs on its own task: when the client's connection drops,
    // the bytes that did arrive are still kept and the offset moved.
    let received = tokio::spawn(receive_piece(app.clone(), principal, record, body, checksum));
    let record = received.await.map_err(|_| ApiError::Internal)??;
    let headers = [(tus::UPLOAD_OFFSET, HeaderValue::from(record.offset)), (tus::UPLOAD_EXPIRES, expires(&record))];
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

/// Streams a PATCH body into a new piece, then moves the offset if no other
/// PATCH moved it first; a piece that is not kept is deleted.
async fn receive_piece(
    app: AppState,
    principal: Principal,
    record: UploadRecord,
    body: Body,
    checksum: Option<Checksum>,
) -> Result<UploadRecord, ApiError> {
    let piece = Piece { id: PieceId::random(), bytes: 0 };
    let key = FileKey::upload_piece(&principal, record.id, piece.id);
    let mut file = app.files.begin(&key).await?;
    let mut hasher = checksum.as_ref().map(Checksum::hasher);
    let mut chunks = body.into_data_stream();
    let mut received = 0u64;
    let mut cut_short = false;
    while let Some(chunk) = chunks.next().await {
        let Ok(chunk) = chunk else {
            cut_short = true;
            break;
        };
        if received + chunk.len() as u64 > record.remaining() {
            return Err(ApiError::too_many_bytes(record.length));
        }
        file.write(&chunk).await?;
        if let Some(hasher) = hasher.as_mut() {
            hasher.update(&chunk);
        }
        received += chunk.len() as u64;
    }
    if let (Some(checksum), Some(hasher)) = (&checksum, hasher) {
        // A piece cut short cannot match its checksum either.
        if cut_short || !checksum.matches(hasher) {
            return Err(ApiError::ChecksumMismatch);
        }
    }
    if received == 0 {
        // Nothing to keep; the answer tells the client where it stands.
        return Ok(record);
    }
    file.finish().await?;
    let next = record.appended(Piece { bytes: received, ..piece }, app.uploads.upload_expiry);
    if !app.owned.replace(&principal, &record, &next).await? {
        // Another PATCH took this offset first, or the upload was deleted.
        app.files.delete(&key).await?;
        return Err(ApiError::UploadOffsetConflict);
    }
    Ok(next)
}

#[utoipa::path(delete, path = "/api/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "An upload id")),
    responses(
        (status = 204, description = "The upload and its pieces are gone"),
        (status = 401, description = "unauthenticated or session_expired", body = ErrorResponse),
        (status = 403, description = "csrf_failed", body = ErrorResponse),
        (status = 404, description = "not_found", body = ErrorResponse),
        (status = 412, description = "tus_version_unsupported", body = ErrorResponse)))]
async fn terminate_upload(
    State(app): State<AppState>,
    found: SessionAnd<UploadRecord>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    tus::require_version(&headers)?;
    let (principal, record) = named_upload(&app, found).await?;
    remove(&app, &principal, &record).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reads a finished upload of the given role back, piece by piece, into the
/// spool, where a multipart upload's file would be: from here on both take
/// the same path.
pub(super) async fn spool_finished(
    app: &AppState,
    principal: &Principal,
    id: UploadId,
    role: UploadRole,
) -> Result<(UploadRecord, Spooled), ApiError> {
    let record = find_upload(app, principal, id).await?;
    let field = match role {
        UploadRole::File => "file",
        UploadRole::Boundaries => "boundaries",
    };
    if record.role != role {
        return Err(ApiError::invalid_input(field, format!("This upload was not sent as the {field}.")));
    }
    if !record.is_finished() {
        return Err(ApiError::UploadIncomplete);
    }
    let mut spool = app.spool.start().await.map_err(super::datasets::spool_error)?;
    for piece in &record.pieces {
        let key = FileKey::upload_piece(principal, record.id, piece.id);
        let missing = || {
            tracing::error!(upload = %record.id, "a piece of an upload is missing from the file store");
            ApiError::Internal
        };
        let mut file = app.files.open(&key).await?.ok_or_else(missing)?;
        if file.bytes != piece.bytes {
            return Err(missing());
        }
        while let Some(chunk) = file.chunks.next().await {
            spool.write(&chunk?).await.map_err(super::datasets::spool_error)?;
        }
    }
    if spool.bytes() != record.length {
        tracing::error!(upload = %record.id, "an upload's pieces do not add up to its length");
        return Err(ApiError::Internal);
    }
    let spooled = spool.finish().await.map_err(super::datasets::spool_error)?;
    Ok((record, spooled))
}
