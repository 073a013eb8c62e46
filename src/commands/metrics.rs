//! `ser metrics`: the latest results of every experiment of the pipeline.
//!
//! `--json` prints one object per line with the keys `experiment`,
//! `features`, `selection`, `model`, `protocol`, `ua`, `wa`, `macro_f1`,
//! `n_test`, `augment`, `ua_ci`, `wa_ci` ([low, high], 95% bootstrap over
//! test speakers), `ci_unit` (`speaker`), `ua_ci_utterance`, `wa_ci_utterance`
//! (the same over single utterances, narrower), and `transductive` (true
//! when test speakers were normalised by their own audio, `normalize:
//! speaker`): a stable contract for scripts. Results evaluated before
//! speaker intervals existed have `ci_unit: utterance` until rerun.

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

/// An experiment's row, from its evaluate node's summary; a summary that
/// does not decode is reported (naming the node) and left out.
fn row(experiment: &crate::dag::Experiment, record: &NodeRecord) -> Option<Row> {
    let s: EvaluationSummary = serde_json::from_value(record.outputs.summary.clone())
        .map_err(|e| eprintln!("{}: its summary does not decode: {e}", record.node))
        .ok()?;
    Some(Row {
        json: json!({
            "experiment": experiment.name(),
            "features": experiment.features,
            "augment": experiment.augment,
            "selection": experiment.selection,
            "model": experiment.model,
            "protocol": experiment.protocol,
            "ua": s.ua, "wa": s.wa, "macro_f1": s.macro_f1, "n_test": s.n_test,
            "ua_ci": s.ua_ci, "wa_ci": s.wa_ci,
            "ci_unit": s.ci_unit,
            "ua_ci_utterance": s.ua_ci_by_utterance(),
            "wa_ci_utterance": s.wa_ci_by_utterance(),
            "transductive": experiment.transductive,
        }),
    })
}

/// Rows for the evaluate nodes that have a record in `outcomes`.
pub fn collect_rows(graph: &Graph, outcomes: &[Outcome]) -> Vec<Row> {
    graph
        .nodes
        .iter()
        .zip(outcomes)
        .filter_map(|(node, outcome)| row(node.experiment.as_ref()?, outcome.record()?))
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
            format!("{}{mark}", j["experiment"].as_str().unwrap_or("")),
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
            "(T) transductive: test speakers normalised by their own audio (normalize: speaker); not comparable with inductive results"
        );
    }
}

pub fn metrics(args: &PipelineArgs, as_json: bool) -> anyhow::Result<i32> {
    let (pipeline, cache) = args.load()?;
    let _lock = cache.lock(crate::cache::LockMode::Shared)?;
    let graph = Graph::build(&pipeline);
    let state = PipelineState::load(&cache, &pipeline.id);
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    for node in &graph.nodes {
        let Some(experiment) = &node.experiment else {
            continue;
        };
        let record: Option<NodeRecord> = state
            .get(&node.name)
            .and_then(|s| cache.read_json(&cache.node_record_path(&s.stage, &s.key)));
        match record {
            Some(record) => rows.extend(row(experiment, &record)),
            None => missing.push(node.name.clone()),
        }
    }
    if as_json {
        for r in &rows {
            println!("{}", r.json);
        }
    } else if !rows.is_empty() {
        print_table(&rows);
    }
    if !missing.is_empty() {
        eprintln!(
            "no results yet for {} experiment(s) (run `ser run`): {}",
            missing.len(),
            missing.join(", ")
        );
    }
    Ok(if rows.is_empty() { 1 } else { 0 })
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
