//! Gaussian naive Bayes (linfa-bayes); `var_smoothing` is added to every
//! variance as a fraction of the largest one, as scikit-learn does.

use linfa::prelude::*;
use linfa_bayes::{GaussianNb, NaiveBayes};
use ndarray::{Array1, Array2};

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
