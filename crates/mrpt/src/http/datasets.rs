//! Dataset routes: upload, list, show with preview, download, delete
//! (API.md, Datasets). Every lookup goes through the owner-scoped store.

use super::commit::{insert_after_files, remove, Written};
use super::extract::{is_json, ApiJson, CurrentSession, PathId, SessionAnd};
use super::spool::Spooled;
use super::uploads;
use super::views::ErrorResponse;
use super::AppState;
use crate::datasets::{clean_name, DatasetRecord, FileFormat, Upload};
use crate::uploads::{UploadRecord, UploadRole};
use crate::domain::DatasetId;
use crate::error::ApiError;
use crate::principal::Principal;
use crate::store::files::{DatasetFile, FileKey, FilePrefix};
use crate::work::Admission;
use axum::body::Body;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mrpt_analysis::{compact, read_table, BoundaryBudget, BudgetExceeded, BoundaryError, Boundaries, TableBudget, TableError, WardTable};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Everything but RFC 5987's `attr-char` is percent-encoded in `filename*`.
const NOT_ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!').remove(b'#').remove(b'$').remove(b'&').remove(b'+').remove(b'-')
    .remove(b'.').remove(b'^').remove(b'_').remove(b'`').remove(b'|').remove(b'~');

/// Chunk size for writes to the file store.
const WRITE_CHUNK: usize = 1 << 20;

pub fn routes(max_upload: u64) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_dataset, list_datasets))
        .routes(routes!(get_dataset, delete_dataset))
        .routes(routes!(download_dataset))
        .layer(DefaultBodyLimit::max(usize::try_from(max_upload).unwrap_or(usize::MAX)))
}

/// A dataset as the API shows it (API.md `Dataset`).
#[derive(Serialize, ToSchema)]
pub struct DatasetView {
    id: String,
    name: String,
    filename: String,
    #[schema(value_type = String, example = "csv")]
    format: FileFormat,
    bytes: u64,
    sha256: String,
    rows: usize,
    #[schema(value_type = Vec<Object>)]
    columns: Vec<crate::datasets::ColumnSummary>,
    ward_column: String,
    has_boundaries: bool,
    uploaded_at: String,
    session_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    preview: Option<Box<RawValue>>,
}

impl DatasetView {
    fn of(record: DatasetRecord, with_preview: bool) -> Self {
        Self {
            id: record.id.to_string(),
            name: record.name,
            filename: record.filename,
            format: record.format,
            bytes: record.bytes,
            sha256: record.sha256,
            rows: record.rows,
            columns: record.columns,
            ward_column: record.ward_column,
            has_boundaries: record.has_boundaries,
            uploaded_at: record.uploaded_at.rfc3339(),
            session_id: record.session_id.to_string(),
            preview: with_preview.then_some(record.preview),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DatasetList {
    datasets: Vec<DatasetView>,
}

/// The parts of an upload form (for the OpenAPI document).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The ward table: `.csv`, `.xlsx` or `.xls`.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
    /// Optional ward boundaries: GeoJSON FeatureCollection or zipped shapefile.
    #[schema(format = Binary, value_type = Option<String>)]
    boundaries: Option<Vec<u8>>,
    /// Optional dataset name (default: the file name without extension).
    name: Option<String>,
}

struct FilePart {
    file_name: String,
    spooled: Spooled,
}

/// The body that turns finished resumable uploads into a dataset.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishUploads {
    /// The id of a finished upload with the role `file`.
    file: String,
    /// The id of a finished upload with the role `boundaries`.
    boundaries: Option<String>,
    /// Optional dataset name (default: the upload's `name`, else its file name).
    name: Option<String>,
}

/// What an upload brought, received whole, before any check of its content.
struct Received {
    table: FilePart,
    boundaries: Option<FilePart>,
    name: Option<String>,
}

#[utoipa::path(post, path = "/api/datasets", tag = "datasets",
    request_body(content(
        (UploadForm = "multipart/form-data"),
        (FinishUploads = "application/json"))),
    responses(
        (status = 201, description = "The dataset", body = DatasetView),
        (status = 400, description = "invalid_file (with line) or invalid_input", body = ErrorResponse),
        (status = 401, description = "unauthenticated or session_expired", body = ErrorResponse),
        (status = 403, description = "csrf_failed", body = ErrorResponse),
        (status = 404, description = "not_found: an upload id that is not the caller's", body = ErrorResponse),
        (status = 409, description = "upload_incomplete", body = ErrorResponse),
        (status = 413, description = "payload_too_large", body = ErrorResponse),
        (status = 415, description = "unsupported_format", body = ErrorResponse),
        (status = 422, description = "missing_ward_column", body = ErrorResponse),
        (status = 429, description = "too_many_requests: the user's share of expensive work is in flight (with Retry-After)", body = ErrorResponse),
        (status = 503, description = "busy: the queue for expensive work is full (with Retry-After)", body = ErrorResponse)))]
async fn upload_dataset(State(app): State<AppState>, session: CurrentSession, request: Request) -> Result<Response, ApiError> {
    let (received, consumed) = if is_json(request.headers()) {
        let ApiJson(finish) = ApiJson::<FinishUploads>::from_request(request, &app).await?;
        finished_uploads(&app, &session.principal, finish).await?
    } else {
        (received_form(&app, request).await?, Vec::new())
    };
    let record = create_dataset(&app, &session, received).await?;
    for upload in &consumed {
        uploads::remove(&app, &session.principal, upload).await?;
    }
    Ok((StatusCode::CREATED, Json(DatasetView::of(record, false))).into_response())
}

/// Receives the parts of a multipart upload form into the spool.
async fn received_form(app: &AppState, request: Request) -> Result<Received, ApiError> {
    let too_large = ApiError::too_many_bytes(app.max_upload);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > app.max_upload) {
        // Refused before a byte of the body is read.
        return Err(too_large);
    }
    let mut form = Multipart::from_request(request, app).await.map_err(|rejection| {
        ApiError::invalid_input("file", format!("The upload form could not be read: {}.", rejection.body_text()))
    })?;
    let (mut table, mut boundaries, mut name) = (None, None, None);
    while let Some(field) = form.next_field().await.map_err(|err| multipart_error(err, app))? {
        match field.name() {
            Some("file") => table = Some(spool_part(field, app).await?),
            Some("boundaries") => boundaries = Some(spool_part(field, app).await?),
            Some("name") => name = name_part(field, app).await?,
            _ => {}
        }
    }
    let table = table.ok_or_else(|| ApiError::invalid_input("file", "Choose a ward table file to upload."))?;
    Ok(Received { table, boundaries, name })
}

/// Receives the name part of an upload form, refusing it as soon as it passes its budget.
async fn name_part(mut field: Field<'_>, app: &AppState) -> Result<Option<String>, ApiError> {
    let mut raw = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|err| multipart_error(err, app))? {
        BudgetExceeded::check("name_bytes", (raw.len() + chunk.len()) as u64, app.budgets.max_name_bytes)?;
        raw.extend_from_slice(&chunk);
    }
    let raw = String::from_utf8(raw).map_err(|_| ApiError::invalid_input("name", "The name must be UTF-8 text."))?;
    dataset_name(&raw, app)
}

/// A dataset name as sent, measured against its budget, then cleaned.
pub(super) fn dataset_name(raw: &str, app: &AppState) -> Result<Option<String>, ApiError> {
    BudgetExceeded::check("name_bytes", raw.len() as u64, app.budgets.max_name_bytes)?;
    clean_name(raw).map_err(|msg| ApiError::invalid_input("name", msg))
}

/// Reads the finished uploads a JSON body names back from the stores; they
/// are consumed once the dataset exists.
async fn finished_uploads(
    app: &AppState,
    principal: &Principal,
    finish: FinishUploads,
) -> Result<(Received, Vec<UploadRecord>), ApiError> {
    let name = match &finish.name {
        Some(raw) => dataset_name(raw, app)?,
        None => None,
    };
    let file_id = finish.file.parse().map_err(|_| ApiError::NotFound)?;
    let (table_upload, table) = uploads::spool_finished(app, principal, file_id, UploadRole::File).await?;
    let mut consumed = vec![];
    let boundaries = match &finish.boundaries {
        Some(raw) => {
            let id = raw.parse().map_err(|_| ApiError::NotFound)?;
            let (upload, spooled) = uploads::spool_finished(app, principal, id, UploadRole::Boundaries).await?;
            consumed.push(upload.clone());
            Some(FilePart { file_name: upload.filename, spooled })
        }
        None => None,
    };
    let received = Received {
        table: FilePart { file_name: table_upload.filename.clone(), spooled: table },
        boundaries,
        name: name.or_else(|| table_upload.name.clone()),
    };
    consumed.push(table_upload);
    Ok((received, consumed))
}

/// The checks every upload goes through, however its bytes arrived, then
/// the files and the record.
async fn create_dataset(app: &AppState, session: &CurrentSession, received: Received) -> Result<DatasetRecord, ApiError> {
    let Received { table: table_part, boundaries: boundaries_part, name } = received;
    let format = FileFormat::from_file_name(&table_part.file_name).ok_or_else(|| {
        ApiError::UnsupportedFormat("The ward table must be a .csv, .xlsx or .xls file.".to_owned())
    })?;

    let principal = &session.principal;
    let work = app.work.admit(principal.user_id())?;
    let (table_bytes, table) = parse_table(&work, table_part.spooled, format, app.budgets.table()).await?;
    let (boundaries, parsed_boundaries) = match boundaries_part.filter(|part| !part.spooled.is_empty()) {
        Some(part) => {
            let (spooled, parsed) = check_boundaries(&work, part.spooled, app.budgets.boundaries()).await?;
            (Some(spooled), Some(parsed))
        }
        None => (None, None),
    };

    let id = DatasetId::random();
    let record = DatasetRecord::new(
        principal,
        Upload {
            id,
            name,
            filename: &table_part.file_name,
            format,
            bytes: table_bytes.len(),
            sha256: table_bytes.sha256.clone(),
            table: &table,
            has_boundaries: boundaries.is_some(),
        },
    );
    let compact = work
        .run(move || Compact {
            table: compact::encode_table(&table),
            boundaries: parsed_boundaries.as_ref().map(compact::encode_boundaries),
        })
        .await?;
    // The upload was received whole and checked. Storing it runs on its own
    // task, so that a client going away cannot cancel it between the files
    // and the record: it ends with both or, after a failure, with neither.
    let stored = tokio::spawn(store_dataset(app.clone(), session.principal.clone(), record, table_bytes, boundaries, compact));
    stored.await.map_err(|_| ApiError::Internal)?
}

/// Boundaries are parsed on the work pool: a large shapefile takes a while.
async fn check_boundaries(work: &Admission, spooled: Spooled, budget: BoundaryBudget) -> Result<(Spooled, Boundaries), ApiError> {
    let (spooled, parsed) = work
        .run(move || {
            let parsed = Boundaries::parse(spooled.as_ref(), &budget);
            (spooled, parsed)
        })
        .await?;
    let parsed = parsed.map_err(|err| match err {
        BoundaryError::TooLarge(exceeded) => ApiError::PayloadTooLarge(exceeded),
        other => ApiError::InvalidFile { message: format!("The boundaries file could not be read: {other}"), line: None },
    })?;
    Ok((spooled, parsed))
}

/// What later requests read instead of the uploaded files.
struct Compact {
    table: Vec<u8>,
    boundaries: Option<Vec<u8>>,
}

async fn store_dataset(
    app: AppState,
    principal: Principal,
    record: DatasetRecord,
    table: Spooled,
    boundaries: Option<Spooled>,
    compact: Compact,
) -> Result<DatasetRecord, ApiError> {
    let folder = FilePrefix::dataset(&principal, record.id);
    if let Err(err) = write_dataset_files(&app, &principal, &record, &table, boundaries.as_ref(), &compact).await {
        remove(&app, Written::Folder(&folder)).await;
        return Err(err);
    }
    // The record comes last: a dataset exists only once its files do.
    insert_after_files(&app, &principal, &record, Written::Folder(&folder)).await?;
    Ok(record)
}

async fn write_dataset_files(
    app: &AppState,
    principal: &Principal,
    record: &DatasetRecord,
    table: &Spooled,
    boundaries: Option<&Spooled>,
    compact: &Compact,
) -> Result<(), ApiError> {
    let key = |file| FileKey::dataset(principal, record.id, file);
    write_file(app, &key(DatasetFile::Table), table.as_ref()).await?;
    write_file(app, &key(DatasetFile::ParsedTable), &compact.table).await?;
    if let Some(boundaries) = boundaries {
        write_file(app, &key(DatasetFile::Boundaries), boundaries.as_ref()).await?;
    }
    if let Some(parsed) = &compact.boundaries {
        write_file(app, &key(DatasetFile::ParsedBoundaries), parsed).await?;
    }
    Ok(())
}

pub(super) async fn write_file(app: &AppState, key: &FileKey, bytes: &[u8]) -> Result<(), ApiError> {
    let mut upload = app.files.begin(key).await?;
    for chunk in bytes.chunks(WRITE_CHUNK) {
        upload.write(chunk).await?;
    }
    upload.finish().await?;
    Ok(())
}

/// Receives one file of the form into the spool, refusing it as soon as it
/// passes the upload limit.
async fn spool_part(mut field: Field<'_>, app: &AppState) -> Result<FilePart, ApiError> {
    let file_name = field.file_name().unwrap_or_default().to_owned();
    let mut spool = app.spool.start().await.map_err(spool_error)?;
    while let Some(chunk) = field.chunk().await.map_err(|err| multipart_error(err, app))? {
        if spool.bytes() + chunk.len() as u64 > app.max_upload {
            return Err(ApiError::too_many_bytes(app.max_upload));
        }
        spool.write(&chunk).await.map_err(spool_error)?;
    }
    Ok(FilePart { file_name, spooled: spool.finish().await.map_err(spool_error)? })
}

pub(super) fn spool_error(err: std::io::Error) -> ApiError {
    tracing::error!(error = %err, "the upload spool failed");
    ApiError::Internal
}

fn multipart_error(err: MultipartError, app: &AppState) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::too_many_bytes(app.max_upload);
    }
    ApiError::invalid_input("file", format!("The upload form could not be read: {}.", err.body_text()))
}

/// Reads the table on the work pool: a large file takes a while. The bytes
/// are handed back for the caller to keep.
pub(super) async fn parse_table<B>(
    work: &Admission,
    bytes: B,
    format: FileFormat,
    budget: TableBudget,
) -> Result<(B, WardTable), ApiError>
where
    B: AsRef<[u8]> + Send + 'static,
{
    let (bytes, parsed) = work
        .run(move || {
            let parsed = read_table(bytes.as_ref(), format.table_format(), &budget);
            (bytes, parsed)
        })
        .await?;
    let table = parsed.map_err(|err| match err {
        TableError::MissingWardColumn => ApiError::MissingWardColumn(err.to_string()),
        TableError::TooLarge(exceeded) => ApiError::PayloadTooLarge(exceeded),
        other => ApiError::InvalidFile { line: other.line(), message: other.to_string() },
    })?;
    Ok((bytes, table))
}

pub(super) async fn find_dataset(app: &AppState, principal: &Principal, id: DatasetId) -> Result<DatasetRecord, ApiError> {
    app.owned.get::<DatasetRecord>(principal, &id.to_string()).await?.ok_or(ApiError::NotFound)
}

#[utoipa::path(get, path = "/api/datasets", tag = "datasets",
    responses(
        (status = 200, description = "The caller's datasets, newest first", body = DatasetList),
        (status = 401, description = "unauthenticated or session_expired", body = ErrorResponse)))]
async fn list_datasets(State(app): State<AppState>, session: CurrentSession) -> Result<Json<DatasetList>, ApiError> {
    let records = app.owned.list::<DatasetRecord>(&session.principal).await?;
    Ok(Json(DatasetList { datasets: records.into_iter().map(|record| DatasetView::of(record, false)).collect() }))
}

#[utoipa::path(get, path = "/api/datasets/{id}", tag = "datasets",
    params(("id" = String, Path, description = "A dataset id")),
    responses(
        (status = 200, description = "The dataset with a preview of its first 20 rows", body = DatasetView),
        (status = 401, description = "unauthenticated or session_expired", body = ErrorResponse),
        (status = 404, description = "not_found", body = ErrorResponse)))]
async fn get_dataset(found: SessionAnd<DatasetRecord>) -> Result<Json<DatasetView>, ApiError> {
    Ok(Json(DatasetView::of(found.record.ok_or(ApiError::NotFound)?, true)))
}

#[utoipa::path(get, path = "/api/datasets/{id}/file", tag = "datasets",
    params(("id" = String, Path, description = "A dataset id")),
    responses(
        (status = 200, description = "The uploaded bytes exactly, as an attachment"),
        (status = 401, description = "unauthenticated or session_expired", body = ErrorResponse),
        (status = 404, description = "not_found", body = ErrorResponse)))]
async fn download_dataset(State(app): State<AppState>, found: SessionAnd<DatasetRecord>) -> Result<Response, ApiError> {
    let record = found.record.ok_or(ApiError::NotFound)?;
    let key = FileKey::dataset(&found.session.principal, record.id, DatasetFile::Table);
    let file = app.files.open(&key).await?.ok_or_else(|| {
        tracing::error!(dataset = %record.id, "a dataset's file is missing from the file store");
        ApiError::Internal
    })?;
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(record.format.media_type())),
        (header::CONTENT_DISPOSITION, attachment(&record.filename)),
        (header::CONTENT_LENGTH, HeaderValue::from(file.bytes)),
    ];
    // Streamed as the store hands it out; a store failing midway cuts the
    // body short of its announced length, so the client sees it failed.
    Ok((headers, Body::from_stream(file.chunks)).into_response())
}

/// `Content-Disposition: attachment` with an ASCII fallback name and the
/// exact UTF-8 name (RFC 6266).
pub(super) fn attachment(file_name: &str) -> HeaderValue {
    // A quote or backslash would end or escape the quoted fallback early.
    let fallback: String = file_name
        .chars()
        .map(|c| if (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\' { c } else { '_' })
        .collect();
    let encoded = utf8_percent_encode(file_name, NOT_ATTR_CHAR);
    HeaderValue::from_str(&format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[utoipa::path(delete, path = "/api/datasets/{id}", tag = "datasets",
    params(("id" = String, Path, description = "A dataset id")),
    responses(
        (status = 204, description = "The dataset, its files, analyses and plans are gone"),
        (status = 401, description = "unauthenticated or session_expired", body = ErrorResponse),
        (status = 403, description = "csrf_failed", body = ErrorResponse),
        (status = 404, description = "not_found", body = ErrorResponse)))]
async fn delete_dataset(
    State(app): State<AppState>,
    PathId(id): PathId<DatasetId>,
    session: CurrentSession,
) -> Result<StatusCode, ApiError> {
    let principal = &session.principal;
    if app.owned.delete::<DatasetRecord>(principal, &id.to_string()).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    app.files.delete_prefix(&FilePrefix::dataset(principal, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::attachment;

    #[test]
    fn attachment_names_stay_one_quoted_string() {
        let header = attachment("Kano \"final\" \\ é.csv");
        assert_eq!(header.to_str().unwrap(), "attachment; filename=\"Kano _final_ _ _.csv\"; filename*=UTF-8''Kano%20%22final%22%20%5C%20%C3%A9.csv");
    }
}
