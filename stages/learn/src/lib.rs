//! The learner contract: what every model family ser trains (the classic
//! models in `ser-train`, the networks in `ser-deep`) offers the engine.
//!
//! A [`Learner`] is a model's settings as written in pipeline.yaml. It says
//! what it reads ([`Input`]), which code version its numbers come from
//! (bumped when they change, so only that family's cached results rerun),
//! and fits on one fold's [`TrainingSet`]. The result is a [`Fitted`]
//! model: it serialises (JSON; a network's weights travel beside it, see
//! [`Fitted::weights`]) and predicts class indices and, where the model
//! has them, class probabilities for new rows.
//!
//! The engine holds a model as one of the two families and drives both
//! through this contract; neither family crate depends on the other.
//! [`grid`] expands a model's `grid:` into concrete settings for any
//! learner that serialises to a flat object; [`held_out`] draws the
//! validation speakers every family holds out the same way.

pub mod grid;
pub mod held_out;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

pub use grid::{Grid, GridPoint, GridSearch};

/// Where a model trains: the CPU, or a GPU where the binary was built for
/// one (the networks' `gpu` feature, XGBoost's `xgboost-gpu`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    #[default]
    Cpu,
    Gpu,
}

impl Device {
    /// The default, left out of a model's serialised settings where the
    /// option came later, so cached keys stay as they were.
    pub fn is_cpu(&self) -> bool {
        *self == Device::Cpu
    }
}

/// What a model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// One vector per utterance (the feature table's row).
    Functionals,
    /// A frames x descriptors matrix per utterance (an extract node's
    /// `frames`; for `cnn2d` and `cnn_transformer`, a log-mel spectrogram).
    Frames,
    /// The utterance's signal, samples x 1.
    Waveform,
}

/// One utterance as a sequence model reads it: `frames` rows of `dims`
/// values, row-major (a functionals vector is one frame).
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub values: Vec<f32>,
    pub frames: usize,
}

impl Example {
    pub fn new(values: Vec<f32>, frames: usize) -> Example {
        Example { values, frames }
    }
}

/// Rows to fit on or predict: a matrix (utterances x features) or one
/// [`Example`] per utterance, each `dims` values wide per frame.
#[derive(Debug, Clone, Copy)]
pub enum Rows<'a> {
    Matrix(ArrayView2<'a, f64>),
    Sequences {
        examples: &'a [Example],
        dims: usize,
    },
}

impl Rows<'_> {
    pub fn len(&self) -> usize {
        match self {
            Rows::Matrix(x) => x.nrows(),
            Rows::Sequences { examples, .. } => examples.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One fold's training set, as the engine's fold builder assembled it
/// (its own utterances, then any augmented copies of them, after the
/// leak guard).
#[derive(Debug, Clone, Copy)]
pub struct TrainingSet<'a> {
    pub rows: Rows<'a>,
    /// Class index of each row, in `0..classes`.
    pub labels: &'a [usize],
    /// Speaker of each row (validation splits, speaker normalisation).
    pub speakers: &'a [String],
    pub classes: usize,
    /// Each row's gender as a class index ([`FEMALE`], [`MALE`]; None where
    /// the corpus does not say), given only to learners whose
    /// [`Learner::reads_genders`] is true: an auxiliary target.
    pub genders: Option<&'a [Option<usize>]>,
    /// Which rows are augmented copies (None: none are). Learners that hold
    /// speakers out for validation train on a held-out speaker's copies
    /// never and validate on its recorded utterances only.
    pub copies: Option<&'a [bool]>,
}

/// The gender class indices of [`TrainingSet::genders`].
pub const FEMALE: usize = 0;
pub const MALE: usize = 1;

/// What a fitted model says about some rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// Predicted class index per row.
    pub classes: Vec<usize>,
    /// Class probabilities per row (each sums to one), for models that
    /// have them.
    pub probabilities: Option<Vec<Vec<f32>>>,
}

impl Predictions {
    /// One prediction per group of rows of `probabilities` (a row and its
    /// augmented copies, for test-time augmentation): the mean of the
    /// group's class probabilities, and its most probable class.
    pub fn mean_of_groups(probabilities: &[Vec<f32>], groups: &[Vec<usize>]) -> Predictions {
        let means: Vec<Vec<f32>> = groups
            .iter()
            .map(|group| {
                let mut sum = vec![0.0f64; probabilities[group[0]].len()];
                for &g in group {
                    for (s, &v) in sum.iter_mut().zip(&probabilities[g]) {
                        *s += f64::from(v);
                    }
                }
                sum.iter()
                    .map(|s| (s / group.len() as f64) as f32)
                    .collect()
            })
            .collect();
        Predictions {
            classes: means.iter().map(|p| argmax(p)).collect(),
            probabilities: Some(means),
        }
    }
}

/// The first of the most probable classes.
pub fn argmax(p: &[f32]) -> usize {
    p.iter()
        .enumerate()
        .fold(0, |best, (c, &v)| if v > p[best] { c } else { best })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_is_the_mean_of_its_rows_and_its_argmax() {
        let probabilities = vec![
            vec![0.9, 0.1], // row 0
            vec![0.2, 0.8], // row 1, alone
            vec![0.3, 0.7], // row 0's copies
            vec![0.1, 0.9],
        ];
        let p = Predictions::mean_of_groups(&probabilities, &[vec![0, 2, 3], vec![1]]);
        assert_eq!(p.classes, [1, 1]);
        let means = p.probabilities.unwrap();
        for (got, want) in means
            .iter()
            .flatten()
            .zip([13.0 / 30.0, 17.0 / 30.0, 0.2, 0.8])
        {
            assert!((got - want).abs() < 1e-6, "{means:?}");
        }
        // A tie goes to the first class.
        assert_eq!(argmax(&[0.5, 0.5]), 0);
    }
}

/// What one epoch of an iterative learner did, for progress display.
#[derive(Debug, Clone)]
pub struct EpochReport {
    pub epoch: usize,
    pub epochs: usize,
    pub train_loss: f64,
    pub validation_ua: Option<f64>,
}

/// A model's settings: what it reads and how it fits.
pub trait Learner {
    type Fitted: Fitted;
    type Error: std::error::Error + Send + Sync + 'static;

    /// The name pipeline.yaml gives the model kind (`svm`, `lstm`, ...).
    fn kind(&self) -> &'static str;
    /// What the model reads.
    fn input(&self) -> Input;
    /// Bumped when the numbers this kind fits change, so that change
    /// reruns only its cached results.
    fn code_version(&self) -> u32;
    /// Whether fitting reads the speakers' genders (an auxiliary target),
    /// so the engine must supply [`TrainingSet::genders`].
    fn reads_genders(&self) -> bool {
        false
    }
    /// Fit on one fold's training set. Iterative learners call
    /// `on_epoch` after each epoch.
    fn fit(
        &self,
        data: &TrainingSet<'_>,
        on_epoch: &mut dyn FnMut(&EpochReport),
    ) -> Result<Self::Fitted, Self::Error>;
}

/// A fitted model: predicts, and serialises so it can be cached, exported
/// and loaded again to predict the same numbers.
pub trait Fitted: Serialize + for<'de> Deserialize<'de> {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Predictions for `rows`; `speakers` names each row's speaker, for
    /// models normalised per speaker.
    fn predict(&self, rows: Rows<'_>, speakers: &[String]) -> Result<Predictions, Self::Error>;

    /// Bytes kept outside the JSON (a network's weights), if any.
    fn weights(&self) -> Option<&[u8]> {
        None
    }
}
