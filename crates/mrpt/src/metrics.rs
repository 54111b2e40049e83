//! The Prometheus recorder of this process and the descriptions of the
//! metrics that API.md promises.

use crate::config::ServeConfig;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Request latency buckets in seconds, from sub-millisecond reads to slow uploads.
const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Store call buckets: a healthy Redis answers in a tenth of a millisecond;
/// the store's own timeout is two seconds.
const STORE_LATENCY_BUCKETS: &[f64] = &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.0, 5.0];

/// Installs this process's recorder; every series carries the instance and
/// worker, since each worker process counts only its own requests.
pub fn install(config: &ServeConfig) -> anyhow::Result<PrometheusHandle> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full("mrpt_http_request_duration_seconds".into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full("mrpt_store_duration_seconds".into()), STORE_LATENCY_BUCKETS)?
        .add_global_label("instance", config.instance_name())
        .add_global_label("worker", std::process::id().to_string())
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)?;
    describe();
    // Counters that matter most at zero must be visible before they move.
    metrics::counter!("mrpt_isolation_violations_total").absolute(0);
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_histogram};
    describe_counter!("mrpt_http_requests_total", "HTTP requests by route, method and status");
    describe_histogram!("mrpt_http_request_duration_seconds", "HTTP request latency by route");
    describe_counter!("mrpt_sessions_created_total", "Sessions created by login");
    describe_counter!("mrpt_sessions_expired_total", "Sessions found timed out (idle or absolute)");
    describe_counter!("mrpt_sessions_revoked_total", "Sessions revoked through the API");
    describe_counter!("mrpt_sessions_ended_total", "Sessions ended by logout or password change");
    describe_counter!("mrpt_login_failures_total", "Failed logins");
    describe_counter!("mrpt_isolation_violations_total", "Stored records whose owner differed from the reader");
    describe_counter!("mrpt_security_events_total", "Security events by kind");
    describe_histogram!("mrpt_store_duration_seconds", "State store call latency by backend and operation");
    describe_counter!("mrpt_store_errors_total", "State store failures by operation, and file store failures");
}
