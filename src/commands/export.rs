//! `ser export`: an experiment's trained model as a self-contained bundle
//! (see [`crate::bundle`]), from the cache, without retraining.
//!
//! A protocol's fold models are what the pipeline trained: `--fold F`
//! exports one (it predicts that fold's test speakers exactly as the
//! pipeline did), `--from-folds` all of them, averaged; a protocol of kind
//! `all` has one model, trained on every utterance. An ensemble exports as
//! its members' models of one fold (those `keep_best` kept there), combined
//! as its node combines them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use crate::artifact::features::feature_columns;
use crate::artifact::parquet_read;
use crate::artifact::schema::{
    EvaluationSummary, FoldModel, KeptMembers, ModelsArtifact, SelectionArtifact,
};
use crate::bundle::{
    self, Bundle, CrossValidated, EnsembleCombine, Extracted, FallbackCost, Features, Manifest,
    Member, Part, PartInput, Predictor, Speaker, Training,
};
use crate::cache::Cache;
use crate::commands::PipelineArgs;
use crate::config::{ENSEMBLE, Pipeline, WAVEFORM};
use crate::dag::Graph;
use crate::model::ModelSpec;
use crate::stage::train::deep::{load_rows, roles};
use crate::stage::train::fold_set::{FoldSet, RowKeys};
use crate::stage::{NodeRecord, Role};
use crate::state::PipelineState;
use ser_evaluate::Fold;
use ser_evaluate::metrics::Metrics;
use ser_learn::Example;
use ser_train::FeatureNormalize;

/// `ser export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// The experiment, as `ser metrics` names it (e.g. egemaps/none/svm).
    pub experiment: String,
    #[command(flatten)]
    pub choice: ModelChoice,
    /// The bundle to write (NAME.sermodel).
    #[arg(long, short = 'o')]
    pub out: PathBuf,
}

/// Which of an experiment's trained models (`ser export`, and `ser
/// predict --experiment`).
#[derive(Debug, Clone, clap::Args)]
pub struct ModelChoice {
    /// The protocol it was trained on (default: its first).
    #[arg(long)]
    pub protocol: Option<String>,
    /// The fold whose model to take (default: the only one).
    #[arg(long, conflicts_with = "from_folds")]
    pub fold: Option<String>,
    /// Every fold's model; a prediction is their mean.
    #[arg(long)]
    pub from_folds: bool,
}

/// Which fold models to take.
enum Folds<'a> {
    One(Option<&'a str>),
    All,
}

/// The pipeline, its cache (held under a shared lock) and its records:
/// what `ser export` and `ser predict --experiment` read models from.
pub struct CacheSource {
    pipeline: Pipeline,
    cache: Cache,
    graph: Graph,
    state: PipelineState,
    _lock: crate::cache::CacheLock,
}

impl CacheSource {
    pub fn open(args: &PipelineArgs) -> anyhow::Result<CacheSource> {
        let (pipeline, cache) = args.load()?;
        let lock = cache.lock(crate::cache::LockMode::Shared)?;
        let graph = Graph::build(&pipeline);
        let state = PipelineState::load(&cache, &pipeline.id);
        let state = crate::scheduler::with_cached_nodes(&graph, &cache, state);
        Ok(CacheSource {
            pipeline,
            cache,
            graph,
            state,
            _lock: lock,
        })
    }

    fn record(&self, i: usize) -> anyhow::Result<NodeRecord> {
        let name = &self.graph.nodes[i].name;
        self.state.record(name).ok_or_else(|| {
            anyhow::anyhow!("{name} has no result in the cache; run `ser run` first")
        })
    }

    /// The pipeline's utterance ids by the BLAKE3 of their files' bytes
    /// (ingest's `content_hash`), so `ser predict --experiment` can name a
    /// corpus file as the pipeline did, and draw its test copies as the
    /// pipeline's were drawn (noise included), wherever the file lies.
    pub fn corpus_ids(&self) -> anyhow::Result<HashMap<String, String>> {
        let Some(manifest) = self
            .state
            .record("ingest")
            .and_then(|r| r.outputs.files.get("manifest").cloned())
        else {
            return Ok(HashMap::new());
        };
        let table = parquet_read::from_parquet(self.cache.read_object(&manifest)?)?;
        Ok(table
            .utf8("content_hash")?
            .into_iter()
            .zip(table.utf8("id")?)
            .collect())
    }

    fn dep(&self, i: usize, role: Role) -> Option<usize> {
        self.graph.nodes[i].dep(role)
    }

    /// The train (or ensemble) node of `experiment` on `protocol` (or its
    /// first), and that protocol.
    fn train_node(
        &self,
        experiment: &str,
        protocol: Option<&str>,
    ) -> anyhow::Result<(usize, String)> {
        let prefix = format!("train:{experiment}@");
        let i = self
            .graph
            .nodes
            .iter()
            .position(|n| match protocol {
                Some(p) => n.name == format!("{prefix}{p}"),
                None => n.name.starts_with(&prefix),
            })
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no experiment {experiment}{} in {} (`ser dag` lists the train nodes)",
                    protocol.map_or(String::new(), |p| format!(" on {p}")),
                    self.pipeline.file.display()
                )
            })?;
        Ok((i, self.graph.nodes[i].name[prefix.len()..].to_string()))
    }

    /// The experiment's metrics: on `protocol`, else (a final model,
    /// protocol `all`) on the first other protocol that has a result.
    fn metrics(&self, experiment: &str, protocol: &str) -> Option<CrossValidated> {
        let evaluations: Vec<usize> = (0..self.graph.nodes.len())
            .filter(|&i| {
                self.graph.nodes[i]
                    .experiment
                    .as_ref()
                    .is_some_and(|e| e.name() == experiment)
            })
            .collect();
        let on = |i: usize| {
            self.graph.nodes[i]
                .experiment
                .as_ref()
                .map(|e| e.protocol.clone())
        };
        evaluations
            .iter()
            .filter(|&&i| on(i).as_deref() == Some(protocol))
            .chain(&evaluations)
            .find_map(|&i| {
                let summary = self.record(i).ok()?.outputs.summary;
                let s = serde_json::from_value::<EvaluationSummary>(summary).ok()?;
                Some(CrossValidated {
                    protocol: on(i)?,
                    ua: s.ua,
                    wa: s.wa,
                    macro_f1: s.macro_f1,
                    ua_ci: s.ua_ci,
                    wa_ci: s.wa_ci,
                    ci_unit: s.ci_unit,
                    n_test: s.n_test,
                })
            })
    }

    /// One experiment's fold models as a bundle part; their files go into
    /// `files`. Returns the part and the protocol and classes it was
    /// trained on.
    fn part(
        &self,
        experiment: &str,
        protocol: Option<&str>,
        folds: &Folds<'_>,
        files: &mut BTreeMap<String, Vec<u8>>,
    ) -> anyhow::Result<(Part, String, Vec<String>)> {
        let (train, protocol) = self.train_node(experiment, protocol)?;
        let features_set = experiment
            .split('/')
            .next()
            .and_then(|f| f.split('+').next())
            .unwrap_or_default()
            .to_string();
        let model_name = experiment.rsplit('/').next().unwrap_or_default();
        let config = &self.pipeline.config;
        let entry = config.models.get(model_name).ok_or_else(|| {
            anyhow::anyhow!("{experiment}: no model {model_name} in the pipeline")
        })?;
        // The copies `ser predict` makes: the experiment's augmentation.
        let test_copies = match entry.test_copies {
            false => None,
            true => {
                let augment = experiment
                    .split('/')
                    .next()
                    .and_then(|f| f.split_once('+'))
                    .map(|(_, a)| a)
                    .ok_or_else(|| {
                        anyhow::anyhow!("{experiment}: test_copies, but no augmentation")
                    })?;
                let spec = config.augmentations.get(augment).ok_or_else(|| {
                    anyhow::anyhow!("{experiment}: no augmentation {augment} in the pipeline")
                })?;
                anyhow::ensure!(
                    !spec.copies.iter().any(|c| matches!(
                        c,
                        ser_augment::Augmentation::Noise { files, .. } if !files.is_empty()
                    )),
                    "{experiment}: test_copies with recorded noise (augmentations.{augment}): \
                     a bundle does not carry the noise recordings; export the same model \
                     without test_copies, or augment with synthetic noise"
                );
                Some(crate::bundle::TestCopies {
                    copies: spec.copies.clone(),
                    seed: spec.seed,
                })
            }
        };
        let normalize = match &entry.spec {
            ModelSpec::Classic(_) => entry.normalize,
            ModelSpec::Deep(d) => match d.params.normalize {
                ser_deep::Normalize::Speaker => FeatureNormalize::Speaker,
                ser_deep::Normalize::SpeakerOnline => FeatureNormalize::SpeakerOnline,
                ser_deep::Normalize::Corpus => FeatureNormalize::Corpus,
                ser_deep::Normalize::Global | ser_deep::Normalize::None => FeatureNormalize::Global,
            },
        };
        anyhow::ensure!(
            normalize != FeatureNormalize::Corpus,
            "{experiment}: normalize: corpus scales each corpus by its own statistics, and a new \
             file has no corpus to take them from; export a model with normalize: global, \
             speaker or speaker_online"
        );
        let train_record = self.record(train)?;
        let models: ModelsArtifact = serde_json::from_slice(
            &self
                .cache
                .read_object(&train_record.outputs.files["models"])?,
        )?;

        // The features as the pipeline extracted them.
        let input = entry.spec.input();
        let features = if features_set == WAVEFORM {
            Features {
                set: features_set.clone(),
                descriptors: vec![],
                sample_rate: config.sample_rate,
                extract: config.extract.clone(),
                extract_code_version: 0,
                min_samples: ser_extract::min_samples(config.sample_rate),
                union: Vec::new(),
            }
        } else {
            let role = match input {
                ser_learn::Input::Frames => Role::Frames,
                _ => Role::Features,
            };
            let extract = self
                .dep(train, role)
                .expect("a train node reads its features");
            // A set as its extract node made it.
            let set_features = |set: &str, extract: usize| {
                let stage = &self.graph.nodes[extract].stage;
                let made = crate::stage::extract::ExtractStage::for_set(
                    config.builtin_set(set),
                    &config.extract_for(set),
                    config.sample_rate,
                );
                Features {
                    set: set.to_string(),
                    descriptors: made.descriptors,
                    sample_rate: made.sample_rate,
                    extract: made.params,
                    extract_code_version: stage.code_version(),
                    min_samples: stage.params()["min_samples"].as_u64().unwrap_or(0) as usize,
                    union: Vec::new(),
                }
            };
            match config.feature_unions.get(&features_set) {
                None => set_features(&features_set, extract),
                // `extract` is the union's join node; its parts' extract
                // nodes are its dependencies.
                Some(parts) => {
                    let join = &self.graph.nodes[extract];
                    let union = parts
                        .iter()
                        .enumerate()
                        .map(|(i, part)| {
                            let node = join.dep(Role::Part(i)).expect("a join reads its parts");
                            // The join names a part's columns by the
                            // built-in set it extracts.
                            Features {
                                set: config.builtin_set(part).to_string(),
                                ..set_features(part, node)
                            }
                        })
                        .collect::<Vec<_>>();
                    Features {
                        set: features_set.clone(),
                        descriptors: Vec::new(),
                        sample_rate: config.sample_rate,
                        extract: config.extract.clone(),
                        extract_code_version: 0,
                        min_samples: union.iter().map(|f| f.min_samples).max().unwrap_or(0),
                        union,
                    }
                }
            }
        };

        // Each fold's columns: the selection's, else the feature table's.
        let mut columns_by_fold: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut feature_names = Vec::new();
        if input == ser_learn::Input::Functionals {
            let extract = self.dep(train, Role::Features).expect("read above");
            let table = parquet_read::from_parquet(
                self.cache
                    .read_object(&self.record(extract)?.outputs.files["features"])?,
            )?;
            let (all, _) = feature_columns(&table)?;
            feature_names.clone_from(&all);
            let selection = match self.dep(train, Role::Selection) {
                Some(select) => Some(serde_json::from_slice::<SelectionArtifact>(
                    &self
                        .cache
                        .read_object(&self.record(select)?.outputs.files["selected"])?,
                )?),
                None => None,
            };
            for f in &models.folds {
                let columns = match &selection {
                    Some(s) => s
                        .folds
                        .iter()
                        .find(|x| x.fold == f.fold())
                        .map(|x| x.columns.clone())
                        .ok_or_else(|| anyhow::anyhow!("no selection for fold {}", f.fold()))?,
                    None => all.clone(),
                };
                columns_by_fold.insert(f.fold().to_string(), columns);
            }
        }

        // The fold models to bundle.
        let names = || {
            models
                .folds
                .iter()
                .map(FoldModel::fold)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let chosen: Vec<&FoldModel> = match folds {
            Folds::All => models.folds.iter().collect(),
            Folds::One(Some(name)) => vec![
                models
                    .folds
                    .iter()
                    .find(|f| f.fold() == *name)
                    .ok_or_else(|| anyhow::anyhow!("no fold {name} (folds: {})", names()))?,
            ],
            Folds::One(None) => {
                anyhow::ensure!(
                    models.folds.len() == 1,
                    "{experiment} has {} fold models ({}): say --fold NAME (one fold's model, \
                     which never saw its test speakers) or --from-folds (their mean)",
                    models.folds.len(),
                    names()
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
            let path = self
                .cache
                .root()
                .join(crate::cache::closure::item_path(item));
            if let Some(r) = self.cache.read_json::<serde_json::Value>(&path)
                && let Some(w) = r["weights"].as_str()
            {
                nets.insert(w.to_string(), r["net"].clone());
            }
        }
        let mut members = Vec::new();
        for fold in chosen {
            let columns = columns_by_fold
                .get(fold.fold())
                .cloned()
                .unwrap_or_default();
            let mut add = |json: Vec<u8>, weights: Option<Vec<u8>>, n_train: usize| {
                let i = files.keys().filter(|k| k.starts_with("model-")).count();
                let model = format!("model-{i}.json");
                files.insert(model.clone(), json);
                let weights = weights.map(|bytes| {
                    let name = format!("weights-{i}.bpk");
                    files.insert(name.clone(), bytes);
                    name
                });
                members.push(Member {
                    fold: fold.fold().to_string(),
                    model,
                    weights,
                    columns: columns.clone(),
                    n_train,
                    global_statistics: None,
                });
            };
            match fold {
                FoldModel::Classic(c) => add(serde_json::to_vec(&c.model)?, None, c.n_train),
                FoldModel::Deep(d) => {
                    let weights: Vec<String> = match &d.networks {
                        Some(networks) => networks.iter().map(|n| n.weights.clone()).collect(),
                        None => vec![d.weights.clone()],
                    };
                    for w in weights {
                        let net = match nets.get(&w) {
                            Some(net) => net.clone(),
                            None if w == d.weights => serde_json::to_value(&d.net)?,
                            None => anyhow::bail!(
                                "{experiment} fold {}: the record of network {w} is not in the cache",
                                d.fold
                            ),
                        };
                        add(
                            serde_json::to_vec(&net)?,
                            Some(self.cache.read_object(&w)?),
                            d.n_train,
                        );
                    }
                }
            }
        }
        let mut part = Part {
            experiment: experiment.to_string(),
            features,
            input,
            model: serde_json::from_slice(
                &self
                    .cache
                    .read_object(&train_record.outputs.files["params"])?,
            )?,
            normalize,
            members,
            training: Training {
                node: train_record.node.clone(),
                key: train_record.fingerprint.key(),
                inputs: train_record.fingerprint.inputs.clone(),
            },
            without_speakers: None,
            test_copies,
        };
        if normalize != FeatureNormalize::Global {
            self.speaker_statistics(
                train,
                &mut part,
                &feature_names,
                files,
                &models.classes,
                folds,
            )?;
        }
        Ok((part, protocol, models.classes))
    }

    /// For a part scaled by speaker: each member's training rows'
    /// statistics (the scale of recordings of unknown speakers, or the
    /// prior of new ones), and, for one fold's model, what scaling its
    /// test utterances by those instead of their speakers' own costs.
    /// `names`: the feature table's columns (for functionals).
    fn speaker_statistics(
        &self,
        train: usize,
        part: &mut Part,
        names: &[String],
        files: &BTreeMap<String, Vec<u8>>,
        classes: &[String],
        folds: &Folds<'_>,
    ) -> anyhow::Result<()> {
        let (role, output, _) = roles(part.input);
        let extract = self
            .dep(train, role)
            .expect("a train node reads its features");
        let record = self.record(extract)?;
        let table_object = &record.outputs.files[output];
        let rows = load_rows(&self.cache, table_object, part.input, None, false)?;
        let fold_list: Vec<Fold> = {
            let folds = self
                .dep(train, Role::Folds)
                .expect("a train node reads its folds");
            serde_json::from_slice(
                &self
                    .cache
                    .read_object(&self.record(folds)?.outputs.files["folds"])?,
            )?
        };
        let keys = RowKeys {
            ids: &rows.ids,
            speakers: &rows.speakers,
            sources: &[],
            corpora: &rows.corpora,
        };
        let mut sets = BTreeMap::new();
        for member in &mut part.members {
            let fold = fold_list
                .iter()
                .find(|f| f.name == member.fold)
                .ok_or_else(|| anyhow::anyhow!("no fold {} in the folds", member.fold))?;
            let set = FoldSet::build(fold, keys, None)?;
            let train_examples: Vec<&Example> =
                set.train.iter().map(|&i| &rows.examples[i]).collect();
            member.global_statistics = Some(match &member.weights {
                // A classic model is scaled on every functional.
                None => {
                    let x = ndarray::Array2::from_shape_fn(
                        (train_examples.len(), rows.dims),
                        |(i, j)| f64::from(train_examples[i].values[j]),
                    );
                    ser_train::Standardiser::fit(x.view())
                }
                // A network on its own input (the selection's columns).
                Some(_) => {
                    let net: ser_deep::TrainedNet = serde_json::from_slice(&files[&member.model])?;
                    let examples: Vec<Example> = match part.input {
                        ser_learn::Input::Functionals => {
                            let columns: Vec<usize> = member
                                .columns
                                .iter()
                                .filter_map(|c| names.iter().position(|n| n == c))
                                .collect();
                            train_examples
                                .iter()
                                .map(|e| {
                                    Example::new(columns.iter().map(|&c| e.values[c]).collect(), 1)
                                })
                                .collect()
                        }
                        _ => train_examples.iter().map(|&e| e.clone()).collect(),
                    };
                    let n = net.global_normaliser(&examples);
                    ser_train::Standardiser {
                        mean: n.mean.iter().map(|&v| f64::from(v)).collect(),
                        scale: n.std.iter().map(|&v| f64::from(v)).collect(),
                    }
                }
            });
            sets.insert(member.fold.clone(), set);
        }
        // One fold's model (its test speakers unseen in training): score
        // its test utterances both ways.
        let Folds::One(_) = folds else { return Ok(()) };
        let Some(set) = sets.values().next().filter(|s| !s.test.is_empty()) else {
            return Ok(());
        };
        // A part with test copies would need theirs too (the cache's
        // augmented table): not measured for it.
        if part.normalize != FeatureNormalize::Speaker || part.test_copies.is_some() {
            return Ok(());
        }
        let predictor = Predictor::new(Bundle {
            manifest: Manifest {
                format_version: bundle::FORMAT_VERSION,
                ser_version: String::new(),
                experiment: part.experiment.clone(),
                protocol: String::new(),
                classes: classes.to_vec(),
                sample_rate: part.features.sample_rate,
                parts: vec![part.clone()],
                combine: None,
                metrics: None,
                files: BTreeMap::new(),
            },
            // This part's files only (an ensemble's others are in `files`).
            files: part
                .members
                .iter()
                .flat_map(|m| std::iter::once(&m.model).chain(&m.weights))
                .map(|name| (name.clone(), files[name].clone()))
                .collect(),
        })?;
        let extracted: Vec<Extracted> = set
            .test
            .iter()
            .map(|&i| Extracted {
                duration_s: 0.0,
                inputs: vec![match part.input {
                    ser_learn::Input::Functionals => {
                        PartInput::Functionals(rows.examples[i].values.clone())
                    }
                    _ => PartInput::Sequence {
                        example: rows.examples[i].clone(),
                        dims: rows.dims,
                    },
                }],
                copies: vec![Vec::new()],
            })
            .collect();
        let truth: Vec<usize> = set
            .test
            .iter()
            .map(|&i| classes.binary_search(&rows.labels[i]).unwrap_or(0))
            .collect();
        let mut by_speaker: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (k, &i) in set.test.iter().enumerate() {
            by_speaker
                .entry(rows.speakers[i].as_str())
                .or_default()
                .push(k);
        }
        let batch = |ks: &[usize]| -> Vec<(&str, &Extracted)> {
            ks.iter()
                .map(|&k| (rows.ids[set.test[k]].as_str(), &extracted[k]))
                .collect()
        };
        let mut with = vec![0; truth.len()];
        for (speaker, ks) in &by_speaker {
            let p = predictor
                .predict(&batch(ks), Speaker::Known(speaker))
                .map_err(anyhow::Error::msg)?;
            for (&k, p) in ks.iter().zip(p) {
                with[k] = p.class;
            }
        }
        let all: Vec<usize> = (0..truth.len()).collect();
        let without: Vec<usize> = predictor
            .predict(&batch(&all), Speaker::Unknown)
            .map_err(anyhow::Error::msg)?
            .iter()
            .map(|p| p.class)
            .collect();
        let ua = |predicted: &[usize]| Metrics::compute(&truth, predicted, classes.len()).ua;
        part.without_speakers = Some(FallbackCost {
            n_test: truth.len(),
            ua_with_speakers: ua(&with),
            ua_without_speakers: ua(&without),
        });
        Ok(())
    }
}

impl ExportArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        let bundle = CacheSource::open(&self.pipeline)?.bundle(&self.experiment, &self.choice)?;
        let manifest = bundle::write::write(&self.out, bundle.manifest, bundle.files)?;
        let models: usize = manifest.parts.iter().map(|p| p.members.len()).sum();
        eprintln!(
            "{} -> {} ({} part(s), {models} fitted model(s); {} classes)",
            manifest.experiment,
            self.out.display(),
            manifest.parts.len(),
            manifest.classes.len()
        );
        Ok(0)
    }
}

impl CacheSource {
    /// An experiment's chosen models, from the cache of the pipeline's last
    /// run, as the bundle `ser export` would write (its `files` digests not
    /// yet filled in).
    pub fn bundle(&self, experiment: &str, choice: &ModelChoice) -> anyhow::Result<Bundle> {
        let source = self;
        let folds = match choice.from_folds {
            true => Folds::All,
            false => Folds::One(choice.fold.as_deref()),
        };
        let mut files = BTreeMap::new();
        let (parts, protocol, classes, combine) = match experiment
            .strip_prefix(&format!("{ENSEMBLE}/"))
        {
            None => {
                let (part, protocol, classes) =
                    source.part(experiment, choice.protocol.as_deref(), &folds, &mut files)?;
                (vec![part], protocol, classes, None)
            }
            Some(rest) => {
                let name = rest.rsplit('/').next().unwrap_or_default();
                let spec = source
                    .pipeline
                    .config
                    .ensembles
                    .get(name)
                    .ok_or_else(|| anyhow::anyhow!("no ensemble {name} in the pipeline"))?;
                let (node, protocol) = source.train_node(experiment, choice.protocol.as_deref())?;
                let Folds::One(Some(fold)) = folds else {
                    anyhow::bail!("an ensemble exports one fold's members: say --fold NAME");
                };
                // The members this fold combines: all, or those keep_best or
                // choose kept (with bags, in their bagged weights).
                let (kept, kept_weights): (Vec<usize>, Option<Vec<f64>>) =
                    match spec.chooses_per_fold() {
                        false => ((0..spec.members.len()).collect(), None),
                        true => {
                            let summary = source.record(node)?.outputs.summary;
                            let choice: KeptMembers = summary["kept"]
                                .as_array()
                                .and_then(|folds| folds.iter().find(|k| k["fold"] == fold))
                                .and_then(|k| serde_json::from_value(k.clone()).ok())
                                .ok_or_else(|| {
                                    anyhow::anyhow!("{experiment}: no members kept for fold {fold}")
                                })?;
                            // In the choice's order, which its weights follow.
                            let kept =
                                (choice.members.iter())
                                    .map(|name| {
                                        spec.members.iter().position(|m| m == name).ok_or_else(|| {
                                anyhow::anyhow!("{experiment}: kept member {name} is not a member")
                            })
                                    })
                                    .collect::<anyhow::Result<Vec<usize>>>()?;
                            (kept, choice.weights)
                        }
                    };
                let mut parts = Vec::new();
                let mut classes = None;
                for &m in &kept {
                    let (part, _, member_classes) =
                        source.part(&spec.members[m], Some(&protocol), &folds, &mut files)?;
                    anyhow::ensure!(
                        classes.get_or_insert_with(|| member_classes.clone()) == &member_classes,
                        "{experiment}: members have different classes"
                    );
                    parts.push(part);
                }
                let combine = EnsembleCombine {
                    mode: spec.combine,
                    weights: kept_weights.or_else(|| {
                        (spec.weights.as_ref()).map(|w| kept.iter().map(|&m| w[m]).collect())
                    }),
                };
                (parts, protocol, classes.unwrap_or_default(), Some(combine))
            }
        };
        let ensemble_with_classic = combine.is_some()
            && parts.iter().any(|p| {
                (source.pipeline.config.member_model(&p.experiment))
                    .is_some_and(|m| m.spec.deep().is_none())
            });
        let manifest = Manifest {
            format_version: bundle::format_for(&parts, ensemble_with_classic),
            ser_version: env!("CARGO_PKG_VERSION").to_string(),
            experiment: experiment.to_string(),
            metrics: source.metrics(experiment, &protocol),
            protocol,
            classes,
            sample_rate: source.pipeline.config.sample_rate,
            parts,
            combine,
            files: BTreeMap::new(),
        };
        Ok(Bundle { manifest, files })
    }
}
