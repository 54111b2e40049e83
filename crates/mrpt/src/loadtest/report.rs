//! What a run saw: latency per endpoint (HDR histograms), errors by code,
//! bleeds, store pauses, retries, serving workers and uploads found intact
//! at the end, gathered while the
//! run goes on and rendered at its end as a table or as JSON.

use super::checks::Finding;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Display, Write as _};
use std::sync::Mutex;
use std::time::Duration;

/// Full descriptions kept per kind of finding; beyond them only counts.
const KEPT_DETAILS: usize = 1000;
/// Bleeds and errors printed in full under the table.
const PRINTED_DETAILS: usize = 10;

#[derive(Default)]
pub struct Recorder(Mutex<Stats>);

#[derive(Default)]
struct Stats {
    endpoints: BTreeMap<String, Endpoint>,
    errors_by_code: BTreeMap<String, u64>,
    errors: u64,
    error_details: Vec<String>,
    bleeds: u64,
    bleed_details: Vec<String>,
    unavailable: u64,
    retries: u64,
    uploads_verified: u64,
    served_by: BTreeSet<String>,
}

struct Endpoint {
    requests: u64,
    /// Microseconds, from 1 µs to 10 minutes at 3 significant digits.
    latency: Histogram<u64>,
}

impl Endpoint {
    fn new() -> Self {
        let latency = Histogram::new_with_bounds(1, 600_000_000, 3).expect("the bounds are valid");
        Self { requests: 0, latency }
    }
}

impl Recorder {
    fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        // Stats stay usable even if a user's task panicked mid-update.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn answered(&self, endpoint: &str, latency: Duration, served_by: Option<&str>) {
        let mut stats = self.stats();
        let entry = stats.endpoints.entry(endpoint.to_owned()).or_insert_with(Endpoint::new);
        entry.requests += 1;
        entry.latency.saturating_record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1));
        if let Some(served_by) = served_by.filter(|value| !stats.served_by.contains(*value)) {
            stats.served_by.insert(served_by.to_owned());
        }
    }

    pub fn unavailable(&self) {
        self.stats().unavailable += 1;
    }

    pub fn retried(&self) {
        self.stats().retries += 1;
    }

    pub fn upload_verified(&self) {
        self.stats().uploads_verified += 1;
    }

    /// Records a finding, with `context` saying which user asked what.
    pub fn finding(&self, context: &str, finding: Finding) {
        let mut stats = self.stats();
        match finding {
            Finding::Bleed(detail) => {
                stats.bleeds += 1;
                if stats.bleed_details.len() < KEPT_DETAILS {
                    stats.bleed_details.push(format!("{context}: {detail}"));
                }
            }
            Finding::Error { code, detail } => {
                stats.errors += 1;
                *stats.errors_by_code.entry(code).or_default() += 1;
                if stats.error_details.len() < KEPT_DETAILS {
                    stats.error_details.push(format!("{context}: {detail}"));
                }
            }
        }
    }

    /// Bleeds and errors so far, for the progress bar.
    pub fn tally(&self) -> (u64, u64) {
        let stats = self.stats();
        (stats.bleeds, stats.errors)
    }

    pub fn report(&self, setup: Setup, elapsed: Duration) -> Report {
        let stats = self.stats();
        let endpoints: Vec<EndpointReport> = stats
            .endpoints
            .iter()
            .map(|(endpoint, entry)| {
                let ms = |micros: u64| micros as f64 / 1000.0;
                EndpointReport {
                    endpoint: endpoint.clone(),
                    requests: entry.requests,
                    p50_ms: ms(entry.latency.value_at_quantile(0.50)),
                    p95_ms: ms(entry.latency.value_at_quantile(0.95)),
                    p99_ms: ms(entry.latency.value_at_quantile(0.99)),
                    max_ms: ms(entry.latency.max()),
                }
            })
            .collect();
        let requests = endpoints.iter().map(|endpoint| endpoint.requests).sum();
        let seconds = elapsed.as_secs_f64();
        Report {
            setup,
            seconds,
            requests,
            requests_per_second: if seconds > 0.0 { requests as f64 / seconds } else { 0.0 },
            unavailable: stats.unavailable,
            retries: stats.retries,
            uploads_verified: stats.uploads_verified,
            errors: stats.errors,
            errors_by_code: stats.errors_by_code.clone(),
            error_details: stats.error_details.clone(),
            bleeds: stats.bleeds,
            bleed_details: stats.bleed_details.clone(),
            served_by: stats.served_by.iter().cloned().collect(),
            endpoints,
        }
    }
}

/// What the run was asked to do.
#[derive(Debug, Clone, Serialize)]
pub struct Setup {
    pub urls: Vec<String>,
    pub users: usize,
    pub rounds: usize,
    pub concurrency: usize,
}

#[derive(Debug, Serialize)]
pub struct EndpointReport {
    pub endpoint: String,
    pub requests: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub setup: Setup,
    pub seconds: f64,
    pub requests: u64,
    pub requests_per_second: f64,
    /// 503 `store_unavailable` answers that were asked again.
    pub unavailable: u64,
    /// Requests sent again after a lost answer (a dropped connection, or a
    /// balancer's 502, 503 or 504).
    pub retries: u64,
    /// Acknowledged uploads downloaded at the end with the bytes uploaded.
    pub uploads_verified: u64,
    pub errors: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    pub error_details: Vec<String>,
    pub bleeds: u64,
    pub bleed_details: Vec<String>,
    pub served_by: Vec<String>,
    pub endpoints: Vec<EndpointReport>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.bleeds == 0 && self.errors == 0
    }
}

impl Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.endpoints.iter().map(|e| e.endpoint.len()).max().unwrap_or(0).max("endpoint".len());
        writeln!(f, "{:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}", "endpoint", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms")?;
        for e in &self.endpoints {
            writeln!(f, "{:<width$}  {:>8}  {:>8.1}  {:>8.1}  {:>8.1}  {:>8.1}", e.endpoint, e.requests, e.p50_ms, e.p95_ms, e.p99_ms, e.max_ms)?;
        }
        writeln!(f)?;
        let setup = &self.setup;
        writeln!(f, "users {}, rounds {}, concurrency {}, urls {}", setup.users, setup.rounds, setup.concurrency, setup.urls.join(" "))?;
        writeln!(f, "requests {} in {:.1} s: {:.0} requests/s", self.requests, self.seconds, self.requests_per_second)?;
        writeln!(f, "store unavailable (503, asked again) {}, retries after a lost answer {}", self.unavailable, self.retries)?;
        writeln!(f, "uploads intact at the end {}", self.uploads_verified)?;
        let mut by_code = String::new();
        for (code, count) in &self.errors_by_code {
            let _ = write!(by_code, "{}{code}: {count}", if by_code.is_empty() { " (" } else { ", " });
        }
        if !by_code.is_empty() {
            by_code.push(')');
        }
        writeln!(f, "errors {}{by_code}", self.errors)?;
        writeln!(f, "bleeds {}", self.bleeds)?;
        writeln!(f, "served by ({}): {}", self.served_by.len(), self.served_by.join(", "))?;
        for (title, details) in [("bleed", &self.bleed_details), ("error", &self.error_details)] {
            for detail in details.iter().take(PRINTED_DETAILS) {
                writeln!(f, "  {title}: {detail}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_counted_by_kind_and_code() {
        let recorder = Recorder::default();
        recorder.answered("GET /api/datasets", Duration::from_millis(3), Some("a/1"));
        recorder.answered("GET /api/datasets", Duration::from_millis(5), Some("a/2"));
        recorder.answered("GET /api/datasets", Duration::from_millis(5), Some("a/1"));
        recorder.finding("user 0", Finding::Bleed("saw MRPTMARK-1".into()));
        recorder.finding("user 1", Finding::error("500 internal", "boom"));
        recorder.finding("user 1", Finding::error("500 internal", "boom"));
        recorder.upload_verified();
        let setup = Setup { urls: vec!["http://127.0.0.1:1".into()], users: 2, rounds: 1, concurrency: 4 };
        let report = recorder.report(setup, Duration::from_secs(1));
        assert!(!report.passed());
        assert_eq!((report.bleeds, report.errors, report.requests), (1, 2, 3));
        assert_eq!(report.errors_by_code["500 internal"], 2);
        assert_eq!(report.served_by, ["a/1", "a/2"]);
        assert!((report.endpoints[0].max_ms - 5.0).abs() < 0.01);
        let table = report.to_string();
        assert!(table.contains("bleed: user 0: saw MRPTMARK-1"), "{table}");
        assert!(table.contains("errors 2 (500 internal: 2)"), "{table}");
        assert!(table.contains("uploads intact at the end 1"), "{table}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["users"], 2);
        assert_eq!(json["uploads_verified"], 1);
        assert_eq!(json["endpoints"][0]["endpoint"], "GET /api/datasets");
    }
}
