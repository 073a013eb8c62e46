//! The train node: one model fitted per fold of a protocol on a feature
//! table, with predictions for each fold's test speakers.
//!
//! Outputs: `predictions` (Parquet: id, speaker, fold, label, predicted;
//! deep models add `p_<class>` probabilities),
//! `models` (JSON: classes and each fold's standardiser and fitted model)
//! and `params` (JSON: the model spec), saved beside the models so an
//! artifact says how it was made.
//!
//! A model with a `grid:` is tuned in each training fold: every grid point
//! is scored by UA over speaker-grouped inner folds of that training fold
//! (never touching its test speakers), the best point (the first listed on
//! ties) is refitted on the whole training fold, and the chosen values are
//! recorded per fold. Each (fold, point) score is a per-item record keyed
//! by the feature table, the selection, the fold and the point, so a grid
//! that grows by one value scores only the new points.
//!
//! With an augmentation (`augmented` input), a fold's training rows also
//! get the augmented copies whose source is one of its training
//! utterances; grid search still scores on the fold's own utterances only.
//! Before fitting, the assembled training set goes through the leak guard
//! ([`ser_evaluate::leak`]): a row that is, or derives from, a test
//! utterance stops the node.

use std::collections::{BTreeMap, BTreeSet};

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use serde_json::{Value, json};

use ser_evaluate::Fold;
use ser_evaluate::leak::{self, TrainingRow};
use ser_train::{FeatureNormalize, GridSearch, ModelSpec, OnlineSpeakerNormaliser, SpeakerNormaliser};

use super::{Context, Inputs, Outputs, Placement, Stage, inner_cv, item_key};
use crate::artifact::{ColumnData, Table, parquet_read, parquet_write};

/// The train stage's code version for a model: bumped per model family
/// when the numbers it fits change, so that change reruns only that
/// family's nodes and grid scores (deep nodes are costly to redo).
/// 2: the SVM on LIBSVM's solver with one Gram matrix per fit, k-NN by
/// matrix products (both were linfa's), the random forest on rafor (was
/// smartcore's).
fn code_version_of(model: &ModelSpec) -> u32 {
    if let Some((kind, _)) = model.deep() {
        return super::train_deep::node_code_version(kind);
    }
    match model {
        ModelSpec::Svm { .. } | ModelSpec::Knn { .. } | ModelSpec::RandomForest { .. } => 2,
        _ => 1,
    }
}

/// Columns of a feature table that are not features.
pub const KEY_COLUMNS: [&str; 4] = ["id", "speaker", "label", "source"];

pub struct TrainStage {
    pub model: ModelSpec,
    pub grid: Option<GridSearch>,
    /// Per-speaker z-scoring before the fold's standardiser (classic
    /// models; see [`ser_train::SpeakerNormaliser`]).
    pub normalize: FeatureNormalize,
}

/// A grid point's inner-CV score in one fold, as cached.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct GridScore {
    params: BTreeMap<String, Value>,
    ua: f64,
}

impl Stage for TrainStage {
    fn stage(&self) -> &'static str {
        "train"
    }

    fn code_version(&self) -> u32 {
        code_version_of(&self.model)
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
        params
    }

    /// Deep models get the `deep` resources (and a GPU with `device: gpu`).
    fn placement(&self) -> Placement {
        match self.model.deep() {
            Some((_, params)) => Placement {
                class: "deep",
                per_item: false,
                gpu: params.device == ser_deep::Device::Gpu,
            },
            None => Placement {
                class: "train",
                per_item: false,
                gpu: false,
            },
        }
    }

    fn reads(&self, role: &str) -> &'static [&'static str] {
        match role {
            "features" => &["features"],
            "folds" => &["folds"],
            "selection" => &["selected"],
            "augmented" => &["features"],
            // Deep models (see train_deep): frame sequences or signals.
            "frames" | "augmented_frames" => &["frames"],
            "signals" | "augmented_signals" => &["manifest"],
            _ => &[],
        }
    }

    fn run(&self, ctx: &Context, inputs: &Inputs) -> anyhow::Result<Outputs> {
        if let Some((kind, params)) = self.model.deep() {
            let points = match &self.grid {
                Some(grid) => Some(grid.points(&self.model).map_err(anyhow::Error::msg)?),
                None => None,
            };
            return super::train_deep::run(
                ctx,
                inputs,
                kind,
                params,
                &serde_json::to_value(&self.model)?,
                points.as_deref(),
            );
        }
        let (table, folds) = features_and_folds(ctx, inputs)?;
        let ids = table.utf8("id")?;
        let speakers = table.utf8("speaker")?;
        let labels = table.utf8("label")?;
        let (classes, y) = class_indices(&labels);
        let (names, mut x) = feature_columns(&table)?;
        // Per fold, the columns a select node kept (all columns without one).
        let selected: Option<BTreeMap<String, Vec<usize>>> =
            match inputs.file("selection", "selected") {
                Ok(object) => Some(selected_columns(&ctx.cache.read_object(object)?, &names)?),
                Err(_) => None,
            };
        let mut augmented = match inputs.file("augmented", "features") {
            Ok(object) => Some(Augmented::load(ctx, object, &names, &classes)?),
            Err(_) => None,
        };
        // Refused by config validation; a guard for a graph built otherwise.
        anyhow::ensure!(
            !(self.normalize == FeatureNormalize::SpeakerOnline && augmented.is_some()),
            "normalize: speaker_online does not take augmented copies yet"
        );
        if self.normalize == FeatureNormalize::Speaker {
            // Statistics from each speaker's own utterances (features, not
            // labels); augmented copies are scaled by their source
            // speaker's, so a copy moves with the utterance it came from.
            let normaliser = SpeakerNormaliser::fit(x.view(), &speakers);
            x = normaliser
                .transform(x.view(), &speakers)
                .map_err(anyhow::Error::msg)?;
            if let Some(aug) = &mut augmented {
                aug.x = normaliser
                    .transform(aug.x.view(), &aug.speakers)
                    .map_err(|e| anyhow::anyhow!("augmented features: {e}"))?;
            }
        }

        let per_fold: Vec<anyhow::Result<FoldResult>> = folds
            .par_iter()
            .map(|fold| {
                let ser_evaluate::protocol::Split { train, test } = fold.split(&speakers, &ids);
                anyhow::ensure!(
                    !test.is_empty(),
                    "fold {} has no test utterances",
                    fold.name
                );
                let columns: Option<&Vec<usize>> =
                    match &selected {
                        Some(by_fold) => Some(by_fold.get(&fold.name).ok_or_else(|| {
                            anyhow::anyhow!("no selection for fold {}", fold.name)
                        })?),
                        None => None,
                    };
                // speaker_online: per fold, with the fold's training rows
                // as the prior, so no test utterance informs another's scale.
                let online;
                let x = if self.normalize == FeatureNormalize::SpeakerOnline {
                    let normaliser =
                        OnlineSpeakerNormaliser::fit(x.select(ndarray::Axis(0), &train).view());
                    online = normaliser.transform(x.view(), &speakers, &ids);
                    &online
                } else {
                    &x
                };
                let x = match columns {
                    Some(columns) => x.select(ndarray::Axis(1), columns),
                    None => x.clone(),
                };
                let mut x_train = x.select(ndarray::Axis(0), &train);
                let mut y_train: Vec<usize> = train.iter().map(|&i| y[i]).collect();
                let test_ids: BTreeSet<&str> = test.iter().map(|&i| ids[i].as_str()).collect();
                let mut training_rows: Vec<TrainingRow> = train
                    .iter()
                    .map(|&i| TrainingRow {
                        id: &ids[i],
                        speaker: &speakers[i],
                        source: None,
                    })
                    .collect();
                let mut n_augmented = 0;
                if let Some(aug) = &augmented {
                    let train_ids: BTreeSet<&str> =
                        train.iter().map(|&i| ids[i].as_str()).collect();
                    let rows: Vec<usize> = (0..aug.ids.len())
                        .filter(|&r| train_ids.contains(aug.sources[r].as_str()))
                        .collect();
                    let mut extra = aug.x.select(ndarray::Axis(0), &rows);
                    if let Some(columns) = columns {
                        extra = extra.select(ndarray::Axis(1), columns);
                    }
                    x_train = ndarray::concatenate![ndarray::Axis(0), x_train, extra];
                    y_train.extend(rows.iter().map(|&r| aug.y[r]));
                    training_rows.extend(rows.iter().map(|&r| TrainingRow {
                        id: &aug.ids[r],
                        speaker: &aug.speakers[r],
                        source: Some(&aug.sources[r]),
                    }));
                    n_augmented = rows.len();
                }
                leak::check_training_set(fold, &training_rows, &test_ids)
                    .map_err(|e| anyhow::anyhow!("refusing to train: {e}"))?;
                let (spec, search) = match &self.grid {
                    None => (self.model.clone(), None),
                    Some(grid) => {
                        let s_train: Vec<String> =
                            train.iter().map(|&i| speakers[i].clone()).collect();
                        let cell = GridCell {
                            ctx,
                            grid,
                            input: format!(
                                "{}\0{}\0{}",
                                inputs.file("features", "features")?,
                                inputs
                                    .file("selection", "selected")
                                    .map_or("", |s| s.as_str()),
                                serde_json::to_string(fold)?
                            ),
                        };
                        // Grid search scores on the fold's own utterances (the
                        // first rows; augmented copies are appended after
                        // them): an inner validation speaker's copies would
                        // otherwise sit in the inner training rows.
                        let n = train.len();
                        let (x_own, y_own) = (x_train.slice(ndarray::s![..n, ..]), &y_train[..n]);
                        let (spec, search) = cell
                            .search(&self.model, x_own, y_own, &s_train)
                            .map_err(|e| {
                                anyhow::anyhow!("fold {}: grid search: {e:#}", fold.name)
                            })?;
                        (spec, Some(search))
                    }
                };
                let model = ser_train::fit(&spec, x_train.view(), &y_train)
                    .map_err(|e| anyhow::anyhow!("fold {}: {e}", fold.name))?;
                let predicted = model.predict(x.select(ndarray::Axis(0), &test).view());
                Ok((
                    json!({
                        "fold": fold.name, "n_features": x.ncols(), "model": model,
                        "grid": search, "n_train": train.len(), "n_augmented": n_augmented,
                    }),
                    test.into_iter().zip(predicted).collect(),
                ))
            })
            .collect();

        let mut models: Vec<Value> = Vec::new();
        let (mut p_id, mut p_speaker, mut p_fold, mut p_label, mut p_pred) =
            (vec![], vec![], vec![], vec![], vec![]);
        for (fold, result) in folds.iter().zip(per_fold) {
            let (model, predictions) = result?;
            models.push(model);
            for (i, pred) in predictions {
                p_id.push(ids[i].clone());
                p_speaker.push(speakers[i].clone());
                p_fold.push(fold.name.clone());
                p_label.push(labels[i].clone());
                p_pred.push(classes[pred].clone());
            }
        }
        let predictions = Table::new()
            .strings("id", p_id)
            .strings("speaker", p_speaker)
            .strings("fold", p_fold)
            .strings("label", p_label)
            .strings("predicted", p_pred);
        // The params artifact says how the models were made: the spec, and
        // the speaker normalisation their inputs went through (its
        // statistics come from each speaker's own utterances at prediction
        // time, as for the deep models, so only the mode is kept).
        let mut spec = json!(self.model);
        if self.normalize != FeatureNormalize::Global {
            spec["normalize"] = json!(self.normalize);
        }
        let files = train_artifacts(ctx, &predictions, &classes, &models, &spec)?;
        let mut summary = json!({ "folds": folds.len(), "classes": classes });
        let mut items = Vec::new();
        if self.grid.is_some() {
            let (mut computed, mut reused) = (0, 0);
            let mut chosen = Vec::new();
            for m in &models {
                let search = &m["grid"];
                computed += search["computed"].as_u64().unwrap_or(0);
                reused += search["reused"].as_u64().unwrap_or(0);
                chosen.push(json!({ "fold": m["fold"], "params": search["chosen"] }));
                if let Some(keys) = search["items"].as_array() {
                    items.extend(keys.iter().filter_map(|k| k.as_str()).map(String::from));
                }
            }
            summary["grid"] =
                json!({ "chosen": chosen, "points_computed": computed, "points_reused": reused });
        }
        Ok(Outputs {
            files,
            summary,
            items,
            ..Default::default()
        })
    }
}

/// A train node's artifacts: the predictions table, the fitted models per
/// fold with the class list, and the model's settings beside them.
pub(super) fn train_artifacts(
    ctx: &Context,
    predictions: &Table,
    classes: &[String],
    models: &[Value],
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
            cache.put_object(
                &serde_json::to_vec(&json!({ "classes": classes, "folds": models }))?,
                "json",
            )?,
        ),
        (
            "params".to_string(),
            cache.put_object(&serde_json::to_vec_pretty(spec)?, "json")?,
        ),
    ]))
}

/// Prefix of a predictions table's probability columns.
pub const PROBABILITY_PREFIX: &str = "p_";

/// A predictions table with one `p_<class>` column per class (the scores
/// ensembles combine), in class order; `scores` has one row per table row.
pub(super) fn with_probabilities<T: Copy + Into<f64>>(
    mut table: Table,
    classes: &[String],
    scores: &[Vec<T>],
) -> Table {
    for (c, class) in classes.iter().enumerate() {
        table = table.with(
            &format!("{PROBABILITY_PREFIX}{class}"),
            ColumnData::Float64(scores.iter().map(|row| row[c].into()).collect()),
        );
    }
    table
}

/// Grid search in one training fold.
struct GridCell<'a> {
    ctx: &'a Context,
    grid: &'a GridSearch,
    /// What the fold's scores depend on besides the point: the feature
    /// table, the selection and the fold.
    input: String,
}

impl GridCell<'_> {
    /// The best spec by inner-CV UA, and the search's record (each point's
    /// score, the chosen values, the per-item records used).
    fn search(
        &self,
        base: &ModelSpec,
        x: ArrayView2<f64>,
        y: &[usize],
        speakers: &[String],
    ) -> anyhow::Result<(ModelSpec, Value)> {
        let points = self.grid.points(base).map_err(|e| anyhow::anyhow!(e))?;
        let splits = inner_cv::speaker_splits(speakers, y, self.grid.folds)?;
        let scored: Vec<anyhow::Result<(GridScore, String, bool)>> = points
            .par_iter()
            .map(|point| {
                let key = item_key(
                    "train-grid",
                    code_version_of(&point.spec),
                    &json!({ "spec": point.spec, "folds": self.grid.folds }),
                    &self.input,
                );
                let path = self.ctx.cache.item_record_path("train-grid", &key);
                if let Some(score) = self.ctx.cache.read_json::<GridScore>(&path) {
                    return Ok((score, key, false));
                }
                let score = GridScore {
                    params: point.params.clone(),
                    ua: inner_cv::mean_ua(&point.spec, x, y, &splits),
                };
                self.ctx.cache.write_json(&path, &score)?;
                Ok((score, key, true))
            })
            .collect();
        let scored: Vec<(GridScore, String, bool)> =
            scored.into_iter().collect::<anyhow::Result<_>>()?;
        // The first point of the best score wins, so ties go to the order
        // the grid lists its values in.
        let best = (0..scored.len())
            .rev()
            .max_by(|&a, &b| scored[a].0.ua.total_cmp(&scored[b].0.ua))
            .expect("a grid has at least one point");
        let computed = scored.iter().filter(|s| s.2).count();
        let record = json!({
            "chosen": scored[best].0.params,
            "inner_folds": self.grid.folds,
            "scores": scored.iter().map(|s| &s.0).collect::<Vec<_>>(),
            "computed": computed,
            "reused": scored.len() - computed,
            "items": scored.iter().map(|s| format!("train-grid/{}", s.1)).collect::<Vec<_>>(),
        });
        Ok((points[best].spec.clone(), record))
    }
}

/// Augmented copies' features: the rows a fold may add to its training
/// set, when their source is one of its training utterances.
struct Augmented {
    ids: Vec<String>,
    speakers: Vec<String>,
    sources: Vec<String>,
    y: Vec<usize>,
    x: Array2<f64>,
}

impl Augmented {
    fn load(
        ctx: &Context,
        object: &str,
        names: &[String],
        classes: &[String],
    ) -> anyhow::Result<Augmented> {
        let table = parquet_read::from_parquet(ctx.cache.read_object(object)?)?;
        let (aug_names, x) = feature_columns(&table)?;
        anyhow::ensure!(
            aug_names == names,
            "augmented features have other columns than the corpus's"
        );
        let y = table
            .utf8("label")?
            .iter()
            .map(|l| {
                classes.binary_search(l).map_err(|_| {
                    anyhow::anyhow!("augmented copy has label {l}, which no utterance has")
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Augmented {
            ids: table.utf8("id")?,
            speakers: table.utf8("speaker")?,
            sources: table.utf8("source")?,
            y,
            x,
        })
    }
}

/// One fold's fitted model (JSON) and its (row, predicted class) pairs.
type FoldResult = (Value, Vec<(usize, usize)>);

/// The `features` table and `folds` list a train or select node reads.
pub fn features_and_folds(ctx: &Context, inputs: &Inputs) -> anyhow::Result<(Table, Vec<Fold>)> {
    let table = parquet_read::from_parquet(
        ctx.cache
            .read_object(inputs.file("features", "features")?)?,
    )?;
    let folds = serde_json::from_slice(&ctx.cache.read_object(inputs.file("folds", "folds")?)?)?;
    Ok((table, folds))
}

/// The sorted distinct labels, and each label's index among them.
pub fn class_indices(labels: &[String]) -> (Vec<String>, Vec<usize>) {
    let mut classes = labels.to_vec();
    classes.sort();
    classes.dedup();
    let y = labels
        .iter()
        .map(|l| classes.binary_search(l).expect("from the same list"))
        .collect();
    (classes, y)
}

/// A select node's `selected` artifact as column indices per fold.
pub(super) fn selected_columns(
    bytes: &[u8],
    names: &[String],
) -> anyhow::Result<BTreeMap<String, Vec<usize>>> {
    let artifact: serde_json::Value = serde_json::from_slice(bytes)?;
    let folds: Vec<super::select::FoldSelection> =
        serde_json::from_value(artifact["folds"].clone())?;
    let index: BTreeMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    folds
        .into_iter()
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
            Ok((f.fold, columns))
        })
        .collect()
}

/// The feature columns of a table: their names, and the values as an f64
/// matrix (rows x features).
pub fn feature_columns(table: &Table) -> anyhow::Result<(Vec<String>, Array2<f64>)> {
    let cols: Vec<(&String, &ColumnData)> = table
        .columns
        .iter()
        .filter(|(n, _)| !KEY_COLUMNS.contains(&n.as_str()))
        .map(|(n, c)| (n, c))
        .collect();
    anyhow::ensure!(!cols.is_empty(), "feature table has no feature columns");
    let mut x = Array2::<f64>::zeros((table.n_rows(), cols.len()));
    for (j, (name, col)) in cols.iter().enumerate() {
        match col {
            ColumnData::Float32(v) => x
                .column_mut(j)
                .iter_mut()
                .zip(v)
                .for_each(|(o, &i)| *o = i as f64),
            ColumnData::Float64(v) => x.column_mut(j).iter_mut().zip(v).for_each(|(o, &i)| *o = i),
            _ => anyhow::bail!("feature column {name} is not numeric"),
        }
    }
    Ok((cols.iter().map(|(n, _)| (*n).clone()).collect(), x))
}
