//! Seeds: one stable seed per (pipeline seed, utterance, augmentation), and
//! the random generator every transform draws from.
//!
//! [`derive_seed`] hashes its inputs with BLAKE3 (a fixed, specified hash:
//! std's `DefaultHasher` may change between Rust releases and is not meant to
//! be stable), so a seed is the same on every run, machine and toolchain, and
//! augmented signals can be cached by content. The generator is ChaCha8
//! (`rand_chacha`), whose output for a seed is fixed across platforms and
//! crate releases, as rand's `StdRng` does not promise.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Domain-separation prefix, so these seeds never coincide with another
/// use of BLAKE3 on the same bytes.
const DOMAIN: &[u8] = b"ser-augment seed v1\0";

/// The seed for augmentation number `aug_index` of utterance `utterance_id`
/// under the pipeline seed `base`. The id is length-prefixed, so no two
/// (id, index) pairs hash the same bytes.
pub fn derive_seed(base: u64, utterance_id: &str, aug_index: usize) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(DOMAIN);
    h.update(&base.to_le_bytes());
    h.update(&(utterance_id.len() as u64).to_le_bytes());
    h.update(utterance_id.as_bytes());
    h.update(&(aug_index as u64).to_le_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// The generator for one transform, from its seed.
pub(crate) fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_fixed_values() {
        // Pinned values: a change here means every cached augmentation
        // would be recomputed, so it must be deliberate (bump DOMAIN's v1).
        assert_eq!(
            derive_seed(0, "03-01-05-01-01-01-01", 0),
            13_626_799_247_447_599_660
        );
    }

    #[test]
    fn every_input_changes_the_seed() {
        let s = derive_seed(7, "utt", 1);
        assert_ne!(s, derive_seed(8, "utt", 1));
        assert_ne!(s, derive_seed(7, "utu", 1));
        assert_ne!(s, derive_seed(7, "utt", 2));
        // Length prefix: moving bytes between the id and the index is not a
        // collision.
        assert_ne!(derive_seed(7, "", 0), derive_seed(7, "\0", 0));
    }
}
