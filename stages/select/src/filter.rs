//! Algorithm 1: univariate filter ranking.

use ndarray::{ArrayView2, Axis};

use crate::Keep;

/// One-way ANOVA F statistic of each column against the class labels, as
/// scikit-learn's `f_classif`: between-class mean square over
/// within-class mean square. Constant columns score 0 (sklearn gives NaN,
/// which ranks last there too).
pub fn anova_f(x: ArrayView2<f64>, y: &[usize]) -> Vec<f64> {
    let n = x.nrows();
    let n_classes = y.iter().copied().max().map_or(0, |m| m + 1);
    let mut counts = vec![0usize; n_classes];
    for &c in y {
        counts[c] += 1;
    }
    let k = counts.iter().filter(|&&c| c > 0).count();
    if k < 2 || n <= k {
        return vec![0.0; x.ncols()];
    }
    x.axis_iter(Axis(1))
        .map(|col| {
            let mean = col.sum() / n as f64;
            let mut sums = vec![0f64; n_classes];
            for (&v, &c) in col.iter().zip(y) {
                sums[c] += v;
            }
            let between: f64 = (0..n_classes)
                .filter(|&c| counts[c] > 0)
                .map(|c| counts[c] as f64 * (sums[c] / counts[c] as f64 - mean).powi(2))
                .sum();
            let within: f64 = col
                .iter()
                .zip(y)
                .map(|(&v, &c)| (v - sums[c] / counts[c] as f64).powi(2))
                .sum();
            let f = (between / (k - 1) as f64) / (within / (n - k) as f64);
            if f.is_finite() { f } else { 0.0 }
        })
        .collect()
}

/// Column indices ordered from best to worst score (ties by index).
pub fn ranking(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
}

/// The top columns by score, in ranking order.
pub fn top(scores: &[f64], keep: Keep) -> Vec<usize> {
    let mut order = ranking(scores);
    order.truncate(keep.resolve(scores.len()));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn anova_matches_sklearn_f_classif() {
        // sklearn.feature_selection.f_classif(X, y) gives F[0] = 8.0 and
        // F[1] = 0.0 (column 1 is identical across classes); column 2 is
        // constant (sklearn: NaN, here 0).
        let x = array![
            [1.0, 1.0, 5.0],
            [2.0, 2.0, 5.0],
            [3.0, 1.0, 5.0],
            [4.0, 2.0, 5.0]
        ];
        let y = [0, 0, 1, 1];
        let f = anova_f(x.view(), &y);
        // Class means 1.5 and 3.5, grand mean 2.5: between = 4 (df 1),
        // within = 1 (df 2): F = 4 / 0.5 = 8.
        assert!((f[0] - 8.0).abs() < 1e-12, "{f:?}");
        assert_eq!(f[1], 0.0);
        assert_eq!(f[2], 0.0);
    }

    #[test]
    fn top_keeps_a_count_or_a_fraction() {
        let scores = [0.5, 3.0, 1.0, 3.0];
        assert_eq!(ranking(&scores), [1, 3, 2, 0]);
        assert_eq!(top(&scores, Keep::Count(2)), [1, 3]);
        assert_eq!(top(&scores, Keep::Fraction(0.75)), [1, 3, 2]);
        assert_eq!(top(&scores, Keep::Count(10)).len(), 4);
    }
}
