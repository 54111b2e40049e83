//! Bed-net (ITN) distribution plans from a composite ranking: greedy and proportional allocation (ANALYSIS.md §7).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::analysis::AnalysisOutcome;
use crate::table::{ColumnKind, WardTable};

/// Persons one net protects.
const PERSONS_PER_NET: f64 = 1.8;
/// The urban share assumed for a ward whose share is missing.
const UNKNOWN_URBAN_SHARE: f64 = 50.0;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItnMethod {
    /// Highest priority first until the nets run out, as the reference does.
    #[default]
    Greedy,
    /// Shares in proportion to need when there are not enough nets for all.
    Proportional,
}

/// The body of a plan request, with API.md's defaults.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItnRequest {
    pub total_nets: u64,
    #[serde(default = "default_household")]
    pub avg_household_size: f64,
    #[serde(default = "default_threshold")]
    pub urban_threshold: f64,
    /// `Population` when not given.
    #[serde(default)]
    pub population_column: Option<String>,
    /// `urban_percentage` when not given; a table without it counts every share as unknown.
    #[serde(default)]
    pub urban_column: Option<String>,
    #[serde(default)]
    pub method: ItnMethod,
}

fn default_household() -> f64 {
    5.0
}

fn default_threshold() -> f64 {
    30.0
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Rural,
    Urban,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItnWard {
    pub ward: String,
    pub population: f64,
    pub nets_needed: u64,
    pub nets_allocated: u64,
    pub coverage_pct: f64,
    pub tier: Tier,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItnTotals {
    pub nets_allocated: u64,
    pub nets_left: u64,
    pub population_covered: f64,
}

/// A plan: API.md's ITN plan without its id and analysis id. Wards are in distribution order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItnPlan {
    pub method: ItnMethod,
    pub wards: Vec<ItnWard>,
    pub totals: ItnTotals,
}

/// Why a plan could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ItnError {
    /// The column named by request field `field` is absent or not numeric (422).
    #[error("{message}")]
    UnknownColumn { field: &'static str, column: String, message: String },
    /// The population column has no value at all (422).
    #[error("The column \"{column}\" has no population figure for any ward, so nets cannot be planned.")]
    NoPopulation { column: String },
    /// A number in the request is out of range (400 with `field`).
    #[error("{message}")]
    InvalidNumber { field: &'static str, message: String },
    /// The population figures are too large to add up as finite numbers (422).
    #[error("The column \"{column}\" holds population figures too large to add up; check its values.")]
    PopulationTooLarge { column: String },
    /// The analysis has no composite ranking to order the wards by (422).
    #[error("This analysis has no composite ranking; run an analysis with method \"composite\" or \"both\" to plan nets.")]
    NoComposite,
}

/// Plans the distribution of `request.total_nets` over the wards of an analysis.
pub fn plan_itn(table: &WardTable, outcome: &AnalysisOutcome, request: &ItnRequest) -> Result<ItnPlan, ItnError> {
    if !(request.avg_household_size.is_finite() && request.avg_household_size > 0.0) {
        return Err(ItnError::InvalidNumber {
            field: "avg_household_size",
            message: "The average household size must be a number above 0.".into(),
        });
    }
    if !request.urban_threshold.is_finite() {
        return Err(ItnError::InvalidNumber { field: "urban_threshold", message: "The urban threshold must be a number.".into() });
    }
    let composite = outcome.composite.as_ref().ok_or(ItnError::NoComposite)?;
    let population_name = request.population_column.as_deref().unwrap_or("Population");
    let population = numeric_column(table, "population_column", population_name)?;
    let known: Vec<f64> = population.iter().copied().filter(|v| !v.is_nan()).collect();
    if known.is_empty() {
        return Err(ItnError::NoPopulation { column: population_name.to_owned() });
    }
    let mean_population = known.iter().sum::<f64>() / known.len() as f64;
    // The mean stands in for missing figures and is stored as JSON, which has
    // no infinity: a sum that overflows is refused, not stored.
    if !mean_population.is_finite() {
        return Err(ItnError::PopulationTooLarge { column: population_name.to_owned() });
    }
    let urban = match &request.urban_column {
        Some(name) => Some(numeric_column(table, "urban_column", name)?),
        None => table.find_column("urban_percentage").and_then(|c| table.columns()[c].numbers()),
    };

    let row_of: HashMap<String, usize> = table.ward_names().into_iter().enumerate().map(|(i, n)| (n, i)).collect();
    let mut wards: Vec<ItnWard> = composite
        .wards
        .iter()
        .filter_map(|ranked| {
            let &row = row_of.get(&*ranked.ward)?;
            let pop = Some(population[row]).filter(|v| !v.is_nan()).unwrap_or(mean_population);
            let share = urban.map(|u| u[row]).filter(|v| !v.is_nan()).unwrap_or(UNKNOWN_URBAN_SHARE);
            Some(ItnWard {
                ward: ranked.ward.to_string(),
                population: pop,
                nets_needed: nets_needed(pop, request.avg_household_size),
                nets_allocated: 0,
                coverage_pct: 0.0,
                tier: if share < request.urban_threshold { Tier::Rural } else { Tier::Urban },
            })
        })
        .collect();
    // Stable: each tier keeps the composite rank order.
    wards.sort_by_key(|w| w.tier == Tier::Urban);

    let needs: Vec<u64> = wards.iter().map(|w| w.nets_needed).collect();
    let allocation = match request.method {
        ItnMethod::Greedy => greedy(&needs, request.total_nets),
        ItnMethod::Proportional => proportional(&needs, request.total_nets),
    };
    let mut totals = ItnTotals { nets_allocated: 0, nets_left: 0, population_covered: 0.0 };
    for (ward, nets) in wards.iter_mut().zip(allocation) {
        let covered = ward.population.min(nets as f64 * PERSONS_PER_NET);
        ward.nets_allocated = nets;
        // A ward with nobody in it has nobody left uncovered.
        ward.coverage_pct = if ward.population > 0.0 { 100.0 * covered / ward.population } else { 100.0 };
        totals.nets_allocated += nets;
        totals.population_covered += covered;
    }
    totals.nets_left = request.total_nets - totals.nets_allocated;
    Ok(ItnPlan { method: request.method, wards, totals })
}

fn numeric_column<'t>(table: &'t WardTable, field: &'static str, name: &str) -> Result<&'t [f64], ItnError> {
    let unknown = |message: String| ItnError::UnknownColumn { field, column: name.to_owned(), message };
    let c = table.find_column(name).ok_or_else(|| unknown(format!("The table has no column named \"{name}\".")))?;
    match table.columns()[c].kind {
        ColumnKind::Numeric => Ok(table.columns()[c].numbers().unwrap_or(&[])),
        ColumnKind::Text => Err(unknown(format!("The column \"{name}\" holds text, not numbers."))),
    }
}

/// `ceil(max(pop / 1.8, ceil(pop / household)))`: a net per 1.8 persons, at least one per household.
fn nets_needed(population: f64, household: f64) -> u64 {
    (population / PERSONS_PER_NET).max((population / household).ceil()).ceil().max(0.0) as u64
}

fn greedy(needs: &[u64], total: u64) -> Vec<u64> {
    let mut left = total;
    let mut stopped = false;
    needs
        .iter()
        .map(|&need| {
            if stopped {
                0
            } else if need <= left {
                left -= need;
                need
            } else {
                stopped = true;
                std::mem::take(&mut left)
            }
        })
        .collect()
}

fn proportional(needs: &[u64], total: u64) -> Vec<u64> {
    let sum: u128 = needs.iter().map(|&n| n as u128).sum();
    if sum <= total as u128 {
        return needs.to_vec();
    }
    let mut allocation: Vec<u64> = needs.iter().map(|&n| (total as u128 * n as u128 / sum) as u64).collect();
    let mut left = total - allocation.iter().sum::<u64>();
    // Rounding down loses less than one net per ward, so a single pass hands out the rest.
    for (nets, &need) in allocation.iter_mut().zip(needs) {
        if left == 0 {
            break;
        }
        if *nets < need {
            *nets += 1;
            left -= 1;
        }
    }
    allocation
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{analyse, AnalysisRequest};
    use crate::table::{read_table, TableFormat};
    use crate::budget::{AnalysisBudget, TableBudget};

    #[test]
    fn needs_by_hand() {
        // 100 / 1.8 = 55.6 -> 56; ceil(100 / 5) = 20.
        assert_eq!(nets_needed(100.0, 5.0), 56);
        // 9 / 1.8 = 5 exactly; households of 1 need 9.
        assert_eq!(nets_needed(9.0, 1.0), 9);
        assert_eq!(nets_needed(0.0, 5.0), 0);
    }

    #[test]
    fn greedy_stops_at_first_ward_that_does_not_fit() {
        assert_eq!(greedy(&[30, 50, 10], 60), [30, 30, 0]);
        assert_eq!(greedy(&[30, 50, 10], 200), [30, 50, 10]);
    }

    #[test]
    fn proportional_shares_and_hands_out_remainder_in_order() {
        // 10 * 30/90 = 3.33 -> 3, 10 * 50/90 = 5.56 -> 5, 10 * 10/90 = 1.11 -> 1; one left to the first.
        assert_eq!(proportional(&[30, 50, 10], 10), [4, 5, 1]);
        assert_eq!(proportional(&[30, 50, 10], 90), [30, 50, 10]);
        assert_eq!(proportional(&[0, 5], 3), [0, 3]);
    }

    const TABLE: &str = "WardName,Population,urban_percentage,risk,other\n\
        A,900,10,5,1\nB,NA,80,4,2\nC,180,NA,3,1\nD,360,0,1,3\n";

    fn outcome(t: &WardTable) -> AnalysisOutcome {
        let req: AnalysisRequest = serde_json::from_str(r#"{"method":"composite","variables":["risk","other"]}"#).unwrap();
        analyse(t, None, &req, &AnalysisBudget::default()).unwrap()
    }

    fn request(json: &str) -> ItnRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn plan_orders_rural_first_and_covers() {
        let t = read_table(TABLE.as_bytes(), TableFormat::Csv, &TableBudget::default()).unwrap();
        let out = outcome(&t);
        let order: Vec<&str> = out.composite.as_ref().unwrap().wards.iter().map(|w| &*w.ward).collect();
        // risk and other normalised: A (1, 0), B (0.75, 0.5), C (0.5, 0), D (0, 1): one model, its mean.
        assert_eq!(order, ["B", "A", "D", "C"]);
        let plan = plan_itn(&t, &out, &request(r#"{"total_nets": 800}"#)).unwrap();
        // Rural (share < 30): A, D; urban: B (80) and C (missing share counts as 50).
        let got: Vec<(&str, Tier, f64, u64, u64)> =
            plan.wards.iter().map(|w| (w.ward.as_str(), w.tier, w.population, w.nets_needed, w.nets_allocated)).collect();
        // B's population is the mean of the others: (900 + 180 + 360) / 3 = 480 -> 267 nets.
        assert_eq!(got, [
            ("A", Tier::Rural, 900.0, 500, 500),
            ("D", Tier::Rural, 360.0, 200, 200),
            ("B", Tier::Urban, 480.0, 267, 100),
            ("C", Tier::Urban, 180.0, 100, 0),
        ]);
        // B: 100 nets cover 180 of 480 persons.
        assert!((plan.wards[2].coverage_pct - 37.5).abs() < 1e-12);
        assert_eq!(plan.wards[0].coverage_pct, 100.0);
        assert_eq!(plan.totals, ItnTotals { nets_allocated: 800, nets_left: 0, population_covered: 900.0 + 360.0 + 180.0 });
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["method"], "greedy");
        assert_eq!(json["wards"][2]["tier"], "urban");
    }

    #[test]
    fn population_too_large_to_add_up_is_refused() {
        let t = read_table(b"WardName,Population,risk,other\nA,1e308,5,1\nB,1.7e308,4,2\nC,NA,3,1\n", TableFormat::Csv, &TableBudget::default()).unwrap();
        let err = plan_itn(&t, &outcome(&t), &request(r#"{"total_nets": 10}"#)).unwrap_err();
        assert_eq!(err, ItnError::PopulationTooLarge { column: "Population".into() });
    }

    #[test]
    fn request_defaults_and_errors() {
        let r = request(r#"{"total_nets": 5}"#);
        assert_eq!((r.avg_household_size, r.urban_threshold, r.method), (5.0, 30.0, ItnMethod::Greedy));
        assert!(serde_json::from_str::<ItnRequest>(r#"{"total_nets": -1}"#).is_err());
        assert!(serde_json::from_str::<ItnRequest>(r#"{"total_nets": 1, "extra": 1}"#).is_err());
        let t = read_table(TABLE.as_bytes(), TableFormat::Csv, &TableBudget::default()).unwrap();
        let out = outcome(&t);
        let err = plan_itn(&t, &out, &request(r#"{"total_nets": 5, "avg_household_size": 0}"#)).unwrap_err();
        assert!(matches!(err, ItnError::InvalidNumber { field: "avg_household_size", .. }));
        let err = plan_itn(&t, &out, &request(r#"{"total_nets": 5, "population_column": "pop"}"#)).unwrap_err();
        assert!(matches!(err, ItnError::UnknownColumn { field: "population_column", .. }));
        let err = plan_itn(&t, &out, &request(r#"{"total_nets": 5, "urban_column": "WardName"}"#)).unwrap_err();
        assert!(matches!(err, ItnError::UnknownColumn { field: "urban_column", .. }));
        let t2 = read_table(b"WardName,Population,risk,other\nA,NA,1,2\nB,,2,1\n", TableFormat::Csv, &TableBudget::default()).unwrap();
        let err = plan_itn(&t2, &outcome(&t2), &request(r#"{"total_nets": 5}"#)).unwrap_err();
        assert_eq!(err, ItnError::NoPopulation { column: "Population".into() });
    }
}
