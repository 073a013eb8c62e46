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
            _ => &[],
        }
    }

    fn run(&self, ctx: &Context, inputs: &Inputs) -> anyhow::Result<Outputs> {
        let table = parquet_read::from_parquet(
            ctx.cache
                .read_object(inputs.file("features", "features")?)?,
        )?;
        let folds: Vec<Fold> =
            serde_json::from_slice(&ctx.cache.read_object(inputs.file("folds", "folds")?)?)?;
        let ids = table.utf8("id")?;
        let speakers = table.utf8("speaker")?;
        let labels = table.utf8("label")?;
        let mut classes: Vec<String> = labels.clone();
        classes.sort();
        classes.dedup();
        let y: Vec<usize> = labels
            .iter()
            .map(|l| classes.binary_search(l).expect("from the same list"))
            .collect();
        let x = feature_matrix(&table)?;

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
                let x_train = x.select(ndarray::Axis(0), &train);
                let y_train: Vec<usize> = train.iter().map(|&i| y[i]).collect();
                let model = ser_train::fit(&self.model, x_train.view(), &y_train)
                    .map_err(|e| anyhow::anyhow!("fold {}: {e}", fold.name))?;
                let predicted = model.predict(x.select(ndarray::Axis(0), &test).view());
                Ok((
                    json!({ "fold": fold.name, "model": model }),
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

/// The feature columns of a table as an f64 matrix (rows x features).
pub fn feature_matrix(table: &Table) -> anyhow::Result<Array2<f64>> {
    let cols: Vec<&ColumnData> = table
        .columns
        .iter()
        .filter(|(n, _)| !KEY_COLUMNS.contains(&n.as_str()))
        .map(|(_, c)| c)
        .collect();
    anyhow::ensure!(!cols.is_empty(), "feature table has no feature columns");
    let mut x = Array2::<f64>::zeros((table.n_rows(), cols.len()));
    for (j, col) in cols.iter().enumerate() {
        match col {
            ColumnData::Float32(v) => x
                .column_mut(j)
                .iter_mut()
                .zip(v)
                .for_each(|(o, &i)| *o = i as f64),
            ColumnData::Float64(v) => x.column_mut(j).iter_mut().zip(v).for_each(|(o, &i)| *o = i),
            _ => anyhow::bail!("feature column {j} is not numeric"),
        }
    }
    Ok(x)
}
