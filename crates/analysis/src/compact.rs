//! The compact form of a checked upload: its ward table and its boundaries exactly as the
//! readers left them, in a binary encoding that decodes without parsing text, so that an
//! analysis, a map or a plan never reads the uploaded files again.

use serde::{Deserialize, Serialize};

use crate::boundaries::Boundaries;
use crate::table::{StoredTable, WardTable};

/// The first bytes of every stored form: another version is not read, and the caller goes back
/// to the uploaded file.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Stored<T> {
    version: u32,
    value: T,
}

/// Why a stored form could not be used.
#[derive(Debug, thiserror::Error)]
#[error("the stored form of the upload cannot be read: {0}")]
pub struct CompactError(String);

fn encode<T: Serialize>(value: T) -> Vec<u8> {
    postcard::to_stdvec(&Stored { version: VERSION, value }).expect("tables and boundaries always encode")
}

fn decode<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, CompactError> {
    let stored: Stored<T> = postcard::from_bytes(bytes).map_err(|e| CompactError(e.to_string()))?;
    if stored.version != VERSION {
        return Err(CompactError(format!("version {} is not {VERSION}", stored.version)));
    }
    Ok(stored.value)
}

pub fn encode_table(table: &WardTable) -> Vec<u8> {
    encode(table.stored())
}

pub fn decode_table(bytes: &[u8]) -> Result<WardTable, CompactError> {
    WardTable::from_stored(decode::<StoredTable<'_>>(bytes)?).ok_or_else(|| CompactError("the columns do not hold together".into()))
}

pub fn encode_boundaries(boundaries: &Boundaries) -> Vec<u8> {
    encode(boundaries)
}

pub fn decode_boundaries(bytes: &[u8]) -> Result<Boundaries, CompactError> {
    decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::{BoundaryBudget, TableBudget};
    use crate::table::{read_table, TableFormat};

    #[test]
    fn the_samples_come_back_exactly() {
        let csv = include_bytes!("../../../../shared/data/kano_like_wards.csv");
        let table = read_table(csv, TableFormat::Csv, &TableBudget::default()).unwrap();
        let back = decode_table(&encode_table(&table)).unwrap();
        assert_eq!(back.row_count(), table.row_count());
        assert_eq!((back.ward_column(), back.ward_code_column()), (table.ward_column(), table.ward_code_column()));
        for c in 0..table.columns().len() {
            assert_eq!(back.columns()[c].name, table.columns()[c].name);
            assert_eq!((back.columns()[c].kind, back.columns()[c].missing), (table.columns()[c].kind, table.columns()[c].missing));
            for r in 0..table.row_count() {
                assert_eq!(back.cell(r, c), table.cell(r, c));
            }
        }
        let geojson = include_bytes!("../../../../shared/data/kano_like_wards.geojson");
        let boundaries = Boundaries::parse(geojson, &BoundaryBudget::default()).unwrap();
        let encoded = encode_boundaries(&boundaries);
        assert!(encoded.len() < geojson.len(), "{} bytes", encoded.len());
        assert_eq!(decode_boundaries(&encoded).unwrap(), boundaries);
    }

    #[test]
    fn broken_or_other_forms_are_refused() {
        let table = read_table(b"ward,v\na,x\nb,y\n", TableFormat::Csv, &TableBudget::default()).unwrap();
        let mut encoded = encode_table(&table);
        assert!(decode_table(&encoded[..encoded.len() - 1]).is_err());
        // The last bytes are the ward code column (none) and, before it, the ward column: point
        // the ward column past the columns.
        let at = encoded.len() - 2;
        encoded[at] = 9;
        assert!(decode_table(&encoded).is_err());
        let mut other = encode_table(&table);
        other[0] = 2;
        assert!(decode_table(&other).is_err());
    }
}
