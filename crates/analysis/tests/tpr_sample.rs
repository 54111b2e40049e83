//! The TPR of the synthetic Kano export under the default options: the figures of TPR.md 8.1.

use mrpt_analysis::tpr::{
    compute, join, Budget, GroupRule, MethodUsed, PopulationTable, TprOptions, TrendCategory,
};
use mrpt_analysis::{read_table, TableBudget, TableFormat};

const EXPORT: &[u8] = include_bytes!("../../../../shared/data/kano_like_dhis2.csv");
const WARDS: &[u8] = include_bytes!("../../../../shared/data/kano_like_wards.csv");

#[test]
fn kano_sample_matches_section_8_1() {
    let outcome = compute(
        EXPORT,
        TableFormat::Csv,
        &TprOptions::default(),
        None,
        &Budget::default(),
    )
    .unwrap();
    let r = &outcome.result;
    assert_eq!(
        (r.header_line, r.state.as_deref(), r.column.as_str()),
        (2, Some("Kano"), "u5_tpr_rdt")
    );
    assert_eq!(r.years, [2022, 2023, 2024]);
    let q = &r.quality;
    assert_eq!(
        (
            q.rows,
            q.rows_out_of_period,
            q.rows_other_level,
            q.rows_without_ward,
            q.rows_used
        ),
        (32862, 0, 0, 30, 32832)
    );
    assert_eq!((q.pairs_excluded, q.rows_with_excluded_pairs), (334, 334));
    assert_eq!(q.duplicate_columns.len(), 1);
    assert_eq!(
        q.duplicate_columns[0].headers,
        [
            "Persons presenting with fever & tested by RDT <5yrs",
            "Persons presenting with fever & tested by RDT <5yrs.1"
        ]
    );
    assert_eq!(q.duplicate_columns[0].rule, GroupRule::Sum);
    assert_eq!(r.wards.len(), 473);

    let w = r
        .wards
        .iter()
        .find(|w| w.ward_key == "gidan hawaba")
        .unwrap();
    assert_eq!(
        (w.ward.as_str(), w.lga.as_deref(), w.lga_key.as_str()),
        (
            "kn Gidan Hawaba Ward",
            Some("kn Batsalo Local Government Area"),
            "batsalo"
        )
    );
    assert_eq!(
        (w.facilities, w.tested, w.positive, w.method_used),
        (Some(1), 1916.0, 1480.0, MethodUsed::Rdt)
    );
    assert_eq!(w.tpr, Some(77.24425887265136));
    assert_eq!(w.trend.slope, Some(1.5499119599078952));
    assert_eq!(
        (w.trend.category, w.trend.points),
        (Some(TrendCategory::Stable), 3)
    );
    let years: Vec<_> = w
        .years
        .iter()
        .map(|y| {
            (
                y.year,
                y.tested,
                y.positive,
                y.tpr,
                y.months_reported,
                y.completeness,
            )
        })
        .collect();
    assert_eq!(
        years,
        [
            (
                2022,
                642.0,
                487.0,
                Some(75.85669781931465),
                Some(12),
                Some(1.0)
            ),
            (
                2023,
                699.0,
                539.0,
                Some(77.1101573676681),
                Some(12),
                Some(1.0)
            ),
            (
                2024,
                575.0,
                454.0,
                Some(78.95652173913044),
                Some(11),
                Some(0.9166666666666666)
            ),
        ]
    );
}

#[test]
fn kano_sample_joins_its_ward_table() {
    let table = read_table(WARDS, TableFormat::Csv, &TableBudget::default()).unwrap();
    let options = TprOptions {
        dataset_id: Some("d1".into()),
        ..TprOptions::default()
    };
    let outcome = compute(
        EXPORT,
        TableFormat::Csv,
        &options,
        Some(PopulationTable {
            dataset_id: "d1",
            table: &table,
        }),
        &Budget::default(),
    )
    .unwrap();
    let report = outcome.result.join.as_ref().unwrap();
    // Ten table wards are missing from the export and three export wards are not in the table.
    assert_eq!(report.unmatched_table.len(), 10);
    assert_eq!(report.unmatched_tpr.len(), 3);
    assert!(report
        .unmatched_tpr
        .iter()
        .all(|w| w.ward.contains("Sabon Layin")));
    assert_eq!(report.matched, 470);
    // About 2 % of the table's populations are missing: those wards have no burden, the rest do.
    let with_burden = outcome
        .result
        .wards
        .iter()
        .filter(|w| w.burden.is_some())
        .count();
    assert!((440..470).contains(&with_burden), "{with_burden}");
    assert!(outcome
        .result
        .wards
        .iter()
        .all(|w| w.burden.is_some() == (w.population.is_some_and(|p| p > 0.0) && w.tested > 0.0)));
    let joined = join(&outcome, "d1", &table, WARDS, TableFormat::Csv, None, &TableBudget::default()).unwrap();
    let new_table = read_table(joined.csv.as_bytes(), TableFormat::Csv, &TableBudget::default()).unwrap();
    assert_eq!(new_table.row_count(), 480);
    assert_eq!(
        new_table.columns().len(),
        16,
        "the table's u5_tpr_rdt is replaced in place"
    );
    assert_eq!(joined.warnings.len(), 1);
}
