//! Inner cross-validation on a training fold: speaker-grouped splits and
//! the mean UA of a model over them.
//!
//! Shared by the wrapper selection (which scores column subsets) and grid
//! search (which scores hyperparameters). Both only ever see a training
//! fold, and the inner folds group by speaker, so an inner score is also
//! a score on voices the inner model has not heard.

use ndarray::{ArrayView2, Axis};

use ser_evaluate::{Metrics, protocol};
use ser_train::{ClassicSpec, NaiveBayesSubsets};

/// (train rows, validation rows) of each inner fold.
pub type Splits = Vec<(Vec<usize>, Vec<usize>)>;

/// `k` speaker-grouped folds over the rows of a training fold, stratified
/// by label as far as whole speakers allow.
pub fn speaker_splits(speakers: &[String], labels: &[usize], k: usize) -> anyhow::Result<Splits> {
    Ok(protocol::inner_splits(speakers, labels, k, 0)?
        .into_iter()
        .map(|split| (split.train, split.test))
        .collect())
}

/// Scores column subsets of one training fold by [`mean_ua`]. For Gaussian
/// naive Bayes every per-column statistic is computed once per split
/// ([`NaiveBayesSubsets`]), with the same predictions as fitting on each
/// subset; other models are fitted on each subset.
pub struct SubsetScorer<'a> {
    spec: &'a ClassicSpec,
    x: ArrayView2<'a, f64>,
    y: &'a [usize],
    splits: &'a Splits,
    /// Per split (Gaussian NB only): the fitted columns and the truth of
    /// its validation rows; `None` where no model can be fitted.
    naive_bayes: Option<Vec<Option<NaiveBayesSplit>>>,
}

/// One split's Gaussian NB columns and the truth of its validation rows.
type NaiveBayesSplit = (NaiveBayesSubsets, Vec<usize>);

impl<'a> SubsetScorer<'a> {
    pub fn new(
        spec: &'a ClassicSpec,
        x: ArrayView2<'a, f64>,
        y: &'a [usize],
        splits: &'a Splits,
    ) -> Self {
        let naive_bayes = match spec {
            ClassicSpec::GaussianNb { var_smoothing } => Some(
                splits
                    .iter()
                    .map(|(train, test)| {
                        let y_train: Vec<usize> = train.iter().map(|&i| y[i]).collect();
                        let truth: Vec<usize> = test.iter().map(|&i| y[i]).collect();
                        NaiveBayesSubsets::new(
                            x.select(Axis(0), train).view(),
                            &y_train,
                            x.select(Axis(0), test).view(),
                            *var_smoothing,
                        )
                        .map(|fitted| (fitted, truth))
                    })
                    .collect(),
            ),
            _ => None,
        };
        SubsetScorer {
            spec,
            x,
            y,
            splits,
            naive_bayes,
        }
    }

    /// [`mean_ua`] of the model on `columns` of the fold.
    pub fn mean_ua(&self, columns: &[usize]) -> f64 {
        match &self.naive_bayes {
            Some(per_split) if columns.len() >= 2 => {
                let n_classes = self.y.iter().copied().max().map_or(0, |m| m + 1);
                per_split
                    .iter()
                    .map(|split| {
                        split
                            .as_ref()
                            .and_then(|(fitted, truth)| {
                                let predicted = fitted.predict(columns)?;
                                Some(Metrics::compute(truth, &predicted, n_classes).ua)
                            })
                            .unwrap_or(0.0)
                    })
                    .sum::<f64>()
                    / self.splits.len().max(1) as f64
            }
            _ => mean_ua(
                self.spec,
                self.x.select(Axis(1), columns).view(),
                self.y,
                self.splits,
            ),
        }
    }
}

/// Mean UA over the splits of `spec` fitted on each split's training rows;
/// a split whose model cannot be fitted scores 0.
pub fn mean_ua(spec: &ClassicSpec, x: ArrayView2<f64>, y: &[usize], splits: &Splits) -> f64 {
    let spec = &spec.classes_only();
    let n_classes = y.iter().copied().max().map_or(0, |m| m + 1);
    splits
        .iter()
        .map(|(train, test)| {
            let y_train: Vec<usize> = train.iter().map(|&i| y[i]).collect();
            match ser_train::fit(spec, x.select(Axis(0), train).view(), &y_train) {
                Ok(model) => {
                    let predicted = model.predict(x.select(Axis(0), test).view());
                    let truth: Vec<usize> = test.iter().map(|&i| y[i]).collect();
                    Metrics::compute(&truth, &predicted, n_classes).ua
                }
                Err(_) => 0.0,
            }
        })
        .sum::<f64>()
        / splits.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// Six speakers, four classes, 30 columns of unequal scale; a few
    /// columns carry the class, with a speaker offset on all of them.
    fn fold() -> (Array2<f64>, Vec<usize>, Vec<String>) {
        let rows = 6 * 20;
        let y: Vec<usize> = (0..rows).map(|i| i % 4).collect();
        let speakers: Vec<String> = (0..rows).map(|i| format!("s{}", i / 20)).collect();
        let x = Array2::from_shape_fn((rows, 30), |(i, j)| {
            let noise = ((i * 31 + j * 17) % 23) as f64 / 23.0 - 0.5;
            let class = if j % 4 == 0 { 0.3 * y[i] as f64 } else { 0.0 };
            (noise + class + 0.1 * (i / 20) as f64) * (1.0 + j as f64)
        });
        (x, y, speakers)
    }

    #[test]
    fn subset_scores_equal_fitting_every_subset() {
        let (x, y, speakers) = fold();
        let splits = speaker_splits(&speakers, &y, 3).unwrap();
        let subsets: [&[usize]; 5] = [
            &[4],
            &[0, 4],
            &[29, 3, 8, 0, 16, 12],
            &[1, 2, 3, 5, 6, 7, 9, 10, 11],
            &(0..30).collect::<Vec<_>>(),
        ];
        for spec in [
            ClassicSpec::GaussianNb {
                var_smoothing: 1e-9,
            },
            ClassicSpec::LogisticRegression {
                alpha: 1.0,
                max_iterations: 50,
            },
        ] {
            let scorer = SubsetScorer::new(&spec, x.view(), &y, &splits);
            for columns in subsets {
                let fitted = mean_ua(&spec, x.select(Axis(1), columns).view(), &y, &splits);
                assert_eq!(
                    scorer.mean_ua(columns).to_bits(),
                    fitted.to_bits(),
                    "{} on {columns:?}",
                    spec.kind()
                );
            }
        }
    }
}
