//! The train node's deep path: one burn network per fold (ser-deep), on
//! the input its kind reads.
//!
//! - `mlp` reads the feature table (`features`), after the fold's
//!   selection when there is one;
//! - sequence models read an extract node's `frames` index (one `.npy`
//!   matrix, frames x descriptors, per utterance);
//! - `cnn1d_raw` reads the ingested signals (`signals`, the manifest).
//!
//! Augmented copies (`augmented*` roles) join a fold's training set when
//! their source is one of its training utterances, and the assembled set
//! goes through the same leak guard as the classic models'. Validation
//! speakers for early stopping are drawn from the fold's training
//! speakers only, and validate on their recorded utterances: their copies
//! neither train nor validate.
//!
//! Each fold's result (the kept weights as a burnpack object, the network's
//! JSON with its curves, the test predictions) is a per-item record keyed
//! by the model's settings, the inputs and the fold, so an interrupted run
//! keeps its finished folds and a rerun trains only the rest. The
//! networks a node's cache lacks, of all its folds and grid points, train
//! side by side on the run's threads; each is seeded on its own, so its
//! weights do not depend on what trains beside it.
//!
//! With `networks: N` a fold trains N networks, seeds `seed` to
//! `seed + N - 1`, and the model's test probabilities are their mean. Each
//! network's record is keyed as a one-network model with its seed would
//! key it, so such models share their trainings: raising N trains only the
//! new networks, and an `mlp` with seed 1 is the second network of one with
//! seed 0 and two networks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use ser_deep::{DeepKind, DeepParams, DeepSpec, TrainedNet};
use ser_evaluate::Fold;
use ser_learn::{Example, Fitted, GridPoint, Input, Learner, Rows as LearnerRows, TrainingSet};

use super::fold_set::RowIds;
use super::{
    FoldPredictions, FoldSet, RowKeys, feature_names, fold_columns, read_folds, selected_columns,
    train_artifacts,
};
use crate::artifact::features::{class_indices, feature_columns};
use crate::artifact::schema::{
    DeepFold, FoldModel, ModelsArtifact, NetworkEntry, PointScore, ValidationChoice,
};
use crate::artifact::{npy, parquet_read, parquet_write};
use crate::model::ModelSpec;
use crate::stage::{Context, Inputs, Outputs, Role, item_key};

/// The train node's version for a deep kind: the fold records' version
/// plus the node's. The predictions table gained `p_<class>` columns
/// (node version 1), then the node a `validation` table (2); each reruns
/// the nodes, not their trainings: the fold records keep their keys and
/// get what they lack from their weights. Since 3, networks trained with
/// augmented copies validate on recorded utterances only (since 4 with
/// those speakers' statistics from them alone): their records have new
/// keys (trained again), the others are read as they are.
pub(super) fn node_code_version(kind: DeepKind) -> u32 {
    const NODE_VERSION: u32 = 4;
    ser_deep::code_version(kind) + 100 * NODE_VERSION
}

/// Utterances as a network reads them.
pub(crate) struct Rows {
    pub ids: Vec<String>,
    pub speakers: Vec<String>,
    pub labels: Vec<String>,
    /// For augmented copies, the utterance each was made from.
    pub sources: Vec<String>,
    /// Each row's corpus; empty in a one-corpus pipeline.
    pub corpora: Vec<String>,
    pub examples: Vec<Example>,
    pub dims: usize,
}

impl Rows {
    fn keys(&self) -> RowKeys<'_> {
        RowKeys {
            ids: &self.ids,
            speakers: &self.speakers,
            sources: &self.sources,
            corpora: &self.corpora,
        }
    }
}

/// What one fold left in the cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FoldRecord {
    net: Value,
    weights: String,
    /// (row index among the corpus's utterances, predicted class index).
    predictions: Vec<(usize, usize)>,
    /// Class probabilities of the same test rows, in the same order.
    /// Records made before they were kept have none; the node computes them
    /// from the kept weights once (no retraining) and rewrites the record.
    #[serde(default)]
    probabilities: Vec<Vec<f32>>,
    /// Class probabilities of the network's validation rows: the original
    /// utterances of the training speakers it held out (copies left out,
    /// so members with and without augmentation are scored on the same
    /// rows), as (row index among the corpus's utterances, probabilities).
    /// `None` in records made before they were kept: the node computes
    /// them from the kept weights once and rewrites the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    validation: Option<Vec<(usize, Vec<f32>)>>,
    n_train: usize,
    n_augmented: usize,
}

/// A feature table's rows as a network reads them (`columns`: the
/// selection's, for functionals); with `by_corpus` (`normalize: corpus`)
/// each row scaled by its corpus's statistics.
pub(crate) fn load_rows(
    cache: &crate::cache::Cache,
    table_object: &str,
    input: Input,
    columns: Option<&[usize]>,
    by_corpus: bool,
) -> anyhow::Result<Rows> {
    let table = parquet_read::from_parquet(cache.read_object(table_object)?)?;
    let ids = table.utf8("id")?;
    let speakers = table.utf8("speaker")?;
    let labels = table.utf8("label")?;
    let sources = table.utf8("source").unwrap_or_default();
    let corpora = crate::artifact::features::corpus_column(&table);
    let (examples, dims) = match input {
        Input::Functionals => {
            let (_, x) = feature_columns(&table)?;
            let x = match columns {
                Some(c) => x.select(ndarray::Axis(1), c),
                None => x,
            };
            let dims = x.ncols();
            let examples = x
                .rows()
                .into_iter()
                .map(|r| Example::new(r.iter().map(|&v| v as f32).collect(), 1))
                .collect();
            (examples, dims)
        }
        Input::Frames => {
            let tensors = table.utf8("tensor")?;
            let mut dims = None;
            let mut examples = Vec::with_capacity(tensors.len());
            for (id, object) in ids.iter().zip(&tensors) {
                let m = npy::read_2d(&cache.read_object(object)?)
                    .map_err(|e| anyhow::anyhow!("frames of {id}: {e:#}"))?;
                let d = *dims.get_or_insert(m.ncols());
                anyhow::ensure!(
                    m.ncols() == d,
                    "frames of {id}: {} columns, expected {d}",
                    m.ncols()
                );
                let frames = m.nrows();
                examples.push(Example::new(m.into_iter().collect(), frames));
            }
            (examples, dims.unwrap_or(1))
        }
        Input::Waveform => {
            let signals = table.utf8("signal")?;
            let mut examples = Vec::with_capacity(signals.len());
            for (id, object) in ids.iter().zip(&signals) {
                let s = npy::read_1d(&cache.read_object(object)?)
                    .map_err(|e| anyhow::anyhow!("signal of {id}: {e:#}"))?;
                let n = s.len();
                examples.push(Example::new(s, n));
            }
            (examples, 1)
        }
    };
    let examples = if by_corpus {
        // One corpus: one group, so the scale is the table's own.
        let groups = match corpora.is_empty() {
            true => vec![String::new(); examples.len()],
            false => corpora.clone(),
        };
        ser_deep::normalise_by_group(&examples, &groups, dims)
    } else {
        examples
    };
    Ok(Rows {
        ids,
        speakers,
        labels,
        sources,
        corpora,
        examples,
        dims,
    })
}

/// One fold of a train node: its rows' roles, its selection's columns,
/// and, with a selection, its rows once loaded (shared by its grid points
/// and networks).
struct FoldInputs<'a> {
    fold: &'a Fold,
    set: FoldSet,
    columns: Option<&'a [usize]>,
    /// With a selection: the fold's columns of every utterance.
    selected: OnceLock<Rows>,
    /// With a selection: the fold's columns of the augmented copies.
    augmented: OnceLock<Option<Rows>>,
}

impl<'a> Shared<'a> {
    /// A fold's rows: all of them, or, with a selection, its columns only
    /// (loaded on first need and kept for the fold's other networks).
    fn rows<'s>(&'s self, fold: &'s FoldInputs<'_>) -> anyhow::Result<&'s Rows> {
        let Some(c) = fold.columns else {
            return Ok(self.all_rows);
        };
        if let Some(rows) = fold.selected.get() {
            return Ok(rows);
        }
        let loaded = load_rows(
            &self.ctx.cache,
            &self.table_object,
            self.input,
            Some(c),
            self.by_corpus,
        )?;
        Ok(fold.selected.get_or_init(|| loaded))
    }

    /// A fold's augmented copies (none without an augmentation): the
    /// node's, loaded once, or with a selection the fold's columns of them.
    fn augmented<'s>(&'s self, fold: &'s FoldInputs<'_>) -> anyhow::Result<Option<&'s Rows>> {
        let cell = match fold.columns {
            None => &self.augmented_rows,
            Some(_) => &fold.augmented,
        };
        if let Some(rows) = cell.get() {
            return Ok(rows.as_ref());
        }
        let loaded = match self.augmented_object.as_deref() {
            Some(object) => Some(load_rows(
                &self.ctx.cache,
                object,
                self.input,
                fold.columns,
                false,
            )?),
            None => None,
        };
        Ok(cell.get_or_init(|| loaded).as_ref())
    }
}

/// The roles a deep model's inputs come in, by what it reads: the
/// corpus's rows (role, output) and the augmented copies' role.
/// What a network of `input` reads: the role and output of its table,
/// and the role of augmented copies.
pub(crate) fn roles(input: Input) -> (Role, &'static str, Role) {
    match input {
        Input::Functionals => (Role::Features, "features", Role::Augmented),
        Input::Frames => (Role::Frames, "frames", Role::AugmentedFrames),
        Input::Waveform => (Role::Signals, "manifest", Role::AugmentedSignals),
    }
}

/// What one fold's networks of one model setting gave: each network's seed
/// and record, and the per-item keys of those records.
#[derive(Clone)]
struct FoldFit {
    records: Vec<(u64, FoldRecord)>,
    keys: Vec<String>,
}

impl FoldFit {
    /// The mean of the networks' best validation UAs, when every network
    /// held validation speakers out.
    fn validation_ua(&self) -> Option<f64> {
        let scores: Vec<f64> = self
            .records
            .iter()
            .filter_map(|(_, r)| r.net["best_validation_ua"].as_f64())
            .collect();
        (scores.len() == self.records.len() && !scores.is_empty())
            .then(|| scores.iter().sum::<f64>() / scores.len() as f64)
    }

    /// The model's validation predictions: for each row some network held
    /// out (in row order), the mean of those networks' probabilities and
    /// its top class. With several networks a row may be held out by one
    /// of them only.
    fn validation(&self) -> (Vec<(usize, usize)>, Vec<Vec<f32>>) {
        let mut sums: BTreeMap<usize, (Vec<f64>, usize)> = BTreeMap::new();
        for (_, record) in &self.records {
            for (row, p) in record.validation.iter().flatten() {
                let (sum, n) = sums.entry(*row).or_insert_with(|| (vec![0.0; p.len()], 0));
                sum.iter_mut().zip(p).for_each(|(s, &v)| *s += f64::from(v));
                *n += 1;
            }
        }
        sums.into_iter()
            .map(|(row, (sum, n))| {
                let p: Vec<f32> = sum.iter().map(|s| (s / n as f64) as f32).collect();
                ((row, ser_learn::argmax(&p)), p)
            })
            .unzip()
    }
}

/// The inputs every fold of a train node shares.
struct Shared<'a> {
    ctx: &'a Context,
    kind: DeepKind,
    input: Input,
    table_object: String,
    augmented_object: Option<String>,
    all_rows: &'a Rows,
    y: &'a [usize],
    classes: &'a [String],
    /// For models with a gender target: the manifest they come from, and
    /// each utterance's gender by id.
    genders: Option<&'a Genders>,
    /// `normalize: corpus`: each row scaled by its corpus's statistics.
    by_corpus: bool,
    /// The augmented copies, all columns, loaded on first need (folds
    /// with a selection load their own columns).
    augmented_rows: OnceLock<Option<Rows>>,
}

/// The speakers' genders by utterance id, from the corpus's manifest (the
/// train node's `corpus` input, which only models with a gender target
/// have).
struct Genders {
    manifest_object: String,
    by_id: HashMap<String, usize>,
}

impl Genders {
    fn read(ctx: &Context, inputs: &Inputs) -> anyhow::Result<Genders> {
        let manifest_object = inputs.file(Role::Corpus, "manifest")?.clone();
        let table = parquet_read::from_parquet(ctx.cache.read_object(&manifest_object)?)?;
        let by_id = table
            .utf8("id")?
            .into_iter()
            .zip(table.utf8("gender")?)
            .filter_map(|(id, gender)| {
                let class = match gender.as_str() {
                    "female" => ser_learn::FEMALE,
                    "male" => ser_learn::MALE,
                    _ => return None,
                };
                Some((id, class))
            })
            .collect();
        Ok(Genders {
            manifest_object,
            by_id,
        })
    }

    fn of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }
}

/// One network of a fold's model: its settings, cache key and record path,
/// and its record (from the cache, or once trained).
struct PlannedNetwork<'a> {
    learner: DeepSpec,
    genders: Option<&'a Genders>,
    key: String,
    path: std::path::PathBuf,
    record: Option<FoldRecord>,
}

/// One model setting (the model, or one grid point) on one fold: its
/// networks, each read from the cache or to be trained.
struct FoldPlan<'a> {
    /// Index into the node's folds.
    fold: usize,
    /// What a progress label adds after the fold (the grid point).
    label_suffix: String,
    networks: Vec<PlannedNetwork<'a>>,
}

impl FoldPlan<'_> {
    /// The fold's fit, once every network has its record.
    fn into_fit(self, fold: &Fold) -> anyhow::Result<FoldFit> {
        let mut records: Vec<(u64, FoldRecord)> = Vec::with_capacity(self.networks.len());
        let mut keys = Vec::with_capacity(self.networks.len());
        for plan in self.networks {
            let record = plan.record.expect("read from the cache or trained");
            anyhow::ensure!(
                record.probabilities.len() == record.predictions.len(),
                "fold {}: {} probability rows for {} predictions in record {}",
                fold.name,
                record.probabilities.len(),
                record.predictions.len(),
                plan.key
            );
            keys.push(plan.key);
            records.push((plan.learner.params.seed, record));
        }
        Ok(FoldFit { records, keys })
    }
}

/// Plan the networks of one model setting on one fold: each network's
/// settings, cache key and, where the cache has it, record.
fn plan_networks<'a>(
    shared: &'a Shared<'a>,
    fold: &FoldInputs<'_>,
    params: &DeepParams,
    spec: &Value,
) -> anyhow::Result<Vec<PlannedNetwork<'a>>> {
    let ctx = shared.ctx;
    let networks = params.networks.max(1);
    let mut planned: Vec<PlannedNetwork<'a>> = Vec::with_capacity(networks);
    for n in 0..networks {
        let (net_params, net_spec) = network_settings(params, spec, n);
        let learner = DeepSpec {
            kind: shared.kind,
            params: net_params,
        };
        let genders = match (learner.reads_genders(), shared.genders) {
            (false, _) => None,
            (true, Some(g)) => Some(g),
            (true, None) => {
                anyhow::bail!("aux_gender: the train node has no manifest to read genders from")
            }
        };
        let mut inputs_key = format!(
            "{}\0{}\0{}",
            shared.table_object,
            shared.augmented_object.as_deref().unwrap_or(""),
            serde_json::to_string(fold.fold)?
        );
        // The genders are inputs too, for the models that read them.
        if let Some(g) = genders {
            inputs_key.push('\0');
            inputs_key.push_str(&g.manifest_object);
        }
        let mut key_params = json!({ "spec": net_spec, "columns": fold.columns });
        // Copies used to validate too (their held-out speakers'); networks
        // trained with copies since validate on recorded utterances only,
        // normalised by those alone: a new training under a new key.
        // Without copies nothing changed.
        if shared.augmented_object.is_some() {
            key_params["copies"] = json!("training_speakers_only");
        }
        let key = item_key(
            "train-deep",
            ser_deep::code_version(shared.kind),
            &key_params,
            &inputs_key,
        );
        let path = ctx.cache.item_record_path("train-deep", &key);
        let cached = match ctx.cache.read_json::<FoldRecord>(&path) {
            Some(mut r) if ctx.cache.has_object(&r.weights) => {
                // A final model's record (protocol `all`) predicts nothing.
                let lacks_probabilities = r.probabilities.is_empty() && !r.predictions.is_empty();
                if lacks_probabilities || r.validation.is_none() {
                    fill_from_weights(ctx, &mut r, &fold.set, shared.rows(fold)?)
                        .map_err(|e| anyhow::anyhow!("fold {}: {e:#}", fold.fold.name))?;
                    ctx.cache.write_json(&path, &r)?;
                }
                Some(r)
            }
            _ => None,
        };
        planned.push(PlannedNetwork {
            learner,
            genders,
            key,
            path,
            record: cached,
        });
    }
    Ok(planned)
}

/// Train every planned network the cache lacks, of every fold and grid
/// point, side by side on the run's threads. Each draws from its own
/// seeded generators, so its weights are those it would have alone, and
/// each record is written as soon as it is trained, so one failure (a
/// stop signal, a bad fold) loses none of the others; the first error is
/// returned once all have ended.
fn train_missing(
    shared: &Shared<'_>,
    folds: &[FoldInputs<'_>],
    plans: &mut [FoldPlan<'_>],
) -> anyhow::Result<()> {
    let missing: Vec<(usize, usize)> = plans
        .iter()
        .enumerate()
        .flat_map(|(p, plan)| {
            plan.networks
                .iter()
                .enumerate()
                .filter(|(_, network)| network.record.is_none())
                .map(move |(n, _)| (p, n))
        })
        .collect();
    // Rows are loaded before the trainings start, a fold at a time, so no
    // two threads load the same table.
    for &(p, _) in &missing {
        let fold = &folds[plans[p].fold];
        shared.rows(fold)?;
        shared.augmented(fold)?;
    }
    let kind = shared.kind;
    let plans_read: &[FoldPlan<'_>] = plans;
    let train = |&(p, n): &(usize, usize)| -> anyhow::Result<FoldRecord> {
        let plan = &plans_read[p];
        let fold = &folds[plan.fold];
        let network = &plan.networks[n];
        let count = plan.networks.len();
        let which = match count {
            1 => String::new(),
            _ => format!(" network {}/{count}", n + 1),
        };
        let label = format!(
            "{} fold {}{}{which}",
            kind.name(),
            fold.fold.name,
            plan.label_suffix
        );
        let data = FoldData {
            rows: shared.rows(fold)?,
            y: shared.y,
            classes: shared.classes,
            augmented: shared.augmented(fold)?,
            genders: network.genders,
        };
        let record = train_fold(shared.ctx, &fold.set, &network.learner, &label, &data)
            .map_err(|e| anyhow::anyhow!("fold {}: {e:#}", fold.fold.name))?;
        shared.ctx.cache.write_json(&network.path, &record)?;
        Ok(record)
    };
    // On a GPU the trainings take turns, as when they were measured there:
    // side by side they would share one device's memory, untried.
    let on_gpu = missing
        .iter()
        .any(|&(p, n)| !plans_read[p].networks[n].learner.params.device.is_cpu());
    let results: Vec<anyhow::Result<FoldRecord>> = match on_gpu {
        true => missing.iter().map(train).collect(),
        false => missing.par_iter().map(train).collect(),
    };
    let mut first_error = None;
    for (&(p, n), result) in missing.iter().zip(results) {
        match result {
            Ok(record) => plans[p].networks[n].record = Some(record),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The fold's entry in the `models` artifact: the first network's net,
/// weights and curves, and every network's seed and scores when several.
fn fold_entry(fold: &Fold, fit: &FoldFit) -> anyhow::Result<DeepFold> {
    let records = &fit.records;
    let (_, first) = &records[0];
    let net: TrainedNet = serde_json::from_value(first.net.clone())?;
    let mut entry = DeepFold {
        fold: fold.name.clone(),
        curves: net.curves.clone(),
        net,
        weights: first.weights.clone(),
        n_train: first.n_train,
        n_augmented: first.n_augmented,
        validation_ua: None,
        networks: None,
        grid: None,
    };
    if records.len() > 1 {
        // `net`, `weights` and `curves` above are the first network's.
        entry.validation_ua = fit.validation_ua();
        entry.networks = Some(
            records
                .iter()
                .map(|(seed, r)| NetworkEntry {
                    seed: *seed,
                    weights: r.weights.clone(),
                    best_epoch: r.net["best_epoch"].as_u64().unwrap_or(0) as usize,
                    best_validation_ua: r.net["best_validation_ua"].as_f64(),
                })
                .collect(),
        );
    }
    Ok(entry)
}

/// The deep path of a train node. With a `grid`, every grid point is
/// trained in every fold (each point's networks cached as the same model
/// without a grid would cache them) and, per fold, the point with the best
/// validation UA (on speakers held out of the fold's training speakers,
/// never its test speakers) gives the fold's predictions.
///
/// With `test_copies`, the fold's networks (as trained, shared with the
/// same model without it) then predict each test and validation utterance
/// together with its augmented copies, and the utterance's probabilities
/// are the mean of its own and its copies' ([`with_test_copies`]).
pub fn run(
    ctx: &Context,
    inputs: &Inputs,
    model: &DeepSpec,
    spec: &Value,
    grid: Option<&[GridPoint<ModelSpec>]>,
    test_copies: bool,
) -> anyhow::Result<Outputs> {
    let (kind, params) = (model.kind, &model.params);
    let input = kind.input();
    let (role, file, augmented_role) = roles(input);
    let table_object = inputs.file(role, file)?.clone();
    let folds = read_folds(ctx, inputs)?;
    // Functionals with a selection: columns per fold, so rows are loaded
    // per fold; otherwise once.
    let selection = match inputs.file(Role::Selection, "selected") {
        Ok(_) => selected_columns(ctx, inputs, &feature_names(ctx, &table_object)?)?,
        Err(_) => None,
    };
    let augmented_object = inputs.file(augmented_role, file).ok().cloned();
    let by_corpus = params.normalize == ser_deep::Normalize::Corpus;
    let all_rows = load_rows(&ctx.cache, &table_object, input, None, by_corpus)?;
    let (classes, y) = class_indices(&all_rows.labels);
    // Present only where the DAG gave the node the manifest (a model or
    // grid point with a gender target).
    let genders = match inputs.file(Role::Corpus, "manifest") {
        Ok(_) => Some(Genders::read(ctx, inputs)?),
        Err(_) => None,
    };
    let shared = Shared {
        ctx,
        kind,
        input,
        table_object: table_object.clone(),
        augmented_object,
        all_rows: &all_rows,
        y: &y,
        classes: &classes,
        genders: genders.as_ref(),
        by_corpus,
        augmented_rows: OnceLock::new(),
    };
    let corpus = all_rows.keys();
    // Who the augmented copies are (the leak guard's input), read once.
    let augmented_keys = match &shared.augmented_object {
        Some(object) => Some(RowIds::of_copies(&parquet_read::from_parquet(
            ctx.cache.read_object(object)?,
        )?)?),
        None => None,
    };

    let mut models = Vec::new();
    let mut chosen = Vec::new();
    let mut predictions = FoldPredictions::default();
    let mut validation = FoldPredictions::default();
    let (mut items, mut refs) = (Vec::new(), Vec::new());
    let fold_inputs: Vec<FoldInputs<'_>> = folds
        .iter()
        .map(|fold| {
            Ok(FoldInputs {
                fold,
                set: FoldSet::build(fold, corpus, augmented_keys.as_ref().map(RowIds::keys))?,
                columns: fold_columns(selection.as_ref(), fold)?,
                selected: OnceLock::new(),
                augmented: OnceLock::new(),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    // The model settings each fold trains: the model, or every grid point.
    let settings: Vec<(Option<&GridPoint<ModelSpec>>, &DeepParams, Value, String)> = match grid {
        None => vec![(None, params, spec.clone(), String::new())],
        Some(points) => points
            .iter()
            .enumerate()
            .map(|(p, point)| {
                let point_params = &point
                    .spec
                    .deep()
                    .ok_or_else(|| anyhow::anyhow!("grid point {p} is not a deep model"))?
                    .params;
                let suffix = format!(" grid point {}/{}", p + 1, points.len());
                Ok((
                    Some(point),
                    point_params,
                    serde_json::to_value(&point.spec)?,
                    suffix,
                ))
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let mut plans = Vec::with_capacity(fold_inputs.len() * settings.len());
    for (f, fold) in fold_inputs.iter().enumerate() {
        for (_, setting_params, setting_spec, suffix) in &settings {
            plans.push(FoldPlan {
                fold: f,
                label_suffix: suffix.clone(),
                networks: plan_networks(&shared, fold, setting_params, setting_spec)?,
            });
        }
    }
    // Every fold's and grid point's missing networks at once: a node's
    // folds no longer wait for each other.
    train_missing(&shared, &fold_inputs, &mut plans)?;

    let mut plans = plans.into_iter();
    for fold_input in &fold_inputs {
        let fold = fold_input.fold;
        let fits: Vec<(FoldFit, Option<&GridPoint<ModelSpec>>)> = settings
            .iter()
            .map(|(point, ..)| {
                let plan = plans.next().expect("a plan per fold and setting");
                Ok((plan.into_fit(fold)?, *point))
            })
            .collect::<anyhow::Result<_>>()?;
        for (fit, _) in &fits {
            items.extend(fit.keys.iter().map(|k| format!("train-deep/{k}")));
            refs.extend(fit.records.iter().map(|(_, r)| r.weights.clone()));
        }
        // The grid point with the best validation UA (the first on a tie).
        let mut best = 0;
        let mut choice = None;
        if grid.is_some() {
            let scores: Vec<f64> = fits
                .iter()
                .map(|(fit, _)| {
                    fit.validation_ua().ok_or_else(|| {
                        anyhow::anyhow!(
                            "fold {}: a grid point has no validation UA (set validation_speakers)",
                            fold.name
                        )
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            for (i, score) in scores.iter().enumerate() {
                if *score > scores[best] {
                    best = i;
                }
            }
            let made = ValidationChoice {
                fold: fold.name.clone(),
                chosen: fits[best].1.map(|p| p.params.clone()),
                validation_ua: scores[best],
                points: fits
                    .iter()
                    .zip(&scores)
                    .map(|((_, p), s)| PointScore {
                        params: p.map(|p| p.params.clone()),
                        validation_ua: *s,
                    })
                    .collect(),
            };
            chosen.push(made.clone());
            choice = Some(made);
        }
        let with_copies;
        let fit = match test_copies {
            false => &fits[best].0,
            true => {
                let rows = shared.rows(fold_input)?;
                let copies = shared.augmented(fold_input)?.ok_or_else(|| {
                    anyhow::anyhow!("test_copies: the node was given no augmented copies")
                })?;
                with_copies = with_test_copies(ctx, &fits[best].0, rows, copies)
                    .map_err(|e| anyhow::anyhow!("fold {}: test_copies: {e:#}", fold.name))?;
                &with_copies
            }
        };
        let (fold_predictions, fold_probabilities) = mean_of_networks(&fit.records)
            .map_err(|e| anyhow::anyhow!("fold {}: {e}", fold.name))?;
        let mut entry = fold_entry(fold, fit)?;
        entry.grid = choice;
        models.push(FoldModel::Deep(entry));
        predictions.push(fold, fold_predictions, Some(fold_probabilities));
        let (held_out, held_out_probabilities) = fit.validation();
        validation.push(fold, held_out, Some(held_out_probabilities));
    }

    let table = predictions.table(corpus, &all_rows.labels, &classes);
    let best_epochs: Vec<usize> = models
        .iter()
        .filter_map(|m| match m {
            FoldModel::Deep(d) => Some(d.net.best_epoch),
            FoldModel::Classic(_) => None,
        })
        .collect();
    let models = ModelsArtifact {
        classes: classes.clone(),
        folds: models,
    };
    // The settings saved beside the models: the spec, and test_copies
    // (not in the networks' keys, which it does not change).
    let mut saved = spec.clone();
    if test_copies && let Some(fields) = saved.as_object_mut() {
        fields.insert("test_copies".into(), json!(true));
    }
    let mut files = train_artifacts(ctx, &table, &models, &saved)?;
    // What an ensemble choosing members by its own validation UA reads.
    let validation = validation.table(corpus, &all_rows.labels, &classes);
    files.insert(
        "validation".to_string(),
        ctx.cache
            .put_object(&parquet_write::to_parquet(&validation)?, "parquet")?,
    );
    let mut summary =
        json!({ "folds": folds.len(), "classes": classes, "best_epochs": best_epochs });
    if grid.is_some() {
        summary["grid"] = json!({ "chosen_on": "validation speakers", "folds": chosen });
    }
    Ok(Outputs {
        files,
        refs,
        items,
        summary,
    })
}

/// The `n`-th network's settings and spec: the model's, with seed
/// `seed + n` and one network, so its fold record is the one a
/// one-network model with that seed makes (and shares with it).
fn network_settings(params: &DeepParams, spec: &Value, n: usize) -> (DeepParams, Value) {
    let mut net_params = params.clone();
    net_params.seed = params.seed + n as u64;
    net_params.networks = 1;
    let mut net_spec = spec.clone();
    if let Some(fields) = net_spec.as_object_mut() {
        fields.remove("networks");
        fields.insert("seed".into(), json!(net_params.seed));
    }
    (net_params, net_spec)
}

/// One fold's test predictions from its networks' records: (row, class)
/// and the class probabilities, the mean of the networks' (one network's
/// as they are).
#[allow(clippy::type_complexity)]
fn mean_of_networks(
    records: &[(u64, FoldRecord)],
) -> Result<(Vec<(usize, usize)>, Vec<Vec<f32>>), String> {
    let (_, first) = &records[0];
    if records.len() == 1 {
        return Ok((first.predictions.clone(), first.probabilities.clone()));
    }
    let rows: Vec<usize> = first.predictions.iter().map(|&(i, _)| i).collect();
    let mut sums: Vec<Vec<f64>> = first
        .probabilities
        .iter()
        .map(|p| vec![0.0; p.len()])
        .collect();
    for (seed, record) in records {
        let same_rows = record.predictions.len() == rows.len()
            && record.predictions.iter().zip(&rows).all(|(p, &i)| p.0 == i);
        if !same_rows {
            return Err(format!(
                "the network with seed {seed} predicted other test rows than the first"
            ));
        }
        for (sum, p) in sums.iter_mut().zip(&record.probabilities) {
            if p.len() != sum.len() {
                return Err(format!(
                    "the network with seed {seed} has {} classes, the first {}",
                    p.len(),
                    sum.len()
                ));
            }
            for (s, &v) in sum.iter_mut().zip(p) {
                *s += f64::from(v);
            }
        }
    }
    let n = records.len() as f64;
    let probabilities: Vec<Vec<f32>> = sums
        .iter()
        .map(|sum| sum.iter().map(|s| (s / n) as f32).collect())
        .collect();
    let predictions = rows
        .iter()
        .zip(&probabilities)
        .map(|(&i, p)| (i, ser_learn::argmax(p)))
        .collect();
    Ok((predictions, probabilities))
}

/// What a fold's networks train on: the corpus's rows with their class
/// indices, the augmented copies and, for a gender target, the genders.
struct FoldData<'a> {
    rows: &'a Rows,
    y: &'a [usize],
    classes: &'a [String],
    augmented: Option<&'a Rows>,
    genders: Option<&'a Genders>,
}

/// Train one network on a fold's training set (its own rows, then the
/// augmented copies [`FoldSet`] admitted) and predict its test rows.
fn train_fold(
    ctx: &Context,
    set: &FoldSet,
    learner: &DeepSpec,
    label: &str,
    data: &FoldData<'_>,
) -> anyhow::Result<FoldRecord> {
    let FoldData {
        rows,
        y,
        classes,
        augmented,
        genders,
    } = *data;
    // After a stop signal no new network starts; trained ones stay cached.
    if crate::interrupt::requested().is_some() {
        anyhow::bail!("interrupted");
    }
    let mut examples: Vec<Example> = set
        .train
        .iter()
        .map(|&i| rows.examples[i].clone())
        .collect();
    let mut labels: Vec<usize> = set.train.iter().map(|&i| y[i]).collect();
    let mut speakers: Vec<String> = set
        .train
        .iter()
        .map(|&i| rows.speakers[i].clone())
        .collect();
    // A copy's gender is its source utterance's.
    let mut row_genders: Vec<Option<usize>> = match genders {
        Some(g) => set.train.iter().map(|&i| g.of(&rows.ids[i])).collect(),
        None => Vec::new(),
    };
    let mut copies = vec![false; set.train.len()];
    if let Some(aug) = augmented {
        for &r in &set.augmented {
            let label = classes.binary_search(&aug.labels[r]).map_err(|_| {
                anyhow::anyhow!(
                    "augmented copy {} has label {}, which no utterance has",
                    aug.ids[r],
                    aug.labels[r]
                )
            })?;
            examples.push(aug.examples[r].clone());
            labels.push(label);
            speakers.push(aug.speakers[r].clone());
            copies.push(true);
            if let Some(g) = genders {
                row_genders.push(g.of(&aug.sources[r]));
            }
        }
    }

    let bar = ctx.progress.bar(learner.params.epochs, label);
    let training = TrainingSet {
        rows: LearnerRows::Sequences {
            examples: &examples,
            dims: rows.dims,
        },
        labels: &labels,
        speakers: &speakers,
        classes: classes.len(),
        genders: genders.map(|_| row_genders.as_slice()),
        copies: augmented.map(|_| copies.as_slice()),
    };
    let net: TrainedNet = learner.fit(&training, &mut |report| {
        bar.set_position(report.epoch as u64);
        bar.set_message(match report.validation_ua {
            Some(ua) => format!("epoch loss {:.3} val UA {ua:.3}", report.train_loss),
            None => format!("epoch loss {:.3}", report.train_loss),
        });
    })?;
    bar.finish_and_clear();
    let weights = ctx.cache.put_object(&net.weights, "bpk")?;
    let validation = Some(validation_probabilities(&net, set, rows)?);
    if set.test.is_empty() {
        // A final model (protocol `all`): nothing to predict.
        return Ok(FoldRecord {
            net: serde_json::to_value(&net)?,
            weights,
            predictions: Vec::new(),
            probabilities: Vec::new(),
            validation,
            n_train: set.train.len(),
            n_augmented: if augmented.is_some() {
                set.augmented.len()
            } else {
                0
            },
        });
    }
    let test_examples: Vec<Example> = set.test.iter().map(|&i| rows.examples[i].clone()).collect();
    let test_speakers: Vec<String> = set.test.iter().map(|&i| rows.speakers[i].clone()).collect();
    let predicted = Fitted::predict(
        &net,
        LearnerRows::Sequences {
            examples: &test_examples,
            dims: rows.dims,
        },
        &test_speakers,
    )?;
    Ok(FoldRecord {
        net: serde_json::to_value(&net)?,
        weights,
        predictions: set.test.iter().copied().zip(predicted.classes).collect(),
        probabilities: predicted.probabilities.unwrap_or_default(),
        validation,
        n_train: set.train.len(),
        n_augmented: if augmented.is_some() {
            set.augmented.len()
        } else {
            0
        },
    })
}

/// What a record kept before they were lacks (the test rows' class
/// probabilities, the validation rows'): its network rebuilt from the kept
/// weights and run on the same rows.
fn fill_from_weights(
    ctx: &Context,
    record: &mut FoldRecord,
    set: &FoldSet,
    rows: &Rows,
) -> anyhow::Result<()> {
    let mut net: TrainedNet = serde_json::from_value(record.net.clone())?;
    net.weights = ctx.cache.read_object(&record.weights)?;
    if record.probabilities.is_empty() && !record.predictions.is_empty() {
        let test: Vec<usize> = record.predictions.iter().map(|&(i, _)| i).collect();
        record.probabilities = probabilities_of(&net, &test, rows)?;
    }
    if record.validation.is_none() {
        record.validation = Some(validation_probabilities(&net, set, rows)?);
    }
    Ok(())
}

/// A network's class probabilities for the original utterances of the
/// training speakers it held out for validation (none when it held none
/// out), by row index.
fn validation_probabilities(
    net: &TrainedNet,
    set: &FoldSet,
    rows: &Rows,
) -> anyhow::Result<Vec<(usize, Vec<f32>)>> {
    let held_out: BTreeSet<&str> = net.validation_speakers.iter().map(String::as_str).collect();
    let validation: Vec<usize> = set
        .train
        .iter()
        .copied()
        .filter(|&i| held_out.contains(rows.speakers[i].as_str()))
        .collect();
    if validation.is_empty() {
        return Ok(Vec::new());
    }
    let probabilities = probabilities_of(net, &validation, rows)?;
    Ok(validation.into_iter().zip(probabilities).collect())
}

/// A fold's networks with their test and validation predictions made
/// again with test-time augmentation: each network, rebuilt from its kept
/// weights, predicts the rows together with their copies (so a speaker's
/// statistics, for `normalize: speaker`, come from its utterances and their
/// copies, as in training), and a row's probabilities are the mean of its
/// own and its copies'. Only the records in memory change: the cached ones
/// stay those of the model without it.
fn with_test_copies(
    ctx: &Context,
    fit: &FoldFit,
    rows: &Rows,
    copies: &Rows,
) -> anyhow::Result<FoldFit> {
    let mut copies_of: HashMap<&str, Vec<usize>> = HashMap::new();
    for (c, source) in copies.sources.iter().enumerate() {
        copies_of.entry(source.as_str()).or_default().push(c);
    }
    let mut fit = fit.clone();
    for (_, record) in &mut fit.records {
        let mut net: TrainedNet = serde_json::from_value(record.net.clone())?;
        net.weights = ctx.cache.read_object(&record.weights)?;
        let test: Vec<usize> = record.predictions.iter().map(|&(i, _)| i).collect();
        let predicted = predict_with_copies(&net, &test, rows, copies, &copies_of)?;
        record.predictions = test.into_iter().zip(predicted.classes).collect();
        record.probabilities = predicted.probabilities.unwrap_or_default();
        if let Some(validation) = &mut record.validation {
            let at: Vec<usize> = validation.iter().map(|(i, _)| *i).collect();
            let p = predict_with_copies(&net, &at, rows, copies, &copies_of)?;
            *validation = at
                .into_iter()
                .zip(p.probabilities.unwrap_or_default())
                .collect();
        }
    }
    Ok(fit)
}

/// A network's predictions for rows `at`, each the mean of its own and
/// its copies' probabilities (a row without copies keeps its own), from
/// one pass over the rows and all their copies.
fn predict_with_copies(
    net: &TrainedNet,
    at: &[usize],
    rows: &Rows,
    copies: &Rows,
    copies_of: &HashMap<&str, Vec<usize>>,
) -> anyhow::Result<ser_learn::Predictions> {
    let mut examples: Vec<Example> = at.iter().map(|&i| rows.examples[i].clone()).collect();
    let mut speakers: Vec<String> = at.iter().map(|&i| rows.speakers[i].clone()).collect();
    // Each row's group: its own position, then its copies'.
    let mut groups: Vec<Vec<usize>> = (0..at.len()).map(|k| vec![k]).collect();
    for (k, &i) in at.iter().enumerate() {
        for &c in copies_of.get(rows.ids[i].as_str()).into_iter().flatten() {
            groups[k].push(examples.len());
            examples.push(copies.examples[c].clone());
            speakers.push(copies.speakers[c].clone());
        }
    }
    let probabilities = net.probabilities(&examples, &speakers)?;
    Ok(ser_learn::Predictions::mean_of_groups(
        &probabilities,
        &groups,
    ))
}

/// A network's class probabilities for some rows (each speaker's
/// statistics taken over those rows, as at test time).
fn probabilities_of(
    net: &TrainedNet,
    rows_at: &[usize],
    rows: &Rows,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let examples: Vec<Example> = rows_at.iter().map(|&i| rows.examples[i].clone()).collect();
    let speakers: Vec<String> = rows_at.iter().map(|&i| rows.speakers[i].clone()).collect();
    Ok(net.probabilities(&examples, &speakers)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(predictions: Vec<(usize, usize)>, probabilities: Vec<Vec<f32>>) -> FoldRecord {
        FoldRecord {
            net: json!({}),
            weights: "w".into(),
            predictions,
            probabilities,
            validation: None,
            n_train: 0,
            n_augmented: 0,
        }
    }

    #[test]
    fn one_network_keeps_the_key_of_a_model_without_the_setting() {
        let params: DeepParams = serde_json::from_value(json!({"seed": 3})).unwrap();
        let spec = serde_json::to_value(&params).unwrap();
        assert!(spec.get("networks").is_none(), "{spec}");
        let (net, net_spec) = network_settings(&params, &spec, 0);
        assert_eq!((net.seed, net.networks), (3, 1));
        assert_eq!(net_spec, spec);

        // The third of three networks is the one-network model with seed 5.
        let three: DeepParams = serde_json::from_value(json!({"seed": 3, "networks": 3})).unwrap();
        let three_spec = serde_json::to_value(&three).unwrap();
        assert_eq!(three_spec["networks"], 3);
        let (net, net_spec) = network_settings(&three, &three_spec, 2);
        let five: DeepParams = serde_json::from_value(json!({"seed": 5})).unwrap();
        assert_eq!((net.seed, net.networks), (5, 1));
        assert_eq!(net_spec, serde_json::to_value(&five).unwrap());
    }

    #[test]
    fn networks_average_their_probabilities_and_take_the_argmax() {
        let a = record(vec![(4, 0), (9, 1)], vec![vec![0.6, 0.4], vec![0.2, 0.8]]);
        let b = record(vec![(4, 1), (9, 1)], vec![vec![0.2, 0.8], vec![0.4, 0.6]]);
        let (predictions, probabilities) = mean_of_networks(&[(0, a), (1, b)]).unwrap();
        assert_eq!(predictions, [(4, 1), (9, 1)]);
        for (got, want) in probabilities.iter().flatten().zip([0.4, 0.6, 0.3, 0.7]) {
            assert!((got - want).abs() < 1e-6, "{probabilities:?}");
        }
        // A tie goes to the first class, as each network's argmax does.
        let c = record(vec![(1, 0)], vec![vec![0.5, 0.5]]);
        let d = record(vec![(1, 0)], vec![vec![0.5, 0.5]]);
        assert_eq!(mean_of_networks(&[(0, c), (1, d)]).unwrap().0, [(1, 0)]);
    }

    #[test]
    fn networks_that_disagree_on_the_test_rows_are_an_error() {
        let a = record(vec![(4, 0)], vec![vec![0.6, 0.4]]);
        let b = record(vec![(5, 0)], vec![vec![0.6, 0.4]]);
        let err = mean_of_networks(&[(0, a), (7, b)]).unwrap_err();
        assert!(err.contains("seed 7"), "{err}");
        let a = record(vec![(4, 0)], vec![vec![0.6, 0.4]]);
        let b = record(vec![(4, 0)], vec![vec![0.6, 0.3, 0.1]]);
        let err = mean_of_networks(&[(0, a), (1, b)]).unwrap_err();
        assert!(err.contains("3 classes"), "{err}");
    }
}
