//! Examples, their normalisation, and padded batches with lengths.

use ndarray::Array2;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::spec::{DeepParams, Normalize, Padding};

pub use ser_learn::Example;

/// Each run of `k` consecutive frames averaged into one (a last, shorter
/// run too), so a sequence of n frames becomes ceil(n / k).
pub fn pool_frames(e: &Example, dims: usize, k: usize) -> Example {
    if k <= 1 || e.frames <= 1 {
        return e.clone();
    }
    let values = e
        .values
        .chunks(k * dims)
        .flat_map(|run| {
            let n = (run.len() / dims) as f32;
            (0..dims).map(move |j| run.iter().skip(j).step_by(dims).sum::<f32>() / n)
        })
        .collect();
    Example::new(values, e.frames.div_ceil(k))
}

/// Per-descriptor mean and standard deviation, fitted on training frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normaliser {
    pub mode: Normalize,
    /// Global statistics (empty for `speaker` and `none`; the prior for
    /// `speaker_online`).
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// `speaker_online`: how many frames the prior counts as.
    #[serde(default)]
    pub prior_frames: f64,
}

/// Examples of one `speaker_online` speaker are taken in this many
/// examples' worth of prior.
const ONLINE_PRIOR_EXAMPLES: f64 = 10.0;

/// Mean and standard deviation of every column over all frames of
/// `examples`; a constant column gets std 1 so it maps to 0.
fn column_stats(examples: &[&Example], dims: usize) -> (Vec<f32>, Vec<f32>) {
    let mut sum = vec![0f64; dims];
    let mut sq = vec![0f64; dims];
    let mut n = 0usize;
    for e in examples {
        for row in e.values.chunks_exact(dims) {
            for ((s, q), &v) in sum.iter_mut().zip(&mut sq).zip(row) {
                *s += v as f64;
                *q += (v as f64) * (v as f64);
            }
        }
        n += e.frames;
    }
    let n = n.max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(q, m)| {
            let var = (q / n - m * m).max(0.0);
            if var > 1e-12 { var.sqrt() as f32 } else { 1.0 }
        })
        .collect();
    (mean.into_iter().map(|m| m as f32).collect(), std)
}

impl Normaliser {
    pub fn fit(mode: Normalize, examples: &[Example], dims: usize) -> Normaliser {
        let (mean, std) = match mode {
            Normalize::Global | Normalize::SpeakerOnline | Normalize::Corpus => {
                column_stats(&examples.iter().collect::<Vec<_>>(), dims)
            }
            Normalize::Speaker | Normalize::None => (vec![], vec![]),
        };
        let prior_frames = match mode {
            Normalize::SpeakerOnline if !examples.is_empty() => {
                let frames: usize = examples.iter().map(|e| e.frames).sum();
                ONLINE_PRIOR_EXAMPLES * frames as f64 / examples.len() as f64
            }
            _ => 0.0,
        };
        Normaliser {
            mode,
            mean,
            std,
            prior_frames,
        }
    }

    /// The examples normalised; `speakers` says whose each one is (used by
    /// `speaker` mode, which takes each speaker's statistics from the
    /// examples given here).
    pub fn apply(&self, examples: &[Example], speakers: &[String], dims: usize) -> Vec<Example> {
        let scale = |e: &Example, mean: &[f32], std: &[f32]| Example {
            values: e
                .values
                .chunks_exact(dims)
                .flat_map(|row| row.iter().zip(mean).zip(std).map(|((v, m), s)| (v - m) / s))
                .collect(),
            frames: e.frames,
        };
        match self.mode {
            Normalize::None => examples.to_vec(),
            Normalize::Global | Normalize::Corpus => examples
                .iter()
                .map(|e| scale(e, &self.mean, &self.std))
                .collect(),
            Normalize::SpeakerOnline => {
                let mut by_speaker: std::collections::BTreeMap<&str, Vec<usize>> =
                    Default::default();
                for (i, s) in speakers.iter().enumerate() {
                    by_speaker.entry(s).or_default().push(i);
                }
                let w = self.prior_frames;
                let prior_square: Vec<f64> = self
                    .mean
                    .iter()
                    .zip(&self.std)
                    .map(|(&m, &s)| (s as f64).powi(2) + (m as f64).powi(2))
                    .collect();
                let mut out: Vec<Option<Example>> = vec![None; examples.len()];
                for rows in by_speaker.values_mut() {
                    // A hash of the example, not the input order (RAVDESS
                    // ids sort by emotion).
                    rows.sort_by_cached_key(|&i| {
                        let bytes: Vec<u8> = examples[i]
                            .values
                            .iter()
                            .flat_map(|v| v.to_le_bytes())
                            .collect();
                        *blake3::hash(&bytes).as_bytes()
                    });
                    let (mut sum, mut sum_sq, mut n) = (vec![0f64; dims], vec![0f64; dims], 0usize);
                    for &i in rows.iter() {
                        let e = &examples[i];
                        for row in e.values.chunks_exact(dims) {
                            for ((s, q), &v) in sum.iter_mut().zip(&mut sum_sq).zip(row) {
                                *s += v as f64;
                                *q += (v as f64) * (v as f64);
                            }
                        }
                        n += e.frames;
                        let total = w + n as f64;
                        let (mut mean, mut sd) = (vec![0f32; dims], vec![1f32; dims]);
                        for j in 0..dims {
                            let m = (w * self.mean[j] as f64 + sum[j]) / total;
                            let square = (w * prior_square[j] + sum_sq[j]) / total;
                            let var = (square - m * m).max(0.0);
                            mean[j] = m as f32;
                            sd[j] = if var > 1e-12 { var.sqrt() as f32 } else { 1.0 };
                        }
                        out[i] = Some(scale(e, &mean, &sd));
                    }
                }
                out.into_iter()
                    .map(|e| e.expect("every example has a speaker"))
                    .collect()
            }
            Normalize::Speaker => {
                let mut by_speaker: std::collections::BTreeMap<&str, Vec<&Example>> =
                    Default::default();
                for (e, s) in examples.iter().zip(speakers) {
                    by_speaker.entry(s).or_default().push(e);
                }
                let stats: std::collections::BTreeMap<&str, (Vec<f32>, Vec<f32>)> = by_speaker
                    .into_iter()
                    .map(|(s, es)| (s, column_stats(&es, dims)))
                    .collect();
                examples
                    .iter()
                    .zip(speakers)
                    .map(|(e, s)| {
                        let (m, sd) = &stats[s.as_str()];
                        scale(e, m, sd)
                    })
                    .collect()
            }
        }
    }
}

/// Each example z-scored by the frames of its group's examples (`groups`:
/// one name per example, e.g. its corpus), as `normalize: speaker` does by
/// speaker.
pub fn normalise_by_group(examples: &[Example], groups: &[String], dims: usize) -> Vec<Example> {
    Normaliser::fit(Normalize::Speaker, &[], dims).apply(examples, groups, dims)
}

/// A padded batch: `values` is batch x max_len x dims, row-major; padding
/// is 0.0 (the normalised mean) and `lengths` says where each sequence
/// ends.
pub struct Batch {
    pub values: Vec<f32>,
    pub lengths: Vec<usize>,
    pub max_len: usize,
    pub dims: usize,
}

/// How a batch treats each example.
pub enum Window<'a> {
    /// A random window of at most `max_frames`, SpecAugment when set.
    Train {
        rng: &'a mut ChaCha8Rng,
        params: &'a DeepParams,
    },
    /// The middle window of at most `max_frames`, or the window starting
    /// at a member's frame in `starts` where it gives one.
    Eval {
        max_frames: Option<usize>,
        padding: Padding,
        starts: Option<&'a [Option<usize>]>,
    },
}

pub fn batch(examples: &[&Example], dims: usize, mut window: Window) -> Batch {
    let mut windows: Vec<(usize, usize)> = Vec::with_capacity(examples.len());
    let (max_frames, padding) = match &window {
        Window::Train { params, .. } => (params.max_frames, params.padding),
        Window::Eval {
            max_frames,
            padding,
            ..
        } => (*max_frames, *padding),
    };
    for (b, e) in examples.iter().enumerate() {
        let n = e.frames.max(1);
        let len = max_frames.map_or(n, |m| m.min(n).max(1));
        let start = match &mut window {
            Window::Train { rng, .. } if len < n => rng.random_range(0..=n - len),
            Window::Eval {
                starts: Some(starts),
                ..
            } if starts[b].is_some() => starts[b].expect("checked").min(n - len),
            _ => (n - len) / 2,
        };
        windows.push((start, len));
    }
    let fixed = match (padding, max_frames) {
        (Padding::Minimum, Some(m)) => Some(m.max(1)),
        _ => None,
    };
    let max_len = fixed.unwrap_or_else(|| windows.iter().map(|w| w.1).max().unwrap_or(1));
    let mut values = vec![0f32; examples.len() * max_len * dims];
    for (b, (e, &(start, len))) in examples.iter().zip(&windows).enumerate() {
        let row = &mut values[b * max_len * dims..][..max_len * dims];
        if fixed.is_some() {
            // The utterance's minimum, over all its frames and dims.
            let floor = e.values.iter().copied().fold(f32::INFINITY, f32::min);
            row.fill(if floor.is_finite() { floor } else { 0.0 });
        }
        let src = &e.values[start * dims..(start + len) * dims];
        let dst = &mut row[..len * dims];
        dst.copy_from_slice(src);
        if let Window::Train { rng, params } = &mut window
            && let Some(spec) = &params.specaugment
        {
            let mut m = Array2::from_shape_vec((len, dims), dst.to_vec()).expect("window shape");
            spec.apply(&mut m, rng.random());
            dst.copy_from_slice(m.as_slice().expect("standard layout"));
        }
    }
    Batch {
        values,
        // Unmasked: pooling runs over the padding too.
        lengths: match fixed {
            Some(m) => vec![m; windows.len()],
            None => windows.into_iter().map(|w| w.1).collect(),
        },
        max_len,
        dims,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ex(rows: &[&[f32]]) -> Example {
        Example::new(rows.concat(), rows.len())
    }

    #[test]
    fn pooling_averages_runs_of_frames() {
        let e = ex(&[&[1.0, 10.0], &[3.0, 20.0], &[5.0, 30.0]]);
        let p = pool_frames(&e, 2, 2);
        assert_eq!(p.frames, 2);
        assert_eq!(p.values, vec![2.0, 15.0, 5.0, 30.0]);
        assert_eq!(pool_frames(&e, 2, 1), e);
    }

    #[test]
    fn global_statistics_come_from_training_frames() {
        let train = vec![ex(&[&[1.0, 10.0], &[3.0, 10.0]])];
        let n = Normaliser::fit(Normalize::Global, &train, 2);
        assert_eq!(n.mean, vec![2.0, 10.0]);
        // A constant column keeps std 1 so it maps to 0, not NaN.
        assert_eq!(n.std, vec![1.0, 1.0]);
        let out = n.apply(&[ex(&[&[4.0, 12.0]])], &["s".into()], 2);
        assert_eq!(out[0].values, vec![2.0, 2.0]);
    }

    #[test]
    fn speaker_statistics_are_each_speakers_own() {
        let n = Normaliser::fit(Normalize::Speaker, &[], 1);
        let data = vec![ex(&[&[0.0], &[2.0]]), ex(&[&[10.0], &[30.0]])];
        let out = n.apply(&data, &["a".into(), "b".into()], 1);
        assert_eq!(out[0].values, vec![-1.0, 1.0]);
        assert_eq!(out[1].values, vec![-1.0, 1.0]);
    }

    #[test]
    fn online_speaker_statistics_never_look_ahead() {
        // One speaker's six examples: changing one changes it and those
        // after it in the normaliser's order, never those before.
        let data: Vec<Example> = (0..6)
            .map(|i| ex(&[&[i as f32], &[2.0 * i as f32 + 1.0]]))
            .collect();
        let speakers = vec!["a".to_string(); 6];
        let n = Normaliser::fit(Normalize::SpeakerOnline, &data, 1);
        assert!(n.prior_frames > 0.0 && n.mean.len() == 1);
        let before = n.apply(&data, &speakers, 1);
        let mut changed = data.clone();
        changed[3] = ex(&[&[100.0], &[-100.0]]);
        let after = n.apply(&changed, &speakers, 1);
        // The changed example's position in the hash order decides which
        // others move: exactly those after it.
        let moved: Vec<usize> = (0..6)
            .filter(|&i| i != 3 && before[i].values != after[i].values)
            .collect();
        let key = |e: &Example| {
            let bytes: Vec<u8> = e.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            *blake3::hash(&bytes).as_bytes()
        };
        // With the new content the example sorts by its new hash.
        let position =
            |set: &[Example], i: usize| set.iter().filter(|e| key(e) < key(&set[i])).count();
        for i in (0..6).filter(|&i| i != 3) {
            let later_than_change = position(&changed, i) > position(&changed, 3);
            let later_than_original = position(&data, i) > position(&data, 3);
            if !later_than_change && !later_than_original {
                assert!(
                    !moved.contains(&i),
                    "example {i} moved but came before the change"
                );
            }
        }
        // The prior keeps a speaker's first example near the training scale.
        assert!(
            before
                .iter()
                .all(|e| e.values.iter().all(|v| v.is_finite()))
        );
    }

    #[test]
    fn batches_pad_with_zeros_and_record_lengths() {
        let a = ex(&[&[1.0, 2.0], &[3.0, 4.0], &[5.0, 6.0]]);
        let b = ex(&[&[7.0, 8.0]]);
        let batch = batch(
            &[&a, &b],
            2,
            Window::Eval {
                starts: None,
                max_frames: None,
                padding: Padding::Masked,
            },
        );
        assert_eq!(batch.lengths, vec![3, 1]);
        assert_eq!(batch.max_len, 3);
        assert_eq!(
            batch.values,
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 0.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn minimum_padding_fills_to_max_frames_unmasked() {
        let a = ex(&[&[1.0, -2.0], &[3.0, 4.0]]);
        let b = ex(&[&[5.0, 6.0], &[7.0, 8.0], &[9.0, 10.0], &[11.0, 12.0]]);
        let eval = batch(
            &[&a, &b],
            2,
            Window::Eval {
                starts: None,
                max_frames: Some(3),
                padding: Padding::Minimum,
            },
        );
        // Every example is max_frames long: a's own minimum after its
        // frames, b's middle window.
        assert_eq!(eval.max_len, 3);
        assert_eq!(eval.lengths, vec![3, 3]);
        assert_eq!(
            eval.values,
            vec![
                1.0, -2.0, 3.0, 4.0, -2.0, -2.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0
            ]
        );
        let params = DeepParams {
            max_frames: Some(3),
            padding: Padding::Minimum,
            ..DeepParams::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let train = batch(
            &[&a],
            2,
            Window::Train {
                rng: &mut rng,
                params: &params,
            },
        );
        assert_eq!(train.lengths, vec![3]);
        assert_eq!(train.values, vec![1.0, -2.0, 3.0, 4.0, -2.0, -2.0]);
    }

    #[test]
    fn long_sequences_are_cut_to_a_window() {
        let a = ex(&[&[1.0], &[2.0], &[3.0], &[4.0], &[5.0]]);
        let mid = batch(
            &[&a],
            1,
            Window::Eval {
                starts: None,
                max_frames: Some(3),
                padding: Padding::Masked,
            },
        );
        assert_eq!(mid.values, vec![2.0, 3.0, 4.0]);
        // A given start is taken (kept inside the sequence); None is the
        // middle.
        let starts = [Some(0), None, Some(4)];
        let given = batch(
            &[&a, &a, &a],
            1,
            Window::Eval {
                starts: Some(&starts),
                max_frames: Some(3),
                padding: Padding::Masked,
            },
        );
        assert_eq!(
            given.values,
            vec![1.0, 2.0, 3.0, 2.0, 3.0, 4.0, 3.0, 4.0, 5.0]
        );
        let params = DeepParams {
            max_frames: Some(2),
            ..DeepParams::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..20 {
            let w = batch(
                &[&a],
                1,
                Window::Train {
                    rng: &mut rng,
                    params: &params,
                },
            );
            assert_eq!(w.lengths, vec![2]);
            assert_eq!(w.values[1] - w.values[0], 1.0, "a contiguous window");
        }
    }
}
