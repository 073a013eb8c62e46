//! The validation view of `ser metrics --validation` and `ser run
//! --validation`: each experiment's UA on the speakers held out of its
//! training folds, read from its train node's validation table, and no
//! test score at all.
//!
//! Choosing a setting by test UA is not a result, and a table that prints
//! test UAs beside validation ones puts them in front of whoever is
//! choosing. This view reads no evaluate node, so a variant can be compared
//! with its rivals (a new augmentation, a wider net) before any test UA of
//! it is seen. A fold's UA is over the validation table's rows of that fold
//! (recorded utterances of the held-out speakers, each predicted by the
//! networks or fits that held it out); the experiment's is the mean over
//! folds, as the test UA is. Those rows also stopped training early and
//! ranked grid points, so the numbers are optimistic for everything alike:
//! for comparing, not for reporting.
//!
//! A model without held-out speakers (a classic model without
//! `validation:`) and an ensemble (whose `choose` already picked its
//! members on these rows: `--choices` shows it) have no row, and are
//! listed by name after the table.
//!
//! `--json` prints one object per experiment: `experiment`, `protocol`,
//! `transductive`, `validation_ua` (null without one), and `folds` (each
//! `fold`, `ua`, `utterances`, `speakers`) or `none` (why there is none).

use std::collections::BTreeMap;

use ser_evaluate::metrics::Metrics;
use serde_json::json;

use crate::artifact::parquet_read;
use crate::cache::Cache;
use crate::dag::{Experiment, Graph};
use crate::stage::{NodeRecord, Role};

/// One fold's validation score.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldScore {
    pub fold: String,
    pub ua: f64,
    pub utterances: usize,
    pub speakers: usize,
}

/// An experiment's validation scores, or why it has none.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationRow {
    pub experiment: String,
    pub protocol: String,
    pub transductive: bool,
    pub scores: Result<Vec<FoldScore>, &'static str>,
}

impl ValidationRow {
    /// The mean over folds of each fold's UA.
    pub fn ua(&self) -> Option<f64> {
        let folds = self.scores.as_ref().ok().filter(|f| !f.is_empty())?;
        Some(folds.iter().map(|f| f.ua).sum::<f64>() / folds.len() as f64)
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut j = json!({
            "experiment": self.experiment,
            "protocol": self.protocol,
            "transductive": self.transductive,
            "validation_ua": self.ua(),
        });
        match &self.scores {
            Ok(folds) => {
                j["folds"] = folds
                    .iter()
                    .map(|f| {
                        json!({"fold": f.fold, "ua": f.ua, "utterances": f.utterances,
                               "speakers": f.speakers})
                    })
                    .collect();
            }
            Err(why) => j["none"] = json!(why),
        }
        j
    }
}

/// Per fold, the UA of a validation table's predictions (its `fold`,
/// `speaker`, `label` and `predicted` columns).
pub fn fold_scores(table: &crate::artifact::Table) -> anyhow::Result<Vec<FoldScore>> {
    let folds = table.utf8("fold")?;
    let speakers = table.utf8("speaker")?;
    let labels = table.utf8("label")?;
    let predicted = table.utf8("predicted")?;
    let mut classes: Vec<&str> = labels
        .iter()
        .chain(&predicted)
        .map(String::as_str)
        .collect();
    classes.sort_unstable();
    classes.dedup();
    let index = |c: &str| classes.binary_search(&c).expect("a class of the table");
    let mut by_fold: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (row, fold) in folds.iter().enumerate() {
        by_fold.entry(fold).or_default().push(row);
    }
    Ok(by_fold
        .into_iter()
        .map(|(fold, rows)| {
            let truth: Vec<usize> = rows.iter().map(|&r| index(&labels[r])).collect();
            let guess: Vec<usize> = rows.iter().map(|&r| index(&predicted[r])).collect();
            let mut held_out: Vec<&str> = rows.iter().map(|&r| speakers[r].as_str()).collect();
            held_out.sort_unstable();
            held_out.dedup();
            FoldScore {
                fold: fold.to_string(),
                ua: Metrics::compute(&truth, &guess, classes.len()).ua,
                utterances: rows.len(),
                speakers: held_out.len(),
            }
        })
        .collect())
}

/// Why a train node's record gives no validation scores, or its table.
fn scores_of(
    cache: &Cache,
    record: &NodeRecord,
    is_ensemble: bool,
) -> anyhow::Result<Result<Vec<FoldScore>, &'static str>> {
    if is_ensemble {
        return Ok(Err(
            "an ensemble: its members were chosen on these rows (`ser metrics --choices`)",
        ));
    }
    let Some(object) = record.outputs.files.get("validation") else {
        return Ok(Err(
            "no speakers held out (a classic model needs `validation: {seeds: N}`)",
        ));
    };
    let table = parquet_read::from_parquet(cache.read_object(object)?)?;
    Ok(Ok(fold_scores(&table)?))
}

/// The validation rows of the experiments whose train node has a record
/// (`record_of` gives it by graph index); a table that cannot be read is
/// reported, naming the node, and left out.
pub fn collect(
    graph: &Graph,
    cache: &Cache,
    record_of: impl Fn(usize) -> Option<NodeRecord>,
) -> Vec<ValidationRow> {
    let mut rows = Vec::new();
    for node in &graph.nodes {
        let (Some(experiment), Some(train)) = (&node.experiment, node.dep(Role::Predictions))
        else {
            continue;
        };
        let Some(record) = record_of(train) else {
            continue;
        };
        let is_ensemble = graph.nodes[train].stage.stage() == "ensemble";
        match scores_of(cache, &record, is_ensemble) {
            Ok(scores) => rows.push(row(experiment, scores)),
            Err(e) => eprintln!("{}: its validation table: {e:#}", graph.nodes[train].name),
        }
    }
    rows
}

fn row(experiment: &Experiment, scores: Result<Vec<FoldScore>, &'static str>) -> ValidationRow {
    ValidationRow {
        experiment: experiment.name(),
        protocol: experiment.protocol.clone(),
        transductive: experiment.transductive,
        scores,
    }
}

/// The rows with scores, best validation UA first, then the names of
/// those without, by reason.
pub fn print_table(rows: &[ValidationRow]) -> std::io::Result<()> {
    let mut scored: Vec<&ValidationRow> = rows.iter().filter(|r| r.ua().is_some()).collect();
    scored.sort_by(|a, b| b.ua().unwrap_or(0.0).total_cmp(&a.ua().unwrap_or(0.0)));
    if !scored.is_empty() {
        outln!(
            "{:<36} {:<16} {:>7} {:<17} {:>9} {:>11}",
            "experiment",
            "protocol",
            "val UA",
            "  folds min-max",
            "speakers",
            "utterances"
        )?;
    }
    for r in &scored {
        let folds = r.scores.as_ref().expect("scored");
        let (low, high) = folds
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), f| {
                (l.min(f.ua), h.max(f.ua))
            });
        let mark = if r.transductive { " (T)" } else { "" };
        outln!(
            "{:<36} {:<16} {:>7.4} {:<17} {:>9.1} {:>11}",
            format!("{}{mark}", r.experiment),
            r.protocol,
            r.ua().unwrap_or(f64::NAN),
            format!("  [{low:.3}, {high:.3}]"),
            folds.iter().map(|f| f.speakers).sum::<usize>() as f64 / folds.len() as f64,
            folds.iter().map(|f| f.utterances).sum::<usize>(),
        )?;
    }
    if !scored.is_empty() {
        outln!(
            "val UA: mean over folds of the UA on speakers held out of each training fold (speakers: \
             per fold); early stopping and grids chose on these rows too, so it is optimistic \
             alike for all: compare variants with it, report test UAs. No test score was read."
        )?;
    }
    let mut unscored: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in rows {
        if let Err(why) = &r.scores {
            unscored
                .entry(why)
                .or_default()
                .push(format!("{}@{}", r.experiment, r.protocol));
        }
    }
    // A classic matrix is dozens of cells: name a few, count the rest.
    const NAMED: usize = 8;
    for (why, names) in unscored {
        let more = match names.len().saturating_sub(NAMED) {
            0 => String::new(),
            n => format!(" and {n} more (`--json` lists them)"),
        };
        let shown = &names[..names.len().min(NAMED)];
        outln!("no validation UA, {why}: {}{more}", shown.join(", "))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::Table;

    fn table(rows: &[(&str, &str, &str, &str)]) -> Table {
        Table::new()
            .strings("fold", rows.iter().map(|r| r.0))
            .strings("speaker", rows.iter().map(|r| r.1))
            .strings("label", rows.iter().map(|r| r.2))
            .strings("predicted", rows.iter().map(|r| r.3))
    }

    #[test]
    fn each_fold_is_scored_by_its_own_rows_and_the_mean_is_over_folds() {
        let t = table(&[
            // fold1: angry 2/2 right, sad 0/1: UA 0.5
            ("fold1", "a", "angry", "angry"),
            ("fold1", "a", "angry", "angry"),
            ("fold1", "b", "sad", "angry"),
            // fold2: angry 1/2, sad 1/1: UA 0.75
            ("fold2", "c", "angry", "sad"),
            ("fold2", "c", "angry", "angry"),
            ("fold2", "d", "sad", "sad"),
        ]);
        let folds = fold_scores(&t).unwrap();
        assert_eq!(
            folds,
            vec![
                FoldScore {
                    fold: "fold1".into(),
                    ua: 0.5,
                    utterances: 3,
                    speakers: 2
                },
                FoldScore {
                    fold: "fold2".into(),
                    ua: 0.75,
                    utterances: 3,
                    speakers: 2
                },
            ]
        );
        let row = ValidationRow {
            experiment: "e".into(),
            protocol: "p".into(),
            transductive: false,
            scores: Ok(folds),
        };
        assert_eq!(row.ua(), Some(0.625));
        let j = row.to_json();
        assert_eq!(j["validation_ua"], 0.625);
        assert_eq!(j["folds"][1]["ua"], 0.75);
        assert!(
            j.get("ua").is_none(),
            "no test score in the validation view"
        );
    }

    #[test]
    fn a_class_only_predicted_does_not_count_as_a_recall() {
        // "calm" is never the truth: UA is over the true classes only.
        let t = table(&[("f", "a", "angry", "calm"), ("f", "a", "angry", "angry")]);
        assert_eq!(fold_scores(&t).unwrap()[0].ua, 0.5);
    }

    #[test]
    fn a_row_without_scores_says_why() {
        let row = ValidationRow {
            experiment: "e".into(),
            protocol: "p".into(),
            transductive: true,
            scores: Err("no speakers held out"),
        };
        assert_eq!(row.ua(), None);
        assert_eq!(row.to_json()["none"], "no speakers held out");
        assert!(row.to_json()["validation_ua"].is_null());
    }
}
