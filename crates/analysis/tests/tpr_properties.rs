//! Properties of the TPR engine over generated exports (TPR.md 1.5, 4.2).

use mrpt_analysis::tpr::{compute, Budget, TprOptions, TprResult, TprWard};
use mrpt_analysis::TableFormat;
use proptest::prelude::*;

const HEADER: &str = "Ward,LGA,periodcode,Persons presenting with fever & tested by RDT <5yrs,Persons tested positive for malaria by RDT <5yrs";

/// A facility-month: ward (0-3), month (1-24), tested and positive (each may be missing).
type Row = (usize, u8, Option<u16>, Option<u16>);

fn rows() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec(
        (
            0..4usize,
            1..=24u8,
            prop::option::weighted(0.9, 0..200u16),
            prop::option::weighted(0.9, 0..120u16),
        ),
        1..60,
    )
}

fn cell(v: Option<u16>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn export(rows: &[Row], copy: bool) -> String {
    let mut text = String::from(HEADER);
    if copy {
        text.push_str(",Persons presenting with fever & tested by RDT <5yrs.1");
    }
    text.push('\n');
    for &(ward, month, tested, positive) in rows {
        let period = format!(
            "{}{:02}",
            2022 + u16::from(month - 1) / 12,
            (month - 1) % 12 + 1
        );
        text.push_str(&format!(
            "Ward {ward},LGA {},{period},{},{}",
            ward % 2,
            cell(tested),
            cell(positive)
        ));
        if copy {
            text.push_str(&format!(",{}", cell(tested)));
        }
        text.push('\n');
    }
    text
}

fn tpr(text: &str) -> TprResult {
    compute(
        text.as_bytes(),
        TableFormat::Csv,
        &TprOptions::default(),
        None,
        &Budget::default(),
    )
    .unwrap()
    .result
}

fn wards(r: &TprResult) -> &[TprWard] {
    &r.wards
}

proptest! {
    #[test]
    fn row_order_never_changes_a_result(rows in rows(), seed in any::<u64>()) {
        let mut shuffled = rows.clone();
        // A deterministic shuffle from the seed (Fisher-Yates with a small LCG).
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (state >> 33) as usize % (i + 1));
        }
        prop_assert_eq!(tpr(&export(&rows, false)), tpr(&export(&shuffled, false)));
    }

    #[test]
    fn an_identical_copy_column_never_changes_a_result(rows in rows()) {
        let plain = tpr(&export(&rows, false));
        let copied = tpr(&export(&rows, true));
        prop_assert_eq!(wards(&plain), wards(&copied));
        prop_assert_eq!(&plain.quality.pairs_excluded, &copied.quality.pairs_excluded);
    }

    #[test]
    fn tpr_is_null_exactly_when_nothing_was_tested(rows in rows()) {
        let r = tpr(&export(&rows, false));
        for w in &r.wards {
            prop_assert_eq!(w.tpr.is_none(), w.tested == 0.0);
            for y in &w.years {
                prop_assert_eq!(y.tpr.is_none(), y.tested == 0.0);
                if let Some(t) = y.tpr { prop_assert!((0.0..=100.0).contains(&t)); }
            }
            if let Some(t) = w.tpr { prop_assert!((0.0..=100.0).contains(&t)); }
        }
    }
}
