//! Multinomial logistic regression with an L2 penalty (linfa-logistic,
//! L-BFGS).

use linfa::prelude::*;
use linfa_logistic::{MultiFittedLogisticRegression, MultiLogisticRegression};
use ndarray::{Array1, Array2};

pub type Fitted = MultiFittedLogisticRegression<f64, usize>;

pub fn fit(
    records: Array2<f64>,
    y: &[usize],
    alpha: f64,
    max_iterations: u64,
) -> Result<Fitted, String> {
    let dataset = Dataset::new(records, Array1::from(y.to_vec()));
    MultiLogisticRegression::default()
        .alpha(alpha)
        .max_iterations(max_iterations)
        .fit(&dataset)
        .map_err(|e| e.to_string())
}

pub fn predict(model: &Fitted, records: &Array2<f64>) -> Vec<usize> {
    model.predict(records).to_vec()
}

/// Each row's class probabilities, column `c` for class `c` (0 for a
/// class the model never saw).
pub fn probabilities(model: &Fitted, records: &Array2<f64>) -> Vec<Vec<f64>> {
    let p = model.predict_probabilities(records);
    crate::by_class(p.view(), model.classes())
}
