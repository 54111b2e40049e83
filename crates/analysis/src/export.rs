//! CSV exports of an analysis and of a bed-net plan, escaped against spreadsheet formula injection.

use std::collections::HashMap;
use std::sync::Arc;

use crate::analysis::{AnalysisOutcome, Ranked};
use crate::itn::{ItnPlan, Tier};
use crate::rank::Category;

/// One row per ward, in composite rank order (PCA rank order when there is no composite).
pub fn analysis_csv(outcome: &AnalysisOutcome) -> String {
    let composite = outcome.composite.as_ref().map(|c| c.wards.as_slice()).unwrap_or_default();
    let pca = outcome.pca.as_ref().map(|p| p.wards.as_slice()).unwrap_or_default();
    let by_name = |wards: &[Ranked]| -> HashMap<Arc<str>, usize> {
        wards.iter().enumerate().map(|(i, w)| (w.ward.clone(), i)).collect()
    };
    let composite_of = by_name(composite);
    let pca_of = by_name(pca);
    let leading = if composite.is_empty() { pca } else { composite };
    let ranked_cells = |w: Option<&Ranked>| match w {
        Some(w) => [w.score.to_string(), w.rank.to_string(), category(w.category).to_owned()],
        None => Default::default(),
    };
    let mut rows = vec![header(&[
        "ward", "ward_code", "composite_score", "composite_rank", "composite_category", "pca_score", "pca_rank", "pca_category",
    ])];
    for w in leading {
        let mut row = vec![w.ward.to_string(), w.ward_code.as_deref().unwrap_or_default().to_owned()];
        row.extend(ranked_cells(composite_of.get(&w.ward).map(|&i| &composite[i])));
        row.extend(ranked_cells(pca_of.get(&w.ward).map(|&i| &pca[i])));
        rows.push(row);
    }
    write(rows)
}

/// One row per ward, in distribution order.
pub fn itn_csv(plan: &ItnPlan) -> String {
    let mut rows = vec![header(&["ward", "population", "nets_needed", "nets_allocated", "coverage_pct", "tier"])];
    for w in &plan.wards {
        let tier = match w.tier {
            Tier::Rural => "rural",
            Tier::Urban => "urban",
        };
        rows.push(vec![
            w.ward.clone(),
            w.population.to_string(),
            w.nets_needed.to_string(),
            w.nets_allocated.to_string(),
            w.coverage_pct.to_string(),
            tier.to_owned(),
        ]);
    }
    write(rows)
}

fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn category(c: Category) -> &'static str {
    match c {
        Category::High => "High",
        Category::Medium => "Medium",
        Category::Low => "Low",
    }
}

/// A spreadsheet runs a cell starting with `=`, `+`, `-`, `@`, tab or CR as a formula; a leading
/// `'` makes it plain text. Numbers such as `-0.25` are left alone.
fn escape(cell: String) -> String {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !cell.parse::<f64>().is_ok_and(f64::is_finite) {
        format!("'{cell}")
    } else {
        cell
    }
}

fn write(rows: Vec<Vec<String>>) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        // Writing to a Vec cannot fail.
        let _ = writer.write_record(row.into_iter().map(escape));
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{analyse, AnalysisRequest};
    use crate::itn::{plan_itn, ItnRequest};
    use crate::table::{read_table, TableFormat};
    use crate::budget::{AnalysisBudget, TableBudget};

    #[test]
    fn escaping() {
        assert_eq!(escape("=1+2".into()), "'=1+2");
        assert_eq!(escape("+cmd".into()), "'+cmd");
        assert_eq!(escape("-x".into()), "'-x");
        assert_eq!(escape("@SUM(A1)".into()), "'@SUM(A1)");
        assert_eq!(escape("\tx".into()), "'\tx");
        assert_eq!(escape("\rx".into()), "'\rx");
        assert_eq!(escape("-0.25".into()), "-0.25");
        assert_eq!(escape("+5".into()), "+5");
        assert_eq!(escape("-inf".into()), "'-inf");
        assert_eq!(escape("Kano".into()), "Kano");
    }

    #[test]
    fn analysis_export() {
        let t = read_table("WardName,WardCode,a,b\n\"=HYPERLINK(\"\"x\"\")\",K1,1,2\n\"Gafa, Gabas\",K2,2,1\nC,,3,3\n".as_bytes(), TableFormat::Csv, &TableBudget::default()).unwrap();
        let req: AnalysisRequest = serde_json::from_str(r#"{"method":"composite"}"#).unwrap();
        let out = analyse(&t, None, &req, &AnalysisBudget::default()).unwrap();
        // a scales to 0, 0.5, 1 and b to 0.5, 0, 1: C scores 1, the others 0.25 (tie kept in row order).
        assert_eq!(
            analysis_csv(&out),
            "ward,ward_code,composite_score,composite_rank,composite_category,pca_score,pca_rank,pca_category\n\
             C,,1,1,High,,,\n\
             \"'=HYPERLINK(\"\"x\"\")\",K1,0.25,2,Medium,,,\n\
             \"Gafa, Gabas\",K2,0.25,3,Low,,,\n"
        );
    }

    #[test]
    fn itn_export() {
        let t = read_table(b"WardName,Population,urban_percentage,a,b\n-A,90,0,1,2\nB,18,90,2,1\n", TableFormat::Csv, &TableBudget::default()).unwrap();
        let out = analyse(&t, None, &serde_json::from_str(r#"{"method":"composite"}"#).unwrap(), &AnalysisBudget::default()).unwrap();
        let plan = plan_itn(&t, &out, &serde_json::from_str::<ItnRequest>(r#"{"total_nets": 55}"#).unwrap()).unwrap();
        assert_eq!(
            itn_csv(&plan),
            "ward,population,nets_needed,nets_allocated,coverage_pct,tier\n'-A,90,50,50,100,rural\nB,18,10,5,50,urban\n"
        );
    }
}
