//! Train: fit classifiers on feature matrices and predict labels.
//!
//! The domain half of ser's `train` stage: given a training fold's features
//! and labels it fits a [`Standardiser`] (on that fold only, so test
//! statistics never leak into training) and a model from a [`ModelSpec`],
//! and returns a [`TrainedModel`] that predicts and serialises to JSON.
//!
//! Models are built on linfa where it does the job well:
//! - multinomial logistic regression (`linfa-logistic`, L-BFGS);
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
//! - XGBoost (`xgboost-rs`, the C++ library built from source by cmake),
//!   `multi:softprob`, boosted one round at a time (0.3's `Booster::train`
//!   fixes the round count) from a matrix whose missing value is NaN, so a
//!   real 0.0 stays a value (`DMatrix::from_dense` treats 0.0 as missing).
//!
//! `class_weight: balanced` (each class weighs n / (k n_c), as
//! scikit-learn's) is offered where the model takes weights: the SVM (its
//! positive and negative C per binary machine) and XGBoost (sample
//! weights). The logistic regression, naive Bayes, k-NN and the forest
//! take none here, so they reject the key rather than ignore it.
//!
//! [`ensemble`] combines trained models' class scores (soft or hard
//! voting); it fits nothing.

use std::collections::BTreeMap;

use linfa::prelude::*;
use linfa_bayes::GaussianNb;
use linfa_logistic::{MultiFittedLogisticRegression, MultiLogisticRegression};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rafor::prelude::*;
use ser_deep::{DeepKind, DeepParams};
use serde::{Deserialize, Serialize};

mod distance;
pub mod ensemble;
pub mod grid;
mod knn;
mod svm;
mod xgb;

pub use grid::{GridPoint, GridSearch, ModelEntry};

/// A model and its hyperparameters, as written in pipeline.yaml under
/// `models.<name>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelSpec {
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
    },
    /// The deep models (burn, in ser-deep): trained by the train stage's
    /// deep path on functionals, frames or waveforms, not by [`fit`].
    Mlp(DeepParams),
    Cnn1d(DeepParams),
    Cnn1dRaw(DeepParams),
    Cnn2d(DeepParams),
    Lstm(DeepParams),
    Gru(DeepParams),
    Crnn(DeepParams),
    AttentionLstm(DeepParams),
    CnnTransformer(DeepParams),
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

impl ModelSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            ModelSpec::LogisticRegression { .. } => "logistic_regression",
            ModelSpec::GaussianNb { .. } => "gaussian_nb",
            ModelSpec::Svm { .. } => "svm",
            ModelSpec::Knn { .. } => "knn",
            ModelSpec::RandomForest { .. } => "random_forest",
            ModelSpec::Xgboost { .. } => "xgboost",
            _ => self.deep().map_or("?", |(kind, _)| kind.name()),
        }
    }

    /// The network and its settings, for a deep model.
    pub fn deep(&self) -> Option<(DeepKind, &DeepParams)> {
        let (kind, params) = match self {
            ModelSpec::Mlp(p) => (DeepKind::Mlp, p),
            ModelSpec::Cnn1d(p) => (DeepKind::Cnn1d, p),
            ModelSpec::Cnn1dRaw(p) => (DeepKind::Cnn1dRaw, p),
            ModelSpec::Cnn2d(p) => (DeepKind::Cnn2d, p),
            ModelSpec::Lstm(p) => (DeepKind::Lstm, p),
            ModelSpec::Gru(p) => (DeepKind::Gru, p),
            ModelSpec::Crnn(p) => (DeepKind::Crnn, p),
            ModelSpec::AttentionLstm(p) => (DeepKind::AttentionLstm, p),
            ModelSpec::CnnTransformer(p) => (DeepKind::CnnTransformer, p),
            _ => return None,
        };
        Some((kind, params))
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

/// Per-column z-scoring fitted on training data. Constant columns get unit
/// scale so they map to zero rather than NaN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardiser {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

impl Standardiser {
    pub fn fit(x: ArrayView2<f64>) -> Self {
        let mean = x.mean_axis(Axis(0)).map(|m| m.to_vec()).unwrap_or_default();
        let scale = x
            .std_axis(Axis(0), 0.0)
            .iter()
            .map(|&s| if s > 1e-12 && s.is_finite() { s } else { 1.0 })
            .collect();
        Standardiser { mean, scale }
    }

    pub fn transform(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let mut out = x.to_owned();
        for mut row in out.axis_iter_mut(Axis(0)) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = (*v - m) / s;
            }
        }
        out
    }
}

/// How a classic model's features are scaled before the fold's
/// [`Standardiser`]: `global` (the default) leaves them as extracted;
/// `speaker` first z-scores every utterance by its own speaker's
/// statistics ([`SpeakerNormaliser`]), as the deep models'
/// `normalize: speaker` does (transductive: test speakers' statistics come
/// from all their utterances); `speaker_online` z-scores every utterance by
/// the statistics of its speaker's utterances seen so far, itself included,
/// shrunk towards the training set's ([`OnlineSpeakerNormaliser`]):
/// inductive, as a deployed model meeting a new speaker would be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureNormalize {
    #[default]
    Global,
    Speaker,
    SpeakerOnline,
}

/// Inductive speaker normalisation. Each speaker's utterances are taken in
/// a fixed pseudo-random order (by the BLAKE3 hash of their id, so not by
/// emotion, which RAVDESS ids sort by), and each is z-scored by the
/// running mean and deviation of that speaker's utterances up to and
/// including it, shrunk towards `prior` (the training rows' statistics)
/// with the weight of `prior_weight` utterances. A speaker's first
/// utterance is thus scaled mostly by the prior, and later ones more and
/// more by the speaker's own; no utterance sees a later one. Training and
/// test speakers go through the same procedure, so both look alike to the
/// model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnlineSpeakerNormaliser {
    pub prior: Standardiser,
    pub prior_weight: f64,
}

impl OnlineSpeakerNormaliser {
    /// How many utterances the prior counts as.
    pub const PRIOR_WEIGHT: f64 = 10.0;

    pub fn fit(training: ArrayView2<f64>) -> Self {
        OnlineSpeakerNormaliser {
            prior: Standardiser::fit(training),
            prior_weight: Self::PRIOR_WEIGHT,
        }
    }

    /// `x` scaled row by row; `speakers` and `ids` name each row.
    pub fn transform(&self, x: ArrayView2<f64>, speakers: &[String], ids: &[String]) -> Array2<f64> {
        let mut by_speaker: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, s) in speakers.iter().enumerate() {
            by_speaker.entry(s.as_str()).or_default().push(i);
        }
        let w = self.prior_weight;
        let prior_square: Vec<f64> = self
            .prior
            .mean
            .iter()
            .zip(&self.prior.scale)
            .map(|(m, s)| s * s + m * m)
            .collect();
        let mut out = x.to_owned();
        for rows in by_speaker.values_mut() {
            rows.sort_by_cached_key(|&i| blake3::hash(ids[i].as_bytes()).to_hex().to_string());
            let mut sum = vec![0.0; x.ncols()];
            let mut sum_sq = vec![0.0; x.ncols()];
            for (k, &i) in rows.iter().enumerate() {
                let n = (k + 1) as f64;
                for (j, v) in out.row_mut(i).iter_mut().enumerate() {
                    sum[j] += *v;
                    sum_sq[j] += *v * *v;
                    let mean = (w * self.prior.mean[j] + sum[j]) / (w + n);
                    let square = (w * prior_square[j] + sum_sq[j]) / (w + n);
                    let sd = (square - mean * mean).max(0.0).sqrt();
                    *v = (*v - mean) / if sd > 1e-12 { sd } else { 1.0 };
                }
            }
        }
        out
    }
}

/// Per-speaker z-scoring: each speaker's column means and deviations,
/// taken from that speaker's own utterances. It reads features only, never
/// labels, so fitting it on a test speaker's utterances is transductive
/// but not a leak: speaker-independent evaluation with speaker
/// normalisation assumes a new speaker's unlabelled speech is at hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakerNormaliser {
    pub by_speaker: BTreeMap<String, Standardiser>,
}

impl SpeakerNormaliser {
    /// Statistics of every speaker in `speakers` (one per row of `x`).
    pub fn fit(x: ArrayView2<f64>, speakers: &[String]) -> Self {
        let mut rows: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, s) in speakers.iter().enumerate() {
            rows.entry(s.as_str()).or_default().push(i);
        }
        let by_speaker = rows
            .into_iter()
            .map(|(s, rows)| {
                (
                    s.to_string(),
                    Standardiser::fit(x.select(Axis(0), &rows).view()),
                )
            })
            .collect();
        SpeakerNormaliser { by_speaker }
    }

    /// Each row scaled by its speaker's statistics; a speaker the
    /// normaliser was not fitted on is an error naming them.
    pub fn transform(
        &self,
        x: ArrayView2<f64>,
        speakers: &[String],
    ) -> Result<Array2<f64>, String> {
        let mut out = x.to_owned();
        for (mut row, speaker) in out.axis_iter_mut(Axis(0)).zip(speakers) {
            let st = self
                .by_speaker
                .get(speaker)
                .ok_or_else(|| format!("no statistics for speaker {speaker}"))?;
            for ((v, m), sd) in row.iter_mut().zip(&st.mean).zip(&st.scale) {
                *v = (*v - m) / sd;
            }
        }
        Ok(out)
    }
}

// Externally tagged: linfa's naive Bayes keeps a map keyed by class, which
// serde's internally tagged enums cannot read back.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Fitted {
    LogisticRegression(MultiFittedLogisticRegression<f64, usize>),
    GaussianNb(GaussianNb<f64, usize>),
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
    pub spec: ModelSpec,
    pub standardiser: Standardiser,
    fitted: Fitted,
}

/// Fit `spec` on `x` (rows x features) with class indices `y`.
pub fn fit(spec: &ModelSpec, x: ArrayView2<f64>, y: &[usize]) -> Result<TrainedModel, TrainError> {
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
    let dataset = Dataset::new(records, Array1::from(y.to_vec()));
    let fit_err = |reason: String| TrainError::Fit {
        model: spec.kind(),
        reason,
    };
    let fitted = match spec {
        ModelSpec::Mlp(_)
        | ModelSpec::Cnn1d(_)
        | ModelSpec::Cnn1dRaw(_)
        | ModelSpec::Cnn2d(_)
        | ModelSpec::Lstm(_)
        | ModelSpec::Gru(_)
        | ModelSpec::Crnn(_)
        | ModelSpec::AttentionLstm(_)
        | ModelSpec::CnnTransformer(_) => {
            return Err(fit_err(
                "a deep model is trained by the train stage's deep path".into(),
            ));
        }
        ModelSpec::LogisticRegression {
            alpha,
            max_iterations,
        } => Fitted::LogisticRegression(
            MultiLogisticRegression::default()
                .alpha(*alpha)
                .max_iterations(*max_iterations)
                .fit(&dataset)
                .map_err(|e| fit_err(e.to_string()))?,
        ),
        ModelSpec::GaussianNb { var_smoothing } => Fitted::GaussianNb(
            GaussianNb::params()
                .var_smoothing(*var_smoothing)
                .fit(&dataset)
                .map_err(|e| fit_err(e.to_string()))?,
        ),
        ModelSpec::Svm {
            c,
            gamma,
            class_weight,
        } => {
            let gamma = gamma.unwrap_or(1.0 / x.ncols() as f64);
            let n_classes = y.iter().copied().max().map_or(0, |m| m + 1);
            Fitted::Svm(
                svm::fit(
                    dataset.records.view(),
                    y,
                    n_classes,
                    *c,
                    gamma,
                    *class_weight,
                )
                .map_err(fit_err)?,
            )
        }
        ModelSpec::Knn {
            k,
            distance_weighted,
        } => {
            if *k == 0 {
                return Err(fit_err("k must be at least 1".into()));
            }
            Fitted::Knn {
                records: dataset.records.clone(),
                labels: y.to_vec(),
                k: *k,
                distance_weighted: *distance_weighted,
            }
        }
        ModelSpec::RandomForest {
            n_trees,
            max_depth,
            max_features,
            seed,
        } => {
            if *n_trees == 0 {
                return Err(fit_err("n_trees must be at least 1".into()));
            }
            let mut trainer = rafor::rf::Classifier::trainer();
            trainer
                .with_trees(usize::from(*n_trees))
                .with_max_depth(max_depth.map_or(usize::MAX, usize::from))
                .with_max_features(match max_features {
                    Some(n) => MaxFeaturesPolicy::NUMBER((*n).max(1)),
                    None => MaxFeaturesPolicy::SQRT,
                })
                .with_seed(*seed)
                // Folds and grid points already run in parallel.
                .with_threads(1);
            let labels: Vec<i64> = y.iter().map(|&c| c as i64).collect();
            let forest = trainer.train(&row_major_f32(&dataset.records), &labels);
            Fitted::RandomForest(Box::new(forest))
        }
        ModelSpec::Xgboost { .. } => {
            let n_classes = y.iter().copied().max().map_or(0, |m| m + 1);
            let model = xgb::fit(spec, &dataset.records, y, n_classes).map_err(fit_err)?;
            Fitted::Xgboost { model, n_classes }
        }
    };
    Ok(TrainedModel {
        spec: spec.clone(),
        standardiser,
        fitted,
    })
}

impl TrainedModel {
    /// Predicted class index for each row of `x`.
    pub fn predict(&self, x: ArrayView2<f64>) -> Vec<usize> {
        let records = self.standardiser.transform(x);
        match &self.fitted {
            Fitted::LogisticRegression(m) => m.predict(&records).to_vec(),
            Fitted::GaussianNb(m) => m.predict(&records).to_vec(),
            Fitted::Svm(svm) => svm.predict(records.view()),
            Fitted::Knn {
                records: train,
                labels,
                k,
                distance_weighted,
            } => knn::predict(train.view(), labels, *k, *distance_weighted, records.view()),
            Fitted::RandomForest(forest) => forest
                .predict_batch(&row_major_f32(&records), 1)
                .into_iter()
                .map(|c| c as usize)
                .collect(),
            Fitted::Xgboost { model, n_classes } => xgb::predict(model, &records, *n_classes)
                .expect("a model XGBoost saved loads and predicts"),
        }
    }
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

/// The rows of `x`, one after another, as f32 (the forest's input).
fn row_major_f32(x: &Array2<f64>) -> Vec<f32> {
    x.as_standard_layout().iter().map(|&v| v as f32).collect()
}

#[cfg(test)]
mod tests {

    #[test]
    fn deep_models_parse_with_their_settings_and_reject_unknown_keys() {
        let spec: ModelSpec =
            serde_json::from_str(r#"{"kind": "cnn2d", "epochs": 3, "channels": [8, 16]}"#).unwrap();
        let (kind, params) = spec.deep().unwrap();
        assert_eq!(kind, DeepKind::Cnn2d);
        assert_eq!((params.epochs, params.channels.clone()), (3, vec![8, 16]));
        assert_eq!(spec.kind(), "cnn2d");
        // It serialises back flat, as written.
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(back["kind"], "cnn2d");
        assert_eq!(back["epochs"], 3);
        let err = serde_json::from_str::<ModelSpec>(r#"{"kind": "lstm", "epoch": 3}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `epoch`"), "{err}");
        assert!(fit(&spec, ndarray::Array2::zeros((2, 1)).view(), &[0, 1]).is_err());
    }
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

    #[test]
    fn every_model_separates_blobs() {
        let (x, y) = blobs(30);
        for spec in [
            ModelSpec::LogisticRegression {
                alpha: 1.0,
                max_iterations: 100,
            },
            ModelSpec::GaussianNb {
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
        }
    }

    #[test]
    fn random_forest_is_deterministic_for_a_seed() {
        let (x, y) = blobs(10);
        let spec = ModelSpec::RandomForest {
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
        let other = ModelSpec::RandomForest {
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
            let spec: ModelSpec = serde_json::from_str(spec).unwrap();
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
        let spec: ModelSpec = serde_json::from_str(
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
        let longer: ModelSpec = serde_json::from_str(
            r#"{"kind":"xgboost","n_estimators":31,"subsample":0.7,"seed":5}"#,
        )
        .unwrap();
        let c = fit(&longer, x.view(), &y).unwrap();
        let Fitted::Xgboost { model, .. } = &c.fitted else {
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
    fn speaker_normaliser_scales_each_speaker_by_its_own_utterances() {
        let x = ndarray::array![[1.0, 10.0], [3.0, 30.0], [100.0, 5.0], [300.0, 7.0]];
        let speakers: Vec<String> = ["a", "a", "b", "b"].iter().map(|s| s.to_string()).collect();
        let norm = SpeakerNormaliser::fit(x.view(), &speakers);
        let z = norm.transform(x.view(), &speakers).unwrap();
        // Two utterances per speaker: each column becomes -1, +1 within
        // the speaker, whatever the speaker's own level and spread.
        assert_eq!(
            z,
            ndarray::array![[-1.0, -1.0], [1.0, 1.0], [-1.0, -1.0], [1.0, 1.0]]
        );
        let err = norm
            .transform(x.view(), &["a", "a", "b", "c"].map(String::from))
            .unwrap_err();
        assert!(err.contains("speaker c"), "{err}");
    }

    #[test]
    fn the_online_normaliser_never_looks_ahead() {
        // One speaker, 12 utterances; in the normaliser's order, changing an
        // utterance changes it and those after it, never those before.
        let ids: Vec<String> = (0..12).map(|i| format!("u{i}")).collect();
        let speakers = vec!["s".to_string(); 12];
        let x = Array2::from_shape_fn((12, 2), |(i, j)| (i * 7 % 5) as f64 + j as f64 * 10.0);
        let norm = OnlineSpeakerNormaliser::fit(x.view());
        let z = norm.transform(x.view(), &speakers, &ids);
        let mut order: Vec<usize> = (0..12).collect();
        order.sort_by_cached_key(|&i| blake3::hash(ids[i].as_bytes()).to_hex().to_string());
        let changed = order[7];
        let mut x2 = x.clone();
        x2[[changed, 0]] += 100.0;
        let z2 = norm.transform(x2.view(), &speakers, &ids);
        for (position, &row) in order.iter().enumerate() {
            let same = z.row(row)[0] == z2.row(row)[0];
            assert_eq!(same, position < 7, "position {position}");
        }
    }

    #[test]
    fn the_online_normaliser_ends_at_the_speakers_own_statistics() {
        // With no prior weight, the last utterance in order is z-scored by
        // its speaker's full mean and deviation, as `speaker` would.
        let x = ndarray::array![[1.0], [3.0], [5.0], [100.0], [300.0], [500.0]];
        let speakers: Vec<String> = ["a", "a", "a", "b", "b", "b"].map(String::from).to_vec();
        let ids: Vec<String> = (0..6).map(|i| format!("id{i}")).collect();
        let online = OnlineSpeakerNormaliser {
            prior: Standardiser::fit(x.view()),
            prior_weight: 0.0,
        };
        let z = online.transform(x.view(), &speakers, &ids);
        let full = SpeakerNormaliser::fit(x.view(), &speakers)
            .transform(x.view(), &speakers)
            .unwrap();
        for rows in [[0usize, 1, 2], [3, 4, 5]] {
            let last = *rows
                .iter()
                .max_by_key(|&&i| blake3::hash(ids[i].as_bytes()).to_hex().to_string())
                .unwrap();
            assert!((z[[last, 0]] - full[[last, 0]]).abs() < 1e-12, "{z} vs {full}");
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
    fn standardiser_uses_training_statistics() {
        let train = Array2::from_shape_vec((2, 2), vec![0.0, 5.0, 2.0, 5.0]).unwrap();
        let s = Standardiser::fit(train.view());
        assert_eq!(s.mean, [1.0, 5.0]);
        assert_eq!(s.scale, [1.0, 1.0]);
        let test = Array2::from_shape_vec((1, 2), vec![3.0, 7.0]).unwrap();
        assert_eq!(s.transform(test.view()).row(0).to_vec(), [2.0, 2.0]);
    }

    #[test]
    fn rejects_bad_training_sets() {
        let x = Array2::zeros((3, 2));
        assert!(matches!(
            fit(
                &ModelSpec::GaussianNb {
                    var_smoothing: 1e-9
                },
                x.view(),
                &[0, 0, 0]
            ),
            Err(TrainError::OneClass)
        ));
        assert!(matches!(
            fit(
                &ModelSpec::GaussianNb {
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
        let spec: ModelSpec =
            serde_json::from_str(r#"{"kind":"logistic_regression","alpha":0.5}"#).unwrap();
        assert_eq!(
            spec,
            ModelSpec::LogisticRegression {
                alpha: 0.5,
                max_iterations: 300
            }
        );
        assert!(serde_json::from_str::<ModelSpec>(r#"{"kind":"gaussian_nb","alpah":1}"#).is_err());
    }
}
