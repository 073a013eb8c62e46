//! Inner cross-validation on a training fold: speaker-grouped splits and
//! the mean UA of a model over them.
//!
//! Shared by the wrapper selection (which scores column subsets) and grid
//! search (which scores hyperparameters). Both only ever see a training
//! fold, and the inner folds group by speaker, so an inner score is also
//! a score on voices the inner model has not heard.

use ndarray::{ArrayView2, Axis};

use ser_evaluate::{Metrics, protocol};
use ser_train::ClassicSpec;

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

/// Mean UA over the splits of `spec` fitted on each split's training rows;
/// a split whose model cannot be fitted scores 0.
pub fn mean_ua(spec: &ClassicSpec, x: ArrayView2<f64>, y: &[usize], splits: &Splits) -> f64 {
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
