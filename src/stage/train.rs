//! The train node: one model fitted per fold of a protocol on a feature
//! table, with predictions for each fold's test speakers.
//!
//! Outputs: `predictions` (Parquet: id, speaker, fold, label, predicted),
//! `models` (JSON: classes and each fold's standardiser and fitted model)
//! and `params` (JSON: the model spec), saved beside the models so an
//! artifact says how it was made.

use std::collections::BTreeMap;

use ndarray::Array2;
use rayon::prelude::*;
use serde_json::{Value, json};

use ser_evaluate::Fold;
use ser_train::ModelSpec;

use super::{Context, Inputs, Outputs, Stage};
use crate::artifact::{ColumnData, Table, parquet_read, parquet_write};

const CODE_VERSION: u32 = 1;

/// Columns of a feature table that are not features.
pub const KEY_COLUMNS: [&str; 3] = ["id", "speaker", "label"];

pub struct TrainStage {
    pub model: ModelSpec,
}

impl Stage for TrainStage {
    fn stage(&self) -> &'static str {
        "train"
    }

    fn code_version(&self) -> u32 {
        CODE_VERSION
    }

    fn params(&self) -> Value {
        json!({ "model": self.model })
    }

    fn reads(&self, role: &str) -> &'static [&'static str] {
        match role {
            "features" => &["features"],
            "folds" => &["folds"],
            "selection" => &["selected"],
            _ => &[],
        }
    }

    fn run(&self, ctx: &Context, inputs: &Inputs) -> anyhow::Result<Outputs> {
        let (table, folds) = features_and_folds(ctx, inputs)?;
        let ids = table.utf8("id")?;
        let speakers = table.utf8("speaker")?;
        let labels = table.utf8("label")?;
        let (classes, y) = class_indices(&labels);
        let (names, x) = feature_columns(&table)?;
        // Per fold, the columns a select node kept (all columns without one).
        let selected: Option<BTreeMap<String, Vec<usize>>> =
            match inputs.file("selection", "selected") {
                Ok(object) => Some(selected_columns(&ctx.cache.read_object(object)?, &names)?),
                Err(_) => None,
            };

        let per_fold: Vec<anyhow::Result<FoldResult>> = folds
            .par_iter()
            .map(|fold| {
                let (test, train): (Vec<usize>, Vec<usize>) =
                    (0..ids.len()).partition(|&i| fold.is_test(&speakers[i]));
                anyhow::ensure!(
                    !test.is_empty(),
                    "fold {} has no test utterances",
                    fold.name
                );
                let x = match &selected {
                    Some(by_fold) => {
                        let columns = by_fold.get(&fold.name).ok_or_else(|| {
                            anyhow::anyhow!("no selection for fold {}", fold.name)
                        })?;
                        x.select(ndarray::Axis(1), columns)
                    }
                    None => x.clone(),
                };
                let x_train = x.select(ndarray::Axis(0), &train);
                let y_train: Vec<usize> = train.iter().map(|&i| y[i]).collect();
                let model = ser_train::fit(&self.model, x_train.view(), &y_train)
                    .map_err(|e| anyhow::anyhow!("fold {}: {e}", fold.name))?;
                let predicted = model.predict(x.select(ndarray::Axis(0), &test).view());
                Ok((
                    json!({ "fold": fold.name, "n_features": x.ncols(), "model": model }),
                    test.into_iter().zip(predicted).collect(),
                ))
            })
            .collect();

        let mut models = Vec::new();
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
        let cache = &ctx.cache;
        let files = BTreeMap::from([
            (
                "predictions".to_string(),
                cache.put_object(&parquet_write::to_parquet(&predictions)?, "parquet")?,
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
                cache.put_object(&serde_json::to_vec_pretty(&self.model)?, "json")?,
            ),
        ]);
        Ok(Outputs {
            files,
            summary: json!({ "folds": folds.len(), "classes": classes }),
            ..Default::default()
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
fn selected_columns(
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
