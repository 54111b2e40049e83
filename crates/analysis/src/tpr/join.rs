//! Writing a result's TPR into a copy of a ward table (TPR.md section 7).

use std::borrow::Cow;

use calamine::Data;

use super::matching::{lga_column, match_table, JoinReport};
use super::{TprError, TprOutcome};
use crate::budget::TableBudget;
use crate::table::{csv_records, decode, first_sheet, is_blank_data, TableFormat, WardTable};

/// The new table and what the join did.
#[derive(Clone, Debug, PartialEq)]
pub struct Joined {
    /// The table as UTF-8 CSV with the TPR column.
    pub csv: String,
    pub column: String,
    pub join: JoinReport,
    pub warnings: Vec<String>,
}

/// Each table row's TPR as the join writes it: the matched ward's, `None` when unmatched or null.
pub fn table_values(
    outcome: &TprOutcome,
    dataset_id: &str,
    table: &WardTable,
) -> (Vec<Option<f64>>, JoinReport) {
    let mut wards = outcome.result.wards.clone();
    let (report, row_of_ward) = match_table(&mut wards, &outcome.export_codes, dataset_id, table);
    let mut values = vec![None; table.row_count()];
    for (ward, row) in wards.iter().zip(row_of_ward) {
        if let Some(r) = row {
            values[r] = ward.tpr;
        }
    }
    (values, report)
}

/// Writes the table whose bytes are `bytes` (read as `table`) with the TPR as `column` (the
/// result's column name by default).
pub fn join(
    outcome: &TprOutcome,
    dataset_id: &str,
    table: &WardTable,
    bytes: &[u8],
    format: TableFormat,
    column: Option<&str>,
    budget: &TableBudget,
) -> Result<Joined, TprError> {
    let column = column.unwrap_or(&outcome.result.column).to_owned();
    let identity = [
        Some(table.ward_column()),
        table.ward_code_column(),
        lga_column(table),
    ];
    let names_identity = identity
        .iter()
        .flatten()
        .any(|&c| table.columns()[c].name.eq_ignore_ascii_case(&column));
    if !valid_column_name(&column) || names_identity {
        return Err(TprError::InvalidInput {
            field: "column".into(),
        });
    }
    let (values, join) = table_values(outcome, dataset_id, table);
    let mut warnings = Vec::new();
    let replaced = table
        .find_column(&column)
        .map(|c| table.columns()[c].name.clone());
    if let Some(old) = &replaced {
        warnings.push(format!(
            "The table's column \"{old}\" was replaced by the TPR as \"{column}\"."
        ));
    }

    let rows = raw_rows(bytes, format, budget)?;
    let (header, data) = rows
        .split_first()
        .ok_or_else(|| TprError::invalid_file("The ward table has no rows."))?;
    // The columns the table kept: those with a name (nameless ones hold nothing).
    let kept: Vec<usize> = (0..header.len())
        .filter(|&i| !header[i].is_empty())
        .collect();
    if data.len() != values.len() {
        return Err(TprError::invalid_file(
            "The ward table's file no longer reads as it did at upload.",
        ));
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut record: Vec<Cow<'_, str>> = Vec::with_capacity(kept.len() + 1);
    let replaced_position = replaced
        .as_ref()
        .and_then(|name| kept.iter().position(|&i| header[i] == *name));
    for (row, cells) in std::iter::once(header).chain(data).enumerate() {
        record.clear();
        record.extend(
            kept.iter()
                .map(|&i| Cow::Borrowed(cells.get(i).map_or("", String::as_str))),
        );
        let value: Cow<'_, str> = match row {
            0 => Cow::Borrowed(column.as_str()),
            r => values[r - 1].map_or(Cow::Borrowed(""), |v| Cow::Owned(v.to_string())),
        };
        match replaced_position {
            Some(p) => record[p] = value,
            None => record.push(value),
        }
        writer
            .write_record(record.iter().map(|c| c.as_bytes()))
            .map_err(|e| TprError::invalid_file(&e.to_string()))?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| TprError::invalid_file(&e.to_string()))?;
    let csv = String::from_utf8(bytes).expect("written from strings");
    Ok(Joined {
        csv,
        column,
        join,
        warnings,
    })
}

/// `^[A-Za-z][A-Za-z0-9_]{0,63}$`
fn valid_column_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=64).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// The table's rows as the ward-table reader sees them (header first, blank rows skipped), each
/// cell trimmed and as text: workbook numbers as the shortest decimal that reads back.
fn raw_rows(bytes: &[u8], format: TableFormat, budget: &TableBudget) -> Result<Vec<Vec<String>>, TprError> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    match format {
        TableFormat::Csv => {
            let text = decode(bytes)?;
            csv_records(&text, |_, record| {
                budget.check_columns(record.len())?;
                budget.check_rows(rows.len(), record.len())?;
                for cell in record.iter() {
                    budget.check_cell(cell)?;
                }
                rows.push(record.iter().map(|c| c.trim().to_owned()).collect());
                Ok(true)
            })?;
        }
        TableFormat::Xlsx | TableFormat::Xls => {
            if let Some(sheet) = first_sheet(bytes, format, budget)? {
                for cells in sheet.rows().filter(|r| !r.iter().all(is_blank_data)) {
                    rows.push(cells.iter().map(sheet_text).collect());
                }
            }
        }
    }
    Ok(rows)
}

fn sheet_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.trim().to_owned(),
        Data::Int(i) => i.to_string(),
        Data::Float(x) => x.to_string(),
        Data::Bool(true) => "TRUE".into(),
        Data::Bool(false) => "FALSE".into(),
        Data::DateTime(dt) => dt.as_f64().to_string(),
        Data::Error(e) => e.to_string(),
    }
}
