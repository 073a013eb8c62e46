//! XGBoost 3.4 through the `xgb` crate (its source vendored by
//! xgboost_lib-sys and built here as a static library: see
//! `.cargo/config.toml` and `xgboost.cmake`): matrices, the boosting loop,
//! saving.
//!
//! Rounds are driven one `update` at a time, with the booster's parameters
//! set one by one, as XGBoost's own training loop does; the matrix's
//! missing value is NaN, so a standardised feature that equals its mean (0)
//! stays a value.

use ndarray::Array2;
use xgb::parameters::BoosterParameters;
use xgb::{Booster, DMatrix};

use crate::{ClassWeight, ClassicSpec, Device};

/// A row-major f32 copy of `x` as a DMatrix whose missing value is NaN.
fn matrix(x: &Array2<f64>) -> Result<DMatrix, String> {
    let data: Vec<f32> = x.as_standard_layout().iter().map(|&v| v as f32).collect();
    DMatrix::from_dense(&data, x.nrows()).map_err(|e| e.to_string())
}

/// XGBoost's `device` for a model's `device:`, `None` for the CPU (left at
/// XGBoost's default, so CPU training sets what it always set). A GPU needs
/// XGBoost's CUDA build, which only the `cuda` feature compiles (it needs
/// the CUDA toolkit, not a GPU, to build).
fn booster_device(device: Device) -> Result<Option<&'static str>, String> {
    match device {
        Device::Cpu => Ok(None),
        Device::Gpu if cfg!(feature = "cuda") => {
            visible_cuda_devices()?;
            Ok(Some("cuda"))
        }
        Device::Gpu => Err("XGBoost on the GPU is not compiled in: rebuild with \
             `--features xgboost-gpu` (XGBoost's CUDA build; needs the CUDA toolkit in \
             /usr/local/cuda)"
            .to_string()),
    }
}

/// XGBoost's CUDA build that sees no GPU (none in the machine, or none in
/// CUDA_VISIBLE_DEVICES) trains on the CPU with only a log warning; ser
/// fails the fold instead, so no CPU model is cached as a GPU one.
#[cfg(feature = "cuda")]
fn visible_cuda_devices() -> Result<(), String> {
    // The CUDA runtime, linked statically by XGBoost's CUDA build.
    unsafe extern "C" {
        fn cudaGetDeviceCount(count: *mut std::ffi::c_int) -> std::ffi::c_int;
    }
    let mut count: std::ffi::c_int = 0;
    // SAFETY: writes one int through a valid pointer.
    let status = unsafe { cudaGetDeviceCount(&mut count) };
    if status != 0 || count < 1 {
        return Err(format!(
            "device: gpu, but the CUDA runtime sees no GPU (cudaGetDeviceCount: error {status}, \
             {count} device(s)); XGBoost would train on the CPU instead"
        ));
    }
    Ok(())
}

#[cfg(not(feature = "cuda"))]
fn visible_cuda_devices() -> Result<(), String> {
    unreachable!("only called in the CUDA build")
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
        device,
    } = spec
    else {
        unreachable!("called for XGBoost specs only")
    };
    let device = booster_device(*device)?;
    let mut dtrain = matrix(x)?;
    let labels: Vec<f32> = y.iter().map(|&c| c as f32).collect();
    dtrain.set_labels(&labels).map_err(|e| e.to_string())?;
    if *class_weight != ClassWeight::None {
        let per_class = class_weight.weights(y, n_classes);
        let weights: Vec<f32> = y.iter().map(|&c| per_class[c] as f32).collect();
        dtrain.set_weights(&weights).map_err(|e| e.to_string())?;
    }
    let params = [
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
    ];
    let mut booster = Booster::new_with_cached_dmats(&BoosterParameters::default(), &[&dtrain])
        .map_err(|e| e.to_string())?;
    // `BoosterParameters::default()` sets every parameter, `base_score`
    // included, which turns off XGBoost's intercept estimated from the
    // labels; `boost_from_average` turns it back on, as XGBoost's Python
    // package leaves it.
    let params = params
        .into_iter()
        .chain([("boost_from_average", "1".to_string())])
        .chain(device.map(|d| ("device", d.to_string())));
    for (name, value) in params {
        booster
            .set_param(name, &value)
            .map_err(|e| format!("{name}={value}: {e}"))?;
    }
    for round in 0..*n_estimators {
        booster
            .update(&dtrain, round as i32)
            .map_err(|e| e.to_string())?;
    }
    let json = booster.save_buffer(false).map_err(|e| e.to_string())?;
    String::from_utf8(json).map_err(|e| e.to_string())
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
