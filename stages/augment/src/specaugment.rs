//! SpecAugment's masking (Park et al., "SpecAugment: A Simple Data
//! Augmentation Method for Automatic Speech Recognition", Interspeech 2019),
//! for deep models at training time: blank out `time_masks` stripes of
//! `time_width` consecutive frames and `freq_masks` stripes of `freq_width`
//! consecutive bins of a frames x bins matrix (e.g. log-mel).
//!
//! Two choices differ from the paper, to make the amount of masking exact:
//! widths are fixed rather than drawn from [0, W], and the stripes along one
//! axis never overlap (positions are drawn uniformly among the
//! non-overlapping placements: choose `n` of `len - n*w + n` slots, then
//! spread them out by `w - 1`). When `n` stripes of `w` do not fit, as many
//! as fit are placed, and a width beyond the axis is cut to it. The paper's
//! time warping is not done: it is the costliest step and the paper found it
//! the least useful.
//!
//! Masked cells are set to the matrix's mean (taken before masking) by
//! default: the paper sets them to zero on mean-normalised features, which
//! is the same value; on raw log-mel, zero would be a loud artefact. Zero
//! is available for normalised inputs.

use std::ops::Range;

use ndarray::{Array2, s};
use rand::seq::index;
use serde::{Deserialize, Serialize};

use crate::seed::rng;

/// What masked cells are set to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskFill {
    /// The mean of the whole matrix before masking.
    #[default]
    Mean,
    /// 0.0 (for inputs normalised to zero mean).
    Zero,
}

/// Masking configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecAugment {
    pub time_masks: usize,
    pub time_width: usize,
    pub freq_masks: usize,
    pub freq_width: usize,
    #[serde(default)]
    pub fill: MaskFill,
}

/// The stripes one call masked, sorted: frame ranges and bin ranges.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Masks {
    pub time: Vec<Range<usize>>,
    pub freq: Vec<Range<usize>>,
}

impl SpecAugment {
    /// Mask `spec` (frames x bins) in place; the stripes are drawn from
    /// `seed` and returned.
    pub fn apply(&self, spec: &mut Array2<f32>, seed: u64) -> Masks {
        let (frames, bins) = spec.dim();
        let fill = match self.fill {
            MaskFill::Mean => spec.mean().unwrap_or(0.0),
            MaskFill::Zero => 0.0,
        };
        let mut rng = rng(seed);
        let masks = Masks {
            time: stripes(&mut rng, frames, self.time_masks, self.time_width),
            freq: stripes(&mut rng, bins, self.freq_masks, self.freq_width),
        };
        for r in &masks.time {
            spec.slice_mut(s![r.clone(), ..]).fill(fill);
        }
        for r in &masks.freq {
            spec.slice_mut(s![.., r.clone()]).fill(fill);
        }
        masks
    }
}

/// `count` non-overlapping stripes of `width` on an axis of `len`, uniform
/// over all such placements; fewer (or narrower) when they do not fit.
fn stripes(rng: &mut impl rand::Rng, len: usize, count: usize, width: usize) -> Vec<Range<usize>> {
    let width = width.min(len);
    if width == 0 || count == 0 {
        return Vec::new();
    }
    let count = count.min(len / width);
    // Placing `count` blocks of `width` without overlap leaves `len -
    // count*width` free cells in `count + 1` gaps: equivalently, a choice of
    // `count` of `len - count*width + count` slots.
    let slots = len - count * width + count;
    let mut picks = index::sample(rng, slots, count).into_vec();
    picks.sort_unstable();
    picks
        .into_iter()
        .enumerate()
        .map(|(i, q)| {
            let start = q + i * (width - 1);
            start..start + width
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(frames: usize, bins: usize) -> Array2<f32> {
        // Distinct, non-mean values, so a masked cell is recognisable.
        Array2::from_shape_fn((frames, bins), |(t, f)| 1.0 + (t * bins + f) as f32)
    }

    fn masked_rows(spec: &Array2<f32>, fill: f32) -> Vec<usize> {
        (0..spec.nrows())
            .filter(|&t| spec.row(t).iter().all(|&v| v == fill))
            .collect()
    }

    fn masked_cols(spec: &Array2<f32>, fill: f32) -> Vec<usize> {
        (0..spec.ncols())
            .filter(|&f| spec.column(f).iter().all(|&v| v == fill))
            .collect()
    }

    #[test]
    fn masks_exactly_the_configured_stripes() {
        let aug = SpecAugment {
            time_masks: 3,
            time_width: 7,
            freq_masks: 2,
            freq_width: 5,
            fill: MaskFill::Mean,
        };
        for seed in 0..20 {
            let original = ramp(100, 64);
            let mean = original.mean().unwrap();
            let mut spec = original.clone();
            let masks = aug.apply(&mut spec, seed);
            assert_eq!(masks.time.len(), 3);
            assert_eq!(masks.freq.len(), 2);
            assert!(masks.time.iter().all(|r| r.len() == 7 && r.end <= 100));
            assert!(masks.freq.iter().all(|r| r.len() == 5 && r.end <= 64));
            // Exactly the reported rows and columns are masked (3 x 7 and
            // 2 x 5 distinct ones: no overlaps), everything else untouched.
            let rows: Vec<usize> = masks.time.iter().flat_map(|r| r.clone()).collect();
            let cols: Vec<usize> = masks.freq.iter().flat_map(|r| r.clone()).collect();
            assert_eq!(masked_rows(&spec, mean), rows);
            assert_eq!(masked_cols(&spec, mean), cols);
            for ((t, f), &v) in spec.indexed_iter() {
                if !rows.contains(&t) && !cols.contains(&f) {
                    assert_eq!(v, original[[t, f]]);
                }
            }
        }
    }

    #[test]
    fn masks_are_bounded_by_the_matrix() {
        let aug = SpecAugment {
            time_masks: 4,
            time_width: 50,
            freq_masks: 10,
            freq_width: 3,
            fill: MaskFill::Zero,
        };
        let mut spec = ramp(30, 8);
        let masks = aug.apply(&mut spec, 3);
        // A 50-frame width on 30 frames is cut to 30, and fits once; ten
        // 3-bin stripes on 8 bins fit twice.
        assert_eq!(masks.time, vec![0..30]);
        assert_eq!(masks.freq.len(), 2);
        assert!(spec.iter().all(|&v| v == 0.0));
        let none = SpecAugment {
            time_masks: 0,
            time_width: 5,
            freq_masks: 3,
            freq_width: 0,
            fill: MaskFill::Zero,
        };
        let mut spec = ramp(30, 8);
        assert_eq!(none.apply(&mut spec, 3), Masks::default());
        assert_eq!(spec, ramp(30, 8));
    }

    #[test]
    fn masking_is_deterministic_per_seed() {
        let aug = SpecAugment {
            time_masks: 2,
            time_width: 10,
            freq_masks: 2,
            freq_width: 8,
            fill: MaskFill::Mean,
        };
        let run = |seed| {
            let mut spec = ramp(200, 64);
            let masks = aug.apply(&mut spec, seed);
            (masks, spec)
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1).0, run(2).0);
    }

    #[test]
    fn every_placement_is_reachable() {
        // Two 2-wide stripes on 6 cells have 6 non-overlapping placements
        // (2 of 6 - 4 + 2 = 4 slots): all must turn up, none other.
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let mut r = rng(seed);
            let s = stripes(&mut r, 6, 2, 2);
            assert!(s[0].end <= s[1].start);
            seen.insert((s[0].start, s[1].start));
        }
        let want: std::collections::BTreeSet<_> = [(0, 2), (0, 3), (0, 4), (1, 3), (1, 4), (2, 4)]
            .into_iter()
            .collect();
        assert_eq!(seen, want);
    }
}
