//! Reading an uploaded ward table (CSV, XLSX or XLS bytes) into typed columns, following ANALYSIS.md §1.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use calamine::Data;
use serde::Serialize;

use crate::budget::{BudgetExceeded, TableBudget};
use crate::number::parse_finite;
pub(crate) use crate::workbook::first_sheet;

/// Names that identify the ward column, in order of preference (compared case-insensitively).
pub const WARD_COLUMN_NAMES: [&str; 4] = ["WardName", "Ward", "ward_name", "ward"];

/// Names that identify the ward code column, in order of preference (compared case-insensitively).
pub const WARD_CODE_COLUMN_NAMES: [&str; 3] = ["WardCode", "ward_code", "Ward_Code"];

/// Cell contents that mean "no value" (compared case-insensitively after trimming).
const MISSING_TOKENS: [&str; 15] = [
    "", "NA", "N/A", "#N/A", "#N/A N/A", "#NA", "<NA>", "NaN", "-NaN", "null", "None", "1.#IND",
    "-1.#IND", "1.#QNAN", "-1.#QNAN",
];

/// The file formats a ward table can arrive in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableFormat {
    Csv,
    Xlsx,
    Xls,
}

/// Why an uploaded table could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("The file is not a text table: line {line} contains control characters or binary data.")]
    NotText { line: usize },
    #[error("The table is empty: it needs a header line and at least one row of data.")]
    Empty,
    #[error("Line {line} has {found} cells but the header has {expected}; every row needs one cell per column.")]
    Ragged { line: usize, expected: usize, found: usize },
    #[error("The column name \"{name}\" appears more than once in the header; column names must be unique.")]
    DuplicateColumn { name: String },
    #[error("Column {position} has values but no name in the header; give every column with data a name.")]
    UnnamedColumn { position: usize },
    #[error("No ward column was found: the header needs a column named WardName, Ward, ward_name or ward.")]
    MissingWardColumn,
    #[error("The spreadsheet could not be read: {0}")]
    Workbook(String),
    #[error("{0}")]
    TooLarge(#[from] BudgetExceeded),
}

impl TableError {
    /// The 1-based physical line (or worksheet row) the problem is on, where one applies.
    pub fn line(&self) -> Option<usize> {
        match self {
            TableError::NotText { line } | TableError::Ragged { line, .. } => Some(*line),
            TableError::DuplicateColumn { .. } | TableError::UnnamedColumn { .. } => Some(1),
            _ => None,
        }
    }
}

/// Whether a column holds numbers or text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    Numeric,
    Text,
}

/// One value of the table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    Number(f64),
    Text(&'a str),
    Missing,
}

/// One column of the table: its name, kind, how many cells are missing, and its values.
/// It serialises as API.md's column summary, `{"name", "kind", "missing"}`.
#[derive(Clone, Debug, Serialize)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
    pub missing: usize,
    #[serde(skip)]
    values: Values,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
enum Values {
    /// NaN marks a missing cell: present values are always finite, so it cannot be confused.
    Numeric(Vec<f64>),
    /// All texts of the column in one buffer, so a wide table costs one allocation per column.
    Text { buf: String, spans: Vec<Option<(usize, usize)>> },
}

impl Column {
    /// The numeric values, with NaN for missing cells; `None` for a text column.
    pub fn numbers(&self) -> Option<&[f64]> {
        match &self.values {
            Values::Numeric(v) => Some(v),
            Values::Text { .. } => None,
        }
    }

    /// The value in `row`.
    pub fn cell(&self, row: usize) -> Cell<'_> {
        match &self.values {
            Values::Numeric(v) if v[row].is_nan() => Cell::Missing,
            Values::Numeric(v) => Cell::Number(v[row]),
            Values::Text { buf, spans } => match spans[row] {
                Some((start, end)) => Cell::Text(&buf[start..end]),
                None => Cell::Missing,
            },
        }
    }

    /// The value in `row` as a string, `None` when missing.
    pub fn text(&self, row: usize) -> Option<Cow<'_, str>> {
        match self.cell(row) {
            Cell::Number(x) => Some(Cow::Owned(x.to_string())),
            Cell::Text(s) => Some(Cow::Borrowed(s)),
            Cell::Missing => None,
        }
    }
}

/// A ward table: one row per ward, typed columns, and the ward (and ward code) column located.
#[derive(Clone, Debug)]
pub struct WardTable {
    columns: Vec<Column>,
    rows: usize,
    ward_column: usize,
    ward_code_column: Option<usize>,
}

impl WardTable {
    pub fn row_count(&self) -> usize {
        self.rows
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Index into `columns()` of the ward name column.
    pub fn ward_column(&self) -> usize {
        self.ward_column
    }

    /// Index into `columns()` of the ward code column, when the table has one.
    pub fn ward_code_column(&self) -> Option<usize> {
        self.ward_code_column
    }

    pub fn cell(&self, row: usize, column: usize) -> Cell<'_> {
        self.columns[column].cell(row)
    }

    /// Index of the column called `name`: an exact match first, else a case-insensitive one.
    pub fn find_column(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .or_else(|| self.columns.iter().position(|c| c.name.eq_ignore_ascii_case(name)))
    }

    /// Each row's ward code, `None` where the table has no code column or the cell is missing.
    pub fn ward_codes(&self) -> Vec<Option<String>> {
        (0..self.rows).map(|r| self.ward_code(r).map(Cow::into_owned)).collect()
    }

    pub(crate) fn ward_code(&self, row: usize) -> Option<Cow<'_, str>> {
        self.ward_code_column.and_then(|c| self.columns[c].text(row))
    }

    /// Each row's ward name, made unique as ANALYSIS.md §1 says: a repeated name gets its ward
    /// code appended when there is one, else its occurrence number (the first keeps its name).
    pub fn ward_names(&self) -> Vec<String> {
        self.unique_ward_names()
    }

    /// [`Self::ward_names`] as shared strings, which rankings can hand out without copying.
    pub(crate) fn ward_labels(&self) -> Vec<Arc<str>> {
        self.unique_ward_names()
    }

    fn unique_ward_names<T: for<'a> From<&'a str> + From<String>>(&self) -> Vec<T> {
        let ward = &self.columns[self.ward_column];
        let raw: Vec<Cow<'_, str>> = (0..self.rows).map(|r| ward.text(r).unwrap_or_default()).collect();
        // foldhash: SipHash would take most of this function's time on short names, and foldhash's
        // random seed still keeps crafted names from colliding on purpose.
        let mut counts: HashMap<&str, usize, foldhash::fast::RandomState> = HashMap::with_capacity_and_hasher(self.rows, Default::default());
        for name in &raw {
            *counts.entry(name).or_default() += 1;
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        raw.iter()
            .enumerate()
            .map(|(row, name)| {
                if counts[name.as_ref()] < 2 {
                    return T::from(name.as_ref());
                }
                let nth = seen.entry(name).or_default();
                *nth += 1;
                match self.ward_code(row) {
                    Some(code) => T::from(format!("{name} ({code})")),
                    None if *nth == 1 => T::from(name.as_ref()),
                    None => T::from(format!("{name} ({nth})")),
                }
            })
            .collect()
    }
}

/// Reads a ward table from the bytes of an uploaded file, refusing it the moment it passes
/// `budget`.
pub fn read_table(bytes: &[u8], format: TableFormat, budget: &TableBudget) -> Result<WardTable, TableError> {
    match format {
        TableFormat::Csv => read_csv(bytes, budget),
        TableFormat::Xlsx | TableFormat::Xls => read_sheet(first_sheet(bytes, format, budget)?),
    }
}

/// A raw value before the column's kind is known.
pub(crate) enum Raw<'a> {
    Str(&'a str),
    Num(f64),
    Missing,
}

/// A cell that holds something.
pub(crate) enum Present<'a> {
    Number(f64),
    Text(&'a str),
}

/// Trims text and applies the missing tokens; `None` for a missing cell.
pub(crate) fn present(raw: Raw<'_>) -> Option<Present<'_>> {
    match raw {
        Raw::Missing => None,
        Raw::Num(x) => x.is_finite().then_some(Present::Number(x)),
        Raw::Str(s) => {
            let s = s.trim();
            (!is_missing(s)).then_some(Present::Text(s))
        }
    }
}

/// Collects one column's cells. A column stays numeric, keeping only numbers, until a cell
/// proves it is text; the spelling of the numbers before that cell is then read again from the
/// file (rare: text columns are usually text from their first row), which spares copying every
/// numeric cell's text.
struct ColumnBuilder {
    name: String,
    rows: usize,
    numeric: bool,
    numbers: Vec<f64>,
    buf: String,
    spans: Vec<Option<(usize, usize)>>,
    /// Rows before this one had numbers whose text is still to be recovered.
    recover_below: usize,
    missing: usize,
}

impl ColumnBuilder {
    fn new(name: String, rows: usize) -> Self {
        ColumnBuilder {
            name,
            rows: 0,
            numeric: true,
            numbers: Vec::with_capacity(rows),
            buf: String::new(),
            spans: Vec::new(),
            recover_below: 0,
            missing: 0,
        }
    }

    fn push(&mut self, raw: Raw<'_>) {
        // Most cells of a numeric column are plain numbers, which neither Unicode trimming nor
        // the missing tokens can change, so they skip both.
        if let (true, Raw::Str(s)) = (self.numeric, &raw) {
            if let Some(x) = parse_finite(s.as_bytes().trim_ascii()) {
                self.rows += 1;
                self.numbers.push(x);
                return;
            }
        }
        let row = self.rows;
        self.rows += 1;
        let Some(value) = present(raw) else {
            self.missing += 1;
            if self.numeric {
                self.numbers.push(f64::NAN);
            } else {
                self.spans.push(None);
            }
            return;
        };
        if self.numeric {
            let number = match value {
                Present::Number(x) => Some(x),
                Present::Text(s) => parse_finite(s.as_bytes()),
            };
            if let Some(x) = number {
                self.numbers.push(x);
                return;
            }
            self.numeric = false;
            if self.numbers.iter().any(|v| !v.is_nan()) {
                self.recover_below = row;
            }
            // The numbers' capacity is the row count guess, which the spans need now instead.
            self.spans = Vec::with_capacity(self.numbers.capacity());
            self.spans.resize(row, None);
            self.numbers = Vec::new();
        }
        let span = self.store(value);
        self.spans.push(Some(span));
    }

    /// Gives back the text of an early numeric cell of a column that turned out to be text.
    fn recover(&mut self, row: usize, raw: Raw<'_>) {
        if row < self.recover_below {
            if let Some(value) = present(raw) {
                self.spans[row] = Some(self.store(value));
            }
        }
    }

    fn store(&mut self, value: Present<'_>) -> (usize, usize) {
        let start = self.buf.len();
        match value {
            Present::Text(s) => self.buf.push_str(s),
            Present::Number(x) => {
                use fmt::Write;
                let _ = write!(self.buf, "{x}");
            }
        }
        (start, self.buf.len())
    }

    fn has_data(&self) -> bool {
        // A text column has at least the cell that made it text.
        !self.numeric || self.numbers.iter().any(|v| !v.is_nan())
    }

    fn finish(self) -> Column {
        let (kind, values) = if self.numeric {
            (ColumnKind::Numeric, Values::Numeric(self.numbers))
        } else {
            (ColumnKind::Text, Values::Text { buf: self.buf, spans: self.spans })
        };
        Column { name: self.name, kind, missing: self.missing, values }
    }
}

fn is_missing(s: &str) -> bool {
    // Tokens start with N, #, <, - or 1 and are at most 8 bytes long, so most numbers and
    // names are rejected without comparing them to every token.
    match s.as_bytes().first() {
        None => true,
        Some(b'N' | b'n' | b'#' | b'<' | b'-' | b'1') => s.len() <= 8 && MISSING_TOKENS.iter().any(|t| t.eq_ignore_ascii_case(s)),
        Some(_) => false,
    }
}

/// Gathers rows, in any format, into columns and checks the header rules.
struct TableBuilder {
    columns: Vec<ColumnBuilder>,
    rows: usize,
}

impl TableBuilder {
    /// `rows` is a guess of the row count, so that columns grow once rather than many times.
    /// The header's width was checked against the budget, and `rows` is bounded by it.
    fn new<'a>(header: impl Iterator<Item = &'a str>, rows: usize) -> Result<Self, TableError> {
        let columns: Vec<ColumnBuilder> = header.map(|h| ColumnBuilder::new(h.trim().to_owned(), rows)).collect();
        let mut seen = HashSet::new();
        for c in columns.iter().filter(|c| !c.name.is_empty()) {
            if !seen.insert(c.name.as_str()) {
                return Err(TableError::DuplicateColumn { name: c.name.clone() });
            }
        }
        Ok(TableBuilder { columns, rows: 0 })
    }

    fn push_row<'a>(&mut self, cells: impl Iterator<Item = Raw<'a>>) {
        for (column, raw) in self.columns.iter_mut().zip(cells) {
            column.push(raw);
        }
        self.rows += 1;
    }

    /// How many leading data rows must be read again to recover text (0: none).
    fn rows_to_recover(&self) -> usize {
        self.columns.iter().map(|c| c.recover_below).max().unwrap_or(0)
    }

    fn recover_row<'a>(&mut self, row: usize, cells: impl Iterator<Item = Raw<'a>>) {
        for (column, raw) in self.columns.iter_mut().zip(cells) {
            column.recover(row, raw);
        }
    }

    fn finish(self) -> Result<WardTable, TableError> {
        if self.rows == 0 {
            return Err(TableError::Empty);
        }
        let mut columns = Vec::with_capacity(self.columns.len());
        for (i, c) in self.columns.into_iter().enumerate() {
            if c.name.is_empty() {
                // Spreadsheet exports often carry blank, nameless columns: they hold nothing to lose.
                if c.has_data() {
                    return Err(TableError::UnnamedColumn { position: i + 1 });
                }
                continue;
            }
            columns.push(c.finish());
        }
        let find = |names: &[&str]| {
            names.iter().find_map(|n| columns.iter().position(|c| c.name.eq_ignore_ascii_case(n)))
        };
        let ward_column = find(&WARD_COLUMN_NAMES).ok_or(TableError::MissingWardColumn)?;
        let ward_code_column = find(&WARD_CODE_COLUMN_NAMES);
        Ok(WardTable { columns, rows: self.rows, ward_column, ward_code_column })
    }
}

/// UTF-8 (with or without BOM) when valid, else Windows-1252, which maps every byte.
pub(crate) fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, TableError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0,
    };
    if let Some(pos) = find_control(text.as_bytes()) {
        let line = 1 + text.as_bytes()[..pos].iter().filter(|&&b| b == b'\n').count();
        return Err(TableError::NotText { line });
    }
    Ok(text)
}

/// The offset of the first control character other than tab, CR and LF: U+0000-U+001F, U+007F,
/// or U+0080-U+009F (0xC2 0x80-0x9F in UTF-8). Blocks without a suspicious byte are skipped with
/// a test the compiler can vectorise, which matters on uploads of many megabytes.
fn find_control(b: &[u8]) -> Option<usize> {
    let suspicious = |c: u8| (c < 0x20 && c != b'\t' && c != b'\r' && c != b'\n') || c == 0x7F || c == 0xC2;
    let control = |i: usize| {
        let c = b[i];
        (c != 0xC2 && suspicious(c)) || (c == 0xC2 && b.get(i + 1).is_some_and(|n| (0x80..=0x9F).contains(n)))
    };
    const BLOCK: usize = 64;
    b.chunks(BLOCK).enumerate().find_map(|(k, chunk)| {
        if !chunk.iter().fold(false, |any, &c| any | suspicious(c)) {
            return None;
        }
        (k * BLOCK..k * BLOCK + chunk.len()).find(|&i| control(i))
    })
}

fn read_csv(bytes: &[u8], budget: &TableBudget) -> Result<WardTable, TableError> {
    let text = decode(bytes)?;
    let mut table: Option<TableBuilder> = None;
    let mut expected = 0;
    csv_records(&text, |line, record| {
        for cell in record.iter() {
            budget.check_cell(cell)?;
        }
        match table.as_mut() {
            None => {
                expected = record.len();
                budget.check_columns(expected)?;
                // Every cell takes at least one byte, which bounds the guess for odd files, and
                // the budget bounds it for all. Counting in bytes per block lets the compiler
                // vectorise the count.
                let lines: usize = text
                    .as_bytes()
                    .chunks(255)
                    .map(|block| block.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n')) as usize)
                    .sum();
                let within_budget = budget.rows.min(budget.cells / expected as u64) as usize;
                table = Some(TableBuilder::new(record.iter(), lines.min(text.len() / expected).min(within_budget))?);
            }
            Some(t) => {
                if record.len() != expected {
                    return Err(TableError::Ragged { line, expected, found: record.len() });
                }
                budget.check_rows(t.rows + 1, expected)?;
                t.push_row(record.iter().map(Raw::Str));
            }
        }
        Ok(true)
    })?;
    let mut table = table.ok_or(TableError::Empty)?;
    let reread = table.rows_to_recover();
    if reread > 0 {
        let mut next: Option<usize> = None;
        csv_records(&text, |_, record| {
            let Some(row) = next else {
                next = Some(0);
                return Ok(true);
            };
            table.recover_row(row, record.iter().map(Raw::Str));
            next = Some(row + 1);
            Ok(row + 1 < reread)
        })?;
    }
    table.finish()
}

/// Calls `f` with the line number and fields of each record that is not blank, until it
/// returns `false`.
pub(crate) fn csv_records(
    text: &str,
    mut f: impl FnMut(usize, &csv::StringRecord) -> Result<bool, TableError>,
) -> Result<(), TableError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    // The text was decoded above, so the reader cannot fail on encoding; reading a slice has no I/O errors.
    while let Ok(true) = reader.read_record(&mut record) {
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if !f(record_line(text, record.position()), &record)? {
            break;
        }
    }
    Ok(())
}

/// The physical line a record starts on. The csv reader's position points at the end of the
/// previous record, before any blank lines it skipped, so those are counted here.
fn record_line(text: &str, position: Option<&csv::Position>) -> usize {
    let Some(p) = position else { return 0 };
    let skipped = text.as_bytes()[p.byte() as usize..]
        .iter()
        .take_while(|&&b| b == b'\n' || b == b'\r')
        .filter(|&&b| b == b'\n')
        .count();
    p.line() as usize + skipped
}

/// Reads a worksheet that [`first_sheet`] checked against the budget.
fn read_sheet(sheet: Option<calamine::Range<Data>>) -> Result<WardTable, TableError> {
    let Some(range) = sheet else { return Err(TableError::Empty) };
    let mut rows = range.rows().filter(|row| !row.iter().all(is_blank_data));
    let header: Vec<String> = match rows.next() {
        Some(row) => row.iter().map(data_header).collect(),
        None => return Err(TableError::Empty),
    };
    let mut table = TableBuilder::new(header.iter().map(String::as_str), range.height())?;
    for row in rows {
        table.push_row(row.iter().map(data_raw));
    }
    let reread = table.rows_to_recover();
    let data_rows = range.rows().filter(|row| !row.iter().all(is_blank_data)).skip(1);
    for (i, row) in data_rows.take(reread).enumerate() {
        table.recover_row(i, row.iter().map(data_raw));
    }
    table.finish()
}

pub(crate) fn is_blank_data(d: &Data) -> bool {
    match d {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn data_header(d: &Data) -> String {
    match d {
        Data::Empty | Data::Error(_) => String::new(),
        other => other.to_string(),
    }
}

pub(crate) fn data_raw(d: &Data) -> Raw<'_> {
    match d {
        Data::Int(i) => Raw::Num(*i as f64),
        Data::Float(x) => Raw::Num(*x),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Raw::Str(s),
        Data::Bool(true) => Raw::Str("TRUE"),
        Data::Bool(false) => Raw::Str("FALSE"),
        Data::DateTime(dt) => Raw::Num(dt.as_f64()),
        Data::Error(_) | Data::Empty => Raw::Missing,
    }
}

/// A checked table as [`crate::compact`] stores it: every column with its values.
#[derive(Serialize, serde::Deserialize)]
pub(crate) struct StoredTable<'t> {
    columns: Vec<StoredColumn<'t>>,
    rows: usize,
    ward_column: usize,
    ward_code_column: Option<usize>,
}

#[derive(Serialize, serde::Deserialize)]
struct StoredColumn<'t> {
    name: Cow<'t, str>,
    kind: ColumnKind,
    missing: usize,
    values: Cow<'t, Values>,
}

impl WardTable {
    pub(crate) fn stored(&self) -> StoredTable<'_> {
        StoredTable {
            columns: self
                .columns
                .iter()
                .map(|c| StoredColumn { name: Cow::Borrowed(&c.name), kind: c.kind, missing: c.missing, values: Cow::Borrowed(&c.values) })
                .collect(),
            rows: self.rows,
            ward_column: self.ward_column,
            ward_code_column: self.ward_code_column,
        }
    }

    /// The table back from its stored form; `None` when the form does not hold together, so
    /// that no later access can index out of it.
    pub(crate) fn from_stored(stored: StoredTable<'_>) -> Option<WardTable> {
        let rows = stored.rows;
        let columns = stored
            .columns
            .into_iter()
            .map(|c| {
                let values = c.values.into_owned();
                let whole = match &values {
                    Values::Numeric(v) => v.len() == rows,
                    Values::Text { buf, spans } => {
                        spans.len() == rows
                            && spans.iter().flatten().all(|&(start, end)| start <= end && buf.get(start..end).is_some())
                    }
                };
                whole.then(|| Column { name: c.name.into_owned(), kind: c.kind, missing: c.missing, values })
            })
            .collect::<Option<Vec<Column>>>()?;
        let in_range = |c: usize| c < columns.len();
        (in_range(stored.ward_column) && stored.ward_code_column.is_none_or(in_range)).then_some(WardTable {
            columns,
            rows,
            ward_column: stored.ward_column,
            ward_code_column: stored.ward_code_column,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::TableBudget;

    fn csv(text: &str) -> Result<WardTable, TableError> {
        read_table(text.as_bytes(), TableFormat::Csv, &TableBudget::default())
    }

    fn col<'t>(t: &'t WardTable, name: &str) -> &'t Column {
        &t.columns()[t.find_column(name).unwrap()]
    }

    #[test]
    fn reads_kinds_missing_and_ward_column() {
        let t = csv("id,WardName,x,label\n1, Alpha ,1.5,a\n2,Beta,NA,b\n3,Gamma, 2 ,NaN\n").unwrap();
        assert_eq!(t.row_count(), 3);
        assert_eq!(t.ward_column(), 1);
        assert_eq!(t.ward_code_column(), None);
        let x = col(&t, "x");
        assert_eq!(x.kind, ColumnKind::Numeric);
        assert_eq!(x.missing, 1);
        assert_eq!(t.cell(0, 2), Cell::Number(1.5));
        assert_eq!(t.cell(1, 2), Cell::Missing);
        assert_eq!(t.cell(2, 2), Cell::Number(2.0));
        assert_eq!(t.cell(0, 1), Cell::Text("Alpha"));
        assert_eq!(col(&t, "label").kind, ColumnKind::Text);
        assert_eq!(t.cell(2, 3), Cell::Missing);
    }

    #[test]
    fn every_missing_token_is_missing_in_any_case() {
        let tokens = [
            "", "na", "n/a", "#n/a", "#n/a n/a", "#na", "<na>", "nan", "-nan", "NULL", "none", "1.#ind",
            "-1.#IND", "1.#qnan", "-1.#QNAN", "  NA  ",
        ];
        let mut text = String::from("ward,v\n");
        for (i, t) in tokens.iter().enumerate() {
            text.push_str(&format!("w{i},{t}\n"));
        }
        text.push_str("last,3\n");
        let t = csv(&text).unwrap();
        let v = col(&t, "v");
        assert_eq!(v.kind, ColumnKind::Numeric);
        assert_eq!(v.missing, tokens.len());
    }

    #[test]
    fn numbers_follow_rust_float_parsing() {
        for good in ["+5", ".5", "5.", "1e3", "-2.5E-2"] {
            let t = csv(&format!("ward,v\na,{good}\n")).unwrap();
            assert_eq!(t.columns()[1].kind, ColumnKind::Numeric, "{good}");
        }
        for bad in ["inf", "infinity", "1e400", "\"1,000\"", "12abc", "0x10"] {
            let t = csv(&format!("ward,v\na,{bad}\nb,1\n")).unwrap();
            assert_eq!(t.columns()[1].kind, ColumnKind::Text, "{bad}");
        }
    }

    #[test]
    fn late_text_recovers_spelling_of_earlier_numbers() {
        let t = csv("WardName,v,w\na,007,1\n\nb,NA,2\nc, +5 ,3\nd,x1,4\ne,1e3,y\n").unwrap();
        let v: Vec<Cell> = (0..5).map(|r| t.cell(r, 1)).collect();
        assert_eq!(v, [Cell::Text("007"), Cell::Missing, Cell::Text("+5"), Cell::Text("x1"), Cell::Text("1e3")]);
        let w: Vec<Cell> = (0..5).map(|r| t.cell(r, 2)).collect();
        assert_eq!(w, [Cell::Text("1"), Cell::Text("2"), Cell::Text("3"), Cell::Text("4"), Cell::Text("y")]);
        assert_eq!((t.columns()[1].missing, t.columns()[2].missing), (1, 0));
    }

    #[test]
    fn column_summary_json() {
        let t = csv("WardName,v\na,NA\n").unwrap();
        let json = serde_json::to_string(t.columns()).unwrap();
        assert_eq!(json, r#"[{"name":"WardName","kind":"text","missing":0},{"name":"v","kind":"numeric","missing":1}]"#);
    }

    #[test]
    fn column_without_values_is_numeric() {
        let t = csv("ward,empty\na,\nb,NA\n").unwrap();
        assert_eq!(t.columns()[1].kind, ColumnKind::Numeric);
        assert_eq!(t.columns()[1].missing, 2);
    }

    #[test]
    fn text_column_keeps_original_spelling_of_numbers() {
        let t = csv("ward,v\na,1.50\nb,x\n").unwrap();
        assert_eq!(t.cell(0, 1), Cell::Text("1.50"));
    }

    #[test]
    fn ward_column_preference_and_code_column() {
        let t = csv("ward,Ward_Code,WARDNAME\na,c1,A\n").unwrap();
        assert_eq!(t.ward_column(), 2);
        assert_eq!(t.ward_code_column(), Some(1));
    }

    #[test]
    fn missing_ward_column() {
        assert_eq!(csv("name,v\na,1\n").unwrap_err(), TableError::MissingWardColumn);
    }

    #[test]
    fn duplicate_names_with_codes() {
        let t = csv("WardName,WardCode\nMama,K1\nGafa,K2\nMama,K3\n").unwrap();
        assert_eq!(t.ward_names(), ["Mama (K1)", "Gafa", "Mama (K3)"]);
    }

    #[test]
    fn duplicate_names_without_codes() {
        let t = csv("Ward,v\nMama,1\nGafa,2\nMama,3\nMama,4\n").unwrap();
        assert_eq!(t.ward_names(), ["Mama", "Gafa", "Mama (2)", "Mama (3)"]);
    }

    #[test]
    fn utf8_bom_is_accepted() {
        let t = read_table(b"\xEF\xBB\xBFWardName,v\nKano,1\n", TableFormat::Csv, &TableBudget::default()).unwrap();
        assert_eq!(t.columns()[0].name, "WardName");
    }

    #[test]
    fn windows_1252_fallback() {
        let t = read_table(b"WardName,v\nCaf\xE9,1\n", TableFormat::Csv, &TableBudget::default()).unwrap();
        assert_eq!(t.ward_names(), ["Caf\u{e9}"]);
    }

    #[test]
    fn control_bytes_are_not_text() {
        let err = read_table(b"WardName,v\na,1\nb\x00,2\n", TableFormat::Csv, &TableBudget::default()).unwrap_err();
        assert_eq!(err, TableError::NotText { line: 3 });
        assert_eq!(err.line(), Some(3));
        let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR";
        assert!(matches!(read_table(png, TableFormat::Csv, &TableBudget::default()), Err(TableError::NotText { line: 2 })));
    }

    #[test]
    fn control_characters_are_found_at_any_offset() {
        for at in [0, 1, 63, 64, 65, 200] {
            let mut text = vec![b'a'; 300];
            for bad in [&b"\x00"[..], b"\x1b", b"\x7f", b"\xc2\x85"] {
                text[at..at + bad.len()].copy_from_slice(bad);
                assert_eq!(find_control(&text), Some(at), "{bad:?} at {at}");
                text[at..at + bad.len()].fill(b'a');
            }
        }
        assert_eq!(find_control("caf\u{e9} \u{a9}\t\r\n".as_bytes()), None);
        assert_eq!(find_control(b"\xc2"), None);
    }

    #[test]
    fn tabs_and_crlf_are_text() {
        let t = read_table(b"WardName,v\r\na\tb,1\r\n", TableFormat::Csv, &TableBudget::default()).unwrap();
        assert_eq!(t.ward_names(), ["a\tb"]);
    }

    #[test]
    fn empty_tables() {
        assert_eq!(csv("").unwrap_err(), TableError::Empty);
        assert_eq!(csv("\n\n").unwrap_err(), TableError::Empty);
        assert_eq!(csv("WardName,v\n").unwrap_err(), TableError::Empty);
        assert_eq!(csv("WardName,v\n , \n").unwrap_err(), TableError::Empty);
    }

    #[test]
    fn ragged_rows_report_physical_line() {
        let err = csv("WardName,v\na,1\n\"b\nc\",2\nd\n").unwrap_err();
        assert_eq!(err, TableError::Ragged { line: 5, expected: 2, found: 1 });
        assert_eq!(err.line(), Some(5));
        let err = csv("WardName,v\n\na,1,2\n").unwrap_err();
        assert_eq!(err, TableError::Ragged { line: 3, expected: 2, found: 3 });
    }

    #[test]
    fn quoted_newlines_stay_in_the_cell() {
        let t = csv("WardName,note\na,\"two\nlines\"\nb,x\n").unwrap();
        assert_eq!(t.cell(0, 1), Cell::Text("two\nlines"));
        assert_eq!(t.row_count(), 2);
    }

    #[test]
    fn blank_lines_are_skipped() {
        let t = csv("WardName,v\n\na,1\n,\n\nb,2\n").unwrap();
        assert_eq!(t.row_count(), 2);
    }

    #[test]
    fn duplicate_column_after_trimming() {
        let err = csv("WardName, v ,v\na,1,2\n").unwrap_err();
        assert_eq!(err, TableError::DuplicateColumn { name: "v".into() });
        assert_eq!(err.line(), Some(1));
    }

    #[test]
    fn unnamed_column_with_data() {
        let err = csv("WardName,,v\na,x,1\n").unwrap_err();
        assert_eq!(err, TableError::UnnamedColumn { position: 2 });
    }

    #[test]
    fn blank_trailing_columns_are_dropped() {
        let t = csv("WardName,v,,\na,1,,\nb,2, ,\n").unwrap();
        assert_eq!(t.columns().len(), 2);
    }

    fn too_large(result: Result<WardTable, TableError>) -> BudgetExceeded {
        match result {
            Err(TableError::TooLarge(e)) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn csv_budgets_at_their_edges() {
        let text = "ward,v,w\na,1,22\nb,2,333\n";
        let read = |budget: TableBudget| read_table(text.as_bytes(), TableFormat::Csv, &budget);
        let budget = TableBudget { rows: 2, columns: 3, cells: 6, cell_bytes: 4, ..TableBudget::default() };
        assert_eq!(read(budget).unwrap().row_count(), 2);
        assert_eq!(too_large(read(TableBudget { rows: 1, ..budget })), BudgetExceeded { limit: "rows", max: 1 });
        assert_eq!(too_large(read(TableBudget { columns: 2, ..budget })), BudgetExceeded { limit: "columns", max: 2 });
        assert_eq!(too_large(read(TableBudget { cells: 5, ..budget })), BudgetExceeded { limit: "cells", max: 5 });
        assert_eq!(too_large(read(TableBudget { cell_bytes: 3, ..budget })), BudgetExceeded { limit: "cell_bytes", max: 3 });
    }

    #[test]
    fn default_budget_columns() {
        let columns = TableBudget::default().columns as usize;
        let header: Vec<String> = (1..columns).map(|i| format!("c{i}")).collect();
        let text = format!("ward,{}\na,{}\n", header.join(","), vec!["1"; columns - 1].join(","));
        assert_eq!(csv(&text).unwrap().columns().len(), columns);
        let text = format!("ward,{},extra\n", header.join(","));
        assert_eq!(too_large(csv(&text)), BudgetExceeded { limit: "columns", max: columns as u64 });
    }

    #[test]
    fn wide_table_and_largest_cell() {
        let header: Vec<String> = (0..2000).map(|i| format!("c{i}")).collect();
        let row: Vec<String> = (0..2000).map(|i| i.to_string()).collect();
        let big = "x".repeat(TableBudget::default().cell_bytes as usize);
        let text = format!("ward,{},note\nA,{},{big}\n", header.join(","), row.join(","));
        let t = csv(&text).unwrap();
        assert_eq!(t.columns().len(), 2002);
        assert_eq!(t.cell(0, 2000), Cell::Number(1999.0));
        assert_eq!(t.cell(0, 2001), Cell::Text(&big));
        let text = format!("ward,note\nA,{big}x\n");
        assert_eq!(too_large(csv(&text)), BudgetExceeded { limit: "cell_bytes", max: 128 << 10 });
    }

    #[test]
    fn error_messages_are_sentences() {
        let err = TableError::Ragged { line: 4, expected: 3, found: 2 };
        assert_eq!(err.to_string(), "Line 4 has 2 cells but the header has 3; every row needs one cell per column.");
    }

    fn xlsx(build: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
        let mut book = rust_xlsxwriter::Workbook::new();
        build(book.add_worksheet());
        book.save_to_buffer().unwrap()
    }

    #[test]
    fn reads_xlsx_first_sheet() {
        let bytes = xlsx(|s| {
            s.write_string(0, 0, "WardName").unwrap();
            s.write_string(0, 1, "v").unwrap();
            s.write_string(0, 2, "flag").unwrap();
            s.write_string(0, 3, "s").unwrap();
            s.write_string(1, 0, " Kaki ").unwrap();
            s.write_number(1, 1, 2.5).unwrap();
            s.write_boolean(1, 2, true).unwrap();
            s.write_string(1, 3, "7").unwrap();
            s.write_string(2, 0, "Gafa").unwrap();
            s.write_string(2, 1, "NA").unwrap();
            s.write_boolean(2, 2, false).unwrap();
            s.write_string(2, 3, "n/a").unwrap();
            s.write_string(0, 4, "mixed").unwrap();
            s.write_number(1, 4, 2.5).unwrap();
            s.write_string(2, 4, "x").unwrap();
        });
        let t = read_table(&bytes, TableFormat::Xlsx, &TableBudget::default()).unwrap();
        assert_eq!(t.ward_names(), ["Kaki", "Gafa"]);
        assert_eq!(t.cell(0, 1), Cell::Number(2.5));
        assert_eq!(t.cell(1, 1), Cell::Missing);
        assert_eq!(t.columns()[2].kind, ColumnKind::Text);
        assert_eq!(t.cell(0, 2), Cell::Text("TRUE"));
        assert_eq!(t.columns()[3].kind, ColumnKind::Numeric);
        assert_eq!(t.cell(0, 3), Cell::Number(7.0));
        assert_eq!((t.cell(0, 4), t.cell(1, 4)), (Cell::Text("2.5"), Cell::Text("x")));
    }

    #[test]
    fn xlsx_without_ward_column_and_garbage() {
        let bytes = xlsx(|s| {
            s.write_string(0, 0, "name").unwrap();
            s.write_string(1, 0, "a").unwrap();
        });
        assert_eq!(read_table(&bytes, TableFormat::Xlsx, &TableBudget::default()).unwrap_err(), TableError::MissingWardColumn);
        assert!(matches!(read_table(b"not a workbook", TableFormat::Xlsx, &TableBudget::default()), Err(TableError::Workbook(_))));
        assert!(matches!(read_table(b"not a workbook", TableFormat::Xls, &TableBudget::default()), Err(TableError::Workbook(_))));
        let empty = xlsx(|_| {});
        assert_eq!(read_table(&empty, TableFormat::Xlsx, &TableBudget::default()).unwrap_err(), TableError::Empty);
    }

    #[test]
    fn reads_sample_file() {
        let bytes = include_bytes!("../../../../shared/data/kano_like_wards.csv");
        let t = read_table(bytes, TableFormat::Csv, &TableBudget::default()).unwrap();
        assert_eq!(t.row_count(), 480);
        assert_eq!(t.columns().len(), 16);
        let missing: usize = t.columns().iter().map(|c| c.missing).sum();
        assert_eq!(missing, 106);
        let names = t.ward_names();
        assert_eq!(names.iter().filter(|n| n.starts_with("Mama (")).count(), 2);
    }
}
