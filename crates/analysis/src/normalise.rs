//! Min-max normalisation of a variable, with the reciprocal and complement inversion rules (ANALYSIS.md §4).

use serde::{Deserialize, Serialize};

/// Whether a higher value of a variable means higher (direct) or lower (inverse) malaria risk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Direct,
    Inverse,
}

/// How an inverse variable is turned around before scaling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Inversion {
    /// `1 / (x + 1e-10)`, as the reference does.
    #[default]
    Reciprocal,
    /// `1 - scaled(x)`, which stays monotonic for zero and negative values.
    Complement,
}

/// Keywords whose presence in a variable name makes it protective (inverse) by default.
const INVERSE_KEYWORDS: [&str; 11] = [
    "distance", "elevation", "altitude", "slope", "housing", "quality", "income", "education", "access",
    "urban", "facility",
];

/// The default direction of a variable, from its name.
pub fn default_direction(name: &str) -> Direction {
    let lower = name.to_lowercase();
    if INVERSE_KEYWORDS.iter().any(|k| lower.contains(k)) {
        Direction::Inverse
    } else {
        Direction::Direct
    }
}

/// Why a variable cannot be scaled.
#[derive(Debug, PartialEq)]
pub(crate) enum ScaleError {
    /// The reciprocal rule made a value infinite or NaN (x = -1e-10).
    Reciprocal,
    /// The spread of the values overflows a double.
    Overflow,
}

/// Scales `x` (no missing values) into [0, 1] so that 1 is the highest risk.
pub(crate) fn normalise(x: &[f64], direction: Direction, inversion: Inversion) -> Result<Vec<f64>, ScaleError> {
    match (direction, inversion) {
        (Direction::Direct, _) => min_max(x),
        (Direction::Inverse, Inversion::Complement) => Ok(min_max(x)?.into_iter().map(|v| 1.0 - v).collect()),
        (Direction::Inverse, Inversion::Reciprocal) => {
            let y: Vec<f64> = x.iter().map(|v| 1.0 / (v + 1e-10)).collect();
            if y.iter().any(|v| !v.is_finite()) {
                return Err(ScaleError::Reciprocal);
            }
            min_max(&y)
        }
    }
}

/// `(y - min) / (max - min)`, or 0.5 for every ward when all values are equal.
fn min_max(y: &[f64]) -> Result<Vec<f64>, ScaleError> {
    let min = y.iter().copied().fold(f64::INFINITY, f64::min);
    let max = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if min == max {
        return Ok(vec![0.5; y.len()]);
    }
    if !(max - min).is_finite() {
        return Err(ScaleError::Overflow);
    }
    Ok(y.iter().map(|v| (v - min) / (max - min)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_scales_to_unit_interval() {
        assert_eq!(normalise(&[2.0, 4.0, 10.0], Direction::Direct, Inversion::Reciprocal).unwrap(), [0.0, 0.25, 1.0]);
    }

    #[test]
    fn reciprocal_inversion() {
        // y = 1/(x + 1e-10): 1/1, 1/2, 1/4 (to 1e-10) -> (y - 0.25) / 0.75
        let got = normalise(&[1.0, 2.0, 4.0], Direction::Inverse, Inversion::Reciprocal).unwrap();
        let want = [1.0, (0.5 - 0.25) / 0.75, 0.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-9, "{g} vs {w}");
        }
    }

    #[test]
    fn complement_inversion() {
        assert_eq!(normalise(&[2.0, 4.0, 10.0], Direction::Inverse, Inversion::Complement).unwrap(), [1.0, 0.75, 0.0]);
    }

    #[test]
    fn constant_gives_half() {
        assert_eq!(normalise(&[3.0, 3.0], Direction::Direct, Inversion::Reciprocal).unwrap(), [0.5, 0.5]);
        assert_eq!(normalise(&[3.0, 3.0], Direction::Inverse, Inversion::Reciprocal).unwrap(), [0.5, 0.5]);
    }

    #[test]
    fn reciprocal_refuses_minus_epsilon() {
        assert_eq!(normalise(&[1.0, -1e-10], Direction::Inverse, Inversion::Reciprocal), Err(ScaleError::Reciprocal));
        assert_eq!(normalise(&[-1e308, 1e308], Direction::Direct, Inversion::Reciprocal), Err(ScaleError::Overflow));
        assert!(normalise(&[1.0, -1e-10], Direction::Inverse, Inversion::Complement).is_ok());
    }

    #[test]
    fn keyword_directions() {
        assert_eq!(default_direction("distance_to_waterbodies"), Direction::Inverse);
        assert_eq!(default_direction("Urban_Percentage"), Direction::Inverse);
        assert_eq!(default_direction("housing_quality"), Direction::Inverse);
        assert_eq!(default_direction("u5_tpr_rdt"), Direction::Direct);
        assert_eq!(default_direction("rainfall"), Direction::Direct);
    }
}
