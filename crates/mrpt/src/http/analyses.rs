//! Analysis and bed-net plan routes (API.md, Analyses and Bed-net plans):
//! run, list, show, export, map, chart and delete, all owner-scoped.

use super::commit::{insert_after_files, Written};
use super::datasets::{attachment, find_dataset, parse_table, write_file};
use super::extract::{ApiJson, CurrentSession, OptionalJson, PathId};
use super::views::ErrorResponse;
use super::AppState;
use crate::analyses::{AnalysisRecord, PlanRecord};
use crate::datasets::DatasetRecord;
use crate::domain::{AnalysisId, PlanId};
use crate::error::ApiError;
use crate::principal::Principal;
use crate::store::files::{DatasetFile, FileKey, FilePrefix};
use crate::work::Admission;
use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use mrpt_analysis::{analyse, compact, export, plan_itn, render, AnalysisError, AnalysisOutcome, BoundaryError, Boundaries, ItnError, ItnPlan, ItnRequest, AnalysisRequest, Method, WardTable};
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Pictures are shown as documents too: they may not run or load anything.
const SVG_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(run_analysis))
        .routes(routes!(list_analyses))
        .routes(routes!(get_analysis, delete_analysis))
        .routes(routes!(export_analysis))
        .routes(routes!(analysis_map))
        .routes(routes!(analysis_chart))
        .routes(routes!(plan_nets))
        .routes(routes!(get_plan))
        .routes(routes!(export_plan))
}

/// API.md `Analysis`: the record's ids and time with the full result.
#[derive(Serialize, ToSchema)]
pub struct AnalysisView {
    id: String,
    dataset_id: String,
    created_at: String,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    outcome: AnalysisOutcome,
}

impl AnalysisView {
    fn of(record: &AnalysisRecord, outcome: AnalysisOutcome) -> Self {
        Self {
            id: record.id.to_string(),
            dataset_id: record.dataset_id.to_string(),
            created_at: record.created_at.rfc3339(),
            outcome,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AnalysisSummary {
    id: String,
    dataset_id: String,
    created_at: String,
    #[schema(value_type = String, example = "both")]
    method: Method,
}

#[derive(Serialize, ToSchema)]
pub struct AnalysisList {
    analyses: Vec<AnalysisSummary>,
}

/// API.md's bed-net plan: ids and the plan itself.
#[derive(Serialize, ToSchema)]
pub struct PlanView {
    id: String,
    analysis_id: String,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    plan: ItnPlan,
}

impl PlanView {
    fn of(record: &PlanRecord, plan: ItnPlan) -> Self {
        Self { id: record.id.to_string(), analysis_id: record.analysis_id.to_string(), plan }
    }
}

/// The body of `POST /api/datasets/{id}/analyses` (every field optional).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AnalysisRequestDoc {
    /// `composite`, `pca` or `both` (default).
    method: Option<String>,
    variables: Option<Vec<String>>,
    /// Variable name to `direct` or `inverse`.
    #[schema(value_type = Option<Object>)]
    directions: Option<()>,
    /// `reciprocal` (default) or `complement`.
    inversion: Option<String>,
    /// `mean` or `spatial` (default when the dataset has boundaries).
    imputation: Option<String>,
}

/// The body of `POST /api/analyses/{id}/itn`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ItnRequestDoc {
    total_nets: u64,
    avg_household_size: Option<f64>,
    urban_threshold: Option<f64>,
    population_column: Option<String>,
    urban_column: Option<String>,
    /// `greedy` (default) or `proportional`.
    method: Option<String>,
}

/// The dataset's table: its compact form when the upload stored one (every upload since
/// uploads keep it), else the original file read again within the budget.
async fn load_table(app: &AppState, work: &Admission, principal: &Principal, dataset: &DatasetRecord) -> Result<WardTable, ApiError> {
    let parsed = FileKey::dataset(principal, dataset.id, DatasetFile::ParsedTable);
    if let Some(table) = load_compact(app, work, &parsed, compact::decode_table).await? {
        return Ok(table);
    }
    let bytes = read_file(app, &FileKey::dataset(principal, dataset.id, DatasetFile::Table)).await?;
    Ok(parse_table(work, bytes, dataset.format, app.budgets.table()).await?.1)
}

/// The dataset's boundaries, from their compact form as [`load_table`] reads the table.
async fn load_boundaries(
    app: &AppState,
    work: &Admission,
    principal: &Principal,
    dataset: &DatasetRecord,
) -> Result<Option<Boundaries>, ApiError> {
    if !dataset.has_boundaries {
        return Ok(None);
    }
    let parsed = FileKey::dataset(principal, dataset.id, DatasetFile::ParsedBoundaries);
    if let Some(boundaries) = load_compact(app, work, &parsed, compact::decode_boundaries).await? {
        return Ok(Some(boundaries));
    }
    let bytes = read_file(app, &FileKey::dataset(principal, dataset.id, DatasetFile::Boundaries)).await?;
    let budget = app.budgets.boundaries();
    let boundaries = work.run(move || Boundaries::parse(&bytes, &budget)).await?;
    boundaries.map(Some).map_err(|err| match err {
        // Stored before the budgets were lowered.
        BoundaryError::TooLarge(exceeded) => ApiError::PayloadTooLarge(exceeded),
        // They were checked at upload; failing now means the stored file changed.
        other => {
            tracing::error!(error = %other, "stored boundaries no longer parse");
            ApiError::Internal
        }
    })
}

/// A compact form decoded on the work pool; `None` when there is none or it cannot be
/// read, so that the caller reads the original.
async fn load_compact<T: Send + 'static>(
    app: &AppState,
    work: &Admission,
    key: &FileKey,
    decode: fn(&[u8]) -> Result<T, compact::CompactError>,
) -> Result<Option<T>, ApiError> {
    let Some(bytes) = app.files.read(key).await? else { return Ok(None) };
    let decoded = work.run(move || decode(&bytes)).await?;
    Ok(decoded.inspect_err(|err| tracing::warn!(key = key.as_str(), error = %err, "reading the original upload instead")).ok())
}

async fn read_file(app: &AppState, key: &FileKey) -> Result<Bytes, ApiError> {
    app.files.read(key).await?.ok_or_else(|| {
        tracing::error!(key = key.as_str(), "a file named by a record is missing from the file store");
        ApiError::Internal
    })
}

async fn read_json<T: DeserializeOwned>(app: &AppState, key: &FileKey) -> Result<T, ApiError> {
    serde_json::from_slice(&read_file(app, key).await?).map_err(|err| {
        tracing::error!(key = key.as_str(), error = %err, "a stored result does not parse");
        ApiError::Internal
    })
}

/// An analysis with the dataset it was run on, for answers that name it.
async fn find_analysis_and_dataset(
    app: &AppState,
    principal: &Principal,
    id: AnalysisId,
) -> Result<(AnalysisOutcome, DatasetRecord), ApiError> {
    let (record, outcome) = find_analysis(app, principal, id).await?;
    let dataset = find_dataset(app, principal, record.dataset_id).await?;
    Ok((outcome, dataset))
}

async fn find_analysis(app: &AppState, principal: &Principal, id: AnalysisId) -> Result<(AnalysisRecord, AnalysisOutcome), ApiError> {
    let record = app.owned.get::<AnalysisRecord>(principal, &id.to_string()).await?.ok_or(ApiError::NotFound)?;
    let outcome = read_json(app, &FileKey::analysis_result(principal, record.dataset_id, record.id)).await?;
    Ok((record, outcome))
}

/// Inserts a record after its result file is written; on failure nothing
/// of either stays.
async fn store_result<R: crate::store::owned::OwnedRecord>(
    app: &AppState,
    principal: &Principal,
    record: &R,
    key: &FileKey,
    result: &impl Serialize,
) -> Result<(), ApiError> {
    let bytes = serde_json::to_vec(result).map_err(|_| ApiError::Internal)?;
    write_file(app, key, &bytes).await?;
    insert_after_files(app, principal, record, Written::File(key)).await
}

fn analysis_error(err: AnalysisError) -> ApiError {
    match err {
        AnalysisError::InvalidVariables { variable, message } => ApiError::InvalidVariables { message, variable },
        AnalysisError::NeedsBoundaries => ApiError::invalid_input("imputation", err.to_string()),
        AnalysisError::TooLarge(exceeded) => ApiError::PayloadTooLarge(exceeded),
    }
}

#[utoipa::path(post, path = "/api/datasets/{id}/analyses", tag = "analyses",
    params(("id" = String, Path, description = "A dataset id")),
    request_body = AnalysisRequestDoc,
    responses(
        (status = 201, description = "The analysis", body = AnalysisView),
        (status = 400, description = "invalid_input", body = ErrorResponse),
        (status = 404, description = "not_found", body = ErrorResponse),
        (status = 413, description = "payload_too_large: more variables or cells than the analysis budget (with limit and max)", body = ErrorResponse),
        (status = 422, description = "invalid_variables (with variable)", body = ErrorResponse),
        (status = 429, description = "too_many_requests: the user's share of expensive work is in flight (with Retry-After)", body = ErrorResponse),
        (status = 503, description = "busy: the queue for expensive work is full (with Retry-After)", body = ErrorResponse)))]
async fn run_analysis(
    State(app): State<AppState>,
    PathId(dataset_id): PathId<crate::domain::DatasetId>,
    session: CurrentSession,
    OptionalJson(request): OptionalJson<AnalysisRequest>,
) -> Result<(StatusCode, Json<AnalysisView>), ApiError> {
    let principal = &session.principal;
    let dataset = find_dataset(&app, principal, dataset_id).await?;
    let work = app.work.admit(principal.user_id())?;
    let table = load_table(&app, &work, principal, &dataset).await?;
    let boundaries = load_boundaries(&app, &work, principal, &dataset).await?;
    let budget = app.budgets.analysis();
    let outcome =
        work.run(move || analyse(&table, boundaries.as_ref(), &request, &budget)).await?.map_err(analysis_error)?;
    let record = AnalysisRecord::new(principal, dataset.id, outcome.method);
    let key = FileKey::analysis_result(principal, dataset.id, record.id);
    store_result(&app, principal, &record, &key, &outcome).await?;
    Ok((StatusCode::CREATED, Json(AnalysisView::of(&record, outcome))))
}

#[utoipa::path(get, path = "/api/analyses", tag = "analyses",
    responses(
        (status = 200, description = "The caller's analyses, newest first", body = AnalysisList),
        (status = 401, description = "unauthenticated or session_expired", body = ErrorResponse)))]
async fn list_analyses(State(app): State<AppState>, session: CurrentSession) -> Result<Json<AnalysisList>, ApiError> {
    let records = app.owned.list::<AnalysisRecord>(&session.principal).await?;
    let analyses = records
        .into_iter()
        .map(|r| AnalysisSummary { id: r.id.to_string(), dataset_id: r.dataset_id.to_string(), created_at: r.created_at.rfc3339(), method: r.method })
        .collect();
    Ok(Json(AnalysisList { analyses }))
}

#[utoipa::path(get, path = "/api/analyses/{id}", tag = "analyses",
    params(("id" = String, Path, description = "An analysis id")),
    responses(
        (status = 200, description = "The analysis", body = AnalysisView),
        (status = 404, description = "not_found", body = ErrorResponse)))]
async fn get_analysis(
    State(app): State<AppState>,
    PathId(id): PathId<AnalysisId>,
    session: CurrentSession,
) -> Result<Json<AnalysisView>, ApiError> {
    let (record, outcome) = find_analysis(&app, &session.principal, id).await?;
    Ok(Json(AnalysisView::of(&record, outcome)))
}

#[utoipa::path(delete, path = "/api/analyses/{id}", tag = "analyses",
    params(("id" = String, Path, description = "An analysis id")),
    responses(
        (status = 204, description = "The analysis and its plans are gone"),
        (status = 404, description = "not_found", body = ErrorResponse)))]
async fn delete_analysis(
    State(app): State<AppState>,
    PathId(id): PathId<AnalysisId>,
    session: CurrentSession,
) -> Result<StatusCode, ApiError> {
    let principal = &session.principal;
    let record = app.owned.delete::<AnalysisRecord>(principal, &id.to_string()).await?.ok_or(ApiError::NotFound)?;
    app.files.delete_prefix(&FilePrefix::analysis(principal, record.dataset_id, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn csv_response(file_name: &str, body: String) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
        (header::CONTENT_DISPOSITION, attachment(file_name)),
    ];
    (headers, body).into_response()
}

fn svg_response(svg: String) -> Response {
    let policy = HeaderName::from_static("content-security-policy");
    ([(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml")), (policy, HeaderValue::from_static(SVG_POLICY))], svg)
        .into_response()
}

#[utoipa::path(get, path = "/api/analyses/{id}/export.csv", tag = "analyses",
    params(("id" = String, Path, description = "An analysis id")),
    responses(
        (status = 200, description = "ward,ward_code,composite_score,composite_rank,composite_category,pca_score,pca_rank,pca_category", content_type = "text/csv"),
        (status = 404, description = "not_found", body = ErrorResponse)))]
async fn export_analysis(
    State(app): State<AppState>,
    PathId(id): PathId<AnalysisId>,
    session: CurrentSession,
) -> Result<Response, ApiError> {
    let (outcome, dataset) = find_analysis_and_dataset(&app, &session.principal, id).await?;
    Ok(csv_response(&format!("{}-ranking.csv", dataset.name), export::analysis_csv(&outcome)))
}

#[utoipa::path(get, path = "/api/analyses/{id}/map.svg", tag = "analyses",
    params(("id" = String, Path, description = "An analysis id")),
    responses(
        (status = 200, description = "Choropleth of the composite categories", content_type = "image/svg+xml"),
        (status = 404, description = "not_found, or no_boundaries when the dataset has none", body = ErrorResponse),
        (status = 429, description = "too_many_requests: the user's share of expensive work is in flight (with Retry-After)", body = ErrorResponse),
        (status = 503, description = "busy: the queue for expensive work is full (with Retry-After)", body = ErrorResponse)))]
async fn analysis_map(
    State(app): State<AppState>,
    PathId(id): PathId<AnalysisId>,
    session: CurrentSession,
) -> Result<Response, ApiError> {
    let principal = &session.principal;
    let (outcome, dataset) = find_analysis_and_dataset(&app, principal, id).await?;
    let work = app.work.admit(principal.user_id())?;
    let boundaries = load_boundaries(&app, &work, principal, &dataset).await?.ok_or(ApiError::NoBoundaries)?;
    let title = dataset.name.clone();
    let svg = work.run(move || render::map_svg(&boundaries, &outcome, &title)).await?.ok_or(ApiError::NoBoundaries)?;
    Ok(svg_response(svg))
}

#[utoipa::path(get, path = "/api/analyses/{id}/chart.svg", tag = "analyses",
    params(("id" = String, Path, description = "An analysis id")),
    responses(
        (status = 200, description = "Bar chart of the 20 highest-risk wards", content_type = "image/svg+xml"),
        (status = 404, description = "not_found", body = ErrorResponse)))]
async fn analysis_chart(
    State(app): State<AppState>,
    PathId(id): PathId<AnalysisId>,
    session: CurrentSession,
) -> Result<Response, ApiError> {
    let (outcome, dataset) = find_analysis_and_dataset(&app, &session.principal, id).await?;
    Ok(svg_response(render::chart_svg(&outcome, &dataset.name)))
}

fn itn_error(err: ItnError) -> ApiError {
    match err {
        ItnError::InvalidNumber { field, message } => ApiError::invalid_input(field, message),
        ItnError::UnknownColumn { column, message, .. } => ApiError::InvalidVariables { message, variable: Some(column) },
        ItnError::NoPopulation { ref column } | ItnError::PopulationTooLarge { ref column } => {
            ApiError::InvalidVariables { variable: Some(column.clone()), message: err.to_string() }
        }
        ItnError::NoComposite => ApiError::InvalidVariables { variable: None, message: err.to_string() },
    }
}

#[utoipa::path(post, path = "/api/analyses/{id}/itn", tag = "itn",
    params(("id" = String, Path, description = "An analysis id")),
    request_body = ItnRequestDoc,
    responses(
        (status = 201, description = "The plan", body = PlanView),
        (status = 400, description = "invalid_input", body = ErrorResponse),
        (status = 404, description = "not_found", body = ErrorResponse),
        (status = 422, description = "invalid_variables: no usable population column", body = ErrorResponse),
        (status = 429, description = "too_many_requests: the user's share of expensive work is in flight (with Retry-After)", body = ErrorResponse),
        (status = 503, description = "busy: the queue for expensive work is full (with Retry-After)", body = ErrorResponse)))]
async fn plan_nets(
    State(app): State<AppState>,
    PathId(id): PathId<AnalysisId>,
    session: CurrentSession,
    ApiJson(request): ApiJson<ItnRequest>,
) -> Result<(StatusCode, Json<PlanView>), ApiError> {
    let principal = &session.principal;
    let (analysis, outcome) = find_analysis(&app, principal, id).await?;
    let dataset = find_dataset(&app, principal, analysis.dataset_id).await?;
    let work = app.work.admit(principal.user_id())?;
    let table = load_table(&app, &work, principal, &dataset).await?;
    let plan = work.run(move || plan_itn(&table, &outcome, &request)).await?.map_err(itn_error)?;
    let record = PlanRecord::new(principal, &analysis, plan.method);
    let key = FileKey::plan(principal, analysis.dataset_id, analysis.id, record.id);
    store_result(&app, principal, &record, &key, &plan).await?;
    Ok((StatusCode::CREATED, Json(PlanView::of(&record, plan))))
}

async fn find_plan(app: &AppState, principal: &Principal, id: PlanId) -> Result<(PlanRecord, ItnPlan), ApiError> {
    let record = app.owned.get::<PlanRecord>(principal, &id.to_string()).await?.ok_or(ApiError::NotFound)?;
    let plan = read_json(app, &FileKey::plan(principal, record.dataset_id, record.analysis_id, record.id)).await?;
    Ok((record, plan))
}

#[utoipa::path(get, path = "/api/itn/{id}", tag = "itn",
    params(("id" = String, Path, description = "A plan id")),
    responses(
        (status = 200, description = "The plan", body = PlanView),
        (status = 404, description = "not_found", body = ErrorResponse)))]
async fn get_plan(State(app): State<AppState>, PathId(id): PathId<PlanId>, session: CurrentSession) -> Result<Json<PlanView>, ApiError> {
    let (record, plan) = find_plan(&app, &session.principal, id).await?;
    Ok(Json(PlanView::of(&record, plan)))
}

#[utoipa::path(get, path = "/api/itn/{id}/export.csv", tag = "itn",
    params(("id" = String, Path, description = "A plan id")),
    responses(
        (status = 200, description = "The plan as CSV", content_type = "text/csv"),
        (status = 404, description = "not_found", body = ErrorResponse)))]
async fn export_plan(State(app): State<AppState>, PathId(id): PathId<PlanId>, session: CurrentSession) -> Result<Response, ApiError> {
    let (record, plan) = find_plan(&app, &session.principal, id).await?;
    let name = format!("bed-net-plan-{}.csv", record.created_at.rfc3339().get(..10).unwrap_or_default());
    Ok(csv_response(&name, export::itn_csv(&plan)))
}
