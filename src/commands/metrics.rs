//! `ser metrics`: the latest results of every experiment of the pipeline.
//!
//! `--json` prints one object per line with the keys `experiment`,
//! `features`, `selection`, `model`, `protocol`, `ua`, `wa`, `macro_f1`,
//! `n_test`, `augment`, `ua_ci`, `wa_ci` ([low, high], 95% bootstrap over
//! test speakers), `ci_unit` (`speaker`), `ua_ci_utterance`, `wa_ci_utterance`
//! (the same over single utterances, narrower), and `transductive` (true
//! when test speakers were normalised by their own audio, `normalize:
//! speaker` or `corpus`), and `test_corpus` (null on the experiment's row;
//! a pipeline over several corpora adds one row per test corpus, with its
//! scores and speaker intervals): a stable contract for scripts. Results
//! evaluated before speaker intervals existed have `ci_unit: utterance`
//! until rerun.

use serde_json::json;

use crate::artifact::schema::EvaluationSummary;
use crate::commands::PipelineArgs;
use crate::dag::Graph;
use crate::scheduler::Outcome;
use crate::stage::NodeRecord;
use crate::state::PipelineState;

#[derive(Debug, Clone)]
pub struct Row {
    pub json: serde_json::Value,
}

/// An experiment's rows, from its evaluate node's summary: the overall
/// row (`test_corpus: null`), then one per test corpus when the test rows
/// come from several. A summary that does not decode is reported (naming
/// the node) and left out.
fn rows(experiment: &crate::dag::Experiment, record: &NodeRecord) -> Vec<Row> {
    let Some(s) = serde_json::from_value::<EvaluationSummary>(record.outputs.summary.clone())
        .map_err(|e| eprintln!("{}: its summary does not decode: {e}", record.node))
        .ok()
    else {
        return vec![];
    };
    let base = json!({
        "experiment": experiment.name(),
        "features": experiment.features,
        "augment": experiment.augment,
        "selection": experiment.selection,
        "model": experiment.model,
        "protocol": experiment.protocol,
        "transductive": experiment.transductive,
    });
    let with = |extra: serde_json::Value| {
        let mut j = base.clone();
        for (k, v) in extra.as_object().expect("an object") {
            j[k] = v.clone();
        }
        Row { json: j }
    };
    let mut out = vec![with(json!({
        "test_corpus": null,
        "ua": s.ua, "wa": s.wa, "macro_f1": s.macro_f1, "n_test": s.n_test,
        "ua_ci": s.ua_ci, "wa_ci": s.wa_ci,
        "ci_unit": s.ci_unit,
        "ua_ci_utterance": s.ua_ci_by_utterance(),
        "wa_ci_utterance": s.wa_ci_by_utterance(),
    }))];
    for (corpus, c) in &s.by_corpus {
        out.push(with(json!({
            "test_corpus": corpus,
            "ua": c.ua, "wa": c.wa, "macro_f1": c.macro_f1, "n_test": c.n_test,
            "ua_ci": c.ua_ci, "wa_ci": c.wa_ci,
            "ci_unit": s.ci_unit,
        })));
    }
    out
}

/// Rows for the evaluate nodes that have a record in `outcomes`.
pub fn collect_rows(graph: &Graph, outcomes: &[Outcome]) -> Vec<Row> {
    graph
        .nodes
        .iter()
        .zip(outcomes)
        .filter_map(|(node, outcome)| Some(rows(node.experiment.as_ref()?, outcome.record()?)))
        .flatten()
        .collect()
}

/// Results sorted by UA, best first.
pub fn print_table(rows: &[Row]) {
    let mut rows = rows.to_vec();
    let ua = |r: &Row| r.json["ua"].as_f64().unwrap_or(f64::NAN);
    rows.sort_by(|a, b| ua(b).total_cmp(&ua(a)));
    println!(
        "{:<36} {:<16} {:>7} {:<17} {:>7} {:>8} {:>6}",
        "experiment", "protocol", "UA", "  UA 95% CI", "WA", "macroF1", "n"
    );
    for r in &rows {
        let j = &r.json;
        let ci = match (j["ua_ci"][0].as_f64(), j["ua_ci"][1].as_f64()) {
            (Some(low), Some(high)) => format!("  [{low:.3}, {high:.3}]"),
            _ => String::new(),
        };
        let mark = if j["transductive"] == true {
            " (T)"
        } else {
            ""
        };
        println!(
            "{:<36} {:<16} {:>7.4} {:<17} {:>7.4} {:>8.4} {:>6}",
            match j["test_corpus"].as_str() {
                Some(corpus) =>
                    format!("{}{mark} @{corpus}", j["experiment"].as_str().unwrap_or("")),
                None => format!("{}{mark}", j["experiment"].as_str().unwrap_or("")),
            },
            j["protocol"].as_str().unwrap_or(""),
            ua(r),
            ci,
            j["wa"].as_f64().unwrap_or(f64::NAN),
            j["macro_f1"].as_f64().unwrap_or(f64::NAN),
            j["n_test"]
        );
    }
    if rows.iter().any(|r| r.json["ci_unit"] == "speaker") {
        println!(
            "UA 95% CI: bootstrap over test speakers within folds (`ser metrics --json` has the utterance-level one too)"
        );
    }
    if rows.iter().any(|r| r.json["transductive"] == true) {
        println!(
            "(T) transductive: test speakers (or a test corpus) normalised by their own audio (normalize: speaker or corpus); not comparable with inductive results"
        );
    }
}

pub fn metrics(args: &PipelineArgs, as_json: bool) -> anyhow::Result<i32> {
    let (pipeline, cache) = args.load()?;
    let _lock = cache.lock(crate::cache::LockMode::Shared)?;
    let graph = Graph::build(&pipeline);
    let state = PipelineState::load(&cache, &pipeline.id);
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for node in &graph.nodes {
        let Some(experiment) = &node.experiment else {
            continue;
        };
        let record: Option<NodeRecord> = state
            .get(&node.name)
            .and_then(|s| cache.read_json(&cache.node_record_path(&s.stage, &s.key)));
        match record {
            Some(record) => found.extend(rows(experiment, &record)),
            None => missing.push(node.name.clone()),
        }
    }
    if as_json {
        for r in &found {
            println!("{}", r.json);
        }
    } else if !found.is_empty() {
        print_table(&found);
    }
    if !missing.is_empty() {
        eprintln!(
            "no results yet for {} experiment(s) (run `ser run`): {}",
            missing.len(),
            missing.join(", ")
        );
    }
    Ok(if found.is_empty() { 1 } else { 0 })
}

/// `ser metrics`.
#[derive(Debug, clap::Args)]
pub struct MetricsArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// One JSON object per line (experiment, features, selection, model,
    /// protocol, ua, wa, macro_f1, n_test).
    #[arg(long)]
    pub json: bool,
}

impl MetricsArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        metrics(&self.pipeline, self.json)
    }
}
