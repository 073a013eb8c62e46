//! Random forest (rafor): Gini, bootstrap, `max_features` columns drawn per
//! split (more only when none splits, as in scikit-learn), probabilities
//! averaged over trees, per-tree seeds drawn from the forest's seed.

use ndarray::Array2;
use rafor::prelude::*;

pub fn fit(
    records: &Array2<f64>,
    y: &[usize],
    n_trees: u16,
    max_depth: Option<u16>,
    max_features: Option<usize>,
    seed: u64,
) -> Result<rafor::rf::Classifier, String> {
    if n_trees == 0 {
        return Err("n_trees must be at least 1".into());
    }
    let mut trainer = rafor::rf::Classifier::trainer();
    trainer
        .with_trees(usize::from(n_trees))
        .with_max_depth(max_depth.map_or(usize::MAX, usize::from))
        .with_max_features(match max_features {
            Some(n) => MaxFeaturesPolicy::NUMBER(n.max(1)),
            None => MaxFeaturesPolicy::SQRT,
        })
        .with_seed(seed)
        // Folds and grid points already run in parallel.
        .with_threads(1);
    let labels: Vec<i64> = y.iter().map(|&c| c as i64).collect();
    Ok(trainer.train(&row_major_f32(records), &labels))
}

pub fn predict(forest: &rafor::rf::Classifier, records: &Array2<f64>) -> Vec<usize> {
    forest
        .predict_batch(&row_major_f32(records), 1)
        .into_iter()
        .map(|c| c as usize)
        .collect()
}

/// Each row's share of the trees' votes, column `c` for class `c` (0 for a
/// class the forest never saw).
pub fn probabilities(forest: &rafor::rf::Classifier, records: &Array2<f64>) -> Vec<Vec<f64>> {
    use rafor::prelude::ClassDecode;
    let decode: Vec<usize> = forest
        .get_decode_table()
        .iter()
        .map(|&c| c as usize)
        .collect();
    let p = forest.proba(&row_major_f32(records), 1);
    let p = ndarray::Array2::from_shape_fn((records.nrows(), decode.len()), |(i, j)| {
        f64::from(p[i * decode.len() + j])
    });
    crate::by_class(p.view(), &decode)
}

/// The rows of `x`, one after another, as f32 (the forest's input).
fn row_major_f32(x: &Array2<f64>) -> Vec<f32> {
    x.as_standard_layout().iter().map(|&v| v as f32).collect()
}
