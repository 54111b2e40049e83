//! Datasets: what an uploaded ward table is, as stored and as shown. The
//! table itself is read by the analysis library; this module turns it into
//! the record kept in the state store.

use crate::domain::{DatasetId, Millis, SessionId, UserId};
use crate::principal::Principal;
use crate::store::owned::OwnedRecord;
use crate::store::OwnedKind;
use mrpt_analysis::{Cell, ColumnKind, TableFormat, WardTable};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// How many rows `GET /api/datasets/{id}` previews (API.md).
pub const PREVIEW_ROWS: usize = 20;
/// Characters of a text cell the preview shows.
pub const PREVIEW_CELL_CHARS: usize = 200;
/// Longest dataset name and stored file name, in characters.
const NAME_LIMIT: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Csv,
    Xlsx,
    Xls,
}

impl FileFormat {
    /// The format a client's file name announces, by its extension.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(Self::Csv),
            "xlsx" => Some(Self::Xlsx),
            "xls" => Some(Self::Xls),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
            Self::Xls => "xls",
        }
    }

    pub fn table_format(self) -> TableFormat {
        match self {
            Self::Csv => TableFormat::Csv,
            Self::Xlsx => TableFormat::Xlsx,
            Self::Xls => TableFormat::Xls,
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Xls => "application/vnd.ms-excel",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnSummary {
    pub name: String,
    pub kind: ColumnKind,
    pub missing: usize,
}

/// The first rows of a table, as `GET /api/datasets/{id}` shows them.
#[derive(Serialize)]
struct Preview {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

/// A dataset as the state store keeps it. It names its owner so that every
/// read can check it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetRecord {
    pub id: DatasetId,
    pub owner_id: UserId,
    pub session_id: SessionId,
    pub name: String,
    pub filename: String,
    pub format: FileFormat,
    pub bytes: u64,
    pub sha256: String,
    pub rows: usize,
    pub columns: Vec<ColumnSummary>,
    pub ward_column: String,
    pub has_boundaries: bool,
    pub uploaded_at: Millis,
    /// Kept as finished JSON: a read copies it out instead of decoding and
    /// encoding every cell again (the most frequent answer of all).
    pub preview: Box<RawValue>,
}

impl OwnedRecord for DatasetRecord {
    const KIND: OwnedKind = OwnedKind::Dataset;
    type Id = DatasetId;

    fn id(&self) -> String {
        self.id.to_string()
    }

    fn owner(&self) -> UserId {
        self.owner_id
    }

    fn created_at(&self) -> Millis {
        self.uploaded_at
    }
}

/// What an upload brought, already checked.
pub struct Upload<'a> {
    pub id: DatasetId,
    pub name: Option<String>,
    pub filename: &'a str,
    pub format: FileFormat,
    pub bytes: u64,
    pub sha256: String,
    pub table: &'a WardTable,
    pub has_boundaries: bool,
}

impl DatasetRecord {
    pub fn new(principal: &Principal, upload: Upload<'_>) -> Self {
        let table = upload.table;
        let filename = sanitise_file_name(upload.filename, upload.format);
        let name = upload.name.unwrap_or_else(|| match filename.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => stem.to_owned(),
            _ => filename.clone(),
        });
        Self {
            id: upload.id,
            owner_id: principal.user_id(),
            session_id: principal.session_id(),
            name,
            filename,
            format: upload.format,
            bytes: upload.bytes,
            sha256: upload.sha256,
            rows: table.row_count(),
            columns: table
                .columns()
                .iter()
                .map(|column| ColumnSummary { name: column.name.clone(), kind: column.kind, missing: column.missing })
                .collect(),
            ward_column: table.columns()[table.ward_column()].name.clone(),
            has_boundaries: upload.has_boundaries,
            uploaded_at: Millis::now(),
            preview: preview(table),
        }
    }
}

/// A text cell as the preview shows it: at most [`PREVIEW_CELL_CHARS`]
/// characters, then an ellipsis. The preview lives in the dataset's record,
/// which has a size cap; the file keeps every character.
fn preview_text(text: &str) -> String {
    match text.char_indices().nth(PREVIEW_CELL_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn preview(table: &WardTable) -> Box<RawValue> {
    let columns = table.columns().iter().map(|column| column.name.clone()).collect();
    let rows = (0..table.row_count().min(PREVIEW_ROWS))
        .map(|row| {
            (0..table.columns().len())
                .map(|column| match table.cell(row, column) {
                    Cell::Number(value) => serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number),
                    Cell::Text(text) => Value::String(preview_text(text)),
                    Cell::Missing => Value::Null,
                })
                .collect()
        })
        .collect();
    serde_json::value::to_raw_value(&Preview { columns, rows }).expect("a preview of JSON values serialises")
}

/// A dataset's name as the user gave it: trimmed, without control
/// characters, at most 200 characters; `None` when nothing is left.
pub fn clean_name(raw: &str) -> Result<Option<String>, &'static str> {
    let cleaned: String = raw.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim();
    if cleaned.chars().count() > NAME_LIMIT {
        return Err("The name must be at most 200 characters.");
    }
    Ok((!cleaned.is_empty()).then(|| cleaned.to_owned()))
}

/// A client's file name reduced to something safe to show and to offer as a
/// download name: its last path component, no control or quoting
/// characters, bounded length. It is never used as a path.
pub fn sanitise_file_name(raw: &str, format: FileFormat) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\\' | '/' | ';'))
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.');
    let mut name: String = cleaned.chars().take(NAME_LIMIT).collect();
    if name.is_empty() {
        name = "upload".to_owned();
    }
    if FileFormat::from_file_name(&name) != Some(format) {
        name = format!("{name}.{}", format.extension());
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_reduced_to_a_safe_base_name() {
        assert_eq!(sanitise_file_name("../../etc/passwd.csv", FileFormat::Csv), "passwd.csv");
        assert_eq!(sanitise_file_name("C:\\Users\\x\\wards.CSV", FileFormat::Csv), "wards.CSV");
        assert_eq!(sanitise_file_name("a\r\nb\u{0}\".csv", FileFormat::Csv), "ab.csv");
        assert_eq!(sanitise_file_name("..", FileFormat::Xlsx), "upload.xlsx");
        assert_eq!(sanitise_file_name(&format!("{}.csv", "x".repeat(300)), FileFormat::Csv).chars().count(), 204);
    }

    #[test]
    fn formats_come_from_the_extension() {
        assert_eq!(FileFormat::from_file_name("wards.XLSX"), Some(FileFormat::Xlsx));
        assert_eq!(FileFormat::from_file_name("wards.xls"), Some(FileFormat::Xls));
        assert_eq!(FileFormat::from_file_name("wards.txt"), None);
        assert_eq!(FileFormat::from_file_name("csv"), None);
    }

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean_name("  Kano wards\u{7} "), Ok(Some("Kano wards".to_owned())));
        assert_eq!(clean_name("   "), Ok(None));
        assert!(clean_name(&"n".repeat(201)).is_err());
    }
}
