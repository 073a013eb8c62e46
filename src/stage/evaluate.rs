//! The evaluate node: metrics of a train node's predictions, per fold,
//! averaged over folds (the headline numbers, as EmoBox reports them) and
//! pooled over all test utterances, with 95% bootstrap intervals on the
//! headline UA and WA: test speakers resampled within each fold, each with
//! all its utterances (`ua_ci`, `wa_ci`), and, beside them, utterances
//! resampled one by one (`ua_ci_utterance`, narrower, as if a speaker's
//! utterances were independent). The seed is fixed, so an interval is as
//! reproducible as the score.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use ser_evaluate::Metrics;
use ser_evaluate::metrics::{Bootstrap, bootstrap_intervals};

use super::{Context, Inputs, Outputs, Role, Stage};
use crate::artifact::schema::{CorpusScore, EvaluationSummary, FoldScore};
use crate::artifact::{ColumnData, Table, parquet_read, parquet_write};

// 2: bootstrap intervals, normalised confusion.
// 3: intervals resample speakers (utterance intervals kept beside them).
const CODE_VERSION: u32 = 3;

pub struct EvaluateStage;

impl Stage for EvaluateStage {
    fn stage(&self) -> &'static str {
        "evaluate"
    }

    fn code_version(&self) -> u32 {
        CODE_VERSION
    }

    fn params(&self) -> Value {
        json!({ "bootstrap": Bootstrap::default() })
    }

    fn reads(&self, role: Role) -> &'static [&'static str] {
        match role {
            Role::Predictions => &["predictions"],
            _ => &[],
        }
    }

    fn run(&self, ctx: &Context, inputs: &Inputs) -> anyhow::Result<Outputs> {
        let table = parquet_read::from_parquet(
            ctx.cache
                .read_object(inputs.file(Role::Predictions, "predictions")?)?,
        )?;
        let folds = table.utf8("fold")?;
        let speaker_names = table.utf8("speaker")?;
        let labels = table.utf8("label")?;
        let predicted = table.utf8("predicted")?;
        let mut classes: Vec<String> = labels.iter().chain(&predicted).cloned().collect();
        classes.sort();
        classes.dedup();
        let index = |l: &String| classes.binary_search(l).expect("from the same list");
        let truth: Vec<usize> = labels.iter().map(index).collect();
        let pred: Vec<usize> = predicted.iter().map(index).collect();

        let mut fold_names: Vec<String> = folds.clone();
        fold_names.dedup();
        let mut scopes: Vec<(String, Metrics)> = Vec::new();
        for name in &fold_names {
            let rows: Vec<usize> = (0..folds.len()).filter(|&i| &folds[i] == name).collect();
            let t: Vec<usize> = rows.iter().map(|&i| truth[i]).collect();
            let p: Vec<usize> = rows.iter().map(|&i| pred[i]).collect();
            scopes.push((name.clone(), Metrics::compute(&t, &p, classes.len())));
        }
        let pooled = Metrics::compute(&truth, &pred, classes.len());
        let k = scopes.len() as f64;
        let mean = |f: fn(&Metrics) -> f64| scopes.iter().map(|(_, m)| f(m)).sum::<f64>() / k;
        let (ua, wa, macro_f1) = (mean(|m| m.ua), mean(|m| m.wa), mean(|m| m.macro_f1));

        let mut names: Vec<String> = scopes.iter().map(|(n, _)| n.clone()).collect();
        let mut rows: Vec<&Metrics> = scopes.iter().map(|(_, m)| m).collect();
        names.push("pooled".into());
        rows.push(&pooled);
        let mean_row = Metrics {
            ua,
            wa,
            macro_f1,
            n: pooled.n,
            per_class: vec![],
            confusion: vec![],
        };
        names.push("mean".into());
        rows.push(&mean_row);
        let metrics = Table::new()
            .strings("scope", &names)
            .with(
                "ua",
                ColumnData::Float64(rows.iter().map(|m| m.ua).collect()),
            )
            .with(
                "wa",
                ColumnData::Float64(rows.iter().map(|m| m.wa).collect()),
            )
            .with(
                "macro_f1",
                ColumnData::Float64(rows.iter().map(|m| m.macro_f1).collect()),
            )
            .with(
                "n",
                ColumnData::Int64(rows.iter().map(|m| m.n as i64).collect()),
            );
        let fold_index: Vec<usize> = folds
            .iter()
            .map(|f| {
                fold_names
                    .iter()
                    .position(|n| n == f)
                    .expect("listed above")
            })
            .collect();
        let mut speaker_list = speaker_names.clone();
        speaker_list.sort();
        speaker_list.dedup();
        let speakers: Vec<usize> = speaker_names
            .iter()
            .map(|s| speaker_list.binary_search(s).expect("from the same list"))
            .collect();
        let by_speaker = bootstrap_intervals(
            &truth,
            &pred,
            Some(&fold_index),
            Some(&speakers),
            classes.len(),
            &Bootstrap::default(),
        );
        let by_utterance = bootstrap_intervals(
            &truth,
            &pred,
            Some(&fold_index),
            None,
            classes.len(),
            &Bootstrap::default(),
        );
        // Per test corpus, when the rows come from several: the same
        // fold means and speaker intervals over that corpus's rows.
        let corpora = table.utf8("corpus").unwrap_or_default();
        let mut by_corpus = BTreeMap::new();
        let mut names_of: Vec<&String> = corpora.iter().collect();
        names_of.sort();
        names_of.dedup();
        for name in names_of {
            let rows: Vec<usize> = (0..corpora.len())
                .filter(|&i| &corpora[i] == name)
                .collect();
            by_corpus.insert(
                name.clone(),
                corpus_score(&rows, &truth, &pred, &fold_index, &speakers, classes.len()),
            );
        }
        let summary = EvaluationSummary {
            by_corpus,
            ua,
            wa,
            macro_f1,
            n_test: pooled.n,
            n_speakers: speaker_list.len(),
            ua_ci: [by_speaker.ua.low, by_speaker.ua.high],
            wa_ci: [by_speaker.wa.low, by_speaker.wa.high],
            ci_unit: by_speaker.unit,
            ua_ci_utterance: Some([by_utterance.ua.low, by_utterance.ua.high]),
            wa_ci_utterance: Some([by_utterance.wa.low, by_utterance.wa.high]),
            bootstrap: Some(by_speaker.bootstrap),
            classes: classes.clone(),
            confusion_normalized: pooled.confusion_normalized(),
            pooled,
            folds: scopes
                .iter()
                .map(|(name, m)| FoldScore {
                    fold: name.clone(),
                    ua: m.ua,
                    wa: m.wa,
                    macro_f1: m.macro_f1,
                    n: m.n,
                })
                .collect(),
        };
        let summary = serde_json::to_value(&summary)?;
        let cache = &ctx.cache;
        let files = BTreeMap::from([
            (
                "metrics".to_string(),
                cache.put_object(&parquet_write::to_parquet(&metrics)?, "parquet")?,
            ),
            (
                "summary".to_string(),
                cache.put_object(&serde_json::to_vec_pretty(&summary)?, "json")?,
            ),
        ]);
        Ok(Outputs {
            files,
            summary,
            ..Default::default()
        })
    }
}

/// One test corpus's scores: the mean over the folds that test it of its
/// rows' UA, WA and macro-F1, and speaker-resampled intervals.
fn corpus_score(
    rows: &[usize],
    truth: &[usize],
    pred: &[usize],
    fold_index: &[usize],
    speakers: &[usize],
    n_classes: usize,
) -> CorpusScore {
    let pick = |v: &[usize]| -> Vec<usize> { rows.iter().map(|&i| v[i]).collect() };
    let (t, p, f, s) = (pick(truth), pick(pred), pick(fold_index), pick(speakers));
    let mut folds: Vec<usize> = f.clone();
    folds.sort();
    folds.dedup();
    let per_fold: Vec<Metrics> = folds
        .iter()
        .map(|&fold| {
            let at: Vec<usize> = (0..f.len()).filter(|&i| f[i] == fold).collect();
            Metrics::compute(
                &at.iter().map(|&i| t[i]).collect::<Vec<_>>(),
                &at.iter().map(|&i| p[i]).collect::<Vec<_>>(),
                n_classes,
            )
        })
        .collect();
    let k = per_fold.len().max(1) as f64;
    let mean = |g: fn(&Metrics) -> f64| per_fold.iter().map(g).sum::<f64>() / k;
    let intervals =
        bootstrap_intervals(&t, &p, Some(&f), Some(&s), n_classes, &Bootstrap::default());
    let mut distinct = s.clone();
    distinct.sort();
    distinct.dedup();
    CorpusScore {
        ua: mean(|m| m.ua),
        wa: mean(|m| m.wa),
        macro_f1: mean(|m| m.macro_f1),
        n_test: rows.len(),
        n_speakers: distinct.len(),
        ua_ci: [intervals.ua.low, intervals.ua.high],
        wa_ci: [intervals.wa.low, intervals.wa.high],
    }
}
