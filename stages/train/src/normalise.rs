//! Feature scaling fitted on a training fold: the [`Standardiser`] every
//! classic model applies, and the per-speaker normalisers
//! ([`FeatureNormalize`]) applied before it.

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// Per-column z-scoring fitted on training data. Constant columns get unit
/// scale so they map to zero rather than NaN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardiser {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

impl Standardiser {
    pub fn fit(x: ArrayView2<f64>) -> Self {
        let mean = x.mean_axis(Axis(0)).map(|m| m.to_vec()).unwrap_or_default();
        let scale = x
            .std_axis(Axis(0), 0.0)
            .iter()
            .map(|&s| if s > 1e-12 && s.is_finite() { s } else { 1.0 })
            .collect();
        Standardiser { mean, scale }
    }

    pub fn transform(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let mut out = x.to_owned();
        for mut row in out.axis_iter_mut(Axis(0)) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = (*v - m) / s;
            }
        }
        out
    }
}

/// How a classic model's features are scaled before the fold's
/// [`Standardiser`]: `global` (the default) leaves them as extracted;
/// `speaker` first z-scores every utterance by its own speaker's
/// statistics ([`SpeakerNormaliser`]), as the deep models'
/// `normalize: speaker` does (transductive: test speakers' statistics come
/// from all their utterances); `speaker_online` z-scores every utterance by
/// the statistics of its speaker's utterances seen so far, itself included,
/// shrunk towards the training set's ([`OnlineSpeakerNormaliser`]):
/// inductive, as a deployed model meeting a new speaker would be;
/// `corpus` z-scores every utterance by its corpus's statistics (with the
/// [`SpeakerNormaliser`] grouping by corpus instead of speaker), the usual
/// first step of cross-corpus work: transductive, as a test corpus is
/// scaled by its own (unlabelled) audio.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureNormalize {
    #[default]
    Global,
    Speaker,
    SpeakerOnline,
    Corpus,
}

/// Inductive speaker normalisation. Each speaker's utterances are taken in
/// a fixed pseudo-random order (by the BLAKE3 hash of their id, so not by
/// emotion, which RAVDESS ids sort by), and each is z-scored by the
/// running mean and deviation of that speaker's utterances up to and
/// including it, shrunk towards `prior` (the training rows' statistics)
/// with the weight of `prior_weight` utterances. A speaker's first
/// utterance is thus scaled mostly by the prior, and later ones more and
/// more by the speaker's own; no utterance sees a later one. Training and
/// test speakers go through the same procedure, so both look alike to the
/// model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnlineSpeakerNormaliser {
    pub prior: Standardiser,
    pub prior_weight: f64,
}

impl OnlineSpeakerNormaliser {
    /// How many utterances the prior counts as.
    pub const PRIOR_WEIGHT: f64 = 10.0;

    pub fn fit(training: ArrayView2<f64>) -> Self {
        OnlineSpeakerNormaliser {
            prior: Standardiser::fit(training),
            prior_weight: Self::PRIOR_WEIGHT,
        }
    }

    /// `x` scaled row by row; `speakers` and `ids` name each row.
    pub fn transform(
        &self,
        x: ArrayView2<f64>,
        speakers: &[String],
        ids: &[String],
    ) -> Array2<f64> {
        let mut by_speaker: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, s) in speakers.iter().enumerate() {
            by_speaker.entry(s.as_str()).or_default().push(i);
        }
        let w = self.prior_weight;
        let prior_square: Vec<f64> = self
            .prior
            .mean
            .iter()
            .zip(&self.prior.scale)
            .map(|(m, s)| s * s + m * m)
            .collect();
        let mut out = x.to_owned();
        for rows in by_speaker.values_mut() {
            rows.sort_by_cached_key(|&i| blake3::hash(ids[i].as_bytes()).to_hex().to_string());
            let mut sum = vec![0.0; x.ncols()];
            let mut sum_sq = vec![0.0; x.ncols()];
            for (k, &i) in rows.iter().enumerate() {
                let n = (k + 1) as f64;
                for (j, v) in out.row_mut(i).iter_mut().enumerate() {
                    sum[j] += *v;
                    sum_sq[j] += *v * *v;
                    let mean = (w * self.prior.mean[j] + sum[j]) / (w + n);
                    let square = (w * prior_square[j] + sum_sq[j]) / (w + n);
                    let sd = (square - mean * mean).max(0.0).sqrt();
                    *v = (*v - mean) / if sd > 1e-12 { sd } else { 1.0 };
                }
            }
        }
        out
    }
}

/// Per-speaker z-scoring: each speaker's column means and deviations,
/// taken from that speaker's own utterances. It reads features only, never
/// labels, so fitting it on a test speaker's utterances is transductive
/// but not a leak: speaker-independent evaluation with speaker
/// normalisation assumes a new speaker's unlabelled speech is at hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakerNormaliser {
    pub by_speaker: BTreeMap<String, Standardiser>,
}

impl SpeakerNormaliser {
    /// Statistics of every speaker in `speakers` (one per row of `x`).
    pub fn fit(x: ArrayView2<f64>, speakers: &[String]) -> Self {
        let mut rows: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, s) in speakers.iter().enumerate() {
            rows.entry(s.as_str()).or_default().push(i);
        }
        let by_speaker = rows
            .into_iter()
            .map(|(s, rows)| {
                (
                    s.to_string(),
                    Standardiser::fit(x.select(Axis(0), &rows).view()),
                )
            })
            .collect();
        SpeakerNormaliser { by_speaker }
    }

    /// Each row scaled by its speaker's statistics; a speaker the
    /// normaliser was not fitted on is an error naming them.
    pub fn transform(
        &self,
        x: ArrayView2<f64>,
        speakers: &[String],
    ) -> Result<Array2<f64>, String> {
        let mut out = x.to_owned();
        for (mut row, speaker) in out.axis_iter_mut(Axis(0)).zip(speakers) {
            let st = self
                .by_speaker
                .get(speaker)
                .ok_or_else(|| format!("no statistics for speaker {speaker}"))?;
            for ((v, m), sd) in row.iter_mut().zip(&st.mean).zip(&st.scale) {
                *v = (*v - m) / sd;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaker_normaliser_scales_each_speaker_by_its_own_utterances() {
        let x = ndarray::array![[1.0, 10.0], [3.0, 30.0], [100.0, 5.0], [300.0, 7.0]];
        let speakers: Vec<String> = ["a", "a", "b", "b"].iter().map(|s| s.to_string()).collect();
        let norm = SpeakerNormaliser::fit(x.view(), &speakers);
        let z = norm.transform(x.view(), &speakers).unwrap();
        // Two utterances per speaker: each column becomes -1, +1 within
        // the speaker, whatever the speaker's own level and spread.
        assert_eq!(
            z,
            ndarray::array![[-1.0, -1.0], [1.0, 1.0], [-1.0, -1.0], [1.0, 1.0]]
        );
        let err = norm
            .transform(x.view(), &["a", "a", "b", "c"].map(String::from))
            .unwrap_err();
        assert!(err.contains("speaker c"), "{err}");
    }

    #[test]
    fn the_online_normaliser_never_looks_ahead() {
        // One speaker, 12 utterances; in the normaliser's order, changing an
        // utterance changes it and those after it, never those before.
        let ids: Vec<String> = (0..12).map(|i| format!("u{i}")).collect();
        let speakers = vec!["s".to_string(); 12];
        let x = Array2::from_shape_fn((12, 2), |(i, j)| (i * 7 % 5) as f64 + j as f64 * 10.0);
        let norm = OnlineSpeakerNormaliser::fit(x.view());
        let z = norm.transform(x.view(), &speakers, &ids);
        let mut order: Vec<usize> = (0..12).collect();
        order.sort_by_cached_key(|&i| blake3::hash(ids[i].as_bytes()).to_hex().to_string());
        let changed = order[7];
        let mut x2 = x.clone();
        x2[[changed, 0]] += 100.0;
        let z2 = norm.transform(x2.view(), &speakers, &ids);
        for (position, &row) in order.iter().enumerate() {
            let same = z.row(row)[0] == z2.row(row)[0];
            assert_eq!(same, position < 7, "position {position}");
        }
    }

    #[test]
    fn the_online_normaliser_ends_at_the_speakers_own_statistics() {
        // With no prior weight, the last utterance in order is z-scored by
        // its speaker's full mean and deviation, as `speaker` would.
        let x = ndarray::array![[1.0], [3.0], [5.0], [100.0], [300.0], [500.0]];
        let speakers: Vec<String> = ["a", "a", "a", "b", "b", "b"].map(String::from).to_vec();
        let ids: Vec<String> = (0..6).map(|i| format!("id{i}")).collect();
        let online = OnlineSpeakerNormaliser {
            prior: Standardiser::fit(x.view()),
            prior_weight: 0.0,
        };
        let z = online.transform(x.view(), &speakers, &ids);
        let full = SpeakerNormaliser::fit(x.view(), &speakers)
            .transform(x.view(), &speakers)
            .unwrap();
        for rows in [[0usize, 1, 2], [3, 4, 5]] {
            let last = *rows
                .iter()
                .max_by_key(|&&i| blake3::hash(ids[i].as_bytes()).to_hex().to_string())
                .unwrap();
            assert!(
                (z[[last, 0]] - full[[last, 0]]).abs() < 1e-12,
                "{z} vs {full}"
            );
        }
    }

    #[test]
    fn standardiser_uses_training_statistics() {
        let train = Array2::from_shape_vec((2, 2), vec![0.0, 5.0, 2.0, 5.0]).unwrap();
        let s = Standardiser::fit(train.view());
        assert_eq!(s.mean, [1.0, 5.0]);
        assert_eq!(s.scale, [1.0, 1.0]);
        let test = Array2::from_shape_vec((1, 2), vec![3.0, 7.0]).unwrap();
        assert_eq!(s.transform(test.view()).row(0).to_vec(), [2.0, 2.0]);
    }
}
