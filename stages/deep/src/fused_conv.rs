//! A fused convolution for the flex CPU backend (odd kernel sizes, stride
//! 1, "same" zero padding, with bias), forward and backward as one autodiff
//! operation: 2-D (k x k, the spectrogram blocks) and 1-D over time (k x 1,
//! the frame-sequence blocks).
//!
//! Why: burn computes a convolution's weight gradient as another
//! convolution, of the batch-and-channel-swapped input by the swapped output
//! gradient (a kernel as large as the feature map), and its input gradient
//! as a transposed convolution. On flex the swaps become batched transposes
//! (a quarter of a cnn2d training step in a `perf` profile) and the
//! large-kernel convolution suits its kernels badly; cnn2d trained at 0.6x
//! PyTorch's speed. This operation does what a CPU convolution without
//! oneDNN does: per example, unfold the input (im2col) and multiply by the
//! weights; backward, the weight gradient as the output gradient times the
//! unfolded input, and the input gradient as the weights' transpose times
//! the output gradient, folded back (col2im). The unfolded input is rebuilt
//! in the backward pass rather than kept (it is k x k times the input).
//!
//! Examples run on rayon's threads in fixed groups, and the groups' weight
//! gradients are summed in order, so the result is the same however the
//! work is scheduled. A test holds forward and gradients to burn's own
//! convolution. Other tensors (wgpu) and other shapes get `None` and take
//! burn's path.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Flex};
use burn::nn::conv::{Conv1d, Conv2d};
use burn::tensor::Tensor;
use rayon::prelude::*;

use crate::kernels::{View, flex_tensor, gemm, into_values};

/// Examples per unit of parallel work in the backward pass (fixed, so the
/// order weight gradients are summed in never depends on the threads).
const EXAMPLES_PER_TASK: usize = 2;

/// `conv` applied to x (batch x channels x height x width), when `conv` is
/// a stride-1, dilation-1, ungrouped convolution with odd kernel sizes,
/// "same" padding and a bias, and x is a flex tensor; `None` otherwise.
pub(crate) fn conv2d_same(conv: &Conv2d, x: &Tensor<4>) -> Option<Tensor<4>> {
    let [kh, kw] = conv.kernel_size;
    let bias = conv.bias.as_ref()?;
    let same = matches!(conv.padding, burn::nn::PaddingConfig2d::Same);
    if kh % 2 == 0
        || kw % 2 == 0
        || conv.stride != [1, 1]
        || conv.dilation != [1, 1]
        || conv.groups != 1
        || !same
    {
        return None;
    }
    let [b, c_in, h, w] = x.dims();
    let weight = conv.weight.val();
    let [c_out, ..] = weight.dims();
    let geometry = Geometry {
        b,
        c_in,
        c_out,
        h,
        w,
        kh,
        kw,
    };
    run(
        geometry,
        x.clone().flatten::<1>(0, 3),
        weight.flatten::<1>(0, 3),
        bias.val(),
    )
    .map(|y| y.reshape([b, c_out, h, w]))
}

/// `conv` applied to x (batch x channels x time), under the same
/// conditions as [`conv2d_same`]: a 2-D convolution with a k x 1 kernel
/// over a map one bin wide.
pub(crate) fn conv1d_same(conv: &Conv1d, x: &Tensor<3>) -> Option<Tensor<3>> {
    let bias = conv.bias.as_ref()?;
    let same = matches!(conv.padding, burn::nn::PaddingConfig1d::Same);
    if conv.kernel_size.is_multiple_of(2)
        || conv.stride != 1
        || conv.dilation != 1
        || conv.groups != 1
        || !same
    {
        return None;
    }
    let [b, c_in, t] = x.dims();
    let weight = conv.weight.val();
    let [c_out, ..] = weight.dims();
    let geometry = Geometry {
        b,
        c_in,
        c_out,
        h: t,
        w: 1,
        kh: conv.kernel_size,
        kw: 1,
    };
    run(
        geometry,
        x.clone().flatten::<1>(0, 2),
        weight.flatten::<1>(0, 2),
        bias.val(),
    )
    .map(|y| y.reshape([b, c_out, t]))
}

/// The operation on flattened x, weight (c_out x c_in x kh x kw) and bias;
/// the output flattened likewise.
fn run(geometry: Geometry, x: Tensor<1>, weight: Tensor<1>, bias: Tensor<1>) -> Option<Tensor<1>> {
    let Geometry {
        b,
        c_in,
        c_out,
        h,
        w,
        kh,
        kw,
    } = geometry;
    if x.dims()[0] != b * c_in * h * w
        || weight.dims()[0] != c_out * c_in * kh * kw
        || bias.dims()[0] != c_out
    {
        return None;
    }
    let parents = [x, weight, bias];
    let tracked: Option<Vec<_>> = parents
        .iter()
        .map(|p| p.clone().try_into_primitive::<Autodiff<Flex>>().ok())
        .collect();
    if let Some(prims) = tracked {
        let [x, weight, bias] = [0, 1, 2].map(|i| View::of(prims[i].primitive()));
        let out = forward(geometry, &x, &weight, &bias);
        let output = flex_tensor(out, [b * c_out * h * w]);
        let nodes: [_; 3] = std::array::from_fn(|i| prims[i].node());
        let result = match Conv2dBackward
            .prepare::<NoCheckpointing>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(
                Arc::new(Tape {
                    geometry,
                    x,
                    weight,
                }),
                output,
            ),
            OpsKind::UnTracked(prep) => prep.finish(output),
        };
        return Some(Tensor::from_primitive::<Autodiff<Flex>>(result));
    }
    let plain: Vec<View> = parents
        .into_iter()
        .map(|p| p.try_into_primitive::<Flex>().ok().map(|f| View::of(&f)))
        .collect::<Option<_>>()?;
    let out = forward(geometry, &plain[0], &plain[1], &plain[2]);
    Some(Tensor::from_primitive::<Flex>(flex_tensor(
        out,
        [b * c_out * h * w],
    )))
}

#[derive(Debug, Clone, Copy)]
struct Geometry {
    b: usize,
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
}

impl Geometry {
    fn hw(&self) -> usize {
        self.h * self.w
    }

    /// Rows of an unfolded example: one per (input channel, kernel row,
    /// kernel column).
    fn taps(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// For a kernel offset `d` (-pad..=pad) along an axis of `n`, the
    /// output positions whose input position `i + d` lies inside.
    fn inside(n: usize, d: isize) -> std::ops::Range<usize> {
        let start = (-d).max(0) as usize;
        let end = (n as isize - d).clamp(0, n as isize) as usize;
        start.min(end)..end
    }
}

/// The unfolded example: `col[tap][i * w + j] = x[c][i + di][j + dj]`, zero
/// where that falls outside (taps x hw, row-major).
fn unfold(g: Geometry, x: &[f32], col: &mut [f32]) {
    let (h, w, kh, kw, hw) = (g.h, g.w, g.kh, g.kw, g.hw());
    for c in 0..g.c_in {
        let plane = &x[c * hw..(c + 1) * hw];
        for ki in 0..kh {
            let di = ki as isize - (kh / 2) as isize;
            let rows = Geometry::inside(h, di);
            for kj in 0..kw {
                let dj = kj as isize - (kw / 2) as isize;
                let cols = Geometry::inside(w, dj);
                let tap = (c * kh + ki) * kw + kj;
                let dst = &mut col[tap * hw..(tap + 1) * hw];
                if rows.is_empty() {
                    dst.fill(0.0);
                    continue;
                }
                if cols.len() == w {
                    // Whole rows (every tap of a k x 1 kernel): the rows
                    // inside are one contiguous block. Copied row by row,
                    // a 1-D convolution's unfolding was one call per value.
                    let (start, end) = (rows.start * w, rows.end * w);
                    let src_start = (rows.start as isize + di) as usize * w;
                    dst[..start].fill(0.0);
                    dst[end..].fill(0.0);
                    dst[start..end].copy_from_slice(&plane[src_start..src_start + end - start]);
                    continue;
                }
                for i in 0..h {
                    let row = &mut dst[i * w..(i + 1) * w];
                    if !rows.contains(&i) || cols.is_empty() {
                        row.fill(0.0);
                        continue;
                    }
                    let src_i = (i as isize + di) as usize;
                    row[..cols.start].fill(0.0);
                    row[cols.end..].fill(0.0);
                    let src = &plane[src_i * w..(src_i + 1) * w];
                    let from = (cols.start as isize + dj) as usize;
                    row[cols.clone()].copy_from_slice(&src[from..from + cols.len()]);
                }
            }
        }
    }
}

/// The reverse of [`unfold`]: every unfolded value is added back to the
/// input position it was read from.
fn fold(g: Geometry, col: &[f32], dx: &mut [f32]) {
    let (h, w, kh, kw, hw) = (g.h, g.w, g.kh, g.kw, g.hw());
    for c in 0..g.c_in {
        let plane = &mut dx[c * hw..(c + 1) * hw];
        for ki in 0..kh {
            let di = ki as isize - (kh / 2) as isize;
            let rows = Geometry::inside(h, di);
            for kj in 0..kw {
                let dj = kj as isize - (kw / 2) as isize;
                let cols = Geometry::inside(w, dj);
                if cols.is_empty() || rows.is_empty() {
                    continue;
                }
                let tap = (c * kh + ki) * kw + kj;
                let src = &col[tap * hw..(tap + 1) * hw];
                if cols.len() == w {
                    // Whole rows: one contiguous block, as in `unfold`.
                    let (start, end) = (rows.start * w, rows.end * w);
                    let dst_start = (rows.start as isize + di) as usize * w;
                    let dst = &mut plane[dst_start..dst_start + end - start];
                    dst.iter_mut()
                        .zip(&src[start..end])
                        .for_each(|(a, v)| *a += v);
                    continue;
                }
                for i in rows.clone() {
                    let dst_i = (i as isize + di) as usize;
                    let from = (cols.start as isize + dj) as usize;
                    let dst = &mut plane[dst_i * w + from..dst_i * w + from + cols.len()];
                    let row = &src[i * w + cols.start..i * w + cols.end];
                    dst.iter_mut().zip(row).for_each(|(a, v)| *a += v);
                }
            }
        }
    }
}

/// y (b x c_out x hw) = W (c_out x taps) x unfold(x) + bias, per example.
fn forward(g: Geometry, x: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
    let (hw, taps) = (g.hw(), g.taps());
    let mut out = vec![0f32; g.b * g.c_out * hw];
    out.par_chunks_mut(g.c_out * hw)
        .zip(x.par_chunks(g.c_in * hw))
        .for_each_init(
            || vec![0f32; taps * hw],
            |col, (y, x)| {
                unfold(g, x, col);
                gemm(
                    (g.c_out, hw, taps),
                    y,
                    hw,
                    false,
                    (weight, taps, 1),
                    (col, hw, 1),
                    false,
                );
                for (plane, &b) in y.chunks_exact_mut(hw).zip(bias) {
                    plane.iter_mut().for_each(|v| *v += b);
                }
            },
        );
    out
}

#[derive(Debug)]
struct Tape {
    geometry: Geometry,
    x: View,
    weight: View,
}

/// Gradients (x, weight, bias) for the output gradient `dy`; the input's
/// only when `want_dx`.
fn backward(tape: &Tape, dy: &[f32], want_dx: bool) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let g = tape.geometry;
    let (hw, taps) = (g.hw(), g.taps());
    let (x_len, y_len) = (g.c_in * hw, g.c_out * hw);
    let mut dx = vec![0f32; if want_dx { g.b * x_len } else { 0 }];
    let tasks = g.b.div_ceil(EXAMPLES_PER_TASK);
    let mut dx_chunks: Vec<&mut [f32]> = if want_dx {
        dx.chunks_mut(EXAMPLES_PER_TASK * x_len).collect()
    } else {
        (0..tasks).map(|_| <&mut [f32]>::default()).collect()
    };
    let d_weights: Vec<Vec<f32>> = dx_chunks
        .par_iter_mut()
        .enumerate()
        .map(|(task, dx)| {
            let mut dw = vec![0f32; g.c_out * taps];
            let mut col = vec![0f32; taps * hw];
            let first = task * EXAMPLES_PER_TASK;
            for (n, e) in (first..(first + EXAMPLES_PER_TASK).min(g.b)).enumerate() {
                let x = &tape.x[e * x_len..(e + 1) * x_len];
                let dy = &dy[e * y_len..(e + 1) * y_len];
                unfold(g, x, &mut col);
                // dW += dy (c_out x hw) x col^T (hw x taps).
                gemm(
                    (g.c_out, taps, hw),
                    &mut dw,
                    taps,
                    n > 0,
                    (dy, hw, 1),
                    (&col, 1, hw),
                    false,
                );
                if want_dx {
                    // dcol = W^T (taps x c_out) x dy (c_out x hw), folded back.
                    gemm(
                        (taps, hw, g.c_out),
                        &mut col,
                        hw,
                        false,
                        (&tape.weight, 1, taps),
                        (dy, hw, 1),
                        false,
                    );
                    fold(g, &col, &mut dx[n * x_len..(n + 1) * x_len]);
                }
            }
            dw
        })
        .collect();
    let mut d_weight = vec![0f32; g.c_out * taps];
    for part in &d_weights {
        d_weight.iter_mut().zip(part).for_each(|(a, v)| *a += v);
    }
    let mut d_bias = vec![0f32; g.c_out];
    for example in dy.chunks_exact(y_len) {
        for (db, plane) in d_bias.iter_mut().zip(example.chunks_exact(hw)) {
            *db += plane.iter().sum::<f32>();
        }
    }
    (want_dx.then_some(dx), d_weight, d_bias)
}

#[derive(Debug)]
struct Conv2dBackward;

impl Backward<Flex, 3> for Conv2dBackward {
    type State = Arc<Tape>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let tape = ops.state;
        let dy = into_values(grads.consume::<Flex>(&ops.node));
        let [x_node, weight_node, bias_node] = ops.parents;
        let (dx, d_weight, d_bias) = backward(&tape, &dy, x_node.is_some());
        for (node, grad) in [
            (x_node, dx),
            (weight_node, Some(d_weight)),
            (bias_node, Some(d_bias)),
        ] {
            if let (Some(node), Some(grad)) = (node, grad) {
                let n = grad.len();
                grads.register::<Flex>(node.id, flex_tensor(grad, [n]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{close, vec_of};
    use burn::module::Module;
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::Distribution;

    /// Outputs and every gradient equal burn's convolution's, for kernels
    /// 1, 3 and 5, feature maps smaller than the kernel, odd batch sizes.
    #[test]
    fn the_fused_convolution_matches_burns() {
        let _generator = crate::fit::generator_lock();
        let device = burn::tensor::Device::flex().autodiff();
        for (b, c_in, c_out, h, w, k) in [
            (3, 2, 4, 7, 5, 3),
            (1, 1, 3, 6, 9, 5),
            (5, 3, 2, 2, 3, 5),
            (2, 4, 3, 4, 4, 1),
            (2, 2, 3, 4, 1, 3),
        ] {
            let conv = Conv2dConfig::new([c_in, c_out], [k, k])
                .with_padding(PaddingConfig2d::Same)
                .init(&device);
            let x = Tensor::<4>::random([b, c_in, h, w], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let r = Tensor::<4>::random([b, c_out, h, w], Distribution::Normal(0.0, 1.0), &device);
            let fused = conv2d_same(&conv, &x).expect("flex tensors take the fused path");
            let reference = conv.forward(x.clone());
            let what = format!("{b}x{c_in}->{c_out} {h}x{w} k{k}");
            close(
                &format!("{what} outputs"),
                vec_of(fused.clone()),
                vec_of(reference.clone()),
            );
            let gf = (fused * r.clone()).sum().backward();
            let gr = (reference * r).sum().backward();
            let grad = |g: &burn::tensor::Gradients, t: Tensor<4>| vec_of(t.grad(g).unwrap());
            close(
                &format!("{what} x gradient"),
                grad(&gf, x.clone()),
                grad(&gr, x.clone()),
            );
            let weight = conv.weight.val();
            close(
                &format!("{what} weight gradient"),
                grad(&gf, weight.clone()),
                grad(&gr, weight),
            );
            let bias = conv.bias.as_ref().unwrap().val();
            close(
                &format!("{what} bias gradient"),
                vec_of(bias.grad(&gf).unwrap()),
                vec_of(bias.grad(&gr).unwrap()),
            );
            // Without autodiff, the same numbers.
            let plain = conv.valid();
            close(
                &format!("{what} outputs without autodiff"),
                vec_of(conv2d_same(&plain, &x.clone().inner()).unwrap()),
                vec_of(plain.forward(x.inner())),
            );
        }
    }

    /// The 1-D form (a k x 1 kernel over one bin) against burn's Conv1d.
    #[test]
    fn the_fused_convolution_over_time_matches_burns() {
        let _generator = crate::fit::generator_lock();
        let device = burn::tensor::Device::flex().autodiff();
        for (b, c_in, c_out, t, k) in [(3, 5, 4, 11, 5), (2, 1, 3, 2, 3), (2, 2, 3, 1, 5)] {
            let conv = burn::nn::conv::Conv1dConfig::new(c_in, c_out, k)
                .with_padding(burn::nn::PaddingConfig1d::Same)
                .init(&device);
            let x = Tensor::<3>::random([b, c_in, t], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let r = Tensor::<3>::random([b, c_out, t], Distribution::Normal(0.0, 1.0), &device);
            let fused = conv1d_same(&conv, &x).expect("flex tensors take the fused path");
            let reference = conv.forward(x.clone());
            let what = format!("{b}x{c_in}->{c_out} t{t} k{k}");
            close(
                &format!("{what} outputs"),
                vec_of(fused.clone()),
                vec_of(reference.clone()),
            );
            let gf = (fused * r.clone()).sum().backward();
            let gr = (reference * r).sum().backward();
            close(
                &format!("{what} x gradient"),
                vec_of(x.grad(&gf).unwrap()),
                vec_of(x.grad(&gr).unwrap()),
            );
            let weight = conv.weight.val();
            close(
                &format!("{what} weight gradient"),
                vec_of(weight.grad(&gf).unwrap()),
                vec_of(weight.grad(&gr).unwrap()),
            );
        }
    }

    #[test]
    fn other_convolutions_take_burns_path() {
        let _generator = crate::fit::generator_lock();
        let device = burn::tensor::Device::flex();
        let x = Tensor::<4>::zeros([1, 2, 6, 6], &device);
        let unbiased = Conv2dConfig::new([2, 2], [3, 3])
            .with_padding(PaddingConfig2d::Same)
            .with_bias(false)
            .init(&device);
        let strided = Conv2dConfig::new([2, 2], [3, 3])
            .with_stride([2, 2])
            .init(&device);
        let valid = Conv2dConfig::new([2, 2], [3, 3]).init(&device);
        for conv in [unbiased, strided, valid] {
            assert!(conv2d_same(&conv, &x).is_none());
        }
    }
}
