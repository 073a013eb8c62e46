//! Dropout whose masks come from the current training's own generator.
//!
//! burn's `Dropout` draws its masks from the backend's generator, and on
//! the CPU backend that generator is one per process: two trainings at once
//! would interleave their draws and neither would be reproducible, so
//! trainings had to take turns and a many-core node trained one network at
//! a time. This dropout draws from a generator that belongs to the training
//! running on the calling thread ([`masks_from`]), so trainings run side by
//! side and each one's masks depend on its own seed only.
//!
//! The generator lives in a thread-local stack rather than in the module
//! because a rayon worker that waits inside one training's tensor operation
//! may pick up another whole training; that one pushes its generator, runs
//! to the end and pops it before the first resumes, so neither sees the
//! other's draws.

use std::cell::RefCell;

use burn::module::Module;
use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::thread_stack::Pushed;

thread_local! {
    static GENERATORS: RefCell<Vec<ChaCha8Rng>> = const { RefCell::new(Vec::new()) };
}

/// Until dropped, dropout on this thread draws from a generator seeded by
/// `seed` (on its own stream, apart from the data's shuffles and windows).
#[must_use = "masks come from this seed only while the guard lives"]
pub(crate) fn masks_from(seed: u64) -> Pushed<ChaCha8Rng> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(1);
    Pushed::onto(&GENERATORS, rng)
}

/// Zeroes each element with probability `prob` during training and scales
/// the rest by `1 / (1 - prob)`; the identity outside autodiff.
#[derive(Module, Debug)]
pub struct Dropout {
    prob: f64,
}

impl Dropout {
    pub fn new(prob: f64) -> Self {
        assert!(
            prob.is_finite() && (0.0..1.0).contains(&prob),
            "dropout probability {prob} is not in [0, 1)"
        );
        Dropout { prob }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        if self.prob == 0.0 || !x.device().is_autodiff() {
            return x;
        }
        let shape = x.dims();
        let n: usize = shape.iter().product();
        let keep = 1.0 - self.prob;
        // An element is kept when a uniform u32 falls below keep x 2^32.
        let threshold = (keep * 4_294_967_296.0).min(u32::MAX as f64) as u32;
        let scale = (1.0 / keep) as f32;
        let mask: Vec<f32> = GENERATORS.with(|g| {
            let mut stack = g.borrow_mut();
            let rng = stack.last_mut().expect(
                "dropout in training needs a mask generator: wrap the training in masks_from(seed)",
            );
            // The draws in one call: the same words, in the same order,
            // as one `next_u32` per element (a test holds them equal).
            let mut words = vec![0u32; n];
            rng.fill(&mut words[..]);
            mask_of(&words, threshold, scale)
        });
        let mask = Tensor::<D>::from_data(TensorData::new(mask, shape), &x.device());
        x * mask
    }
}

/// `scale` where a word falls below `threshold`, else 0. Without a branch:
/// a branch per element is taken or not at random (half the time at
/// dropout 0.5), and its mispredictions were most of dropout's time in a
/// `perf` profile. All of `scale`'s bits where kept, none (+0.0) where
/// dropped: the values the branch gave (a test holds them equal).
fn mask_of(words: &[u32], threshold: u32, scale: f32) -> Vec<f32> {
    let scale_bits = scale.to_bits();
    words
        .iter()
        .map(|&word| f32::from_bits(u32::from(word < threshold).wrapping_neg() & scale_bits))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ones(device: &burn::tensor::Device) -> Tensor<2> {
        Tensor::<2>::ones([64, 64], device)
    }

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn masks_follow_the_seed_and_keep_the_expectation() {
        let device = burn::tensor::Device::flex().autodiff();
        let dropout = Dropout::new(0.25);
        let draw = |seed| {
            let _masks = masks_from(seed);
            values(dropout.forward(ones(&device)))
        };
        let a = draw(3);
        assert_eq!(a, draw(3));
        assert_ne!(a, draw(4));
        let kept = a.iter().filter(|&&v| v != 0.0).count() as f64 / a.len() as f64;
        assert!((kept - 0.75).abs() < 0.03, "kept {kept}");
        assert!(a.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
    }

    /// Drawn in one call, the words are those of one `next_u32` each, and
    /// the generator is left where those draws would leave it.
    #[test]
    fn a_fill_draws_the_words_of_one_next_u32_each() {
        use rand::RngCore;
        let mut one_by_one = ChaCha8Rng::seed_from_u64(9);
        let mut in_one_call = one_by_one.clone();
        for n in [1usize, 3, 16, 17, 1000, 8192] {
            let expected: Vec<u32> = (0..n).map(|_| one_by_one.next_u32()).collect();
            let mut words = vec![0u32; n];
            in_one_call.fill(&mut words[..]);
            assert_eq!(words, expected, "{n} words");
        }
        assert_eq!(in_one_call.next_u32(), one_by_one.next_u32());
    }

    #[test]
    fn the_mask_is_the_branchs_bit_for_bit() {
        let words = [0, 1, 99, 100, 101, u32::MAX / 2, u32::MAX - 1, u32::MAX];
        for threshold in [0, 1, 100, u32::MAX / 2, u32::MAX] {
            for scale in [2.0f32, 1.0 / 0.75, 1.0] {
                let branch: Vec<u32> = words
                    .iter()
                    .map(|&w| if w < threshold { scale } else { 0.0 }.to_bits())
                    .collect();
                let ours: Vec<u32> = mask_of(&words, threshold, scale)
                    .iter()
                    .map(|v| v.to_bits())
                    .collect();
                assert_eq!(ours, branch, "threshold {threshold}, scale {scale}");
            }
        }
    }

    #[test]
    fn a_nested_training_leaves_the_outer_draws_alone() {
        let device = burn::tensor::Device::flex().autodiff();
        let dropout = Dropout::new(0.5);
        let alone = {
            let _masks = masks_from(1);
            (
                values(dropout.forward(ones(&device))),
                values(dropout.forward(ones(&device))),
            )
        };
        let interrupted = {
            let _masks = masks_from(1);
            let first = values(dropout.forward(ones(&device)));
            {
                let _inner = masks_from(2);
                dropout.forward(ones(&device));
            }
            (first, values(dropout.forward(ones(&device))))
        };
        assert_eq!(alone, interrupted);
    }

    #[test]
    fn inference_is_the_identity() {
        let device = burn::tensor::Device::flex();
        let x = ones(&device);
        assert_eq!(values(Dropout::new(0.5).forward(x.clone())), values(x));
    }
}
