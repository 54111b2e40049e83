//! Agreement with the reference pipeline on the sample tables, to 1e-9 relative.
//!
//! The expected numbers were computed once with pandas, scikit-learn 1.9 (`StandardScaler`,
//! `PCA`) and scipy (`chi2.sf`), following ANALYSIS.md step by step on the files in
//! `shared/data/`; Queen neighbours for the spatial runs came from shared vertex coordinates.

use mrpt_analysis::{analyse, AnalysisBudget, read_table, AnalysisOutcome, AnalysisRequest, BoundaryBudget, Boundaries, Imputation, TableBudget, Inversion, TableFormat, WardTable};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/");

fn load(name: &str) -> WardTable {
    let bytes = std::fs::read(format!("{DATA}{name}")).unwrap();
    read_table(&bytes, TableFormat::Csv, &TableBudget::default()).unwrap()
}

fn boundaries(name: &str) -> Boundaries {
    Boundaries::parse(&std::fs::read(format!("{DATA}{name}")).unwrap(), &BoundaryBudget::default()).unwrap()
}

fn close(got: f64, want: f64, what: &str) {
    let tolerance = 1e-9 * want.abs().max(1e-6);
    assert!((got - want).abs() <= tolerance, "{what}: got {got:e}, want {want:e}");
}

/// Scores in table row order, for the rows asked.
fn by_row(table: &WardTable, wards: &[mrpt_analysis::Ranked], rows: &[usize]) -> Vec<f64> {
    let names = table.ward_names();
    rows.iter().map(|&r| wards.iter().find(|w| *w.ward == names[r]).unwrap().score).collect()
}

struct Expected {
    rows: &'static [usize],
    kmo: f64,
    bartlett_p: f64,
    evr: &'static [f64],
    composite: &'static [f64],
    pca: &'static [f64],
}

fn check(table: &WardTable, outcome: &AnalysisOutcome, want: &Expected) {
    let composite = outcome.composite.as_ref().unwrap();
    for (i, (g, w)) in by_row(table, &composite.wards, want.rows).iter().zip(want.composite).enumerate() {
        close(*g, *w, &format!("composite row {}", want.rows[i]));
    }
    let pca = outcome.pca.as_ref().unwrap();
    assert!(pca.suitable, "{:?}", pca.reason);
    close(pca.kmo.unwrap(), want.kmo, "kmo");
    close(pca.bartlett_p.unwrap(), want.bartlett_p, "bartlett p");
    assert_eq!(pca.explained_variance_ratio.len(), want.evr.len());
    for (g, w) in pca.explained_variance_ratio.iter().zip(want.evr) {
        close(*g, *w, "explained variance ratio");
    }
    for (i, (g, w)) in by_row(table, &pca.wards, want.rows).iter().zip(want.pca).enumerate() {
        close(*g, *w, &format!("pca row {}", want.rows[i]));
    }
}

#[test]
fn tiny_by_default_rules() {
    let t = load("tiny_wards.csv");
    let out = analyse(&t, None, &AnalysisRequest::default(), &AnalysisBudget::default()).unwrap();
    let names: Vec<&str> = out.variables.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["u5_tpr_rdt", "distance_to_waterbodies", "rainfall", "soil_wetness", "urban_percentage"]);
    let composite = out.composite.as_ref().unwrap();
    assert_eq!(composite.models.len(), 26);
    let want = [
        0.5234812972299887, 0.8217989804714796, 0.4009840639926753, 0.4108898318580788, 0.21811343347242815,
        0.6516082945298655, 0.8595627605253175, 0.5715167561949646, 0.2447775175007572, 0.2639164048150807,
    ];
    for (g, w) in by_row(&t, &composite.wards, &(0..10).collect::<Vec<_>>()).iter().zip(want) {
        close(*g, w, "tiny composite");
    }
    let ranks: Vec<&str> = composite.wards.iter().map(|w| &*w.ward).collect();
    assert_eq!(ranks[..2], ["Muraka Kudu", "Kaki"]);
    let pca = out.pca.as_ref().unwrap();
    assert!(!pca.suitable);
    assert!(pca.reason.as_ref().unwrap().contains("KMO"));
    close(pca.kmo.unwrap(), 0.44188884348810553, "tiny kmo");
    close(pca.bartlett_p.unwrap(), 0.001393107331856554, "tiny bartlett p");
    assert!(pca.wards.is_empty());
}

#[test]
fn tiny_complement() {
    let t = load("tiny_wards.csv");
    let req = AnalysisRequest { inversion: Some(Inversion::Complement), ..Default::default() };
    let out = analyse(&t, None, &req, &AnalysisBudget::default()).unwrap();
    let want = [
        0.678871207960456, 0.8736488907483015, 0.49335990619046244, 0.49986488503465176, 0.3970229348824351,
        0.6982122362761727, 0.9711628451099672, 0.7462849466406823, 0.46361271700524853, 0.39363082931656557,
    ];
    for (g, w) in by_row(&t, &out.composite.unwrap().wards, &(0..10).collect::<Vec<_>>()).iter().zip(want) {
        close(*g, w, "tiny complement");
    }
}

#[test]
fn kano_mean() {
    let t = load("kano_like_wards.csv");
    let out = analyse(&t, None, &AnalysisRequest::default(), &AnalysisBudget::default()).unwrap();
    assert_eq!(out.composite.as_ref().unwrap().models.len(), 16);
    assert!(out.warnings.iter().any(|w| w.contains("urban_percentage")), "{:?}", out.warnings);
    check(&t, &out, &Expected {
        rows: &[0, 1, 2, 14, 22, 29, 32, 49],
        kmo: 0.5367768536032503,
        bartlett_p: 7.391145116114388e-236,
        evr: &[0.38576340792636166, 0.3099270012693735, 0.13200206530837452, 0.08792424228282023],
        composite: &[0.3943281385017228, 0.4334950763418764, 0.7770893975754259, 0.3114413454128412, 0.5267884753370029, 0.6303265611841713, 0.520020682217335, 0.39856983499419996],
        pca: &[-0.5257090156915303, -0.49602152356531337, -0.060529756348242966, -0.236282073926698, -0.30422030767820313, 0.26520149181184827, -0.37167272552934993, -0.3300586765811676],
    });
}

#[test]
fn kano_spatial() {
    let t = load("kano_like_wards.csv");
    let b = boundaries("kano_like_wards.geojson");
    let out = analyse(&t, Some(&b), &AnalysisRequest::default(), &AnalysisBudget::default()).unwrap();
    assert!(out.unmatched_wards.is_empty());
    check(&t, &out, &Expected {
        rows: &[0, 1, 2, 14, 22, 29, 32, 49],
        kmo: 0.5162790864888657,
        bartlett_p: 7.247513193288105e-257,
        evr: &[0.39029064240276923, 0.3121935499824052, 0.13246332531572463, 0.08681335565677625],
        composite: &[0.3943281385017228, 0.4334950763418764, 0.7770893975754259, 0.4054747335399852, 0.4820205249901193, 0.5777431893323937, 0.5486825037209047, 0.39856983499419996],
        pca: &[-0.5294024319342153, -0.4960473303789715, -0.0420993692632268, -0.4770785023508688, -0.18138482935342587, 0.37391865262547536, -0.02878203950229602, -0.40502117520085923],
    });
}

#[test]
fn adamawa_mean() {
    let t = load("adamawa_like_wards.csv");
    let b = boundaries("adamawa_like_wards.geojson");
    let req = AnalysisRequest { imputation: Some(Imputation::Mean), ..Default::default() };
    let out = analyse(&t, Some(&b), &req, &AnalysisBudget::default()).unwrap();
    check(&t, &out, &Expected {
        rows: &[0, 1, 2, 7, 9, 13, 16, 19],
        kmo: 0.5683817953702189,
        bartlett_p: 3.6393084495938054e-97,
        evr: &[0.49416354798554407, 0.29315324936671877, 0.11090178781865717, 0.06832104233925598],
        composite: &[0.621146061961861, 0.6128903346943019, 0.4672565665855392, 0.3329605279188349, 0.29990711630048306, 0.30874956434270784, 0.24630994235670076, 0.20394624660916266],
        pca: &[1.6607977797887143, 1.2207475877990308, 0.816320663711569, 0.12454912484055698, -0.08990829183039711, -0.18096994779594627, -0.42271747996752684, -0.7926159231332828],
    });
}

#[test]
fn adamawa_spatial() {
    let t = load("adamawa_like_wards.csv");
    let b = boundaries("adamawa_like_wards.geojson");
    let out = analyse(&t, Some(&b), &AnalysisRequest::default(), &AnalysisBudget::default()).unwrap();
    check(&t, &out, &Expected {
        rows: &[0, 1, 2, 7, 9, 13, 16, 19],
        kmo: 0.5555322024728505,
        bartlett_p: 5.945849161345373e-103,
        evr: &[0.4970711402046962, 0.2953128928030853, 0.1103630286813669, 0.06752888100777132],
        composite: &[0.621146061961861, 0.6128903346943019, 0.4672565665855392, 0.3329605279187195, 0.2919951013822515, 0.30874956434563405, 0.24131074748827636, 0.20394624661964153],
        pca: &[1.6619317462827492, 1.2462338196143072, 0.8491574374081475, 0.12292836586537792, -0.19725324664733765, -0.18033228664968867, -0.5872821629240913, -0.7771826397211181],
    });
}
