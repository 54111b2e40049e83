//! The input budgets of `mrpt serve` (API.md, Limits and fairness): one flag and `MRPT_*`
//! variable each, handed to the readers of tables, boundaries and analyses.

use crate::config::parse_size;
use clap::Args;
use mrpt_analysis::{AnalysisBudget, BoundaryBudget, TableBudget};
use serde::Serialize;

#[derive(Debug, Clone, Args, Serialize)]
pub struct Budgets {
    /// Most data rows of a ward table.
    #[arg(long, env = "MRPT_MAX_ROWS", default_value_t = TableBudget::default().rows, value_parser = positive)]
    pub max_rows: u64,

    /// Most columns of a ward table.
    #[arg(long, env = "MRPT_MAX_COLUMNS", default_value_t = TableBudget::default().columns, value_parser = positive)]
    pub max_columns: u64,

    /// Most cells (rows times columns) of a ward table.
    #[arg(long, env = "MRPT_MAX_CELLS", default_value_t = TableBudget::default().cells, value_parser = positive)]
    pub max_cells: u64,

    /// Most bytes of one cell's text (e.g. `128KiB`).
    #[arg(long, env = "MRPT_MAX_CELL_BYTES", default_value = "128KiB", value_parser = parse_size)]
    pub max_cell_bytes: u64,

    /// Most bytes a workbook or zipped shapefile unpacks to (e.g. `256MiB`).
    #[arg(long, env = "MRPT_MAX_DECOMPRESSED_BYTES", default_value = "256MiB", value_parser = parse_size)]
    pub max_decompressed_bytes: u64,

    /// Highest compression ratio of one entry of a workbook or zipped shapefile.
    #[arg(long, env = "MRPT_MAX_COMPRESSION_RATIO", default_value_t = TableBudget::default().compression_ratio, value_parser = positive)]
    pub max_compression_ratio: u64,

    /// Most features (ward shapes) of a boundary file.
    #[arg(long, env = "MRPT_MAX_FEATURES", default_value_t = BoundaryBudget::default().features, value_parser = positive)]
    pub max_features: u64,

    /// Most vertices of all rings of a boundary file.
    #[arg(long, env = "MRPT_MAX_VERTICES", default_value_t = BoundaryBudget::default().vertices, value_parser = positive)]
    pub max_vertices: u64,

    /// Most vertices of one ring of a boundary file.
    #[arg(long, env = "MRPT_MAX_RING_VERTICES", default_value_t = BoundaryBudget::default().ring_vertices, value_parser = positive)]
    pub max_ring_vertices: u64,

    /// Most features of a boundary file that share one vertex.
    #[arg(long, env = "MRPT_MAX_FEATURES_PER_VERTEX", default_value_t = BoundaryBudget::default().features_per_vertex, value_parser = positive)]
    pub max_features_per_vertex: u64,

    /// Most variables of one analysis.
    #[arg(long, env = "MRPT_MAX_VARIABLES", default_value_t = AnalysisBudget::default().variables, value_parser = positive)]
    pub max_variables: u64,

    /// Most cells (rows times variables) of one analysis.
    #[arg(long, env = "MRPT_MAX_ANALYSIS_CELLS", default_value_t = AnalysisBudget::default().cells, value_parser = positive)]
    pub max_analysis_cells: u64,

    /// Most bytes of a dataset name as sent.
    #[arg(long, env = "MRPT_MAX_NAME_BYTES", default_value = "1KiB", value_parser = parse_size)]
    pub max_name_bytes: u64,

    /// Most bytes of a JSON request body (e.g. `1MiB`).
    #[arg(long, env = "MRPT_MAX_JSON_BODY", default_value = "1MiB", value_parser = parse_size)]
    pub max_json_body: u64,
}

fn positive(raw: &str) -> Result<u64, String> {
    match raw.trim().parse::<u64>() {
        Ok(value) if value > 0 => Ok(value),
        _ => Err(format!("{raw:?} is not a positive whole number")),
    }
}

impl Budgets {
    pub fn table(&self) -> TableBudget {
        TableBudget {
            rows: self.max_rows,
            columns: self.max_columns,
            cells: self.max_cells,
            cell_bytes: self.max_cell_bytes,
            decompressed_bytes: self.max_decompressed_bytes,
            compression_ratio: self.max_compression_ratio,
        }
    }

    pub fn boundaries(&self) -> BoundaryBudget {
        BoundaryBudget {
            features: self.max_features,
            vertices: self.max_vertices,
            ring_vertices: self.max_ring_vertices,
            features_per_vertex: self.max_features_per_vertex,
            decompressed_bytes: self.max_decompressed_bytes,
            compression_ratio: self.max_compression_ratio,
        }
    }

    pub fn analysis(&self) -> AnalysisBudget {
        AnalysisBudget { variables: self.max_variables, cells: self.max_analysis_cells }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        budgets: Budgets,
    }

    #[test]
    fn defaults_are_the_libraries_and_flags_override_them() {
        let defaults = Command::parse_from(["mrpt"]).budgets;
        assert_eq!(defaults.table(), TableBudget::default());
        assert_eq!(defaults.boundaries(), BoundaryBudget::default());
        assert_eq!(defaults.analysis(), AnalysisBudget::default());
        assert_eq!((defaults.max_name_bytes, defaults.max_json_body), (1024, 1 << 20));
        let set = Command::parse_from(["mrpt", "--max-rows", "5", "--max-decompressed-bytes", "1MiB"]).budgets;
        assert_eq!((set.table().rows, set.boundaries().decompressed_bytes), (5, 1 << 20));
        assert!(Command::try_parse_from(["mrpt", "--max-cells", "0"]).is_err());
    }
}
