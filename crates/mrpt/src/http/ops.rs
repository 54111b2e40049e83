//! Operations routes: liveness, readiness (both stores answer), Prometheus
//! metrics and the OpenAPI document.

use super::AppState;
use crate::error::ApiError;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;
use utoipa::openapi::OpenApi;

/// With `with_metrics` false, `/metrics` is left to the private address.
pub fn routes(openapi: Arc<OpenApi>, with_metrics: bool) -> Router<AppState> {
    let routes = Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readiness))
        .route("/api/openapi.json", get(move || async move { Json(openapi.as_ref().clone()) }));
    match with_metrics {
        true => routes.merge(metrics_routes()),
        false => routes,
    }
}

pub fn metrics_routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Ready only while both stores answer; never "ready" on a fallback.
async fn readiness(State(app): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let (state, files) = tokio::join!(app.state.ping(), app.files.ping());
    state?;
    files?;
    Ok(Json(json!({"status": "ready"})))
}

async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render())
}
