//! Speed of the whole analysis, of spatial imputation with Queen adjacency, and of the map.

use criterion::{criterion_group, criterion_main, Criterion};
use mrpt_analysis::{analyse, AnalysisBudget, read_table, render, AnalysisRequest, BoundaryBudget, Boundaries, Imputation, TableBudget, TableFormat};

const WARDS_X: usize = 100;
const WARDS_Y: usize = 94;

/// A small xorshift generator: the benchmark input is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A 9,400-ward, 16-column table shaped like the sample files (Adamawa, so five zone variables
/// and 26 models), with values driven by two shared factors and about 2% missing cells.
fn big_table() -> Vec<u8> {
    let mut rng = Rng(0x5eed_1234_abcd_0042);
    let mut csv = String::from(
        "WardName,WardCode,LGA,State,StateCode,Population,urban_percentage,u5_tpr_rdt,rainfall,ndwi,ndmi,housing_quality,elevation,soil_wetness,distance_to_waterbodies,nighttime_lights\n",
    );
    for i in 0..WARDS_X * WARDS_Y {
        let (wet, urban) = (rng.next(), rng.next());
        let noise: Vec<f64> = (0..11).map(|_| rng.next()).collect();
        let mut n = noise.iter().copied();
        let mut r = || n.next().unwrap_or_default();
        let raw = [
            (3000.0 + 150_000.0 * urban * r()).round(),
            100.0 * urban * urban,
            20.0 + 60.0 * wet - 20.0 * urban + 5.0 * r(),
            800.0 + 1200.0 * wet + 100.0 * r(),
            -0.5 + 0.4 * wet + 0.1 * r(),
            -0.2 + 0.5 * wet + 0.1 * r(),
            0.1 + 0.6 * urban + 0.1 * r(),
            200.0 + 600.0 * (1.0 - wet) + 50.0 * r(),
            0.1 + 0.5 * wet + 0.05 * r(),
            100.0 + 3000.0 * (1.0 - wet) * r(),
            30.0 * urban * r(),
        ];
        let values: Vec<String> =
            raw.iter().map(|v| if rng.next() < 0.02 { "NA".to_owned() } else { format!("{v:.4}") }).collect();
        csv.push_str(&format!("Ward {i},ADBEN{i:05},Lga {},Adamawa,AD,{}\n", i / 40, values.join(",")));
    }
    csv.into_bytes()
}

/// One jittered square per ward on a 100 x 94 lattice; neighbours share corner coordinates exactly.
fn big_boundaries() -> Vec<u8> {
    let mut rng = Rng(0x0b0a_0da1_1e50_0001);
    let corners: Vec<Vec<(f64, f64)>> = (0..=WARDS_Y)
        .map(|y| (0..=WARDS_X).map(|x| (12.0 + 0.02 * (x as f64 + 0.3 * rng.next()), 9.0 + 0.02 * (y as f64 + 0.3 * rng.next()))).collect())
        .collect();
    let mut features = Vec::with_capacity(WARDS_X * WARDS_Y);
    for y in 0..WARDS_Y {
        for x in 0..WARDS_X {
            let ring = [corners[y][x], corners[y][x + 1], corners[y + 1][x + 1], corners[y + 1][x], corners[y][x]];
            let coords: Vec<String> = ring.iter().map(|(a, b)| format!("[{a:.6},{b:.6}]")).collect();
            features.push(format!(
                r#"{{"type":"Feature","properties":{{"WardCode":"ADBEN{:05}"}},"geometry":{{"type":"Polygon","coordinates":[[{}]]}}}}"#,
                y * WARDS_X + x,
                coords.join(",")
            ));
        }
    }
    format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(",")).into_bytes()
}

fn benches(c: &mut Criterion) {
    let table_bytes = big_table();
    c.bench_function("whole analysis, 9400 wards (parse, mean imputation, 26 models, PCA)", |b| {
        b.iter(|| {
            let table = read_table(&table_bytes, TableFormat::Csv, &TableBudget::default()).unwrap();
            analyse(&table, None, &AnalysisRequest::default(), &AnalysisBudget::default()).unwrap()
        })
    });

    let table = read_table(&table_bytes, TableFormat::Csv, &TableBudget::default()).unwrap();
    let boundary_bytes = big_boundaries();
    let boundaries = Boundaries::parse(&boundary_bytes, &BoundaryBudget::default()).unwrap();
    let spatial = AnalysisRequest { imputation: Some(Imputation::Spatial), ..Default::default() };
    let mean = AnalysisRequest { imputation: Some(Imputation::Mean), ..Default::default() };
    assert!(analyse(&table, Some(&boundaries), &spatial, &AnalysisBudget::default()).unwrap().unmatched_wards.is_empty());
    c.bench_function("Queen adjacency, 9400 polygons", |b| b.iter(|| boundaries.queen_neighbours()));
    c.bench_function("analysis with spatial imputation, 9400 wards", |b| {
        b.iter(|| analyse(&table, Some(&boundaries), &spatial, &AnalysisBudget::default()).unwrap())
    });
    c.bench_function("analysis with mean imputation and boundaries, 9400 wards", |b| {
        b.iter(|| analyse(&table, Some(&boundaries), &mean, &AnalysisBudget::default()).unwrap())
    });
    c.bench_function("parse GeoJSON, 9400 polygons", |b| b.iter(|| Boundaries::parse(&boundary_bytes, &BoundaryBudget::default()).unwrap()));

    let kano_table = read_table(include_bytes!("../../../../shared/data/kano_like_wards.csv"), TableFormat::Csv, &TableBudget::default()).unwrap();
    let kano = Boundaries::parse(include_bytes!("../../../../shared/data/kano_like_wards.geojson"), &BoundaryBudget::default()).unwrap();
    let outcome = analyse(&kano_table, Some(&kano), &AnalysisRequest::default(), &AnalysisBudget::default()).unwrap();
    c.bench_function("map SVG, 480 wards", |b| b.iter(|| render::map_svg(&kano, &outcome, "Kano").unwrap()));
    c.bench_function("chart SVG", |b| b.iter(|| render::chart_svg(&outcome, "Kano")));
}

criterion_group!(analysis, benches);
criterion_main!(analysis);
