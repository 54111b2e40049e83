//! The HTTP layer: the router, shared state and the pieces every route uses.
//! Data flows one way: middleware -> session extractor -> handler -> store.

mod analyses;
mod auth;
mod body_timeout;
mod commit;
mod cross_site;
mod datasets;
mod extract;
mod middleware;
mod ops;
mod sessions;
mod spool;
mod uploads;
mod views;
mod web;

use crate::config::{Registration, ServeConfig, Switch};
use crate::error::ApiError;
use crate::password::PasswordHasherService;
use crate::security::{AlertSender, SecurityLog};
use crate::store::files::SharedFileStore;
use crate::store::owned::OwnedRecords;
use crate::store::{SharedStateStore, Stores};
use anyhow::Context;
use axum::http::HeaderValue;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use std::time::Duration;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// Everything a handler may use: configuration, store handles and metric
/// handles. No user data lives here (DESIGN.md rule 1).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub state: SharedStateStore,
    pub files: SharedFileStore,
    pub owned: OwnedRecords,
    pub security: SecurityLog,
    pub passwords: PasswordHasherService,
    /// The bounded pool every expensive request runs its CPU work on.
    pub work: crate::work::WorkPool,
    pub address_limits: crate::client_limits::AddressLimits,
    pub cookie: CookiePolicy,
    /// `scheme://host[:port]` of the configured public URL.
    pub public_origin: Option<String>,
    pub sessions: SessionPolicy,
    pub max_upload: u64,
    pub body_idle_timeout: Duration,
    /// Whether `/metrics` is served on the public address too.
    pub public_metrics: bool,
    pub budgets: crate::budgets::Budgets,
    pub uploads: crate::uploads::UploadConfig,
    pub spool: spool::SpoolDir,
    pub registration: Registration,
    pub served_by: Option<HeaderValue>,
    pub metrics: PrometheusHandle,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The session cookie's name and attributes (API.md, Sessions).
#[derive(Clone)]
pub struct CookiePolicy {
    pub name: &'static str,
    pub secure: bool,
}

impl CookiePolicy {
    pub fn new(secure: bool) -> Self {
        Self { name: if secure { "__Host-mrpt_session" } else { "mrpt_session" }, secure }
    }

    pub fn set(&self, value: &str) -> HeaderValue {
        self.header(value, "")
    }

    pub fn expire(&self) -> HeaderValue {
        self.header("", "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    }

    fn header(&self, value: &str, expiry: &str) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!("{}={value}; HttpOnly; SameSite=Lax; Path=/{secure}{expiry}", self.name))
            .expect("cookie values are base64url")
    }
}

#[derive(Clone, Copy)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub absolute: Duration,
}

impl SessionPolicy {
    /// How stale `last_seen_at` may get before a request writes it again:
    /// sliding the expiry on every request would make every read a write.
    pub fn touch_interval(&self) -> Duration {
        (self.idle / 10).min(Duration::from_secs(60))
    }
}

impl AppState {
    pub fn new(config: &ServeConfig, stores: Stores, metrics: PrometheusHandle) -> anyhow::Result<Self> {
        let spool_dir = config.stores.data_dir.join("spool");
        let spool = spool::SpoolDir::create(&spool_dir)
            .with_context(|| format!("cannot create the upload spool {}", spool_dir.display()))?;
        let alerts = config.alert_webhook.clone().map(|url| AlertSender::new(url, config.instance_name()));
        let security = SecurityLog::new(stores.state.clone(), alerts);
        let served_by = (config.served_by == Switch::On).then(|| {
            let value = format!("{}/{}", config.instance_name(), std::process::id());
            HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("mrpt"))
        });
        Ok(Self(Arc::new(Shared {
            owned: OwnedRecords::new(stores.state.clone(), security.clone()),
            state: stores.state,
            files: stores.files,
            security,
            passwords: PasswordHasherService::new(config.work.hash_pool()),
            work: config.work.work_pool(),
            address_limits: config.address_limits.clone(),
            cookie: CookiePolicy::new(config.secure_cookies()),
            public_origin: config.public_url.as_deref().and_then(cross_site::origin_of),
            sessions: SessionPolicy { idle: config.session_idle, absolute: config.session_absolute },
            max_upload: config.max_upload,
            body_idle_timeout: config.connections.body_idle_timeout,
            public_metrics: config.metrics_bind.is_none(),
            budgets: config.budgets.clone(),
            uploads: config.uploads.clone(),
            spool,
            registration: config.registration,
            served_by,
            metrics,
        })))
    }
}

#[derive(OpenApi)]
#[openapi(info(title = "mrpt", version = "1", description = "Malaria risk prioritisation: the HTTP API of mrpt serve."))]
struct ApiDoc;

/// The API routes with their OpenAPI description, built from one list so
/// that the document cannot drift from the handlers.
fn api_routes(max_upload: u64) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::routes())
        .merge(sessions::routes())
        .merge(datasets::routes(max_upload))
        .merge(uploads::routes())
        .merge(analyses::routes())
}

/// What the private metrics address serves: `/metrics` alone.
pub fn metrics_router(state: AppState) -> Router {
    ops::metrics_routes()
        .fallback(|| async { ApiError::NotFound })
        .route_layer(axum::middleware::from_fn(middleware::record_route))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::request_context))
        .with_state(state)
}

pub fn router(state: AppState) -> Router {
    let (api, openapi) = api_routes(state.max_upload).split_for_parts();
    let openapi = Arc::new(openapi);
    Router::new()
        .merge(api)
        .merge(ops::routes(openapi, state.public_metrics))
        .merge(web::routes())
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .route_layer(axum::middleware::from_fn(middleware::record_route))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(middleware::panic_response))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::request_context))
        .with_state(state)
}
