//! The budgets every input is measured against before memory is allocated for it, and the one
//! error that says which budget an input passed.
//!
//! The defaults fit a whole country with room to spare: Nigeria's 8,809 wards with every column
//! ChatMRPT uses (about 9,400 rows of some 60 columns) and detailed ward boundaries.

/// An input passed a budget: `limit` names the budget (as the API's `"limit"` does) and `max`
/// is its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("The file or request is larger than this server accepts: at most {max} {} allowed.", describe(limit))]
pub struct BudgetExceeded {
    pub limit: &'static str,
    pub max: u64,
}

fn describe(limit: &str) -> &'static str {
    match limit {
        "rows" => "rows of data are",
        "columns" => "columns are",
        "cells" => "cells are",
        "cell_bytes" => "bytes in one cell are",
        "decompressed_bytes" => "bytes once unpacked are",
        "compression_ratio" => "times compression is",
        "features" => "boundary features are",
        "vertices" => "boundary vertices are",
        "ring_vertices" => "vertices in one boundary ring are",
        "features_per_vertex" => "boundary features sharing one vertex are",
        "variables" => "variables are",
        "name_bytes" => "bytes in a name are",
        "record_bytes" => "bytes of column names and preview are",
        _ => "bytes are",
    }
}

impl BudgetExceeded {
    /// `Err` naming `limit` when `value` is over `max`.
    pub fn check(limit: &'static str, value: u64, max: u64) -> Result<(), BudgetExceeded> {
        if value > max {
            return Err(BudgetExceeded { limit, max });
        }
        Ok(())
    }
}

/// What one ward table (CSV, XLSX or XLS) may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableBudget {
    /// Data rows.
    pub rows: u64,
    /// Columns of the header (or the widest row of a worksheet).
    pub columns: u64,
    /// Rows times columns, as the table is actually laid out.
    pub cells: u64,
    /// Bytes of one cell's text.
    pub cell_bytes: u64,
    /// Bytes a workbook unpacks to: its zip entries, and the text of all its cells.
    pub decompressed_bytes: u64,
    /// Unpacked bytes per packed byte of one zip entry.
    pub compression_ratio: u64,
}

impl Default for TableBudget {
    /// A national table is about 9,400 rows of 60 columns (564,000 cells, a few MiB of text):
    /// these leave a hundred times that room and still bound a worker to a few hundred MiB.
    fn default() -> Self {
        TableBudget {
            rows: 1_000_000,
            columns: 10_000,
            cells: 8_000_000,
            cell_bytes: 128 << 10,
            decompressed_bytes: 256 << 20,
            compression_ratio: 100,
        }
    }
}

impl TableBudget {
    pub(crate) fn check_columns(&self, columns: usize) -> Result<(), BudgetExceeded> {
        BudgetExceeded::check("columns", columns as u64, self.columns)
    }

    /// Checks a table of `rows` data rows and `columns` columns.
    pub(crate) fn check_rows(&self, rows: usize, columns: usize) -> Result<(), BudgetExceeded> {
        BudgetExceeded::check("rows", rows as u64, self.rows)?;
        BudgetExceeded::check("cells", (rows as u64).saturating_mul(columns as u64), self.cells)
    }

    pub(crate) fn check_cell(&self, text: &str) -> Result<(), BudgetExceeded> {
        BudgetExceeded::check("cell_bytes", text.len() as u64, self.cell_bytes)
    }

    /// The zip entry limits of a workbook.
    pub(crate) fn unzip(&self) -> crate::unzip::UnzipBudget {
        crate::unzip::UnzipBudget { decompressed_bytes: self.decompressed_bytes, compression_ratio: self.compression_ratio }
    }
}

/// What one boundary file (GeoJSON or zipped shapefile) may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoundaryBudget {
    /// Ward shapes.
    pub features: u64,
    /// Points of all rings of all features.
    pub vertices: u64,
    /// Points of one ring.
    pub ring_vertices: u64,
    /// Features that share one point: Queen adjacency costs the square of it.
    pub features_per_vertex: u64,
    /// Bytes a zipped shapefile unpacks to.
    pub decompressed_bytes: u64,
    /// Unpacked bytes per packed byte of one zip entry.
    pub compression_ratio: u64,
}

impl Default for BoundaryBudget {
    /// Nigeria's wards at survey detail are about 9,400 features and under a million points; no
    /// more than a handful of wards meet at one corner.
    fn default() -> Self {
        BoundaryBudget {
            features: 100_000,
            vertices: 5_000_000,
            ring_vertices: 500_000,
            features_per_vertex: 64,
            decompressed_bytes: 256 << 20,
            compression_ratio: 100,
        }
    }
}

impl BoundaryBudget {
    pub(crate) fn unzip(&self) -> crate::unzip::UnzipBudget {
        crate::unzip::UnzipBudget { decompressed_bytes: self.decompressed_bytes, compression_ratio: self.compression_ratio }
    }
}

/// What one analysis may ask for: PCA costs the cube of the variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnalysisBudget {
    /// Variables analysed together.
    pub variables: u64,
    /// Rows times variables.
    pub cells: u64,
}

impl Default for AnalysisBudget {
    /// ChatMRPT's analyses use a dozen variables; 200 of them over 10,000 wards is still a
    /// fraction of a second of PCA.
    fn default() -> Self {
        AnalysisBudget { variables: 200, cells: 2_000_000 }
    }
}

impl AnalysisBudget {
    /// Checks an analysis of `variables` variables over `rows` rows.
    pub fn check(&self, variables: usize, rows: usize) -> Result<(), BudgetExceeded> {
        BudgetExceeded::check("variables", variables as u64, self.variables)?;
        BudgetExceeded::check("cells", (variables as u64).saturating_mul(rows as u64), self.cells)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_refuses_only_above_the_maximum() {
        assert_eq!(BudgetExceeded::check("rows", 10, 10), Ok(()));
        assert_eq!(BudgetExceeded::check("rows", 11, 10), Err(BudgetExceeded { limit: "rows", max: 10 }));
    }

    #[test]
    fn analysis_budget_edges() {
        let budget = AnalysisBudget { variables: 3, cells: 30 };
        assert_eq!(budget.check(3, 10), Ok(()));
        assert_eq!(budget.check(4, 1), Err(BudgetExceeded { limit: "variables", max: 3 }));
        assert_eq!(budget.check(3, 11), Err(BudgetExceeded { limit: "cells", max: 30 }));
    }

    #[test]
    fn messages_are_sentences() {
        let err = BudgetExceeded { limit: "columns", max: 10_000 };
        assert_eq!(err.to_string(), "The file or request is larger than this server accepts: at most 10000 columns are allowed.");
    }
}
