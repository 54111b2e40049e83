//! Unpacking zip archives (zipped shapefiles, XLSX workbooks) within a budget of unpacked bytes
//! and compression ratio, whatever sizes the archive declares.

use std::io::{Cursor, Read, Write};

use crate::budget::BudgetExceeded;

/// At most this many entries in an archive; a shapefile has a handful, a workbook a few dozen.
pub(crate) const MAX_ENTRIES: usize = 1_000;

/// Entries smaller than this are never refused for their ratio: tiny files compress well.
const RATIO_FLOOR_BYTES: u64 = 1024;

/// The limits of one archive.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UnzipBudget {
    pub decompressed_bytes: u64,
    pub compression_ratio: u64,
}

/// Why an archive was not unpacked.
#[derive(Debug)]
pub(crate) enum UnzipError {
    /// Not a readable zip archive.
    Zip(String),
    /// An archive no honest tool writes (paths leaving it, too many entries, nested archives).
    Unsafe(String),
    Budget(BudgetExceeded),
}

impl From<BudgetExceeded> for UnzipError {
    fn from(e: BudgetExceeded) -> Self {
        UnzipError::Budget(e)
    }
}

/// An archive opened for unpacking, counting what has been unpacked so far.
pub(crate) struct Unzip<'a> {
    archive: zip::ZipArchive<Cursor<&'a [u8]>>,
    budget: UnzipBudget,
    unpacked: u64,
}

impl<'a> Unzip<'a> {
    pub(crate) fn open(bytes: &'a [u8], budget: UnzipBudget) -> Result<Self, UnzipError> {
        let archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| UnzipError::Zip(e.to_string()))?;
        if archive.len() > MAX_ENTRIES {
            return Err(UnzipError::Unsafe(format!("it has more than {MAX_ENTRIES} entries")));
        }
        Ok(Unzip { archive, budget, unpacked: 0 })
    }

    pub(crate) fn len(&self) -> usize {
        self.archive.len()
    }

    /// The name of entry `index`, refused when it points outside the archive.
    pub(crate) fn name(&mut self, index: usize) -> Result<String, UnzipError> {
        let entry = self.archive.by_index_raw(index).map_err(|e| UnzipError::Zip(e.to_string()))?;
        let name = entry.name().map_err(|e| UnzipError::Zip(e.to_string()))?.into_owned();
        if name.split(['/', '\\']).any(|part| part == "..") || entry.enclosed_name().is_none() {
            return Err(UnzipError::Unsafe(format!("the entry \"{name}\" points outside the archive")));
        }
        Ok(name)
    }

    /// Unpacks entry `index` into `out`, refusing it the moment it passes the ratio or the
    /// archive passes its unpacked bytes: the sizes the archive declares are checked first but
    /// never trusted.
    pub(crate) fn unpack(&mut self, index: usize, out: &mut impl Write) -> Result<u64, UnzipError> {
        let zip_error = |e: zip::result::ZipError| UnzipError::Zip(e.to_string());
        let mut entry = self.archive.by_index(index).map_err(zip_error)?;
        let ratio_max = self.budget.compression_ratio.saturating_mul(entry.compressed_size().max(RATIO_FLOOR_BYTES));
        let ratio = BudgetExceeded { limit: "compression_ratio", max: self.budget.compression_ratio };
        let total = BudgetExceeded { limit: "decompressed_bytes", max: self.budget.decompressed_bytes };
        if entry.size() > ratio_max {
            return Err(ratio.into());
        }
        let allowed = self.budget.decompressed_bytes.saturating_sub(self.unpacked);
        if entry.size() > allowed {
            return Err(total.into());
        }
        let mut limited = (&mut entry).take(allowed.min(ratio_max).saturating_add(1));
        let written = std::io::copy(&mut limited, out).map_err(|e| UnzipError::Zip(e.to_string()))?;
        if written > ratio_max {
            return Err(ratio.into());
        }
        if written > allowed {
            return Err(total.into());
        }
        self.unpacked += written;
        Ok(written)
    }

    /// Unpacks entry `index` into memory.
    pub(crate) fn read(&mut self, index: usize) -> Result<Vec<u8>, UnzipError> {
        let mut data = Vec::new();
        self.unpack(index, &mut data)?;
        Ok(data)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        let mut writer = zip::ZipWriter::new(&mut out);
        for (name, data) in entries {
            writer.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            Write::write_all(&mut writer, data).unwrap();
        }
        writer.finish().unwrap();
        out.into_inner()
    }

    fn unpack_all(bytes: &[u8], budget: UnzipBudget) -> Result<u64, UnzipError> {
        let mut unzip = Unzip::open(bytes, budget)?;
        let mut total = 0;
        for i in 0..unzip.len() {
            total += unzip.unpack(i, &mut std::io::sink())?;
        }
        Ok(total)
    }

    #[test]
    fn unpacked_bytes_budget_at_its_edge() {
        let data: Vec<u8> = (0..4000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let bytes = zip_of(&[("a", &data[..2000]), ("b", &data[2000..])]);
        let budget = |max| UnzipBudget { decompressed_bytes: max, compression_ratio: 100 };
        assert_eq!(unpack_all(&bytes, budget(4000)).unwrap(), 4000);
        let err = unpack_all(&bytes, budget(3999)).unwrap_err();
        assert!(matches!(err, UnzipError::Budget(BudgetExceeded { limit: "decompressed_bytes", max: 3999 })), "{err:?}");
    }

    #[test]
    fn compression_ratio_budget() {
        let zeros = vec![0u8; 1 << 20];
        let bytes = zip_of(&[("z", &zeros)]);
        let err = unpack_all(&bytes, UnzipBudget { decompressed_bytes: 1 << 30, compression_ratio: 100 }).unwrap_err();
        assert!(matches!(err, UnzipError::Budget(BudgetExceeded { limit: "compression_ratio", max: 100 })), "{err:?}");
        assert!(unpack_all(&bytes, UnzipBudget { decompressed_bytes: 1 << 30, compression_ratio: 1 << 20 }).is_ok());
    }

    #[test]
    fn paths_outside_the_archive_and_too_many_entries() {
        let bytes = zip_of(&[("../x", b"x")]);
        let mut unzip = Unzip::open(&bytes, UnzipBudget { decompressed_bytes: 10, compression_ratio: 10 }).unwrap();
        assert!(matches!(unzip.name(0), Err(UnzipError::Unsafe(_))));
        let many: Vec<(String, Vec<u8>)> = (0..=MAX_ENTRIES).map(|i| (format!("f{i}"), vec![])).collect();
        let many: Vec<(&str, &[u8])> = many.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
        assert!(matches!(Unzip::open(&zip_of(&many), UnzipBudget { decompressed_bytes: 10, compression_ratio: 10 }), Err(UnzipError::Unsafe(_))));
    }
}
