//! The seeded random stream behind fold shuffles and bootstrap resamples.
//!
//! ChaCha8 seeded from a `u64`, with our own bounded-integer draw and
//! shuffle: `rand`'s `gen_range` and `shuffle` have changed their algorithms
//! between releases, and a seed must keep naming the same folds and the same
//! intervals for as long as the cache keeps their results.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// A deterministic stream of integers.
pub(crate) struct Stream(ChaCha8Rng);

impl Stream {
    pub(crate) fn new(seed: u64) -> Stream {
        Stream(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Uniform in `0..n` (`n > 0`), by Lemire's multiply-and-reject, which
    /// has no modulo bias and needs one 64-bit draw almost always.
    #[inline]
    pub(crate) fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        let n = n as u64;
        let mut m = u128::from(self.0.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.0.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as usize
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    #[cfg(test)]
    pub(crate) fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Fisher-Yates shuffle.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_uniform_and_in_range() {
        let mut s = Stream::new(7);
        let mut counts = [0usize; 6];
        for _ in 0..60_000 {
            counts[s.below(6)] += 1;
        }
        // Each count is Binomial(60000, 1/6): mean 10000, sd ~91; 5 sd.
        for c in counts {
            assert!((c as i64 - 10_000).abs() < 460, "{counts:?}");
        }
    }

    #[test]
    fn same_seed_same_stream() {
        let (mut a, mut b, mut c) = (Stream::new(3), Stream::new(3), Stream::new(4));
        let xa: Vec<usize> = (0..32).map(|_| a.below(1000)).collect();
        let xb: Vec<usize> = (0..32).map(|_| b.below(1000)).collect();
        let xc: Vec<usize> = (0..32).map(|_| c.below(1000)).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }
}
