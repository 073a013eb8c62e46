//! k-nearest neighbours by brute force on matrix products.
//!
//! Squared Euclidean distances come from one matrix product per block of
//! test rows ([`crate::distance`], as scikit-learn's brute-force search
//! computes them), then the k smallest per row are picked with a partial
//! selection. linfa-nn's `LinearSearch`, which ser used first, walks the
//! training rows one by one per query with a heap; on the 645-column
//! acoustic set it made k-NN's grid search the slowest part of its node.

use ndarray::{ArrayView2, s};

use crate::argmax;
use crate::distance::{row_norms_sq, squared_distances};

/// Test rows handled per matrix product, to bound the distance block's
/// memory (rows x training rows x 8 bytes).
const BLOCK_ROWS: usize = 512;

/// The `k` nearest training rows of each test row, nearest first, as
/// (training row, squared distance); ties go to the lower training row.
pub fn neighbours(
    train: ArrayView2<f64>,
    test: ArrayView2<f64>,
    k: usize,
) -> Vec<Vec<(usize, f64)>> {
    let k = k.min(train.nrows());
    let train_sq = row_norms_sq(train);
    let mut out = Vec::with_capacity(test.nrows());
    for start in (0..test.nrows()).step_by(BLOCK_ROWS) {
        let block = test.slice(s![start..(start + BLOCK_ROWS).min(test.nrows()), ..]);
        for row in squared_distances(block, train, &train_sq).outer_iter() {
            let mut d: Vec<(usize, f64)> = row.iter().copied().enumerate().collect();
            let nearer =
                |a: &(usize, f64), b: &(usize, f64)| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0));
            if k < d.len() {
                d.select_nth_unstable_by(k, nearer);
                d.truncate(k);
            }
            d.sort_unstable_by(nearer);
            out.push(d);
        }
    }
    out
}

/// A fitted k-NN: the training rows and their labels.
pub struct Knn<'a> {
    pub train: ArrayView2<'a, f64>,
    pub labels: &'a [usize],
    pub k: usize,
    /// Votes weigh 1 / distance instead of 1.
    pub distance_weighted: bool,
}

impl<'a> Knn<'a> {
    pub fn new(
        train: ArrayView2<'a, f64>,
        labels: &'a [usize],
        k: usize,
        distance_weighted: bool,
    ) -> Self {
        Knn {
            train,
            labels,
            k,
            distance_weighted,
        }
    }

    /// The vote of each test row's `k` nearest training rows: one vote
    /// each, or 1 / distance with `distance_weighted`; ties go to the lower
    /// class.
    pub fn predict(&self, test: ArrayView2<f64>) -> Vec<usize> {
        self.votes(test).into_iter().map(argmax).collect()
    }

    /// Each test row's votes as class shares (summing to 1).
    pub fn probabilities(&self, test: ArrayView2<f64>) -> Vec<Vec<f64>> {
        self.votes(test)
            .into_iter()
            .map(|v| {
                let total: f64 = v.iter().sum();
                v.into_iter().map(|x| x / total).collect()
            })
            .collect()
    }

    /// Per test row, per class, the votes of its nearest training rows.
    fn votes(&self, test: ArrayView2<f64>) -> Vec<Vec<f64>> {
        let n_classes = self.labels.iter().copied().max().map_or(0, |m| m + 1);
        neighbours(self.train, test, self.k)
            .into_iter()
            .map(|near| {
                let mut votes = vec![0f64; n_classes];
                for (i, d_sq) in near {
                    votes[self.labels[i]] += if self.distance_weighted {
                        1.0 / d_sq.sqrt().max(1e-12)
                    } else {
                        1.0
                    };
                }
                votes
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn neighbours_are_the_nearest_by_direct_distance() {
        let train =
            Array2::from_shape_fn((700, 9), |(i, j)| ((i * 31 + j * 7) as f64 * 0.11).sin());
        let test = Array2::from_shape_fn((600, 9), |(i, j)| ((i * 17 + j * 5) as f64 * 0.23).cos());
        let found = neighbours(train.view(), test.view(), 4);
        assert_eq!(found.len(), 600, "rows of every block");
        for (t, near) in test.outer_iter().zip(&found) {
            let mut direct: Vec<(usize, f64)> = train
                .outer_iter()
                .enumerate()
                .map(|(i, r)| (i, crate::distance::direct_squared_distance(r, t)))
                .collect();
            direct.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            let ids: Vec<usize> = near.iter().map(|n| n.0).collect();
            let want: Vec<usize> = direct[..4].iter().map(|n| n.0).collect();
            assert_eq!(ids, want);
            for ((_, got), (_, exact)) in near.iter().zip(&direct) {
                assert!((got - exact).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn votes_uniform_or_by_inverse_distance() {
        // One test point at 0: two class-1 rows at distance 1, one class-0
        // row at distance 0.1.
        let train = ndarray::array![[1.0], [-1.0], [0.1], [50.0]];
        let labels = [1, 1, 0, 0];
        let test = ndarray::array![[0.0]];
        assert_eq!(
            Knn::new(train.view(), &labels, 3, false).predict(test.view()),
            [1]
        );
        assert_eq!(
            Knn::new(train.view(), &labels, 3, true).predict(test.view()),
            [0]
        );
        // k beyond the training rows uses them all; a tie goes to class 0.
        assert_eq!(
            Knn::new(train.view(), &labels, 10, false).predict(test.view()),
            [0]
        );
    }
}
