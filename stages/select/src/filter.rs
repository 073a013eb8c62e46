//! Algorithm 1: univariate filter ranking.

use ndarray::{ArrayView2, Axis};
use rayon::prelude::*;

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

/// Mutual information between each column and the class labels, by the
/// nearest-neighbour estimator of Ross (2014) that scikit-learn's
/// `mutual_info_classif` uses (`n_neighbors` = 3 there), in nats.
///
/// Per point: `d` is the distance to its k-th nearest neighbour of the same
/// class, `m` the number of points of any class strictly closer than `d`
/// (itself included); MI = psi(N) + <psi(k)> - <psi(N_class)> - <psi(m)>,
/// clipped at 0. Points alone in their class are left out, as sklearn
/// does. Unlike sklearn, no jitter is added to break ties, so the result is
/// deterministic; on tie-free data the two agree.
pub fn mutual_information(x: ArrayView2<f64>, y: &[usize], n_neighbors: usize) -> Vec<f64> {
    let n_classes = y.iter().copied().max().map_or(0, |m| m + 1);
    let mut counts = vec![0usize; n_classes];
    for &c in y {
        counts[c] += 1;
    }
    // Rows that take part: their class has at least two members.
    let rows: Vec<usize> = (0..y.len()).filter(|&i| counts[y[i]] > 1).collect();
    let n = rows.len();
    if n == 0 || n_neighbors == 0 {
        return vec![0.0; x.ncols()];
    }
    let psi = Digamma::up_to(n);
    let mean_psi_class = rows.iter().map(|&i| psi.at(counts[y[i]])).sum::<f64>() / n as f64;
    let mean_psi_k = rows
        .iter()
        .map(|&i| psi.at(n_neighbors.min(counts[y[i]] - 1)))
        .sum::<f64>()
        / n as f64;
    (0..x.ncols())
        .into_par_iter()
        .map(|j| {
            let col = x.column(j);
            let mut all: Vec<f64> = rows.iter().map(|&i| col[i]).collect();
            all.sort_by(f64::total_cmp);
            let mut psi_m = 0.0;
            for (class, &count) in counts.iter().enumerate() {
                if count < 2 {
                    continue;
                }
                let mut values: Vec<f64> = rows
                    .iter()
                    .filter(|&&i| y[i] == class)
                    .map(|&i| col[i])
                    .collect();
                values.sort_by(f64::total_cmp);
                let k = n_neighbors.min(values.len() - 1);
                for (p, &v) in values.iter().enumerate() {
                    let d = kth_neighbour_distance(&values, p, k);
                    // Strictly closer than the k-th neighbour: sklearn counts
                    // distances <= nextafter(d, 0). Distances are compared as
                    // |a - v|, not against v +- d, whose rounding can let the
                    // neighbour itself in.
                    let radius = if d > 0.0 {
                        f64::from_bits(d.to_bits() - 1)
                    } else {
                        0.0
                    };
                    let below = all.partition_point(|&a| v - a > radius);
                    let within = all.partition_point(|&a| a - v <= radius);
                    let m = within.saturating_sub(below).max(1);
                    psi_m += psi.at(m);
                }
            }
            let mi = psi.at(n) + mean_psi_k - mean_psi_class - psi_m / n as f64;
            mi.max(0.0)
        })
        .collect()
}

/// Distance from `sorted[p]` to its k-th nearest other value in `sorted`.
fn kth_neighbour_distance(sorted: &[f64], p: usize, k: usize) -> f64 {
    let v = sorted[p];
    let (mut left, mut right) = (p, p + 1);
    let mut d = 0.0;
    for _ in 0..k {
        let dl = if left > 0 {
            v - sorted[left - 1]
        } else {
            f64::INFINITY
        };
        let dr = if right < sorted.len() {
            sorted[right] - v
        } else {
            f64::INFINITY
        };
        if dl <= dr {
            d = dl;
            left -= 1;
        } else {
            d = dr;
            right += 1;
        }
    }
    d
}

/// The digamma function at positive integers, psi(n) = H(n-1) - gamma,
/// tabulated (the estimator only ever needs integers up to N).
struct Digamma(Vec<f64>);

impl Digamma {
    fn up_to(n: usize) -> Digamma {
        const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
        let mut table = Vec::with_capacity(n + 1);
        table.push(f64::NAN); // psi(0) is undefined and never asked for
        let mut harmonic = 0.0;
        for i in 1..=n {
            table.push(harmonic - EULER_GAMMA);
            harmonic += 1.0 / i as f64;
        }
        Digamma(table)
    }

    fn at(&self, n: usize) -> f64 {
        self.0[n]
    }
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
    fn mutual_information_matches_sklearn() {
        // sklearn.feature_selection.mutual_info_classif(X, y, n_neighbors=3,
        // random_state=0) on this X, y gave [0.34486771, 0.0, 0.55760618].
        let n = 30;
        let y: Vec<usize> = (0..n).map(|i| i % 3).collect();
        let x = ndarray::Array2::from_shape_fn((n, 3), |(i, j)| {
            let (t, c) = (i as f64, y[i] as f64);
            match j {
                0 => (t * 1.7).sin() + 0.8 * c,
                1 => (t * 2.3).cos(),
                _ => (if y[i] == 1 { 2.0 } else { 0.0 }) + (t * 0.37).sin() * 0.3,
            }
        });
        let mi = mutual_information(x.view(), &y, 3);
        let expected = [0.34486771, 0.0, 0.55760618];
        for (ours, sklearn) in mi.iter().zip(expected) {
            assert!((ours - sklearn).abs() < 1e-6, "{mi:?} vs {expected:?}");
        }
    }

    #[test]
    fn digamma_at_integers() {
        // scipy.special.digamma(1), digamma(2), digamma(10)
        let psi = Digamma::up_to(10);
        assert!((psi.at(1) + 0.5772156649015329).abs() < 1e-15);
        assert!((psi.at(2) - 0.42278433509846713).abs() < 1e-15);
        assert!((psi.at(10) - 2.251752589066721).abs() < 1e-14);
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
