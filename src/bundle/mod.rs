//! Model bundles: one `.sermodel` file that predicts on new audio with
//! nothing else at hand (no cache, no pipeline.yaml).
//!
//! A bundle is a tar archive: `manifest.json` (plain JSON, readable without
//! ser: see [`Manifest`]) and, per fitted model it holds, the model's JSON
//! (`model-<i>.json`: a classic model with its standardiser, or a network's
//! settings and input normaliser) and a network's weights (`weights-<i>.bpk`,
//! burn's record format). The manifest lists every other file's BLAKE3
//! digest; a bundle whose files do not match, or whose format is newer than
//! this ser reads, is refused.
//!
//! The manifest's `parts` are the models whose predictions make the
//! bundle's: one experiment's (a fold's model or networks, several folds'
//! models, or a final model), or an ensemble's members, combined as the
//! ensemble node combines them (`combine`).
//!
//! [`Predictor`] is a loaded bundle: audio goes through the pipeline's own
//! decoding, resampling ([`ser_ingest::load_signal`]) and feature
//! extraction ([`ser_extract::Extractor`], with each part's parameters as
//! the bundle records them), then each part's selected columns and models;
//! a part's several models are averaged.

pub mod read;
pub mod write;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use ser_deep::TrainedNet;
use ser_extract::{Descriptor, ExtractParams, Extractor};
use ser_learn::{Example, Fitted, Input, Rows};
use ser_train::{
    FeatureNormalize, OnlineSpeakerNormaliser, SpeakerNormaliser, Standardiser, TrainedModel,
};

/// The newest bundle format this ser reads and writes. 2: a part may
/// read a feature union ([`Features::union`]). 3: an ensemble's classic
/// parts take part with their probabilities (the SVM, which has none, as
/// one vote), as the ensemble node combines them since its classic members'
/// predictions carry probabilities; in formats 1 and 2 they are one vote
/// each, as they were then. 4: an SVM part may have probabilities
/// (`probability: true`), and a network may predict long inputs by several
/// windows (`test_windows: cover`), which a reader of format 3 would not
/// know to use. 5: a part may predict each recording with its augmented
/// copies ([`Part::test_copies`]). A bundle is written in the
/// oldest format that holds it, so older sers read it.
pub const FORMAT_VERSION: u32 = 5;

/// The format of a bundle with these parts (`ensemble_with_classic`: an
/// ensemble with a classic part): the oldest that holds them.
pub fn format_for(parts: &[Part], ensemble_with_classic: bool) -> u32 {
    let needs_format_4 = |p: &Part| {
        let setting = |key: &str| p.model.get(key).cloned().unwrap_or_default();
        (setting("kind") == "svm" && setting("probability") == true)
            || setting("test_windows") == "cover"
    };
    if parts.iter().any(|p| p.test_copies.is_some()) {
        5
    } else if parts.iter().any(needs_format_4) {
        4
    } else if ensemble_with_classic {
        3
    } else if parts.iter().any(|p| !p.features.union.is_empty()) {
        2
    } else {
        1
    }
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    /// The ser that wrote it.
    pub ser_version: String,
    /// As `ser metrics` names it, e.g. `egemaps/none/svm` or
    /// `ensemble/mean/deep`.
    pub experiment: String,
    pub protocol: String,
    /// Label names, in the order of every `p_<label>` column.
    pub classes: Vec<String>,
    /// The rate every recording is resampled to.
    pub sample_rate: u32,
    /// The models whose predictions make the bundle's: one, or an
    /// ensemble's members.
    pub parts: Vec<Part>,
    /// How an ensemble's parts combine.
    pub combine: Option<EnsembleCombine>,
    /// The experiment's cross-validated metrics, when it was evaluated.
    pub metrics: Option<CrossValidated>,
    /// BLAKE3 of every other file in the bundle.
    pub files: BTreeMap<String, String>,
}

/// One model of the bundle: an experiment's fold model(s), with what it
/// reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Part {
    pub experiment: String,
    pub features: Features,
    /// What the model reads.
    pub input: Input,
    /// The model's settings as pipeline.yaml has them (`kind` and its
    /// parameters, `normalize` for a classic model when set).
    pub model: Value,
    /// How its inputs are scaled per speaker: `global` (not), `speaker`
    /// (by each speaker's statistics, from that speaker's recordings in
    /// the batch) or `speaker_online` (by the speaker's recordings so far,
    /// shrunk towards the training set's statistics).
    #[serde(default)]
    pub normalize: FeatureNormalize,
    /// Its fitted models (a fold's networks, or several folds' models);
    /// their probabilities are averaged (their votes counted when they
    /// have none).
    pub members: Vec<Member>,
    /// Where its training data came from (cache digests).
    pub training: Training,
    /// For a model scaled by speaker, exported from folds with test
    /// speakers: its UA on those test utterances with their speakers'
    /// statistics (as the pipeline scored it) and with the training set's
    /// global statistics instead (what `ser predict` does for files of no
    /// known speaker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub without_speakers: Option<FallbackCost>,
    /// For a model with `test_copies: true`: the copies each recording is
    /// predicted with (its probabilities the mean of its own and theirs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_copies: Option<TestCopies>,
}

/// The augmentation a part's recordings are copied by at prediction time:
/// the experiment's, as pipeline.yaml gave it. Each copy's random draws
/// are seeded from `seed`, the recording's id as `ser predict` names it (its
/// path, or path#start for a window) and the copy's index, as the pipeline
/// seeds them from the corpus's utterance ids: transforms that draw nothing
/// (pitch shift, time stretch, speed) give the pipeline's copies, noisy
/// ones another draw at the same level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestCopies {
    pub copies: Vec<ser_augment::Augmentation>,
    pub seed: u64,
}

/// What scaling by the training set's statistics instead of a speaker's
/// own costs, measured on the exported folds' test utterances.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FallbackCost {
    pub n_test: usize,
    pub ua_with_speakers: f64,
    pub ua_without_speakers: f64,
}

/// An ensemble's combination of its parts (as its node combines them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnsembleCombine {
    pub mode: ser_train::ensemble::Combine,
    /// One per part; equal when absent.
    pub weights: Option<Vec<f64>>,
}

/// The feature set, with every parameter its numbers depend on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Features {
    /// The set's name (`acoustic`, `egemaps`, ... or `waveform`).
    pub set: String,
    pub descriptors: Vec<Descriptor>,
    pub sample_rate: u32,
    pub extract: ExtractParams,
    /// The extract stage's code version the model was trained on.
    pub extract_code_version: u32,
    /// Shorter signals (in samples at `sample_rate`) are refused, as the
    /// pipeline's extract node refused them.
    pub min_samples: usize,
    /// For a feature union (`set` is its name, `descriptors` empty): its
    /// parts, each a feature set as above, whose functionals are read side
    /// by side as `<set>:<column>`, as the pipeline's join node has them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub union: Vec<Features>,
}

impl Features {
    /// The feature sets an extractor is made for: a union's parts, else
    /// this set.
    fn sets(&self) -> Vec<&Features> {
        if self.union.is_empty() {
            vec![self]
        } else {
            self.union.iter().collect()
        }
    }

    /// One extractor per set of [`Features::sets`].
    fn extractors(&self) -> anyhow::Result<Vec<Extractor>> {
        self.sets()
            .into_iter()
            .map(|f| Ok(Extractor::new(f.sample_rate, &f.extract, &f.descriptors)?))
            .collect()
    }

    /// The names of the functionals, in the order the extractors give
    /// them (a union's as its join node names them).
    fn functional_names(&self) -> anyhow::Result<Vec<String>> {
        let mut names = Vec::new();
        for (set, extractor) in self.sets().into_iter().zip(self.extractors()?) {
            let own = extractor.functional_names();
            if self.union.is_empty() {
                names.extend(own);
            } else {
                names.extend(
                    own.iter()
                        .map(|n| crate::artifact::features::union_column(&set.set, n)),
                );
            }
        }
        Ok(names)
    }
}

/// One fold model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub fold: String,
    /// The fitted model's JSON file.
    pub model: String,
    /// A network's weights file.
    pub weights: Option<String>,
    /// The feature columns it reads, in order (the fold's selection, or
    /// every functional); empty for frame and waveform models.
    pub columns: Vec<String>,
    pub n_train: usize,
    /// Its training rows' statistics (mean and deviation per input
    /// column), for a model scaled by speaker: the scale of a recording
    /// whose speaker is not known (`speaker`), or the prior a new
    /// speaker's recordings are shrunk towards (`speaker_online`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_statistics: Option<Standardiser>,
}

/// An experiment's metrics over a protocol's test folds (for a final
/// model, protocol `all`, those of the same experiment on another
/// protocol).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrossValidated {
    /// The protocol these numbers are from.
    pub protocol: String,
    pub ua: f64,
    pub wa: f64,
    pub macro_f1: f64,
    /// 95% bootstrap intervals over `ci_unit`s.
    pub ua_ci: [f64; 2],
    pub wa_ci: [f64; 2],
    pub ci_unit: ser_evaluate::metrics::Unit,
    pub n_test: usize,
}

/// Digests of what the models were trained on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Training {
    /// The train node and its cache key.
    pub node: String,
    pub key: String,
    /// The digests of its inputs (`role.output` -> cache object: the
    /// feature table, the folds, the selection, augmented copies).
    pub inputs: BTreeMap<String, String>,
}

/// A bundle as read from disk, checked.
pub struct Bundle {
    pub manifest: Manifest,
    pub files: BTreeMap<String, Vec<u8>>,
}

/// A fitted member, ready to predict.
enum Model {
    Classic(Box<TrainedModel>),
    Deep {
        net: Box<TrainedNet>,
        /// For a net scaled by speaker: the same net scaled by its
        /// training set's global statistics, for recordings of no known
        /// speaker.
        without_speakers: Option<Box<TrainedNet>>,
    },
}

struct LoadedMember {
    model: Model,
    /// Positions of the member's columns among the extractor's functionals.
    columns: Vec<usize>,
    global_statistics: Option<Standardiser>,
}

struct LoadedPart {
    experiment: String,
    /// Classic models in a bundle of format 1 or 2: an ensemble counts
    /// their votes (one-hot), as its node did then, whether or not they
    /// have probabilities.
    votes_in_ensemble: bool,
    input: Input,
    normalize: FeatureNormalize,
    min_samples: usize,
    members: Vec<LoadedMember>,
    test_copies: Option<TestCopies>,
}

/// What a bundle says about one recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub duration_s: f64,
    /// Index into the manifest's classes.
    pub class: usize,
    /// Class probabilities, for models that have them (an ensemble's
    /// combined scores).
    pub probabilities: Option<Vec<f32>>,
}

/// What each part of a bundle reads of one recording, as the pipeline's
/// extract node makes it.
pub struct Extracted {
    pub duration_s: f64,
    /// One per part.
    pub inputs: Vec<PartInput>,
    /// One list per part: its augmented copies' inputs (empty for a part
    /// without `test_copies`).
    pub copies: Vec<Vec<PartInput>>,
}

pub enum PartInput {
    /// Every functional of the part's feature set.
    Functionals(Vec<f32>),
    /// Frames (or samples) x dims.
    Sequence { example: Example, dims: usize },
}

/// Whose recordings a batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker<'a> {
    /// One speaker's: a model scaled by speaker takes its statistics from
    /// them.
    Known(&'a str),
    /// Each recording its own, unknown speaker's.
    Unknown,
}

/// A loaded bundle.
pub struct Predictor {
    pub manifest: Manifest,
    parts: Vec<LoadedPart>,
}

/// The feature extractors of each part (one per set of a union, none for
/// a waveform model): each thread makes its own with
/// [`Predictor::extractors`].
pub struct Extractors(Vec<Vec<Extractor>>);

impl Predictor {
    pub fn open(path: &Path) -> anyhow::Result<Predictor> {
        Predictor::new(read::read(path)?)
    }

    pub fn new(bundle: Bundle) -> anyhow::Result<Predictor> {
        let Bundle { manifest, files } = bundle;
        anyhow::ensure!(!manifest.parts.is_empty(), "the bundle holds no model");
        let file = |name: &str| -> anyhow::Result<&Vec<u8>> {
            files
                .get(name)
                .ok_or_else(|| anyhow::anyhow!("the bundle has no {name}"))
        };
        let mut parts = Vec::with_capacity(manifest.parts.len());
        for part in &manifest.parts {
            let f = &part.features;
            anyhow::ensure!(
                f.sample_rate == manifest.sample_rate,
                "{}: features at {} Hz in a {} Hz bundle",
                part.experiment,
                f.sample_rate,
                manifest.sample_rate
            );
            let names = match part.input {
                Input::Functionals => f.functional_names()?,
                Input::Frames | Input::Waveform => Vec::new(),
            };
            let mut members = Vec::with_capacity(part.members.len());
            for m in &part.members {
                let json = file(&m.model)?;
                let model = match &m.weights {
                    None => {
                        Model::Classic(Box::new(serde_json::from_slice(json).map_err(|e| {
                            anyhow::anyhow!("{}: not a classic model: {e}", m.model)
                        })?))
                    }
                    Some(weights) => {
                        let mut net: TrainedNet = serde_json::from_slice(json)
                            .map_err(|e| anyhow::anyhow!("{}: not a network: {e}", m.model))?;
                        net.weights = file(weights)?.clone();
                        let without_speakers = match (part.normalize, &m.global_statistics) {
                            (FeatureNormalize::Speaker, Some(g)) => {
                                let mut global = net.clone();
                                global.normaliser = ser_deep::Normaliser {
                                    mode: ser_deep::Normalize::Global,
                                    mean: g.mean.iter().map(|&v| v as f32).collect(),
                                    std: g.scale.iter().map(|&v| v as f32).collect(),
                                    prior_frames: 0.0,
                                };
                                Some(Box::new(global))
                            }
                            _ => None,
                        };
                        Model::Deep {
                            net: Box::new(net),
                            without_speakers,
                        }
                    }
                };
                let columns = m
                    .columns
                    .iter()
                    .map(|c| {
                        names.iter().position(|n| n == c).ok_or_else(|| {
                            anyhow::anyhow!(
                                "{} fold {}: column {c} is not a functional of {}",
                                part.experiment,
                                m.fold,
                                f.set
                            )
                        })
                    })
                    .collect::<anyhow::Result<_>>()?;
                members.push(LoadedMember {
                    model,
                    columns,
                    global_statistics: m.global_statistics.clone(),
                });
            }
            anyhow::ensure!(!members.is_empty(), "{}: no fitted model", part.experiment);
            parts.push(LoadedPart {
                experiment: part.experiment.clone(),
                votes_in_ensemble: manifest.format_version < 3
                    && members.iter().all(|m| matches!(m.model, Model::Classic(_))),
                input: part.input,
                normalize: part.normalize,
                min_samples: f.min_samples,
                members,
                test_copies: part.test_copies.clone(),
            });
        }
        Ok(Predictor { manifest, parts })
    }

    /// Whether a part scales its inputs by speaker, so that a batch's
    /// speakers matter.
    pub fn by_speaker(&self) -> bool {
        self.parts
            .iter()
            .any(|p| p.normalize != FeatureNormalize::Global)
    }

    /// Extractors for the parts' feature sets.
    pub fn extractors(&self) -> anyhow::Result<Extractors> {
        let made = self
            .manifest
            .parts
            .iter()
            .map(|p| match p.input {
                Input::Waveform => Ok(Vec::new()),
                _ => p.features.extractors(),
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Extractors(made))
    }

    /// Decode and resample one encoded file to the bundle's rate.
    pub fn decode(&self, bytes: &[u8]) -> Result<Vec<f32>, String> {
        ser_ingest::load_signal(bytes, self.manifest.sample_rate)
            .map(|s| s.samples)
            .map_err(|e| e.to_string())
    }

    /// What every part reads of a signal at the bundle's rate (`id`: the
    /// recording's, which seeds its copies' random draws).
    pub fn extract(
        &self,
        id: &str,
        samples: &[f32],
        extractors: &mut Extractors,
    ) -> Result<Extracted, String> {
        let mut inputs = Vec::with_capacity(self.parts.len());
        let mut copies = Vec::with_capacity(self.parts.len());
        for (part, extractor) in self.parts.iter().zip(&mut extractors.0) {
            ser_extract::check_signal(samples, part.min_samples).map_err(|e| e.to_string())?;
            inputs.push(part_input(part, extractor, samples)?);
            let mut part_copies = Vec::new();
            if let Some(test_copies) = &part.test_copies {
                for (c, transform) in test_copies.copies.iter().enumerate() {
                    let seed = ser_augment::derive_seed(test_copies.seed, id, c);
                    let copy = ser_augment::apply(
                        transform,
                        samples,
                        self.manifest.sample_rate,
                        seed,
                        &[],
                    )
                    .map_err(|e| format!("test copy {c}: {e}"))?;
                    part_copies.push(
                        part_input(part, extractor, &copy)
                            .map_err(|e| format!("test copy {c}: {e}"))?,
                    );
                }
            }
            copies.push(part_copies);
        }
        Ok(Extracted {
            duration_s: samples.len() as f64 / f64::from(self.manifest.sample_rate),
            inputs,
            copies,
        })
    }

    /// Predictions for a batch of recordings (`rows`: an id, which orders
    /// a speaker's recordings for `speaker_online`, and what was
    /// extracted), all of `speaker`.
    pub fn predict(
        &self,
        rows: &[(&str, &Extracted)],
        speaker: Speaker<'_>,
    ) -> Result<Vec<Prediction>, String> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let classes = self.manifest.classes.len();
        let mut scores: Vec<Vec<Vote>> = Vec::with_capacity(self.parts.len());
        for (k, part) in self.parts.iter().enumerate() {
            scores.push(predict_part(part, k, rows, speaker, classes)?);
        }
        let duration = |i: usize| rows[i].1.duration_s;
        if scores.len() == 1 {
            let part = scores.pop().expect("one part");
            return Ok(part
                .into_iter()
                .enumerate()
                .map(|(i, (class, probabilities))| Prediction {
                    duration_s: duration(i),
                    class,
                    probabilities,
                })
                .collect());
        }
        // As the ensemble node combines its members: probabilities, or a
        // one-hot row for a member without.
        let members: Vec<Vec<Vec<f64>>> = scores
            .iter()
            .zip(&self.parts)
            .map(|(scores, part)| {
                scores
                    .iter()
                    .map(|(class, p)| match p {
                        Some(p) if !part.votes_in_ensemble => {
                            p.iter().map(|&v| f64::from(v)).collect()
                        }
                        _ => ser_train::ensemble::one_hot(*class, classes),
                    })
                    .collect()
            })
            .collect();
        let combine = self.manifest.combine.as_ref();
        let combined = ser_train::ensemble::combine(
            &members,
            combine.and_then(|c| c.weights.as_deref()),
            combine.map_or_else(Default::default, |c| c.mode),
        )
        .map_err(|e| e.to_string())?;
        Ok((0..rows.len())
            .map(|i| Prediction {
                duration_s: duration(i),
                class: combined.predicted[i],
                probabilities: Some(combined.scores[i].iter().map(|&v| v as f32).collect()),
            })
            .collect())
    }

    /// Predict one signal of an unknown speaker.
    pub fn predict_signal(
        &self,
        samples: &[f32],
        extractors: &mut Extractors,
    ) -> Result<Prediction, String> {
        let extracted = self.extract("", samples, extractors)?;
        let mut p = self.predict(&[("", &extracted)], Speaker::Unknown)?;
        Ok(p.remove(0))
    }
}

/// What one part reads of a signal, as the pipeline's extract node makes it.
fn part_input(
    part: &LoadedPart,
    extractor: &mut [Extractor],
    samples: &[f32],
) -> Result<PartInput, String> {
    let no_extractor = || "no feature extractor for this part".to_string();
    Ok(match part.input {
        Input::Functionals => {
            if extractor.is_empty() {
                return Err(no_extractor());
            }
            // A union's sets side by side, as its join node has them.
            let mut values = Vec::new();
            for set in extractor.iter_mut() {
                values.extend(set.functionals(samples).map_err(|e| e.to_string())?);
            }
            if let Some(j) = values.iter().position(|v| !v.is_finite()) {
                return Err(format!("feature {j} is {}", values[j]));
            }
            PartInput::Functionals(values)
        }
        Input::Frames => {
            let frames = extractor
                .first_mut()
                .ok_or_else(no_extractor)?
                .frames(samples)
                .map_err(|e| e.to_string())?;
            let (n, dims) = frames.values.dim();
            let values: Vec<f32> = frames.values.into_iter().collect();
            PartInput::Sequence {
                example: Example::new(values, n),
                dims,
            }
        }
        Input::Waveform => PartInput::Sequence {
            example: Example::new(samples.to_vec(), samples.len()),
            dims: 1,
        },
    })
}

/// A model's class for one recording, and its probabilities when it has
/// them.
type Vote = (usize, Option<Vec<f32>>);

/// One part's class and probabilities for each row.
fn predict_part(
    part: &LoadedPart,
    k: usize,
    rows: &[(&str, &Extracted)],
    speaker: Speaker<'_>,
    classes: usize,
) -> Result<Vec<Vote>, String> {
    let n = rows.len();
    let ids: Vec<String> = rows.iter().map(|(id, _)| id.to_string()).collect();
    // Unknown speakers: every row its own, so none informs another's scale.
    let speakers: Vec<String> = match speaker {
        Speaker::Known(s) => vec![s.to_string(); n],
        Speaker::Unknown => (0..n).map(|i| format!("\0unknown {i}")).collect(),
    };
    // What every member predicts: the rows, then with `test_copies` each
    // row's copies under the row's speaker, so a network's speaker
    // statistics cover both in one batch, as the train node takes them;
    // `groups[i]` is row i and its copies, whose probabilities are averaged.
    let mut inputs: Vec<&PartInput> = rows.iter().map(|(_, e)| &e.inputs[k]).collect();
    let mut input_speakers = speakers.clone();
    let groups: Option<Vec<Vec<usize>>> = part.test_copies.as_ref().map(|_| {
        let mut groups: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
        for (i, (_, extracted)) in rows.iter().enumerate() {
            for copy in &extracted.copies[k] {
                groups[i].push(inputs.len());
                inputs.push(copy);
                input_speakers.push(speakers[i].clone());
            }
        }
        groups
    });
    let no_statistics = || {
        format!(
            "{}: scaled by speaker, and the bundle has no training statistics for recordings of \
             unknown speakers",
            part.experiment
        )
    };
    // Every functional of every input, once for the part's classic
    // members, scaled as the train node scaled every column before
    // selection when the scale does not depend on the member (a known
    // speaker's own, from the recorded rows alone, as the train node
    // takes it from recorded utterances).
    let mut matrix = None;
    if part
        .members
        .iter()
        .any(|m| matches!(m.model, Model::Classic(_)))
    {
        let width = match inputs.first() {
            Some(PartInput::Functionals(v)) => v.len(),
            _ => 0,
        };
        let mut x = ndarray::Array2::<f64>::zeros((inputs.len(), width));
        for (mut row, input) in x.rows_mut().into_iter().zip(&inputs) {
            let PartInput::Functionals(values) = input else {
                return Err(format!("{}: no functionals extracted", part.experiment));
            };
            for (v, &f) in row.iter_mut().zip(values) {
                *v = f64::from(f);
            }
        }
        if let (FeatureNormalize::Speaker, Speaker::Known(_)) = (part.normalize, speaker) {
            let recorded = x.slice(ndarray::s![..n, ..]);
            x = SpeakerNormaliser::fit(recorded, &speakers).transform(x.view(), &input_speakers)?;
        }
        matrix = Some(x);
    }
    let mut votes: Vec<Vec<Vote>> = vec![Vec::new(); n];
    for member in &part.members {
        let predicted = match &member.model {
            Model::Classic(m) => {
                let x = matrix.as_ref().expect("built above for classic members");
                // The training set's statistics: the member's own.
                let scaled;
                let x = match (part.normalize, speaker) {
                    (FeatureNormalize::Global, _)
                    | (FeatureNormalize::Speaker, Speaker::Known(_)) => x,
                    (FeatureNormalize::Speaker, Speaker::Unknown) => {
                        scaled = member
                            .global_statistics
                            .as_ref()
                            .ok_or_else(no_statistics)?
                            .transform(x.view());
                        &scaled
                    }
                    (FeatureNormalize::Corpus, _) => {
                        return Err("the bundle's model uses normalize: corpus, which needs \
                                    each file's corpus statistics; export refuses such models"
                            .into());
                    }
                    (FeatureNormalize::SpeakerOnline, _) => {
                        if groups.is_some() {
                            return Err(format!(
                                "{}: test_copies with normalize: speaker_online",
                                part.experiment
                            ));
                        }
                        scaled = OnlineSpeakerNormaliser {
                            prior: member.global_statistics.clone().ok_or_else(no_statistics)?,
                            prior_weight: OnlineSpeakerNormaliser::PRIOR_WEIGHT,
                        }
                        .transform(x.view(), &speakers, &ids);
                        &scaled
                    }
                };
                let x = x.select(ndarray::Axis(1), &member.columns);
                Fitted::predict(&**m, Rows::Matrix(x.view()), &input_speakers)
                    .map_err(|e| e.to_string())?
            }
            Model::Deep {
                net,
                without_speakers,
            } => {
                let net = match (part.normalize, speaker) {
                    (FeatureNormalize::Speaker, Speaker::Unknown) => {
                        without_speakers.as_ref().ok_or_else(no_statistics)?
                    }
                    _ => net,
                };
                // An input as this member reads it: its columns of the
                // functionals, or the frames (samples) as they are.
                let mut dims = 1;
                let mut examples = Vec::with_capacity(inputs.len());
                for input in &inputs {
                    let (example, d) = match (part.input, input) {
                        (Input::Functionals, PartInput::Functionals(f)) => (
                            Example::new(member.columns.iter().map(|&c| f[c]).collect(), 1),
                            member.columns.len(),
                        ),
                        (
                            Input::Frames | Input::Waveform,
                            PartInput::Sequence { example, dims },
                        ) => (example.clone(), *dims),
                        _ => return Err(format!("{}: not what the model reads", part.experiment)),
                    };
                    examples.push(example);
                    dims = d;
                }
                Fitted::predict(
                    &**net,
                    Rows::Sequences {
                        examples: &examples,
                        dims,
                    },
                    &input_speakers,
                )
                .map_err(|e| e.to_string())?
            }
        };
        // With copies: each row's mean over itself and its copies.
        let predicted = match &groups {
            None => predicted,
            Some(groups) => {
                let probabilities = predicted.probabilities.ok_or_else(|| {
                    format!("{}: test_copies, but no probabilities", part.experiment)
                })?;
                ser_learn::Predictions::mean_of_groups(&probabilities, groups)
            }
        };
        // A classic model's columns end at the largest class it saw.
        let mut probabilities = predicted.probabilities.map(|p| {
            p.into_iter().map(|mut row| {
                row.resize(classes, 0.0);
                row
            })
        });
        for (i, class) in predicted.classes.into_iter().enumerate() {
            votes[i].push((class, probabilities.as_mut().and_then(|p| p.next())));
        }
    }
    Ok(votes
        .into_iter()
        .map(|v| {
            let p = combine(v, classes, 0.0);
            (p.class, p.probabilities)
        })
        .collect())
}

/// Windows of `segment` samples every `hop` over `n` samples: from 0 while
/// a whole window fits, then one more ending at the last sample when the
/// tail is not covered; a signal no longer than one window is one window.
pub fn windows(n: usize, segment: usize, hop: usize) -> Vec<std::ops::Range<usize>> {
    if n <= segment || segment == 0 || hop == 0 {
        return std::iter::once(0..n).collect();
    }
    let mut out: Vec<_> = (0..)
        .map(|k| k * hop)
        .take_while(|start| start + segment <= n)
        .map(|start| start..start + segment)
        .collect();
    if out.last().is_some_and(|w| w.end < n) {
        out.push(n - segment..n);
    }
    out
}

/// A recording's prediction from its windows': the mean of their
/// probabilities (or their votes, for models without).
pub fn of_windows(windows: &[&Prediction], classes: usize, duration_s: f64) -> Prediction {
    let votes = windows
        .iter()
        .map(|p| (p.class, p.probabilities.clone()))
        .collect();
    combine(votes, classes, duration_s)
}

/// One member's prediction as it is; several members' probabilities
/// averaged (their votes counted when a member has none), the first of the
/// top classes winning.
fn combine(votes: Vec<Vote>, classes: usize, duration_s: f64) -> Prediction {
    if votes.len() == 1 {
        let (class, probabilities) = votes.into_iter().next().expect("one vote");
        return Prediction {
            duration_s,
            class,
            probabilities,
        };
    }
    let with_probabilities = votes.iter().all(|(_, p)| p.is_some());
    let mut sum = vec![0.0f64; classes];
    for (class, p) in &votes {
        match p {
            Some(p) if with_probabilities => {
                for (s, &v) in sum.iter_mut().zip(p) {
                    *s += f64::from(v);
                }
            }
            _ => sum[*class] += 1.0,
        }
    }
    let n = votes.len() as f64;
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let class = mean
        .iter()
        .enumerate()
        .fold(0, |best, (c, &v)| if v > mean[best] { c } else { best });
    Prediction {
        duration_s,
        class,
        probabilities: with_probabilities.then_some(mean),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_signal_and_end_at_its_last_sample() {
        assert_eq!(windows(10, 4, 2), vec![0..4, 2..6, 4..8, 6..10]);
        assert_eq!(windows(11, 4, 2), vec![0..4, 2..6, 4..8, 6..10, 7..11]);
        assert_eq!(windows(3, 4, 2), vec![0..3]);
        assert_eq!(windows(4, 4, 4), vec![0..4]);
    }

    #[test]
    fn members_average_their_probabilities_or_count_votes() {
        let one = combine(vec![(1, Some(vec![0.3, 0.7]))], 2, 1.0);
        assert_eq!((one.class, one.probabilities), (1, Some(vec![0.3, 0.7])));
        let two = combine(
            vec![(1, Some(vec![0.4, 0.6])), (0, Some(vec![0.9, 0.1]))],
            2,
            1.0,
        );
        assert_eq!(two.class, 0);
        let p = two.probabilities.unwrap();
        assert!((p[0] - 0.65).abs() < 1e-6 && (p[1] - 0.35).abs() < 1e-6);
        // Without probabilities: votes, a tie to the first class.
        let votes = combine(vec![(2, None), (1, None), (2, None)], 3, 1.0);
        assert_eq!((votes.class, votes.probabilities), (2, None));
        assert_eq!(combine(vec![(1, None), (0, None)], 2, 1.0).class, 0);
    }
}
