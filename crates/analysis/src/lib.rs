//! Malaria risk analysis of ward tables: reading, imputation, composite and PCA rankings, bed-net plans.

mod analysis;
mod boundaries;
mod composite;
pub mod export;
mod impute;
mod itn;
mod normalise;
mod pca;
mod rank;
pub mod render;
mod select;
pub mod table;

pub use analysis::{
    analyse, AnalysisError, AnalysisOutcome, AnalysisRequest, CompositeResult, Method, PcaResult, Ranked, VariableInfo,
};
pub use boundaries::{BoundaryError, Boundaries, Feature, Polygon, Ring};
pub use impute::Imputation;
pub use itn::{plan_itn, ItnError, ItnMethod, ItnPlan, ItnRequest, ItnTotals, ItnWard, Tier};
pub use normalise::{Direction, Inversion};
pub use rank::Category;
pub use table::{read_table, Cell, Column, ColumnKind, TableError, TableFormat, WardTable};
