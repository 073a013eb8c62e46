//! `ser export`: an experiment's trained model as a self-contained bundle
//! (see [`crate::bundle`]), from the cache, without retraining.
//!
//! A protocol's fold models are what the pipeline trained: `--fold F`
//! exports one (it predicts that fold's test speakers exactly as the
//! pipeline did), `--from-folds` all of them, averaged.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::artifact::features::feature_columns;
use crate::artifact::parquet_read;
use crate::artifact::schema::{EvaluationSummary, FoldModel, ModelsArtifact, SelectionArtifact};
use crate::bundle::{self, CrossValidated, Features, Manifest, Member, Training};
use crate::commands::PipelineArgs;
use crate::config::WAVEFORM;
use crate::dag::Graph;
use crate::model::ModelSpec;
use crate::stage::{NodeRecord, Role};
use crate::state::PipelineState;

/// `ser export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// The experiment, as `ser metrics` names it (e.g. egemaps/none/svm).
    pub experiment: String,
    /// The protocol it was trained on (default: its first).
    #[arg(long)]
    pub protocol: Option<String>,
    /// The fold whose model to export (default: the only one).
    #[arg(long, conflicts_with = "from_folds")]
    pub fold: Option<String>,
    /// Every fold's model; a prediction is their mean.
    #[arg(long)]
    pub from_folds: bool,
    /// The bundle to write (NAME.sermodel).
    #[arg(long, short = 'o')]
    pub out: PathBuf,
}

impl ExportArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        let (pipeline, cache) = self.pipeline.load()?;
        let _lock = cache.lock(crate::cache::LockMode::Shared)?;
        let graph = Graph::build(&pipeline);
        let state = PipelineState::load(&cache, &pipeline.id);
        let record = |i: usize| -> anyhow::Result<NodeRecord> {
            let name = &graph.nodes[i].name;
            state
                .get(name)
                .and_then(|s| cache.read_json(&cache.node_record_path(&s.stage, &s.key)))
                .ok_or_else(|| {
                    anyhow::anyhow!("{name} has no result in the cache; run `ser run` first")
                })
        };
        let dep = |i: usize, role: Role| -> Option<usize> {
            graph.nodes[i]
                .deps
                .iter()
                .find(|(r, _)| *r == role)
                .map(|(_, d)| *d)
        };

        // The experiment's train node on the protocol asked for (or its
        // first); its model and feature set from the experiment's name.
        anyhow::ensure!(
            !self
                .experiment
                .starts_with(&format!("{}/", crate::config::ENSEMBLE)),
            "{}: ensembles cannot be exported yet; export a member",
            self.experiment
        );
        let prefix = format!("train:{}@", self.experiment);
        let train = graph
            .nodes
            .iter()
            .position(|n| match &self.protocol {
                Some(p) => n.name == format!("{prefix}{p}"),
                None => n.name.starts_with(&prefix),
            })
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no experiment {}{} in {} (`ser dag` lists the train nodes)",
                    self.experiment,
                    self.protocol
                        .as_ref()
                        .map_or(String::new(), |p| format!(" on {p}")),
                    pipeline.file.display()
                )
            })?;
        let protocol = graph.nodes[train].name[prefix.len()..].to_string();
        let mut parts = self.experiment.split('/');
        let features_set = parts
            .next()
            .and_then(|f| f.split('+').next())
            .unwrap_or_default()
            .to_string();
        let model_name = self.experiment.rsplit('/').next().unwrap_or_default();
        let entry = pipeline.config.models.get(model_name).ok_or_else(|| {
            anyhow::anyhow!("{}: no model {model_name} in the pipeline", self.experiment)
        })?;
        refuse_speaker_statistics(entry)?;
        // The experiment's evaluation: on this protocol, else (a final
        // model, protocol `all`) on the first other one that has a result.
        let evaluations: Vec<usize> = graph
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                n.experiment
                    .as_ref()
                    .is_some_and(|e| e.name() == self.experiment)
            })
            .map(|(i, _)| i)
            .collect();
        let evaluation = evaluations
            .iter()
            .find(|&&i| {
                graph.nodes[i]
                    .experiment
                    .as_ref()
                    .is_some_and(|e| e.protocol == protocol)
            })
            .into_iter()
            .chain(&evaluations)
            .find_map(|&i| {
                let summary = record(i).ok()?.outputs.summary;
                let s = serde_json::from_value::<EvaluationSummary>(summary).ok()?;
                let on = graph.nodes[i].experiment.as_ref()?.protocol.clone();
                Some((on, s))
            });
        let train_record = record(train)?;
        let models: ModelsArtifact =
            serde_json::from_slice(&cache.read_object(&train_record.outputs.files["models"])?)?;

        // The features as the pipeline extracted them.
        let input = entry.spec.input();
        let features = if features_set == WAVEFORM {
            Features {
                set: features_set.clone(),
                descriptors: vec![],
                sample_rate: pipeline.config.sample_rate,
                extract: pipeline.config.extract.clone(),
                extract_code_version: 0,
                min_samples: ser_extract::min_samples(pipeline.config.sample_rate),
            }
        } else {
            let role = match input {
                ser_learn::Input::Frames => Role::Frames,
                _ => Role::Features,
            };
            let extract = dep(train, role).expect("a train node reads its features");
            let stage = &graph.nodes[extract].stage;
            let params = stage.params();
            let set = crate::stage::extract::ExtractStage::for_set(
                &features_set,
                &pipeline.config.extract,
                pipeline.config.sample_rate,
            );
            Features {
                set: features_set.clone(),
                descriptors: set.descriptors,
                sample_rate: set.sample_rate,
                extract: set.params,
                extract_code_version: stage.code_version(),
                min_samples: params["min_samples"].as_u64().unwrap_or(0) as usize,
            }
        };

        // Each fold's columns: the selection's, else the feature table's.
        let columns_by_fold: BTreeMap<String, Vec<String>> = match input {
            ser_learn::Input::Functionals => {
                let extract = dep(train, Role::Features).expect("read above");
                let table = parquet_read::from_parquet(
                    cache.read_object(&record(extract)?.outputs.files["features"])?,
                )?;
                let (all, _) = feature_columns(&table)?;
                let selection = match dep(train, Role::Selection) {
                    Some(select) => Some(serde_json::from_slice::<SelectionArtifact>(
                        &cache.read_object(&record(select)?.outputs.files["selected"])?,
                    )?),
                    None => None,
                };
                models
                    .folds
                    .iter()
                    .map(|f| {
                        let columns = match &selection {
                            Some(s) => s
                                .folds
                                .iter()
                                .find(|x| x.fold == f.fold())
                                .map(|x| x.columns.clone())
                                .ok_or_else(|| {
                                    anyhow::anyhow!("no selection for fold {}", f.fold())
                                })?,
                            None => all.clone(),
                        };
                        Ok((f.fold().to_string(), columns))
                    })
                    .collect::<anyhow::Result<_>>()?
            }
            _ => BTreeMap::new(),
        };

        // The fold models to bundle.
        let folds: Vec<&FoldModel> = match (&self.fold, self.from_folds) {
            (_, true) => models.folds.iter().collect(),
            (Some(name), false) => vec![
                models
                    .folds
                    .iter()
                    .find(|f| f.fold() == name)
                    .ok_or_else(|| {
                        let names: Vec<&str> = models.folds.iter().map(FoldModel::fold).collect();
                        anyhow::anyhow!("no fold {name} (folds: {})", names.join(", "))
                    })?,
            ],
            (None, false) => {
                anyhow::ensure!(
                    models.folds.len() == 1,
                    "{} has {} fold models: say --fold NAME (one fold's model, which never saw its \
                     test speakers) or --from-folds (their mean)",
                    self.experiment,
                    models.folds.len()
                );
                models.folds.iter().collect()
            }
        };
        // A network's settings per weights object, from its fold records.
        let mut nets: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        for item in train_record
            .outputs
            .items
            .iter()
            .filter(|i| i.starts_with("train-deep/"))
        {
            let path = cache.root().join(crate::cache::closure::item_path(item));
            if let Some(r) = cache.read_json::<serde_json::Value>(&path)
                && let Some(w) = r["weights"].as_str()
            {
                nets.insert(w.to_string(), r["net"].clone());
            }
        }
        let mut files = BTreeMap::new();
        let mut members = Vec::new();
        for fold in folds {
            let columns = columns_by_fold
                .get(fold.fold())
                .cloned()
                .unwrap_or_default();
            match fold {
                FoldModel::Classic(c) => {
                    let name = format!("model-{}.json", members.len());
                    files.insert(name.clone(), serde_json::to_vec(&c.model)?);
                    members.push(Member {
                        fold: c.fold.clone(),
                        model: name,
                        weights: None,
                        columns,
                        n_train: c.n_train,
                    });
                }
                FoldModel::Deep(d) => {
                    let weights: Vec<String> = match &d.networks {
                        Some(networks) => networks.iter().map(|n| n.weights.clone()).collect(),
                        None => vec![d.weights.clone()],
                    };
                    for w in weights {
                        let i = members.len();
                        let net = match nets.get(&w) {
                            Some(net) => net.clone(),
                            None if w == d.weights => serde_json::to_value(&d.net)?,
                            None => anyhow::bail!(
                                "fold {}: the record of network {w} is not in the cache",
                                d.fold
                            ),
                        };
                        files.insert(format!("model-{i}.json"), serde_json::to_vec(&net)?);
                        files.insert(format!("weights-{i}.bpk"), cache.read_object(&w)?);
                        members.push(Member {
                            fold: d.fold.clone(),
                            model: format!("model-{i}.json"),
                            weights: Some(format!("weights-{i}.bpk")),
                            columns: columns.clone(),
                            n_train: d.n_train,
                        });
                    }
                }
            }
        }

        let metrics = evaluation.map(|(on, s)| CrossValidated {
            protocol: on,
            ua: s.ua,
            wa: s.wa,
            macro_f1: s.macro_f1,
            ua_ci: s.ua_ci,
            wa_ci: s.wa_ci,
            ci_unit: s.ci_unit,
            n_test: s.n_test,
        });
        let manifest = Manifest {
            format_version: bundle::FORMAT_VERSION,
            ser_version: env!("CARGO_PKG_VERSION").to_string(),
            experiment: self.experiment.clone(),
            protocol,
            features,
            input,
            classes: models.classes.clone(),
            model: serde_json::from_slice(
                &cache.read_object(&train_record.outputs.files["params"])?,
            )?,
            members,
            metrics,
            training: Training {
                node: train_record.node.clone(),
                key: train_record.fingerprint.key(),
                inputs: train_record.fingerprint.inputs.clone(),
            },
            files: BTreeMap::new(),
        };
        let manifest = bundle::write::write(&self.out, manifest, files)?;
        eprintln!(
            "{} -> {} ({} model(s) of fold(s) {}; {} classes)",
            manifest.experiment,
            self.out.display(),
            manifest.members.len(),
            manifest
                .members
                .iter()
                .map(|m| m.fold.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            manifest.classes.len()
        );
        Ok(0)
    }
}

/// Models normalised by a speaker's own statistics need those statistics
/// at prediction time, which a bundle cannot supply yet.
fn refuse_speaker_statistics(entry: &crate::model::ModelEntry) -> anyhow::Result<()> {
    let by_speaker = match &entry.spec {
        ModelSpec::Classic(_) => entry.normalize != ser_train::FeatureNormalize::Global,
        ModelSpec::Deep(d) => matches!(
            d.params.normalize,
            ser_deep::Normalize::Speaker | ser_deep::Normalize::SpeakerOnline
        ),
    };
    anyhow::ensure!(
        !by_speaker,
        "this model normalises features by speaker, and a bundle does not carry speaker \
         statistics yet; export a model with normalize: global"
    );
    Ok(())
}
