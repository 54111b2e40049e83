//! TPR.md rule by rule, on small exports written inline and figures worked out by hand.

use serde_json::json;

use super::*;
use crate::table::read_table;
use crate::budget::TableBudget;

const T_U5: &str = "Persons presenting with fever & tested by RDT <5yrs";
const P_U5: &str = "Persons tested positive for malaria by RDT <5yrs";
const MT_U5: &str = "Persons presenting with fever and tested by Microscopy <5yrs";
const MP_U5: &str = "Persons tested positive for malaria by Microscopy <5yrs";

fn run_with(
    text: &str,
    options: serde_json::Value,
    table: Option<&WardTable>,
) -> Result<TprOutcome, TprError> {
    let options = TprOptions::from_json(&options)?;
    let table = table.map(|table| PopulationTable {
        dataset_id: "d1",
        table,
    });
    compute(
        text.as_bytes(),
        TableFormat::Csv,
        &options,
        table,
        &Budget::default(),
    )
}

fn run(text: &str, options: serde_json::Value) -> Result<TprResult, TprError> {
    run_with(text, options, None).map(|o| o.result)
}

fn ward<'r>(r: &'r TprResult, key: &str) -> &'r TprWard {
    r.wards
        .iter()
        .find(|w| w.ward_key == key)
        .unwrap_or_else(|| panic!("no ward {key}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// Three wards over three years; worked by hand below.
fn small() -> String {
    format!(
        ",,,,,\n\
         WardName,LGA,HealthFacility,periodcode,{T_U5},{P_U5}\n\
         kn Alpha Ward,kn Batsalo Local Government Area,Clinic  One,202201,10,4\n\
         Alpha,Batsalo LGA,clinic one,202202,20,5\n\
         kn  Alpha Ward ,kn Batsalo Local Government Area,Clinic Two,202301,30,9\n\
         Alpha,Batsalo,Clinic One,202401,40,20\n\
         Beta,Batsalo,Post,202201,0,0\n\
         Beta,Batsalo,Post,202301,,\n\
         Unknown,Batsalo,Post,202201,5,1\n\
         Gamma,Batsalo,,202201,3,5\n"
    )
}

#[test]
fn small_export_by_hand() {
    let r = run(&small(), json!({})).unwrap();
    assert_eq!(r.header_line, 2);
    assert_eq!(r.column, "u5_tpr_rdt");
    assert_eq!(r.methods, [Method::Rdt]);
    assert_eq!(r.years, [2022, 2023, 2024]);
    assert_eq!(r.state, None);
    let q = &r.quality;
    assert_eq!(
        (
            q.rows,
            q.rows_out_of_period,
            q.rows_other_level,
            q.rows_without_ward,
            q.rows_used
        ),
        (8, 0, 0, 1, 7)
    );
    assert_eq!((q.pairs_excluded, q.rows_with_excluded_pairs), (1, 1));
    assert_eq!(
        r.wards
            .iter()
            .map(|w| w.ward_key.as_str())
            .collect::<Vec<_>>(),
        ["alpha", "beta", "gamma"]
    );

    // Alpha: 100 tested, 38 positive; by year 30/9, 30/9, 40/20; the first row gives the names.
    let a = ward(&r, "alpha");
    assert_eq!(
        (a.ward.as_str(), a.lga.as_deref(), a.lga_key.as_str()),
        (
            "kn Alpha Ward",
            Some("kn Batsalo Local Government Area"),
            "batsalo"
        )
    );
    assert_eq!((a.tested, a.positive, a.tpr), (100.0, 38.0, Some(38.0)));
    assert_eq!(a.method_used, MethodUsed::Rdt);
    assert_eq!(
        a.facilities,
        Some(2),
        "`Clinic  One` and `clinic one` are one facility"
    );
    assert_eq!(
        a.by_method.rdt,
        Some(Rate {
            tested: 100.0,
            positive: 38.0,
            tpr: Some(38.0)
        })
    );
    assert_eq!(a.by_method.microscopy, None);
    let years: Vec<_> = a
        .years
        .iter()
        .map(|y| (y.year, y.tested, y.positive, y.tpr, y.months_reported))
        .collect();
    assert_eq!(
        years,
        [
            (2022, 30.0, 9.0, Some(30.0), Some(2)),
            (2023, 30.0, 9.0, Some(30.0), Some(1)),
            (2024, 40.0, 20.0, Some(50.0), Some(1))
        ]
    );
    assert_eq!(a.years[0].completeness, Some(2.0 / 12.0));
    // Points (2022, 30), (2023, 30), (2024, 50): means 2023 and 36.67, slope (6.67 + 13.33) / 2 = 10.
    assert!(close(a.trend.slope.unwrap(), 10.0));
    assert_eq!(
        (a.trend.category, a.trend.points),
        (Some(TrendCategory::Worsening), 3)
    );

    // Beta tested nobody: no data, not 0 %; its 2023 row reported nothing.
    let b = ward(&r, "beta");
    assert_eq!(
        (b.tested, b.tpr, b.method_used),
        (0.0, None, MethodUsed::None)
    );
    assert_eq!(
        b.by_method.rdt,
        Some(Rate {
            tested: 0.0,
            positive: 0.0,
            tpr: None
        })
    );
    assert_eq!(
        b.years
            .iter()
            .map(|y| y.months_reported)
            .collect::<Vec<_>>(),
        [Some(1), Some(0), Some(0)]
    );
    assert_eq!(
        (b.trend.slope, b.trend.category, b.trend.points),
        (None, None, 0)
    );

    // Gamma's only pair has more positives than tests: left out, yet the month was reported.
    let c = ward(&r, "gamma");
    assert_eq!((c.tested, c.positive, c.tpr), (0.0, 0.0, None));
    assert_eq!(c.years[0].months_reported, Some(1));
    assert_eq!(c.facilities, Some(0));
    assert!(r
        .warnings
        .iter()
        .any(|w| w.contains("more positives than tests")));
}

#[test]
fn result_json_has_the_fields_of_8_1() {
    let r = run(&small(), json!({})).unwrap();
    let text = serde_json::to_string(&r).unwrap();
    // Fields in the order of the example of 8.1.
    let in_order = |keys: &[&str], within: &str| {
        let at: Vec<usize> = keys
            .iter()
            .map(|k| {
                within
                    .find(&format!("\"{k}\":"))
                    .unwrap_or_else(|| panic!("{k}"))
            })
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    };
    in_order(
        &[
            "options",
            "column",
            "header_line",
            "state",
            "methods",
            "years",
            "quality",
            "warnings",
            "join",
            "wards",
        ],
        &text,
    );
    let ward_text = &text[text.find("\"wards\":").unwrap()..];
    in_order(
        &[
            "ward",
            "lga",
            "ward_key",
            "lga_key",
            "ward_code",
            "table_ward",
            "facilities",
            "tested",
            "positive",
            "tpr",
            "method_used",
            "by_method",
            "population",
            "burden",
            "hotspot",
            "trend",
            "years",
        ],
        ward_text,
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let w = &v["wards"][0];
    assert_eq!(w["method_used"], "rdt");
    assert_eq!(w["trend"]["category"], "worsening");
    assert_eq!(
        v["wards"][1]["by_method"],
        json!({"rdt": {"tested": 0.0, "positive": 0.0, "tpr": null}, "microscopy": null})
    );
    let back: TprResult = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
    assert_eq!(back, r);
}

#[test]
fn header_row_search_and_blank_rows() {
    // Rows of missing tokens are blank, rows above the header are ignored whatever their width.
    let text = format!(
        "NA,,N/A\nReport of 2022\n{}\nWard,period,{T_U5},{P_U5}\n,,,\nA,2022,4,1\n",
        ",".repeat(7)
    );
    let r = run(&text, json!({})).unwrap();
    assert_eq!(r.header_line, 4);
    assert_eq!(
        r.wards[0].years[0].months_reported, None,
        "an annual export has no completeness"
    );
    assert_eq!(r.wards[0].years[0].completeness, None);
    // A header below line 50 is not looked for.
    let late = format!(
        "{}x\nWard,period,{T_U5},{P_U5}\nA,2022,4,1\n",
        "x\n".repeat(50)
    );
    match run(&late, json!({})).unwrap_err() {
        TprError::MissingColumns { missing, found } => {
            assert_eq!(
                missing,
                [
                    "ward",
                    "period",
                    T_U5,
                    "Persons presenting with fever & tested by RDT <5yrs"
                        .replace(T_U5, P_U5)
                        .as_str()
                ]
            );
            assert!(found.is_empty());
        }
        e => panic!("{e:?}"),
    }
    assert!(matches!(
        run("\n , \n", json!({})),
        Err(TprError::InvalidFile { line: None, .. })
    ));
    assert!(matches!(
        run(&format!("Ward,period,{T_U5},{P_U5}\n,,,\n"), json!({})),
        Err(TprError::InvalidFile { .. })
    ));
}

#[test]
fn ragged_rows_after_the_header() {
    let err = run(
        &format!("a,b\nWard,period,{T_U5},{P_U5}\nA,2022,4,1\n\"B\nx\",2022,4\n"),
        json!({}),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            TprError::InvalidFile {
                line: Some(4),
                column: None,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn bad_cells_name_line_and_leftmost_column() {
    let text = format!("Ward,{P_U5},period,{T_U5},{MT_U5}\nA,1,2022,4,2\nB,-1,2022,x,1\n");
    match run(&text, json!({})).unwrap_err() {
        TprError::InvalidFile { line, column, .. } => {
            assert_eq!((line, column.as_deref()), (Some(3), Some(P_U5)))
        }
        e => panic!("{e:?}"),
    }
    // A column the options do not use is still checked, and so is the period.
    let text = format!("Ward,period,{T_U5},{P_U5},{MT_U5}\nA,2022,4,1,1e400\n");
    assert!(
        matches!(run(&text, json!({})), Err(TprError::InvalidFile { line: Some(2), column: Some(c), .. }) if c == MT_U5)
    );
    let text = format!("Ward,period,{T_U5},{P_U5}\nA,2022,4,1\nA,Q1 2022,4,1\n");
    assert!(
        matches!(run(&text, json!({})), Err(TprError::InvalidFile { line: Some(3), column: Some(c), .. }) if c == "period")
    );
    let text = format!("Ward,period,{T_U5},{P_U5}\nA,,4,1\n");
    assert!(matches!(
        run(&text, json!({})),
        Err(TprError::InvalidFile { line: Some(2), .. })
    ));
    // Missing tokens, spaces and decimals are fine.
    let text = format!("Ward,period,{T_U5},{P_U5}\nA,2022, 4.5 ,NA\n");
    assert_eq!(run(&text, json!({})).unwrap().wards[0].tested, 4.5);
}

#[test]
fn required_columns_in_order() {
    let text = "State,Facility Level,Other\nKano,primary,1\n";
    match run(
        text,
        json!({"facility_level": "primary", "age_group": "all"}),
    )
    .unwrap_err()
    {
        TprError::MissingColumns { missing, found } => {
            assert_eq!(&missing[..2], ["ward", "period"]);
            assert_eq!(missing.len(), 8);
            assert_eq!(missing[2], T_U5);
            assert_eq!(
                missing[3],
                "Persons presenting with fever & tested by RDT ≥5yrs (excl PW)"
            );
            assert_eq!(missing[5], P_U5);
            assert_eq!(found, ["State", "Facility Level", "Other"]);
        }
        e => panic!("{e:?}"),
    }
    let text = format!("Ward,period,{T_U5},{P_U5}\nA,2022,4,1\n");
    match run(
        &text,
        json!({"facility_level": "primary", "method": "microscopy"}),
    )
    .unwrap_err()
    {
        TprError::MissingColumns { missing, .. } => {
            assert_eq!(missing, ["facility_level", MT_U5, MP_U5])
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn duplicate_headers_are_copies_or_sums() {
    // Equal values wherever both are present: copies, the first non-missing value counts.
    let copies = format!(
        "Ward,period,{T_U5},{P_U5},{T_U5}.1\nA,202201,10,2,10\nA,202202,,3,8\nA,202203,5,1,\n"
    );
    let r = run(&copies, json!({})).unwrap();
    assert_eq!(
        r.quality.duplicate_columns,
        [DuplicateColumns {
            column: T_U5.into(),
            headers: vec![T_U5.into(), format!("{T_U5}.1")],
            rule: GroupRule::Copies
        }]
    );
    assert_eq!(r.wards[0].tested, 23.0);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    // One row with differing values makes the group a sum everywhere (a split data element).
    let split = format!("Ward,period,{T_U5},{P_U5},Persons presenting with fever and tested by RDT  <5YRS\nA,202201,10,2,10\nA,202202,,3,8\nA,202203,5,1,1\n");
    let r = run(&split, json!({})).unwrap();
    assert_eq!(r.quality.duplicate_columns[0].rule, GroupRule::Sum);
    assert_eq!(r.wards[0].tested, 34.0);
    assert!(r.warnings.iter().any(|w| w.contains("added up")));
    // Never two values in one row: a sum too (the file's `.1` copy holding another year).
    let apart = format!("Ward,period,{T_U5},{P_U5},{T_U5}.1\nA,202201,,2,10\nA,202301,7,3,\n");
    assert_eq!(
        run(&apart, json!({})).unwrap().quality.duplicate_columns[0].rule,
        GroupRule::Sum
    );
}

#[test]
fn filters_and_empty_selections() {
    let text = format!(
        "Ward,FacilityLevel,period,{T_U5},{P_U5}\n\
         A,Primary Health Care,2022-01,10,1\n\
         A,Tertiary,2022-02,10,2\n\
         A,,2022-03,10,3\n\
         B,tertiary,2023-01,10,4\n"
    );
    let r = run(
        &text,
        json!({"facility_level": "tertiary", "from": "2022-02"}),
    )
    .unwrap();
    let q = &r.quality;
    assert_eq!(
        (
            q.rows_out_of_period,
            q.rows_other_level,
            q.rows_without_ward,
            q.rows_used
        ),
        (1, 1, 0, 2)
    );
    assert_eq!(r.wards.len(), 2);
    match run(&text, json!({"from": "2024"})).unwrap_err() {
        TprError::EmptySelection { field, available } => assert_eq!(
            (field, available),
            (
                "period",
                vec![
                    "2022-01".into(),
                    "2022-02".into(),
                    "2022-03".into(),
                    "2023-01".into()
                ]
            )
        ),
        e => panic!("{e:?}"),
    }
    match run(&text, json!({"facility_level": "secondary", "to": "2022"})).unwrap_err() {
        TprError::EmptySelection { field, available } => assert_eq!(
            (field, available),
            (
                "facility_level",
                vec!["Primary Health Care".into(), "Tertiary".into()]
            )
        ),
        e => panic!("{e:?}"),
    }
    let nobody = format!("Ward,period,{T_U5},{P_U5}\nUnknown,2022,1,1\n kn Ward ,2022,1,1\n");
    assert!(matches!(
        run(&nobody, json!({})),
        Err(TprError::EmptySelection { field: "ward", .. })
    ));
}

#[test]
fn both_methods_pick_the_higher_rate_with_tests() {
    let text = format!(
        "Ward,period,{T_U5},{P_U5},{MT_U5},{MP_U5}\n\
         A,2022,10,4,5,3\n\
         B,2022,10,4,10,4\n\
         C,2022,,,5,0\n\
         D,2022,0,0,0,0\n"
    );
    let r = run(&text, json!({"method": "both"})).unwrap();
    assert_eq!(r.methods, [Method::Rdt, Method::Microscopy]);
    let used = |k: &str| (ward(&r, k).method_used, ward(&r, k).tpr);
    assert_eq!(used("a"), (MethodUsed::Microscopy, Some(60.0)));
    assert_eq!(used("b"), (MethodUsed::Rdt, Some(40.0)), "equal rates: RDT");
    assert_eq!(
        used("c"),
        (MethodUsed::Microscopy, Some(0.0)),
        "RDT without tests is no candidate"
    );
    assert_eq!(used("d"), (MethodUsed::None, None));
    assert_eq!(
        ward(&r, "a").years[0].tested,
        5.0,
        "the year follows the ward's method"
    );
    // Only RDT columns: `both` considers RDT alone and says so.
    let rdt_only = format!("Ward,period,{T_U5},{P_U5}\nA,2022,10,4\n");
    let r = run(&rdt_only, json!({"method": "both"})).unwrap();
    assert_eq!(r.methods, [Method::Rdt]);
    assert!(r.warnings.iter().any(|w| w.contains("microscopy")));
}

#[test]
fn all_ages_sum_the_three_groups() {
    let ages = ["<5yrs", "≥5yrs (excl PW)", "Preg Women (PW)"];
    let header: Vec<String> = [
        "Persons presenting with fever & tested by RDT",
        "Persons tested positive for malaria by RDT",
    ]
    .iter()
    .flat_map(|s| ages.iter().map(move |a| format!("{s} {a}")))
    .collect();
    let text = format!("Ward,period,{}\nA,2022,1,2,3,1,1,9\n", header.join(","));
    let r = run(&text, json!({"age_group": "all"})).unwrap();
    // The pregnant women's pair (3 tested, 9 positive) is left out.
    assert_eq!((r.wards[0].tested, r.wards[0].positive), (3.0, 2.0));
    assert_eq!(r.quality.pairs_excluded, 1);
    let r = run(&text, json!({"age_group": "o5"})).unwrap();
    assert_eq!(
        (r.wards[0].tested, r.wards[0].positive, r.column.as_str()),
        (2.0, 1.0, "o5_tpr_rdt")
    );
}

#[test]
fn grouping_by_ward_and_lga_keys_and_state() {
    let text = format!(
        "State,LGA,Ward,period,{T_U5},{P_U5}\n\
         ,Alpha LGA,Gari,2022,10,1\n\
         kn Kano State,Beta,kn Gari Ward,2022,10,2\n\
         Kano,kn Alpha Local Government Area,GARI  (old),2022,10,3\n\
         Kano,,Gari,2022,10,4\n"
    );
    let r = run(&text, json!({})).unwrap();
    assert_eq!(r.state.as_deref(), Some("Kano"));
    let groups: Vec<(&str, &str, f64)> = r
        .wards
        .iter()
        .map(|w| (w.ward_key.as_str(), w.lga_key.as_str(), w.positive))
        .collect();
    assert_eq!(
        groups,
        [
            ("gari", "", 4.0),
            ("gari", "alpha", 4.0),
            ("gari", "beta", 2.0)
        ]
    );
    assert_eq!(r.wards[0].lga, None);
    assert_eq!(r.wards[0].facilities, None, "no facility column");
}

#[test]
fn trend_uses_calendar_years_and_cut_offs() {
    // 2022 and 2024 only: x keeps the gap, slope (20 - 40) / 2 = -10.
    let text = format!("Ward,period,{T_U5},{P_U5}\nA,2022,10,4\nA,2024,10,2\nB,2022,10,4\nB,2023,10,3.6\nC,2022,10,4\nC,2023,10,4.5\n");
    let r = run(&text, json!({})).unwrap();
    let a = ward(&r, "a");
    assert_eq!(
        (a.trend.slope, a.trend.category),
        (Some(-10.0), Some(TrendCategory::Improving))
    );
    assert_eq!(a.years[1].tpr, None, "2023 has no row for A");
    // Exactly -4 and +5 points a year.
    let b = ward(&r, "b");
    assert!(close(b.trend.slope.unwrap(), -4.0));
    assert_eq!(b.trend.category, Some(TrendCategory::Stable));
    assert!(close(ward(&r, "c").trend.slope.unwrap(), 5.0));
    assert_eq!(ward(&r, "c").trend.category, Some(TrendCategory::Worsening));
}

fn wards_table(text: &str) -> WardTable {
    read_table(text.as_bytes(), TableFormat::Csv, &TableBudget::default()).unwrap()
}

#[test]
fn matching_steps_and_burden() {
    let export = format!(
        "WardCode,LGA,Ward,period,{T_U5},{P_U5}\n\
         KN1,Batsalo,Mama,2022,100,30\n\
         KN1,Batsalo,Mama,2023,100,30\n\
         ,Dala,Mama,2022,10,5\n\
         ,Dala,Gafa,2022,50,10\n\
         ,,Kofa,2022,20,20\n\
         ,,Sabon Layin,2022,20,20\n\
         ,,Tudun,2022,0,0\n"
    );
    let table = wards_table(
        "WardName,WardCode,lga,Population\n\
         kn Mama Ward, kn1 ,Batsalo,1000\n\
         Mama,KN2,Dala,NA\n\
         Gafa,KN3,Dala,10\n\
         Kofa,KN4,Fagge,0\n\
         Tudun,KN5,Fagge,50\n\
         Lost,KN6,Fagge,5\n",
    );
    let o = run_with(&export, json!({"dataset_id": "d1"}), Some(&table)).unwrap();
    let r = &o.result;
    let j = r.join.as_ref().unwrap();
    assert_eq!(
        (j.matched, j.by_code, j.by_ward_lga, j.by_ward),
        (5, 1, 2, 2)
    );
    assert_eq!(
        j.unmatched_tpr,
        [UnmatchedTpr {
            ward: "Sabon Layin".into(),
            lga: None
        }]
    );
    assert_eq!(
        j.unmatched_table,
        [UnmatchedTable {
            ward: Some("Lost".into()),
            ward_code: Some("KN6".into())
        }]
    );
    let by_lga = |k: &str, l: &str| {
        r.wards
            .iter()
            .find(|w| w.ward_key == k && w.lga_key == l)
            .unwrap()
    };
    let mama = by_lga("mama", "batsalo");
    assert_eq!(
        (
            mama.table_ward.as_deref(),
            mama.ward_code.as_deref(),
            mama.population
        ),
        (Some("kn Mama Ward"), Some("kn1"), Some(1000.0))
    );
    // 60 positives over 2 years for 1,000 people: 30 per 1,000 a year; each year 30.
    assert_eq!((mama.burden, mama.hotspot), (Some(30.0), Some(false)));
    assert_eq!(
        mama.years.iter().map(|y| y.burden).collect::<Vec<_>>(),
        [Some(30.0), Some(30.0)]
    );
    let mama_dala = by_lga("mama", "dala");
    assert_eq!(
        (
            mama_dala.ward_code.as_deref(),
            mama_dala.population,
            mama_dala.burden
        ),
        (Some("KN2"), None, None)
    );
    // 10 positives for 10 people over 2 years: 500 per 1,000, a hotspot; 2022 alone caps at 1000.
    let gafa = by_lga("gafa", "dala");
    assert_eq!(
        (gafa.burden, gafa.hotspot, gafa.years[0].burden),
        (Some(500.0), Some(true), Some(1000.0))
    );
    let kofa = ward(r, "kofa");
    assert_eq!(
        (kofa.population, kofa.burden, kofa.hotspot),
        (Some(0.0), None, None)
    );
    let tudun = ward(r, "tudun");
    assert_eq!(
        (tudun.population, tudun.burden),
        (Some(50.0), None),
        "nothing tested: no burden"
    );
    assert_eq!(ward(r, "sabon layin").table_ward, None);
    assert_eq!(o.export_codes.iter().flatten().collect::<Vec<_>>(), ["KN1"]);
}

#[test]
fn ambiguous_values_match_nothing() {
    let export = format!("Ward,period,{T_U5},{P_U5}\nMama,2022,10,1\n");
    let table = wards_table("WardName,LGA\nMama,A\nMama,B\n");
    let o = run_with(&export, json!({"dataset_id": "d1"}), Some(&table)).unwrap();
    let j = o.result.join.as_ref().unwrap();
    assert_eq!((j.matched, j.unmatched_table.len()), (0, 2));
    assert!(o.result.warnings.iter().any(|w| w.contains("Population")));
}

#[test]
fn join_appends_or_replaces_the_column() {
    let export = format!("Ward,period,{T_U5},{P_U5}\nAlpha,2022,8,2\nBeta,2022,0,0\n");
    let o = run_with(&export, json!({}), None).unwrap();
    let source = "WardName,Note, LGA ,\nAlpha,\"a, b\", X ,\n Beta ,NA,Y,\nGamma,,Z,\n";
    let table = wards_table(source);
    let j = join(&o, "d1", &table, source.as_bytes(), TableFormat::Csv, None, &TableBudget::default()).unwrap();
    assert_eq!(
        j.csv,
        "WardName,Note,LGA,u5_tpr_rdt\nAlpha,\"a, b\",X,25\nBeta,NA,Y,\nGamma,,Z,\n"
    );
    assert_eq!((j.column.as_str(), j.join.matched), ("u5_tpr_rdt", 2));
    let source = "WardName,U5_TPR_RDT,x\nAlpha,1,2\n";
    let table = wards_table(source);
    let j = join(&o, "d1", &table, source.as_bytes(), TableFormat::Csv, None, &TableBudget::default()).unwrap();
    assert_eq!(j.csv, "WardName,u5_tpr_rdt,x\nAlpha,25,2\n");
    assert_eq!(j.warnings.len(), 1);
    let j = join(
        &o,
        "d1",
        &table,
        source.as_bytes(),
        TableFormat::Csv,
        Some("tpr_2022"),
        &TableBudget::default(),
    )
    .unwrap();
    assert_eq!(j.csv, "WardName,U5_TPR_RDT,x,tpr_2022\nAlpha,1,2,25\n");
    for bad in ["1x", "", "a-b", "wardname", &"a".repeat(65)] {
        assert_eq!(
            join(
                &o,
                "d1",
                &table,
                source.as_bytes(),
                TableFormat::Csv,
                Some(bad),
                &TableBudget::default(),
            ),
            Err(TprError::InvalidInput {
                field: "column".into()
            }),
            "{bad}"
        );
    }
}

fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (r as u32 + 2, c as u16);
            match cell.parse::<f64>() {
                Ok(x) => sheet.write_number(r, c, x).map(|_| ()),
                Err(_) if cell.is_empty() => Ok(()),
                Err(_) => sheet.write_string(r, c, *cell).map(|_| ()),
            }
            .unwrap();
        }
    }
    book.save_to_buffer().unwrap()
}

#[test]
fn workbooks_read_numbers_as_text_where_text_is_wanted() {
    let bytes = xlsx(&[
        &["Ward", "periodcode", T_U5, P_U5],
        &["", "", "", ""],
        &["Alpha", "202201", "10", "4"],
        &["7", "202202", "5", "bad"],
    ]);
    let options = TprOptions::default();
    let err = compute(
        &bytes,
        TableFormat::Xlsx,
        &options,
        None,
        &Budget::default(),
    )
    .unwrap_err();
    // The sheet starts on row 3 (Excel's numbering); the header is there, the bad cell on row 6.
    assert!(
        matches!(err, TprError::InvalidFile { line: Some(6), column: Some(ref c), .. } if c == P_U5),
        "{err:?}"
    );
    let bytes = xlsx(&[
        &["Ward", "periodcode", T_U5, P_U5],
        &["Alpha", "202201", "10", "4"],
        &["7", "202202", "5", ""],
    ]);
    let r = compute(
        &bytes,
        TableFormat::Xlsx,
        &options,
        None,
        &Budget::default(),
    )
    .unwrap()
    .result;
    assert_eq!(r.header_line, 3);
    assert_eq!(
        r.wards.iter().map(|w| w.ward.as_str()).collect::<Vec<_>>(),
        ["7", "Alpha"]
    );
    assert_eq!(r.years, [2022]);
}

#[test]
fn budgets_are_checked() {
    let text = format!("Ward,period,{T_U5},{P_U5}\nA,2022,1,1\nA,2023,1,1\nA,2024,1,1\n");
    let options = TprOptions::default();
    let small = Budget {
        rows: 2,
        columns: 10,
        cells: 100,
    };
    assert!(matches!(
        compute(text.as_bytes(), TableFormat::Csv, &options, None, &small),
        Err(TprError::TooLarge(_))
    ));
    let narrow = Budget {
        rows: 10,
        columns: 3,
        cells: 100,
    };
    assert!(matches!(
        compute(text.as_bytes(), TableFormat::Csv, &options, None, &narrow),
        Err(TprError::TooLarge(_))
    ));
    let few_cells = Budget {
        rows: 10,
        columns: 10,
        cells: 11,
    };
    assert!(matches!(
        compute(
            text.as_bytes(),
            TableFormat::Csv,
            &options,
            None,
            &few_cells
        ),
        Err(TprError::TooLarge(_))
    ));
    assert!(compute(
        text.as_bytes(),
        TableFormat::Csv,
        &options,
        None,
        &Budget {
            rows: 3,
            columns: 4,
            cells: 12
        }
    )
    .is_ok());
}
