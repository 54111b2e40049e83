//! Matching the wards of a TPR result to the rows of a ward table: by code, then by ward and
//! LGA, then by ward alone, each only where the value is unique on both sides (TPR.md 6.1).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::names::key;
use super::TprWard;
use crate::table::WardTable;

/// Names of the LGA column of a ward table, in order of preference (case-insensitive).
const LGA_COLUMN_NAMES: [&str; 3] = ["LGA", "LGAName", "lga_name"];

/// How the result's wards met the table's rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JoinReport {
    pub dataset_id: String,
    pub matched: usize,
    pub by_code: usize,
    pub by_ward_lga: usize,
    pub by_ward: usize,
    pub unmatched_tpr: Vec<UnmatchedTpr>,
    pub unmatched_table: Vec<UnmatchedTable>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnmatchedTpr {
    pub ward: String,
    pub lga: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnmatchedTable {
    pub ward: Option<String>,
    pub ward_code: Option<String>,
}

/// The index of the table's LGA column, if it has one.
pub(crate) fn lga_column(table: &WardTable) -> Option<usize> {
    LGA_COLUMN_NAMES.iter().find_map(|n| {
        table
            .columns()
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(n))
    })
}

/// Matches the wards (with the codes the export gave them) to the table, sets each matched
/// ward's `table_ward` and `ward_code`, and gives the report and each ward's table row.
pub fn match_table(
    wards: &mut [TprWard],
    export_codes: &[Option<String>],
    dataset_id: &str,
    table: &WardTable,
) -> (JoinReport, Vec<Option<usize>>) {
    let rows = table.row_count();
    let text = |column: Option<usize>, row: usize| {
        column
            .and_then(|c| table.columns()[c].text(row))
            .map(|t| t.into_owned())
    };
    let table_ward: Vec<Option<String>> = (0..rows)
        .map(|r| text(Some(table.ward_column()), r))
        .collect();
    let table_code: Vec<Option<String>> = (0..rows)
        .map(|r| text(table.ward_code_column(), r))
        .collect();
    let lga = lga_column(table);
    let table_lga: Vec<Option<String>> = (0..rows).map(|r| text(lga, r)).collect();
    let table_key: Vec<String> = table_ward
        .iter()
        .map(|w| w.as_deref().map(key).unwrap_or_default())
        .collect();

    let mut row_of_ward: Vec<Option<usize>> = vec![None; wards.len()];
    let mut ward_of_row: Vec<Option<usize>> = vec![None; rows];
    let code_form = |c: &Option<String>| {
        c.as_deref()
            .map(|c| c.trim().to_lowercase())
            .unwrap_or_default()
    };
    let mut steps = [0usize; 3];
    for (step, count) in steps.iter_mut().enumerate() {
        let ward_value = |w: usize| -> String {
            match step {
                0 => code_form(&export_codes[w]),
                1 if wards[w].ward_key.is_empty() || wards[w].lga_key.is_empty() => String::new(),
                1 => format!("{}\u{0}{}", wards[w].ward_key, wards[w].lga_key),
                _ => wards[w].ward_key.clone(),
            }
        };
        let row_value = |r: usize| -> String {
            if table_ward[r].is_none() {
                return String::new();
            }
            match step {
                0 => code_form(&table_code[r]),
                1 => {
                    let lga_key = table_lga[r].as_deref().map(key).unwrap_or_default();
                    if table_key[r].is_empty() || lga_key.is_empty() {
                        String::new()
                    } else {
                        format!("{}\u{0}{lga_key}", table_key[r])
                    }
                }
                _ => table_key[r].clone(),
            }
        };
        if step == 1 && lga.is_none() {
            continue;
        }
        let unique = |values: Vec<(usize, String)>| -> HashMap<String, Option<usize>> {
            let mut once: HashMap<String, Option<usize>> = HashMap::new();
            for (i, v) in values.into_iter().filter(|(_, v)| !v.is_empty()) {
                once.entry(v).and_modify(|e| *e = None).or_insert(Some(i));
            }
            once
        };
        let ward_values = unique(
            (0..wards.len())
                .filter(|&w| row_of_ward[w].is_none())
                .map(|w| (w, ward_value(w)))
                .collect(),
        );
        let row_values = unique(
            (0..rows)
                .filter(|&r| ward_of_row[r].is_none())
                .map(|r| (r, row_value(r)))
                .collect(),
        );
        for (value, ward) in &ward_values {
            if let (Some(w), Some(Some(r))) = (ward, row_values.get(value)) {
                row_of_ward[*w] = Some(*r);
                ward_of_row[*r] = Some(*w);
                *count += 1;
            }
        }
    }

    for (w, ward) in wards.iter_mut().enumerate() {
        match row_of_ward[w] {
            Some(r) => {
                ward.table_ward = table_ward[r].clone();
                ward.ward_code = table_code[r].clone().or_else(|| export_codes[w].clone());
            }
            None => {
                ward.table_ward = None;
                ward.ward_code = export_codes[w].clone();
            }
        }
    }
    let report = JoinReport {
        dataset_id: dataset_id.to_owned(),
        matched: steps.iter().sum(),
        by_code: steps[0],
        by_ward_lga: steps[1],
        by_ward: steps[2],
        unmatched_tpr: wards
            .iter()
            .zip(&row_of_ward)
            .filter(|(_, r)| r.is_none())
            .map(|(w, _)| UnmatchedTpr {
                ward: w.ward.clone(),
                lga: w.lga.clone(),
            })
            .collect(),
        unmatched_table: (0..rows)
            .filter(|&r| ward_of_row[r].is_none())
            .map(|r| UnmatchedTable {
                ward: table_ward[r].clone(),
                ward_code: table_code[r].clone(),
            })
            .collect(),
    };
    (report, row_of_ward)
}
