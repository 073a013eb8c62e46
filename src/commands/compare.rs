//! `ser compare A B`: is experiment A better than B, or is the gap noise?
//!
//! Both experiments must have been evaluated on the same protocol, so they
//! predicted the same test utterances in the same folds. Their predictions
//! are paired by utterance id and compared two ways: a paired bootstrap of
//! the fold-mean UA difference (test speakers resampled within folds, each
//! with all its utterances, the same resample for both systems; or, with
//! `--unit utterance`, utterances one by one) and McNemar's test on which
//! utterances each gets right (exact binomial and mid-p; it treats
//! utterances as independent, so read it beside the speaker bootstrap).

use std::collections::BTreeMap;

use serde_json::json;

use ser_evaluate::metrics::{Bootstrap, Unit, mcnemar, paired_bootstrap};

use crate::artifact::parquet_read;
use crate::cache::Cache;
use crate::commands::PipelineArgs;
use crate::stage::NodeRecord;
use crate::state::PipelineState;

/// One experiment's predictions: id -> (fold, label, predicted, speaker).
type Predictions = BTreeMap<String, (String, String, String, String)>;

fn predictions(cache: &Cache, state: &PipelineState, node: &str) -> anyhow::Result<Predictions> {
    let stored = state.get(node).ok_or_else(|| {
        anyhow::anyhow!(
            "{node} has not run (run `ser run` first, or check the name with `ser metrics`)"
        )
    })?;
    let record: NodeRecord = cache
        .read_json(&cache.node_record_path(&stored.stage, &stored.key))
        .ok_or_else(|| anyhow::anyhow!("{node}: its cache record is gone (run `ser run`)"))?;
    let object = record
        .outputs
        .files
        .get("predictions")
        .ok_or_else(|| anyhow::anyhow!("{node} has no predictions"))?;
    let table = parquet_read::from_parquet(cache.read_object(object)?)?;
    let (ids, folds) = (table.utf8("id")?, table.utf8("fold")?);
    let (labels, predicted) = (table.utf8("label")?, table.utf8("predicted")?);
    let speakers = table.utf8("speaker")?;
    Ok(ids
        .into_iter()
        .zip(folds)
        .zip(labels)
        .zip(predicted)
        .zip(speakers)
        .map(|((((id, f), l), p), s)| (id, (f, l, p, s)))
        .collect())
}

pub fn compare(
    args: &PipelineArgs,
    a: &str,
    b: &str,
    protocol: Option<&str>,
    unit: Unit,
    as_json: bool,
) -> anyhow::Result<i32> {
    let (pipeline, cache) = args.load()?;
    let _lock = cache.lock(crate::cache::LockMode::Shared)?;
    let protocol = match protocol {
        Some(p) => p.to_string(),
        None => pipeline
            .config
            .experiments
            .first()
            .and_then(|m| m.protocols.first())
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the pipeline has no protocol"))?,
    };
    let graph = crate::dag::Graph::build(&pipeline);
    let state = PipelineState::load(&cache, &pipeline.id);
    let state = crate::scheduler::with_cached_nodes(&graph, &cache, state);
    let pa = predictions(&cache, &state, &format!("train:{a}@{protocol}"))?;
    let pb = predictions(&cache, &state, &format!("train:{b}@{protocol}"))?;
    anyhow::ensure!(
        pa.len() == pb.len() && pa.keys().eq(pb.keys()),
        "{a} and {b} did not predict the same utterances ({} vs {}); compare experiments of one protocol and corpus",
        pa.len(),
        pb.len()
    );
    let mut classes: Vec<&String> = pa.values().flat_map(|(_, l, p, _)| [l, p]).collect();
    classes.extend(pb.values().map(|(_, _, p, _)| p));
    classes.sort();
    classes.dedup();
    let index = |c: &String| classes.binary_search(&c).expect("collected above");
    let mut fold_names: Vec<&String> = pa.values().map(|(f, _, _, _)| f).collect();
    fold_names.sort();
    fold_names.dedup();
    let mut speaker_names: Vec<&String> = pa.values().map(|(_, _, _, s)| s).collect();
    speaker_names.sort();
    speaker_names.dedup();
    let (mut truth, mut pred_a, mut pred_b, mut fold) = (vec![], vec![], vec![], vec![]);
    let mut speaker = vec![];
    for (id, (f, label, p, s)) in &pa {
        let (fb, label_b, q, _) = &pb[id];
        speaker.push(speaker_names.binary_search(&s).expect("collected above"));
        anyhow::ensure!(
            f == fb && label == label_b,
            "utterance {id} is in fold {f} with label {label} for {a} but fold {fb} with label {label_b} for {b}"
        );
        truth.push(index(label));
        pred_a.push(index(p));
        pred_b.push(index(q));
        fold.push(fold_names.binary_search(&f).expect("collected above"));
    }
    let bootstrap = Bootstrap::default();
    let paired = paired_bootstrap(
        &truth,
        &pred_a,
        &pred_b,
        Some(&fold),
        (unit == Unit::Speaker).then_some(speaker.as_slice()),
        classes.len(),
        &bootstrap,
    );
    let test = mcnemar(&truth, &pred_a, &pred_b);
    if as_json {
        println!(
            "{}",
            json!({ "a": a, "b": b, "protocol": protocol, "n_test": truth.len(),
                    "paired_bootstrap": paired, "mcnemar": test })
        );
    } else {
        println!(
            "{a} vs {b} on {protocol} ({} test utterances, {} speakers)",
            truth.len(),
            speaker_names.len()
        );
        println!(
            "  UA (fold mean)      {:.4} vs {:.4}   difference {:+.4}, 95% CI [{:+.4}, {:+.4}]",
            paired.ua_a,
            paired.ua_b,
            paired.difference.estimate,
            paired.difference.low,
            paired.difference.high
        );
        println!(
            "  paired bootstrap    p = {:.4}  ({} resamples of {} within folds, seed {})",
            paired.p_value,
            bootstrap.resamples,
            match unit {
                Unit::Speaker => "speakers",
                Unit::Utterance => "utterances",
            },
            bootstrap.seed
        );
        println!(
            "  McNemar             only {a} right: {}, only {b} right: {}; p = {:.4} (mid-p), {:.4} (exact)",
            test.only_a_correct, test.only_b_correct, test.p_mid, test.p_exact
        );
    }
    Ok(0)
}

/// What `ser compare`'s bootstrap resamples.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BootstrapUnit {
    Speaker,
    Utterance,
}

/// `ser compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// An experiment as `ser metrics` names it, e.g. acoustic/none/svm.
    pub a: String,
    /// The experiment to compare it with.
    pub b: String,
    /// The protocol both were evaluated on (default: the first in the matrix).
    #[arg(long)]
    pub protocol: Option<String>,
    /// What the bootstrap resamples: whole test speakers (default) or
    /// single utterances (narrower; treats a speaker's utterances as independent).
    #[arg(long, value_enum, default_value = "speaker")]
    pub unit: BootstrapUnit,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

impl CompareArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        let unit = match self.unit {
            BootstrapUnit::Speaker => Unit::Speaker,
            BootstrapUnit::Utterance => Unit::Utterance,
        };
        compare(
            &self.pipeline,
            &self.a,
            &self.b,
            self.protocol.as_deref(),
            unit,
            self.json,
        )
    }
}
