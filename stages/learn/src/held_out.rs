//! Which training speakers a model holds out for validation. Every family
//! draws them the same way from its seed, so a network and a classic model
//! with the same seed hold out the same speakers, and an ensemble can score
//! them on the same validation utterances.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A classic model's validation predictions (`validation:` in
/// pipeline.yaml): per training fold, one extra fit for each seed
/// `seed..seed + seeds` without the `speakers` that seed holds out,
/// predicting theirs, as a model of `seeds` networks from `seed` holds them
/// out. Ensembles that choose their members (`keep_best`, `choose`) score it
/// on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldOut {
    pub seeds: usize,
    #[serde(default = "HeldOut::default_speakers")]
    pub speakers: usize,
    /// The first seed, as a network's `seed`. Serialised only when set, so
    /// the node keys of models written before it stay the same.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seed: u64,
}

fn is_zero(seed: &u64) -> bool {
    *seed == 0
}

impl HeldOut {
    /// The networks' `validation_speakers` default.
    pub const DEFAULT_SPEAKERS: usize = 3;

    fn default_speakers() -> usize {
        Self::DEFAULT_SPEAKERS
    }

    /// The seeds of the validation fits, in order.
    pub fn seed_range(&self) -> std::ops::Range<u64> {
        self.seed..self.seed + self.seeds as u64
    }
}

/// The distinct speakers of `speakers`, sorted, then shuffled by `rng`:
/// the first few are the ones held out. The stream goes on from where the
/// shuffle leaves it (a network draws its batches from it next).
pub fn shuffled_speakers<'a>(speakers: &'a [String], rng: &mut ChaCha8Rng) -> Vec<&'a String> {
    let mut all: Vec<&String> = speakers
        .iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    all.shuffle(rng);
    all
}

/// The `n` speakers a model with `seed` holds out (at most all but one),
/// as a network with that seed holds them out.
pub fn held_out_speakers(speakers: &[String], n: usize, seed: u64) -> BTreeSet<String> {
    use rand::SeedableRng;
    let all = shuffled_speakers(speakers, &mut ChaCha8Rng::seed_from_u64(seed));
    let n = n.min(all.len().saturating_sub(1));
    all[..n].iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_out_speakers_follow_the_seed_and_leave_one_to_train() {
        let speakers: Vec<String> = ["b", "a", "c", "a", "d", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let zero = held_out_speakers(&speakers, 2, 0);
        assert_eq!(zero.len(), 2);
        assert_eq!(zero, held_out_speakers(&speakers, 2, 0));
        // Other seeds hold out others, at some seed.
        assert!((1..20).any(|seed| held_out_speakers(&speakers, 2, seed) != zero));
        // The first of the same shuffle: a larger n extends a smaller.
        assert!(zero.is_subset(&held_out_speakers(&speakers, 3, 0)));
        assert_eq!(held_out_speakers(&speakers, 9, 0).len(), 4);
        assert!(held_out_speakers(&speakers[..1], 3, 0).is_empty());
    }

    #[test]
    fn the_first_seed_is_written_only_when_set() {
        let from_zero: HeldOut = serde_json::from_str(r#"{"seeds": 5}"#).unwrap();
        assert_eq!(from_zero.seed_range(), 0..5);
        // As before the field existed: a node key over it does not move.
        assert_eq!(
            serde_json::to_string(&from_zero).unwrap(),
            r#"{"seeds":5,"speakers":3}"#
        );
        let from_five: HeldOut = serde_json::from_str(r#"{"seeds": 5, "seed": 5}"#).unwrap();
        assert_eq!(from_five.seed_range(), 5..10);
        assert_eq!(
            serde_json::to_string(&from_five).unwrap(),
            r#"{"seeds":5,"speakers":3,"seed":5}"#
        );
    }
}
