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
//!
//! `--validation` compares the two on their validation tables instead: the
//! utterances of the speakers held out of each training fold (the rows
//! every network or held-out fit of both predicted), so a variant can be
//! weighed against another before either's test UA is seen. Rows are
//! paired by fold and id (a validation table holds an utterance once per
//! fold that held it out); when the two held out different speakers (other
//! seeds), only the rows both have are compared, and the output says so.
//!
//! `--set-b KEY=VALUE` resolves B in another configuration: the pipeline
//! with those values added to `--set`'s. So a variant that changes what
//! every cell sees (an extraction setting) can be paired with the pipeline
//! as written, under the same name: `ser compare X X --set-b
//! extract.deltas=1`. Both sides must then be fresh in their configuration,
//! as a last run's entry may be the other configuration's.

use std::collections::BTreeMap;

use serde_json::json;

use ser_evaluate::metrics::{Bootstrap, Unit, mcnemar, paired_bootstrap};

use crate::artifact::parquet_read;
use crate::cache::Cache;
use crate::commands::PipelineArgs;
use crate::config::Pipeline;
use crate::state::PipelineState;

/// One experiment's predictions: (fold, id) -> (label, predicted, speaker).
type Predictions = BTreeMap<(String, String), (String, String, String)>;

/// A train node's `predictions` (test rows) or `validation` table.
fn predictions(
    cache: &Cache,
    state: &PipelineState,
    node: &str,
    output: &str,
) -> anyhow::Result<Predictions> {
    anyhow::ensure!(
        state.get(node).is_some(),
        "{node} has not run (run `ser run` first, or check the name with `ser metrics`)"
    );
    let record = state
        .record(node)
        .ok_or_else(|| anyhow::anyhow!("{node}: its cache record is gone (run `ser run`)"))?;
    let object = record
        .outputs
        .files
        .get(output)
        .ok_or_else(|| match output {
            "validation" => anyhow::anyhow!(
                "{node} has no validation predictions (it held out no speakers: a classic model \
             needs `validation: {{seeds: N}}`; an ensemble chose on them)"
            ),
            _ => anyhow::anyhow!("{node} has no {output}"),
        })?;
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
        .map(|((((id, f), l), p), s)| ((f, id), (l, p, s)))
        .collect())
}

/// `pipeline`'s state with its fresh nodes at their current keys; with
/// `must_be_fresh`, an error unless that node is fresh in it.
fn resolved_state(
    pipeline: &Pipeline,
    cache: &Cache,
    must_be_fresh: Option<&str>,
    overrides: &[String],
) -> anyhow::Result<PipelineState> {
    let graph = crate::dag::Graph::build(pipeline);
    let state = PipelineState::load(cache, &pipeline.id);
    let (state, fresh) = crate::scheduler::with_fresh_nodes(&graph, cache, state);
    if let Some(node) = must_be_fresh {
        let sets: String = overrides.iter().map(|o| format!(" --set '{o}'")).collect();
        let configuration = match sets.is_empty() {
            true => "the pipeline as written".to_string(),
            false => format!("the pipeline with{sets}"),
        };
        let index = graph
            .nodes
            .iter()
            .position(|n| n.name == node)
            .ok_or_else(|| anyhow::anyhow!("{node} is not a node of {configuration}"))?;
        anyhow::ensure!(
            fresh[index],
            "{node} is not fresh in {configuration} (run `ser run{sets}` first; `ser status{sets}` says why)"
        );
    }
    Ok(state)
}

#[allow(clippy::too_many_arguments)]
pub fn compare(
    args: &PipelineArgs,
    a: &str,
    b: &str,
    set_b: &[String],
    protocol: Option<&str>,
    unit: Unit,
    as_json: bool,
    validation: bool,
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
    let (node_a, node_b) = (
        format!("train:{a}@{protocol}"),
        format!("train:{b}@{protocol}"),
    );
    // With --set-b, neither side may fall back on a last run's entry.
    let other = !set_b.is_empty();
    let state_a = resolved_state(
        &pipeline,
        &cache,
        other.then_some(node_a.as_str()),
        &args.overrides,
    )?;
    let state_b = match other {
        false => None,
        true => {
            let pipeline_b = args.load_pipeline(set_b)?;
            let mut overrides_b = args.overrides.clone();
            overrides_b.extend_from_slice(set_b);
            Some(resolved_state(
                &pipeline_b,
                &cache,
                Some(&node_b),
                &overrides_b,
            )?)
        }
    };
    // B's name in what this prints: with the values that resolved it.
    let b_named = match other {
        false => b.to_string(),
        true => format!("{b} [{}]", set_b.join(", ")),
    };
    let (b_experiment, b) = (b, b_named.as_str());
    let output = if validation {
        "validation"
    } else {
        "predictions"
    };
    let mut pa = predictions(&cache, &state_a, &node_a, output)?;
    let mut pb = predictions(
        &cache,
        state_b.as_ref().unwrap_or(&state_a),
        &node_b,
        output,
    )?;
    let (only_a, only_b) = (pa.len(), pb.len());
    if validation {
        // Members of other seeds held out other speakers: their common rows.
        pa.retain(|k, _| pb.contains_key(k));
        pb.retain(|k, _| pa.contains_key(k));
        anyhow::ensure!(
            !pa.is_empty(),
            "{a} and {b} held out no validation speaker in common (give both the same seeds)"
        );
    } else if !(pa.len() == pb.len() && pa.keys().eq(pb.keys())) {
        // A test row is one utterance once: name one that moved folds.
        let fold_in_b: BTreeMap<&String, &String> = pb.keys().map(|(f, id)| (id, f)).collect();
        for (f, id) in pa.keys() {
            if let Some(fb) = fold_in_b.get(id).filter(|fb| **fb != f) {
                anyhow::bail!("utterance {id} is in fold {f} for {a} but fold {fb} for {b}");
            }
        }
        anyhow::bail!(
            "{a} and {b} did not predict the same utterances ({} vs {}); compare experiments of one protocol and corpus",
            pa.len(),
            pb.len()
        );
    }
    let mut classes: Vec<&String> = pa.values().flat_map(|(l, p, _)| [l, p]).collect();
    classes.extend(pb.values().map(|(_, p, _)| p));
    classes.sort();
    classes.dedup();
    let index = |c: &String| classes.binary_search(&c).expect("collected above");
    let mut fold_names: Vec<&String> = pa.keys().map(|(f, _)| f).collect();
    fold_names.sort();
    fold_names.dedup();
    let mut speaker_names: Vec<&String> = pa.values().map(|(_, _, s)| s).collect();
    speaker_names.sort();
    speaker_names.dedup();
    let (mut truth, mut pred_a, mut pred_b, mut fold) = (vec![], vec![], vec![], vec![]);
    let mut speaker = vec![];
    // Both hold the same (fold, id) keys now, in one (sorted) order.
    for (((f, id), (label, p, s)), (label_b, q, _)) in pa.iter().zip(pb.values()) {
        speaker.push(speaker_names.binary_search(&s).expect("collected above"));
        anyhow::ensure!(
            label == label_b,
            "utterance {id} has label {label} for {a} but {label_b} for {b}"
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
    let rows = if validation { "validation" } else { "test" };
    if as_json {
        let mut j = json!({ "a": a, "b": b_experiment, "protocol": protocol, "rows": rows,
                            "paired_bootstrap": paired, "mcnemar": test });
        if other {
            j["set_b"] = json!(set_b);
        }
        j[if validation { "n_validation" } else { "n_test" }] = json!(truth.len());
        if validation {
            j["n_validation_a"] = json!(only_a);
            j["n_validation_b"] = json!(only_b);
        }
        outln!("{j}")?;
    } else {
        outln!(
            "{a} vs {b} on {protocol} ({} {rows} utterances, {} speakers{})",
            truth.len(),
            speaker_names.len(),
            if validation {
                ", held out of the training folds; no test score was read"
            } else {
                ""
            }
        )?;
        if validation && (only_a, only_b) != (truth.len(), truth.len()) {
            outln!(
                "  the rows both held out: {a} has {only_a}, {b} has {only_b} (other seeds hold out other speakers)"
            )?;
        }
        outln!(
            "  UA (fold mean)      {:.4} vs {:.4}   difference {:+.4}, 95% CI [{:+.4}, {:+.4}]",
            paired.ua_a,
            paired.ua_b,
            paired.difference.estimate,
            paired.difference.low,
            paired.difference.high
        )?;
        outln!(
            "  paired bootstrap    p = {:.4}  ({} resamples of {} within folds, seed {})",
            paired.p_value,
            bootstrap.resamples,
            match unit {
                Unit::Speaker => "speakers",
                Unit::Utterance => "utterances",
            },
            bootstrap.seed
        )?;
        outln!(
            "  McNemar             only {a} right: {}, only {b} right: {}; p = {:.4} (mid-p), {:.4} (exact)",
            test.only_a_correct,
            test.only_b_correct,
            test.p_mid,
            test.p_exact
        )?;
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
    /// Resolve B with this value added to the `--set` ones (repeatable): the
    /// pipeline as written against a variant, e.g. `ser compare X X --set-b
    /// extract.deltas=1`. Both must be fresh in their configuration.
    #[arg(long = "set-b", value_name = "KEY=VALUE")]
    pub set_b: Vec<String>,
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
    /// Compare their predictions of the speakers held out of each training
    /// fold (validation tables) instead of the test speakers: for choosing
    /// between variants without seeing their test UAs.
    #[arg(long)]
    pub validation: bool,
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
            &self.set_b,
            self.protocol.as_deref(),
            unit,
            self.json,
            self.validation,
        )
    }
}
