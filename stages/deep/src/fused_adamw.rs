//! AdamW in one pass over each parameter, for f32 tensors on the CPU.
//!
//! Why: burn's AdamW updates a parameter with about fifteen tensor
//! operations, each a pass over the parameter's size and most a fresh
//! allocation. For the MLPs on utterance functionals (small batches, a
//! wide first layer) those passes were a third of a training's time in a
//! `perf` profile, more than the matrix products. This step does the same
//! arithmetic, operation for operation in f32 and in burn's order, in one
//! loop over the parameter, its gradient and its two moments, so every
//! step equals burn's to the bit (a test holds it to that) and a network
//! cached before this change is the one it would train now. (Two of its
//! divisions are exact reciprocal products on AVX2 and AVX-512: the same
//! results, see [`step_values`].)
//!
//! Gradient clipping by norm is folded in too. burn clips a gradient in
//! three more passes, each with its own buffer (square it, sum, scale it),
//! an eighth of an MLP's training time in a `perf` profile. Here one pass
//! sums the squares, in burn-flex's own SIMD order (the same accumulators,
//! lanes and horizontal add), so the norm is burn's to the bit, and the
//! step scales each gradient value as it reads it.
//!
//! The state is burn's own `AdamWState`. Tensors other than f32 take
//! burn's clipping and step.

use burn::optim::grad_clipping::{GradientClipping, GradientClippingConfig};
use burn::optim::{
    AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer,
};
use burn::tensor::{DType, Device, Tensor, TensorData};
use macerator::{Scalar, Simd, vload_unaligned};

/// burn's AdamW defaults, which `fit` has always trained with (only the
/// weight decay is set).
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

/// From this many values burn-flex sums on rayon's threads in chunks, an
/// order this step does not restate: such gradients are clipped by burn.
const BURN_PARALLEL_SUM: usize = 4 * 1024 * 1024;

/// AdamW with burn's defaults and `weight_decay`, stepping f32 parameters
/// in one fused pass.
#[derive(Clone)]
pub(crate) struct FusedAdamW {
    weight_decay: f32,
    /// Each gradient's L2 norm is clipped to this first, as burn's
    /// `GradientClipping::Norm` does.
    clip_norm: Option<f32>,
    /// burn's own step, for what the fused one does not cover.
    reference: AdamW,
}

impl FusedAdamW {
    /// The whole-module optimizer `fit` steps, clipping each parameter's
    /// gradient to `clip_norm` first when it is set.
    pub(crate) fn module_optimizer(weight_decay: f32, clip_norm: Option<f32>) -> ModuleOptimizer {
        ModuleOptimizer::from(FusedAdamW {
            weight_decay,
            clip_norm,
            reference: reference_config(weight_decay).build(),
        })
    }
}

/// burn's AdamW as `fit` configured it before: burn's defaults (which the
/// constants above restate; the test holds them to it) and the weight
/// decay. The fallback, and the tests' reference.
fn reference_config(weight_decay: f32) -> AdamWConfig {
    AdamWConfig::new().with_weight_decay(weight_decay)
}

/// burn's own AdamW as a whole-module optimizer, with the same clipping:
/// for devices whose tensors the fused step would copy to the host (wgpu).
pub(crate) fn burns_module_optimizer(weight_decay: f32, clip_norm: Option<f32>) -> ModuleOptimizer {
    reference_config(weight_decay)
        .with_grad_clipping(clip_norm.map(GradientClippingConfig::Norm))
        .init()
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let all_f32 = tensor.dtype() == DType::F32
            && grad.dtype() == DType::F32
            && state.as_ref().is_none_or(|s| {
                s.momentum.max_moment_2.is_none()
                    && s.momentum.moment_1.dtype() == DType::F32
                    && s.momentum.moment_2.dtype() == DType::F32
            });
        let burns_clipping = |grad: Tensor<D>| match self.clip_norm {
            Some(norm) => GradientClipping::Norm(norm).clip_gradient(grad),
            None => grad,
        };
        if !all_f32 {
            return self.reference.step(lr, tensor, burns_clipping(grad), state);
        }
        // Gradients burn would sum in parallel chunks are clipped by burn.
        let (grad, clip_norm) = match self.clip_norm {
            Some(_) if grad.shape().num_elements() >= BURN_PARALLEL_SUM => {
                (burns_clipping(grad), None)
            }
            norm => (grad, norm),
        };
        let device = tensor.device();
        let mut param = tensor.into_data();
        let grad = grad.into_data();
        let grad_values = grad.as_slice::<f32>().expect("f32 gradient");
        // A factor of exactly 1 leaves every value as it is: skipped.
        let scale = clip_norm
            .map(|norm| clip_factor(grad_values, norm))
            .filter(|&factor| factor != 1.0);
        let (time, moment_1, moment_2) = match state {
            Some(s) => (
                s.momentum.time + 1,
                Some(s.momentum.moment_1.into_data()),
                Some(s.momentum.moment_2.into_data()),
            ),
            None => (1, None, None),
        };
        // The first step's moments are fresh: written, not read.
        let first = moment_1.is_none();
        let fresh = || TensorData::new(vec![0f32; param.num_elements()], param.shape().clone());
        let mut m = moment_1.unwrap_or_else(fresh);
        let mut v = moment_2.unwrap_or_else(fresh);
        step_values(
            &Hyper::new(lr, self.weight_decay, time),
            first,
            scale,
            param.as_mut_slice::<f32>().expect("f32 parameter"),
            grad_values,
            m.as_mut_slice::<f32>().expect("f32 moment"),
            v.as_mut_slice::<f32>().expect("f32 moment"),
        );
        let state = AdamWState::new(AdaptiveMomentumState::new(
            time,
            Tensor::from_data(m, &device),
            Tensor::from_data(v, &device),
        ));
        (Tensor::from_data(param, &device), Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdamW::to_device(state, device)
    }
}

/// One step's scalars, each rounded to f32 where burn rounds it.
struct Hyper {
    /// 1 - beta_1 and 1 - beta_2, in f32 (burn's `factor_1`, `factor_2`).
    factor_1: f32,
    factor_2: f32,
    /// The bias corrections 1 - beta^t, in f32.
    correction_1: f32,
    correction_2: f32,
    /// 1 - lr * weight_decay, taken in f64 then rounded; `None` when the
    /// decay is zero (burn then leaves the parameter as it is).
    keep: Option<f32>,
    lr: f32,
}

impl Hyper {
    fn new(lr: LearningRate, weight_decay: f32, time: usize) -> Hyper {
        let decay_rate = lr * weight_decay as f64;
        Hyper {
            factor_1: 1.0 - BETA_1,
            factor_2: 1.0 - BETA_2,
            correction_1: 1f32 - BETA_1.powi(time as i32),
            correction_2: 1f32 - BETA_2.powi(time as i32),
            keep: (decay_rate != 0.0).then_some((1.0 - decay_rate) as f32),
            lr: lr as f32,
        }
    }
}

/// What burn's `GradientClipping::Norm(max_norm)` multiplies a gradient
/// by: `min(max_norm / (|g| + f32::MIN_POSITIVE), 1)`, with its divide as
/// burn's reciprocal then product, so the factor is burn's to the bit.
fn clip_factor(grad: &[f32], max_norm: f32) -> f32 {
    let norm = sum_of_squares(grad).sqrt();
    let factor = (1.0 / (norm + f32::MIN_POSITIVE)) * max_norm;
    // burn's `clamp_max`: NaN passes through.
    if factor.is_nan() || factor < 1.0 {
        factor
    } else {
        1.0
    }
}

/// The sum of `xs`' squares as burn-flex sums a squared tensor (its
/// `sum_body`): eight vector accumulators over blocks of eight vectors,
/// combined pairwise, the remaining whole vectors added in, a horizontal
/// add, then the last values in order. The square is taken in the register
/// instead of a buffer: the same product, so the same sum.
#[macerator::with_simd]
fn sum_of_squares<S: Simd>(mut xs: &[f32]) -> f32 {
    let lanes = f32::lanes::<S>();
    let stride = lanes * 8;
    let zero = 0f32.splat::<S>();
    let (mut s0, mut s1, mut s2, mut s3) = (zero, zero, zero, zero);
    let (mut s4, mut s5, mut s6, mut s7) = (zero, zero, zero, zero);
    let square = |p: *const f32| {
        // SAFETY: callers pass a pointer with `lanes` values after it.
        let v = unsafe { vload_unaligned::<S, f32>(p) };
        v * v
    };
    while xs.len() >= stride {
        let p = xs.as_ptr();
        // SAFETY: xs holds at least eight vectors here.
        unsafe {
            s0 += square(p);
            s1 += square(p.add(lanes));
            s2 += square(p.add(lanes * 2));
            s3 += square(p.add(lanes * 3));
            s4 += square(p.add(lanes * 4));
            s5 += square(p.add(lanes * 5));
            s6 += square(p.add(lanes * 6));
            s7 += square(p.add(lanes * 7));
        }
        xs = &xs[stride..];
    }
    let mut sum = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
    while xs.len() >= lanes {
        sum += square(xs.as_ptr());
        xs = &xs[lanes..];
    }
    sum.reduce_add() + xs.iter().map(|&x| x * x).sum::<f32>()
}

/// burn's AdamW step, value by value: the gradient scaled by the clipping
/// factor (`scale`, when it is not 1), the moments updated (or, on the
/// first step, started), bias-corrected, and the decayed parameter moved
/// against their ratio. The parentheses are burn's order of operations.
///
/// The loop waits on the divider: three divisions and a square root per
/// value. Where AVX2 is there, the two bias corrections, which divide by
/// the same number for the whole tensor, are products with its reciprocal
/// in f64 instead ([`divide_by`]); that rounds to the f32 quotient exactly,
/// so the values are the same (a lone MLP node trained about 12% faster).
fn step_values(
    h: &Hyper,
    first: bool,
    scale: Option<f32>,
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) {
    assert!(param.len() == grad.len() && param.len() == m.len() && param.len() == v.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { step_values_avx512(h, first, scale, param, grad, m, v) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { step_values_avx2(h, first, scale, param, grad, m, v) };
        }
    }
    // Without wide vectors the f64 products cost more than the divisions.
    step_loop(h, first, scale, param, grad, m, v, |x, c, _| x / c);
}

/// [`step_loop`] with [`divide_by`], compiled for one instruction set (the
/// caller checks the CPU has it).
macro_rules! step_values_with {
    ($name:ident, $feature:literal) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        fn $name(
            h: &Hyper,
            first: bool,
            scale: Option<f32>,
            param: &mut [f32],
            grad: &[f32],
            m: &mut [f32],
            v: &mut [f32],
        ) {
            step_loop(h, first, scale, param, grad, m, v, divide_by);
        }
    };
}

step_values_with!(step_values_avx512, "avx512f");
step_values_with!(step_values_avx2, "avx2");

/// `x / c` in f32, from `reciprocal` = `1 / c` in f64: the f64 product is
/// within 2^-52 (relative) of the true quotient, and a quotient of two f32
/// values that is not an f32 lies at least 2^-50 from every halfway point
/// between two of them, so rounding the product to f32 gives the quotient
/// correctly rounded, as the division does (infinities, zeros, subnormals
/// and NaN included; `the_reciprocal_product_is_the_quotient` checks it).
#[inline(always)]
fn divide_by(x: f32, _c: f32, reciprocal: f64) -> f32 {
    (x as f64 * reciprocal) as f32
}

/// The step's loop, with `divide(x, c, 1 / c)` for the bias corrections.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn step_loop(
    h: &Hyper,
    first: bool,
    scale: Option<f32>,
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    divide: impl Fn(f32, f32, f64) -> f32,
) {
    let (reciprocal_1, reciprocal_2) = (1.0 / h.correction_1 as f64, 1.0 / h.correction_2 as f64);
    for (((p, &g), m), v) in param
        .iter_mut()
        .zip(grad)
        .zip(m.iter_mut())
        .zip(v.iter_mut())
    {
        let g = match scale {
            Some(factor) => g * factor,
            None => g,
        };
        let (m_new, v_new) = if first {
            (g * h.factor_1, (g * g) * h.factor_2)
        } else {
            (
                *m * BETA_1 + g * h.factor_1,
                *v * BETA_2 + (g * g) * h.factor_2,
            )
        };
        *m = m_new;
        *v = v_new;
        let m_hat = divide(m_new, h.correction_1, reciprocal_1);
        let v_hat = divide(v_new, h.correction_2, reciprocal_2);
        let delta = m_hat / (v_hat.sqrt() + EPSILON);
        let decayed = match h.keep {
            Some(keep) => *p * keep,
            None => *p,
        };
        *p = decayed - delta * h.lr;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::tensor::Distribution;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<u32> {
        // Bits, so the comparison is exact (and NaN-safe).
        t.into_data().iter::<f32>().map(f32::to_bits).collect()
    }

    /// A 37 -> 11 layer with every weight drawn now from seed 7.
    fn layer(device: &Device) -> Linear {
        let _generator = crate::fit::generator_lock();
        device.seed(7);
        let layer: Linear = LinearConfig::new(37, 11).init(device);
        let _ = (layer.weight.val(), layer.bias.as_ref().map(|b| b.val()));
        layer
    }

    /// The fused clipping against burn's `clip_by_norm`, value for value,
    /// over lengths on both sides of every block of the sum (eight vectors
    /// of 16 or 8 lanes, one vector, a scalar tail) and thresholds that
    /// clip and that do not.
    #[test]
    fn clip_factor_scales_as_burns_clipping_does() {
        let device = Device::flex();
        let mut clipped = 0;
        for (i, len) in [
            1usize, 7, 8, 16, 63, 64, 127, 128, 129, 407, 1000, 4099, 70001,
        ]
        .into_iter()
        .enumerate()
        {
            let grad = {
                let _generator = crate::fit::generator_lock();
                device.seed(40 + i as u64);
                Tensor::<1>::random([len], Distribution::Normal(0.0, 0.7), &device)
            };
            let values_of = |t: &Tensor<1>| t.to_data().try_to_vec::<f32>().unwrap();
            let grad_values = values_of(&grad);
            let norm: f32 = grad_values.iter().map(|x| x * x).sum::<f32>().sqrt();
            for max_norm in [norm * 0.37, norm * 3.0, 1.0] {
                let burns =
                    values_of(&GradientClipping::Norm(max_norm).clip_gradient(grad.clone()));
                let factor = clip_factor(&grad_values, max_norm);
                clipped += usize::from(factor < 1.0);
                let ours: Vec<u32> = grad_values.iter().map(|g| (g * factor).to_bits()).collect();
                let burns: Vec<u32> = burns.iter().map(|g| g.to_bits()).collect();
                assert_eq!(ours, burns, "length {len}, max norm {max_norm}");
            }
        }
        // Both sides of the threshold were exercised.
        assert!(clipped >= 13, "only {clipped} gradients were clipped");
    }

    /// The f64 reciprocal's product against the f32 division, bit for bit:
    /// every bias correction of the first 20,000 steps (both betas), on
    /// values drawn over the whole f32 range (subnormals too), the quotients
    /// nearest halfway between two f32 values (x = c times a halfway point,
    /// rounded, and its neighbours), and zeros, infinities and NaN.
    #[test]
    fn the_reciprocal_product_is_the_quotient() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut checked = 0usize;
        let mut check = |x: f32, c: f32| {
            let want = x / c;
            let got = divide_by(x, c, 1.0 / c as f64);
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{x:e} / {c:e}: {got:e} against {want:e}"
            );
            checked += 1;
        };
        for time in (1..=20_000).step_by(7).chain([1, 2, 3, 19_999]) {
            for beta in [BETA_1, BETA_2] {
                let c = 1f32 - beta.powi(time);
                for _ in 0..60 {
                    check(f32::from_bits(rng.random::<u32>()), c);
                    check(rng.random::<f32>() * 1e-3, c);
                }
                // Near halfway points: y + half an ulp, times c.
                for _ in 0..20 {
                    let y: f32 = rng.random::<f32>() + 0.5;
                    let half = y as f64 + (f32::from_bits(y.to_bits() + 1) - y) as f64 / 2.0;
                    let x = (half * c as f64) as f32;
                    for x in [
                        x,
                        f32::from_bits(x.to_bits() - 1),
                        f32::from_bits(x.to_bits() + 1),
                    ] {
                        check(x, c);
                    }
                }
                for x in [
                    0.0,
                    -0.0,
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                    f32::NAN,
                    f32::MAX,
                    f32::MIN_POSITIVE,
                    1e-45,
                ] {
                    check(x, c);
                }
            }
        }
        assert!(checked > 800_000, "{checked}");
    }

    /// Every path this CPU can take (AVX-512, AVX2, the plain divisions)
    /// steps the same values to the same bits, with and without clipping
    /// and decay, on the first step and a later one.
    #[test]
    fn every_path_steps_the_same_bits() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let n = 1037;
        let draw = |rng: &mut rand_chacha::ChaCha8Rng, spread: f32| -> Vec<f32> {
            (0..n)
                .map(|_| (rng.random::<f32>() - 0.5) * spread)
                .collect()
        };
        let (param, grad, m) = (
            draw(&mut rng, 2.0),
            draw(&mut rng, 0.1),
            draw(&mut rng, 0.01),
        );
        let v: Vec<f32> = draw(&mut rng, 1e-4).iter().map(|x| x.abs()).collect();
        type Path = fn(&Hyper, bool, Option<f32>, &mut [f32], &[f32], &mut [f32], &mut [f32]);
        let plain: Path =
            |h, first, scale, p, g, m, v| step_loop(h, first, scale, p, g, m, v, |x, c, _| x / c);
        let mut paths: Vec<(&str, Path)> = vec![("plain", plain), ("dispatched", step_values)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                paths.push(("avx2", |h, f, s, p, g, m, v| unsafe {
                    step_values_avx2(h, f, s, p, g, m, v)
                }));
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F.
                paths.push(("avx512", |h, f, s, p, g, m, v| unsafe {
                    step_values_avx512(h, f, s, p, g, m, v)
                }));
            }
        }
        for (first, time, scale, decay) in [
            (true, 1, None, 1e-2),
            (false, 37, Some(0.61), 0.0),
            (false, 5000, None, 1e-4),
        ] {
            let h = Hyper::new(1e-3, decay, time);
            let results: Vec<Vec<u32>> = paths
                .iter()
                .map(|(_, path)| {
                    let (mut p, mut m, mut v) = (param.clone(), m.clone(), v.clone());
                    path(&h, first, scale, &mut p, &grad, &mut m, &mut v);
                    p.iter().chain(&m).chain(&v).map(|x| x.to_bits()).collect()
                })
                .collect();
            for ((name, _), result) in paths.iter().zip(&results) {
                assert_eq!(result, &results[0], "{name} against plain at step {time}");
            }
        }
    }

    /// Two copies of one layer, stepped by burn's AdamW and the fused one
    /// on the same gradients, with a schedule, weight decay on and off, and
    /// clipping: every parameter equal to the bit after every step.
    #[test]
    fn fused_steps_equal_burns_to_the_bit() {
        let device = Device::flex().autodiff();
        for (weight_decay, clip) in [(1e-2f32, None), (0.0, Some(0.5f32)), (1e-4, Some(5.0))] {
            let start = layer(&device);
            let initial = values(start.weight.val());
            let mut ours = FusedAdamW::module_optimizer(weight_decay, clip);
            let mut burns = burns_module_optimizer(weight_decay, clip);
            let (mut a, mut b) = (start.clone(), start);
            for step in 0..6 {
                let x = {
                    let _generator = crate::fit::generator_lock();
                    device.seed(100 + step);
                    Tensor::<2>::random([5, 37], Distribution::Normal(0.0, 3.0), &device)
                };
                let lr = 1e-3 * (1.0 + (step as f64 * 0.7).cos());
                let loss = |layer: &Linear| layer.forward(x.clone()).tanh().sum();
                let grads_a = GradientsParams::from_grads(loss(&a).backward(), &a);
                let grads_b = GradientsParams::from_grads(loss(&b).backward(), &b);
                a = ours.step(lr, a, grads_a);
                b = burns.step(lr, b, grads_b);
                assert_eq!(
                    values(a.weight.val()),
                    values(b.weight.val()),
                    "weight after step {step} (decay {weight_decay}, clip {clip:?})"
                );
                assert_eq!(
                    values(a.bias.as_ref().unwrap().val()),
                    values(b.bias.as_ref().unwrap().val()),
                    "bias after step {step}"
                );
            }
            // The parameters moved: this did not compare two untouched layers.
            assert_ne!(values(a.weight.val()), initial);
        }
    }
}
