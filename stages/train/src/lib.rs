//! Train: fit classifiers on feature matrices and predict labels.
//!
//! The domain half of ser's `train` stage: given a training fold's features
//! and labels it fits a [`Standardiser`] (on that fold only, so test
//! statistics never leak into training) and a model from a [`ClassicSpec`],
//! and returns a [`TrainedModel`] that predicts and serialises to JSON.
//!
//! Models are built on linfa where it does the job well:
//! - multinomial logistic regression: argmin's L-BFGS on a loss whose
//!   value and gradient come from one pass ([`logistic`]; linfa-logistic,
//!   used before, made five passes over the data per iteration);
//! - Gaussian naive Bayes (`linfa-bayes`);
//! - SVM with an RBF kernel, one-vs-rest: LIBSVM's solver (`libsvm-rs`)
//!   on one precomputed Gram matrix shared by every class's machine
//!   ([`svm`]; linfa-svm recomputed the kernel per machine and per pair of
//!   rows, which was most of the node's time); the class with the largest
//!   decision value wins;
//! - k-nearest neighbours: brute-force search on matrix products and the
//!   vote (uniform or 1/distance) in [`knn`] (linfa-nn's linear search
//!   has no classifier and walks the rows one query at a time);
//! - random forest: rafor's classifier (Gini, bootstrap, `max_features`
//!   columns drawn per split, more drawn only when none splits, as in
//!   scikit-learn; probabilities averaged over trees; per-tree seeds drawn
//!   from the forest's seed, so one seed gives one forest). linfa has no
//!   per-split feature sampling and `linfa-trees` breaks ties through hash
//!   maps (the same seed gave different forests); smartcore's forest, used
//!   before, argsorts every column again for every tree (42% of a forest
//!   node's time in a profile);
//! - XGBoost 3.4 (`xgb`: XGBoost's C++ built from source by cmake as a
//!   static library; xgboost-rs, used before, builds XGBoost 1.6),
//!   `multi:softprob` with the `hist` tree method,
//!   boosted one round at a time from a matrix whose missing value is NaN,
//!   so a real 0.0 stays a value.
//!
//! `class_weight: balanced` (each class weighs n / (k n_c), as
//! scikit-learn's) is offered where the model takes weights: the SVM (its
//! positive and negative C per binary machine) and XGBoost (sample
//! weights). The logistic regression, naive Bayes, k-NN and the forest
//! take none here, so they reject the key rather than ignore it.
//!
//! [`ClassicSpec`] is this crate's side of the learner contract
//! (`ser_learn::Learner`) and [`TrainedModel`] its fitted model; each model
//! has its own module. [`normalise`] holds the fold-fitted scalers.
//! [`ensemble`] combines trained models' class scores (soft or hard
//! voting); it fits nothing.

use ndarray::{Array2, ArrayView2};
pub use ser_learn::Device;
use ser_learn::{Input, Predictions, Rows, TrainingSet};
use serde::{Deserialize, Serialize};

mod distance;
pub mod ensemble;
mod forest;
mod knn;
mod logistic;
mod naive_bayes;
pub mod normalise;
mod svm;
mod xgb;

pub use naive_bayes::SubsetPredictor as NaiveBayesSubsets;
pub use normalise::{FeatureNormalize, OnlineSpeakerNormaliser, SpeakerNormaliser, Standardiser};

/// A model and its hyperparameters, as written in pipeline.yaml under
/// `models.<name>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClassicSpec {
    /// Multinomial logistic regression with an L2 penalty `alpha`, fitted by
    /// L-BFGS.
    LogisticRegression {
        #[serde(default = "defaults::alpha")]
        alpha: f64,
        #[serde(default = "defaults::max_iterations")]
        max_iterations: u64,
    },
    /// Gaussian naive Bayes; `var_smoothing` is added to every variance as a
    /// fraction of the largest one (as scikit-learn does).
    GaussianNb {
        #[serde(default = "defaults::var_smoothing")]
        var_smoothing: f64,
    },
    /// RBF-kernel SVM, one-vs-rest. `gamma` as scikit-learn's (kernel
    /// exp(-gamma |x - x'|^2)); absent means "scale", 1 / n_features on
    /// standardised features.
    Svm {
        #[serde(default = "defaults::c")]
        c: f64,
        #[serde(default)]
        gamma: Option<f64>,
        #[serde(default)]
        class_weight: ClassWeight,
        /// Class probabilities by Platt scaling on decision values of
        /// training rows each predicted without its speaker (5 more fits,
        /// `svm::calibrate`), so the SVM can be averaged into an ensemble
        /// and chosen by validation. Predicted classes are unchanged.
        /// Absent when false, so specs without it keep their cache keys.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        probability: bool,
    },
    /// k-nearest neighbours (Euclidean, on standardised features).
    Knn {
        #[serde(default = "defaults::k")]
        k: usize,
        /// Weight votes by 1 / distance instead of equally.
        #[serde(default)]
        distance_weighted: bool,
    },
    /// Random forest (Gini).
    RandomForest {
        #[serde(default = "defaults::n_trees")]
        n_trees: u16,
        #[serde(default)]
        max_depth: Option<u16>,
        /// Columns drawn at each split; absent means sqrt(n_features).
        #[serde(default)]
        max_features: Option<usize>,
        #[serde(default)]
        seed: u64,
    },
    /// Gradient-boosted trees (XGBoost, `multi:softprob`); names and
    /// defaults as scikit-learn's `XGBClassifier`.
    Xgboost {
        #[serde(default = "defaults::n_estimators")]
        n_estimators: u32,
        #[serde(default = "defaults::xgb_max_depth")]
        max_depth: u32,
        #[serde(default = "defaults::learning_rate")]
        learning_rate: f64,
        #[serde(default = "defaults::one")]
        subsample: f64,
        #[serde(default = "defaults::one")]
        colsample_bytree: f64,
        #[serde(default = "defaults::one")]
        min_child_weight: f64,
        #[serde(default = "defaults::one")]
        reg_lambda: f64,
        #[serde(default)]
        seed: u64,
        #[serde(default)]
        class_weight: ClassWeight,
        /// `gpu`: XGBoost's CUDA build (`device=cuda`), in a binary built
        /// with `--features xgboost-gpu`. Absent when `cpu`, so the keys
        /// cached before the option stay.
        #[serde(default, skip_serializing_if = "Device::is_cpu")]
        device: Device,
    },
}

/// How classes are weighted in the loss.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// Every utterance counts once.
    #[default]
    None,
    /// Class c weighs n / (n_classes * n_c), so rare classes count as much
    /// as common ones in total.
    Balanced,
}

impl ClassWeight {
    /// The weight of each class given the training labels.
    pub fn weights(self, y: &[usize], n_classes: usize) -> Vec<f64> {
        match self {
            ClassWeight::None => vec![1.0; n_classes],
            ClassWeight::Balanced => {
                let mut counts = vec![0usize; n_classes];
                for &c in y {
                    counts[c] += 1;
                }
                counts
                    .iter()
                    .map(|&n_c| {
                        if n_c == 0 {
                            0.0
                        } else {
                            y.len() as f64 / (n_classes as f64 * n_c as f64)
                        }
                    })
                    .collect()
            }
        }
    }
}

mod defaults {
    pub fn alpha() -> f64 {
        1.0
    }
    pub fn max_iterations() -> u64 {
        300
    }
    pub fn var_smoothing() -> f64 {
        1e-9
    }
    pub fn c() -> f64 {
        1.0
    }
    pub fn k() -> usize {
        5
    }
    pub fn n_trees() -> u16 {
        100
    }
    pub fn n_estimators() -> u32 {
        100
    }
    pub fn xgb_max_depth() -> u32 {
        6
    }
    pub fn learning_rate() -> f64 {
        0.3
    }
    pub fn one() -> f64 {
        1.0
    }
}

impl ClassicSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            ClassicSpec::LogisticRegression { .. } => "logistic_regression",
            ClassicSpec::GaussianNb { .. } => "gaussian_nb",
            ClassicSpec::Svm { .. } => "svm",
            ClassicSpec::Knn { .. } => "knn",
            ClassicSpec::RandomForest { .. } => "random_forest",
            ClassicSpec::Xgboost { .. } => "xgboost",
        }
    }

    /// The spec as inner cross-validation fits it, where only predicted
    /// classes are scored: without the SVM's calibration, which changes
    /// none of them.
    pub fn classes_only(&self) -> ClassicSpec {
        let mut spec = self.clone();
        if let ClassicSpec::Svm { probability, .. } = &mut spec {
            *probability = false;
        }
        spec
    }

    /// Where it trains: only XGBoost has a GPU build.
    pub fn device(&self) -> Device {
        match self {
            ClassicSpec::Xgboost { device, .. } => *device,
            _ => Device::Cpu,
        }
    }

    /// The version of the numbers this model fits: bumped per model when
    /// they change, so only its cached results rerun.
    /// 2: the SVM on LIBSVM's solver with one Gram matrix per fit, k-NN by
    /// matrix products (both were linfa's), the random forest on rafor (was
    /// smartcore's).
    pub fn code_version(&self) -> u32 {
        match self {
            // 2: one-pass loss and gradient (was linfa-logistic's; the
            // same solver and settings, the sums in another order).
            ClassicSpec::LogisticRegression { .. } => 2,
            ClassicSpec::Svm { .. }
            | ClassicSpec::Knn { .. }
            | ClassicSpec::RandomForest { .. } => 2,
            // 2: XGBoost 3.4 (was 1.6 through xgboost-rs).
            ClassicSpec::Xgboost { .. } => 2,
            _ => 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("training set is empty")]
    Empty,
    #[error("{rows} feature rows but {labels} labels")]
    Shape { rows: usize, labels: usize },
    #[error("training fold has a single class; a classifier needs at least two")]
    OneClass,
    #[error("{model} failed to fit: {reason}")]
    Fit { model: &'static str, reason: String },
}

// Externally tagged: linfa's naive Bayes keeps a map keyed by class, which
// serde's internally tagged enums cannot read back. (The variant names are
// the `models` artifact's keys, so they stay as they were.)
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FittedKind {
    LogisticRegression(logistic::Fitted),
    GaussianNb(naive_bayes::Fitted),
    /// One binary machine per class, on shared support vectors.
    Svm(svm::RbfSvm),
    /// The standardised training set itself.
    Knn {
        records: Array2<f64>,
        labels: Vec<usize>,
        k: usize,
        distance_weighted: bool,
    },
    RandomForest(Box<rafor::rf::Classifier>),
    /// XGBoost's own JSON model.
    Xgboost {
        model: String,
        n_classes: usize,
    },
}

/// A standardiser and a fitted model; labels are class indices.
#[derive(Debug, Serialize, Deserialize)]
pub struct TrainedModel {
    pub spec: ClassicSpec,
    pub standardiser: Standardiser,
    fitted: FittedKind,
}

/// Each row's group index for [`fit_grouped`], by the first appearance of
/// its name (a speaker).
pub fn group_ids<S: AsRef<str>>(names: &[S]) -> Vec<usize> {
    let mut seen: Vec<&str> = Vec::new();
    names
        .iter()
        .map(|n| match seen.iter().position(|s| *s == n.as_ref()) {
            Some(i) => i,
            None => {
                seen.push(n.as_ref());
                seen.len() - 1
            }
        })
        .collect()
}

/// Fit `spec` on `x` (rows x features) with class indices `y`. A spec that
/// calibrates on held-out speakers (the SVM's `probability: true`) needs
/// [`fit_grouped`].
pub fn fit(
    spec: &ClassicSpec,
    x: ArrayView2<f64>,
    y: &[usize],
) -> Result<TrainedModel, TrainError> {
    fit_grouped(spec, x, y, None)
}

/// [`fit`], with each row's speaker as a group index (see [`group_ids`]),
/// for the models that calibrate on held-out speakers.
pub fn fit_grouped(
    spec: &ClassicSpec,
    x: ArrayView2<f64>,
    y: &[usize],
    groups: Option<&[usize]>,
) -> Result<TrainedModel, TrainError> {
    if x.nrows() == 0 {
        return Err(TrainError::Empty);
    }
    if x.nrows() != y.len() {
        return Err(TrainError::Shape {
            rows: x.nrows(),
            labels: y.len(),
        });
    }
    if y.iter().all(|&c| c == y[0]) {
        return Err(TrainError::OneClass);
    }
    let standardiser = Standardiser::fit(x);
    let records = standardiser.transform(x);
    let fit_err = |reason: String| TrainError::Fit {
        model: spec.kind(),
        reason,
    };
    let n_classes = y.iter().copied().max().map_or(0, |m| m + 1);
    let fitted = match spec {
        ClassicSpec::LogisticRegression {
            alpha,
            max_iterations,
        } => FittedKind::LogisticRegression(
            logistic::fit(records, y, *alpha, *max_iterations).map_err(fit_err)?,
        ),
        ClassicSpec::GaussianNb { var_smoothing } => {
            FittedKind::GaussianNb(naive_bayes::fit(records, y, *var_smoothing).map_err(fit_err)?)
        }
        ClassicSpec::Svm {
            c,
            gamma,
            class_weight,
            probability,
        } => {
            let gamma = gamma.unwrap_or(1.0 / x.ncols() as f64);
            let mut svm = svm::fit(records.view(), y, n_classes, *c, gamma, *class_weight)
                .map_err(fit_err)?;
            if *probability {
                let groups = groups.ok_or_else(|| {
                    fit_err("probability: true calibrates on held-out speakers; none given".into())
                })?;
                if groups.len() != y.len() {
                    return Err(fit_err(format!(
                        "{} speakers for {} rows",
                        groups.len(),
                        y.len()
                    )));
                }
                svm.platt = Some(
                    svm::calibrate(
                        records.view(),
                        y,
                        groups,
                        n_classes,
                        *c,
                        gamma,
                        *class_weight,
                    )
                    .map_err(fit_err)?,
                );
            }
            FittedKind::Svm(svm)
        }
        ClassicSpec::Knn {
            k,
            distance_weighted,
        } => {
            if *k == 0 {
                return Err(fit_err("k must be at least 1".into()));
            }
            FittedKind::Knn {
                records,
                labels: y.to_vec(),
                k: *k,
                distance_weighted: *distance_weighted,
            }
        }
        ClassicSpec::RandomForest {
            n_trees,
            max_depth,
            max_features,
            seed,
        } => FittedKind::RandomForest(Box::new(
            forest::fit(&records, y, *n_trees, *max_depth, *max_features, *seed)
                .map_err(fit_err)?,
        )),
        ClassicSpec::Xgboost { .. } => {
            let model = xgb::fit(spec, &records, y, n_classes).map_err(fit_err)?;
            FittedKind::Xgboost { model, n_classes }
        }
    };
    Ok(TrainedModel {
        spec: spec.clone(),
        standardiser,
        fitted,
    })
}

impl TrainedModel {
    /// Class probabilities of each row of `x` (column `c` for class `c`, up
    /// to the largest class the model saw), for the models that have them:
    /// every kind but an SVM without `probability: true`.
    pub fn probabilities(&self, x: ArrayView2<f64>) -> Option<Vec<Vec<f64>>> {
        let records = self.standardiser.transform(x);
        Some(match &self.fitted {
            FittedKind::LogisticRegression(m) => logistic::probabilities(m, &records),
            FittedKind::GaussianNb(m) => naive_bayes::probabilities(m, &records),
            FittedKind::Svm(svm) => return svm.probabilities(records.view()),
            FittedKind::Knn {
                records: train,
                labels,
                k,
                distance_weighted,
            } => knn::Knn::new(train.view(), labels, *k, *distance_weighted)
                .probabilities(records.view()),
            FittedKind::RandomForest(f) => forest::probabilities(f, &records),
            FittedKind::Xgboost { model, n_classes } => {
                xgb::probabilities(model, &records, *n_classes)
                    .expect("a model XGBoost saved loads and predicts")
            }
        })
    }

    /// Predicted class index for each row of `x`.
    pub fn predict(&self, x: ArrayView2<f64>) -> Vec<usize> {
        let records = self.standardiser.transform(x);
        match &self.fitted {
            FittedKind::LogisticRegression(m) => logistic::predict(m, &records),
            FittedKind::GaussianNb(m) => naive_bayes::predict(m, &records),
            FittedKind::Svm(svm) => svm.predict(records.view()),
            FittedKind::Knn {
                records: train,
                labels,
                k,
                distance_weighted,
            } => {
                knn::Knn::new(train.view(), labels, *k, *distance_weighted).predict(records.view())
            }
            FittedKind::RandomForest(f) => forest::predict(f, &records),
            FittedKind::Xgboost { model, n_classes } => xgb::predict(model, &records, *n_classes)
                .expect("a model XGBoost saved loads and predicts"),
        }
    }
}

impl ser_learn::Learner for ClassicSpec {
    type Fitted = TrainedModel;
    type Error = TrainError;

    fn kind(&self) -> &'static str {
        ClassicSpec::kind(self)
    }

    /// Every classic model reads the feature table's rows.
    fn input(&self) -> Input {
        Input::Functionals
    }

    fn code_version(&self) -> u32 {
        ClassicSpec::code_version(self)
    }

    fn fit(
        &self,
        data: &TrainingSet<'_>,
        _on_epoch: &mut dyn FnMut(&ser_learn::EpochReport),
    ) -> Result<TrainedModel, TrainError> {
        match data.rows {
            Rows::Matrix(x) => fit_grouped(self, x, data.labels, Some(&group_ids(data.speakers))),
            Rows::Sequences { .. } => Err(TrainError::Fit {
                model: self.kind(),
                reason: "a classic model reads a feature matrix, not sequences".into(),
            }),
        }
    }
}

impl ser_learn::Fitted for TrainedModel {
    type Error = TrainError;

    /// Classes, and probabilities for every kind but an SVM without
    /// `probability: true`.
    fn predict(&self, rows: Rows<'_>, _speakers: &[String]) -> Result<Predictions, TrainError> {
        match rows {
            Rows::Matrix(x) => Ok(Predictions {
                classes: TrainedModel::predict(self, x),
                probabilities: self.probabilities(x).map(|p| {
                    p.into_iter()
                        .map(|row| row.into_iter().map(|v| v as f32).collect())
                        .collect()
                }),
            }),
            Rows::Sequences { .. } => Err(TrainError::Fit {
                model: self.spec.kind(),
                reason: "a classic model reads a feature matrix, not sequences".into(),
            }),
        }
    }
}

/// Probability columns in `classes`' order as one row per example, with
/// column `c` for class index `c` (up to the largest class present).
fn by_class(p: ndarray::ArrayView2<f64>, classes: &[usize]) -> Vec<Vec<f64>> {
    let width = classes.iter().copied().max().map_or(0, |m| m + 1);
    p.rows()
        .into_iter()
        .map(|row| {
            let mut out = vec![0.0; width];
            for (&c, &v) in classes.iter().zip(row) {
                out[c] = v;
            }
            out
        })
        .collect()
}

/// The index of the largest value; the first of equal ones, so ties go to
/// the lower class. 0 for no values.
fn argmax(values: impl IntoIterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, v) in values.into_iter().enumerate() {
        if i == 0 || v.total_cmp(&best.1).is_gt() {
            best = (i, v);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three well-separated Gaussian blobs in 4-D, deterministic.
    fn blobs(per_class: usize) -> (Array2<f64>, Vec<usize>) {
        let mut x = Array2::zeros((3 * per_class, 4));
        let mut y = Vec::new();
        let mut state = 12345u64;
        let mut noise = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5
        };
        for c in 0..3 {
            for i in 0..per_class {
                let row = c * per_class + i;
                for j in 0..4 {
                    x[[row, j]] = if j == c { 5.0 } else { 0.0 } + noise() + 100.0 * j as f64;
                }
                y.push(c);
            }
        }
        (x, y)
    }

    /// `probability: true` is opt-in (a spec without it keeps its key),
    /// needs each row's speaker, keeps the SVM's predicted classes, and
    /// reads back; a model saved before it reads back without
    /// probabilities.
    #[test]
    fn an_svm_with_probability_calibrates_on_speakers_and_keeps_its_classes() {
        let (x, y) = blobs(30);
        let plain: ClassicSpec = serde_json::from_str(r#"{"kind":"svm"}"#).unwrap();
        let calibrated: ClassicSpec =
            serde_json::from_str(r#"{"kind":"svm","probability":true}"#).unwrap();
        assert!(
            !serde_json::to_string(&plain)
                .unwrap()
                .contains("probability")
        );
        assert_eq!(calibrated.classes_only(), plain);
        let err = fit(&calibrated, x.view(), &y).unwrap_err().to_string();
        assert!(err.contains("held-out speakers"), "{err}");
        // Six speakers, each with rows of every class.
        let groups: Vec<usize> = (0..y.len()).map(|r| r % 6).collect();
        let a = fit_grouped(&calibrated, x.view(), &y, Some(&groups)).unwrap();
        let b = fit_grouped(&plain, x.view(), &y, Some(&groups)).unwrap();
        assert_eq!(a.predict(x.view()), b.predict(x.view()));
        assert!(b.probabilities(x.view()).is_none());
        let p = a.probabilities(x.view()).unwrap();
        for (row, &t) in p.iter().zip(&y) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{row:?}");
            assert_eq!(argmax(row.iter().copied()), t, "{row:?}");
        }
        let json = serde_json::to_string(&a).unwrap();
        let back: TrainedModel = serde_json::from_str(&json).unwrap();
        assert_eq!(back.probabilities(x.view()), Some(p));
        let before = serde_json::to_string(&b).unwrap();
        assert!(!before.contains("platt"));
        let back: TrainedModel = serde_json::from_str(&before).unwrap();
        assert!(back.probabilities(x.view()).is_none());
    }

    #[test]
    fn every_model_separates_blobs() {
        let (x, y) = blobs(30);
        for spec in [
            ClassicSpec::LogisticRegression {
                alpha: 1.0,
                max_iterations: 100,
            },
            ClassicSpec::GaussianNb {
                var_smoothing: 1e-9,
            },
            serde_json::from_str(r#"{"kind":"xgboost","n_estimators":20}"#).unwrap(),
            serde_json::from_str(r#"{"kind":"svm","class_weight":"balanced"}"#).unwrap(),
            serde_json::from_str(r#"{"kind":"knn","k":3}"#).unwrap(),
            serde_json::from_str(r#"{"kind":"random_forest","n_trees":20,"seed":1}"#).unwrap(),
        ] {
            let model = fit(&spec, x.view(), &y).unwrap();
            let pred = model.predict(x.view());
            let correct = pred.iter().zip(&y).filter(|(a, b)| a == b).count();
            assert_eq!(correct, y.len(), "{}", spec.kind());
            let json = serde_json::to_string(&model).unwrap();
            let back: TrainedModel = serde_json::from_str(&json).unwrap();
            assert_eq!(back.predict(x.view()), pred);
            // Probabilities for all but the SVM: one row per example, one
            // column per class, summing to 1, their top the predicted class.
            match model.probabilities(x.view()) {
                None => assert_eq!(spec.kind(), "svm"),
                Some(p) => {
                    assert_eq!(p.len(), y.len(), "{}", spec.kind());
                    for (row, &c) in p.iter().zip(&pred) {
                        assert_eq!(row.len(), 3, "{}", spec.kind());
                        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-6, "{row:?}");
                        assert_eq!(argmax(row.iter().copied()), c, "{} {row:?}", spec.kind());
                    }
                }
            }
        }
    }

    #[test]
    fn random_forest_is_deterministic_for_a_seed() {
        let (x, y) = blobs(10);
        let spec = ClassicSpec::RandomForest {
            n_trees: 15,
            max_depth: Some(3),
            max_features: Some(2),
            seed: 3,
        };
        // Perturbed inputs, so the trees have something to disagree on.
        let x = x.mapv(|v| v + (v * 7.3).sin() * 3.0);
        let a = fit(&spec, x.view(), &y).unwrap();
        let b = fit(&spec, x.view(), &y).unwrap();
        let test = x.mapv(|v| v * 1.01 + 0.5);
        assert_eq!(a.predict(test.view()), b.predict(test.view()));
        let other = ClassicSpec::RandomForest {
            n_trees: 15,
            max_depth: Some(3),
            max_features: Some(2),
            seed: 4,
        };
        let c = fit(&other, x.view(), &y).unwrap();
        assert_ne!(
            serde_json::to_string(&a.fitted).unwrap(),
            serde_json::to_string(&c.fitted).unwrap()
        );
    }

    #[test]
    fn balanced_class_weights_follow_scikit_learn() {
        // sklearn.utils.class_weight.compute_class_weight("balanced", ...)
        // on [0, 0, 0, 1]: n / (k * n_c) = 4 / (2 * 3), 4 / (2 * 1).
        let w = ClassWeight::Balanced.weights(&[0, 0, 0, 1], 2);
        assert!((w[0] - 4.0 / 6.0).abs() < 1e-12 && (w[1] - 2.0).abs() < 1e-12);
        assert_eq!(ClassWeight::None.weights(&[0, 1], 2), [1.0, 1.0]);
    }

    /// A rare class overlapping a common one: balanced weights must raise
    /// the rare class's recall, for each model that takes weights.
    #[test]
    fn balanced_weights_raise_the_recall_of_a_rare_class() {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..200 {
            let t = i as f64 / 200.0;
            // Common class 0 centred at 0, rare class 1 (1 in 10) at 0.8,
            // both with spread 1: they overlap heavily.
            let rare = i % 10 == 0;
            let centre = if rare { 0.8 } else { 0.0 };
            x.push(centre + (t * 91.0).sin());
            x.push(centre + (t * 37.0).cos());
            y.push(rare as usize);
        }
        let x = Array2::from_shape_vec((200, 2), x).unwrap();
        let recall_of_rare = |spec: &str| {
            let spec: ClassicSpec = serde_json::from_str(spec).unwrap();
            let pred = fit(&spec, x.view(), &y).unwrap().predict(x.view());
            let hits = (0..200).filter(|&i| y[i] == 1 && pred[i] == 1).count();
            hits as f64 / 20.0
        };
        for (plain, balanced) in [
            (
                r#"{"kind":"svm"}"#,
                r#"{"kind":"svm","class_weight":"balanced"}"#,
            ),
            (
                r#"{"kind":"xgboost","n_estimators":10,"max_depth":2}"#,
                r#"{"kind":"xgboost","n_estimators":10,"max_depth":2,"class_weight":"balanced"}"#,
            ),
        ] {
            let (a, b) = (recall_of_rare(plain), recall_of_rare(balanced));
            assert!(b > a, "{balanced}: rare recall {b} vs {a} unweighted");
        }
    }

    #[test]
    fn xgboost_is_deterministic_and_round_trips() {
        let (x, y) = blobs(10);
        let x = x.mapv(|v| v + (v * 7.3).sin() * 3.0);
        let spec: ClassicSpec = serde_json::from_str(
            r#"{"kind":"xgboost","n_estimators":30,"subsample":0.7,"seed":5}"#,
        )
        .unwrap();
        let a = fit(&spec, x.view(), &y).unwrap();
        let b = fit(&spec, x.view(), &y).unwrap();
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        // More rounds make a different model (the loop really boosts
        // n_estimators rounds, not a fixed number).
        let longer: ClassicSpec = serde_json::from_str(
            r#"{"kind":"xgboost","n_estimators":31,"subsample":0.7,"seed":5}"#,
        )
        .unwrap();
        let c = fit(&longer, x.view(), &y).unwrap();
        let FittedKind::Xgboost { model, .. } = &c.fitted else {
            panic!()
        };
        let trees = serde_json::from_str::<serde_json::Value>(model).unwrap()["learner"]
            ["gradient_booster"]["model"]["trees"]
            .as_array()
            .unwrap()
            .len();
        // multi:softprob grows one tree per class per round.
        assert_eq!(trees, 31 * 3);
    }

    #[test]
    fn xgboost_on_the_gpu_needs_the_cuda_build_and_keeps_cpu_keys() {
        // The default device is left out of the settings (so of the cache
        // key): a CPU model serialises as it did before the option.
        let cpu: ClassicSpec = serde_json::from_str(r#"{"kind":"xgboost"}"#).unwrap();
        assert_eq!(cpu.device(), Device::Cpu);
        assert!(!serde_json::to_string(&cpu).unwrap().contains("device"));
        let gpu: ClassicSpec =
            serde_json::from_str(r#"{"kind":"xgboost","device":"gpu"}"#).unwrap();
        assert_eq!(gpu.device(), Device::Gpu);
        assert!(
            serde_json::to_string(&gpu)
                .unwrap()
                .contains(r#""device":"gpu""#)
        );
        assert_ne!(
            serde_json::to_value(&cpu).unwrap(),
            serde_json::to_value(&gpu).unwrap()
        );
        // Only XGBoost has a device.
        assert!(serde_json::from_str::<ClassicSpec>(r#"{"kind":"svm","device":"gpu"}"#).is_err());
        // A binary without XGBoost's CUDA build says how to get one instead
        // of training on the CPU under a GPU model's name.
        let (x, y) = blobs(5);
        if !cfg!(feature = "cuda") {
            let err = fit(&gpu, x.view(), &y).unwrap_err().to_string();
            assert!(err.contains("--features xgboost-gpu"), "{err}");
        } else {
            // The CUDA build trains on a GPU it sees, and fails (rather
            // than fall back to the CPU, as XGBoost would) where it sees
            // none, as on a machine without one.
            match fit(&gpu, x.view(), &y) {
                Ok(model) => assert_eq!(model.predict(x.view()).len(), y.len()),
                Err(err) => assert!(err.to_string().contains("sees no GPU"), "{err}"),
            }
        }
    }

    #[test]
    fn argmax_takes_the_first_of_equal_values() {
        assert_eq!(argmax([0.1, 0.7, 0.7, 0.2]), 1);
        assert_eq!(argmax([f64::NEG_INFINITY, f64::NEG_INFINITY]), 0);
        assert_eq!(argmax([-3.0]), 0);
        assert_eq!(argmax(Vec::new()), 0);
    }

    #[test]
    fn rejects_bad_training_sets() {
        let x = Array2::zeros((3, 2));
        assert!(matches!(
            fit(
                &ClassicSpec::GaussianNb {
                    var_smoothing: 1e-9
                },
                x.view(),
                &[0, 0, 0]
            ),
            Err(TrainError::OneClass)
        ));
        assert!(matches!(
            fit(
                &ClassicSpec::GaussianNb {
                    var_smoothing: 1e-9
                },
                x.view(),
                &[0, 1]
            ),
            Err(TrainError::Shape { .. })
        ));
    }

    #[test]
    fn spec_parses_with_defaults_and_rejects_unknown_keys() {
        let spec: ClassicSpec =
            serde_json::from_str(r#"{"kind":"logistic_regression","alpha":0.5}"#).unwrap();
        assert_eq!(
            spec,
            ClassicSpec::LogisticRegression {
                alpha: 0.5,
                max_iterations: 300
            }
        );
        assert!(
            serde_json::from_str::<ClassicSpec>(r#"{"kind":"gaussian_nb","alpah":1}"#).is_err()
        );
    }
}
