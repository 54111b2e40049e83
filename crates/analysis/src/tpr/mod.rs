//! Test positivity rate (TPR) and malaria burden per ward from a DHIS2 facility export, as
//! TPR.md specifies: [`compute`] reads the export, applies the options and sums the tests of each
//! ward; [`join`] writes the TPR into a ward table; [`TprResult`] is the stored result.

mod header;
mod join;
mod matching;
mod names;
mod options;
mod period;
mod rates;
mod scan;

use serde::{Deserialize, Serialize};

pub use header::Method;
pub use join::{join, table_values, Joined};
pub use matching::{JoinReport, UnmatchedTable, UnmatchedTpr};
pub use names::{display, key};
pub use options::{AgeGroup, FacilityLevel, MethodChoice, TprOptions};
pub use scan::GroupRule;

use crate::budget::TableBudget;
use crate::table::{TableError, TableFormat, WardTable};

/// The size an export may have, checked before the reading allocates for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Data rows (one per facility and period).
    pub rows: usize,
    /// Columns of the header row.
    pub columns: usize,
    /// Data rows times columns.
    pub cells: usize,
}

impl Default for Budget {
    /// Room for a national monthly export: about 30,000 facilities over three years is a million
    /// rows of some twenty columns; twice that and fifty columns leave margin.
    fn default() -> Self {
        Budget {
            rows: 2_000_000,
            columns: 1_000,
            cells: 64_000_000,
        }
    }
}

impl Budget {
    fn check_columns(&self, columns: usize) -> Result<(), TprError> {
        if columns > self.columns {
            return Err(TprError::TooLarge(format!(
                "The export has {columns} columns; at most {} can be read.",
                self.columns
            )));
        }
        Ok(())
    }

    fn check_rows(&self, rows: usize, columns: usize) -> Result<(), TprError> {
        if rows > self.rows {
            return Err(TprError::TooLarge(format!("The export has more than {} rows of data, more than can be read at once: export fewer periods or a smaller area.", self.rows)));
        }
        if rows.saturating_mul(columns) > self.cells {
            return Err(TprError::TooLarge(format!("The export has more than {} cells, more than can be read at once: export fewer columns, periods or a smaller area.", self.cells)));
        }
        Ok(())
    }

    /// The same limits for the workbook reader, which checks them cell by cell as it reads.
    fn sheet(&self) -> TableBudget {
        TableBudget { rows: self.rows as u64, columns: self.columns as u64, cells: self.cells as u64, ..TableBudget::default() }
    }
}

/// Why a TPR could not be computed; `Display` is a sentence for the person who uploaded.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TprError {
    #[error("The option \"{field}\" has a value that cannot be used.")]
    InvalidInput { field: String },
    #[error("{message}")]
    InvalidFile {
        message: String,
        line: Option<usize>,
        column: Option<String>,
    },
    #[error("The export lacks columns the chosen options need: {}.", missing.join(", "))]
    MissingColumns {
        missing: Vec<String>,
        found: Vec<String>,
    },
    #[error("{}", empty_selection_message(field))]
    EmptySelection {
        field: &'static str,
        available: Vec<String>,
    },
    #[error("{0}")]
    TooLarge(String),
}

fn empty_selection_message(field: &str) -> String {
    match field {
        "period" => "No row of the export lies in the chosen period; choose one of the periods it has.".into(),
        "facility_level" => "No facility of the export has the chosen level; choose one of the levels it has, or all.".into(),
        _ => "No row of the export names a ward (rows whose ward is empty or Unknown are left out).".into(),
    }
}

impl TprError {
    fn invalid_file(message: &str) -> TprError {
        TprError::InvalidFile {
            message: message.to_owned(),
            line: None,
            column: None,
        }
    }
}

impl From<TableError> for TprError {
    fn from(e: TableError) -> Self {
        if let TableError::TooLarge(exceeded) = e {
            return TprError::TooLarge(exceeded.to_string());
        }
        TprError::InvalidFile {
            message: e.to_string(),
            line: e.line(),
            column: None,
        }
    }
}

/// How many rows went where (TPR.md 3.2, 4.1, 1.5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    pub rows: usize,
    pub rows_out_of_period: usize,
    pub rows_other_level: usize,
    pub rows_without_ward: usize,
    pub rows_used: usize,
    pub pairs_excluded: usize,
    pub rows_with_excluded_pairs: usize,
    pub duplicate_columns: Vec<DuplicateColumns>,
}

/// Headers read as one count column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DuplicateColumns {
    pub column: String,
    pub headers: Vec<String>,
    pub rule: GroupRule,
}

/// The method whose counts a ward reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MethodUsed {
    Rdt,
    Microscopy,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub tested: f64,
    pub positive: f64,
    pub tpr: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ByMethod {
    pub rdt: Option<Rate>,
    pub microscopy: Option<Rate>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrendCategory {
    Worsening,
    Stable,
    Improving,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub slope: Option<f64>,
    pub category: Option<TrendCategory>,
    pub points: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TprYear {
    pub year: u16,
    pub tested: f64,
    pub positive: f64,
    pub tpr: Option<f64>,
    pub burden: Option<f64>,
    pub months_reported: Option<u8>,
    pub completeness: Option<f64>,
}

/// One ward of the result (TPR.md 8.1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TprWard {
    pub ward: String,
    pub lga: Option<String>,
    pub ward_key: String,
    pub lga_key: String,
    pub ward_code: Option<String>,
    pub table_ward: Option<String>,
    pub facilities: Option<usize>,
    pub tested: f64,
    pub positive: f64,
    pub tpr: Option<f64>,
    pub method_used: MethodUsed,
    pub by_method: ByMethod,
    pub population: Option<f64>,
    pub burden: Option<f64>,
    pub hotspot: Option<bool>,
    pub trend: Trend,
    pub years: Vec<TprYear>,
}

/// The result of a TPR computation, less the upload's own facts (id, file name, hash), which
/// the server adds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TprResult {
    pub options: TprOptions,
    pub column: String,
    pub header_line: usize,
    pub state: Option<String>,
    pub methods: Vec<Method>,
    pub years: Vec<u16>,
    pub quality: Quality,
    pub warnings: Vec<String>,
    pub join: Option<JoinReport>,
    pub wards: Vec<TprWard>,
}

/// A result and, per ward, the ward code the export gave it, which matching a ward table needs
/// and which the result shows only for unmatched wards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TprOutcome {
    pub result: TprResult,
    pub export_codes: Vec<Option<String>>,
}

/// A ward table to take populations from, with the id the result names it by.
pub struct PopulationTable<'t> {
    pub dataset_id: &'t str,
    pub table: &'t WardTable,
}

/// Computes the TPR of every ward of an export (TPR.md sections 1-6 and 8.1).
pub fn compute(
    bytes: &[u8],
    format: TableFormat,
    options: &TprOptions,
    table: Option<PopulationTable<'_>>,
    budget: &Budget,
) -> Result<TprOutcome, TprError> {
    let scan = scan::scan(bytes, format, options, budget)?;
    Ok(rates::result(scan, options, table))
}

#[cfg(test)]
mod tests;
