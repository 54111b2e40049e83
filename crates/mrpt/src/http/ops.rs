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

pub fn routes(openapi: Arc<OpenApi>) -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readiness))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(move || async move { Json(openapi.as_ref().clone()) }))
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
