//! Each simulated user's marker and the ward table and boundaries it
//! uploads, every ward name carrying the marker so that any of the user's
//! data seen by someone else can be recognised in any answer.

use rand::Rng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Ten wards of a synthetic state, in the columns of the sample tables.
const TEMPLATE: &str = include_str!("wards.csv");

/// Side of each ward's square, in degrees: about 5 km, so that the map has
/// a readable shape.
const SQUARE: f64 = 0.05;
const GRID_COLUMNS: usize = 4;

/// A string unique to one user of a run: `MRPTMARK-` and 16 hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker(String);

impl Marker {
    pub const PREFIX: &'static str = "MRPTMARK-";
    pub const HEX_DIGITS: usize = 16;

    pub fn random() -> Self {
        Self::from_bits(rand::thread_rng().gen())
    }

    pub fn from_bits(bits: u64) -> Self {
        Self(format!("{}{bits:016x}", Self::PREFIX))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hex digits alone, which also make the user's name unique.
    pub fn hex(&self) -> &str {
        &self.0[Self::PREFIX.len()..]
    }
}

impl std::fmt::Display for Marker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one user uploads, and the hash its download must have.
pub struct WardTable {
    pub name: String,
    pub filename: String,
    pub csv: Vec<u8>,
    pub geojson: Vec<u8>,
    pub sha256: String,
}

impl WardTable {
    pub fn marked(marker: &Marker) -> Self {
        let mut lines = TEMPLATE.lines();
        let header = lines.next().expect("the template has a header");
        let mut csv = format!("{header}\n");
        let mut features = Vec::new();
        for (index, line) in lines.enumerate() {
            // The marker leads the name so that a label shortened for a
            // chart still shows whose ward it is.
            let (name, rest) = line.split_once(',').expect("the template has columns");
            let ward = format!("{marker} {name}");
            let code = rest.split(',').next().expect("the template has ward codes");
            csv.push_str(&format!("{ward},{rest}\n"));
            features.push(square(index, &ward, code));
        }
        let geojson = json!({"type": "FeatureCollection", "features": features});
        let sha256 = hex::encode(Sha256::digest(csv.as_bytes()));
        Self {
            name: format!("{marker} wards"),
            filename: format!("wards-{}.csv", marker.hex()),
            csv: csv.into_bytes(),
            geojson: serde_json::to_vec(&geojson).expect("GeoJSON serialises"),
            sha256,
        }
    }
}

/// Wards laid out on a grid of touching squares, so that they have
/// neighbours for spatial imputation.
fn square(index: usize, ward: &str, code: &str) -> Value {
    let west = 11.0 + (index % GRID_COLUMNS) as f64 * SQUARE;
    let south = 10.2 + (index / GRID_COLUMNS) as f64 * SQUARE;
    let (east, north) = (west + SQUARE, south + SQUARE);
    let ring = [[west, south], [east, south], [east, north], [west, north], [west, south]];
    json!({
        "type": "Feature",
        "properties": {"WardName": ward, "WardCode": code},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ward_name_carries_the_marker_in_table_and_boundaries() {
        let marker = Marker::from_bits(0xabc);
        assert_eq!(marker.as_str(), "MRPTMARK-0000000000000abc");
        let table = WardTable::marked(&marker);
        let text = String::from_utf8(table.csv.clone()).unwrap();
        let rows: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(rows.len(), 10);
        assert!(rows.iter().all(|row| row.starts_with("MRPTMARK-0000000000000abc ")));
        let geojson: Value = serde_json::from_slice(&table.geojson).unwrap();
        let features = geojson["features"].as_array().unwrap();
        assert_eq!(features.len(), 10);
        for (feature, row) in features.iter().zip(&rows) {
            let name = feature["properties"]["WardName"].as_str().unwrap();
            assert!(row.starts_with(&format!("{name},{},", feature["properties"]["WardCode"].as_str().unwrap())));
        }
        assert_eq!(table.sha256, hex::encode(Sha256::digest(&table.csv)));
    }
}
