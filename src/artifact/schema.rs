//! Typed JSON artifacts: the structs a node writes and the commands and
//! nodes that read it share, so a renamed or missing field is a compile
//! error or a clear decode error, not a silent `null`.
//!
//! - [`SelectionArtifact`]: a select node's `selected` (per fold, the kept
//!   columns and the wrapper's search);
//! - [`ModelsArtifact`]: a train node's `models` (the classes and, per
//!   fold, the fitted model: a classic model's JSON or a network's
//!   settings, curves and weights object);
//! - [`EvaluationSummary`]: an evaluate node's `summary` (metrics with
//!   their intervals, the confusion, per-fold scores).

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use ser_evaluate::metrics::{Bootstrap, Unit};
use ser_select::wrapper::Elimination;

/// One fold's selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldSelection {
    pub fold: String,
    /// Kept columns, by name, in ranking order.
    pub columns: Vec<String>,
    #[serde(default)]
    pub wrapper: Option<Elimination>,
}

/// A select node's `selected` artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectionArtifact {
    pub folds: Vec<FoldSelection>,
    /// How many folds kept each column.
    pub kept_in_folds: BTreeMap<String, usize>,
}

impl SelectionArtifact {
    /// Each fold's kept columns as positions among `names` (a feature
    /// table's columns); a column the table lacks is an error naming it.
    pub fn column_indices(&self, names: &[String]) -> anyhow::Result<BTreeMap<String, Vec<usize>>> {
        let index: BTreeMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        self.folds
            .iter()
            .map(|f| {
                let columns = f
                    .columns
                    .iter()
                    .map(|c| {
                        index.get(c.as_str()).copied().ok_or_else(|| {
                            anyhow::anyhow!("selected column {c} is not in the feature table")
                        })
                    })
                    .collect::<anyhow::Result<Vec<usize>>>()?;
                Ok((f.fold.clone(), columns))
            })
            .collect()
    }
}

/// A train node's `models` artifact.
#[derive(Debug, Serialize, Deserialize)]
pub struct ModelsArtifact {
    pub classes: Vec<String>,
    pub folds: Vec<FoldModel>,
}

/// One fold's fitted model, by family.
// One per fold, serialised once: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum FoldModel {
    Classic(ClassicFold),
    Deep(DeepFold),
}

impl<'de> Deserialize<'de> for FoldModel {
    /// A classic fold has a `model`, a network's a `net`. (Read through a
    /// JSON value rather than serde's untagged buffering, which cannot
    /// read a naive Bayes model's class-keyed maps back.)
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        if value.get("model").is_some() {
            ClassicFold::deserialize(value).map(FoldModel::Classic)
        } else if value.get("net").is_some() {
            DeepFold::deserialize(value).map(FoldModel::Deep)
        } else {
            return Err(D::Error::custom(
                "a fold model has neither `model` nor `net`",
            ));
        }
        .map_err(D::Error::custom)
    }
}

impl FoldModel {
    pub fn fold(&self) -> &str {
        match self {
            FoldModel::Classic(f) => &f.fold,
            FoldModel::Deep(f) => &f.fold,
        }
    }

    /// The fold's UA on validation speakers held out of its training set:
    /// a network's (the mean over its networks when several); none for a
    /// classic model.
    pub fn validation_ua(&self) -> Option<f64> {
        match self {
            FoldModel::Classic(f) => f.validation_ua,
            FoldModel::Deep(f) => f.validation_ua.or(f.net.best_validation_ua),
        }
    }
}

/// A classic model fitted on one fold.
#[derive(Debug, Serialize, Deserialize)]
pub struct ClassicFold {
    pub fold: String,
    pub n_features: usize,
    /// The standardiser and the fitted model.
    pub model: ser_train::TrainedModel,
    /// The grid search's record, with a `grid:`.
    pub grid: Option<InnerCvSearch>,
    pub n_train: usize,
    pub n_augmented: usize,
    /// With `validation:`, the mean over its seeds of each held-out fit's
    /// UA on the speakers it held out (what `keep_best` ranks by).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_ua: Option<f64>,
}

/// A classic model's grid search in one fold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InnerCvSearch {
    /// The chosen point's values.
    pub chosen: BTreeMap<String, Value>,
    pub inner_folds: usize,
    pub scores: Vec<GridScore>,
    /// Points scored by this run, and points read from the cache.
    pub computed: usize,
    pub reused: usize,
    /// The per-item records (`train-grid/<key>`) of the scores.
    pub items: Vec<String>,
}

/// A grid point's inner-CV score in one fold (also its per-item record).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GridScore {
    pub params: BTreeMap<String, Value>,
    pub ua: f64,
}

/// A network (or several) trained on one fold.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeepFold {
    pub fold: String,
    /// The first network's settings, normaliser and curves.
    pub net: ser_deep::TrainedNet,
    /// Its weights (a burnpack object in the cache).
    pub weights: String,
    pub curves: Vec<ser_deep::Curve>,
    pub n_train: usize,
    pub n_augmented: usize,
    /// With several networks: the mean of their validation UAs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_ua: Option<f64>,
    /// With several networks: each one's seed, weights and scores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<Vec<NetworkEntry>>,
    /// With a `grid:`: the point chosen on validation speakers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid: Option<ValidationChoice>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkEntry {
    pub seed: u64,
    pub weights: String,
    pub best_epoch: usize,
    pub best_validation_ua: Option<f64>,
}

/// A classic grid's choice in one fold, as the train node's summary lists
/// it (`grid.chosen`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InnerCvChoice {
    pub fold: String,
    pub params: BTreeMap<String, Value>,
}

/// The members a `keep_best` (or `choose`) ensemble kept in one fold, with
/// the validation UA each was ranked by, as the ensemble node's summary
/// lists them (`kept`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeptMembers {
    pub fold: String,
    pub members: Vec<String>,
    /// Each kept member's own validation UA (with `choose`, on the
    /// validation utterances every member held out).
    pub validation_ua: Vec<f64>,
    /// With `choose`: the kept members' mean's validation UA, what chose
    /// them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble_validation_ua: Option<f64>,
    /// With `choose`: how many validation utterances (and speakers) every
    /// member held out in this fold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_utterances: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_speakers: Option<usize>,
    /// With `bags`: each kept member's weight in the fold's mean (its share
    /// of the bags' means; they sum to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
}

/// A network grid's choice in one fold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidationChoice {
    pub fold: String,
    pub chosen: Option<BTreeMap<String, Value>>,
    pub validation_ua: f64,
    pub points: Vec<PointScore>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PointScore {
    pub params: Option<BTreeMap<String, Value>>,
    pub validation_ua: f64,
}

/// An evaluate node's `summary`. (JSON writes a NaN as null; these
/// fields read a null back as NaN.)
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvaluationSummary {
    /// Means over folds.
    #[serde(deserialize_with = "lenient::number")]
    pub ua: f64,
    #[serde(deserialize_with = "lenient::number")]
    pub wa: f64,
    #[serde(deserialize_with = "lenient::number")]
    pub macro_f1: f64,
    pub n_test: usize,
    #[serde(default)]
    pub n_speakers: usize,
    /// 95% bootstrap intervals, resampling `ci_unit`s.
    #[serde(deserialize_with = "lenient::pair")]
    pub ua_ci: [f64; 2],
    #[serde(deserialize_with = "lenient::pair")]
    pub wa_ci: [f64; 2],
    /// `speaker` (clustered) or, in summaries made before it existed,
    /// `utterance`.
    #[serde(default = "utterance")]
    pub ci_unit: Unit,
    /// The same intervals resampling single utterances.
    #[serde(default, deserialize_with = "lenient::optional_pair")]
    pub ua_ci_utterance: Option<[f64; 2]>,
    #[serde(default, deserialize_with = "lenient::optional_pair")]
    pub wa_ci_utterance: Option<[f64; 2]>,
    #[serde(default)]
    pub bootstrap: Option<Bootstrap>,
    pub classes: Vec<String>,
    /// All folds' test predictions together.
    pub pooled: ser_evaluate::metrics::Metrics,
    #[serde(default)]
    pub confusion_normalized: Vec<Vec<f64>>,
    pub folds: Vec<FoldScore>,
    /// Per test corpus, when the test rows come from several corpora.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_corpus: BTreeMap<String, CorpusScore>,
}

/// One test corpus's share of an evaluation: its rows' fold means, and 95%
/// intervals resampling its speakers within folds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusScore {
    #[serde(deserialize_with = "lenient::number")]
    pub ua: f64,
    #[serde(deserialize_with = "lenient::number")]
    pub wa: f64,
    #[serde(deserialize_with = "lenient::number")]
    pub macro_f1: f64,
    pub n_test: usize,
    pub n_speakers: usize,
    #[serde(deserialize_with = "lenient::pair")]
    pub ua_ci: [f64; 2],
    #[serde(deserialize_with = "lenient::pair")]
    pub wa_ci: [f64; 2],
}

fn utterance() -> Unit {
    Unit::Utterance
}

/// Numbers that JSON may hold as null (a NaN when written).
mod lenient {
    use serde::{Deserialize, Deserializer};

    pub fn number<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }

    pub fn pair<'de, D: Deserializer<'de>>(d: D) -> Result<[f64; 2], D::Error> {
        let [a, b] = <[Option<f64>; 2]>::deserialize(d)?;
        Ok([a.unwrap_or(f64::NAN), b.unwrap_or(f64::NAN)])
    }

    pub fn optional_pair<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[f64; 2]>, D::Error> {
        Ok(Option::<[Option<f64>; 2]>::deserialize(d)?
            .map(|[a, b]| [a.unwrap_or(f64::NAN), b.unwrap_or(f64::NAN)]))
    }
}

impl EvaluationSummary {
    /// The utterance-resampled UA interval (the only one older summaries
    /// have).
    pub fn ua_ci_by_utterance(&self) -> [f64; 2] {
        self.ua_ci_utterance.unwrap_or(self.ua_ci)
    }

    pub fn wa_ci_by_utterance(&self) -> [f64; 2] {
        self.wa_ci_utterance.unwrap_or(self.wa_ci)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoldScore {
    pub fold: String,
    pub ua: f64,
    pub wa: f64,
    pub macro_f1: f64,
    pub n: usize,
}
