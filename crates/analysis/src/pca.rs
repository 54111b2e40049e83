//! PCA risk score with its suitability checks, KMO and Bartlett's sphericity test (ANALYSIS.md §6).

use nalgebra::{DMatrix, SymmetricEigen};
use statrs::distribution::{ChiSquared, ContinuousCDF};

/// The outcome of fitting a PCA to the analysis variables.
#[derive(Debug, PartialEq)]
pub(crate) struct PcaFit {
    /// Why the data do not suit a PCA; `None` when they do.
    pub reason: Option<String>,
    pub kmo: Option<f64>,
    pub bartlett_p: Option<f64>,
    pub explained_variance_ratio: Vec<f64>,
    /// One score per ward, present only when suitable.
    pub scores: Option<Vec<f64>>,
}

impl PcaFit {
    fn unsuitable(reason: String, kmo: Option<f64>, bartlett_p: Option<f64>) -> Self {
        PcaFit { reason: Some(reason), kmo, bartlett_p, explained_variance_ratio: Vec::new(), scores: None }
    }
}

/// Fits the PCA to `columns` (one complete vector per variable, all of length n).
pub(crate) fn fit(columns: &[Vec<f64>]) -> PcaFit {
    let p = columns.len();
    let n = columns.first().map_or(0, Vec::len);
    if n < p {
        return PcaFit::unsuitable(format!("PCA needs at least as many wards ({n}) as variables ({p})."), None, None);
    }
    if p < 3 {
        return PcaFit::unsuitable(format!("PCA needs at least three variables; this analysis has {p}."), None, None);
    }
    let z = standardise(columns);
    // The correlation matrix of the data is the covariance of the standardised data (population sd).
    let r = z.tr_mul(&z) / n as f64;
    if r.iter().any(|v| !v.is_finite()) {
        return PcaFit::unsuitable("The values are too large to compute a PCA reliably.".into(), None, None);
    }
    let eigen = SymmetricEigen::new(r.clone());
    let det: f64 = eigen.eigenvalues.iter().product();
    // An eigenvalue within rounding error of 0 (numpy's rank tolerance) means R is singular even
    // if rounding left its determinant a hair above 0; otherwise row order could decide.
    let largest = eigen.eigenvalues.max();
    let smallest = eigen.eigenvalues.min();
    if det.is_nan() || det <= 0.0 || smallest <= largest * p as f64 * f64::EPSILON {
        return PcaFit::unsuitable(
            "The variables are perfectly correlated (the correlation matrix is singular), so PCA cannot be used.".into(),
            None,
            None,
        );
    }
    let kmo = kmo(&r, &eigen);
    let chi2 = -((n as f64 - 1.0) - (2.0 * p as f64 + 5.0) / 6.0) * det.ln();
    let df = (p * (p - 1) / 2) as f64;
    let bartlett_p = ChiSquared::new(df).map(|d| d.sf(chi2)).unwrap_or(f64::NAN);
    if kmo.is_nan() || kmo < 0.5 {
        return PcaFit::unsuitable(
            format!("The variables share too little common variation for PCA (KMO {kmo:.3} is below 0.5)."),
            Some(kmo),
            Some(bartlett_p),
        );
    }
    if bartlett_p.is_nan() || bartlett_p >= 0.05 {
        return PcaFit::unsuitable(
            format!("The variables are not correlated enough for PCA (Bartlett's test p = {bartlett_p:.3}, not below 0.05)."),
            Some(kmo),
            Some(bartlett_p),
        );
    }

    let mut order: Vec<usize> = (0..p).collect();
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let total: f64 = eigen.eigenvalues.iter().sum();
    let k = p.min(2.max(p * 4 / 5));
    let used = k.min(3);
    let mut scores = vec![0.0; n];
    let mut ratios = Vec::with_capacity(k);
    for (i, &component) in order.iter().take(k).enumerate() {
        let ratio = eigen.eigenvalues[component] / total;
        ratios.push(ratio);
        if i >= used {
            continue;
        }
        let mut loading: Vec<f64> = eigen.eigenvectors.column(component).iter().copied().collect();
        // Fix the sign as scikit-learn does: the loading of largest magnitude (first on a tie) is positive.
        let largest = loading.iter().enumerate().fold(0, |best, (j, v)| if v.abs() > loading[best].abs() { j } else { best });
        if loading[largest] < 0.0 {
            loading.iter_mut().for_each(|v| *v = -*v);
        }
        for (ward, score) in scores.iter_mut().enumerate() {
            let pc: f64 = (0..p).map(|j| z[(ward, j)] * loading[j]).sum();
            *score += pc * ratio;
        }
    }
    PcaFit { reason: None, kmo: Some(kmo), bartlett_p: Some(bartlett_p), explained_variance_ratio: ratios, scores: Some(scores) }
}

/// The n x p matrix of `(x - mean) / sd`, with the population sd.
fn standardise(columns: &[Vec<f64>]) -> DMatrix<f64> {
    let n = columns[0].len();
    let mut z = DMatrix::zeros(n, columns.len());
    for (j, x) in columns.iter().enumerate() {
        let mean = x.iter().sum::<f64>() / n as f64;
        let sd = (x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64).sqrt();
        for (i, v) in x.iter().enumerate() {
            z[(i, j)] = (v - mean) / sd;
        }
    }
    z
}

/// Kaiser-Meyer-Olkin measure, with partial correlations from the pseudo-inverse of R.
fn kmo(r: &DMatrix<f64>, eigen: &SymmetricEigen<f64, nalgebra::Dyn>) -> f64 {
    let p = r.nrows();
    // Pseudo-inverse from the eigen-decomposition, with numpy's cut-off for negligible values.
    let largest = eigen.eigenvalues.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let cutoff = 1e-15 * largest;
    let inverse = eigen.eigenvalues.map(|v| if v.abs() > cutoff { 1.0 / v } else { 0.0 });
    let vectors = &eigen.eigenvectors;
    let pinv = vectors * DMatrix::from_diagonal(&inverse) * vectors.transpose();
    let (mut r2, mut q2) = (0.0, 0.0);
    for i in 0..p {
        for j in 0..p {
            if i != j {
                let q = -pinv[(i, j)] / (pinv[(i, i)] * pinv[(j, j)]).sqrt();
                r2 += r[(i, j)] * r[(i, j)];
                q2 += q * q;
            }
        }
    }
    r2 / (r2 + q2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_few_variables_or_wards() {
        assert!(fit(&[vec![1.0, 2.0, 3.0], vec![3.0, 1.0, 2.0]]).reason.unwrap().contains("three"));
        let two_wards = vec![vec![1.0, 2.0]; 3];
        assert!(fit(&two_wards).reason.unwrap().contains("as many wards"));
    }

    #[test]
    fn singular_correlation_is_unsuitable() {
        let x = vec![1.0, 2.0, 3.0, 4.0];
        let fit = fit(&[x.clone(), x.iter().map(|v| v * 2.0).collect(), vec![4.0, 1.0, 3.0, 2.0]]);
        assert!(fit.reason.unwrap().contains("singular"));
    }

    #[test]
    fn overflowing_values_are_unsuitable_not_a_panic() {
        // The sum of the first column overflows, so its mean and standardised values are not finite.
        let fit = fit(&[vec![1e308, 1e308, 1e308, -1e308], vec![1.0, 2.0, 3.0, 5.0], vec![4.0, 1.0, 3.0, 2.0]]);
        assert!(fit.reason.unwrap().contains("too large"));
    }

    #[test]
    fn bartlett_by_hand() {
        // Three variables over four wards: x, then y and w built so that R has r_xy = 0.8 and
        // the other correlations 0, giving det R = 1 - 0.64 = 0.36.
        // chi2 = -((4 - 1) - (2*3 + 5) / 6) * ln 0.36 = -(3 - 11/6) * ln 0.36, df = 3.
        let x = vec![1.0, -1.0, 1.0, -1.0];
        let e = vec![1.0, -1.0, -1.0, 1.0];
        let w = vec![1.0, 1.0, -1.0, -1.0];
        let y: Vec<f64> = x.iter().zip(&e).map(|(a, b)| 0.8 * a + 0.6 * b).collect();
        let z = standardise(&[x, y, w]);
        let r = z.tr_mul(&z) / 4.0;
        assert!((r[(0, 1)] - 0.8).abs() < 1e-12 && r[(0, 2)].abs() < 1e-12 && r[(1, 2)].abs() < 1e-12);
        let chi2 = -(3.0 - 11.0 / 6.0) * 0.36f64.ln();
        // The chi-squared survival function with 3 degrees of freedom has the closed form
        // erfc(sqrt(c/2)) + sqrt(2c/pi) exp(-c/2).
        let want = statrs::function::erf::erfc((chi2 / 2.0).sqrt()) + (2.0 * chi2 / std::f64::consts::PI).sqrt() * (-chi2 / 2.0).exp();
        let fitted = fit(&[vec![1.0, -1.0, 1.0, -1.0], vec![1.4, -1.4, 0.2, -0.2], vec![1.0, 1.0, -1.0, -1.0]]);
        // statrs's regularised gamma agrees with the closed form to about 1e-11.
        assert!((fitted.bartlett_p.unwrap() - want).abs() < 1e-9 * want, "{:?} vs {want}", fitted.bartlett_p);
    }

    #[test]
    fn kmo_of_three_variables_by_hand() {
        // With all correlations equal to r, R^-1 has off-diagonal -r / ((1 - r)(1 + 2r)) and
        // diagonal (1 + r) / ((1 - r)(1 + 2r)), so the partial correlation is q = r / (1 + r)
        // and KMO = r^2 / (r^2 + q^2) = (1 + r)^2 / ((1 + r)^2 + 1).
        let r = 0.5;
        let m = DMatrix::from_fn(3, 3, |i, j| if i == j { 1.0 } else { r });
        let eigen = SymmetricEigen::new(m.clone());
        let want = (1.0f64 + r).powi(2) / ((1.0 + r).powi(2) + 1.0);
        assert!((kmo(&m, &eigen) - want).abs() < 1e-12);
    }
}
