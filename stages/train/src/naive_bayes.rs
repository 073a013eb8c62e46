//! Gaussian naive Bayes (linfa-bayes); `var_smoothing` is added to every
//! variance as a fraction of the largest one, as scikit-learn does.

use linfa::prelude::*;
use linfa_bayes::{GaussianNb, NaiveBayes};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

pub type Fitted = GaussianNb<f64, usize>;

pub fn fit(records: Array2<f64>, y: &[usize], var_smoothing: f64) -> Result<Fitted, String> {
    let dataset = Dataset::new(records, Array1::from(y.to_vec()));
    GaussianNb::params()
        .var_smoothing(var_smoothing)
        .fit(&dataset)
        .map_err(|e| e.to_string())
}

pub fn predict(model: &Fitted, records: &Array2<f64>) -> Vec<usize> {
    model.predict(records).to_vec()
}

/// Each row's posterior class probabilities, column `c` for class `c` (0
/// for a class the model never saw).
pub fn probabilities(model: &Fitted, records: &Array2<f64>) -> Vec<Vec<f64>> {
    let (p, classes) = model.predict_proba(records.view());
    let classes: Vec<usize> = classes.into_iter().copied().collect();
    crate::by_class(p.view(), &classes)
}

/// Gaussian naive Bayes fitted once on every column of one train/test
/// split and then asked for the predictions of any subset of columns: a
/// wrapper selection scores hundreds of subsets of the same rows.
///
/// Every per-column statistic (the standardiser's, the class means and
/// variances, the column variances behind `var_smoothing`) depends on its
/// column alone, so it is computed once here. The predictions are the ones
/// [`crate::fit`] + [`crate::TrainedModel::predict`] give on the subset's
/// columns, with the same arithmetic in the same order (linfa-bayes's
/// `fit_with` and `joint_log_likelihood`), so they agree bit for bit; the
/// tests check that on random subsets.
pub struct SubsetPredictor {
    /// The test rows, standardised by the training rows' statistics.
    test: Array2<f64>,
    /// Each training column's variance after standardising (population).
    column_variance: Array1<f64>,
    /// One entry per class seen in training, in increasing class order.
    classes: Vec<ClassStatistics>,
    var_smoothing: f64,
}

struct ClassStatistics {
    class: usize,
    /// ln of the class's share of the training rows.
    log_prior: f64,
    mean: Array1<f64>,
    /// Variance before `var_smoothing`'s epsilon is added.
    variance: Array1<f64>,
}

impl SubsetPredictor {
    /// `None` where [`crate::fit`] would fail whatever the columns: no rows,
    /// or a single class.
    pub fn new(
        x_train: ArrayView2<f64>,
        y_train: &[usize],
        x_test: ArrayView2<f64>,
        var_smoothing: f64,
    ) -> Option<Self> {
        if x_train.nrows() == 0 || y_train.iter().all(|&c| c == y_train[0]) {
            return None;
        }
        // Row-major, as `fit` sees its rows: ndarray sums a column-major
        // matrix's columns in another order.
        let x_train = x_train.as_standard_layout();
        let x_test = x_test.as_standard_layout();
        let standardiser = crate::Standardiser::fit(x_train.view());
        let train = standardiser.transform(x_train.view());
        let test = standardiser.transform(x_test.view());
        let column_variance = train.var_axis(Axis(0), 0.0);
        let mut labels: Vec<usize> = y_train.to_vec();
        labels.sort_unstable();
        labels.dedup();
        let classes = labels
            .into_iter()
            .map(|class| {
                let rows: Vec<usize> = (0..y_train.len())
                    .filter(|&i| y_train[i] == class)
                    .collect();
                let in_class = train.select(Axis(0), &rows);
                ClassStatistics {
                    class,
                    log_prior: (rows.len() as f64 / y_train.len() as f64).ln(),
                    mean: in_class.mean_axis(Axis(0)).expect("a class has rows"),
                    variance: in_class.var_axis(Axis(0), 0.0),
                }
            })
            .collect();
        Some(SubsetPredictor {
            test,
            column_variance,
            classes,
            var_smoothing,
        })
    }

    /// The predicted class of every test row from `columns` alone (two or
    /// more: ndarray sums a one-column matrix in another order); `None`
    /// where the fit on those columns would fail (a non-finite variance).
    pub fn predict(&self, columns: &[usize]) -> Option<Vec<usize>> {
        let mut best: Vec<Option<(f64, usize)>> = vec![None; self.test.nrows()];
        self.log_likelihoods(columns, |row, class, log_likelihood| {
            if best[row].is_none_or(|(b, _)| log_likelihood > b) {
                best[row] = Some((log_likelihood, class));
            }
        })?;
        best.into_iter()
            .map(|b| b.map(|(_, class)| class))
            .collect()
    }

    /// Calls `visit(row, class, joint log likelihood)` for every test row
    /// and class, rows in order, classes in increasing order.
    fn log_likelihoods(
        &self,
        columns: &[usize],
        mut visit: impl FnMut(usize, usize, f64),
    ) -> Option<()> {
        assert!(columns.len() >= 2, "subsets of two or more columns");
        // linfa-bayes's largest variance (ndarray-stats's `max`) fails on NaN.
        let variances = columns.iter().map(|&c| self.column_variance[c]);
        if variances.clone().any(f64::is_nan) {
            return None;
        }
        let epsilon = self.var_smoothing * variances.fold(f64::NEG_INFINITY, f64::max);
        // Per class: the subset's means and smoothed variances, and the
        // constant part of the log likelihood, as linfa-bayes forms them.
        let per_class: Vec<(&ClassStatistics, Array1<f64>, Array1<f64>, f64)> = self
            .classes
            .iter()
            .map(|stats| {
                let mean: Array1<f64> = columns.iter().map(|&c| stats.mean[c]).collect();
                let mut sigma: Array1<f64> = columns.iter().map(|&c| stats.variance[c]).collect();
                sigma += epsilon;
                let log_norm = -0.5
                    * sigma
                        .mapv(|s| 2. * std::f64::consts::PI * s)
                        .mapv(|s| s.ln())
                        .sum();
                (stats, mean, sigma, log_norm)
            })
            .collect();
        // The subset's test columns, row-major, so the loop below runs over
        // contiguous slices. One row's terms at a time, summed by ndarray as
        // linfa-bayes's `sum_axis` sums each row of its (rows x columns)
        // matrix.
        let width = columns.len();
        let mut gathered = Vec::with_capacity(self.test.nrows() * width);
        for row in self.test.rows() {
            gathered.extend(columns.iter().map(|&c| row[c]));
        }
        let mut terms = vec![0.0; width];
        for (r, row) in gathered.chunks_exact(width).enumerate() {
            for (stats, mean, sigma, log_norm) in &per_class {
                // Slices, not ndarray's iterators: the zip then vectorises.
                let (mean, sigma) = (mean.as_slice().unwrap(), sigma.as_slice().unwrap());
                for (((term, x), m), s) in terms.iter_mut().zip(row).zip(mean).zip(sigma) {
                    *term = (x - m).powi(2) / s;
                }
                let sum = ArrayView1::from(&terms[..]).sum();
                visit(r, stats.class, (log_norm - sum * 0.5) + stats.log_prior);
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64: reproducible numbers without a dev-dependency.
    struct Numbers(u64);

    impl Numbers {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn uniform(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }

        /// `size` distinct indices below `n`, in random order.
        fn sample(&mut self, n: usize, size: usize) -> Vec<usize> {
            let mut all: Vec<usize> = (0..n).collect();
            for i in 0..size {
                let j = i + (self.next() % (n - i) as u64) as usize;
                all.swap(i, j);
            }
            all.truncate(size);
            all
        }
    }

    /// Four overlapping classes over 40 columns of unequal scales, some
    /// informative, a constant one among them.
    fn data(numbers: &mut Numbers, rows: usize) -> (Array2<f64>, Vec<usize>) {
        let y: Vec<usize> = (0..rows).map(|i| i % 4).collect();
        let x = Array2::from_shape_fn((rows, 40), |(i, j)| {
            if j == 7 {
                return 3.0;
            }
            let shift = if j % 3 == 0 { 0.4 * y[i] as f64 } else { 0.0 };
            (shift + numbers.uniform() - 0.5) * (1.0 + j as f64)
        });
        (x, y)
    }

    #[test]
    fn subsets_predict_exactly_what_fitting_on_them_predicts() {
        let mut numbers = Numbers(7);
        let (x, y) = data(&mut numbers, 140);
        // An inner split as the wrapper makes them: rows of one matrix.
        let (train_rows, test_rows): (Vec<usize>, Vec<usize>) = (0..140).partition(|i| i % 3 != 0);
        let y_train: Vec<usize> = train_rows.iter().map(|&i| y[i]).collect();
        let subsets = SubsetPredictor::new(
            x.select(Axis(0), &train_rows).view(),
            &y_train,
            x.select(Axis(0), &test_rows).view(),
            1e-9,
        )
        .unwrap();
        let spec = crate::ClassicSpec::GaussianNb {
            var_smoothing: 1e-9,
        };
        for size in [2, 3, 9, 17, 40] {
            for _ in 0..5 {
                // In ranking order, as the wrapper asks: any order.
                let columns = numbers.sample(40, size);
                // What fitting on the subset does (the wrapper's fallback,
                // `inner_cv::mean_ua`): columns first, then rows.
                let x_sub = x.select(Axis(1), &columns);
                let model =
                    crate::fit(&spec, x_sub.select(Axis(0), &train_rows).view(), &y_train).unwrap();
                let x_test = x_sub.select(Axis(0), &test_rows);
                assert_eq!(
                    subsets.predict(&columns).unwrap(),
                    model.predict(x_test.view()),
                    "columns {columns:?}"
                );
                // The log likelihoods themselves, bit for bit.
                let crate::FittedKind::GaussianNb(fitted) = &model.fitted else {
                    unreachable!()
                };
                let records = model.standardiser.transform(x_test.view());
                let reference = fitted.joint_log_likelihood(records.view());
                let mut seen = 0;
                subsets
                    .log_likelihoods(&columns, |row, class, value| {
                        assert_eq!(
                            value.to_bits(),
                            reference[&class][row].to_bits(),
                            "columns {columns:?}, row {row}, class {class}"
                        );
                        seen += 1;
                    })
                    .unwrap();
                assert_eq!(seen, test_rows.len() * 4);
            }
        }
    }

    #[test]
    fn a_single_class_or_no_rows_is_not_fitted() {
        let x = Array2::<f64>::zeros((4, 3));
        assert!(SubsetPredictor::new(x.view(), &[1, 1, 1, 1], x.view(), 1e-9).is_none());
        let none = Array2::<f64>::zeros((0, 3));
        assert!(SubsetPredictor::new(none.view(), &[], x.view(), 1e-9).is_none());
    }

    #[test]
    fn a_nan_variance_fails_the_subset_as_fitting_would() {
        let mut x = Array2::from_shape_fn((6, 3), |(i, j)| (i * (j + 1)) as f64);
        x[[2, 1]] = f64::NAN;
        let y = [0, 1, 0, 1, 0, 1];
        let subsets = SubsetPredictor::new(x.view(), &y, x.view(), 1e-9).unwrap();
        assert!(subsets.predict(&[0, 1]).is_none());
        assert!(subsets.predict(&[0, 2]).is_some());
    }
}
