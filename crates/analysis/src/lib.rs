//! Malaria risk analysis of ward tables: reading, imputation, composite and PCA rankings, bed-net plans.
//!
//! Pure functions over bytes and values, as ANALYSIS.md specifies them: [`read_table`] turns an
//! upload into a [`WardTable`], [`Boundaries::parse`] reads GeoJSON or a zipped shapefile,
//! [`analyse`] ranks the wards, [`plan_itn`] plans bed nets, and [`export`] and [`render`] turn
//! results into CSV and SVG; [`tpr`] computes each ward's test positivity from a DHIS2 facility
//! export. Every error type's `Display` is a sentence meant for the person who uploaded the data.

mod analysis;
mod biff;
mod boundaries;
mod budget;
pub mod compact;
mod composite;
pub mod export;
mod feature_collection;
mod impute;
mod itn;
mod normalise;
mod number;
mod pca;
mod rank;
pub mod render;
mod select;
pub mod table;
mod total_order;
pub mod tpr;
mod unzip;
mod workbook;

pub use analysis::{
    analyse, AnalysisError, AnalysisOutcome, AnalysisRequest, CompositeResult, Method, PcaResult, Ranked, VariableInfo,
};
pub use boundaries::{BoundaryError, Boundaries, Feature, Polygon, Ring};
pub use budget::{AnalysisBudget, BoundaryBudget, BudgetExceeded, TableBudget};
pub use impute::Imputation;
pub use itn::{plan_itn, ItnError, ItnMethod, ItnPlan, ItnRequest, ItnTotals, ItnWard, Tier};
pub use normalise::{Direction, Inversion};
pub use rank::Category;
pub use table::{read_table, Cell, Column, ColumnKind, TableError, TableFormat, WardTable};
