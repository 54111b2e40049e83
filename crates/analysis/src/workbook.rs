//! The first worksheet of an XLSX or XLS workbook, read within a table budget: an XLSX package
//! is unpacked within the budget first, and a worksheet's extent comes from the cells actually
//! read, never from the size the file declares, before anything dense is built from it. An XLS
//! workbook is measured record by record before its reader opens it (see [`biff`]).

use std::fmt;
use std::io::{Cursor, Write};

use calamine::{Data, DataRef, Reader};

use crate::biff;
use crate::budget::{BudgetExceeded, TableBudget};
use crate::table::{TableError, TableFormat};
use crate::unzip::{Unzip, UnzipError};

/// How much of each package part is kept to look for the sizes it declares.
const HEAD_BYTES: usize = 4096;

/// The first worksheet of a workbook; `None` for a workbook without one.
pub(crate) fn first_sheet(bytes: &[u8], format: TableFormat, budget: &TableBudget) -> Result<Option<calamine::Range<Data>>, TableError> {
    match format {
        TableFormat::Xlsx => first_xlsx_sheet(bytes, budget),
        _ => {
            biff::check_workbook(bytes, budget)?;
            calamine::Xls::new(Cursor::new(bytes)).map_err(workbook_error)?.worksheet_range_at(0).transpose().map_err(workbook_error)
        }
    }
}

fn workbook_error(e: impl fmt::Display) -> TableError {
    TableError::Workbook(e.to_string())
}

fn first_xlsx_sheet(bytes: &[u8], budget: &TableBudget) -> Result<Option<calamine::Range<Data>>, TableError> {
    check_package(bytes, budget)?;
    let mut workbook = calamine::Xlsx::new(Cursor::new(bytes)).map_err(workbook_error)?;
    let Some(name) = workbook.sheet_names().first().cloned() else { return Ok(None) };
    let mut reader = workbook.worksheet_cells_reader(&name).map_err(workbook_error)?;
    let mut cells = SheetCells::new(budget);
    while let Some(cell) = reader.next_cell().map_err(workbook_error)? {
        cells.push(cell.get_position(), cell.get_value())?;
    }
    Ok(Some(calamine::Range::from_sparse(cells.cells)))
}

/// Unpacks every part of an XLSX package within the budget, without keeping it, and refuses a
/// shared-strings part that declares more strings than the table may have cells (the reader
/// would reserve room for all of them at once).
fn check_package(bytes: &[u8], budget: &TableBudget) -> Result<(), TableError> {
    let mut package = Unzip::open(bytes, budget.unzip()).map_err(package_error)?;
    for i in 0..package.len() {
        let name = package.name(i).map_err(package_error)?;
        let mut head = Head::default();
        package.unpack(i, &mut head).map_err(package_error)?;
        if name.to_ascii_lowercase().ends_with("sharedstrings.xml") {
            let declared = declared_count(&head.0, "uniqueCount").max(declared_count(&head.0, " count"));
            BudgetExceeded::check("cells", declared, budget.cells)?;
        }
    }
    Ok(())
}

fn package_error(e: UnzipError) -> TableError {
    match e {
        UnzipError::Budget(exceeded) => TableError::TooLarge(exceeded),
        UnzipError::Zip(message) | UnzipError::Unsafe(message) => TableError::Workbook(message),
    }
}

/// The number in `attribute="..."` near the start of an XML part; 0 when there is none, and
/// `u64::MAX` for one too long to be a count.
fn declared_count(head: &[u8], attribute: &str) -> u64 {
    let pattern = format!("{attribute}=\"");
    let Some(start) = head.windows(pattern.len()).position(|w| w == pattern.as_bytes()) else { return 0 };
    let digits: Vec<u8> = head[start + pattern.len()..].iter().copied().take_while(u8::is_ascii_digit).collect();
    std::str::from_utf8(&digits).ok().and_then(|d| d.parse().ok()).unwrap_or(if digits.is_empty() { 0 } else { u64::MAX })
}

/// Keeps the first bytes written to it and counts the rest away.
#[derive(Default)]
struct Head(Vec<u8>);

impl Write for Head {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = HEAD_BYTES.saturating_sub(self.0.len()).min(buf.len());
        self.0.extend_from_slice(&buf[..room]);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The non-empty cells of a worksheet as they are read, with the extent they span and the
/// bytes of their text checked against the budget at every cell.
struct SheetCells<'b> {
    budget: &'b TableBudget,
    cells: Vec<calamine::Cell<Data>>,
    rows: (u32, u32),
    columns: (u32, u32),
    text_bytes: u64,
}

impl<'b> SheetCells<'b> {
    fn new(budget: &'b TableBudget) -> Self {
        SheetCells { budget, cells: Vec::new(), rows: (u32::MAX, 0), columns: (u32::MAX, 0), text_bytes: 0 }
    }

    fn push(&mut self, (row, column): (u32, u32), value: &DataRef<'_>) -> Result<(), TableError> {
        let text = match value {
            DataRef::Empty => return Ok(()),
            DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.as_str(),
            DataRef::SharedString(s) => s,
            _ => "",
        };
        self.budget.check_cell(text)?;
        self.text_bytes += text.len() as u64;
        BudgetExceeded::check("decompressed_bytes", self.text_bytes, self.budget.decompressed_bytes)?;
        self.rows = (self.rows.0.min(row), self.rows.1.max(row));
        self.columns = (self.columns.0.min(column), self.columns.1.max(column));
        let width = (self.columns.1 - self.columns.0) as usize + 1;
        // The first row is the header, the rest are data rows.
        let data_rows = (self.rows.1 - self.rows.0) as usize;
        self.budget.check_columns(width)?;
        self.budget.check_rows(data_rows, width)?;
        self.cells.push(calamine::Cell::new((row, column), Data::from(value.clone())));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unzip::tests::zip_of;

    fn xlsx(build: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
        let mut book = rust_xlsxwriter::Workbook::new();
        build(book.add_worksheet());
        book.save_to_buffer().unwrap()
    }

    fn exceeded(result: Result<Option<calamine::Range<Data>>, TableError>) -> BudgetExceeded {
        match result {
            Err(TableError::TooLarge(e)) => e,
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn far_apart_cells_are_refused_from_their_references() {
        let bytes = xlsx(|s| {
            s.write_string(0, 0, "ward").unwrap();
            s.write_string(1_048_575, 16_383, "x").unwrap();
        });
        assert!(bytes.len() < 10_000);
        let err = exceeded(first_sheet(&bytes, TableFormat::Xlsx, &TableBudget::default()));
        assert_eq!(err, BudgetExceeded { limit: "columns", max: 10_000 });
        let tall = xlsx(|s| {
            s.write_string(0, 0, "ward").unwrap();
            s.write_string(1_000_001, 0, "x").unwrap();
        });
        assert_eq!(exceeded(first_sheet(&tall, TableFormat::Xlsx, &TableBudget::default())), BudgetExceeded { limit: "rows", max: 1_000_000 });
    }

    #[test]
    fn sheet_extent_at_the_edge_of_the_budget() {
        let bytes = xlsx(|s| {
            s.write_string(0, 0, "ward").unwrap();
            s.write_string(0, 2, "v").unwrap();
            s.write_string(3, 0, "a").unwrap();
        });
        let budget = TableBudget { rows: 3, columns: 3, cells: 9, ..TableBudget::default() };
        assert_eq!(first_sheet(&bytes, TableFormat::Xlsx, &budget).unwrap().unwrap().get_size(), (4, 3));
        let narrow = TableBudget { columns: 2, ..budget };
        assert_eq!(exceeded(first_sheet(&bytes, TableFormat::Xlsx, &narrow)), BudgetExceeded { limit: "columns", max: 2 });
        let short = TableBudget { rows: 2, ..budget };
        assert_eq!(exceeded(first_sheet(&bytes, TableFormat::Xlsx, &short)), BudgetExceeded { limit: "rows", max: 2 });
        let few = TableBudget { cells: 8, ..budget };
        assert_eq!(exceeded(first_sheet(&bytes, TableFormat::Xlsx, &few)), BudgetExceeded { limit: "cells", max: 8 });
    }

    #[test]
    fn cell_text_budgets() {
        let bytes = xlsx(|s| {
            s.write_string(0, 0, "ward").unwrap();
            s.write_string(1, 0, "abcd").unwrap();
            s.write_string(2, 0, "abcd").unwrap();
        });
        let budget = TableBudget { cell_bytes: 4, decompressed_bytes: 1 << 20, ..TableBudget::default() };
        assert!(first_sheet(&bytes, TableFormat::Xlsx, &budget).is_ok());
        let small = TableBudget { cell_bytes: 3, ..budget };
        assert_eq!(exceeded(first_sheet(&bytes, TableFormat::Xlsx, &small)), BudgetExceeded { limit: "cell_bytes", max: 3 });
    }

    #[test]
    fn shared_strings_bomb_is_refused() {
        // Shared strings that unpack a thousand times larger than they pack.
        let bytes = xlsx(|s| {
            s.write_string(0, 0, "ward").unwrap();
            for (row, letter) in (1..).zip(["a", "b", "c", "d"]) {
                s.write_string(row, 0, letter.repeat(32_000)).unwrap();
            }
        });
        assert_eq!(
            exceeded(first_sheet(&bytes, TableFormat::Xlsx, &TableBudget::default())),
            BudgetExceeded { limit: "compression_ratio", max: 100 }
        );
        let declared = r#"<?xml version="1.0"?><sst xmlns="x" count="1" uniqueCount="8000001"><si><t>a</t></si></sst>"#;
        let package = zip_of(&[("xl/sharedStrings.xml", declared.as_bytes())]);
        assert_eq!(check_package(&package, &TableBudget::default()), Err(TableError::TooLarge(BudgetExceeded { limit: "cells", max: 8_000_000 })));
        let honest = declared.replace("8000001", "8000000");
        assert_eq!(check_package(&zip_of(&[("xl/sharedStrings.xml", honest.as_bytes())]), &TableBudget::default()), Ok(()));
    }
}
