//! One pass over the rows of a DHIS2 export: the header, every cell checked, the filters of
//! TPR.md 3.2, and the used rows kept in a compact form for the sums (TPR.md 1, 2 and 3).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use calamine::Data;

use super::header::{Count, CountColumn, Header, Method, Role, METHODS};
use super::names::{display, key, state_name};
use super::options::{AgeGroup, FacilityLevel, MethodChoice, TprOptions};
use super::period::{Period, PeriodRange};
use super::{Budget, TprError};
use crate::number::parse_finite;
use crate::table::{
    csv_records, data_raw, decode, first_sheet, is_blank_data, present, Present, Raw, TableFormat,
};

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The header must begin on one of the file's first lines.
const HEADER_SEARCH_LINES: usize = 50;

/// How the cells of a group of headers naming one count column are read as one (TPR.md 1.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupRule {
    Copies,
    Sum,
}

/// Whether a multi-header group holds copies: some row has two values, and no row differing ones.
#[derive(Clone, Copy, Debug, Default)]
struct GroupEvidence {
    some_row_has_two: bool,
    some_row_differs: bool,
}

impl GroupEvidence {
    fn rule(self) -> GroupRule {
        if self.some_row_has_two && !self.some_row_differs {
            GroupRule::Copies
        } else {
            GroupRule::Sum
        }
    }
}

/// A ward group (TPR.md section 2) as the scan first met it.
pub struct WardGroup {
    pub ward_key: String,
    pub lga_key: String,
    pub ward: String,
    pub lga: Option<String>,
    pub code: Option<String>,
    /// Distinct facilities; `None` when the export has no facility column.
    pub facilities: Option<usize>,
}

/// The rows used, each a ward, a period and its values of the needed count columns.
pub struct UsedRows {
    pub ward: Vec<u32>,
    pub period: Vec<Period>,
    /// Per row, `stride` values: for each needed column its first value and, for columns read
    /// from several headers, the sum too (NaN where missing).
    values: Vec<f64>,
    stride: usize,
}

/// Where each needed column's values sit in a row's slice of [`UsedRows`].
#[derive(Clone, Copy, Debug)]
struct Slot {
    column: CountColumn,
    first: usize,
    sum: Option<usize>,
}

pub struct Counts {
    pub rows: usize,
    pub rows_out_of_period: usize,
    pub rows_other_level: usize,
    pub rows_without_ward: usize,
}

/// Everything the sums need from the export.
pub struct Scan {
    pub header: Header,
    pub methods: Vec<Method>,
    pub ages: Vec<usize>,
    pub rules: [Option<GroupRule>; 12],
    pub counts: Counts,
    pub wards: Vec<WardGroup>,
    pub rows: UsedRows,
    pub state: Option<String>,
    pub warnings: Vec<String>,
    slots: Vec<Slot>,
}

impl Scan {
    /// The value of `column` in used row `row` under its group's rule; `None` when missing.
    pub fn value(&self, row: usize, column: CountColumn) -> Option<f64> {
        let slot = self.slots.iter().find(|s| s.column == column)?;
        let values = &self.rows.values[row * self.rows.stride..];
        let v = match (slot.sum, self.rules[column.0]) {
            (Some(sum), Some(GroupRule::Sum)) => values[sum],
            _ => values[slot.first],
        };
        (!v.is_nan()).then_some(v)
    }
}

/// Reads the export and applies the filters.
pub fn scan(
    bytes: &[u8],
    format: TableFormat,
    options: &TprOptions,
    budget: &Budget,
) -> Result<Scan, TprError> {
    let range = options
        .range()
        .ok_or_else(|| TprError::InvalidInput { field: "to".into() })?;
    let mut state = State::new(options, range, budget);
    match format {
        TableFormat::Csv => {
            let text = decode(bytes)?;
            if let Err(e) = csv_records(&text, |line, record| {
                Ok(state.row(line, &CsvRow { record, line })?)
            }) {
                return Err(state.error.take().unwrap_or_else(|| e.into()));
            }
        }
        TableFormat::Xlsx | TableFormat::Xls => {
            if let Some(sheet) = first_sheet(bytes, format, &budget.sheet())? {
                let first_line = sheet.start().map_or(1, |(row, _)| row as usize + 1);
                for (i, cells) in sheet.rows().enumerate() {
                    if cells.iter().all(is_blank_data) {
                        continue;
                    }
                    // `Err` leaves the error in the state, for `finish` to give.
                    if !state.row(first_line + i, &SheetRow(cells)).unwrap_or(false) {
                        break;
                    }
                }
            }
        }
    }
    state.finish()
}

/// A row's cells, from a CSV record or a worksheet row.
trait Cells {
    fn len(&self) -> usize;
    fn raw(&self, i: usize) -> Raw<'_>;
    /// The number of fields must match the header's (CSV only; a sheet's rows are all as wide).
    fn check_width(&self, width: usize) -> Result<(), TprError>;
}

struct CsvRow<'r> {
    record: &'r csv::StringRecord,
    line: usize,
}

impl Cells for CsvRow<'_> {
    fn len(&self) -> usize {
        self.record.len()
    }
    fn raw(&self, i: usize) -> Raw<'_> {
        Raw::Str(&self.record[i])
    }
    fn check_width(&self, width: usize) -> Result<(), TprError> {
        if self.record.len() == width {
            return Ok(());
        }
        let message = format!(
            "Line {} has {} cells but the header has {width}; every row needs one cell per column.",
            self.line,
            self.record.len()
        );
        Err(TprError::InvalidFile {
            message,
            line: Some(self.line),
            column: None,
        })
    }
}

struct SheetRow<'r>(&'r [Data]);

impl Cells for SheetRow<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn raw(&self, i: usize) -> Raw<'_> {
        self.0.get(i).map_or(Raw::Missing, data_raw)
    }
    fn check_width(&self, _: usize) -> Result<(), TprError> {
        Ok(())
    }
}

/// A cell as text, `None` when missing; numbers as the shortest decimal that reads back.
fn text(raw: Raw<'_>) -> Option<Cow<'_, str>> {
    match present(raw)? {
        Present::Text(s) => Some(Cow::Borrowed(s)),
        Present::Number(x) => Some(Cow::Owned(x.to_string())),
    }
}

/// A count cell: `Ok(None)` when missing, an error for anything but a finite number >= 0.
fn count(raw: Raw<'_>) -> Result<Option<f64>, ()> {
    if let Raw::Str(s) = raw {
        if let Some(x) = parse_finite(s.as_bytes().trim_ascii()) {
            return if x >= 0.0 { Ok(Some(x)) } else { Err(()) };
        }
    }
    match present(raw) {
        None => Ok(None),
        Some(Present::Number(x)) if x >= 0.0 => Ok(Some(x)),
        Some(Present::Text(s)) => match parse_finite(s.as_bytes()) {
            Some(x) if x >= 0.0 => Ok(Some(x)),
            _ => Err(()),
        },
        Some(Present::Number(_)) => Err(()),
    }
}

/// The scan's progress through the rows.
struct State<'o> {
    options: &'o TprOptions,
    range: PeriodRange,
    budget: &'o Budget,
    header: Option<Header>,
    /// Some non-blank row was seen (a file of blank rows is not an export).
    any_row: bool,
    /// Columns checked in every data row (the period and every count header), left to right.
    checked: Vec<usize>,
    slots: Vec<Slot>,
    stride: usize,
    methods: Vec<Method>,
    ages: Vec<usize>,
    warnings: Vec<String>,
    evidence: [GroupEvidence; 12],
    counts: Counts,
    periods_seen: HashSet<Period>,
    levels_available: Vec<String>,
    level_matches: Map<String, bool>,
    ward_keys: Interner,
    lga_keys: Interner,
    groups: Map<(u32, u32), u32>,
    wards: Vec<WardGroup>,
    facility_ids: Map<String, u32>,
    facilities: HashSet<(u32, u32), foldhash::fast::RandomState>,
    rows: UsedRows,
    state: Option<String>,
    /// Per row: each checked column's count (NaN when missing) and the period.
    cell_counts: Vec<f64>,
    /// A `TprError` met inside the CSV reader's callback, which can only return a `TableError`.
    error: Option<TprError>,
}

impl<'o> State<'o> {
    fn new(options: &'o TprOptions, range: PeriodRange, budget: &'o Budget) -> Self {
        State {
            options,
            range,
            budget,
            header: None,
            any_row: false,
            checked: Vec::new(),
            slots: Vec::new(),
            stride: 0,
            methods: Vec::new(),
            ages: match options.age_group {
                AgeGroup::U5 => vec![0],
                AgeGroup::O5 => vec![1],
                AgeGroup::Pw => vec![2],
                AgeGroup::All => vec![0, 1, 2],
            },
            warnings: Vec::new(),
            evidence: Default::default(),
            counts: Counts {
                rows: 0,
                rows_out_of_period: 0,
                rows_other_level: 0,
                rows_without_ward: 0,
            },
            periods_seen: HashSet::new(),
            levels_available: Vec::new(),
            level_matches: Map::default(),
            ward_keys: Interner::default(),
            lga_keys: Interner::default(),
            groups: Map::default(),
            wards: Vec::new(),
            facility_ids: Map::default(),
            facilities: HashSet::default(),
            rows: UsedRows {
                ward: Vec::new(),
                period: Vec::new(),
                values: Vec::new(),
                stride: 0,
            },
            state: None,
            cell_counts: Vec::new(),
            error: None,
        }
    }

    /// Takes one row that is not blank by the CSV reader's rule; `Ok(false)` stops the reading.
    fn row(&mut self, line: usize, cells: &impl Cells) -> Result<bool, Stop> {
        // Blank by TPR.md 1.1: every cell missing, whatever the number of fields.
        if (0..cells.len()).all(|i| present(cells.raw(i)).is_none()) {
            return Ok(true);
        }
        self.any_row = true;
        if self.header.is_none() {
            if line > HEADER_SEARCH_LINES {
                return Ok(false);
            }
            let header_cells = (0..cells.len())
                .map(|i| {
                    text(cells.raw(i))
                        .map(|c| c.into_owned())
                        .unwrap_or_default()
                })
                .collect();
            if let Some(header) = Header::recognise(line, header_cells) {
                self.budget
                    .check_columns(header.cells.len())
                    .map_err(|e| self.stop(e))?;
                self.header = Some(header);
            }
            return Ok(true);
        }
        if self.counts.rows == 0 {
            self.prepare().map_err(|e| self.stop(e))?;
        }
        self.data_row(line, cells).map_err(|e| self.stop(e))?;
        Ok(true)
    }

    fn stop(&mut self, e: TprError) -> Stop {
        self.error = Some(e);
        Stop
    }

    /// At the first data row: the required columns (TPR.md 1.7, 4.1) and the layout of a used row.
    fn prepare(&mut self) -> Result<(), TprError> {
        let header = self.header.as_ref().expect("a data row follows a header");
        let mut missing: Vec<String> = Vec::new();
        for (role, name) in [(Role::Ward, "ward"), (Role::Period, "period")] {
            if header.role(role).is_none() {
                missing.push(name.into());
            }
        }
        if self.options.facility_level != FacilityLevel::All
            && header.role(Role::FacilityLevel).is_none()
        {
            missing.push("facility_level".into());
        }
        let wanted: &[Method] = match self.options.method {
            MethodChoice::Rdt => &[Method::Rdt],
            MethodChoice::Microscopy => &[Method::Microscopy],
            MethodChoice::Both => &METHODS,
        };
        let columns_of = |m: Method| -> Vec<CountColumn> {
            [Count::Tested, Count::Positive]
                .iter()
                .flat_map(|&c| self.ages.iter().map(move |&a| CountColumn::new(m, c, a)))
                .collect()
        };
        let complete: Vec<Method> = wanted
            .iter()
            .copied()
            .filter(|&m| columns_of(m).iter().all(|&c| header.has(c)))
            .collect();
        if complete.is_empty() {
            missing.extend(
                wanted
                    .iter()
                    .flat_map(|&m| columns_of(m))
                    .filter(|&c| !header.has(c))
                    .map(CountColumn::name),
            );
        }
        if !missing.is_empty() {
            return Err(TprError::MissingColumns {
                missing,
                found: header.found(),
            });
        }
        if complete.len() < wanted.len() {
            let lacking = wanted
                .iter()
                .find(|m| !complete.contains(m))
                .expect("one method lacks columns");
            self.warnings.push(format!(
                "The export lacks {} columns for the chosen age group, so only {} is considered.",
                method_word(*lacking),
                method_word(complete[0])
            ));
        }
        self.methods = complete;
        for &m in &self.methods {
            for c in columns_of(m) {
                let several = header.counts[c.0].len() > 1;
                self.slots.push(Slot {
                    column: c,
                    first: self.stride,
                    sum: several.then_some(self.stride + 1),
                });
                self.stride += 1 + usize::from(several);
            }
        }
        self.rows.stride = self.stride;
        self.checked = header
            .counts
            .iter()
            .flatten()
            .copied()
            .chain(header.role(Role::Period))
            .collect();
        self.checked.sort_unstable();
        Ok(())
    }

    fn data_row(&mut self, line: usize, cells: &impl Cells) -> Result<(), TprError> {
        let header = self.header.as_ref().expect("a data row follows a header");
        cells.check_width(header.cells.len())?;
        self.counts.rows += 1;
        self.budget
            .check_rows(self.counts.rows, header.cells.len())?;
        let period_column = header.role(Role::Period).expect("required");
        let invalid = |pos: usize, what: &str| {
            let column = header.cells[pos].clone();
            let message = format!("Line {line}, column \"{column}\": {what}");
            TprError::InvalidFile {
                message,
                line: Some(line),
                column: Some(column),
            }
        };
        let width = header.cells.len();
        self.cell_counts.clear();
        self.cell_counts.resize(width, f64::NAN);
        let mut period = None;
        for &pos in &self.checked {
            if pos == period_column {
                let parsed = text(cells.raw(pos)).and_then(|t| Period::parse(&t));
                period = Some(parsed.ok_or_else(|| invalid(pos, "the period must read as YYYYMM, YYYY-MM, YYYY or a month and year such as January 2022."))?);
            } else {
                let value = count(cells.raw(pos)).map_err(|()| {
                    invalid(pos, "a count must be empty or a number of 0 or more.")
                })?;
                self.cell_counts[pos] = value.unwrap_or(f64::NAN);
            }
        }
        let period = period.expect("the period column is checked");
        for (group, evidence) in header
            .counts
            .iter()
            .zip(self.evidence.iter_mut())
            .filter(|(g, _)| g.len() > 1)
        {
            let mut present = group
                .iter()
                .map(|&p| self.cell_counts[p])
                .filter(|v| !v.is_nan());
            if let Some(first) = present.next() {
                for other in present {
                    evidence.some_row_has_two = true;
                    evidence.some_row_differs |= other != first;
                }
            }
        }

        // The filters, in the order of TPR.md 3.2.
        self.periods_seen.insert(period);
        if !self.range.contains(period) {
            self.counts.rows_out_of_period += 1;
            return Ok(());
        }
        if let Some(level) = header.role(Role::FacilityLevel) {
            let cell = text(cells.raw(level));
            if let Some(cell) = &cell {
                if !self.level_matches.contains_key(cell.as_ref()) {
                    let shown = display(cell);
                    if !self.levels_available.contains(&shown) {
                        self.levels_available.push(shown);
                    }
                    let word = level_word(self.options.facility_level);
                    self.level_matches.insert(
                        cell.to_string(),
                        word.is_none_or(|w| cell.to_lowercase().contains(w)),
                    );
                }
            }
            if self.options.facility_level != FacilityLevel::All
                && !cell.is_some_and(|c| self.level_matches[c.as_ref()])
            {
                self.counts.rows_other_level += 1;
                return Ok(());
            }
        }
        let ward_cell = header.role(Role::Ward).and_then(|p| text(cells.raw(p)));
        let ward_key = ward_cell.as_deref().map(|c| self.ward_keys.id(c));
        let Some(ward_key) = ward_key.filter(|&k| !matches!(self.ward_keys.key(k), "" | "unknown"))
        else {
            self.counts.rows_without_ward += 1;
            return Ok(());
        };
        let lga_cell = header.role(Role::Lga).and_then(|p| text(cells.raw(p)));
        let lga_key = match &lga_cell {
            Some(c) => self.lga_keys.id(c),
            None => u32::MAX,
        };
        // A missing LGA cell and one whose key is empty group together, as both keys are "".
        let lga_group = if lga_key != u32::MAX && self.lga_keys.key(lga_key).is_empty() {
            u32::MAX
        } else {
            lga_key
        };
        let next = self.wards.len() as u32;
        let ward = *self.groups.entry((ward_key, lga_group)).or_insert(next);
        if ward == next {
            self.wards.push(WardGroup {
                ward_key: self.ward_keys.key(ward_key).to_owned(),
                lga_key: if lga_group == u32::MAX {
                    String::new()
                } else {
                    self.lga_keys.key(lga_group).to_owned()
                },
                ward: display(ward_cell.as_deref().unwrap_or_default()),
                lga: lga_cell.as_deref().map(display),
                code: None,
                facilities: header.role(Role::Facility).map(|_| 0),
            });
        }
        let group = &mut self.wards[ward as usize];
        if group.code.is_none() {
            group.code = header
                .role(Role::WardCode)
                .and_then(|p| text(cells.raw(p)))
                .map(Cow::into_owned);
        }
        if let Some(facility) = header.role(Role::Facility).and_then(|p| text(cells.raw(p))) {
            let next = self.facility_ids.len() as u32;
            let id = match self.facility_ids.get(facility.as_ref()) {
                Some(&id) => id,
                None => *self
                    .facility_ids
                    .entry(display(&facility).to_lowercase())
                    .or_insert(next),
            };
            // The raw spelling is remembered too, so the next row with it skips `display`.
            self.facility_ids.entry(facility.into_owned()).or_insert(id);
            if self.facilities.insert((ward, id)) {
                group.facilities = group.facilities.map(|n| n + 1);
            }
        }
        if self.state.is_none() {
            self.state = header
                .role(Role::State)
                .and_then(|p| text(cells.raw(p)))
                .map(|s| state_name(&s));
        }
        self.rows.ward.push(ward);
        self.rows.period.push(period);
        for slot in &self.slots {
            let group = &header.counts[slot.column.0];
            let mut values = group
                .iter()
                .map(|&p| self.cell_counts[p])
                .filter(|v| !v.is_nan());
            let first = values.next().unwrap_or(f64::NAN);
            self.rows.values.push(first);
            if slot.sum.is_some() {
                self.rows.values.push(values.fold(first, |sum, v| sum + v));
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Scan, TprError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if !self.any_row {
            return Err(TprError::invalid_file(
                "The file has no rows: export the data again with its header and rows.",
            ));
        }
        let Some(header) = self.header else {
            return Err(TprError::MissingColumns {
                missing: self.required_without_header(),
                found: Vec::new(),
            });
        };
        if self.counts.rows == 0 {
            return Err(TprError::invalid_file(
                "The export has a header but no rows of data below it.",
            ));
        }
        let kept_by_period = self.counts.rows - self.counts.rows_out_of_period;
        if kept_by_period == 0 {
            let mut available: Vec<Period> = self.periods_seen.into_iter().collect();
            available.sort_unstable();
            return Err(TprError::EmptySelection {
                field: "period",
                available: available.iter().map(Period::to_string).collect(),
            });
        }
        if kept_by_period == self.counts.rows_other_level {
            return Err(TprError::EmptySelection {
                field: "facility_level",
                available: self.levels_available,
            });
        }
        if self.rows.ward.is_empty() {
            return Err(TprError::EmptySelection {
                field: "ward",
                available: Vec::new(),
            });
        }
        let mut rules = [None; 12];
        for (i, group) in header.counts.iter().enumerate() {
            if group.len() > 1 {
                rules[i] = Some(self.evidence[i].rule());
            }
        }
        let ages = self.ages.clone();
        Ok(Scan {
            header,
            methods: self.methods,
            ages,
            rules,
            counts: self.counts,
            wards: self.wards,
            rows: self.rows,
            state: self.state,
            warnings: self.warnings,
            slots: self.slots,
        })
    }

    /// What a 422 lists when no header row was found: everything the options need.
    fn required_without_header(&self) -> Vec<String> {
        let mut missing = vec!["ward".to_owned(), "period".to_owned()];
        if self.options.facility_level != FacilityLevel::All {
            missing.push("facility_level".into());
        }
        let methods: &[Method] = match self.options.method {
            MethodChoice::Rdt => &[Method::Rdt],
            MethodChoice::Microscopy => &[Method::Microscopy],
            MethodChoice::Both => &METHODS,
        };
        for &m in methods {
            for c in [Count::Tested, Count::Positive] {
                missing.extend(self.ages.iter().map(|&a| CountColumn::new(m, c, a).name()));
            }
        }
        missing
    }
}

/// Marks that the reading stopped on an error kept in [`State::error`].
struct Stop;

impl From<Stop> for crate::table::TableError {
    fn from(_: Stop) -> Self {
        crate::table::TableError::Empty
    }
}

/// Numbers the keys of ward or LGA cells, computing a key once per distinct spelling.
#[derive(Default)]
struct Interner {
    by_cell: Map<String, u32>,
    by_key: Map<String, u32>,
    keys: Vec<String>,
}

impl Interner {
    fn id(&mut self, cell: &str) -> u32 {
        if let Some(&id) = self.by_cell.get(cell) {
            return id;
        }
        let k = key(cell);
        let next = self.keys.len() as u32;
        let id = *self.by_key.entry(k.clone()).or_insert(next);
        if id == next {
            self.keys.push(k);
        }
        self.by_cell.insert(cell.to_owned(), id);
        id
    }

    fn key(&self, id: u32) -> &str {
        &self.keys[id as usize]
    }
}

fn level_word(level: FacilityLevel) -> Option<&'static str> {
    match level {
        FacilityLevel::All => None,
        FacilityLevel::Primary => Some("primary"),
        FacilityLevel::Secondary => Some("secondary"),
        FacilityLevel::Tertiary => Some("tertiary"),
    }
}

pub fn method_word(m: Method) -> &'static str {
    match m {
        Method::Rdt => "RDT",
        Method::Microscopy => "microscopy",
    }
}
