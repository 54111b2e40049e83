//! The analysis request, its result, and the pipeline that joins selection, imputation, composite and PCA.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::boundaries::{row_neighbours, Boundaries};
use crate::budget::{AnalysisBudget, BudgetExceeded};
use crate::composite::{composite_scores, models};
use crate::impute::{impute_mean, impute_spatial, Imputation};
use crate::normalise::{default_direction, normalise, Direction, Inversion, ScaleError};
use crate::pca;
use crate::rank::{category, order_by_score, Category};
use crate::select::{resolve, select, SelectionError};
use crate::table::WardTable;

/// Which rankings an analysis computes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Composite,
    Pca,
    #[default]
    Both,
}

/// The body of an analysis request; every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisRequest {
    pub method: Option<Method>,
    pub variables: Option<Vec<String>>,
    pub directions: Option<BTreeMap<String, Direction>>,
    pub inversion: Option<Inversion>,
    pub imputation: Option<Imputation>,
}

/// A variable used by the analysis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariableInfo {
    pub name: String,
    pub direction: Direction,
    /// How many of its cells were missing and filled in.
    pub imputed: usize,
}

/// One ward's place in a ranking. The composite and PCA rankings share each ward's name and
/// code rather than holding copies, which would cost two allocations per ward and ranking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    pub ward: Arc<str>,
    pub ward_code: Option<Arc<str>>,
    pub score: f64,
    pub rank: usize,
    pub category: Category,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompositeResult {
    /// The variables of each model.
    pub models: Vec<Vec<String>>,
    /// Sorted by rank.
    pub wards: Vec<Ranked>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PcaResult {
    pub suitable: bool,
    /// Why the data do not suit a PCA; `None` when they do.
    pub reason: Option<String>,
    pub kmo: Option<f64>,
    pub bartlett_p: Option<f64>,
    /// One ratio per component kept; empty when not suitable.
    pub explained_variance_ratio: Vec<f64>,
    /// Sorted by rank; empty when not suitable.
    pub wards: Vec<Ranked>,
}

/// The result of an analysis: API.md's `Analysis` without its id, dataset id and time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalysisOutcome {
    pub method: Method,
    pub variables: Vec<VariableInfo>,
    pub dropped: Vec<String>,
    pub warnings: Vec<String>,
    pub unmatched_wards: Vec<String>,
    pub composite: Option<CompositeResult>,
    pub pca: Option<PcaResult>,
}

/// Why an analysis could not be run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnalysisError {
    /// The chosen variables cannot be analysed; `variable` names the culprit when there is one.
    #[error("{message}")]
    InvalidVariables { variable: Option<String>, message: String },
    #[error("Spatial imputation needs ward boundaries: upload a boundary file with the table, or choose mean imputation.")]
    NeedsBoundaries,
    #[error("{0}")]
    TooLarge(#[from] BudgetExceeded),
}

impl From<SelectionError> for AnalysisError {
    fn from(e: SelectionError) -> Self {
        AnalysisError::InvalidVariables { variable: e.variable, message: e.message }
    }
}

/// Runs the analysis of ANALYSIS.md on a table, with its boundaries when it has them, refusing
/// it before any work when it would analyse more than `budget` allows.
pub fn analyse(
    table: &WardTable,
    boundaries: Option<&Boundaries>,
    request: &AnalysisRequest,
    budget: &AnalysisBudget,
) -> Result<AnalysisOutcome, AnalysisError> {
    // Names are looked up one by one: a request naming more than the budget is refused first.
    if let Some(variables) = &request.variables {
        budget.check(variables.len(), table.row_count())?;
    }
    if let Some(directions) = &request.directions {
        BudgetExceeded::check("variables", directions.len() as u64, budget.variables)?;
    }
    let method = request.method.unwrap_or_default();
    let inversion = request.inversion.unwrap_or_default();
    let imputation = request.imputation.unwrap_or(if boundaries.is_some() { Imputation::Spatial } else { Imputation::Mean });
    if imputation == Imputation::Spatial && boundaries.is_none() {
        return Err(AnalysisError::NeedsBoundaries);
    }
    let selection = select(table, request.variables.as_deref())?;
    let columns = &selection.columns;
    budget.check(columns.len(), table.row_count())?;
    let mut directions: Vec<Direction> = columns.iter().map(|&c| default_direction(&table.columns()[c].name)).collect();
    for (name, direction) in request.directions.iter().flatten() {
        let c = resolve(table, name)?;
        if let Some(i) = columns.iter().position(|&v| v == c) {
            directions[i] = *direction;
        }
    }

    let names = table.ward_labels();
    let mut warnings = Vec::new();
    let mut unmatched_wards = Vec::new();
    let mut neighbours = None;
    if let Some(b) = boundaries {
        let feature_of_row = b.match_rows(table);
        unmatched_wards = feature_of_row.iter().zip(&names).filter(|(f, _)| f.is_none()).map(|(_, n)| n.to_string()).collect();
        if !unmatched_wards.is_empty() {
            warnings.push(format!(
                "{} of {} wards have no matching boundary shape: they are missing from the map{}.",
                unmatched_wards.len(),
                names.len(),
                if imputation == Imputation::Spatial { " and their missing values take the column mean" } else { "" }
            ));
        }
        if imputation == Imputation::Spatial {
            neighbours = Some(row_neighbours(&feature_of_row, &b.queen_neighbours(), budget.cells)?);
        }
    }

    let mut values = Vec::with_capacity(columns.len());
    let mut variables = Vec::with_capacity(columns.len());
    for (&c, &direction) in columns.iter().zip(&directions) {
        let column = &table.columns()[c];
        let raw = column.numbers().unwrap_or(&[]);
        let (filled, imputed) = match &neighbours {
            Some(n) => impute_spatial(raw, n),
            None => impute_mean(raw),
        };
        values.push(filled);
        variables.push(VariableInfo { name: column.name.clone(), direction, imputed });
    }

    let labels: Vec<Label> = names.into_iter().enumerate().map(|(row, name)| (name, table.ward_code(row).map(|c| Arc::from(&*c)))).collect();

    let composite = match method {
        Method::Pca => None,
        Method::Composite | Method::Both => {
            let mut normalised = Vec::with_capacity(values.len());
            for (x, v) in values.iter().zip(&variables) {
                if v.direction == Direction::Inverse && inversion == Inversion::Reciprocal && x.iter().any(|&x| x <= 0.0) {
                    warnings.push(format!(
                        "\"{}\" has values of zero or below, so the reciprocal inversion squashes the other wards towards 0; \
                         consider the \"complement\" inversion for this analysis.",
                        v.name
                    ));
                }
                normalised.push(normalise(x, v.direction, inversion).map_err(|e| AnalysisError::InvalidVariables {
                    variable: Some(v.name.clone()),
                    message: match e {
                        ScaleError::Reciprocal => format!(
                            "\"{}\" has a value of -1e-10, which the reciprocal inversion cannot use; choose the \"complement\" inversion.",
                            v.name
                        ),
                        ScaleError::Overflow => format!("\"{}\" has values too far apart to scale; check the column for wrong entries.", v.name),
                    },
                })?);
            }
            let models = models(normalised.len());
            let scores = composite_scores(&normalised, &models);
            Some(CompositeResult {
                models: models.iter().map(|m| m.iter().map(|&v| variables[v].name.clone()).collect()).collect(),
                wards: ranked(&scores, &labels),
            })
        }
    };

    let pca = match method {
        Method::Composite => None,
        Method::Pca | Method::Both => {
            let fit = pca::fit(&values);
            Some(PcaResult {
                suitable: fit.reason.is_none(),
                reason: fit.reason,
                kmo: fit.kmo,
                bartlett_p: fit.bartlett_p,
                explained_variance_ratio: fit.explained_variance_ratio,
                wards: fit.scores.as_deref().map(|s| ranked(s, &labels)).unwrap_or_default(),
            })
        }
    };

    Ok(AnalysisOutcome { method, variables, dropped: selection.dropped, warnings, unmatched_wards, composite, pca })
}

/// A row's ward name and code.
type Label = (Arc<str>, Option<Arc<str>>);

/// The wards sorted by score with their ranks and categories; `labels` holds each row's name and code.
fn ranked(scores: &[f64], labels: &[Label]) -> Vec<Ranked> {
    order_by_score(scores)
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let (ward, ward_code) = labels[row].clone();
            Ranked { ward, ward_code, score: scores[row], rank: i + 1, category: category(i + 1, scores.len()) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{read_table, TableFormat};
    use crate::budget::{AnalysisBudget, BoundaryBudget, TableBudget};

    fn table(text: &str) -> WardTable {
        read_table(text.as_bytes(), TableFormat::Csv, &TableBudget::default()).unwrap()
    }

    fn request(json: &str) -> AnalysisRequest {
        serde_json::from_str(json).unwrap()
    }

    const TABLE: &str = "WardName,WardCode,a,b,distance,flat\nP,c1,1,10,4,3\nQ,c2,3,NA,2,3\nR,c3,2,30,1,3\n";

    #[test]
    fn request_fields_are_optional_and_strict() {
        assert_eq!(request("{}"), AnalysisRequest::default());
        let r = request(r#"{"method":"pca","variables":["a"],"directions":{"a":"inverse"},"inversion":"complement","imputation":"mean"}"#);
        assert_eq!(r.method, Some(Method::Pca));
        assert_eq!(r.directions.unwrap()["a"], Direction::Inverse);
        assert!(serde_json::from_str::<AnalysisRequest>(r#"{"methd":"pca"}"#).is_err());
        assert!(serde_json::from_str::<AnalysisRequest>(r#"{"method":"median"}"#).is_err());
    }

    #[test]
    fn composite_by_hand() {
        // a (direct): 1,3,2 -> 0, 1, 0.5. b (direct, Q imputed as (10+30)/2 = 20): 0, 0.5, 1.
        // distance (inverse, complement): 4,2,1 -> 0, 2/3, 1.
        // One model per pair and the triple; P: 0, 0, 0, 0 -> 0; Q: 0.75, 5/6, 7/12, 13/18 -> (13/18 + 0.75)/2;
        // R: 0.75, 0.75, 5/6, 5/6 -> 19/24.
        let t = table(TABLE);
        let r = request(r#"{"method":"composite","variables":["a","b","distance","flat"],"inversion":"complement"}"#);
        let out = analyse(&t, None, &r, &AnalysisBudget::default()).unwrap();
        assert_eq!(out.dropped, ["flat"]);
        assert_eq!(out.variables[1], VariableInfo { name: "b".into(), direction: Direction::Direct, imputed: 1 });
        assert_eq!(out.variables[2].direction, Direction::Inverse);
        assert!(out.pca.is_none());
        let c = out.composite.unwrap();
        assert_eq!(c.models, [vec!["a", "b"], vec!["a", "distance"], vec!["b", "distance"], vec!["a", "b", "distance"]]);
        let got: Vec<(&str, f64, usize, Category)> = c.wards.iter().map(|w| (&*w.ward, w.score, w.rank, w.category)).collect();
        assert_eq!(got[0].0, "R");
        assert!((got[0].1 - 19.0 / 24.0).abs() < 1e-15);
        assert_eq!(got[1].0, "Q");
        assert!((got[1].1 - (13.0 / 18.0 + 0.75) / 2.0).abs() < 1e-15);
        assert_eq!(got[2], ("P", 0.0, 3, Category::Low));
        assert_eq!(got[0].3, Category::High);
        assert_eq!(c.wards[0].ward_code.as_deref(), Some("c3"));
    }

    #[test]
    fn directions_override_and_unknown_names() {
        let t = table(TABLE);
        let r = request(r#"{"variables":["a","b"],"directions":{"A":"inverse","distance":"direct"}}"#);
        let out = analyse(&t, None, &r, &AnalysisBudget::default()).unwrap();
        assert_eq!(out.variables[0].direction, Direction::Inverse);
        let r = request(r#"{"variables":["a","b"],"directions":{"zz":"inverse"}}"#);
        assert!(matches!(analyse(&t, None, &r, &AnalysisBudget::default()), Err(AnalysisError::InvalidVariables { variable: Some(v), .. }) if v == "zz"));
    }

    #[test]
    fn spatial_needs_boundaries() {
        let r = request(r#"{"imputation":"spatial"}"#);
        assert_eq!(analyse(&table(TABLE), None, &r, &AnalysisBudget::default()), Err(AnalysisError::NeedsBoundaries));
    }

    #[test]
    fn reciprocal_refuses_minus_epsilon_and_warns_on_zero() {
        let t = table("WardName,a,distance\nP,1,-1e-10\nQ,2,1\n");
        let err = analyse(&t, None, &request(r#"{"method":"composite"}"#), &AnalysisBudget::default()).unwrap_err();
        assert!(matches!(err, AnalysisError::InvalidVariables { variable: Some(ref v), .. } if v == "distance"));
        let t = table("WardName,a,distance\nP,1,0\nQ,2,1\n");
        let out = analyse(&t, None, &request(r#"{"method":"composite"}"#), &AnalysisBudget::default()).unwrap();
        assert_eq!(out.warnings.len(), 1);
        assert!(out.warnings[0].contains("complement"));
    }

    /// A unit-wide boundary feature named `name`, starting at `x`.
    fn square(name: &str, x: f64) -> String {
        format!(
            r#"{{"type":"Feature","properties":{{"WardName":"{name}"}},"geometry":{{"type":"Polygon","coordinates":[[[{x},0],[{a},0],[{a},1],[{x},0]]]}}}}"#,
            a = x + 1.0
        )
    }

    #[test]
    fn neighbour_pairs_of_repeated_names_count_against_the_cells_budget() {
        // Three rows share shape A and two shape B: 3 x 2 + 2 x 3 neighbour pairs.
        let t = table("WardName,a,b\nA,1,2\nA,2,1\nA,3,3\nB,1,1\nB,2,2\n");
        let b = Boundaries::parse(format!(r#"{{"type":"FeatureCollection","features":[{},{}]}}"#, square("A", 0.0), square("B", 1.0)).as_bytes(), &BoundaryBudget::default()).unwrap();
        let spatial = request(r#"{"variables":["a","b"],"imputation":"spatial"}"#);
        assert!(analyse(&t, Some(&b), &spatial, &AnalysisBudget { variables: 2, cells: 12 }).is_ok());
        let err = analyse(&t, Some(&b), &spatial, &AnalysisBudget { variables: 2, cells: 11 }).unwrap_err();
        assert_eq!(err, AnalysisError::TooLarge(BudgetExceeded { limit: "cells", max: 11 }));
    }

    #[test]
    fn unmatched_wards_are_reported() {
        let t = table("WardName,a,b\nP,1,2\nQ,2,1\nZ,3,3\n");
        let b = Boundaries::parse(format!(r#"{{"type":"FeatureCollection","features":[{},{}]}}"#, square("p", 0.0), square("Q", 1.0)).as_bytes(), &BoundaryBudget::default()).unwrap();
        let out = analyse(&t, Some(&b), &AnalysisRequest::default(), &AnalysisBudget::default()).unwrap();
        assert_eq!(out.unmatched_wards, ["Z"]);
        assert!(out.warnings[0].starts_with("1 of 3 wards"));
    }

    #[test]
    fn serialises_to_the_api_shape() {
        let out = analyse(&table(TABLE), None, &request(r#"{"method":"composite","variables":["a","b"]}"#), &AnalysisBudget::default()).unwrap();
        let json = serde_json::to_value(&out).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 7);
        for k in ["method", "variables", "dropped", "warnings", "unmatched_wards", "composite", "pca"] {
            assert!(keys.contains(&k), "{k}");
        }
        assert_eq!(json["method"], "composite");
        assert!(json["pca"].is_null());
        assert_eq!(json["composite"]["wards"][0]["category"], "High");
        assert_eq!(json["variables"][0], serde_json::json!({"name": "a", "direction": "direct", "imputed": 0}));
        let back: AnalysisOutcome = serde_json::from_value(json).unwrap();
        assert_eq!(back, out);
    }

    #[test]
    fn variables_and_cells_budgets_come_before_any_work() {
        let t = read_table(b"ward,a,b,c\nx,1,2,3\ny,2,3,1\nz,3,1,2\n", TableFormat::Csv, &TableBudget::default()).unwrap();
        let all = AnalysisRequest::default();
        assert!(analyse(&t, None, &all, &AnalysisBudget { variables: 3, cells: 9 }).is_ok());
        let few = AnalysisBudget { variables: 2, cells: 9 };
        assert_eq!(analyse(&t, None, &all, &few).unwrap_err(), AnalysisError::TooLarge(BudgetExceeded { limit: "variables", max: 2 }));
        let small = AnalysisBudget { variables: 3, cells: 8 };
        assert_eq!(analyse(&t, None, &all, &small).unwrap_err(), AnalysisError::TooLarge(BudgetExceeded { limit: "cells", max: 8 }));
        let named = AnalysisRequest { variables: Some(vec!["unknown".into(); 3]), ..AnalysisRequest::default() };
        assert_eq!(analyse(&t, None, &named, &few).unwrap_err(), AnalysisError::TooLarge(BudgetExceeded { limit: "variables", max: 2 }));
        let directions: AnalysisRequest = serde_json::from_str(r#"{"variables": ["a", "b"], "directions": {"x": "inverse", "y": "inverse", "z": "inverse"}}"#).unwrap();
        assert_eq!(analyse(&t, None, &directions, &few).unwrap_err(), AnalysisError::TooLarge(BudgetExceeded { limit: "variables", max: 2 }));
    }
}
