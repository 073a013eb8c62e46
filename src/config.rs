//! pipeline.yaml: the corpus, each stage's parameters and the experiment
//! matrix.
//!
//! Parsing is strict: unknown keys are errors, and every error names the
//! file, the key path and the line. `--set a.b=value` overrides are applied
//! to the parsed YAML before it is checked, so an override is validated
//! exactly like the file. Relative paths are relative to the pipeline
//! file's folder, so a pipeline means the same thing from any working
//! directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;

use crate::model::ModelEntry;
use ser_evaluate::ProtocolSpec;
use ser_extract::ExtractParams;
use ser_ingest::{CorpusKind, LabelSpec};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// One corpus: the one-corpus form of `corpora` (ids and speakers as
    /// the corpus names them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corpus: Option<CorpusConfig>,
    /// Several corpora, each with a name; utterance ids and speakers are
    /// namespaced by it (`tess/OAF`), so speakers never collide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corpora: Vec<NamedCorpus>,
    /// One label set across the corpora: renames, exclusions, the labels
    /// kept.
    #[serde(default, skip_serializing_if = "LabelSpec::is_identity")]
    pub labels: LabelSpec,
    /// Every signal is resampled to this rate (Hz) at ingest.
    #[serde(default = "default_sample_rate")]
    pub sample_rate: u32,
    #[serde(default)]
    pub cache: CacheConfig,
    /// Frame analysis and functionals shared by the spectral feature sets.
    #[serde(default)]
    pub extract: ExtractParams,
    /// `extract:` values of one feature set that differ from the others'
    /// (`extract_per_set.acoustic.deltas: 1`), so a choice made for one
    /// set's columns does not move every spectral set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extract_per_set: BTreeMap<String, SetExtract>,
    /// Feature sets by a name of their own: a built-in spectral set with
    /// its own `extract:` values (`acoustic_deltas: {of: acoustic, deltas:
    /// 1}`), usable wherever a set is named, so one pipeline can hold the
    /// set with and without them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_variants: BTreeMap<String, FeatureVariant>,
    /// Evaluation protocols by name.
    pub protocols: BTreeMap<String, ProtocolSpec>,
    /// Feature unions by name: the functionals of several feature sets
    /// side by side in one table (early fusion), usable wherever a feature
    /// set is named; its parts are extracted once, as their own sets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_unions: BTreeMap<String, Vec<String>>,
    /// Feature selection methods by name (`none`, all columns, is built in).
    #[serde(default)]
    pub selection: BTreeMap<String, crate::stage::select::SelectionSpec>,
    /// Training-data augmentation sets by name (`none`, no copies, is built
    /// in); copies only ever join training folds of their source.
    #[serde(default)]
    pub augmentations: BTreeMap<String, crate::stage::augment::AugmentSpec>,
    /// Models by name; several names may share a kind with other settings.
    /// A model with a `grid:` is tuned by inner CV in every training fold.
    pub models: BTreeMap<String, ModelEntry>,
    /// One matrix, or a list of them (say, classic models on functionals
    /// and deep models on log-mel); cells they share are one node.
    pub experiments: Matrices,
    /// Ensembles by name: each combines experiments of the matrices
    /// (its `members`) into one prediction per test utterance, on each of
    /// its protocols. It fits nothing, so it costs only its members.
    #[serde(default)]
    pub ensembles: BTreeMap<String, EnsembleSpec>,
    /// Where stale nodes are computed: this process (`local`) or Slurm
    /// jobs (`slurm`); not part of any cache key.
    #[serde(default)]
    pub executor: crate::executor::ExecutorConfig,
}

/// One feature set's own `extract:` values, over the shared ones: the
/// settings that shape a set's columns, not its frames.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetExtract {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deltas: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functionals: Option<Vec<ser_extract::Functional>>,
}

/// A built-in spectral feature set under a name of its own, with its own
/// `extract:` values over the set's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureVariant {
    /// The built-in set whose descriptors it extracts.
    pub of: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deltas: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functionals: Option<Vec<ser_extract::Functional>>,
}

/// One ensemble: experiments of the matrices, combined.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleSpec {
    /// Experiment names as `ser metrics` prints them,
    /// `features[+augment]/selection/model`.
    pub members: Vec<String>,
    /// `mean` (of the members' class probabilities) or `vote`.
    #[serde(default)]
    pub combine: ser_train::ensemble::Combine,
    /// One weight per member; equal when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
    /// Per fold, combine only this many members: those with the highest
    /// validation UA (speakers held out of the fold's training set; deep
    /// models record it). Absent: every member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_best: Option<usize>,
    /// `forward`: per fold, the members whose mean scores the best UA on
    /// validation utterances (speakers the members' networks held out of
    /// the fold's training set), added one at a time while that improves;
    /// instead of `keep_best`'s ranking of members one by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choose: Option<ser_train::ensemble::MemberChoice>,
    /// With `choose`: repeat the choice on this many bootstrap resamples of
    /// the validation speakers and weight each member by its share of the
    /// bags' means (bagged ensemble selection), so nearly tied members
    /// share the weight instead of one winning on a few speakers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bags: Option<usize>,
    pub protocols: Vec<String>,
}

impl EnsembleSpec {
    /// Whether each fold combines members of its own choosing (`keep_best`
    /// or `choose`), listed in the node's `kept` summary.
    pub fn chooses_per_fold(&self) -> bool {
        self.keep_best.is_some() || self.choose.is_some()
    }
}

impl PipelineConfig {
    /// The extraction parameters of feature set `set`: `extract:` with the
    /// set's `extract_per_set` entry over them.
    pub fn extract_for(&self, set: &str) -> ExtractParams {
        let mut params = self.extract.clone();
        let mut over = |deltas: Option<usize>, functionals: &Option<Vec<_>>| {
            if let Some(deltas) = deltas {
                params.deltas = deltas;
            }
            if let Some(functionals) = functionals {
                params.functionals = functionals.clone();
            }
        };
        if let Some(own) = self.extract_per_set.get(self.builtin_set(set)) {
            over(own.deltas, &own.functionals);
        }
        // A variant's values over its set's.
        if let Some(variant) = self.feature_variants.get(set) {
            over(variant.deltas, &variant.functionals);
        }
        params
    }

    /// The built-in set `set` extracts: a variant's `of`, else `set`.
    pub fn builtin_set<'a>(&'a self, set: &'a str) -> &'a str {
        self.feature_variants
            .get(set)
            .map_or(set, |variant| variant.of.as_str())
    }

    /// The feature sets `set` is extracted from: a union's parts, else
    /// the set itself.
    pub fn feature_parts<'a>(&'a self, set: &'a str) -> Vec<&'a str> {
        match self.feature_unions.get(set) {
            Some(parts) => parts.iter().map(String::as_str).collect(),
            None => vec![set],
        }
    }

    /// The model an ensemble member (`features/selection/model`) names.
    pub fn member_model(&self, member: &str) -> Option<&ModelEntry> {
        self.models.get(member.rsplit('/').next()?)
    }

    /// Ensembles whose `keep_best` (or `choose`) ranks grid models beside
    /// single-setting ones, one line each. A grid's validation UA is the
    /// best of its points', so the ranking favours it (seen on RAVDESS: a
    /// pool with `mlp_grid` and `mlp_online_grid` kept them in every fold
    /// and fell 4.4 points, docs/performance.md); `ser run` warns.
    pub fn member_choice_caveats(&self) -> Vec<String> {
        let mut caveats = Vec::new();
        for (name, spec) in &self.ensembles {
            let option = match (spec.keep_best, spec.choose) {
                (Some(_), _) => "keep_best",
                (None, Some(_)) => "choose",
                (None, None) => continue,
            };
            let (grids, plain): (Vec<&String>, Vec<&String>) = spec
                .members
                .iter()
                .partition(|member| self.member_model(member).is_some_and(|m| m.grid.is_some()));
            if !grids.is_empty() && !plain.is_empty() {
                caveats.push(format!(
                    "ensembles.{name}.{option} ranks {} grid model(s) ({}) beside {} \
                     single-setting one(s); a grid's validation UA is the best of its points', \
                     so the ranking favours it",
                    grids.len(),
                    grids
                        .iter()
                        .map(|g| g.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    plain.len()
                ));
            }
        }
        caveats
    }
}

/// The most bags `ensembles.<name>.bags` takes: each is a forward
/// selection, milliseconds on a few hundred validation rows.
const MAX_BAGS: usize = 10_000;

/// The pseudo feature set of an ensemble's experiments: their names are
/// `ensemble/<combine>/<name>`.
pub const ENSEMBLE: &str = "ensemble";

/// The experiment matrices of a pipeline.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Matrices(pub Vec<Matrix>);

impl std::ops::Deref for Matrices {
    type Target = [Matrix];
    fn deref(&self) -> &[Matrix] {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Matrices {
    /// A mapping is one matrix, a sequence a list of them. Written as a
    /// visitor rather than `#[serde(untagged)]` so an error inside a matrix
    /// keeps its key path and line.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Matrices;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a matrix (features, models, protocols, ...) or a list of them")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Matrices, A::Error> {
                let m = Matrix::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Matrices(vec![m]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Matrices, A::Error> {
                let mut out = Vec::new();
                while let Some(m) = seq.next_element::<Matrix>()? {
                    out.push(m);
                }
                Ok(Matrices(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// The pseudo feature set of models that read the signal itself.
pub const WAVEFORM: &str = "waveform";

fn default_sample_rate() -> u32 {
    16000
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorpusConfig {
    pub kind: CorpusKind,
    /// The corpus folder (for `manifest`, the CSV file).
    pub path: String,
}

/// One entry of `corpora:`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedCorpus {
    /// Namespaces the corpus's speakers and ids, names it in protocols
    /// and per-corpus metrics.
    pub name: String,
    pub kind: CorpusKind,
    /// The corpus folder (for `manifest`, the CSV file).
    pub path: String,
    /// When the folder is absent, leave the corpus out with a warning
    /// instead of failing (for a nightly pipeline over whatever corpora a
    /// machine has).
    #[serde(default)]
    pub optional: bool,
}

/// A corpus of the pipeline, resolved: what the ingest node reads.
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusSource {
    pub name: String,
    pub kind: CorpusKind,
    pub root: PathBuf,
    /// Ids and speakers get `name/` in front (`corpora:`); the one-corpus
    /// form keeps them as they are, so its cache keys did not change.
    pub namespaced: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Cache folder; default `.ser` beside pipeline.yaml. The environment
    /// variable `SER_CACHE_DIR` wins over this.
    pub dir: Option<String>,
    /// `group`: new files 0664 and folders 2775, for a folder a Unix
    /// group shares (`--shared group` wins over this).
    #[serde(default)]
    pub shared: crate::cache::Sharing,
    /// `ser gc` keeps unreferenced files younger than this (`30m`, `1h`,
    /// `2days`; default 1h), locally and with `--remote`.
    #[serde(default)]
    pub gc_grace: Option<String>,
    /// A team remote (directory or S3): read-through, push, pull.
    #[serde(default)]
    pub remote: Option<crate::remote::RemoteConfig>,
}

impl CacheConfig {
    pub fn gc_grace(&self) -> anyhow::Result<std::time::Duration> {
        match &self.gc_grace {
            None => Ok(std::time::Duration::from_secs(3600)),
            Some(text) => humantime::parse_duration(text).map_err(|e| {
                anyhow::anyhow!("cache.gc_grace '{text}': {e} (say e.g. 30m, 1h, 2days)")
            }),
        }
    }
}

/// The experiment matrix: every combination becomes one
/// extract -> train -> evaluate chain; chains share upstream nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    pub features: Vec<String>,
    /// Augmentation sets the training folds get (default `[none]`).
    #[serde(default = "just_none")]
    pub augment: Vec<String>,
    #[serde(default = "just_none")]
    pub selection: Vec<String>,
    pub models: Vec<String>,
    pub protocols: Vec<String>,
}

impl Matrix {
    /// Each cell as (experiment name, protocol), in the order the graph
    /// adds them.
    pub fn cells(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for set in &self.features {
            for selection in &self.selection {
                for augment in &self.augment {
                    let features = if augment == "none" {
                        set.clone()
                    } else {
                        format!("{set}+{augment}")
                    };
                    for model in &self.models {
                        for protocol in &self.protocols {
                            out.push((format!("{features}/{selection}/{model}"), protocol.clone()));
                        }
                    }
                }
            }
        }
        out
    }
}

fn just_none() -> Vec<String> {
    vec!["none".into()]
}

/// A loaded pipeline: its config and where it lives.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub config: PipelineConfig,
    /// The pipeline file, absolute.
    pub file: PathBuf,
    /// Identifies this pipeline's state in a shared cache.
    pub id: String,
}

impl Pipeline {
    /// Read, override and validate a pipeline file.
    pub fn load(file: &Path, overrides: &[String]) -> anyhow::Result<Pipeline> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let file = std::path::absolute(file)?;
        let config =
            parse(&text, overrides).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        let id = blake3::hash(file.to_string_lossy().as_bytes()).to_hex()[..16].to_string();
        let mut pipeline = Pipeline { config, file, id };
        pipeline.drop_protocols_of_absent_corpora()?;
        Ok(pipeline)
    }

    /// With `optional` corpora absent, the protocols that need them
    /// (a `cross_corpus` naming one, `leave_one_corpus_out` with one
    /// corpus left) are left out of the matrices and ensembles, with a
    /// warning, so a nightly pipeline runs on whatever corpora a machine
    /// has.
    fn drop_protocols_of_absent_corpora(&mut self) -> anyhow::Result<()> {
        if self.absent_corpora().is_empty() {
            return Ok(());
        }
        let present: Vec<String> = self.corpus_sources().into_iter().map(|s| s.name).collect();
        let present: Vec<&str> = present.iter().map(String::as_str).collect();
        let c = &mut self.config;
        let dropped: Vec<String> = c
            .protocols
            .iter()
            .filter_map(|(name, spec)| {
                let why = spec.check_corpora(&present).err()?;
                eprintln!("warning: protocol {name} is left out: {why}");
                Some(name.clone())
            })
            .collect();
        if dropped.is_empty() {
            return Ok(());
        }
        let mut matrices = std::mem::take(&mut c.experiments.0);
        for m in &mut matrices {
            m.protocols.retain(|p| !dropped.contains(p));
        }
        matrices.retain(|m| !m.protocols.is_empty());
        anyhow::ensure!(
            !matrices.is_empty(),
            "{}: every experiment's protocols need corpora that are absent ({})",
            self.file.display(),
            dropped.join(", ")
        );
        c.experiments.0 = matrices;
        for spec in c.ensembles.values_mut() {
            spec.protocols.retain(|p| !dropped.contains(p));
        }
        c.ensembles.retain(|_, spec| !spec.protocols.is_empty());
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }

    /// A path from the pipeline file, made absolute.
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir().join(p)
        }
    }

    /// The corpora the ingest node reads, in the order written; an
    /// `optional` corpus whose folder is absent is left out (the caller
    /// warns: see [`Pipeline::absent_corpora`]).
    pub fn corpus_sources(&self) -> Vec<CorpusSource> {
        let c = &self.config;
        match &c.corpus {
            Some(one) => vec![CorpusSource {
                name: one.kind.name().to_string(),
                kind: one.kind,
                root: self.resolve(&one.path),
                namespaced: false,
            }],
            None => c
                .corpora
                .iter()
                .map(|e| CorpusSource {
                    name: e.name.clone(),
                    kind: e.kind,
                    root: self.resolve(&e.path),
                    namespaced: true,
                })
                .filter(|s| {
                    !c.corpora
                        .iter()
                        .any(|e| e.name == s.name && e.optional && !s.root.exists())
                })
                .collect(),
        }
    }

    /// `optional` corpora whose folders are absent, as (name, path).
    pub fn absent_corpora(&self) -> Vec<(String, PathBuf)> {
        self.config
            .corpora
            .iter()
            .filter(|e| e.optional)
            .map(|e| (e.name.clone(), self.resolve(&e.path)))
            .filter(|(_, p)| !p.exists())
            .collect()
    }

    /// The cache folder: `SER_CACHE_DIR`, else `cache.dir`, else `.ser`.
    pub fn cache_dir(&self) -> PathBuf {
        match std::env::var_os("SER_CACHE_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => self.resolve(self.config.cache.dir.as_deref().unwrap_or(".ser")),
        }
    }
}

/// Parse pipeline YAML text with `key.path=value` overrides.
pub fn parse(text: &str, overrides: &[String]) -> anyhow::Result<PipelineConfig> {
    // The file alone first, so its errors carry its line numbers.
    let de = serde_yaml_ng::Deserializer::from_str(text);
    let mut config: PipelineConfig = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            anyhow::anyhow!("{inner}")
        } else {
            anyhow::anyhow!("{path}: {inner}")
        }
    })?;
    if !overrides.is_empty() {
        let mut value: Value = serde_yaml_ng::from_str(text)?;
        for o in overrides {
            apply_override(&mut value, o)?;
        }
        config = serde_path_to_error::deserialize(value).map_err(|e| {
            anyhow::anyhow!(
                "after --set {}: {}: {}",
                overrides.join(" --set "),
                e.path(),
                e.inner()
            )
        })?;
    }
    validate(&config)?;
    Ok(config)
}

pub fn apply_override(root: &mut Value, assignment: &str) -> anyhow::Result<()> {
    let Some((path, raw)) = assignment.split_once('=') else {
        bail!("--set {assignment}: expected key.path=value");
    };
    let new: Value =
        serde_yaml_ng::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
    let mut node = root;
    let keys: Vec<&str> = path.split('.').collect();
    for (i, key) in keys.iter().enumerate() {
        if key.is_empty() {
            bail!("--set {assignment}: empty key in '{path}'");
        }
        // A list's item by its index (`experiments.2.models`).
        if let Value::Sequence(items) = node {
            let len = items.len();
            let Some(item) = key.parse::<usize>().ok().and_then(|at| items.get_mut(at)) else {
                bail!(
                    "--set {assignment}: '{}' is a list of {len}; give an index from 0 to {}",
                    keys[..i].join("."),
                    len.saturating_sub(1)
                );
            };
            if i + 1 == keys.len() {
                *item = new;
                return Ok(());
            }
            node = item;
            continue;
        }
        if !node.is_mapping() {
            bail!(
                "--set {assignment}: '{}' is not a mapping",
                keys[..i].join(".")
            );
        }
        let map = node.as_mapping_mut().expect("checked above");
        let k = Value::String(key.to_string());
        if i + 1 == keys.len() {
            map.insert(k, new);
            return Ok(());
        }
        node = map
            .entry(k)
            .or_insert_with(|| Value::Mapping(Default::default()));
    }
    Ok(())
}

fn validate_corpora(config: &PipelineConfig) -> anyhow::Result<()> {
    match (&config.corpus, config.corpora.is_empty()) {
        (Some(_), false) => bail!("corpus and corpora: give one (corpus is the one-corpus form)"),
        (None, true) => bail!("corpora: give the corpus (corpus: {{kind, path}}) or corpora"),
        _ => {}
    }
    for (i, entry) in config.corpora.iter().enumerate() {
        let name = &entry.name;
        if name.is_empty()
            || !name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
        {
            bail!("corpora[{i}].name: '{name}': use letters, digits, _ and - only");
        }
        if config.corpora[..i].iter().any(|e| &e.name == name) {
            bail!("corpora[{i}].name: '{name}' is used twice");
        }
    }
    let names: Vec<&str> = match &config.corpus {
        Some(one) => vec![one.kind.name()],
        None => config.corpora.iter().map(|e| e.name.as_str()).collect(),
    };
    for (protocol, spec) in &config.protocols {
        spec.check_corpora(&names)
            .map_err(|e| anyhow::anyhow!("protocols.{protocol}: {e}"))?;
    }
    Ok(())
}

fn validate(config: &PipelineConfig) -> anyhow::Result<()> {
    validate_corpora(config)?;
    config.cache.gc_grace()?;
    if let Some(remote) = &config.cache.remote
        && let Some(name) = &remote.name
    {
        crate::remote::check_state_name(name)
            .map_err(|e| anyhow::anyhow!("cache.remote.name: {e}"))?;
    }
    if config.experiments.is_empty() {
        bail!("experiments: the list is empty");
    }
    for (name, spec) in &config.augmentations {
        if name == "none" || name.contains(['/', '@', '+', '~']) {
            bail!("augmentations.{name}: 'none' and names with / @ + ~ are reserved");
        }
        if spec.copies.is_empty() {
            bail!("augmentations.{name}.copies: the list is empty");
        }
        for (i, copy) in spec.copies.iter().enumerate() {
            copy.validate()
                .map_err(|e| anyhow::anyhow!("augmentations.{name}.copies[{i}]: {e}"))?;
        }
    }
    validate_feature_variants(config)?;
    validate_feature_unions(config)?;
    validate_extract_per_set(config)?;
    for (name, entry) in &config.models {
        if let Some(ser_deep::DeepSpec { kind, params }) = entry.spec.deep() {
            params
                .check(*kind)
                .map_err(|e| anyhow::anyhow!("models.{name}: {e}"))?;
            if let Some(grid) = &entry.grid {
                // A deep grid chooses per fold on the validation speakers
                // its networks hold out, so every point needs some.
                let points = entry
                    .spec
                    .grid_points(grid)
                    .map_err(|e| anyhow::anyhow!("models.{name}.grid: {e}"))?;
                for point in &points {
                    let Some(ser_deep::DeepSpec { kind, params }) = point.spec.deep() else {
                        bail!("models.{name}.grid: a point is not a deep model");
                    };
                    params
                        .check(*kind)
                        .map_err(|e| anyhow::anyhow!("models.{name}.grid: {e}"))?;
                    if params.validation_speakers == 0 {
                        bail!(
                            "models.{name}.grid: a deep model's grid is chosen on validation \
                             speakers; set validation_speakers above 0"
                        );
                    }
                }
            }
        }
    }
    if config.sample_rate < 4000 {
        bail!(
            "sample_rate: {} Hz is too low for speech features",
            config.sample_rate
        );
    }
    let single = config.experiments.len() == 1;
    for (i, m) in config.experiments.iter().enumerate() {
        let at = if single {
            "experiments".to_string()
        } else {
            format!("experiments[{i}]")
        };
        validate_matrix(config, m, &at)?;
        // A network's corpus scaling reads each row's corpus, which
        // augmented copies' tables do not carry.
        if m.augment.iter().any(|a| a != "none")
            && let Some(model) = m.models.iter().find(|model| {
                config.models.get(*model).is_some_and(|e| {
                    e.spec
                        .deep()
                        .is_some_and(|d| d.params.normalize == ser_deep::Normalize::Corpus)
                })
            })
        {
            bail!(
                "{at}: models.{model} is a network with normalize: corpus, which does not take \
                 augmented copies yet; give it a matrix with augment: [none]"
            );
        }
        // The classic speaker_online scaling is per fold over the corpus's
        // rows; augmented copies have no place in its order yet.
        if m.augment.iter().any(|a| a != "none")
            && let Some(model) = m.models.iter().find(|model| {
                config.models.get(*model).is_some_and(|e| {
                    e.spec.deep().is_none()
                        && e.normalize == ser_train::FeatureNormalize::SpeakerOnline
                })
            })
        {
            bail!(
                "{at}: models.{model} has normalize: speaker_online, which does not take \
                 augmented copies yet; give it a matrix with augment: [none]"
            );
        }
        // Test-time augmentation averages an utterance with its copies, so
        // every cell of the model needs some.
        if m.augment.iter().any(|a| a == "none")
            && let Some(model) = m
                .models
                .iter()
                .find(|model| config.models.get(*model).is_some_and(|e| e.test_copies))
        {
            bail!(
                "{at}: models.{model} has test_copies: true, which averages each test utterance \
                 with its augmented copies, and augment: none makes none; give its matrix an \
                 augmentation only (augment: [noisy_pitch])"
            );
        }
    }
    config
        .executor
        .slurm
        .validate()
        .map_err(|e| anyhow::anyhow!("executor.slurm: {e}"))?;
    validate_ensembles(config)
}

fn validate_ensembles(config: &PipelineConfig) -> anyhow::Result<()> {
    let cells: std::collections::BTreeSet<(String, String)> =
        config.experiments.iter().flat_map(Matrix::cells).collect();
    for (name, spec) in &config.ensembles {
        let at = format!("ensembles.{name}");
        if name.contains(['/', '@', '+', '~']) {
            bail!("{at}: names with / @ + ~ are reserved");
        }
        if spec.members.len() < 2 {
            bail!("{at}.members: an ensemble needs two members or more");
        }
        if spec.protocols.is_empty() {
            bail!("{at}.protocols: the list is empty");
        }
        if let Some(p) = spec.protocols.iter().find(|p| {
            config
                .protocols
                .get(*p)
                .is_some_and(|s| s.trains_on_everything())
        }) {
            bail!(
                "{at}.protocols: {p} tests on nothing (kind: all); an ensemble is exported as its \
                 members"
            );
        }
        if let Some(keep) = spec.keep_best {
            if keep == 0 || keep > spec.members.len() {
                bail!(
                    "{at}.keep_best: {keep} of {} members; keep 1 to {}",
                    spec.members.len(),
                    spec.members.len()
                );
            }
            if spec.choose.is_some() {
                bail!("{at}: keep_best and choose both pick members; give one");
            }
        }
        if spec.choose.is_some() && spec.weights.is_some() {
            bail!("{at}: choose picks members by their equal-weight mean; drop weights");
        }
        if let Some(bags) = spec.bags {
            if spec.choose.is_none() {
                bail!("{at}.bags: bags resample choose's validation speakers; add choose: forward");
            }
            if !(2..=MAX_BAGS).contains(&bags) {
                bail!("{at}.bags: {bags}; give 2 to {MAX_BAGS} (one bag is choose alone)");
            }
        }
        if spec.chooses_per_fold() {
            // Networks record validation predictions to choose by; a
            // classic model does with `validation:`.
            let option = match spec.keep_best {
                Some(_) => "keep_best ranks members by validation UA",
                None => "choose scores members on validation utterances",
            };
            for member in &spec.members {
                if config
                    .member_model(member)
                    .is_some_and(|m| m.spec.deep().is_none() && m.held_out.is_none())
                {
                    bail!(
                        "{at}.{option}, which a classic model records only with `validation: \
                         {{seeds: N}}`; {member} has none"
                    );
                }
            }
        }
        for (i, member) in spec.members.iter().enumerate() {
            if spec.members[..i].contains(member) {
                bail!("{at}.members: {member} is listed twice");
            }
        }
        if let Some(weights) = &spec.weights {
            if weights.len() != spec.members.len() {
                bail!(
                    "{at}.weights: {} weights for {} members",
                    weights.len(),
                    spec.members.len()
                );
            }
            if weights.iter().any(|w| !w.is_finite() || *w < 0.0)
                || weights.iter().sum::<f64>() <= 0.0
            {
                bail!("{at}.weights: weights must be non-negative with a positive sum");
            }
        }
        for protocol in &spec.protocols {
            if !config.protocols.contains_key(protocol) {
                bail!(
                    "{at}.protocols: '{protocol}' is not defined (known: {})",
                    config
                        .protocols
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            for member in &spec.members {
                if !cells.contains(&(member.clone(), protocol.clone())) {
                    let on_protocol: Vec<&str> = cells
                        .iter()
                        .filter(|(_, p)| p == protocol)
                        .map(|(e, _)| e.as_str())
                        .collect();
                    bail!(
                        "{at}.members: {member} is not an experiment of the matrices on \
                         {protocol} (members are experiment names, as `ser metrics` prints \
                         them; {} on {protocol}: {})",
                        on_protocol.len(),
                        on_protocol.join(", ")
                    );
                }
            }
        }
    }
    Ok(())
}

/// The built-in sets whose `extract:` values shape their columns (the
/// GeMAPS sets' are fixed by the standard).
fn spectral_sets() -> Vec<&'static str> {
    ser_extract::FEATURE_SETS
        .iter()
        .filter(|s| s.descriptors.iter().all(|d| d.gemaps_set().is_none()))
        .map(|s| s.name)
        .collect()
}

fn validate_feature_variants(config: &PipelineConfig) -> anyhow::Result<()> {
    let spectral = spectral_sets();
    for (name, variant) in &config.feature_variants {
        let at = format!("feature_variants.{name}");
        if ser_extract::feature_set(name).is_some() || name == WAVEFORM {
            bail!("{at}: '{name}' is a feature set's own name; call the variant something else");
        }
        if config.feature_unions.contains_key(name) {
            bail!("{at}: '{name}' also names a feature union");
        }
        if name.is_empty() || name.contains(['/', '@', '+', '~', ':']) {
            bail!("{at}: names with / @ + ~ : are reserved");
        }
        if !spectral.contains(&variant.of.as_str()) {
            bail!(
                "{at}.of: '{}' is not a set with extract values of its own (sets: {})",
                variant.of,
                spectral.join(", ")
            );
        }
        let set = ser_extract::feature_set(&variant.of).expect("a spectral set");
        check_extract_values(config, &at, name, set)?;
    }
    Ok(())
}

/// Whether the extractor takes set `name`'s own `extract:` values
/// (`extract_for`), as `set`'s descriptors need them.
fn check_extract_values(
    config: &PipelineConfig,
    at: &str,
    name: &str,
    set: &ser_extract::FeatureSet,
) -> anyhow::Result<()> {
    ser_extract::Extractor::new(
        config.sample_rate,
        &config.extract_for(name),
        set.descriptors,
    )
    .map(|_| ())
    .map_err(|e| anyhow::anyhow!("{at}: {e}"))
}

fn validate_feature_unions(config: &PipelineConfig) -> anyhow::Result<()> {
    for (name, parts) in &config.feature_unions {
        let at = format!("feature_unions.{name}");
        if ser_extract::feature_set(name).is_some() || name == WAVEFORM {
            bail!("{at}: '{name}' is a feature set's own name; call the union something else");
        }
        if name.is_empty() || name.contains(['/', '@', '+', '~', ':']) {
            bail!("{at}: names with / @ + ~ : are reserved");
        }
        if parts.len() < 2 {
            bail!("{at}: a union joins two feature sets or more");
        }
        for (i, part) in parts.iter().enumerate() {
            if ser_extract::feature_set(part).is_none()
                && !config.feature_variants.contains_key(part)
            {
                bail!(
                    "{at}: '{part}' is not a feature set (known: {}; `{WAVEFORM}` and other \
                     unions cannot be parts)",
                    ser_extract::FEATURE_SETS
                        .iter()
                        .map(|s| s.name)
                        .chain(config.feature_variants.keys().map(String::as_str))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if parts[..i].contains(part) {
                bail!("{at}: '{part}' is named twice");
            }
            // Columns are named by the built-in set a part extracts.
            let builtin = config.builtin_set(part);
            if let Some(other) = parts[..i].iter().find(|p| config.builtin_set(p) == builtin) {
                bail!(
                    "{at}: '{part}' and '{other}' both extract {builtin}; their columns would \
                     clash"
                );
            }
        }
    }
    Ok(())
}

fn validate_extract_per_set(config: &PipelineConfig) -> anyhow::Result<()> {
    let spectral = spectral_sets();
    for name in config.extract_per_set.keys() {
        let at = format!("extract_per_set.{name}");
        let Some(set) = ser_extract::feature_set(name).filter(|s| spectral.contains(&s.name))
        else {
            let what = if config.feature_unions.contains_key(name) {
                "a feature union: name its parts"
            } else if config.feature_variants.contains_key(name) {
                "a feature variant: give it its values under feature_variants"
            } else if ser_extract::feature_set(name).is_some() {
                "a GeMAPS set, whose deltas and functionals the standard fixes"
            } else {
                "not a feature set"
            };
            bail!(
                "{at}: '{name}' is {what} (sets with their own extract values: {})",
                spectral.join(", ")
            );
        };
        check_extract_values(config, &at, name, set)?;
    }
    Ok(())
}

fn validate_matrix(config: &PipelineConfig, m: &Matrix, at: &str) -> anyhow::Result<()> {
    let known = |what: &str, list: &[String], known: Vec<&str>| -> anyhow::Result<()> {
        if list.is_empty() {
            bail!("{at}.{what}: the list is empty");
        }
        for name in list {
            if !known.contains(&name.as_str()) {
                bail!(
                    "{at}.{what}: '{name}' is not defined (known: {})",
                    known.join(", ")
                );
            }
        }
        Ok(())
    };
    known(
        "features",
        &m.features,
        ser_extract::FEATURE_SETS
            .iter()
            .map(|s| s.name)
            .chain([WAVEFORM])
            .chain(config.feature_variants.keys().map(String::as_str))
            .chain(config.feature_unions.keys().map(String::as_str))
            .collect(),
    )?;
    known(
        "selection",
        &m.selection,
        std::iter::once("none")
            .chain(config.selection.keys().map(String::as_str))
            .collect(),
    )?;
    known(
        "augment",
        &m.augment,
        std::iter::once("none")
            .chain(config.augmentations.keys().map(String::as_str))
            .collect(),
    )?;
    known(
        "models",
        &m.models,
        config.models.keys().map(String::as_str).collect(),
    )?;
    known(
        "protocols",
        &m.protocols,
        config.protocols.keys().map(String::as_str).collect(),
    )?;
    // What each model reads must be what each feature set gives.
    for model in &m.models {
        let input = config.models[model].spec.input();
        for set in &m.features {
            let waveform = set == WAVEFORM;
            if waveform != (input == ser_learn::Input::Waveform) {
                bail!(
                    "{at}: model {model} cannot read feature set {set}: `{WAVEFORM}` is the \
                     signal itself, for waveform models (cnn1d_raw) only; put them in a matrix \
                     of their own"
                );
            }
        }
        if input != ser_learn::Input::Functionals
            && let Some(union) = m
                .features
                .iter()
                .find(|set| config.feature_unions.contains_key(*set))
        {
            bail!(
                "{at}: model {model} reads sequences, and feature union {union} joins \
                 functionals only; give the model the union's sets one by one"
            );
        }
        if input != ser_learn::Input::Functionals && m.selection.iter().any(|s| s != "none") {
            bail!(
                "{at}: model {model} reads sequences, and feature selection picks functionals \
                 columns; give it a matrix with `selection: [none]`"
            );
        }
    }
    // openSMILE's parameter sets are defined at 16 kHz only.
    for set in m.features.iter().flat_map(|set| config.feature_parts(set)) {
        let fixed = ser_extract::feature_set(config.builtin_set(set))
            .is_some_and(|s| s.descriptors.iter().any(|d| d.gemaps_set().is_some()));
        if fixed && config.sample_rate != 16000 {
            bail!(
                "{at}.features: {set} needs sample_rate 16000 (got {})",
                config.sample_rate
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "\
corpus:
  kind: ravdess
  path: ../corpus
extract:
  n_mfcc: 13
protocols:
  six: {kind: folds_file, path: folds.json, key: emobox_6fold}
models:
  lr: {kind: logistic_regression}
experiments:
  features: [mfcc]
  models: [lr]
  protocols: [six]
";

    #[test]
    fn ensembles_name_cells_of_the_matrices() {
        let with = |ensemble: &str| {
            format!(
                "{}  - {{features: [mfcc], models: [lr, nb], protocols: [six]}}\nensembles:\n{ensemble}",
                BASE.replace(
                    "  lr: {kind: logistic_regression}",
                    "  lr: {kind: logistic_regression}\n  nb: {kind: gaussian_nb}"
                )
                .replace(
                    "experiments:\n  features: [mfcc]\n  models: [lr]\n  protocols: [six]\n",
                    "experiments:\n"
                )
            )
        };
        let c = parse(
            &with("  both: {members: [mfcc/none/lr, mfcc/none/nb], protocols: [six]}\n"),
            &[],
        )
        .unwrap();
        let both = &c.ensembles["both"];
        assert_eq!(both.combine, ser_train::ensemble::Combine::Mean);
        assert_eq!(both.members, ["mfcc/none/lr", "mfcc/none/nb"]);

        let err = |text: &str| parse(&with(text), &[]).unwrap_err().to_string();
        let e = err("  both: {members: [mfcc/none/lr, mfcc/none/svm], protocols: [six]}\n");
        assert!(
            e.contains("ensembles.both.members: mfcc/none/svm is not an experiment")
                && e.contains("2 on six: mfcc/none/lr, mfcc/none/nb"),
            "{e}"
        );
        let e = err("  both: {members: [mfcc/none/lr], protocols: [six]}\n");
        assert!(e.contains("two members or more"), "{e}");
        let e = err("  both: {members: [mfcc/none/lr, mfcc/none/nb], protocols: [ten]}\n");
        assert!(
            e.contains("ensembles.both.protocols: 'ten' is not defined"),
            "{e}"
        );
        let e = err(
            "  both: {members: [mfcc/none/lr, mfcc/none/nb], weights: [1], protocols: [six]}\n",
        );
        assert!(
            e.contains("ensembles.both.weights: 1 weights for 2 members"),
            "{e}"
        );
        let e = err(
            "  both: {members: [mfcc/none/lr, mfcc/none/nb], combine: median, protocols: [six]}\n",
        );
        assert!(
            e.contains("ensembles.both.combine") && e.contains("median"),
            "{e}"
        );
        let e = err(
            "  both: {members: [mfcc/none/lr, mfcc/none/nb], keep_best: 1, protocols: [six]}\n",
        );
        assert!(
            e.contains("validation UA") && e.contains("mfcc/none/lr has none"),
            "{e}"
        );
        let e = err(
            "  both: {members: [mfcc/none/lr, mfcc/none/nb], keep_best: 3, protocols: [six]}\n",
        );
        assert!(
            e.contains("ensembles.both.keep_best: 3 of 2 members"),
            "{e}"
        );
        let e = err(
            "  both: {members: [mfcc/none/lr, mfcc/none/nb], choose: forward, protocols: [six]}\n",
        );
        assert!(
            e.contains("ensembles.both.choose scores members on validation utterances")
                && e.contains("mfcc/none/lr has none"),
            "{e}"
        );
        let e = err(
            "  both: {members: [mfcc/none/lr, mfcc/none/nb], keep_best: 1, choose: forward, \
             protocols: [six]}\n",
        );
        assert!(e.contains("keep_best and choose both pick members"), "{e}");
        let e = err(
            "  both: {members: [mfcc/none/lr, mfcc/none/nb], choose: forward, weights: [1, 2], \
             protocols: [six]}\n",
        );
        assert!(e.contains("ensembles.both: choose picks members"), "{e}");
        let e =
            err("  both: {members: [mfcc/none/lr, mfcc/none/nb], bags: 20, protocols: [six]}\n");
        assert!(
            e.contains("ensembles.both.bags") && e.contains("add choose: forward"),
            "{e}"
        );
        for bags in [1, 100_000] {
            let e = err(&format!(
                "  both: {{members: [mfcc/none/lr, mfcc/none/nb], choose: forward, bags: {bags}, \
                 protocols: [six]}}\n"
            ));
            assert!(
                e.contains(&format!("ensembles.both.bags: {bags}; give 2 to")),
                "{e}"
            );
        }
        let e = err(
            "  both: {members: [mfcc/none/lr, mfcc/none/nb], choose: backward, protocols: [six]}\n",
        );
        assert!(
            e.contains("ensembles.both.choose") && e.contains("backward"),
            "{e}"
        );
    }

    /// A union is named like a feature set and only where functionals are
    /// read; its parts must be feature sets, each once.
    #[test]
    fn feature_unions_are_checked() {
        let with = |unions: &str, features: &str, model: &str| {
            BASE.replace(
                "experiments:",
                &format!("feature_unions:\n{unions}experiments:"),
            )
            .replace("features: [mfcc]", &format!("features: [{features}]"))
            .replace("lr: {kind: logistic_regression}", &format!("lr: {model}"))
        };
        let lr = "{kind: logistic_regression}";
        let c = parse(&with("  both: [mfcc, egemaps]\n", "both, mfcc", lr), &[]).unwrap();
        assert_eq!(c.feature_parts("both"), ["mfcc", "egemaps"]);
        assert_eq!(c.feature_parts("mfcc"), ["mfcc"]);

        let err = |unions: &str, features: &str, model: &str| {
            parse(&with(unions, features, model), &[])
                .unwrap_err()
                .to_string()
        };
        let e = err("  both: [mfcc, nope]\n", "both", lr);
        assert!(
            e.contains("feature_unions.both: 'nope' is not a feature set"),
            "{e}"
        );
        let e = err("  both: [mfcc]\n", "both", lr);
        assert!(e.contains("two feature sets or more"), "{e}");
        let e = err("  both: [mfcc, mfcc]\n", "both", lr);
        assert!(e.contains("'mfcc' is named twice"), "{e}");
        let e = err("  mfcc: [logmel, egemaps]\n", "mfcc", lr);
        assert!(e.contains("a feature set's own name"), "{e}");
        let e = err("  a+b: [logmel, egemaps]\n", "mfcc", lr);
        assert!(e.contains("reserved"), "{e}");
        let e = err("  both: [mfcc, waveform]\n", "both", lr);
        assert!(e.contains("'waveform' is not a feature set"), "{e}");
        let e = err("  both: [mfcc, egemaps]\n", "both", "{kind: lstm}");
        assert!(
            e.contains("feature union both joins functionals only"),
            "{e}"
        );
        let e = err("  both: [mfcc, egemaps]\n", "other", lr);
        assert!(
            e.contains("'other' is not defined") && e.contains("both"),
            "{e}"
        );
        // openSMILE's sets run at 16 kHz only, inside a union too.
        let e = parse(
            &with("  both: [mfcc, egemaps]\n", "both", lr)
                .replace("experiments:", "sample_rate: 22050\nexperiments:"),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("egemaps needs sample_rate 16000"), "{e}");
    }

    /// A set's own extract values reach that set alone, `--set` gives them
    /// too, and a set they cannot apply to is refused by name.
    #[test]
    fn extract_per_set_moves_one_set() {
        let c = parse(
            BASE,
            &[
                "extract_per_set.acoustic.deltas=1".into(),
                "extract_per_set.spectral.functionals=[mean]".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.extract_for("acoustic").deltas, 1);
        assert_eq!(c.extract_for("acoustic").n_mfcc, 13);
        assert_eq!(c.extract_for("logmel"), c.extract);
        assert_eq!(
            c.extract_for("spectral").functionals,
            [ser_extract::Functional::Mean]
        );
        assert_eq!(c.extract_for("spectral").deltas, 0);
        let refused = |set: &str, value: &str| {
            parse(BASE, &[format!("extract_per_set.{set}={value}")])
                .unwrap_err()
                .to_string()
        };
        let err = refused("egemaps", "{deltas: 1}");
        assert!(
            err.contains("extract_per_set.egemaps: 'egemaps' is a GeMAPS set"),
            "{err}"
        );
        let err = refused("acoustics", "{deltas: 1}");
        assert!(
            err.contains("'acoustics' is not a feature set (sets with their own"),
            "{err}"
        );
        let err = refused("acoustic", "{deltas: 3}");
        assert!(
            err.contains("extract_per_set.acoustic: invalid parameters: deltas must be 0, 1 or 2"),
            "{err}"
        );
        let err = refused("acoustic", "{n_mfcc: 3}");
        assert!(err.contains("n_mfcc"), "{err}");
    }

    /// A variant extracts its set's descriptors with its own values over
    /// the set's (`extract_per_set` included) and leaves the set as it is;
    /// names that clash or sets it cannot apply to are refused by name.
    #[test]
    fn a_feature_variant_is_its_set_with_its_own_values() {
        let c = parse(
            BASE,
            &[
                "extract_per_set.acoustic.functionals=[mean, std]".into(),
                "feature_variants.acoustic_deltas={of: acoustic, deltas: 1}".into(),
                "experiments.features=[acoustic, acoustic_deltas]".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.builtin_set("acoustic_deltas"), "acoustic");
        assert_eq!(c.builtin_set("acoustic"), "acoustic");
        let variant = c.extract_for("acoustic_deltas");
        assert_eq!(variant.deltas, 1);
        assert_eq!(
            variant.functionals,
            [ser_extract::Functional::Mean, ser_extract::Functional::Std]
        );
        assert_eq!(variant.n_mfcc, 13);
        assert_eq!(c.extract_for("acoustic").deltas, 0);
        let refused = |value: &str| {
            parse(BASE, &[format!("feature_variants.{value}")])
                .unwrap_err()
                .to_string()
        };
        let err = refused("acoustic={of: acoustic, deltas: 1}");
        assert!(
            err.contains("'acoustic' is a feature set's own name"),
            "{err}"
        );
        let err = refused("e2={of: egemaps, deltas: 1}");
        assert!(
            err.contains("feature_variants.e2.of: 'egemaps' is not a set with extract values"),
            "{err}"
        );
        let err = refused("a2={of: acoustic, deltas: 3}");
        assert!(
            err.contains("feature_variants.a2: invalid parameters: deltas must be 0, 1 or 2"),
            "{err}"
        );
        let err = parse(
            BASE,
            &[
                "feature_variants.a2={of: acoustic, deltas: 1}".into(),
                "extract_per_set.a2={deltas: 2}".into(),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("'a2' is a feature variant"), "{err}");
        let err = parse(
            BASE,
            &[
                "feature_variants.a2={of: acoustic, deltas: 1}".into(),
                "feature_unions.both=[acoustic, a2]".into(),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("feature_unions.both: 'a2' and 'acoustic' both extract acoustic"),
            "{err}"
        );
    }

    #[test]
    fn parses_with_defaults() {
        let c = parse(BASE, &[]).unwrap();
        assert_eq!(c.sample_rate, 16000);
        assert_eq!(c.extract.n_mfcc, 13);
        assert_eq!(c.extract.n_mels, 64);
        assert_eq!(c.experiments[0].selection, ["none"]);
    }

    #[test]
    fn unknown_key_names_path_and_line() {
        let text = BASE.replace("  n_mfcc: 13", "  n_mfcc: 13\n  n_mfc: 20");
        let err = parse(&text, &[]).unwrap_err().to_string();
        assert!(err.contains("extract"), "{err}");
        assert!(err.contains("unknown field `n_mfc`"), "{err}");
        assert!(err.contains("line 6"), "{err}");
    }

    #[test]
    fn wrong_type_names_path_and_line() {
        let text = BASE.replace("n_mfcc: 13", "n_mfcc: many");
        let err = parse(&text, &[]).unwrap_err().to_string();
        assert!(
            err.contains("extract.n_mfcc") && err.contains("line 5"),
            "{err}"
        );
    }

    #[test]
    fn overrides_apply_and_are_validated() {
        let c = parse(
            BASE,
            &["extract.n_mfcc=20".into(), "models.lr.alpha=0.5".into()],
        )
        .unwrap();
        assert_eq!(c.extract.n_mfcc, 20);
        assert_eq!(
            c.models["lr"].spec,
            crate::model::ModelSpec::Classic(ser_train::ClassicSpec::LogisticRegression {
                alpha: 0.5,
                max_iterations: 300
            })
        );
        let err = parse(BASE, &["extract.n_mfcc=lots".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("extract.n_mfcc"), "{err}");
        assert!(
            parse(BASE, &["extract".into()])
                .unwrap_err()
                .to_string()
                .contains("key.path=value")
        );
    }

    /// `--set` reaches a list's item by its index (the second matrix's
    /// models here), and an index past the end is refused with the
    /// list's length.
    #[test]
    fn an_override_reaches_into_a_list_by_index() {
        let two = BASE.replace(
            "experiments:\n  features: [mfcc]\n  models: [lr]\n  protocols: [six]\n",
            "experiments:\n  - {features: [mfcc], models: [lr], protocols: [six]}\n  \
             - {features: [spectral], models: [lr], protocols: [six]}\n",
        );
        let c = parse(&two, &["experiments.1.features=[mfcc, spectral]".into()]).unwrap();
        let features: Vec<&Vec<String>> = c.experiments.iter().map(|m| &m.features).collect();
        assert_eq!(
            features,
            [
                &vec!["mfcc".to_string()],
                &vec!["mfcc".into(), "spectral".into()]
            ]
        );
        let err = parse(&two, &["experiments.2.models=[lr]".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'experiments' is a list of 2; give an index from 0 to 1"),
            "{err}"
        );
    }

    #[test]
    fn speaker_online_classic_models_refuse_augmented_copies() {
        let online = BASE.replace(
            "lr: {kind: logistic_regression}",
            "lr: {kind: logistic_regression, normalize: speaker_online}",
        );
        parse(&online, &[]).unwrap();
        let augmented = format!(
            "{online}augmentations: {{noisy: {{copies: [{{kind: noise, snr_db: 10}}]}}}}\n"
        )
        .replace(
            "  models: [lr]\n",
            "  models: [lr]\n  augment: [none, noisy]\n",
        );
        let err = parse(&augmented, &[]).unwrap_err().to_string();
        assert!(
            err.contains("experiments: models.lr has normalize: speaker_online"),
            "{err}"
        );
    }

    #[test]
    fn test_copies_needs_probabilities_and_augmented_copies() {
        let with = |model: &str, augment: &str| {
            let yaml = format!(
                "{BASE}augmentations: {{noisy: {{copies: [{{kind: noise, snr_db: 10}}]}}}}\n"
            )
            .replace("lr: {kind: logistic_regression}", model)
            .replace(
                "  models: [lr]\n",
                &format!("  models: [lr]\n  augment: {augment}\n"),
            );
            parse(&yaml, &[])
        };
        let mlp = "lr: {kind: mlp, epochs: 1, test_copies: true}";
        let config = with(mlp, "[noisy]").unwrap();
        assert!(config.models["lr"].test_copies);
        // Written back only when set, so other entries keep their keys.
        let written = serde_json::to_value(&config.models["lr"]).unwrap();
        assert_eq!(written["test_copies"], true);
        let plain = with("lr: {kind: mlp, epochs: 1}", "[noisy]").unwrap();
        let written = serde_json::to_value(&plain.models["lr"]).unwrap();
        assert!(written.get("test_copies").is_none(), "{written}");

        let err = with(mlp, "[none, noisy]").unwrap_err().to_string();
        assert!(err.contains("models.lr has test_copies: true"), "{err}");
        // A classic model too, when it has probabilities.
        with(
            "lr: {kind: logistic_regression, test_copies: true}",
            "[noisy]",
        )
        .unwrap();
        with(
            "lr: {kind: svm, probability: true, test_copies: true}",
            "[noisy]",
        )
        .unwrap();
        let err = with("lr: {kind: svm, test_copies: true}", "[noisy]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("only with probability: true"), "{err}");
        let online = "lr: {kind: mlp, epochs: 1, normalize: speaker_online, test_copies: true}";
        let err = with(online, "[noisy]").unwrap_err().to_string();
        assert!(err.contains("speaker_online together"), "{err}");
        let grid = "lr: {kind: mlp, epochs: 1, test_copies: true, grid: {normalize: [speaker, speaker_online]}}";
        assert!(with(grid, "[noisy]").is_err());
        let err = with("lr: {kind: mlp, test_copies: 1}", "[noisy]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected true or false"), "{err}");
    }

    /// The shipped pipelines parse, and the full-strength one differs from
    /// the default only in the deep models' settings, the networks it alone
    /// trains (the default leaves cnn_transformer, cnn1d_raw and cnn1d on
    /// acoustic frames to it), its matrix across corpora (left out where
    /// only RAVDESS is present) and the acoustic set's deltas (every
    /// acoustic cell's there, the pool's acoustic members' alone here, as
    /// `acoustic_deltas`); deep_validated's pool is the same in both: the
    /// MLPs and two classic models that hold out the same speakers
    /// (benches/shared_seed_pool.sh, classic_members.sh, full_shared_pool.sh),
    /// with the same augmentations (benches/stretch_copies.sh).
    #[test]
    fn shipped_pipelines_are_valid() {
        const FULL_ONLY: [&str; 2] = ["cnn_transformer", "cnn1d_raw"];
        const FULL_ONLY_CELL: &str = "acoustic/none/cnn1d";
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let default = Pipeline::load(&root.join("pipeline.yaml"), &[])
            .unwrap()
            .config;
        let full = Pipeline::load(&root.join("pipeline-full.yaml"), &[])
            .unwrap()
            .config;
        assert_eq!(default.experiments.len(), 8);
        for name in FULL_ONLY {
            assert!(!default.models.contains_key(name) && full.models.contains_key(name));
        }
        // The default's names in the full pipeline's: its acoustic set with
        // deltas is pipeline-full's acoustic set (the same extract keys).
        let as_full = |v: serde_json::Value| -> serde_json::Value {
            serde_json::from_str(&v.to_string().replace("acoustic_deltas", "acoustic")).unwrap()
        };
        assert_eq!(
            as_full(serde_json::to_value(&default.feature_unions).unwrap()),
            serde_json::to_value(&full.feature_unions).unwrap()
        );
        // One extraction but the acoustic set's deltas: every acoustic cell's
        // in pipeline-full.yaml (benches/deltas_pool.sh), deep_validated's
        // acoustic members' alone in pipeline.yaml (benches/deltas_budget.sh).
        assert_eq!(default.extract, full.extract);
        assert!(default.extract_per_set.is_empty());
        assert!(full.feature_variants.is_empty());
        let variant = &default.feature_variants["acoustic_deltas"];
        assert_eq!(default.feature_variants.len(), 1);
        assert_eq!((variant.of.as_str(), variant.deltas), ("acoustic", Some(1)));
        let deltas = SetExtract {
            deltas: variant.deltas,
            functionals: variant.functionals.clone(),
        };
        assert_eq!(
            full.extract_per_set,
            BTreeMap::from([("acoustic".to_string(), deltas)])
        );
        // The copy members' copies: pool members of both must be the same cells.
        assert_eq!(default.augmentations, full.augmentations);
        let full_only = |v: &serde_json::Value| {
            v.as_str().is_some_and(|s| {
                s == FULL_ONLY_CELL || FULL_ONLY.contains(&s.rsplit('/').next().unwrap_or(s))
            })
        };
        let mut single_corpus = Vec::new();
        for m in full.experiments.iter().filter(|m| {
            m.protocols.iter().all(|p| p != "leave_one_corpus_out")
                && !(m.features == ["acoustic"] && m.models == ["cnn1d"])
        }) {
            let mut m = serde_json::to_value(m).unwrap();
            m["models"]
                .as_array_mut()
                .unwrap()
                .retain(|v| !full_only(v));
            if !m["models"].as_array().unwrap().is_empty() {
                single_corpus.push(m);
            }
        }
        assert_eq!(
            as_full(serde_json::to_value(&default.experiments).unwrap()),
            serde_json::Value::Array(single_corpus)
        );
        assert!(!default.ensembles.is_empty());
        let mut full_ensembles = serde_json::to_value(&full.ensembles).unwrap();
        for (_, e) in full_ensembles.as_object_mut().unwrap() {
            e["members"]
                .as_array_mut()
                .unwrap()
                .retain(|v| !full_only(v));
        }
        assert_eq!(
            as_full(serde_json::to_value(&default.ensembles).unwrap()),
            full_ensembles
        );
        // Every member holds out the speakers of seeds 0 to 4: the MLPs'
        // five networks, the classic models' five validation fits.
        for config in [&default, &full] {
            let shares_seeds = config.ensembles["deep_validated"].members.iter().all(|m| {
                config.member_model(m).is_some_and(|e| match e.spec.deep() {
                    Some(deep) => {
                        deep.kind.name() == "mlp"
                            && (deep.params.seed, deep.params.networks) == (0, 5)
                    }
                    None => e.held_out.is_some_and(|h| (h.seed, h.seeds) == (0, 5)),
                })
            });
            assert!(shares_seeds);
        }
        for (name, entry) in &default.models {
            let other = &full.models[name];
            if entry.spec.deep().is_none() {
                assert_eq!(entry.spec, other.spec, "{name}");
                assert_eq!(entry.normalize, other.normalize, "{name}");
            } else {
                assert_eq!(entry.spec.kind(), other.spec.kind(), "{name}");
            }
        }
    }

    #[test]
    fn keep_best_over_grid_and_plain_members_is_a_caveat() {
        let yaml = BASE
            .replace(
                "models:\n  lr:",
                "models:\n  a: {kind: mlp, epochs: 1}\n  b: {kind: mlp, epochs: 1, grid: {hidden: [4, 8]}}\n  c: {kind: mlp, epochs: 1, grid: {hidden: [4, 8]}}\n  lr:",
            )
            .replace("models: [lr]", "models: [lr, a, b, c]");
        let with = |members: &str| {
            parse(
                &format!(
                    "{yaml}ensembles:\n  e: {{members: [{members}], keep_best: 1, protocols: [six]}}\n"
                ),
                &[],
            )
            .unwrap()
        };
        let mixed = with("mfcc/none/a, mfcc/none/b").member_choice_caveats();
        assert_eq!(mixed.len(), 1, "{mixed:?}");
        assert!(
            mixed[0].contains("ensembles.e.keep_best ranks 1 grid model(s) (mfcc/none/b) beside 1"),
            "{mixed:?}"
        );
        assert!(
            with("mfcc/none/b, mfcc/none/c")
                .member_choice_caveats()
                .is_empty()
        );
        // choose scores a grid on the validation rows that chose its point.
        let forward = parse(
            &format!(
                "{yaml}ensembles:\n  e: {{members: [mfcc/none/a, mfcc/none/b], choose: forward, \
                 protocols: [six]}}\n"
            ),
            &[],
        )
        .unwrap()
        .member_choice_caveats();
        assert!(
            forward.len() == 1 && forward[0].contains("ensembles.e.choose ranks 1 grid model(s)"),
            "{forward:?}"
        );
        // The shipped pipelines rank like with like.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for file in ["pipeline.yaml", "pipeline-full.yaml"] {
            let config = Pipeline::load(&root.join(file), &[]).unwrap().config;
            assert!(config.member_choice_caveats().is_empty(), "{file}");
        }
    }

    #[test]
    fn experiments_may_be_a_list_and_inputs_must_fit_models() {
        let list = BASE.replace(
            "experiments:\n  features: [mfcc]\n  models: [lr]\n  protocols: [six]\n",
            "experiments:\n  - {features: [mfcc], models: [lr], protocols: [six]}\n  - {features: [logmel], models: [cnn], protocols: [six]}\n",
        )
        .replace("models:\n  lr:", "models:\n  cnn: {kind: cnn2d, epochs: 2}\n  lr:");
        let c = parse(&list, &[]).unwrap();
        assert_eq!(c.experiments.len(), 2);
        let err = parse(
            &list.replace("features: [logmel]", "features: [waveform]"),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("experiments[1]: model cnn cannot read feature set waveform"),
            "{err}"
        );
        let err = parse(
            &list.replace(
                "cnn: {kind: cnn2d, epochs: 2}",
                "cnn: {kind: cnn2d, epochs: 2, dropout: 1.5}",
            ),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("models.cnn: dropout 1.5"), "{err}");
        // A deep grid is chosen on validation speakers: it needs some, and
        // every point must be a valid network.
        parse(
            &list.replace(
                "cnn: {kind: cnn2d, epochs: 2}",
                "cnn: {kind: cnn2d, grid: {epochs: [1, 2]}}",
            ),
            &[],
        )
        .unwrap();
        let err = parse(
            &list.replace(
                "cnn: {kind: cnn2d, epochs: 2}",
                "cnn: {kind: cnn2d, validation_speakers: 0, grid: {epochs: [1, 2]}}",
            ),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("models.cnn.grid") && err.contains("validation_speakers"),
            "{err}"
        );
        let err = parse(
            &list.replace(
                "cnn: {kind: cnn2d, epochs: 2}",
                "cnn: {kind: cnn2d, grid: {dropout: [0.1, 1.5]}}",
            ),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("models.cnn.grid") && err.contains("dropout"),
            "{err}"
        );
        // A typo inside a listed matrix still names its place.
        let err = parse(
            &list.replace("- {features: [logmel]", "- {feature: [logmel]"),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `feature`"), "{err}");
    }

    #[test]
    fn matrix_names_must_exist() {
        let text = BASE.replace("models: [lr]", "models: [lr, svm]");
        let err = parse(&text, &[]).unwrap_err().to_string();
        assert!(
            err.contains("experiments.models: 'svm' is not defined (known: lr)"),
            "{err}"
        );
        let text = BASE.replace("features: [mfcc]", "features: [wav2vec]");
        assert!(
            parse(&text, &[])
                .unwrap_err()
                .to_string()
                .contains("known: acoustic, mfcc, logmel, spectral")
        );
    }
}
