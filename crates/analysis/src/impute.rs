//! Filling missing numeric cells: by column mean, or by the mean of Queen neighbours (ANALYSIS.md §2).

use serde::{Deserialize, Serialize};

/// How missing cells of the analysis variables are filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Imputation {
    Mean,
    Spatial,
}

/// Mean of the present values (NaN marks missing), or 0 when there is none.
fn column_mean(values: &[f64]) -> f64 {
    let (sum, count) = values.iter().filter(|v| !v.is_nan()).fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    if count == 0 {
        0.0
    } else {
        sum / count as f64
    }
}

/// Fills each missing cell with the column mean; returns the values and how many were filled.
pub(crate) fn impute_mean(values: &[f64]) -> (Vec<f64>, usize) {
    let mean = column_mean(values);
    fill(values, |_| mean)
}

/// Fills each missing cell with the mean of its neighbours' original values (`neighbours[row]`
/// lists table rows), or the column mean when no neighbour has a value.
pub(crate) fn impute_spatial(values: &[f64], neighbours: &[Vec<usize>]) -> (Vec<f64>, usize) {
    let mean = column_mean(values);
    fill(values, |row| {
        let (sum, count) = neighbours[row]
            .iter()
            .map(|&n| values[n])
            .filter(|v| !v.is_nan())
            .fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
        if count == 0 {
            mean
        } else {
            sum / count as f64
        }
    })
}

fn fill(values: &[f64], mut value_for: impl FnMut(usize) -> f64) -> (Vec<f64>, usize) {
    let mut filled = 0;
    let out = values
        .iter()
        .enumerate()
        .map(|(row, &v)| {
            if v.is_nan() {
                filled += 1;
                value_for(row)
            } else {
                v
            }
        })
        .collect();
    (out, filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NA: f64 = f64::NAN;

    #[test]
    fn mean_fills_missing() {
        assert_eq!(impute_mean(&[1.0, NA, 4.0, NA]), (vec![1.0, 2.5, 4.0, 2.5], 2));
        assert_eq!(impute_mean(&[NA, NA]), (vec![0.0, 0.0], 2));
        assert_eq!(impute_mean(&[3.0]), (vec![3.0], 0));
    }

    #[test]
    fn spatial_uses_original_neighbour_values() {
        // Row 1 neighbours rows 0, 2 (2 is missing too, so only row 0 counts) and 3.
        // Row 2 neighbours only row 1, which is missing: column mean (1 + 5 + 9) / 3 = 5.
        let values = [1.0, NA, NA, 5.0, 9.0];
        let neighbours = vec![vec![1], vec![0, 2, 3], vec![1], vec![1], vec![]];
        assert_eq!(impute_spatial(&values, &neighbours), (vec![1.0, 3.0, 5.0, 5.0, 9.0], 2));
    }
}
