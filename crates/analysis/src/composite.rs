//! Composite score models: subsets of the variables, and each ward's median model score (ANALYSIS.md §5).

use crate::total_order;

/// The models as lists of variable indices, in the order `itertools.combinations` yields them.
pub(crate) fn models(variables: usize) -> Vec<Vec<usize>> {
    if variables <= 5 {
        return (2..=variables).flat_map(|size| combinations(variables, size)).collect();
    }
    let mut out: Vec<Vec<usize>> = combinations(5, 2).into_iter().take(10).collect();
    out.extend(combinations(5, 3).into_iter().take(5));
    out.extend(combinations(5, 5));
    out
}

/// Every `size`-subset of `0..n` in lexicographic order.
fn combinations(n: usize, size: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut pick: Vec<usize> = (0..size).collect();
    if size > n {
        return out;
    }
    loop {
        out.push(pick.clone());
        let Some(i) = (0..size).rev().find(|&i| pick[i] < n - size + i) else { return out };
        pick[i] += 1;
        for j in i + 1..size {
            pick[j] = pick[j - 1] + 1;
        }
    }
}

/// Wards scored together: the models' sums run down columns of this many wards, which the
/// compiler vectorises, and the block's scores stay in the first-level cache.
const BLOCK: usize = 64;

/// Each ward's composite score: the median over models of the mean of its normalised values.
pub(crate) fn composite_scores(normalised: &[Vec<f64>], models: &[Vec<usize>]) -> Vec<f64> {
    let n = normalised.first().map_or(0, Vec::len);
    let mut scores = Vec::with_capacity(n);
    let mut sums = [0.0; BLOCK];
    // Each ward's model scores side by side, as keys ready for its median.
    let mut keys = vec![0; BLOCK * models.len()];
    for start in (0..n).step_by(BLOCK) {
        let wards = start..n.min(start + BLOCK);
        let sums = &mut sums[..wards.len()];
        for (m, model) in models.iter().enumerate() {
            // Variables are added in the model's order, so each sum rounds as a ward-by-ward sum would.
            sums.copy_from_slice(&normalised[model[0]][wards.clone()]);
            for &v in &model[1..] {
                for (sum, x) in sums.iter_mut().zip(&normalised[v][wards.clone()]) {
                    *sum += x;
                }
            }
            for (ward_keys, sum) in keys.chunks_exact_mut(models.len()).zip(sums.iter()) {
                ward_keys[m] = total_order::key(sum / model.len() as f64);
            }
        }
        scores.extend(keys.chunks_exact_mut(models.len()).take(wards.len()).map(median));
    }
    scores
}

/// The median of values given as their [`total_order::key`]s.
fn median(keys: &mut [i64]) -> f64 {
    keys.sort_unstable();
    let mid = keys.len() / 2;
    if keys.len() % 2 == 1 {
        total_order::from_key(keys[mid])
    } else {
        (total_order::from_key(keys[mid - 1]) + total_order::from_key(keys[mid])) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_counts() {
        assert_eq!(models(2), [vec![0, 1]]);
        assert_eq!(models(3), [vec![0, 1], vec![0, 2], vec![1, 2], vec![0, 1, 2]]);
        assert_eq!(models(5).len(), 26);
        let seven = models(7);
        assert_eq!(seven.len(), 16);
        assert_eq!(seven[10..15], [vec![0, 1, 2], vec![0, 1, 3], vec![0, 1, 4], vec![0, 2, 3], vec![0, 2, 4]]);
        assert_eq!(seven[15], [0, 1, 2, 3, 4]);
    }

    #[test]
    fn median_of_model_means() {
        // Ward 0 values (0, 0.5, 1): models {0,1}=0.25, {0,2}=0.5, {1,2}=0.75, {0,1,2}=0.5 -> median 0.5.
        // Ward 1 values (1, 1, 0): 1, 0.5, 0.5, 2/3 -> sorted 0.5, 0.5, 2/3, 1 -> (0.5 + 2/3) / 2.
        let normalised = vec![vec![0.0, 1.0], vec![0.5, 1.0], vec![1.0, 0.0]];
        let got = composite_scores(&normalised, &models(3));
        assert_eq!(got[0], 0.5);
        assert!((got[1] - (0.5 + 2.0 / 3.0) / 2.0).abs() < 1e-15);
    }
}
