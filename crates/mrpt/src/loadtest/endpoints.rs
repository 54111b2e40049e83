//! Which endpoints on one object the server has, read from its OpenAPI
//! document, so that the workload and the probes cover every one of them,
//! including any added after this tester was written.

use reqwest::Method;
use serde_json::Value;

/// The kinds of object a user owns and an URL names by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dataset,
    Analysis,
    Plan,
    Session,
}

const KINDS: [(&str, Kind); 4] = [
    ("/api/datasets/{id}", Kind::Dataset),
    ("/api/analyses/{id}", Kind::Analysis),
    ("/api/itn/{id}", Kind::Plan),
    ("/api/sessions/{id}", Kind::Session),
];

/// Reads the workload checks in depth; a server without them is not one
/// this tester knows how to judge.
const REQUIRED_READS: [&str; 4] = ["/api/datasets/{id}", "/api/datasets/{id}/file", "/api/analyses/{id}", "/api/itn/{id}"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    pub template: String,
    pub kind: Kind,
}

#[derive(Debug)]
pub struct Endpoints {
    /// GETs on one object: each user reads its own through all of them.
    pub reads: Vec<Route>,
    /// GETs and DELETEs on one object: each user tries them on other
    /// users' ids. POSTs are left out: one that went through by mistake
    /// could not be told apart from a lost answer.
    pub probes: Vec<Route>,
}

impl Endpoints {
    pub fn from_openapi(doc: &Value) -> anyhow::Result<Self> {
        let paths = doc["paths"].as_object().ok_or_else(|| anyhow::anyhow!("the OpenAPI document has no paths"))?;
        let mut reads = Vec::new();
        let mut probes = Vec::new();
        for (template, operations) in paths {
            let Some(kind) = kind_of(template) else { continue };
            for (name, method) in [("get", Method::GET), ("delete", Method::DELETE)] {
                if operations.get(name).is_none() {
                    continue;
                }
                let route = Route { method: method.clone(), template: template.clone(), kind };
                if method == Method::GET && kind != Kind::Session {
                    reads.push(route.clone());
                }
                probes.push(route);
            }
        }
        let missing: Vec<&str> = REQUIRED_READS.into_iter().filter(|required| !reads.iter().any(|read| read.template == *required)).collect();
        anyhow::ensure!(missing.is_empty(), "the server's OpenAPI document lacks {}", missing.join(", "));
        Ok(Self { reads, probes })
    }
}

/// The kind of object a path template names, if it names exactly one.
fn kind_of(template: &str) -> Option<Kind> {
    if template.matches('{').count() != 1 {
        return None;
    }
    KINDS.iter().find_map(|(prefix, kind)| {
        let rest = template.strip_prefix(prefix)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(*kind)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_get_and_delete_on_one_object_is_covered() {
        let doc = json!({"paths": {
            "/api/datasets": {"get": {}, "post": {}},
            "/api/datasets/{id}": {"get": {}, "delete": {}},
            "/api/datasets/{id}/file": {"get": {}},
            "/api/datasets/{id}/analyses": {"post": {}},
            "/api/analyses/{id}": {"get": {}, "delete": {}},
            "/api/analyses/{id}/chart.svg": {"get": {}},
            "/api/itn/{id}": {"get": {}},
            "/api/sessions/{id}": {"delete": {}},
            "/api/other/{id}": {"get": {}},
        }});
        let endpoints = Endpoints::from_openapi(&doc).unwrap();
        let names = |routes: &[Route]| routes.iter().map(|r| format!("{} {}", r.method, r.template)).collect::<Vec<_>>();
        assert_eq!(
            names(&endpoints.reads),
            ["GET /api/analyses/{id}", "GET /api/analyses/{id}/chart.svg", "GET /api/datasets/{id}", "GET /api/datasets/{id}/file", "GET /api/itn/{id}"]
        );
        assert_eq!(endpoints.probes.len(), 8);
        assert!(endpoints.probes.iter().any(|r| r.method == Method::DELETE && r.kind == Kind::Session));
        assert!(endpoints.reads.iter().all(|r| r.kind != Kind::Session));
    }

    #[test]
    fn a_server_without_the_known_reads_is_refused() {
        let doc = json!({"paths": {"/api/datasets/{id}": {"get": {}}}});
        let err = Endpoints::from_openapi(&doc).unwrap_err().to_string();
        assert!(err.contains("/api/datasets/{id}/file"), "{err}");
    }
}
