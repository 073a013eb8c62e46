//! `ser report`: the evaluated experiments of the pipeline as a folder a
//! person opens: `index.html` (one self-contained page, figures inline),
//! `README.md` (the results table sorted by UA, linking the figures) and
//! `img/` (confusion matrix, per-class scores, features kept by selection,
//! training curves where a model records them; PNG and SVG).
//!
//! It reads what `ser metrics` reads, the latest record of every evaluate
//! node, and follows the graph's edges from each evaluate node to its train
//! node (for training curves) and from there to its select node (for the
//! features each fold kept). Drawing is ser-report's job; this module only
//! fills its [`ReportInput`] from the cache.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use ser_report::{ClassScore, Curve, ExperimentResult, FeatureKept, RejectedInput, ReportInput};

use crate::artifact::features::KEY_COLUMNS;
use crate::artifact::parquet_read;
use crate::artifact::schema::{EvaluationSummary, FoldModel, ModelsArtifact, SelectionArtifact};
use crate::cache::Cache;
use crate::commands::PipelineArgs;
use crate::commands::metrics::Choices;
use crate::dag::Graph;
use crate::stage::NodeRecord;
use crate::stage::Role;
use crate::state::PipelineState;

pub fn report(args: &PipelineArgs, out: Option<&Path>) -> anyhow::Result<i32> {
    let (pipeline, cache) = args.load()?;
    let _lock = cache.lock(crate::cache::LockMode::Shared)?;
    let graph = Graph::build(&pipeline);
    let state = PipelineState::load(&cache, &pipeline.id);
    let state = crate::scheduler::with_cached_nodes(&graph, &cache, state);
    let record = |index: usize| -> Option<(String, NodeRecord)> {
        let name = &graph.nodes[index].name;
        Some((state.get(name)?.key, state.record(name)?))
    };

    let mut experiments = Vec::new();
    let mut missing = Vec::new();
    let mut by_corpus: Vec<ser_report::CorpusResult> = Vec::new();
    let mut choices = Vec::new();
    // One select node serves every model: read it once.
    let mut kept_by_select: BTreeMap<usize, Vec<FeatureKept>> = BTreeMap::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        let Some(experiment) = &node.experiment else {
            continue;
        };
        let Some((key, evaluated)) = record(i) else {
            missing.push(node.name.clone());
            continue;
        };
        let s: EvaluationSummary = match serde_json::from_value(evaluated.outputs.summary.clone()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{}: its summary does not decode ({e}); left out", node.name);
                continue;
            }
        };
        for (corpus, c) in &s.by_corpus {
            by_corpus.push(ser_report::CorpusResult {
                experiment: experiment.name(),
                protocol: experiment.protocol.clone(),
                corpus: corpus.clone(),
                ua: c.ua,
                ua_ci: interval(c.ua_ci),
                wa: c.wa,
                n_test: c.n_test,
            });
        }
        let train = node.dep(Role::Predictions);
        let trained = train.and_then(&record);
        let curves = trained
            .as_ref()
            .and_then(|(_, r)| training_curves(&cache, r));
        if let Some((_, r)) = &trained {
            match Choices::from_summary(&r.outputs.summary) {
                Ok(Some(made)) => {
                    choices.push(made.for_report(&experiment.name(), &experiment.protocol))
                }
                Ok(None) => {}
                Err(e) => eprintln!("{}: its choices do not decode ({e}); left out", r.node),
            }
        }
        let select = train.and_then(|t| graph.nodes[t].dep(Role::Selection));
        let selected_features = match select {
            Some(select) if kept_by_select.contains_key(&select) => {
                Some(kept_by_select[&select].clone())
            }
            Some(select) => match record(select) {
                // A report without one figure beats no report.
                None => {
                    eprintln!(
                        "{}: its selection {} has no record in the cache; no features figure",
                        node.name, graph.nodes[select].name
                    );
                    None
                }
                Some((_, r)) => {
                    // The columns it chose from, so the figure can say "of 645".
                    let columns = graph.nodes[select]
                        .dep(Role::Features)
                        .and_then(&record)
                        .and_then(|(_, r)| feature_names(&cache, &r));
                    let kept = features_kept(&cache, &r, columns.as_deref())
                        .map_err(|e| anyhow::anyhow!("{}: {e:#}", graph.nodes[select].name))?;
                    kept_by_select.insert(select, kept.clone());
                    Some(kept)
                }
            },
            None => None,
        };
        experiments.push(ExperimentResult {
            name: experiment.name(),
            features: experiment.features_with_augment(),
            selection: experiment.selection.clone(),
            model: experiment.model.clone(),
            protocol: experiment.protocol.clone(),
            ua: s.ua,
            wa: s.wa,
            macro_f1: s.macro_f1,
            ua_ci: interval(s.ua_ci),
            wa_ci: interval(s.wa_ci),
            // Evaluate nodes keep no F1 interval.
            macro_f1_ci: None,
            ci_unit: Some(
                serde_json::to_value(s.ci_unit)?
                    .as_str()
                    .unwrap_or("utterance")
                    .to_string(),
            ),
            transductive: experiment.transductive,
            n_test: s.n_test,
            node_key: key,
            classes: s.classes.clone(),
            confusion: s.pooled.confusion.clone(),
            per_class: s
                .pooled
                .per_class
                .iter()
                .map(|c| ClassScore {
                    precision: c.precision,
                    recall: c.recall,
                    f1: c.f1,
                    support: c.support,
                })
                .collect(),
            selected_features,
            curves,
        });
    }

    if !missing.is_empty() {
        eprintln!(
            "no results yet for {} experiment(s) (run `ser run`): {}",
            missing.len(),
            missing.join(", ")
        );
    }
    anyhow::ensure!(
        !experiments.is_empty(),
        "no experiment of {} has results yet; run `ser run` first",
        pipeline.file.display()
    );

    let file_name = pipeline
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| pipeline.file.display().to_string());
    let config = serde_json::to_vec(&pipeline.config)?;
    let input = ReportInput {
        title: format!("ser report: {file_name}"),
        config_hash: blake3::hash(&config).to_hex()[..16].to_string(),
        experiments,
        rejects: rejected_inputs(&graph, |i| record(i).map(|(_, r)| r)),
        corpora: corpora_section(&graph, |i| record(i).map(|(_, r)| r), by_corpus),
        choices,
    };
    // An explicit --out is relative to the working directory, as every
    // command-line path; the default sits beside the pipeline file.
    let out_dir: PathBuf = match out {
        Some(dir) => dir.to_path_buf(),
        None => pipeline.resolve("report"),
    };
    let files = ser_report::write_report(&input, &out_dir)
        .map_err(|e| anyhow::anyhow!("report {}: {e}", out_dir.display()))?;

    outln!("{}", files.index_html.display())?;
    outln!("{}", files.readme_md.display())?;
    let pngs = files
        .images
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .count();
    outln!(
        "{}/ ({pngs} figures, PNG and SVG)",
        out_dir.join("img").display()
    )?;
    let best = input
        .experiments
        .iter()
        .filter(|e| !e.ua.is_nan())
        .max_by(|a, b| a.ua.total_cmp(&b.ua));
    match best {
        Some(best) => outln!(
            "{} experiment(s), config {}; best UA {:.4}: {} @ {}",
            input.experiments.len(),
            input.config_hash,
            best.ua,
            best.name,
            best.protocol
        )?,
        None => outln!(
            "{} experiment(s), config {}",
            input.experiments.len(),
            input.config_hash
        )?,
    }
    Ok(0)
}

/// The corpora section: label counts from the ingest node's summary (a
/// pipeline over several corpora, or with a label set, records them) and
/// the per-test-corpus scores.
fn corpora_section(
    graph: &Graph,
    record: impl Fn(usize) -> Option<NodeRecord>,
    results: Vec<ser_report::CorpusResult>,
) -> Option<ser_report::Corpora> {
    let ingest = graph
        .nodes
        .iter()
        .position(|n| n.stage.stage() == "ingest")?;
    let counts: Option<ser_ingest::LabelCounts> = record(ingest)
        .and_then(|r| serde_json::from_value(r.outputs.summary.get("labels")?.clone()).ok());
    if counts.is_none() && results.is_empty() {
        return None;
    }
    let counts = counts.unwrap_or_default();
    let pairs = |m: Option<&BTreeMap<String, usize>>| -> Vec<(String, usize)> {
        m.map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    };
    Some(ser_report::Corpora {
        labels: counts
            .before
            .keys()
            .map(|corpus| ser_report::CorpusLabels {
                corpus: corpus.clone(),
                before: pairs(counts.before.get(corpus)),
                after: pairs(counts.after.get(corpus)),
                excluded: counts.excluded.get(corpus).copied().unwrap_or(0),
            })
            .collect(),
        results,
    })
}

/// Ingest's rejected files, then the utterances extract nodes rejected:
/// once as `extract` when every feature set rejected it, else per node.
fn rejected_inputs(
    graph: &Graph,
    record: impl Fn(usize) -> Option<NodeRecord>,
) -> Vec<RejectedInput> {
    let listed = |summary: &Value| -> Vec<(String, String, String)> {
        summary["rejects"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or("?").to_string();
                (s("path"), s("code"), s("reason"))
            })
            .collect()
    };
    let mut out = Vec::new();
    let mut by_reject: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    let mut n_extract = 0;
    for (i, node) in graph.nodes.iter().enumerate() {
        let stage = node.stage.stage();
        if stage != "ingest" && stage != "extract" {
            continue;
        }
        let Some(r) = record(i) else { continue };
        let rejects = listed(&r.outputs.summary);
        if stage == "ingest" {
            out.extend(
                rejects
                    .into_iter()
                    .map(|(path, code, reason)| RejectedInput {
                        stage: node.name.clone(),
                        path,
                        code,
                        reason,
                    }),
            );
        } else {
            n_extract += 1;
            for reject in rejects {
                by_reject.entry(reject).or_default().push(node.name.clone());
            }
        }
    }
    for ((path, code, reason), nodes) in by_reject {
        let stages = if nodes.len() == n_extract {
            vec!["extract".to_string()]
        } else {
            nodes
        };
        for stage in stages {
            out.push(RejectedInput {
                stage,
                path: path.clone(),
                code: code.clone(),
                reason: reason.clone(),
            });
        }
    }
    out
}

/// The graph index of `node`'s dependency in `role`.
/// A JSON number, NaN where it is missing or null (JSON has no NaN, so
/// serde_json writes a NaN metric as null).
/// A `[low, high]` interval, when both ends are numbers.
fn interval([low, high]: [f64; 2]) -> Option<(f64, f64)> {
    (low.is_finite() && high.is_finite()).then_some((low, high))
}

/// How many folds kept each column, from a select node's `selected`
/// artifact (`kept_in_folds`: column -> count; `folds`: one entry per fold),
/// with the `columns` it chose from that no fold kept as 0.
fn features_kept(
    cache: &Cache,
    select: &NodeRecord,
    columns: Option<&[String]>,
) -> anyhow::Result<Vec<FeatureKept>> {
    let object = select
        .outputs
        .files
        .get("selected")
        .ok_or_else(|| anyhow::anyhow!("no `selected` artifact"))?;
    let artifact: SelectionArtifact = serde_json::from_slice(&cache.read_object(object)?)
        .map_err(|e| anyhow::anyhow!("the `selected` artifact: {e}"))?;
    let folds = artifact.folds.len();
    let kept = &artifact.kept_in_folds;
    let mut out: Vec<FeatureKept> = kept
        .iter()
        .map(|(name, &count)| FeatureKept {
            name: name.clone(),
            kept: count,
            folds,
        })
        .collect();
    for name in columns.unwrap_or_default() {
        if !kept.contains_key(name) {
            out.push(FeatureKept {
                name: name.clone(),
                kept: 0,
                folds,
            });
        }
    }
    Ok(out)
}

/// The feature column names of an extract node's `features` table.
fn feature_names(cache: &Cache, extract: &NodeRecord) -> Option<Vec<String>> {
    let object = extract.outputs.files.get("features")?;
    let table = parquet_read::from_parquet(cache.read_object(object).ok()?).ok()?;
    Some(
        table
            .columns
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| !KEY_COLUMNS.contains(&name.as_str()))
            .collect(),
    )
}

/// Training curves from a train node's `models` artifact, when its models
/// record them (see [`curves_from_models`]).
fn training_curves(cache: &Cache, train: &NodeRecord) -> Option<Vec<Curve>> {
    let object = train.outputs.files.get("models")?;
    let models: ModelsArtifact = serde_json::from_slice(&cache.read_object(object).ok()?)
        .map_err(|e| eprintln!("{}: models: {e}; no curves figure", train.node))
        .ok()?;
    curves_from_models(&models)
}

/// The curves of the first fold that has some (networks record them,
/// classic models none); NaN points (an epoch without a validation score)
/// are skipped.
fn curves_from_models(models: &ModelsArtifact) -> Option<Vec<Curve>> {
    curves_of_first_fold(models.folds.iter().map(|fold| match fold {
        FoldModel::Deep(deep) => deep.curves.as_slice(),
        FoldModel::Classic(_) => &[],
    }))
}

fn curves_of_first_fold<'a>(
    mut folds: impl Iterator<Item = &'a [ser_deep::Curve]>,
) -> Option<Vec<Curve>> {
    let curves = folds.find(|c| !c.is_empty())?;
    Some(
        curves
            .iter()
            .map(|c| Curve {
                name: c.name.clone(),
                panel: c.panel.clone(),
                points: c
                    .points
                    .iter()
                    .filter(|[x, y]| x.is_finite() && y.is_finite())
                    .map(|&[x, y]| (x, y))
                    .collect(),
            })
            .collect(),
    )
}

/// `ser report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// The folder to write (default: `report` beside the pipeline file).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
}

impl ReportArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        report(&self.pipeline, self.out.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn curves_come_from_the_first_fold_that_has_them() {
        // As a models artifact stores them: a NaN is written as null.
        let second: Vec<ser_deep::Curve> = serde_json::from_value(json!([
            { "name": "train loss", "panel": "loss", "points": [[1, 2.0], [2, null], [3, 1.5]] },
            { "name": "validation UA", "panel": "UA", "points": [[1, 0.4], [2, 0.5]] },
        ]))
        .unwrap();
        let third: Vec<ser_deep::Curve> = serde_json::from_value(json!([
            { "name": "other", "panel": "loss", "points": [] },
        ]))
        .unwrap();
        let folds: [&[ser_deep::Curve]; 3] = [&[], &second, &third];
        let curves = curves_of_first_fold(folds.into_iter()).unwrap();
        assert_eq!(curves.len(), 2);
        assert_eq!(
            (curves[0].name.as_str(), curves[0].panel.as_str()),
            ("train loss", "loss")
        );
        assert_eq!(curves[0].points, vec![(1.0, 2.0), (3.0, 1.5)]);
        assert_eq!(curves[1].panel, "UA");
        // Classic models record no curves.
        assert_eq!(curves_of_first_fold([&[][..]].into_iter()), None);
    }

    #[test]
    fn missing_metrics_read_as_nan_and_intervals_need_both_ends() {
        // A summary whose NaNs JSON wrote as null still decodes.
        let summary: EvaluationSummary = serde_json::from_value(json!({
            "ua": null, "wa": 0.5, "macro_f1": 0.4, "n_test": 2,
            "ua_ci": [null, 0.5], "wa_ci": [0.25, 0.5],
            "classes": ["a", "b"], "folds": [],
            "pooled": { "ua": 0.5, "wa": 0.5, "macro_f1": 0.4, "n": 2,
                        "per_class": [], "confusion": [[1, 0], [1, 0]] },
        }))
        .unwrap();
        assert!(summary.ua.is_nan());
        assert_eq!(interval(summary.wa_ci), Some((0.25, 0.5)));
        assert_eq!(interval(summary.ua_ci), None);
        // Summaries made before speaker intervals read as utterance ones.
        assert_eq!(summary.ua_ci_by_utterance()[1], 0.5);
        assert_eq!(summary.ci_unit, ser_evaluate::metrics::Unit::Utterance);
    }
}
