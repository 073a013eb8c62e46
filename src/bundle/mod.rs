//! Model bundles: one `.sermodel` file that predicts on new audio with
//! nothing else at hand (no cache, no pipeline.yaml).
//!
//! A bundle is a tar archive: `manifest.json` (plain JSON, readable without
//! ser: see [`Manifest`]) and, per fold model it holds, the fitted model's
//! JSON (`model-<i>.json`: a classic model with its standardiser, or a
//! network's settings and input normaliser) and a network's weights
//! (`weights-<i>.bpk`, burn's record format). The manifest lists every
//! other file's BLAKE3 digest; a bundle whose files do not match, or whose
//! format is newer than this ser reads, is refused.
//!
//! [`Predictor`] is a loaded bundle: audio goes through the pipeline's own
//! decoding, resampling ([`ser_ingest::load_signal`]) and feature
//! extraction ([`ser_extract::Extractor`], with the set's parameters as
//! the bundle records them), then the selected columns, then each member
//! model; several members (fold models) are averaged.

pub mod read;
pub mod write;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use ser_deep::TrainedNet;
use ser_extract::{Descriptor, ExtractParams, Extractor};
use ser_learn::{Example, Fitted, Input, Rows};
use ser_train::TrainedModel;

/// The bundle format this ser writes, and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    /// The ser that wrote it.
    pub ser_version: String,
    /// As `ser metrics` names it, e.g. `acoustic/none/svm`.
    pub experiment: String,
    pub protocol: String,
    pub features: Features,
    /// What the model reads.
    pub input: Input,
    /// Label names, in the order of every `p_<label>` column.
    pub classes: Vec<String>,
    /// The model's settings as pipeline.yaml has them (`kind` and its
    /// parameters, `normalize` for a classic model when set).
    pub model: Value,
    /// The fold models in the bundle; their predictions are averaged.
    pub members: Vec<Member>,
    /// The experiment's cross-validated metrics, when it was evaluated.
    pub metrics: Option<CrossValidated>,
    /// Where the training data came from (cache digests).
    pub training: Training,
    /// BLAKE3 of every other file in the bundle.
    pub files: BTreeMap<String, String>,
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
    Deep(Box<TrainedNet>),
}

struct LoadedMember {
    model: Model,
    /// Positions of the member's columns among the extractor's functionals.
    columns: Vec<usize>,
}

/// What a bundle says about one recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub duration_s: f64,
    /// Index into the manifest's classes.
    pub class: usize,
    /// Class probabilities (mean over members), for models that have them.
    pub probabilities: Option<Vec<f32>>,
}

/// A loaded bundle.
pub struct Predictor {
    pub manifest: Manifest,
    members: Vec<LoadedMember>,
}

impl Predictor {
    pub fn open(path: &Path) -> anyhow::Result<Predictor> {
        Predictor::new(read::read(path)?)
    }

    pub fn new(bundle: Bundle) -> anyhow::Result<Predictor> {
        let Bundle { manifest, files } = bundle;
        let names = match manifest.input {
            Input::Functionals => Extractor::new(
                manifest.features.sample_rate,
                &manifest.features.extract,
                &manifest.features.descriptors,
            )?
            .functional_names(),
            Input::Frames | Input::Waveform => Vec::new(),
        };
        let file = |name: &str| -> anyhow::Result<&Vec<u8>> {
            files
                .get(name)
                .ok_or_else(|| anyhow::anyhow!("the bundle has no {name}"))
        };
        let mut members = Vec::with_capacity(manifest.members.len());
        for m in &manifest.members {
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
                    Model::Deep(Box::new(net))
                }
            };
            let columns = m
                .columns
                .iter()
                .map(|c| {
                    names.iter().position(|n| n == c).ok_or_else(|| {
                        anyhow::anyhow!(
                            "fold {}: column {c} is not a functional of {}",
                            m.fold,
                            manifest.features.set
                        )
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            members.push(LoadedMember { model, columns });
        }
        anyhow::ensure!(!members.is_empty(), "the bundle holds no model");
        Ok(Predictor { manifest, members })
    }

    /// An extractor for the bundle's feature set (one per thread).
    pub fn extractor(&self) -> anyhow::Result<Extractor> {
        let f = &self.manifest.features;
        Ok(Extractor::new(f.sample_rate, &f.extract, &f.descriptors)?)
    }

    /// Decode, resample and predict one encoded file.
    pub fn predict_bytes(
        &self,
        bytes: &[u8],
        extractor: &mut Extractor,
    ) -> Result<Prediction, String> {
        let f = &self.manifest.features;
        let signal = ser_ingest::load_signal(bytes, f.sample_rate).map_err(|e| e.to_string())?;
        self.predict_signal(&signal.samples, extractor)
    }

    /// Predict one signal at the bundle's sample rate.
    pub fn predict_signal(
        &self,
        samples: &[f32],
        extractor: &mut Extractor,
    ) -> Result<Prediction, String> {
        let f = &self.manifest.features;
        ser_extract::check_signal(samples, f.min_samples).map_err(|e| e.to_string())?;
        let duration_s = samples.len() as f64 / f64::from(f.sample_rate);
        // What the model reads, as the pipeline's extract node makes it.
        let (example, dims, functionals) = match self.manifest.input {
            Input::Functionals => {
                let values = extractor.functionals(samples).map_err(|e| e.to_string())?;
                if let Some(j) = values.iter().position(|v| !v.is_finite()) {
                    return Err(format!("feature {j} is {}", values[j]));
                }
                (None, 0, values)
            }
            Input::Frames => {
                let frames = extractor.frames(samples).map_err(|e| e.to_string())?;
                let (n, dims) = frames.values.dim();
                let values: Vec<f32> = frames.values.into_iter().collect();
                (Some(Example::new(values, n)), dims, Vec::new())
            }
            Input::Waveform => (
                Some(Example::new(samples.to_vec(), samples.len())),
                1,
                Vec::new(),
            ),
        };
        // Each file is its own speaker: no speaker statistics at prediction time.
        let speaker = ["file".to_string()];
        let mut votes: Vec<(usize, Option<Vec<f32>>)> = Vec::new();
        for member in &self.members {
            let selected: Vec<f32> = member.columns.iter().map(|&c| functionals[c]).collect();
            let predicted = match (&member.model, &example) {
                (Model::Classic(m), _) => {
                    let x = ndarray::Array2::from_shape_fn((1, selected.len()), |(_, j)| {
                        f64::from(selected[j])
                    });
                    Fitted::predict(&**m, Rows::Matrix(x.view()), &speaker)
                        .map_err(|e| e.to_string())?
                }
                (Model::Deep(net), Some(e)) => Fitted::predict(
                    &**net,
                    Rows::Sequences {
                        examples: std::slice::from_ref(e),
                        dims,
                    },
                    &speaker,
                )
                .map_err(|e| e.to_string())?,
                (Model::Deep(net), None) => {
                    let e = Example::new(selected.clone(), 1);
                    Fitted::predict(
                        &**net,
                        Rows::Sequences {
                            examples: std::slice::from_ref(&e),
                            dims: selected.len(),
                        },
                        &speaker,
                    )
                    .map_err(|e| e.to_string())?
                }
            };
            votes.push((
                predicted.classes[0],
                predicted.probabilities.map(|mut p| p.remove(0)),
            ));
        }
        Ok(combine(votes, self.manifest.classes.len(), duration_s))
    }
}

/// Windows of `segment` samples every `hop` over `n` samples: from 0 while
/// a whole window fits, then one more ending at the last sample when the
/// tail is not covered; a signal no longer than one window is one window.
pub fn windows(n: usize, segment: usize, hop: usize) -> Vec<std::ops::Range<usize>> {
    if n <= segment || segment == 0 || hop == 0 {
        return vec![0..n];
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

impl Predictor {
    /// Predict each window of a signal, and the file as the mean of its
    /// windows' probabilities (or their votes, for models without).
    pub fn predict_windows(
        &self,
        samples: &[f32],
        extractor: &mut Extractor,
        segment_s: f64,
        hop_s: f64,
    ) -> (Vec<(std::ops::Range<usize>, Result<Prediction, String>)>, Result<Prediction, String>) {
        let rate = f64::from(self.manifest.features.sample_rate);
        let (segment, hop) = ((segment_s * rate).round() as usize, (hop_s * rate).round() as usize);
        let per_window: Vec<_> = windows(samples.len(), segment, hop)
            .into_iter()
            .map(|w| {
                let p = self.predict_signal(&samples[w.clone()], extractor);
                (w, p)
            })
            .collect();
        let votes: Vec<(usize, Option<Vec<f32>>)> = per_window
            .iter()
            .filter_map(|(_, p)| p.as_ref().ok())
            .map(|p| (p.class, p.probabilities.clone()))
            .collect();
        let whole = if votes.is_empty() {
            Err(per_window
                .first()
                .and_then(|(_, p)| p.as_ref().err().cloned())
                .unwrap_or_else(|| "no window".into()))
        } else {
            Ok(combine(votes, self.manifest.classes.len(), samples.len() as f64 / rate))
        };
        (per_window, whole)
    }
}

/// One member's prediction as it is; several members' probabilities
/// averaged (their votes counted when a member has none), the first of the
/// top classes winning.
fn combine(votes: Vec<(usize, Option<Vec<f32>>)>, classes: usize, duration_s: f64) -> Prediction {
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
