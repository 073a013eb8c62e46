//! ReLU then max-pooling (window = stride, no padding, floor), fused into
//! one autodiff operation for the flex CPU backend: the conv blocks' `pool(relu(x))`,
//! over (time x bins) maps and (time) sequences.
//!
//! Why: flex pools through its generic 3-D max-pool with indices (bounds
//! checks per window element, an i64 index tensor, a scatter backward), and
//! the ReLU before it is another full pass with its own buffer and
//! backward; together they were a fifth of a cnn2d training step in a
//! `perf` profile. ReLU is monotonic, so `pool(relu(x))` is `max(0, max
//! over the window)`, and its gradient goes to the window's first largest
//! element when that is positive, nothing otherwise, which is what burn's
//! two ops give (its pool keeps the first of equal maxima, and ReLU's
//! gradient is zero at and below zero). A test holds the two to each other.
//! Other tensors (wgpu) and other pool settings get `None` and take burn's
//! path.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Flex};
use burn::nn::PaddingConfig1d;
use burn::nn::PaddingConfig2d;
use burn::nn::pool::{MaxPool1d, MaxPool2d};
use burn::tensor::Tensor;
use rayon::prelude::*;

use crate::kernels::{View, flex_tensor, into_values};

/// Planes (batch x channel maps) per unit of parallel work.
const PLANES_PER_TASK: usize = 8;

/// `pool(relu(x))` for x batch x channels x height x width, when `pool`'s
/// stride is its window, without padding or dilation, in floor mode, and x
/// is a flex tensor; `None` otherwise.
pub(crate) fn relu_max_pool2d(pool: &MaxPool2d, x: &Tensor<4>) -> Option<Tensor<4>> {
    let plain = pool.stride == pool.kernel_size
        && pool.dilation == [1, 1]
        && !pool.ceil_mode
        && matches!(pool.padding, PaddingConfig2d::Valid);
    if !plain {
        return None;
    }
    let [b, c, h, w] = x.dims();
    let [kh, kw] = pool.kernel_size;
    let window = Window {
        planes: b * c,
        h,
        w,
        kh,
        kw,
    };
    run(window, x.clone().flatten::<1>(0, 3)).map(|y| y.reshape([b, c, h / kh, w / kw]))
}

/// `pool(relu(x))` for x batch x channels x time, under the same
/// conditions as [`relu_max_pool2d`].
pub(crate) fn relu_max_pool1d(pool: &MaxPool1d, x: &Tensor<3>) -> Option<Tensor<3>> {
    let plain = pool.stride == pool.kernel_size
        && pool.dilation == 1
        && !pool.ceil_mode
        && matches!(pool.padding, PaddingConfig1d::Valid);
    if !plain {
        return None;
    }
    let [b, c, t] = x.dims();
    let k = pool.kernel_size;
    let window = Window {
        planes: b * c,
        h: t,
        w: 1,
        kh: k,
        kw: 1,
    };
    run(window, x.clone().flatten::<1>(0, 2)).map(|y| y.reshape([b, c, t / k]))
}

/// Maps of `h x w`, pooled by `kh x kw` windows.
#[derive(Debug, Clone, Copy)]
struct Window {
    planes: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
}

impl Window {
    fn out(&self) -> (usize, usize) {
        (self.h / self.kh, self.w / self.kw)
    }
}

/// Marks an output whose window held no positive value (no gradient).
const NONE: u32 = u32::MAX;

fn run(window: Window, x: Tensor<1>) -> Option<Tensor<1>> {
    let Window {
        planes,
        h,
        w,
        kh,
        kw,
    } = window;
    let (oh, ow) = window.out();
    if kh == 0 || kw == 0 || oh == 0 || ow == 0 || x.dims()[0] != planes * h * w {
        return None;
    }
    // Indices within a plane; u32 holds any map this crate pools.
    if h * w >= NONE as usize {
        return None;
    }
    if let Ok(prim) = x.clone().try_into_primitive::<Autodiff<Flex>>() {
        let input = View::of(prim.primitive());
        let (out, argmax) = forward(window, &input);
        let output = flex_tensor(out, [planes * oh * ow]);
        let result = match PoolBackward
            .prepare::<NoCheckpointing>([prim.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(Arc::new(Tape { window, argmax }), output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        };
        return Some(Tensor::from_primitive::<Autodiff<Flex>>(result));
    }
    let input = View::of(&x.try_into_primitive::<Flex>().ok()?);
    let (out, _) = forward(window, &input);
    Some(Tensor::from_primitive::<Flex>(flex_tensor(
        out,
        [planes * oh * ow],
    )))
}

/// Pooled outputs and, per output, the plane index of the window's first
/// largest element when it is positive ([`NONE`] otherwise).
fn forward(window: Window, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let Window {
        planes,
        h,
        w,
        kh,
        kw,
    } = window;
    let (oh, ow) = window.out();
    let per_plane = oh * ow;
    let mut out = vec![0f32; planes * per_plane];
    let mut argmax = vec![NONE; planes * per_plane];
    out.par_chunks_mut(per_plane * PLANES_PER_TASK)
        .zip(argmax.par_chunks_mut(per_plane * PLANES_PER_TASK))
        .enumerate()
        .for_each(|(task, (out, argmax))| {
            for (p, (out, argmax)) in out
                .chunks_exact_mut(per_plane)
                .zip(argmax.chunks_exact_mut(per_plane))
                .enumerate()
            {
                let plane = &x[(task * PLANES_PER_TASK + p) * h * w..][..h * w];
                if w == 1 {
                    // Over time: each window is kh consecutive values.
                    for (i, (out, argmax)) in out.iter_mut().zip(argmax.iter_mut()).enumerate() {
                        let start = i * kh;
                        let (mut best, mut at) = (0f32, NONE);
                        for (d, &v) in plane[start..start + kh].iter().enumerate() {
                            if v > best {
                                best = v;
                                at = (start + d) as u32;
                            }
                        }
                        *out = best;
                        *argmax = at;
                    }
                    continue;
                }
                for i in 0..oh {
                    for j in 0..ow {
                        // ReLU's floor: only a positive maximum passes.
                        let (mut best, mut at) = (0f32, NONE);
                        for di in 0..kh {
                            let row = (i * kh + di) * w + j * kw;
                            for (dj, &v) in plane[row..row + kw].iter().enumerate() {
                                if v > best {
                                    best = v;
                                    at = (row + dj) as u32;
                                }
                            }
                        }
                        out[i * ow + j] = best;
                        argmax[i * ow + j] = at;
                    }
                }
            }
        });
    (out, argmax)
}

#[derive(Debug)]
struct Tape {
    window: Window,
    argmax: Vec<u32>,
}

#[derive(Debug)]
struct PoolBackward;

impl Backward<Flex, 1> for PoolBackward {
    type State = Arc<Tape>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let tape = ops.state;
        let Window { planes, h, w, .. } = tape.window;
        let (oh, ow) = tape.window.out();
        let per_plane = oh * ow;
        let grad_out = into_values(grads.consume::<Flex>(&ops.node));
        let [parent] = ops.parents;
        let Some(node) = parent else {
            return;
        };
        // Windows do not overlap, so each input takes at most one output's
        // gradient: a plain write.
        let mut grad_in = vec![0f32; planes * h * w];
        grad_in
            .par_chunks_mut(h * w)
            .zip(grad_out.par_chunks(per_plane))
            .zip(tape.argmax.par_chunks(per_plane))
            .for_each(|((grad_in, grad_out), argmax)| {
                for (&g, &at) in grad_out.iter().zip(argmax) {
                    if at != NONE {
                        grad_in[at as usize] = g;
                    }
                }
            });
        grads.register::<Flex>(node.id, flex_tensor(grad_in, [planes * h * w]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::close;
    use burn::nn::pool::{MaxPool1dConfig, MaxPool2dConfig};
    use burn::tensor::activation::relu;

    /// Forward and gradient equal burn's `pool(relu(x))`, on maps whose
    /// sides the windows do not divide, with repeated values (ties) and
    /// all-negative windows.
    #[test]
    fn fused_relu_pool_matches_burns_ops() {
        let _generator = crate::fit::generator_lock();
        let ad = burn::tensor::Device::flex().autodiff();
        let (b, c, h, w) = (2, 3, 7, 9);
        // Values on a coarse grid so windows hold ties, half of them negative.
        let data: Vec<f32> = (0..b * c * h * w)
            .map(|i| (((i * 7919) % 11) as f32 - 5.0) * 0.5)
            .collect();
        let x = Tensor::<4>::from_data(
            burn::tensor::TensorData::new(data.clone(), [b, c, h, w]),
            &ad,
        )
        .require_grad();
        let pool = MaxPool2dConfig::new([2, 2]).init();
        let fused = relu_max_pool2d(&pool, &x).expect("flex takes the fused path");
        let reference = pool.forward(relu(x.clone()));
        let vals = |t: &Tensor<4>| t.to_data().try_to_vec::<f32>().unwrap();
        close("outputs", vals(&fused), vals(&reference));
        let weights = Tensor::<4>::random(
            reference.dims(),
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &ad,
        );
        let g_fused = (fused * weights.clone()).sum().backward();
        let g_reference = (reference * weights).sum().backward();
        let grad =
            |g: &burn::tensor::Gradients| x.grad(g).unwrap().to_data().try_to_vec::<f32>().unwrap();
        close("gradient", grad(&g_fused), grad(&g_reference));

        // 1-D, window 4 over 18 steps (two left over).
        let x1 = Tensor::<3>::from_data(
            burn::tensor::TensorData::new(data[..b * c * 18].to_vec(), [b, c, 18]),
            &ad,
        )
        .require_grad();
        let pool1 = MaxPool1dConfig::new(4).init();
        let fused = relu_max_pool1d(&pool1, &x1).unwrap();
        let reference = pool1.forward(relu(x1.clone()));
        let vals3 = |t: &Tensor<3>| t.to_data().try_to_vec::<f32>().unwrap();
        close("1-D outputs", vals3(&fused), vals3(&reference));
        let g_fused = fused.sum().backward();
        let g_reference = reference.sum().backward();
        let grad1 = |g: &burn::tensor::Gradients| {
            x1.grad(g).unwrap().to_data().try_to_vec::<f32>().unwrap()
        };
        close("1-D gradient", grad1(&g_fused), grad1(&g_reference));

        // Without autodiff, the same outputs.
        let plain = x.inner();
        close(
            "outputs without autodiff",
            relu_max_pool2d(&pool, &plain)
                .unwrap()
                .to_data()
                .try_to_vec::<f32>()
                .unwrap(),
            pool.forward(relu(plain))
                .to_data()
                .try_to_vec::<f32>()
                .unwrap(),
        );
    }

    /// Other pool settings are left to burn.
    #[test]
    fn overlapping_or_padded_pools_take_burns_path() {
        let _generator = crate::fit::generator_lock();
        let x = Tensor::<4>::zeros([1, 1, 4, 4], &burn::tensor::Device::flex());
        let strided = MaxPool2dConfig::new([2, 2]).with_strides([1, 1]).init();
        assert!(relu_max_pool2d(&strided, &x).is_none());
        let padded = MaxPool2dConfig::new([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init();
        assert!(relu_max_pool2d(&padded, &x).is_none());
    }
}
