//! Ranking of ward scores and their High/Medium/Low categories (ANALYSIS.md §5).

use std::cmp::Reverse;

use serde::{Deserialize, Serialize};

use crate::total_order;

/// A ward's risk band, from its rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Category {
    High,
    Medium,
    Low,
}

/// The row indices ordered by score, highest first; ties keep table row order so that the
/// result does not depend on the sort algorithm or the machine.
pub(crate) fn order_by_score(scores: &[f64]) -> Vec<usize> {
    // Sorting (key, row) pairs side by side is quicker than sorting rows that point at their scores.
    let mut keyed: Vec<(Reverse<i64>, usize)> = scores.iter().enumerate().map(|(row, &s)| (Reverse(total_order::key(s)), row)).collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, row)| row).collect()
}

/// The category of 1-based `rank` among `n` wards: with `k = n / 3` rounded down, the first k
/// are High, the last k Low.
pub(crate) fn category(rank: usize, n: usize) -> Category {
    let k = n / 3;
    if rank <= k {
        Category::High
    } else if rank > n - k {
        Category::Low
    } else {
        Category::Medium
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_first_ties_in_row_order() {
        assert_eq!(order_by_score(&[0.2, 0.9, 0.2, 0.5]), [1, 3, 0, 2]);
    }

    #[test]
    fn categories_split_in_thirds_rounded_down() {
        let cats: Vec<Category> = (1..=7).map(|r| category(r, 7)).collect();
        use Category::*;
        assert_eq!(cats, [High, High, Medium, Medium, Medium, Low, Low]);
        assert_eq!(category(1, 2), Medium);
        assert_eq!(category(1, 3), High);
        assert_eq!(category(3, 3), Low);
    }
}
