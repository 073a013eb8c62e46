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
//!
//! `--choices` adds what was chosen inside each training fold, never on its
//! test speakers: a network grid's point (by validation UA on speakers held
//! out of the training fold), a classic grid's point (by inner
//! speaker-grouped CV) and an ensemble's `keep_best` members (by their
//! validation UA) or `choose: forward` members (by their mean's). With
//! `--json` it is each row's `choices` key: `chosen_by`
//! (`validation_speakers`, `inner_cv`, `members_by_validation_ua` or
//! `members_by_ensemble_validation_ua`) and `folds`, each with `fold`,
//! `chosen` (the point's values, or the members' names) and
//! `validation_ua` (the point's, one per `keep_best` member, or the
//! chosen members' mean's; empty for a classic grid).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::artifact::schema::{EvaluationSummary, InnerCvChoice, KeptMembers, ValidationChoice};
use crate::commands::PipelineArgs;
use crate::commands::validation;
use crate::dag::Graph;
use crate::scheduler::Outcome;
use crate::stage::{NodeRecord, Role};
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

/// How an experiment's per-fold choices were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChosenBy {
    /// A network grid's point: the best validation UA, on speakers held
    /// out of the fold's training speakers.
    ValidationSpeakers,
    /// A classic grid's point: the best UA over speaker-grouped inner folds
    /// of the training fold.
    InnerCv,
    /// An ensemble's `keep_best` members: those with the best validation UA.
    MembersByValidationUa,
    /// An ensemble's `choose: forward` members: those whose mean had the
    /// best validation UA.
    MembersByEnsembleValidationUa,
    /// An ensemble's `choose: forward` with `bags`: members weighted by
    /// how often that choice took them on resamples of the validation
    /// speakers.
    MembersByBaggedEnsembleValidationUa,
}

impl ChosenBy {
    fn describe(self) -> &'static str {
        match self {
            ChosenBy::ValidationSpeakers => {
                "grid point with the best validation UA (speakers held out of the training fold)"
            }
            ChosenBy::InnerCv => "grid point with the best UA over speaker-grouped inner folds",
            ChosenBy::MembersByValidationUa => "members with the best validation UA (keep_best)",
            ChosenBy::MembersByEnsembleValidationUa => {
                "members whose mean had the best validation UA (choose: forward)"
            }
            ChosenBy::MembersByBaggedEnsembleValidationUa => {
                "members weighted by how often that choice took them on resamples of the \
                 validation speakers (choose: forward, bags)"
            }
        }
    }
}

/// One fold's choice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoldChoice {
    pub fold: String,
    /// The grid point's values, or the kept members' names.
    pub chosen: Value,
    /// What it was chosen by: the point's validation UA, or one per kept
    /// member; empty for a classic grid (its inner-CV scores are in the
    /// models artifact).
    pub validation_ua: Vec<f64>,
    /// `choose: forward`'s validation rows: (utterances, speakers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_rows: Option<(usize, usize)>,
    /// With `bags`: each kept member's weight, in `chosen`'s order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_weights: Option<Vec<f64>>,
}

/// What an experiment chose inside its training folds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choices {
    pub chosen_by: ChosenBy,
    pub folds: Vec<FoldChoice>,
}

/// A network grid's summary (`grid`): one choice per fold.
#[derive(Deserialize)]
struct DeepGridSummary {
    folds: Vec<ValidationChoice>,
}

/// A classic grid's summary (`grid`): one choice per fold.
#[derive(Deserialize)]
struct ClassicGridSummary {
    chosen: Vec<InnerCvChoice>,
}

impl Choices {
    /// The choices recorded in a train (or ensemble) node's summary; None
    /// when it chose nothing (no grid, no keep_best).
    pub fn from_summary(summary: &Value) -> anyhow::Result<Option<Choices>> {
        let fold = |fold, chosen, validation_ua| FoldChoice {
            fold,
            chosen,
            validation_ua,
            validation_rows: None,
            member_weights: None,
        };
        let grid = &summary["grid"];
        let (chosen_by, folds) = if grid.get("chosen_on").is_some() {
            let deep = DeepGridSummary::deserialize(grid)?.folds.into_iter();
            let folds = deep.map(|c| fold(c.fold, json!(c.chosen), vec![c.validation_ua]));
            (ChosenBy::ValidationSpeakers, folds.collect())
        } else if grid.get("chosen").is_some() {
            let classic = ClassicGridSummary::deserialize(grid)?.chosen.into_iter();
            let folds = classic.map(|c| fold(c.fold, json!(c.params), vec![]));
            (ChosenBy::InnerCv, folds.collect())
        } else if let Some(kept) = summary.get("kept").filter(|k| k.is_array()) {
            let kept = Vec::<KeptMembers>::deserialize(kept)?;
            if kept.iter().all(|k| k.ensemble_validation_ua.is_some()) && !kept.is_empty() {
                let chosen_by = match kept.iter().all(|k| k.weights.is_some()) {
                    true => ChosenBy::MembersByBaggedEnsembleValidationUa,
                    false => ChosenBy::MembersByEnsembleValidationUa,
                };
                let folds = kept.into_iter().map(|k| {
                    let ua = k.ensemble_validation_ua.into_iter().collect();
                    let rows = k.validation_utterances.zip(k.validation_speakers);
                    FoldChoice {
                        validation_rows: rows,
                        member_weights: k.weights,
                        ..fold(k.fold, json!(k.members), ua)
                    }
                });
                (chosen_by, folds.collect())
            } else {
                let folds = kept
                    .into_iter()
                    .map(|k| fold(k.fold, json!(k.members), k.validation_ua));
                (ChosenBy::MembersByValidationUa, folds.collect())
            }
        } else {
            return Ok(None);
        };
        Ok(Some(Choices { chosen_by, folds }))
    }

    /// The report's form: the choices as text, per fold.
    pub fn for_report(&self, experiment: &str, protocol: &str) -> ser_report::ExperimentChoices {
        ser_report::ExperimentChoices {
            experiment: experiment.to_string(),
            protocol: protocol.to_string(),
            chosen_by: self.chosen_by.describe().to_string(),
            folds: self
                .folds
                .iter()
                .map(|f| ser_report::FoldChoice {
                    fold: f.fold.clone(),
                    chosen: f.chosen_text(),
                    validation_ua: f.validation_ua.clone(),
                    validation_rows: f.validation_rows,
                })
                .collect(),
        }
    }

    fn print(&self, experiment: &str) -> std::io::Result<()> {
        outln!("  {experiment}: {}", self.chosen_by.describe())?;
        for f in &self.folds {
            let chosen = match (&f.chosen, f.validation_ua.as_slice()) {
                (Value::Array(_), [ua])
                    if matches!(
                        self.chosen_by,
                        ChosenBy::MembersByEnsembleValidationUa
                            | ChosenBy::MembersByBaggedEnsembleValidationUa
                    ) =>
                {
                    let rows = f.validation_rows.map_or(String::new(), |(u, s)| {
                        format!(" on {u} utterances of {s} speakers")
                    });
                    let mean = match f.member_weights {
                        Some(_) => "their weighted mean's",
                        None => "their mean's",
                    };
                    format!("{}  ({mean} validation UA {ua:.3}{rows})", f.chosen_text())
                }
                // A kept member's score goes beside its name.
                (Value::Array(members), scores) if members.len() == scores.len() => members
                    .iter()
                    .zip(scores)
                    .map(|(m, ua)| format!("{} ({ua:.3})", m.as_str().unwrap_or("?")))
                    .collect::<Vec<_>>()
                    .join(", "),
                (Value::Object(_), [ua]) => {
                    format!("{}  (validation UA {ua:.3})", f.chosen_text())
                }
                _ => f.chosen_text(),
            };
            outln!("    {:<8} {chosen}", f.fold)?;
        }
        Ok(())
    }
}

impl FoldChoice {
    /// A point as `key=value ...`, members as `a, b` (weighted: `a (weight
    /// 0.60), b (weight 0.40)`).
    pub fn chosen_text(&self) -> String {
        match &self.chosen {
            Value::Object(point) => point
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    v => format!("{k}={v}"),
                })
                .collect::<Vec<_>>()
                .join(" "),
            Value::Array(members) => members
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let name = m.as_str().map_or_else(|| m.to_string(), str::to_string);
                    match self.member_weights.as_ref().and_then(|w| w.get(i)) {
                        Some(w) => format!("{name} (weight {w:.2})"),
                        None => name,
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        }
    }
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
pub fn print_table(rows: &[Row]) -> std::io::Result<()> {
    let mut rows = rows.to_vec();
    let ua = |r: &Row| r.json["ua"].as_f64().unwrap_or(f64::NAN);
    rows.sort_by(|a, b| ua(b).total_cmp(&ua(a)));
    outln!(
        "{:<36} {:<16} {:>7} {:<17} {:>7} {:>8} {:>6}",
        "experiment",
        "protocol",
        "UA",
        "  UA 95% CI",
        "WA",
        "macroF1",
        "n"
    )?;
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
        outln!(
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
        )?;
    }
    if rows.iter().any(|r| r.json["ci_unit"] == "speaker") {
        outln!(
            "UA 95% CI: bootstrap over test speakers within folds (`ser metrics --json` has the utterance-level one too)"
        )?;
    }
    if rows.iter().any(|r| r.json["transductive"] == true) {
        outln!(
            "(T) transductive: test speakers (or a test corpus) normalised by their own audio (normalize: speaker or corpus); not comparable with inductive results"
        )?;
    }
    Ok(())
}

pub fn metrics(args: &PipelineArgs, view: View) -> anyhow::Result<i32> {
    let View {
        json: as_json,
        choices: with_choices,
        validation,
    } = view;
    let (pipeline, cache) = args.load()?;
    let _lock = cache.lock(crate::cache::LockMode::Shared)?;
    let graph = Graph::build(&pipeline);
    let state = PipelineState::load(&cache, &pipeline.id);
    let state = crate::scheduler::with_cached_nodes(&graph, &cache, state);
    let record_of = |node: &str| -> Option<NodeRecord> { state.record(node) };
    if validation {
        return validation_view(&graph, &cache, &record_of, as_json, with_choices);
    }
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let mut choices: Vec<(String, Choices)> = Vec::new();
    for node in &graph.nodes {
        let Some(experiment) = &node.experiment else {
            continue;
        };
        let Some(record) = record_of(&node.name) else {
            missing.push(node.name.clone());
            continue;
        };
        let mut experiment_rows = rows(experiment, &record);
        // The train (or ensemble) node whose predictions the evaluate node
        // scores made the choices.
        if with_choices && let Some(made) = choices_of(&graph, node, &record_of) {
            let at = format!("{}@{}", experiment.name(), experiment.protocol);
            choices.push((at, made.clone()));
            for r in &mut experiment_rows {
                r.json["choices"] = json!(made);
            }
        }
        found.extend(experiment_rows);
    }
    if as_json {
        for r in &found {
            outln!("{}", r.json)?;
        }
    } else if !found.is_empty() {
        print_table(&found)?;
        print_choices(&choices)?;
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

/// What `ser metrics` prints.
#[derive(Debug, Clone, Copy, Default)]
pub struct View {
    pub json: bool,
    pub choices: bool,
    /// Validation UAs in place of test scores (`super::validation`).
    pub validation: bool,
}

/// The choices made inside the training folds by the train (or ensemble)
/// node whose predictions the evaluate node `node` scores; a summary that
/// does not decode is reported, naming the node.
fn choices_of(
    graph: &Graph,
    node: &crate::dag::Node,
    record_of: &dyn Fn(&str) -> Option<NodeRecord>,
) -> Option<Choices> {
    let train = &graph.nodes[node.dep(Role::Predictions)?].name;
    let summary = record_of(train)
        .map(|r| r.outputs.summary)
        .unwrap_or(Value::Null);
    Choices::from_summary(&summary).unwrap_or_else(|e| {
        eprintln!("{train}: its choices do not decode: {e}");
        None
    })
}

fn print_choices(choices: &[(String, Choices)]) -> std::io::Result<()> {
    if !choices.is_empty() {
        outln!("Chosen inside each training fold, never on its test speakers:")?;
        for (experiment, made) in choices {
            made.print(experiment)?;
        }
    }
    Ok(())
}

/// `ser metrics --validation`: no evaluate node is read.
fn validation_view(
    graph: &Graph,
    cache: &crate::cache::Cache,
    record_of: &dyn Fn(&str) -> Option<NodeRecord>,
    as_json: bool,
    with_choices: bool,
) -> anyhow::Result<i32> {
    let rows = validation::collect(graph, cache, |i| record_of(&graph.nodes[i].name));
    let mut choices = Vec::new();
    if with_choices {
        for node in graph.nodes.iter().filter(|n| n.experiment.is_some()) {
            let experiment = node.experiment.as_ref().expect("filtered");
            if let Some(made) = choices_of(graph, node, record_of) {
                choices.push((
                    format!("{}@{}", experiment.name(), experiment.protocol),
                    made,
                ));
            }
        }
    }
    if as_json {
        for r in &rows {
            let mut j = r.to_json();
            let at = format!("{}@{}", r.experiment, r.protocol);
            if let Some((_, made)) = choices.iter().find(|(e, _)| *e == at) {
                j["choices"] = json!(made);
            }
            outln!("{j}")?;
        }
    } else {
        validation::print_table(&rows)?;
        print_choices(&choices)?;
    }
    if rows.is_empty() {
        eprintln!("no trained experiments yet (run `ser run`)");
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
    /// Also what each experiment chose inside its training folds: a grid's
    /// point and an ensemble's kept members, per fold, with the validation
    /// UA it was chosen by.
    #[arg(long)]
    pub choices: bool,
    /// Each experiment's UA on the speakers held out of its training folds,
    /// and no test score: for choosing between variants without seeing
    /// their test UAs.
    #[arg(long)]
    pub validation: bool,
}

impl MetricsArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        metrics(
            &self.pipeline,
            View {
                json: self.json,
                choices: self.choices,
                validation: self.validation,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::artifact::schema::PointScore;

    fn point(hidden: u64) -> Option<BTreeMap<String, Value>> {
        Some(BTreeMap::from([("hidden".to_string(), json!(hidden))]))
    }

    #[test]
    fn a_network_grid_gives_its_point_and_validation_ua_per_fold() {
        // The summary as the deep train path writes it.
        let choice = ValidationChoice {
            fold: "fold1".into(),
            chosen: point(16),
            validation_ua: 0.5,
            points: vec![
                PointScore {
                    params: point(4),
                    validation_ua: 0.25,
                },
                PointScore {
                    params: point(16),
                    validation_ua: 0.5,
                },
            ],
        };
        let summary = json!({
            "folds": 1,
            "grid": { "chosen_on": "validation speakers", "folds": [choice] },
        });
        let made = Choices::from_summary(&summary).unwrap().unwrap();
        assert_eq!(made.chosen_by, ChosenBy::ValidationSpeakers);
        assert_eq!(
            made.folds,
            vec![FoldChoice {
                fold: "fold1".into(),
                chosen: json!({ "hidden": 16 }),
                validation_ua: vec![0.5],
                validation_rows: None,
                member_weights: None,
            }]
        );
        assert_eq!(json!(made)["chosen_by"], "validation_speakers");
        assert_eq!(made.folds[0].chosen_text(), "hidden=16");
        let report = made.for_report("mfcc/none/grid", "two");
        assert_eq!(report.folds[0].chosen, "hidden=16");
        assert_eq!(report.folds[0].validation_ua, vec![0.5]);
    }

    #[test]
    fn a_classic_grid_and_an_ensemble_give_theirs() {
        let classic = json!({
            "folds": 2,
            "grid": {
                "chosen": [{ "fold": "a", "params": { "k": 5 } }, { "fold": "b", "params": { "k": 11 } }],
                "points_computed": 6,
                "points_reused": 0,
            },
        });
        let made = Choices::from_summary(&classic).unwrap().unwrap();
        assert_eq!(made.chosen_by, ChosenBy::InnerCv);
        assert_eq!(made.folds[1].chosen, json!({ "k": 11 }));
        assert!(made.folds[1].validation_ua.is_empty());

        let ensemble = json!({
            "kept": [{ "fold": "a", "members": ["x/none/mlp", "x/none/cnn1d"], "validation_ua": [0.6, 0.5] }],
            "members": [],
        });
        let made = Choices::from_summary(&ensemble).unwrap().unwrap();
        assert_eq!(made.chosen_by, ChosenBy::MembersByValidationUa);
        assert_eq!(made.folds[0].chosen, json!(["x/none/mlp", "x/none/cnn1d"]));
        assert_eq!(made.folds[0].validation_ua, vec![0.6, 0.5]);
        assert_eq!(made.folds[0].chosen_text(), "x/none/mlp, x/none/cnn1d");

        // choose: forward records its members' mean's validation UA too,
        // and that is what chose them.
        let forward = json!({
            "kept": [{ "fold": "a", "members": ["x/none/mlp", "x/none/gru"], "validation_ua": [0.6, 0.5],
                       "ensemble_validation_ua": 0.65, "validation_utterances": 180, "validation_speakers": 3 }],
        });
        let made = Choices::from_summary(&forward).unwrap().unwrap();
        assert_eq!(made.chosen_by, ChosenBy::MembersByEnsembleValidationUa);
        assert_eq!(made.folds[0].chosen, json!(["x/none/mlp", "x/none/gru"]));
        assert_eq!(made.folds[0].validation_ua, vec![0.65]);
        assert_eq!(made.folds[0].validation_rows, Some((180, 3)));
        assert_eq!(made.folds[0].member_weights, None);

        // With bags, each member's weight goes beside its name.
        let bagged = json!({
            "kept": [{ "fold": "a", "members": ["x/none/mlp", "x/none/gru"], "validation_ua": [0.6, 0.5],
                       "ensemble_validation_ua": 0.66, "validation_utterances": 180,
                       "validation_speakers": 3, "weights": [0.75, 0.25] }],
        });
        let made = Choices::from_summary(&bagged).unwrap().unwrap();
        assert_eq!(
            made.chosen_by,
            ChosenBy::MembersByBaggedEnsembleValidationUa
        );
        assert_eq!(made.folds[0].member_weights, Some(vec![0.75, 0.25]));
        assert_eq!(
            made.folds[0].chosen_text(),
            "x/none/mlp (weight 0.75), x/none/gru (weight 0.25)"
        );
    }

    #[test]
    fn a_model_that_chose_nothing_has_no_choices_and_a_bad_record_is_an_error() {
        // An ensemble without keep_best writes `kept: null`.
        for summary in [json!({ "folds": 6 }), json!({ "kept": null }), Value::Null] {
            assert_eq!(Choices::from_summary(&summary).unwrap(), None, "{summary}");
        }
        let bad =
            json!({ "grid": { "chosen_on": "validation speakers", "folds": [{ "fold": 1 }] } });
        assert!(Choices::from_summary(&bad).is_err());
    }
}
