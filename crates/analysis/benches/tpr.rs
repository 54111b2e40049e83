//! Speed of the TPR engine on the Kano sample export and on a generated national-size export of
//! about a million facility-months.

use std::fmt::Write;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use mrpt_analysis::tpr::{compute, Budget, TprOptions};
use mrpt_analysis::TableFormat;

const KANO: &[u8] = include_bytes!("../../../../shared/data/kano_like_dhis2.csv");

/// Facilities of the generated export; 36 months each makes 1,008,000 rows.
const FACILITIES: usize = 28_000;

/// A small xorshift generator: the export is the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A DHIS2 pivot export laid out as the Kano sample (a blank first row, the same twenty
/// columns, garbled headers and a `.1` copy column), three facilities per ward, 2022-2024.
fn national_export() -> Vec<u8> {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let mut rng = Rng(0x007e_570f_da7a);
    let kano_header = std::str::from_utf8(KANO).unwrap().lines().nth(1).unwrap();
    let mut csv = String::with_capacity(FACILITIES * 36 * 150);
    csv.push_str(&",".repeat(19));
    csv.push('\n');
    csv.push_str(kano_header);
    csv.push('\n');
    for facility in 0..FACILITIES {
        let (ward, lga, state) = (facility / 3, facility / 90, facility / 2_000);
        let level = ["primary", "secondary", "Tertiary"][facility % 3];
        for month in 0..36 {
            let (year, m) = (2022 + month / 12, month % 12);
            let tested = 20 + rng.below(80);
            let positive = rng.below(tested + 1);
            let _ = write!(
                csv,
                "st{state} State,st{state} Lga{lga} Local Government Area,st{state} Ward {ward} Ward,st{state} Facility {facility},{level},{year}{:02},{} {year},",
                m + 1,
                MONTHS[m]
            );
            let copy = if year == 2022 {
                (String::new(), tested.to_string())
            } else {
                (tested.to_string(), String::new())
            };
            let _ = writeln!(
                csv,
                "{},{},3,{positive},{},1,9,4,0,3,1,0,{}",
                copy.0,
                40 + rng.below(40),
                10 + rng.below(20),
                copy.1
            );
        }
    }
    csv.into_bytes()
}

fn benches(c: &mut Criterion) {
    let options = TprOptions::default();
    let budget = Budget::default();
    c.bench_function("tpr_kano_sample_32862_rows", |b| {
        b.iter(|| compute(black_box(KANO), TableFormat::Csv, &options, None, &budget).unwrap())
    });
    let export = national_export();
    let outcome = compute(&export, TableFormat::Csv, &options, None, &budget).unwrap();
    assert_eq!(outcome.result.quality.rows, FACILITIES * 36);
    let mut group = c.benchmark_group("tpr_national");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("tpr_generated_1008000_rows", |b| {
        b.iter(|| {
            compute(
                black_box(&export),
                TableFormat::Csv,
                &options,
                None,
                &budget,
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(tpr, benches);
criterion_main!(tpr);
