//! Malaria risk analysis of ward tables: reading, imputation, composite and PCA rankings, bed-net plans.

pub mod table;

pub use table::{read_table, Cell, Column, ColumnKind, TableError, TableFormat, WardTable};
