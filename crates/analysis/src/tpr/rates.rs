//! Sums, rates, years, completeness, trend and burden of each ward (TPR.md sections 4 to 6).

use super::header::{Count, CountColumn, Method};
use super::matching::match_table;
use super::scan::{GroupRule, Scan};
use super::{
    ByMethod, DuplicateColumns, MethodUsed, PopulationTable, Quality, Rate, TprOptions, TprOutcome,
    TprResult, TprWard, TprYear, Trend, TrendCategory,
};
use crate::table::{Cell, ColumnKind};

/// A trend of at least this many percentage points a year is a change, not noise (TPR.md 5).
const TREND_CUT_OFF: f64 = 5.0;
/// Positives per 1,000 people a year from which a ward is a hotspot (TPR.md 6.2).
const HOTSPOT_BURDEN: f64 = 200.0;

/// Tested and positive of the kept pairs.
#[derive(Clone, Copy, Default)]
struct Sums {
    tested: f64,
    positive: f64,
}

impl Sums {
    fn rate(self) -> Rate {
        Rate {
            tested: self.tested,
            positive: self.positive,
            tpr: tpr(self),
        }
    }
}

fn tpr(s: Sums) -> Option<f64> {
    (s.tested != 0.0).then(|| 100.0 * s.positive / s.tested)
}

pub fn result(scan: Scan, options: &TprOptions, table: Option<PopulationTable<'_>>) -> TprOutcome {
    let mut years: Vec<u16> = scan.rows.period.iter().map(|p| p.year).collect();
    years.sort_unstable();
    years.dedup();
    let year_index = |y: u16| years.binary_search(&y).expect("every used year is listed");
    let wards = scan.wards.len();
    let per_ward_year = wards * years.len();
    // [method] sums per ward, per ward and year; months reported as bits per ward and year.
    let mut totals = vec![[Sums::default(); 2]; wards];
    let mut by_year = vec![[Sums::default(); 2]; per_ward_year];
    let mut months = vec![0u16; per_ward_year];
    let monthly = scan.rows.period.iter().any(|p| p.month.is_some());
    let (mut pairs_excluded, mut rows_with_excluded_pairs) = (0, 0);
    let pairs: Vec<(Method, CountColumn, CountColumn)> = scan
        .methods
        .iter()
        .flat_map(|&m| {
            scan.ages.iter().map(move |&a| {
                (
                    m,
                    CountColumn::new(m, Count::Tested, a),
                    CountColumn::new(m, Count::Positive, a),
                )
            })
        })
        .collect();
    for row in 0..scan.rows.ward.len() {
        let ward = scan.rows.ward[row] as usize;
        let period = scan.rows.period[row];
        let cell = ward * years.len() + year_index(period.year);
        let mut excluded = false;
        let mut reported = false;
        for &(method, tested, positive) in &pairs {
            let (t, p) = (scan.value(row, tested), scan.value(row, positive));
            reported |= t.is_some() || p.is_some();
            let (t, p) = (t.unwrap_or(0.0), p.unwrap_or(0.0));
            if p > t {
                pairs_excluded += 1;
                excluded = true;
                continue;
            }
            for sums in [
                &mut totals[ward][method as usize],
                &mut by_year[cell][method as usize],
            ] {
                sums.tested += t;
                sums.positive += p;
            }
        }
        rows_with_excluded_pairs += usize::from(excluded);
        if let (Some(month), true) = (period.month, reported) {
            months[cell] |= 1 << (month - 1);
        }
    }

    let mut warnings = scan.warnings;
    let mut duplicate_columns = Vec::new();
    for (i, rule) in scan.rules.iter().enumerate() {
        let Some(rule) = *rule else { continue };
        let column = CountColumn(i).name();
        let headers: Vec<String> = scan.header.counts[i]
            .iter()
            .map(|&p| scan.header.cells[p].clone())
            .collect();
        if rule == GroupRule::Sum {
            warnings.push(format!(
                "The columns {} all name \"{column}\" but hold different values, so they were added up as one.",
                headers.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", ")
            ));
        }
        duplicate_columns.push(DuplicateColumns {
            column,
            headers,
            rule,
        });
    }
    if pairs_excluded > 0 {
        warnings.push(format!(
            "{pairs_excluded} pairs of counts in {rows_with_excluded_pairs} rows report more positives than tests and were left out."
        ));
    }

    let mut result_wards: Vec<TprWard> = scan
        .wards
        .iter()
        .enumerate()
        .map(|(w, group)| {
            let rate_of = |m: Method| {
                scan.methods
                    .contains(&m)
                    .then(|| totals[w][m as usize].rate())
            };
            let by_method = ByMethod {
                rdt: rate_of(Method::Rdt),
                microscopy: rate_of(Method::Microscopy),
            };
            let used = method_used(&scan.methods, &totals[w]);
            let sums = |s: &[Sums; 2]| used.map_or(Sums::default(), |m| s[m as usize]);
            let ward_years: Vec<TprYear> = years
                .iter()
                .enumerate()
                .map(|(y, &year)| {
                    let s = sums(&by_year[w * years.len() + y]);
                    let reported = monthly.then(|| months[w * years.len() + y].count_ones() as u8);
                    TprYear {
                        year,
                        tested: s.tested,
                        positive: s.positive,
                        tpr: tpr(s),
                        burden: None,
                        months_reported: reported,
                        completeness: reported.map(|n| f64::from(n) / 12.0),
                    }
                })
                .collect();
            let total = sums(&totals[w]);
            TprWard {
                ward: group.ward.clone(),
                lga: group.lga.clone(),
                ward_key: group.ward_key.clone(),
                lga_key: group.lga_key.clone(),
                ward_code: group.code.clone(),
                table_ward: None,
                facilities: group.facilities,
                tested: total.tested,
                positive: total.positive,
                tpr: tpr(total),
                method_used: match used {
                    Some(Method::Rdt) => MethodUsed::Rdt,
                    Some(Method::Microscopy) => MethodUsed::Microscopy,
                    None => MethodUsed::None,
                },
                by_method,
                population: None,
                burden: None,
                hotspot: None,
                trend: trend(&ward_years),
                years: ward_years,
            }
        })
        .collect();
    let mut export_codes: Vec<Option<String>> = scan.wards.iter().map(|g| g.code.clone()).collect();
    let mut order: Vec<usize> = (0..result_wards.len()).collect();
    order.sort_by(|&a, &b| {
        (&result_wards[a].ward_key, &result_wards[a].lga_key)
            .cmp(&(&result_wards[b].ward_key, &result_wards[b].lga_key))
    });
    result_wards = order.iter().map(|&i| result_wards[i].clone()).collect();
    export_codes = order.iter().map(|&i| export_codes[i].take()).collect();

    let join = table.map(|t| {
        let (report, rows) = match_table(&mut result_wards, &export_codes, t.dataset_id, t.table);
        add_population(
            &mut result_wards,
            &rows,
            t.table,
            &options.population_column,
            years.len(),
            &mut warnings,
        );
        report
    });

    let rows_used = scan.rows.ward.len();
    TprOutcome {
        result: TprResult {
            options: options.clone(),
            column: options.column(),
            header_line: scan.header.line,
            state: scan.state,
            methods: scan.methods.clone(),
            years,
            quality: Quality {
                rows: scan.counts.rows,
                rows_out_of_period: scan.counts.rows_out_of_period,
                rows_other_level: scan.counts.rows_other_level,
                rows_without_ward: scan.counts.rows_without_ward,
                rows_used,
                pairs_excluded,
                rows_with_excluded_pairs,
                duplicate_columns,
            },
            warnings,
            join,
            wards: result_wards,
        },
        export_codes,
    }
}

/// TPR.md 4.3: the one method with tests, or for `both` the one with the greater rate (RDT on
/// equality); `None` when nothing was tested.
fn method_used(methods: &[Method], sums: &[Sums; 2]) -> Option<Method> {
    let mut best: Option<(Method, f64)> = None;
    for &m in methods {
        let s = sums[m as usize];
        if s.tested > 0.0 {
            let rate = s.positive / s.tested;
            if best.is_none_or(|(_, r)| rate > r) {
                best = Some((m, rate));
            }
        }
    }
    best.map(|(m, _)| m)
}

/// The least-squares slope of the yearly TPR over the calendar year (TPR.md 5).
fn trend(years: &[TprYear]) -> Trend {
    let points: Vec<(f64, f64)> = years
        .iter()
        .filter_map(|y| y.tpr.map(|t| (f64::from(y.year), t)))
        .collect();
    let n = points.len();
    if n < 2 {
        return Trend {
            slope: None,
            category: None,
            points: n,
        };
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n as f64;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n as f64;
    let num: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    let slope = num / den;
    let category = if slope >= TREND_CUT_OFF {
        TrendCategory::Worsening
    } else if slope <= -TREND_CUT_OFF {
        TrendCategory::Improving
    } else {
        TrendCategory::Stable
    };
    Trend {
        slope: Some(slope),
        category: Some(category),
        points: n,
    }
}

/// Population and burden from the matched table rows (TPR.md 6.2).
fn add_population(
    wards: &mut [TprWard],
    rows: &[Option<usize>],
    table: &crate::table::WardTable,
    population_column: &str,
    year_count: usize,
    warnings: &mut Vec<String>,
) {
    let column = match table.find_column(population_column) {
        None => {
            warnings.push(format!(
                "The ward table has no column \"{population_column}\", so no burden is computed."
            ));
            return;
        }
        Some(c) if table.columns()[c].kind != ColumnKind::Numeric => {
            warnings.push(format!("The column \"{population_column}\" of the ward table is not numeric, so no burden is computed."));
            return;
        }
        Some(c) => c,
    };
    let burden = |positive: f64, population: f64, years: f64| {
        (1000.0 * positive / population / years).min(1000.0)
    };
    for (ward, row) in wards.iter_mut().zip(rows) {
        let Some(population) = row.and_then(|r| match table.cell(r, column) {
            Cell::Number(x) => Some(x),
            _ => None,
        }) else {
            continue;
        };
        ward.population = Some(population);
        if population <= 0.0 {
            continue;
        }
        if ward.tested != 0.0 {
            ward.burden = Some(burden(ward.positive, population, year_count as f64));
            ward.hotspot = ward.burden.map(|b| b >= HOTSPOT_BURDEN);
        }
        for year in &mut ward.years {
            if year.tested != 0.0 {
                year.burden = Some(burden(year.positive, population, 1.0));
            }
        }
    }
}
