//! XGBoost through xgboost-rs: matrices, the boosting loop, saving.
//!
//! Two pitfalls of xgboost-rs 0.3 are avoided here: `Booster::train` runs
//! a fixed 16 rounds, so rounds are driven one `update` at a time; and
//! `DMatrix::from_dense` declares 0.0 the missing value, which would turn
//! every standardised feature that happens to equal its mean into a
//! missing one. The array-interface constructor takes NaN instead.

use ndarray::Array2;
use std::collections::HashMap;
use xgboost_rs::{Booster, DMatrix};

use crate::{ClassWeight, ClassicSpec};

/// A row-major f32 copy of `x` as a DMatrix whose missing value is NaN.
fn matrix(x: &Array2<f64>) -> Result<DMatrix, String> {
    let data: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let f32_size = std::mem::size_of::<f32>();
    // Strides in bytes: a row is n_cols values, a column step one value.
    DMatrix::from_col_major_f32(
        &data,
        f32_size * x.ncols(),
        f32_size,
        x.nrows(),
        x.ncols(),
        1,
        f32::NAN,
    )
    .map_err(|e| e.to_string())
}

/// Fit a booster; returns XGBoost's JSON model.
pub(crate) fn fit(
    spec: &ClassicSpec,
    x: &Array2<f64>,
    y: &[usize],
    n_classes: usize,
) -> Result<String, String> {
    let ClassicSpec::Xgboost {
        n_estimators,
        max_depth,
        learning_rate,
        subsample,
        colsample_bytree,
        min_child_weight,
        reg_lambda,
        seed,
        class_weight,
    } = spec
    else {
        unreachable!("called for XGBoost specs only")
    };
    let mut dtrain = matrix(x)?;
    let labels: Vec<f32> = y.iter().map(|&c| c as f32).collect();
    dtrain.set_labels(&labels).map_err(|e| e.to_string())?;
    if *class_weight != ClassWeight::None {
        let per_class = class_weight.weights(y, n_classes);
        let weights: Vec<f32> = y.iter().map(|&c| per_class[c] as f32).collect();
        dtrain.set_weights(&weights).map_err(|e| e.to_string())?;
    }
    let params: HashMap<String, String> = [
        ("objective", "multi:softprob".to_string()),
        ("num_class", n_classes.to_string()),
        ("max_depth", max_depth.to_string()),
        ("eta", learning_rate.to_string()),
        ("subsample", subsample.to_string()),
        ("colsample_bytree", colsample_bytree.to_string()),
        ("min_child_weight", min_child_weight.to_string()),
        ("lambda", reg_lambda.to_string()),
        ("seed", seed.to_string()),
        // scikit-learn's XGBClassifier default since XGBoost 2.0.
        ("tree_method", "hist".to_string()),
        // Folds and grid points already run in parallel on rayon; one
        // thread per booster keeps the machine from being oversubscribed.
        ("nthread", "1".to_string()),
        ("verbosity", "0".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut booster =
        Booster::new_with_json_config(&[&dtrain], params).map_err(|e| e.to_string())?;
    for round in 0..*n_estimators {
        booster
            .update(&dtrain, round as i32)
            .map_err(|e| e.to_string())?;
    }
    booster
        .save_to_buffer("json".to_string())
        .map_err(|e| e.to_string())
}

/// The most probable class of each row.
pub(crate) fn predict(
    model: &str,
    x: &Array2<f64>,
    n_classes: usize,
) -> Result<Vec<usize>, String> {
    Ok(probabilities(model, x, n_classes)?
        .into_iter()
        .map(crate::argmax)
        .collect())
}

/// Each row's class probabilities (`multi:softprob`).
pub(crate) fn probabilities(
    model: &str,
    x: &Array2<f64>,
    n_classes: usize,
) -> Result<Vec<Vec<f64>>, String> {
    let booster = Booster::load_buffer(model.as_bytes()).map_err(|e| e.to_string())?;
    let probabilities = booster.predict(&matrix(x)?).map_err(|e| e.to_string())?;
    if probabilities.len() != x.nrows() * n_classes {
        return Err(format!(
            "{} probabilities for {} rows of {n_classes} classes",
            probabilities.len(),
            x.nrows()
        ));
    }
    Ok(probabilities
        .chunks(n_classes)
        .map(|p| p.iter().map(|&v| f64::from(v)).collect())
        .collect())
}
