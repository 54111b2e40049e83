//! The browser page: static files from `web/`, embedded in the binary so
//! that a server works offline. They are public and cacheable, and never
//! carry a cookie.

use super::middleware::StaticAsset;
use super::AppState;
use crate::error::ApiError;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../../web/"]
struct Assets;

/// Lets a shared cache serve the page while a new release still reaches
/// browsers within minutes.
const CACHE_POLICY: &str = "public, max-age=300";
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
     script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One route per embedded file, so that any other path stays a plain 404
/// (and never a 405 from a catch-all route).
pub fn routes() -> Router<AppState> {
    let index = get(|headers: HeaderMap| async move { asset("index.html", &headers) });
    Assets::iter().fold(Router::new().route("/", index), |router, path| {
        let route = format!("/{path}");
        router.route(&route, get(move |headers: HeaderMap| async move { asset(&path, &headers) }))
    })
}

fn asset(path: &str, request: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return ApiError::NotFound.into_response();
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let mut response = if request.get(header::IF_NONE_MATCH).is_some_and(|value| value.as_bytes() == etag.as_bytes()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let media_type = file.metadata.mimetype().to_owned();
        ([(header::CONTENT_TYPE, media_type)], file.data).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_POLICY));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    response.extensions_mut().insert(StaticAsset);
    response
}
