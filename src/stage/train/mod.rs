//! The train node: one model fitted per fold of a protocol, with
//! predictions for each fold's test speakers, for every model family.
//!
//! Outputs: `predictions` (Parquet: id, speaker, fold, label, predicted;
//! models with probabilities add `p_<class>`), `models` (JSON, typed as
//! [`crate::artifact::schema::ModelsArtifact`]: the classes and each fold's
//! fitted model) and `params` (JSON: the model spec), saved beside the
//! models so an artifact says how it was made. Networks add `validation`
//! (the predictions table's columns, for the original utterances of the
//! training speakers they held out), which an ensemble choosing members by
//! its own validation UA reads.
//!
//! The node holds a [`ModelSpec`]: a classic model ([`classic`]) or a
//! network ([`deep`]), both `ser_learn::Learner`s. What they share lives
//! here and in [`fold_set`]: which rows a fold trains on (its own
//! utterances, their augmented copies, the leak guard), the columns a
//! select node kept per fold, and the artifacts. What differs is how
//! settings are searched and what is cached per fold:
//!
//! - a classic model with a `grid:` scores every point by UA over
//!   speaker-grouped inner folds of the training fold (never its test
//!   speakers), refits the best on the whole training fold, and caches
//!   each (fold, point) score as a per-item record, so a grid that grows
//!   by one value scores only the new points;
//! - a network caches each fold's training (weights, curves, test
//!   predictions) as a per-item record; with a `grid:` every point is
//!   trained and the one with the best validation UA (speakers held out of
//!   the training fold) gives the fold's predictions.

pub mod classic;
pub mod deep;
pub mod fold_set;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use ser_evaluate::Fold;
use ser_learn::GridSearch;
use ser_train::FeatureNormalize;

pub use fold_set::{FoldSet, RowKeys};

use super::{Context, Inputs, Outputs, Placement, Role, Stage};
use crate::artifact::features::{feature_columns, with_probabilities};
use crate::artifact::schema::{ModelsArtifact, SelectionArtifact};
use crate::artifact::{Table, parquet_read, parquet_write};
use crate::model::ModelSpec;

pub struct TrainStage {
    pub model: ModelSpec,
    pub grid: Option<GridSearch>,
    /// Per-speaker z-scoring before the fold's standardiser (classic
    /// models; see [`ser_train::SpeakerNormaliser`]).
    pub normalize: FeatureNormalize,
    /// A classic model's validation predictions (`validation:`).
    pub held_out: Option<ser_learn::held_out::HeldOut>,
    /// Test-time augmentation (`test_copies: true`).
    pub test_copies: bool,
}

/// The classic train node's own version, beside its model's: 1, the
/// predictions table gained `p_<class>` columns (the models are fitted as
/// before; grid scores are reused).
const CLASSIC_NODE_VERSION: u32 = 1;

impl Stage for TrainStage {
    fn stage(&self) -> &'static str {
        "train"
    }

    /// The learner's code version plus the node's own: a network's (see
    /// [`deep::node_code_version`]) or a classic model's
    /// ([`CLASSIC_NODE_VERSION`]).
    fn code_version(&self) -> u32 {
        match &self.model {
            ModelSpec::Classic(spec) => spec.code_version() + 100 * CLASSIC_NODE_VERSION,
            ModelSpec::Deep(spec) => deep::node_code_version(spec.kind),
        }
    }

    fn params(&self) -> Value {
        let mut params = match &self.grid {
            None => json!({ "model": self.model }),
            Some(grid) => json!({ "model": self.model, "grid": grid }),
        };
        // Only when set, so the default keeps the keys cached before the
        // option existed.
        if self.normalize != FeatureNormalize::Global {
            params["normalize"] = json!(self.normalize);
        }
        if let Some(held_out) = &self.held_out {
            params["validation"] = json!(held_out);
        }
        if self.test_copies {
            params["test_copies"] = json!(true);
        }
        params
    }

    /// Networks get the `deep` resources; a GPU goes with `device: gpu`
    /// (networks, XGBoost).
    fn placement(&self) -> Placement {
        match &self.model {
            ModelSpec::Deep(spec) => Placement {
                class: "deep",
                per_item: false,
                gpu: spec.params.device == ser_deep::Device::Gpu,
            },
            ModelSpec::Classic(spec) => Placement {
                class: "train",
                per_item: false,
                gpu: spec.device() == ser_train::Device::Gpu,
            },
        }
    }

    fn reads(&self, role: Role) -> &'static [&'static str] {
        match role {
            Role::Features | Role::Augmented => &["features"],
            Role::Folds => &["folds"],
            Role::Selection => &["selected"],
            Role::Frames | Role::AugmentedFrames => &["frames"],
            Role::Signals | Role::AugmentedSignals => &["manifest"],
            // Speakers' genders, for models with a gender target.
            Role::Corpus => &["manifest"],
            _ => &[],
        }
    }

    fn run(&self, ctx: &Context, inputs: &Inputs) -> anyhow::Result<Outputs> {
        match &self.model {
            ModelSpec::Classic(spec) => classic::run(ctx, inputs, spec, self),
            ModelSpec::Deep(spec) => {
                let points = match &self.grid {
                    Some(grid) => Some(self.model.grid_points(grid).map_err(anyhow::Error::msg)?),
                    None => None,
                };
                deep::run(
                    ctx,
                    inputs,
                    spec,
                    &serde_json::to_value(&self.model)?,
                    points.as_deref(),
                    self.test_copies,
                )
            }
        }
    }
}

/// The protocol's folds.
fn read_folds(ctx: &Context, inputs: &Inputs) -> anyhow::Result<Vec<Fold>> {
    Ok(serde_json::from_slice(
        &ctx.cache.read_object(inputs.file(Role::Folds, "folds")?)?,
    )?)
}

/// Per fold, the column indices a select node kept (None without one),
/// as positions among `names`.
fn selected_columns(
    ctx: &Context,
    inputs: &Inputs,
    names: &[String],
) -> anyhow::Result<Option<BTreeMap<String, Vec<usize>>>> {
    let Ok(object) = inputs.file(Role::Selection, "selected") else {
        return Ok(None);
    };
    let artifact: SelectionArtifact = serde_json::from_slice(&ctx.cache.read_object(object)?)?;
    artifact.column_indices(names).map(Some)
}

/// A feature table's column names (to resolve a selection against).
fn feature_names(ctx: &Context, object: &str) -> anyhow::Result<Vec<String>> {
    let table = parquet_read::from_parquet(ctx.cache.read_object(object)?)?;
    Ok(feature_columns(&table)?.0)
}

/// The columns a fold uses (all without a selection).
fn fold_columns<'a>(
    selection: Option<&'a BTreeMap<String, Vec<usize>>>,
    fold: &Fold,
) -> anyhow::Result<Option<&'a [usize]>> {
    match selection {
        None => Ok(None),
        Some(by_fold) => by_fold
            .get(&fold.name)
            .map(|c| Some(c.as_slice()))
            .ok_or_else(|| anyhow::anyhow!("no selection for fold {}", fold.name)),
    }
}

/// The test predictions of every fold, in fold order: (corpus row, fold,
/// predicted class), and each row's class probabilities when the model
/// has them.
#[derive(Default)]
struct FoldPredictions {
    rows: Vec<(usize, String, usize)>,
    probabilities: Option<Vec<Vec<f32>>>,
}

impl FoldPredictions {
    fn push(
        &mut self,
        fold: &Fold,
        predicted: Vec<(usize, usize)>,
        probabilities: Option<Vec<Vec<f32>>>,
    ) {
        self.rows.extend(
            predicted
                .into_iter()
                .map(|(i, c)| (i, fold.name.clone(), c)),
        );
        if let Some(p) = probabilities {
            self.probabilities.get_or_insert_with(Vec::new).extend(p);
        }
    }

    /// The predictions table (id, speaker, corpus when there are several,
    /// fold, label, predicted, and `p_<class>` when there are
    /// probabilities).
    fn table(&self, corpus: RowKeys<'_>, labels: &[String], classes: &[String]) -> Table {
        let column = |f: &dyn Fn(&(usize, String, usize)) -> String| -> Vec<String> {
            self.rows.iter().map(f).collect()
        };
        let mut table = Table::new()
            .strings("id", column(&|p| corpus.ids[p.0].clone()))
            .strings("speaker", column(&|p| corpus.speakers[p.0].clone()));
        if !corpus.corpora.is_empty() {
            table = table.strings("corpus", column(&|p| corpus.corpora[p.0].clone()));
        }
        let table = table
            .strings("fold", column(&|p| p.1.clone()))
            .strings("label", column(&|p| labels[p.0].clone()))
            .strings("predicted", column(&|p| classes[p.2].clone()));
        match &self.probabilities {
            Some(p) => with_probabilities(table, classes, p),
            None => table,
        }
    }
}

/// A train node's artifacts: the predictions table, the fitted models per
/// fold with the class list, and the model's settings beside them.
fn train_artifacts(
    ctx: &Context,
    predictions: &Table,
    models: &ModelsArtifact,
    spec: &Value,
) -> anyhow::Result<BTreeMap<String, String>> {
    let cache = &ctx.cache;
    Ok(BTreeMap::from([
        (
            "predictions".to_string(),
            cache.put_object(&parquet_write::to_parquet(predictions)?, "parquet")?,
        ),
        (
            "models".to_string(),
            // Through a Value, so keys are sorted as they always were.
            cache.put_object(&serde_json::to_vec(&serde_json::to_value(models)?)?, "json")?,
        ),
        (
            "params".to_string(),
            cache.put_object(&serde_json::to_vec_pretty(spec)?, "json")?,
        ),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement(model: &str) -> Placement {
        TrainStage {
            model: serde_json::from_str(model).unwrap(),
            grid: None,
            normalize: FeatureNormalize::Global,
            held_out: None,
            test_copies: false,
        }
        .placement()
    }

    /// The Slurm executor asks for `--gpus` exactly for the models that
    /// train on one: networks and XGBoost with `device: gpu`.
    #[test]
    fn gpu_models_ask_the_executor_for_a_gpu() {
        let xgb_gpu = placement(r#"{"kind":"xgboost","device":"gpu"}"#);
        assert!(xgb_gpu.gpu);
        assert_eq!(xgb_gpu.class, "train");
        assert!(!placement(r#"{"kind":"xgboost"}"#).gpu);
        assert!(!placement(r#"{"kind":"svm"}"#).gpu);
        let net = placement(r#"{"kind":"mlp","device":"gpu"}"#);
        assert!(net.gpu);
        assert_eq!(net.class, "deep");
        assert!(!placement(r#"{"kind":"mlp"}"#).gpu);
    }
}
