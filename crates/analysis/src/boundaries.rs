//! Ward boundaries from GeoJSON or a zipped shapefile, their joining to table rows, and Queen adjacency (ANALYSIS.md §2).

use std::collections::HashMap;
use std::io::Cursor;

use shapefile::dbase;

use crate::budget::{BoundaryBudget, BudgetExceeded};
use crate::feature_collection;
use crate::table::{WardTable, WARD_CODE_COLUMN_NAMES, WARD_COLUMN_NAMES};
use crate::unzip::{Unzip, UnzipError};

/// A ring is a closed list of (x, y) points; a polygon is an outer ring and its holes.
pub type Ring = Vec<[f64; 2]>;
pub type Polygon = Vec<Ring>;

/// One boundary feature: the ward it names and its polygons.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Feature {
    pub name: Option<String>,
    pub code: Option<String>,
    pub polygons: Vec<Polygon>,
}

/// The ward boundaries uploaded with a table. They serialise only into [`crate::compact`]'s
/// stored form.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Boundaries {
    features: Vec<Feature>,
}

/// Why an uploaded boundary file could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BoundaryError {
    #[error("The boundary file is not valid GeoJSON: {0}")]
    NotGeoJson(String),
    #[error("The boundary file must be a GeoJSON FeatureCollection or a zipped shapefile.")]
    NotFeatureCollection,
    #[error("The boundary file has no ward shapes.")]
    NoFeatures,
    #[error("Boundary feature {feature} is a {kind}; ward boundaries must be polygons or multipolygons.")]
    NotPolygon { feature: usize, kind: String },
    #[error("The zip file could not be read: {0}")]
    Zip(String),
    #[error("The zip file was refused: {0}")]
    UnsafeZip(String),
    #[error("The zip file holds no shapefile: it needs a .shp file with its .dbf beside it.")]
    NoShapefile,
    #[error("The shapefile could not be read: {0}")]
    Shapefile(String),
    #[error("{0}")]
    TooLarge(#[from] BudgetExceeded),
}

impl Boundaries {
    /// Reads a zipped shapefile (recognised by the zip signature) or a GeoJSON FeatureCollection,
    /// refusing it when it passes `budget`.
    pub fn parse(bytes: &[u8], budget: &BoundaryBudget) -> Result<Boundaries, BoundaryError> {
        let features = if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            read_zipped_shapefile(bytes, budget)?
        } else {
            feature_collection::read(bytes, budget)?
        };
        if features.is_empty() {
            return Err(BoundaryError::NoFeatures);
        }
        let boundaries = Boundaries { features };
        boundaries.check(budget)?;
        Ok(boundaries)
    }

    /// The readers count features and vertices as they read; how many features share a vertex
    /// shows only once all are read.
    fn check(&self, budget: &BoundaryBudget) -> Result<(), BudgetExceeded> {
        let crowded = self.shared_vertices().chunk_by(same_point).map(<[_]>::len).max().unwrap_or(0);
        BudgetExceeded::check("features_per_vertex", crowded as u64, budget.features_per_vertex)
    }

    /// Every (point, feature) pair once, sorted by the point's exact coordinates so that the
    /// features sharing a point lie side by side.
    fn shared_vertices(&self) -> Vec<(u64, u64, usize)> {
        let mut vertices: Vec<(u64, u64, usize)> = Vec::new();
        for (i, f) in self.features.iter().enumerate() {
            for point in f.polygons.iter().flatten().flatten() {
                // -0.0 and 0.0 are the same coordinate.
                let bits = |v: f64| if v == 0.0 { 0 } else { v.to_bits() };
                vertices.push((bits(point[0]), bits(point[1]), i));
            }
        }
        vertices.sort_unstable();
        vertices.dedup();
        vertices
    }

    pub fn features(&self) -> &[Feature] {
        &self.features
    }

    /// For each table row, the index of its feature (see [`Boundaries::match_wards`]).
    pub fn match_rows(&self, table: &WardTable) -> Vec<Option<usize>> {
        let ward = &table.columns()[table.ward_column()];
        let names: Vec<_> = (0..table.row_count()).map(|r| (table.ward_code(r), ward.text(r))).collect();
        self.match_wards(names.iter().map(|(code, name)| (code.as_deref(), name.as_deref())))
    }

    /// For each ward given as (code, name), the index of its feature: by ward code when both the
    /// ward and the boundaries have codes, else by ward name (trimmed, case-insensitive).
    pub fn match_wards<'a>(&self, wards: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>) -> Vec<Option<usize>> {
        let key = |s: &str| s.trim().to_lowercase();
        let mut by_code = HashMap::new();
        let mut by_name = HashMap::new();
        for (i, f) in self.features.iter().enumerate() {
            if let Some(c) = &f.code {
                by_code.entry(key(c)).or_insert(i);
            }
            if let Some(n) = &f.name {
                by_name.entry(key(n)).or_insert(i);
            }
        }
        wards
            .map(|(code, name)| match code {
                Some(code) if !by_code.is_empty() => by_code.get(&key(code)).copied(),
                _ => name.and_then(|name| by_name.get(&key(name)).copied()),
            })
            .collect()
    }

    /// Queen neighbours of every feature: features that share at least one vertex with
    /// identical coordinates. Vertices are sorted by their exact coordinates, so features that
    /// share one land side by side; the features per vertex were bounded when the boundaries
    /// were read, so the pairs of each group cost a constant and the sort dominates.
    pub fn queen_neighbours(&self) -> Vec<Vec<usize>> {
        let vertices = self.shared_vertices();
        let mut neighbours = vec![Vec::new(); self.features.len()];
        for group in vertices.chunk_by(same_point) {
            for (k, a) in group.iter().enumerate() {
                for b in &group[k + 1..] {
                    neighbours[a.2].push(b.2);
                    neighbours[b.2].push(a.2);
                }
            }
        }
        for list in &mut neighbours {
            list.sort_unstable();
            list.dedup();
        }
        neighbours
    }
}

fn same_point(a: &(u64, u64, usize), b: &(u64, u64, usize)) -> bool {
    (a.0, a.1) == (b.0, b.1)
}

/// Queen neighbours of each table row, as table rows, given each row's feature; refused when
/// the lists would hold more than `max_pairs` entries in all. Rows that name one ward share its
/// shape, so repeated names multiply the pairs whatever bounds the shapes.
pub(crate) fn row_neighbours(
    feature_of_row: &[Option<usize>],
    feature_neighbours: &[Vec<usize>],
    max_pairs: u64,
) -> Result<Vec<Vec<usize>>, BudgetExceeded> {
    let mut rows_of_feature: HashMap<usize, Vec<usize>> = HashMap::new();
    for (row, f) in feature_of_row.iter().enumerate() {
        if let Some(f) = f {
            rows_of_feature.entry(*f).or_default().push(row);
        }
    }
    let rows_around = |f: usize| feature_neighbours[f].iter().filter_map(|n| rows_of_feature.get(n));
    let pairs: u64 = feature_of_row.iter().flatten().map(|&f| rows_around(f).map(|rows| rows.len() as u64).sum::<u64>()).sum();
    BudgetExceeded::check("cells", pairs, max_pairs)?;
    Ok(feature_of_row
        .iter()
        .map(|f| match f {
            Some(f) => rows_around(*f).flatten().copied().collect(),
            None => Vec::new(),
        })
        .collect())
}

/// The first property whose key is one of `names` (case-insensitive), as text.
pub(crate) fn property<K: AsRef<str>>(props: &[(K, Option<String>)], names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| props.iter().find(|(k, _)| k.as_ref().eq_ignore_ascii_case(n)).and_then(|(_, v)| v.clone()))
}

/// Unpacks the .shp, .shx and .dbf of the first shapefile in the archive, within the budget.
fn read_zipped_shapefile(bytes: &[u8], budget: &BoundaryBudget) -> Result<Vec<Feature>, BoundaryError> {
    let mut archive = Unzip::open(bytes, budget.unzip())?;
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    let mut shp_order = Vec::new();
    for i in 0..archive.len() {
        let name = archive.name(i)?;
        let file_name = name.rsplit(['/', '\\']).next().unwrap_or_default();
        // macOS archivers add "._name" resource files that are not shapefiles.
        if name.ends_with(['/', '\\']) || name.starts_with("__MACOSX") || file_name.starts_with("._") {
            continue;
        }
        let lower = name.to_lowercase();
        let Some((stem, ext)) = lower.rsplit_once('.') else { continue };
        if ext == "zip" {
            return Err(BoundaryError::UnsafeZip(format!("the entry \"{name}\" is another zip file; upload the shapefile zipped once")));
        }
        if !matches!(ext, "shp" | "shx" | "dbf") {
            continue;
        }
        let data = archive.read(i)?;
        if data.starts_with(b"PK\x03\x04") {
            return Err(BoundaryError::UnsafeZip(format!("the entry \"{name}\" is another zip file; upload the shapefile zipped once")));
        }
        if ext == "shp" {
            shp_order.push(stem.to_owned());
        }
        files.insert(lower, data);
    }
    let (shp, dbf, shx) = shp_order
        .iter()
        .find_map(|stem| {
            let dbf = files.get(&format!("{stem}.dbf"))?;
            Some((&files[&format!("{stem}.shp")], dbf, files.get(&format!("{stem}.shx"))))
        })
        .ok_or(BoundaryError::NoShapefile)?;
    read_shapefile(shp, dbf, shx.map(Vec::as_slice), budget)
}

impl From<UnzipError> for BoundaryError {
    fn from(e: UnzipError) -> Self {
        match e {
            UnzipError::Zip(message) => BoundaryError::Zip(message),
            UnzipError::Unsafe(message) => BoundaryError::UnsafeZip(message),
            UnzipError::Budget(exceeded) => BoundaryError::TooLarge(exceeded),
        }
    }
}

/// Reads the shapes one by one, refusing them as soon as they pass the budget's features,
/// vertices or ring vertices.
fn read_shapefile(shp: &[u8], dbf: &[u8], shx: Option<&[u8]>, budget: &BoundaryBudget) -> Result<Vec<Feature>, BoundaryError> {
    let shp_error = |e: shapefile::Error| BoundaryError::Shapefile(e.to_string());
    let shapes = match shx {
        Some(shx) => shapefile::ShapeReader::with_shx(Cursor::new(shp), Cursor::new(shx)),
        None => shapefile::ShapeReader::new(Cursor::new(shp)),
    }
    .map_err(shp_error)?;
    let records = dbase::Reader::new(Cursor::new(dbf)).map_err(|e| BoundaryError::Shapefile(e.to_string()))?;
    let mut reader = shapefile::Reader::new(shapes, records);
    let mut features = Vec::new();
    let mut vertices = 0u64;
    for (i, item) in reader.iter_shapes_and_records().enumerate() {
        BudgetExceeded::check("features", i as u64 + 1, budget.features)?;
        let (shape, record) = item.map_err(shp_error)?;
        let polygons = match shape {
            shapefile::Shape::NullShape => Vec::new(),
            shapefile::Shape::Polygon(p) => shp_polygons(p.rings().iter().map(|r| r.points().iter().map(|q| [q.x, q.y]))),
            shapefile::Shape::PolygonM(p) => shp_polygons(p.rings().iter().map(|r| r.points().iter().map(|q| [q.x, q.y]))),
            shapefile::Shape::PolygonZ(p) => shp_polygons(p.rings().iter().map(|r| r.points().iter().map(|q| [q.x, q.y]))),
            other => return Err(BoundaryError::NotPolygon { feature: i + 1, kind: other.shapetype().to_string() }),
        };
        for ring in polygons.iter().flatten() {
            BudgetExceeded::check("ring_vertices", ring.len() as u64, budget.ring_vertices)?;
            vertices += ring.len() as u64;
        }
        BudgetExceeded::check("vertices", vertices, budget.vertices)?;
        let props: Vec<(String, Option<String>)> = record.into_iter().map(|(k, v)| (k, dbf_text(v))).collect();
        features.push(Feature {
            name: property(&props, &WARD_COLUMN_NAMES),
            code: property(&props, &WARD_CODE_COLUMN_NAMES),
            polygons,
        });
    }
    Ok(features)
}

/// Groups shapefile rings into polygons: each outer ring starts a polygon and holes follow it,
/// which is the order shapefile writers use.
fn shp_polygons<R: Iterator<Item = [f64; 2]>>(rings: impl Iterator<Item = R>) -> Vec<Polygon> {
    let mut polygons: Vec<Polygon> = Vec::new();
    for ring in rings {
        let ring: Ring = ring.collect();
        // Outer rings run clockwise in a shapefile: negative signed area.
        if signed_area(&ring) <= 0.0 || polygons.is_empty() {
            polygons.push(vec![ring]);
        } else if let Some(last) = polygons.last_mut() {
            last.push(ring);
        }
    }
    polygons
}

fn signed_area(ring: &[[f64; 2]]) -> f64 {
    ring.windows(2).map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1]).sum::<f64>() / 2.0
}

fn dbf_text(v: dbase::FieldValue) -> Option<String> {
    use dbase::FieldValue as F;
    let text = match v {
        F::Character(Some(s)) | F::Memo(s) => s,
        F::Numeric(Some(x)) | F::Double(x) | F::Currency(x) => x.to_string(),
        F::Float(Some(x)) => x.to_string(),
        F::Integer(i) => i.to_string(),
        _ => return None,
    };
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::TableBudget;
    use crate::table::{read_table, TableFormat};
    use crate::unzip::tests::zip_of;

    /// Unit squares in a row; square i spans x in [i, i+1].
    fn squares(names: &[&str]) -> String {
        let features: Vec<String> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let x = i as f64;
                format!(
                    r#"{{"type":"Feature","properties":{{"ward_name":"{n}","WARDCODE":"C{i}"}},"geometry":{{"type":"Polygon","coordinates":[[[{x},0],[{x1},0],[{x1},1],[{x},1],[{x},0]]]}}}}"#,
                    x1 = x + 1.0
                )
            })
            .collect();
        format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(","))
    }

    #[test]
    fn parses_geojson_properties_and_polygons() {
        let b = Boundaries::parse(squares(&["A", "B"]).as_bytes(), &BoundaryBudget::default()).unwrap();
        assert_eq!(b.features().len(), 2);
        assert_eq!(b.features()[1].name.as_deref(), Some("B"));
        assert_eq!(b.features()[1].code.as_deref(), Some("C1"));
        assert_eq!(b.features()[0].polygons[0][0].len(), 5);
    }

    #[test]
    fn multipolygon_and_errors() {
        let multi = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"Ward":"M"},"geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[0,1],[0,0]]],[[[5,5],[6,5],[5,6],[5,5]]]]}}]}"#;
        assert_eq!(Boundaries::parse(multi.as_bytes(), &BoundaryBudget::default()).unwrap().features()[0].polygons.len(), 2);
        let point = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[0,0]}}]}"#;
        assert_eq!(
            Boundaries::parse(point.as_bytes(), &BoundaryBudget::default()).unwrap_err(),
            BoundaryError::NotPolygon { feature: 1, kind: "Point".into() }
        );
        assert!(matches!(Boundaries::parse(b"{nope", &BoundaryBudget::default()), Err(BoundaryError::NotGeoJson(_))));
        let geometry = r#"{"type":"Point","coordinates":[0,0]}"#;
        assert_eq!(Boundaries::parse(geometry.as_bytes(), &BoundaryBudget::default()).unwrap_err(), BoundaryError::NotFeatureCollection);
        let empty = r#"{"type":"FeatureCollection","features":[]}"#;
        assert_eq!(Boundaries::parse(empty.as_bytes(), &BoundaryBudget::default()).unwrap_err(), BoundaryError::NoFeatures);
    }

    #[test]
    fn queen_shares_a_vertex() {
        // A 2x2 grid: every square touches the other three, diagonals by a single corner.
        let sq = |x: f64, y: f64| format!(
            r#"{{"type":"Feature","properties":{{}},"geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{a},{y}],[{a},{b}],[{x},{b}],[{x},{y}]]]}}}}"#,
            a = x + 1.0, b = y + 1.0
        );
        let far = r#"{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[10,10],[11,10],[11,11],[10,10]]]}}"#;
        let text = format!(r#"{{"type":"FeatureCollection","features":[{},{},{},{},{far}]}}"#, sq(0.0, 0.0), sq(1.0, 0.0), sq(0.0, 1.0), sq(1.0, 1.0));
        let n = Boundaries::parse(text.as_bytes(), &BoundaryBudget::default()).unwrap().queen_neighbours();
        assert_eq!(n, vec![vec![1, 2, 3], vec![0, 2, 3], vec![0, 1, 3], vec![0, 1, 2], vec![]]);
    }

    #[test]
    fn rows_match_by_code_then_name() {
        let b = Boundaries::parse(squares(&["A", "B", "C"]).as_bytes(), &BoundaryBudget::default()).unwrap();
        let with_codes = read_table(b"WardName,WardCode\nx,c2\nB,zz\n", TableFormat::Csv, &TableBudget::default()).unwrap();
        assert_eq!(b.match_rows(&with_codes), [Some(2), None]);
        let names = read_table(b"Ward\n b \nQ\n", TableFormat::Csv, &TableBudget::default()).unwrap();
        assert_eq!(b.match_rows(&names), [Some(1), None]);
        let rows = row_neighbours(&[Some(2), None, Some(1)], &b.queen_neighbours(), 2).unwrap();
        assert_eq!(rows, vec![vec![2], vec![], vec![0]]);
        assert_eq!(row_neighbours(&[Some(2), None, Some(1)], &b.queen_neighbours(), 1), Err(BudgetExceeded { limit: "cells", max: 1 }));
    }

    fn shapefile_parts() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (mut shp, mut shx, mut dbf) = (Vec::new(), Vec::new(), Vec::new());
        {
            let table = dbase::TableWriterBuilder::new()
                .add_character_field("WARDNAME".try_into().unwrap(), 20)
                .add_character_field("WARDCODE".try_into().unwrap(), 10)
                .build_with_dest(Cursor::new(&mut dbf));
            let shapes = shapefile::ShapeWriter::with_shx(Cursor::new(&mut shp), Cursor::new(&mut shx));
            let mut writer = shapefile::Writer::new(shapes, table);
            for (i, name) in ["A", "B"].iter().enumerate() {
                let x = i as f64;
                let ring = vec![
                    shapefile::Point::new(x, 0.0),
                    shapefile::Point::new(x, 1.0),
                    shapefile::Point::new(x + 1.0, 1.0),
                    shapefile::Point::new(x + 1.0, 0.0),
                    shapefile::Point::new(x, 0.0),
                ];
                let polygon = shapefile::Polygon::new(shapefile::PolygonRing::Outer(ring));
                let mut record = dbase::Record::default();
                record.insert("WARDNAME".into(), dbase::FieldValue::Character(Some(name.to_string())));
                record.insert("WARDCODE".into(), dbase::FieldValue::Character(Some(format!("C{i}"))));
                writer.write_shape_and_record(&polygon, &record).unwrap();
            }
        }
        (shp, shx, dbf)
    }

    #[test]
    fn reads_zipped_shapefile() {
        let (shp, shx, dbf) = shapefile_parts();
        let zip = zip_of(&[("__MACOSX/._w.shp", b"junk"), ("dir/w.shp", &shp), ("dir/w.shx", &shx), ("dir/w.DBF", &dbf)]);
        let b = Boundaries::parse(&zip, &BoundaryBudget::default()).unwrap();
        assert_eq!(b.features().len(), 2);
        assert_eq!(b.features()[1].name.as_deref(), Some("B"));
        assert_eq!(b.features()[1].code.as_deref(), Some("C1"));
        assert_eq!(b.queen_neighbours(), vec![vec![1], vec![0]]);
    }

    #[test]
    fn shapefile_budgets_are_checked_shape_by_shape() {
        let (shp, shx, dbf) = shapefile_parts();
        let zip = zip_of(&[("w.shp", &shp), ("w.shx", &shx), ("w.dbf", &dbf)]);
        let budget = BoundaryBudget { features: 2, vertices: 10, ring_vertices: 5, ..BoundaryBudget::default() };
        assert_eq!(Boundaries::parse(&zip, &budget).unwrap().features().len(), 2);
        for (tighter, limit) in [
            (BoundaryBudget { features: 1, ..budget }, "features"),
            (BoundaryBudget { vertices: 9, ..budget }, "vertices"),
            (BoundaryBudget { ring_vertices: 4, ..budget }, "ring_vertices"),
        ] {
            let err = Boundaries::parse(&zip, &tighter).unwrap_err();
            assert!(matches!(err, BoundaryError::TooLarge(BudgetExceeded { limit: l, .. }) if l == limit), "{limit}: {err:?}");
        }
    }

    #[test]
    fn unsafe_or_incomplete_zips_are_refused() {
        let (shp, _, _) = shapefile_parts();
        let parse = |bytes: &[u8]| Boundaries::parse(bytes, &BoundaryBudget::default());
        assert_eq!(parse(&zip_of(&[("w.shp", &shp)])).unwrap_err(), BoundaryError::NoShapefile);
        assert!(matches!(parse(&zip_of(&[("../w.shp", &shp)])), Err(BoundaryError::UnsafeZip(_))));
        let bomb = vec![0u8; 4 << 20];
        assert_eq!(
            parse(&zip_of(&[("w.shp", &bomb)])).unwrap_err(),
            BoundaryError::TooLarge(BudgetExceeded { limit: "compression_ratio", max: 100 })
        );
        let inner = zip_of(&[("w.shp", &shp)]);
        assert!(matches!(parse(&zip_of(&[("inner.zip", &inner)])), Err(BoundaryError::UnsafeZip(_))));
        assert!(matches!(parse(&zip_of(&[("w.shp", &inner)])), Err(BoundaryError::UnsafeZip(_))));
        assert!(matches!(parse(b"PK\x03\x04garbage"), Err(BoundaryError::Zip(_))));
    }

    /// `n` triangles that all share the point (0, 0), each with a ring of `ring` points.
    fn fan(n: usize, ring: usize) -> String {
        let features: Vec<String> = (0..n)
            .map(|i| {
                let mut points = vec!["[0,0]".to_owned()];
                points.extend((1..ring - 1).map(|k| format!("[{i}.{k},1]")));
                points.push("[0,0]".to_owned());
                format!(r#"{{"type":"Feature","properties":{{}},"geometry":{{"type":"Polygon","coordinates":[[{}]]}}}}"#, points.join(","))
            })
            .collect();
        format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(","))
    }

    #[test]
    fn boundary_budgets_at_their_edges() {
        let text = fan(4, 5);
        let budget = BoundaryBudget { features: 4, vertices: 20, ring_vertices: 5, features_per_vertex: 4, ..BoundaryBudget::default() };
        let b = Boundaries::parse(text.as_bytes(), &budget).unwrap();
        assert_eq!(b.queen_neighbours()[0], [1, 2, 3]);
        for (tighter, limit) in [
            (BoundaryBudget { features: 3, ..budget }, "features"),
            (BoundaryBudget { vertices: 19, ..budget }, "vertices"),
            (BoundaryBudget { ring_vertices: 4, ..budget }, "ring_vertices"),
            (BoundaryBudget { features_per_vertex: 3, ..budget }, "features_per_vertex"),
        ] {
            let err = Boundaries::parse(text.as_bytes(), &tighter).unwrap_err();
            assert!(matches!(err, BoundaryError::TooLarge(BudgetExceeded { limit: l, .. }) if l == limit), "{limit}: {err:?}");
        }
    }

    #[test]
    fn positions_keep_x_and_y_and_refuse_odd_shapes() {
        let z = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":null,"geometry":{"type":"Polygon","coordinates":[[[0,0,9],[1,0,9],[0,1,9],[0,0,9]]]}}]}"#;
        assert_eq!(Boundaries::parse(z.as_bytes(), &BoundaryBudget::default()).unwrap().features()[0].polygons[0][0][1], [1.0, 0.0]);
        let mixed = r#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],1]]}}]}"#;
        assert!(matches!(Boundaries::parse(mixed.as_bytes(), &BoundaryBudget::default()), Err(BoundaryError::NotGeoJson(_))));
    }

    #[test]
    fn sample_boundaries_match_every_row() {
        let b = Boundaries::parse(include_bytes!("../../../../shared/data/kano_like_wards.geojson"), &BoundaryBudget::default()).unwrap();
        let t = read_table(include_bytes!("../../../../shared/data/kano_like_wards.csv"), TableFormat::Csv, &TableBudget::default()).unwrap();
        let rows = b.match_rows(&t);
        assert!(rows.iter().enumerate().all(|(i, f)| *f == Some(i)));
        let n = b.queen_neighbours();
        assert!(n.iter().all(|l| (1..=10).contains(&l.len())));
    }
}
