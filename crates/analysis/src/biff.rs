//! Measuring an XLS (BIFF) workbook against a table budget before the XLS reader opens it: that
//! reader builds every worksheet whole, reserving room for the size a sheet declares and laying
//! out the span of its cells densely, so the declared sizes, the spans and the text that cells
//! copy from the shared strings are all checked here first, from the records themselves.

use std::io::{Cursor, Read};

use crate::budget::{BudgetExceeded, TableBudget};
use crate::table::TableError;

const BOF: u16 = 0x0809;
const EOF: u16 = 0x000A;
const CONTINUE: u16 = 0x003C;
const BOUND_SHEET: u16 = 0x0085;
const SST: u16 = 0x00FC;
const DIMENSIONS: u16 = 0x0200;
const LABEL_SST: u16 = 0x00FD;
const LABEL: u16 = 0x0204;
const RSTRING: u16 = 0x00D6;
const MUL_RK: u16 = 0x00BD;
/// Records of one cell that start with its row and column: Number, BoolErr, RK, Formula.
const SINGLE_CELLS: [u16; 4] = [0x0203, 0x0205, 0x027E, 0x0006];

/// Checks the workbook in `bytes` against `budget`; a file that is not a workbook is left for
/// the reader to report.
pub(crate) fn check_workbook(bytes: &[u8], budget: &TableBudget) -> Result<(), TableError> {
    let Some(stream) = workbook_stream(bytes)? else { return Ok(()) };
    let globals = Globals::read(&stream);
    let mut total = Totals::default();
    for &position in &globals.sheets {
        let Some(sheet) = stream.get(position..) else { continue };
        check_sheet(sheet, &globals.string_lengths, budget, &mut total)?;
    }
    Ok(())
}

/// The bytes of the workbook stream; `None` when the file is not a compound file holding one.
fn workbook_stream(bytes: &[u8]) -> Result<Option<Vec<u8>>, TableError> {
    let Ok(mut file) = cfb::CompoundFile::open(Cursor::new(bytes)) else { return Ok(None) };
    let name = ["/Workbook", "/Book"].into_iter().find(|name| file.is_stream(name));
    let Some(mut stream) = name.and_then(|name| file.open_stream(name).ok()) else { return Ok(None) };
    // A stream can hold no more than the file: a larger claim is a broken file.
    let mut data = Vec::new();
    (&mut stream).take(bytes.len() as u64 + 1).read_to_end(&mut data).map_err(|e| TableError::Workbook(e.to_string()))?;
    if data.len() > bytes.len() {
        return Err(TableError::Workbook("the workbook stream is longer than the file".into()));
    }
    Ok(Some(data))
}

/// One record: its type and its data, with the data of the CONTINUE records after it.
struct Record<'a> {
    kind: u16,
    parts: Vec<&'a [u8]>,
}

impl Record<'_> {
    fn data(&self) -> &[u8] {
        self.parts[0]
    }
}

/// The records of a stream from its start, as far as they are whole.
fn records(stream: &[u8]) -> impl Iterator<Item = Record<'_>> {
    let mut rest = stream;
    let mut next = move || -> Option<(u16, &[u8])> {
        let kind = u16::from_le_bytes(rest.get(0..2)?.try_into().ok()?);
        let len = u16::from_le_bytes(rest.get(2..4)?.try_into().ok()?) as usize;
        let data = rest.get(4..4 + len)?;
        rest = &rest[4 + len..];
        Some((kind, data))
    };
    let mut pending = next();
    std::iter::from_fn(move || {
        let (kind, data) = pending.take()?;
        let mut parts = vec![data];
        pending = next();
        while let Some((CONTINUE, more)) = pending {
            parts.push(more);
            pending = next();
        }
        Some(Record { kind, parts })
    })
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// What the workbook globals say: where each sheet starts and the length of every shared string.
#[derive(Default)]
struct Globals {
    sheets: Vec<usize>,
    string_lengths: Vec<u64>,
}

impl Globals {
    fn read(stream: &[u8]) -> Globals {
        let mut globals = Globals::default();
        for record in records(stream) {
            match record.kind {
                BOUND_SHEET => globals.sheets.extend(u32_at(record.data(), 0).map(|p| p as usize)),
                SST => globals.string_lengths = shared_string_lengths(&record.parts),
                EOF => break,
                _ => {}
            }
        }
        globals
    }
}

/// The length in bytes, once decoded to UTF-8, of each string of an SST record (MS-XLS
/// 2.4.265). Only lengths are read: a string's characters may run on into CONTINUE records,
/// each of which starts again with the byte that says how wide the characters are.
fn shared_string_lengths(parts: &[&[u8]]) -> Vec<u64> {
    let mut reader = PartReader { parts, part: 0, at: 8 };
    let mut lengths = Vec::new();
    while let Some(chars) = reader.u16() {
        let Some(flags) = reader.u8() else { break };
        let runs = if flags & 0x08 != 0 { reader.u16().unwrap_or(0) as usize } else { 0 };
        let extended = if flags & 0x04 != 0 { reader.u32().unwrap_or(0) as usize } else { 0 };
        let mut wide = flags & 0x01 != 0;
        let mut left = chars as usize;
        let mut bytes = 0u64;
        while left > 0 {
            let room = reader.room();
            if room == 0 {
                // The characters go on in the next part, which says their width again.
                if !reader.next_part() {
                    return lengths;
                }
                let Some(width) = reader.u8() else { return lengths };
                wide = width & 0x01 != 0;
                continue;
            }
            let take = left.min(if wide { room / 2 } else { room }).max(1);
            reader.skip(if wide { take * 2 } else { take });
            // A byte-wide character is Latin-1, two bytes at most in UTF-8; a wide one three.
            bytes += take as u64 * if wide { 3 } else { 2 };
            left -= take;
        }
        reader.skip(runs * 4 + extended);
        lengths.push(bytes);
    }
    lengths
}

/// Reads across the parts of a record as one sequence of bytes.
struct PartReader<'a> {
    parts: &'a [&'a [u8]],
    part: usize,
    at: usize,
}

impl PartReader<'_> {
    fn room(&self) -> usize {
        self.parts.get(self.part).map_or(0, |p| p.len().saturating_sub(self.at))
    }

    fn next_part(&mut self) -> bool {
        self.part += 1;
        self.at = 0;
        self.part < self.parts.len()
    }

    fn skip(&mut self, mut n: usize) {
        while n > 0 {
            let room = self.room();
            if room >= n {
                self.at += n;
                return;
            }
            n -= room;
            if !self.next_part() {
                return;
            }
        }
    }

    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut out = [0u8; N];
        for byte in &mut out {
            while self.room() == 0 {
                if !self.next_part() {
                    return None;
                }
            }
            *byte = self.parts[self.part][self.at];
            self.at += 1;
        }
        Some(out)
    }

    fn u8(&mut self) -> Option<u8> {
        self.bytes::<1>().map(|[b]| b)
    }

    fn u16(&mut self) -> Option<u16> {
        self.bytes().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.bytes().map(u32::from_le_bytes)
    }
}

/// What all sheets together will take once built.
#[derive(Default)]
struct Totals {
    laid_out_cells: u64,
    text_bytes: u64,
}

/// The span of one sheet's cells.
struct Span {
    rows: (u32, u32),
    columns: (u32, u32),
}

impl Span {
    fn new() -> Self {
        Span { rows: (u32::MAX, 0), columns: (u32::MAX, 0) }
    }

    fn add(&mut self, row: u32, column: u32) {
        self.rows = (self.rows.0.min(row), self.rows.1.max(row));
        self.columns = (self.columns.0.min(column), self.columns.1.max(column));
    }

    /// (data rows, columns): the first row is the header.
    fn size(&self) -> (u64, u64) {
        if self.rows.0 > self.rows.1 {
            return (0, 0);
        }
        (u64::from(self.rows.1 - self.rows.0), u64::from(self.columns.1 - self.columns.0) + 1)
    }
}

fn check_sheet(sheet: &[u8], strings: &[u64], budget: &TableBudget, total: &mut Totals) -> Result<(), TableError> {
    let mut span = Span::new();
    let text = |bytes: u64, total: &mut Totals| -> Result<(), BudgetExceeded> {
        BudgetExceeded::check("cell_bytes", bytes, budget.cell_bytes)?;
        total.text_bytes += bytes;
        BudgetExceeded::check("decompressed_bytes", total.text_bytes, budget.decompressed_bytes)
    };
    // Embedded charts are substreams of their own, between a BOF and an EOF, which the reader
    // skips.
    let mut depth = 0usize;
    for (i, record) in records(sheet).enumerate() {
        let data = record.data();
        let cell = || Some((u32::from(u16_at(data, 0)?), u32::from(u16_at(data, 2)?)));
        if depth > 0 {
            match record.kind {
                BOF => depth += 1,
                EOF => depth -= 1,
                _ => {}
            }
            continue;
        }
        match record.kind {
            BOF if i > 0 => depth = 1,
            EOF => break,
            DIMENSIONS => {
                // The reader reserves room for every cell the sheet declares.
                let (rows, columns) = match data.len() {
                    10 => (u64::from(u16_at(data, 2).unwrap_or(0)), u64::from(u16_at(data, 6).unwrap_or(0))),
                    _ => (u64::from(u32_at(data, 4).unwrap_or(0)), u64::from(u16_at(data, 10).unwrap_or(0))),
                };
                BudgetExceeded::check("cells", rows.saturating_mul(columns), budget.cells)?;
            }
            LABEL_SST => {
                if let Some((row, column)) = cell() {
                    span.add(row, column);
                    let index = u32_at(data, 6).unwrap_or(0) as usize;
                    text(strings.get(index).copied().unwrap_or(0), total)?;
                }
            }
            LABEL | RSTRING => {
                if let Some((row, column)) = cell() {
                    span.add(row, column);
                    text(u64::from(u16_at(data, 6).unwrap_or(0)) * 3, total)?;
                }
            }
            MUL_RK => {
                if let (Some((row, first)), Some(last)) = (cell(), u16_at(data, data.len().saturating_sub(2))) {
                    span.add(row, first);
                    span.add(row, u32::from(last).max(first));
                }
            }
            kind if SINGLE_CELLS.contains(&kind) => {
                if let Some((row, column)) = cell() {
                    span.add(row, column);
                }
            }
            _ => {}
        }
        let (rows, columns) = span.size();
        budget.check_columns(columns as usize)?;
        budget.check_rows(rows as usize, columns as usize)?;
    }
    let (rows, columns) = span.size();
    total.laid_out_cells += (rows + 1) * columns;
    BudgetExceeded::check("cells", total.laid_out_cells, budget.cells)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn record(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut out = kind.to_le_bytes().to_vec();
        out.extend((data.len() as u16).to_le_bytes());
        out.extend(data);
        out
    }

    fn number(row: u16, column: u16, value: f64) -> Vec<u8> {
        let mut data = row.to_le_bytes().to_vec();
        data.extend(column.to_le_bytes());
        data.extend(0u16.to_le_bytes());
        data.extend(value.to_le_bytes());
        record(0x0203, &data)
    }

    fn label_sst(row: u16, column: u16, index: u32) -> Vec<u8> {
        let mut data = row.to_le_bytes().to_vec();
        data.extend(column.to_le_bytes());
        data.extend(0u16.to_le_bytes());
        data.extend(index.to_le_bytes());
        record(LABEL_SST, &data)
    }

    fn dimensions(rows: u32, columns: u16) -> Vec<u8> {
        let mut data = 0u32.to_le_bytes().to_vec();
        data.extend(rows.to_le_bytes());
        data.extend(0u16.to_le_bytes());
        data.extend(columns.to_le_bytes());
        data.extend(0u16.to_le_bytes());
        record(DIMENSIONS, &data)
    }

    /// A BIFF8 workbook of the given sheets (their records between BOF and EOF), with the
    /// shared strings given, in a compound file as spreadsheet programs write it.
    fn xls(strings: &[&str], sheets: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let bof = |kind: u16| {
            let mut data = 0x0600u16.to_le_bytes().to_vec();
            data.extend(kind.to_le_bytes());
            data.extend([0u8; 12]);
            record(BOF, &data)
        };
        let mut sst = (strings.len() as u32).to_le_bytes().to_vec();
        sst.extend((strings.len() as u32).to_le_bytes());
        for s in strings {
            sst.extend((s.len() as u16).to_le_bytes());
            sst.push(0);
            sst.extend(s.as_bytes());
        }
        let bound_sheet = |position: u32, i: usize| {
            let name = format!("Sheet{}", i + 1);
            let mut data = position.to_le_bytes().to_vec();
            data.extend([0u8, 0u8, name.len() as u8, 0u8]);
            data.extend(name.as_bytes());
            record(BOUND_SHEET, &data)
        };
        let globals_len = |positions: &[u32]| {
            let mut g = bof(0x0005);
            for (i, p) in positions.iter().enumerate() {
                g.extend(bound_sheet(*p, i));
            }
            g.extend(record(SST, &sst));
            g.extend(record(EOF, &[]));
            g
        };
        let placeholder = globals_len(&vec![0; sheets.len()]).len() as u32;
        let mut bodies = Vec::new();
        let mut positions = Vec::new();
        for sheet in sheets {
            positions.push(placeholder + bodies.len() as u32);
            bodies.extend(bof(0x0010));
            for r in sheet {
                bodies.extend(r);
            }
            bodies.extend(record(EOF, &[]));
        }
        let mut stream = globals_len(&positions);
        stream.extend(bodies);
        // Small streams live in the mini stream; padding keeps this one in regular sectors.
        stream.resize(stream.len().max(4096), 0);
        let mut file = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        file.create_stream("/Workbook").unwrap().write_all(&stream).unwrap();
        // The XLS reader expects the root to hold a mini stream, as every writer leaves one.
        file.create_stream("/\u{5}SummaryInformation").unwrap().write_all(&[0u8; 64]).unwrap();
        file.flush().unwrap();
        file.into_inner().into_inner()
    }

    fn exceeded(bytes: &[u8], budget: &TableBudget) -> BudgetExceeded {
        match check_workbook(bytes, budget) {
            Err(TableError::TooLarge(e)) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_workbook_the_reader_can_read_passes() {
        let sheet = vec![dimensions(3, 2), label_sst(0, 0, 0), label_sst(0, 1, 1), label_sst(1, 0, 2), number(1, 1, 4.5), label_sst(2, 0, 3), number(2, 1, 2.0)];
        let bytes = xls(&["WardName", "v", "Kaki", "Gafa"], &[sheet]);
        let budget = TableBudget { rows: 2, columns: 2, cells: 6, cell_bytes: 16, ..TableBudget::default() };
        assert_eq!(check_workbook(&bytes, &budget), Ok(()));
        let t = crate::table::read_table(&bytes, crate::table::TableFormat::Xls, &budget).unwrap();
        assert_eq!(t.ward_names(), ["Kaki", "Gafa"]);
        assert_eq!(exceeded(&bytes, &TableBudget { rows: 1, ..budget }), BudgetExceeded { limit: "rows", max: 1 });
        assert_eq!(exceeded(&bytes, &TableBudget { columns: 1, ..budget }), BudgetExceeded { limit: "columns", max: 1 });
        assert_eq!(exceeded(&bytes, &TableBudget { cells: 5, ..budget }), BudgetExceeded { limit: "cells", max: 5 });
        // "WardName" is 8 Latin-1 characters: counted as up to 16 bytes of UTF-8.
        assert_eq!(exceeded(&bytes, &TableBudget { cell_bytes: 15, ..budget }), BudgetExceeded { limit: "cell_bytes", max: 15 });
    }

    #[test]
    fn declared_sizes_far_apart_cells_and_shared_text_are_refused() {
        let declared = xls(&[], &[vec![dimensions(65_536, 256), number(0, 0, 1.0)]]);
        assert_eq!(exceeded(&declared, &TableBudget::default()), BudgetExceeded { limit: "cells", max: 8_000_000 });
        let far = xls(&[], &[vec![number(0, 0, 1.0), number(65_535, 255, 1.0)]]);
        assert_eq!(exceeded(&far, &TableBudget { columns: 300, ..TableBudget::default() }), BudgetExceeded { limit: "cells", max: 8_000_000 });
        // Sheets are built together: each within the budget, all of them not.
        let sheet = || vec![number(0, 0, 1.0), number(999, 9, 1.0)];
        let budget = TableBudget { cells: 20_000, ..TableBudget::default() };
        assert_eq!(check_workbook(&xls(&[], &[sheet(), sheet()]), &budget), Ok(()));
        assert_eq!(exceeded(&xls(&[], &[sheet(), sheet(), sheet()]), &budget), BudgetExceeded { limit: "cells", max: 20_000 });
        // One long shared string copied into many cells.
        let long = "x".repeat(1000);
        let copies: Vec<Vec<u8>> = (0..100).map(|row| label_sst(row, 0, 0)).collect();
        let budget = TableBudget { decompressed_bytes: 199_999, ..TableBudget::default() };
        assert_eq!(exceeded(&xls(&[&long], &[copies]), &budget), BudgetExceeded { limit: "decompressed_bytes", max: 199_999 });
    }

    #[test]
    fn shared_strings_run_on_into_continue_records() {
        let parts: [&[u8]; 2] = [&[2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, b'a', b'b'], &[1, b'c', 0, b'd', 0, b'e', 0, 1, 0, 0, b'z']];
        // "ab" then "cde" as wide characters in the CONTINUE part, then "z".
        assert_eq!(shared_string_lengths(&parts), [4 + 9, 2]);
    }
}
