//! Self-contained SVG pictures of an analysis: the choropleth map of risk categories and the top-20 bar chart.

use std::fmt::Write;

use crate::analysis::{AnalysisOutcome, Ranked};
use crate::boundaries::Boundaries;
use crate::rank::Category;

const WIDTH: f64 = 1000.0;
const MARGIN: f64 = 24.0;
/// The tallest the map area may be, so that a long, thin state still fits on a screen.
const MAX_MAP_HEIGHT: f64 = 1100.0;
const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif";
const NO_DATA: &str = "#d9d9d9";

/// A sequential palette that reads in grey-scale and for the common colour blindnesses.
fn colour(category: Category) -> &'static str {
    match category {
        Category::High => "#b2182b",
        Category::Medium => "#ef8a62",
        Category::Low => "#fddbc7",
    }
}

fn label(category: Category) -> &'static str {
    match category {
        Category::High => "High",
        Category::Medium => "Medium",
        Category::Low => "Low",
    }
}

/// Escapes text for XML content and attributes, dropping characters XML cannot carry.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if c.is_control() || ('\u{fffe}'..='\u{ffff}').contains(&c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Shortens a label to at most `max` characters, ending with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

fn svg_open(out: &mut String, height: f64, title: &str) {
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0}" width="{WIDTH}" height="{height:.0}" style="max-width:100%;height:auto" role="img" font-family="{FONT}"><title>{}</title><rect width="100%" height="100%" fill="#ffffff"/>"##,
        escape(title)
    );
}

/// The ranking pictures show: composite, else PCA for an analysis that has only a PCA ranking.
fn leading_ranking(outcome: &AnalysisOutcome) -> (&[Ranked], &'static str) {
    let composite = outcome.composite.as_ref().map(|c| c.wards.as_slice()).unwrap_or_default();
    let pca = outcome.pca.as_ref().map(|p| p.wards.as_slice()).unwrap_or_default();
    if composite.is_empty() && !pca.is_empty() {
        (pca, "PCA")
    } else {
        (composite, "composite")
    }
}

/// A choropleth of the composite categories (PCA ones for a PCA-only analysis); `None` when no
/// ward of the analysis has a shape (or the shapes have no points).
pub fn map_svg(boundaries: &Boundaries, outcome: &AnalysisOutcome, title: &str) -> Option<String> {
    let (wards, kind) = leading_ranking(outcome);
    let feature_of = boundaries.match_wards(wards.iter().map(|w| (w.ward_code.as_deref(), Some(&*w.ward))));
    let mut ward_of_feature: Vec<Option<&Ranked>> = vec![None; boundaries.features().len()];
    for (w, f) in wards.iter().zip(&feature_of) {
        if let Some(f) = f {
            ward_of_feature[*f].get_or_insert(w);
        }
    }
    if ward_of_feature.iter().all(Option::is_none) {
        return None;
    }

    let points = || boundaries.features().iter().flat_map(|f| f.polygons.iter().flatten().flatten());
    let (mut min_x, mut max_x, mut min_y, mut max_y) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for p in points() {
        min_x = min_x.min(p[0]);
        max_x = max_x.max(p[0]);
        min_y = min_y.min(p[1]);
        max_y = max_y.max(p[1]);
    }
    // Longitude degrees shrink towards the poles: scale them by the cosine of the middle latitude
    // when the coordinates look like degrees, so the state keeps its shape.
    if !(min_x <= max_x && min_y <= max_y) {
        return None;
    }
    let degrees = min_x >= -180.0 && max_x <= 180.0 && min_y >= -90.0 && max_y <= 90.0;
    let x_factor = if degrees { ((min_y + max_y) / 2.0).to_radians().cos() } else { 1.0 };
    let span_x = ((max_x - min_x) * x_factor).max(f64::MIN_POSITIVE);
    let span_y = (max_y - min_y).max(f64::MIN_POSITIVE);
    let top = 96.0;
    let scale = ((WIDTH - 2.0 * MARGIN) / span_x).min(MAX_MAP_HEIGHT / span_y);
    let map_width = span_x * scale;
    let map_height = span_y * scale;
    let left = (WIDTH - map_width) / 2.0;
    let legend_top = top + map_height + 24.0;
    let height = legend_top + 92.0;

    let mut out = String::with_capacity(64 * 1024);
    svg_open(&mut out, height, title);
    let _ = write!(
        out,
        r##"<text x="{MARGIN}" y="44" font-size="30" font-weight="700" fill="#222">{}</text><text x="{MARGIN}" y="76" font-size="19" fill="#555">Malaria risk by ward ({kind} score)</text>"##,
        escape(&shorten(title, 60))
    );
    let _ = write!(out, r##"<g stroke="#ffffff" stroke-width="0.6" stroke-linejoin="round" fill-rule="evenodd">"##);
    let n = wards.len();
    for (feature, ward) in boundaries.features().iter().zip(&ward_of_feature) {
        let mut d = String::new();
        for ring in feature.polygons.iter().flatten() {
            let mut last = None;
            for (i, p) in ring.iter().enumerate() {
                let x = ((left + (p[0] - min_x) * x_factor * scale) * 10.0).round() as i64;
                let y = ((top + (max_y - p[1]) * scale) * 10.0).round() as i64;
                // Points closer than a tenth of a pixel add bytes, not detail.
                if last == Some((x, y)) {
                    continue;
                }
                last = Some((x, y));
                let _ = write!(d, "{}{}.{} {}.{}", if i == 0 { 'M' } else { 'L' }, x / 10, x % 10, y / 10, y % 10);
            }
            d.push('Z');
        }
        if d.is_empty() {
            continue;
        }
        match ward {
            Some(w) => {
                let _ = write!(
                    out,
                    r#"<path d="{d}" fill="{}"><title>{}: score {:.3}, rank {} of {n} ({})</title></path>"#,
                    colour(w.category),
                    escape(&w.ward),
                    w.score,
                    w.rank,
                    label(w.category)
                );
            }
            None => {
                let name = feature.name.as_deref().or(feature.code.as_deref()).unwrap_or("Unnamed shape");
                let _ = write!(out, r#"<path d="{d}" fill="{NO_DATA}"><title>{}: not in the table</title></path>"#, escape(name));
            }
        }
    }
    out.push_str("</g>");

    let count = |c: Category| wards.iter().filter(|w| w.category == c).count();
    let mut entries: Vec<(&str, String)> =
        [Category::High, Category::Medium, Category::Low].iter().map(|&c| (colour(c), format!("{} risk ({})", label(c), count(c)))).collect();
    if ward_of_feature.iter().any(Option::is_none) {
        entries.push((NO_DATA, "No data".to_owned()));
    }
    let _ = write!(out, r##"<text x="{MARGIN}" y="{:.0}" font-size="21" font-weight="600" fill="#222">Risk category ({kind} rank)</text>"##, legend_top + 20.0);
    let column = (WIDTH - 2.0 * MARGIN) / 4.0;
    for (i, (fill, text)) in entries.iter().enumerate() {
        let x = MARGIN + i as f64 * column;
        let y = legend_top + 40.0;
        let _ = write!(
            out,
            r##"<rect x="{x:.0}" y="{y:.0}" width="32" height="32" rx="4" fill="{fill}" stroke="#888" stroke-width="0.8"/><text x="{:.0}" y="{:.0}" font-size="21" fill="#222">{}</text>"##,
            x + 40.0,
            y + 22.0,
            escape(text)
        );
    }
    out.push_str("</svg>");
    Some(out)
}

/// A horizontal bar chart of the 20 highest-risk wards (composite, else PCA).
pub fn chart_svg(outcome: &AnalysisOutcome, title: &str) -> String {
    let (wards, kind) = leading_ranking(outcome);
    let top: Vec<&Ranked> = wards.iter().take(20).collect();

    let header = 110.0;
    let row = 40.0;
    let label_width = 320.0;
    let bar_left = MARGIN + label_width + 12.0;
    let bar_space = WIDTH - bar_left - MARGIN - 80.0;
    let (lo, hi, step) = axis(
        top.iter().map(|w| w.score).fold(0.0f64, f64::min),
        top.iter().map(|w| w.score).fold(0.0f64, f64::max),
    );
    let decimals = (-step.log10().floor()).max(0.0) as usize + usize::from((step / 10f64.powf(step.log10().floor()) - 2.5).abs() < 1e-9);
    let x_of = |v: f64| bar_left + (v - lo) / (hi - lo) * bar_space;
    let axis_y = header + top.len() as f64 * row + 8.0;
    let height = axis_y + 56.0;

    let mut out = String::with_capacity(16 * 1024);
    svg_open(&mut out, height, title);
    let _ = write!(
        out,
        r##"<text x="{MARGIN}" y="44" font-size="30" font-weight="700" fill="#222">{}</text><text x="{MARGIN}" y="76" font-size="19" fill="#555">The {} highest-risk wards by {kind} score</text>"##,
        escape(&shorten(title, 60)),
        top.len()
    );
    let ticks = ((hi - lo) / step).round() as usize;
    for i in 0..=ticks {
        let v = lo + step * i as f64;
        let x = x_of(v);
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{:.0}" x2="{x:.1}" y2="{axis_y:.0}" stroke="#e3e3e3"/><text x="{x:.1}" y="{:.0}" font-size="18" fill="#555" text-anchor="middle">{v:.decimals$}</text>"##,
            header - 10.0,
            axis_y + 22.0
        );
    }
    for (i, w) in top.iter().enumerate() {
        let y = header + i as f64 * row;
        let (x0, x1) = (x_of(w.score.min(0.0)), x_of(w.score.max(0.0)));
        let _ = write!(
            out,
            r##"<g><title>{}: score {:.3}, rank {} ({})</title><text x="{:.0}" y="{:.0}" font-size="21" fill="#222" text-anchor="end">{}. {}</text><rect x="{x0:.1}" y="{:.0}" width="{:.1}" height="{:.0}" rx="3" fill="{}"/><text x="{:.1}" y="{:.0}" font-size="19" fill="#444">{:.3}</text></g>"##,
            escape(&w.ward),
            w.score,
            w.rank,
            label(w.category),
            MARGIN + label_width,
            y + row * 0.65,
            w.rank,
            escape(&shorten(&w.ward, 26)),
            y + 5.0,
            (x1 - x0).max(1.0),
            row - 10.0,
            colour(w.category),
            x1 + 8.0,
            y + row * 0.65,
            w.score
        );
    }
    let _ = write!(out, r##"<line x1="{bar_left:.1}" y1="{axis_y:.0}" x2="{:.1}" y2="{axis_y:.0}" stroke="#888"/>"##, bar_left + bar_space);
    out.push_str("</svg>");
    out
}

/// An axis from `lo` to `hi` (both including 0) widened to round ticks: about four steps of
/// 1, 2, 2.5 or 5 times a power of ten. Returns (start, end, step).
fn axis(lo: f64, hi: f64) -> (f64, f64, f64) {
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let range = hi - lo;
    let magnitude = 10f64.powf((range / 4.0).log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| range / s <= 4.0 + 1e-9).unwrap_or(10.0 * magnitude);
    let start = (lo / step + 1e-9).floor() * step;
    let end = ((hi / step) - 1e-9).ceil() * step;
    (start, end, step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{analyse, AnalysisRequest};
    use crate::table::{read_table, TableFormat};
    use crate::budget::{AnalysisBudget, BoundaryBudget, TableBudget};

    fn setup(names: &[&str]) -> (Boundaries, AnalysisOutcome) {
        let features: Vec<String> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let x = 7.0 + i as f64 * 0.1;
                format!(
                    r#"{{"type":"Feature","properties":{{"WardName":{}}},"geometry":{{"type":"Polygon","coordinates":[[[{x},10],[{a},10],[{a},10.1],[{x},10]]]}}}}"#,
                    serde_json::to_string(n).unwrap(),
                    a = x + 0.1
                )
            })
            .collect();
        let b = Boundaries::parse(format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(",")).as_bytes(), &BoundaryBudget::default()).unwrap();
        let mut csv = String::from("WardName,a,b\n");
        for (i, n) in names.iter().enumerate() {
            csv.push_str(&format!("\"{}\",{},{}\n", n.replace('"', "\"\""), i, (i * 7) % 5));
        }
        let t = read_table(csv.as_bytes(), TableFormat::Csv, &TableBudget::default()).unwrap();
        let out = analyse(&t, None, &AnalysisRequest { imputation: Some(crate::Imputation::Mean), ..Default::default() }, &AnalysisBudget::default()).unwrap();
        (b, out)
    }

    #[test]
    fn round_axis_ticks() {
        assert_eq!(axis(0.0, 0.82), (0.0, 1.0, 0.25));
        assert_eq!(axis(0.0, 1.0), (0.0, 1.0, 0.25));
        assert_eq!(axis(0.0, 1.66), (0.0, 2.0, 0.5));
        let (start, end, step) = axis(-0.3, 0.0);
        assert!((start + 0.3).abs() < 1e-12 && end == 0.0 && (step - 0.1).abs() < 1e-12);
        assert_eq!(axis(0.0, 0.0), (0.0, 1.0, 0.25));
    }

    #[test]
    fn escapes_hostile_text() {
        assert_eq!(escape("<script>&\"'\u{1}x"), "&lt;script&gt;&amp;&quot;&#39;x");
    }

    #[test]
    fn map_has_title_legend_and_tooltips() {
        let (b, out) = setup(&["Alpha", "<b>Beta</b>", "Gamma"]);
        let svg = map_svg(&b, &out, "Kano & co").unwrap();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1000 "));
        assert!(svg.contains("Kano &amp; co"));
        assert!(!svg.contains("<b>"));
        assert!(svg.contains("&lt;b&gt;Beta&lt;/b&gt;: score "));
        assert!(svg.contains("High risk (1)") && svg.contains("Medium risk (1)") && svg.contains("Low risk (1)"));
        assert!(!svg.contains("No data"));
        assert_eq!(svg.matches("<path").count(), 3);
        assert!(!svg.contains("href") && !svg.contains("url("));
    }

    #[test]
    fn map_without_any_match_is_none() {
        let (b, _) = setup(&["A", "B", "C"]);
        let (_, other) = setup(&["X", "Y", "Z"]);
        assert!(map_svg(&b, &other, "t").is_none());
        // An unsuitable PCA-only analysis has no ranking to draw.
        let (b, mut pca_only) = setup(&["A", "B", "C"]);
        pca_only.composite = None;
        assert!(map_svg(&b, &pca_only, "t").is_none());
    }

    #[test]
    fn chart_lists_top_twenty() {
        let names: Vec<String> = (0..25).map(|i| format!("Ward {i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (_, out) = setup(&refs);
        let svg = chart_svg(&out, "Test");
        assert_eq!(svg.matches("<rect x=").count(), 20);
        assert!(svg.contains("The 20 highest-risk wards by composite score"));
    }
}
