//! A fused LSTM layer for the flex CPU backend: the whole sequence, both
//! directions, forward and backward, as one autodiff operation.
//!
//! Why: built from burn's tensor ops, one LSTM step is about twenty small
//! operations (two products, slices, three sigmoids, two tanhs, the
//! products of the cell update), each a graph node with its own buffer, and
//! burn's sigmoid and tanh run one element at a time through libm (and
//! the autodiff sigmoid computes its output again in the backward pass).
//! Over 300 steps that was 3.5x slower than PyTorch's LSTM here. This
//! operation does what PyTorch's CPU LSTM does: the input projection of
//! every step in one product, per step only the hidden product and one
//! pass of vectorised gate arithmetic (`wide`'s f32x8 `exp`), the two
//! directions on two threads, and backpropagation through time by hand
//! with the weight gradients as one product over all steps.
//!
//! The arithmetic is the same as [`crate::net`]'s per-op cell (PyTorch's
//! gate order i, f, g, o; the state held outside each sequence's frames),
//! and a test holds the two to each other, outputs and gradients. Tensors
//! on another backend (wgpu) get `None` and take the per-op path.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Flex};
use burn::tensor::Tensor;
use wide::f32x8;

use crate::kernels::{flex_tensor, gemm, values};

/// One direction's parameters, as burn's `Linear` keeps them: input
/// weight (inputs x 4 hidden) and bias, hidden weight (hidden x 4 hidden)
/// and bias.
pub(crate) struct LstmWeights {
    pub w_ih: Tensor<2>,
    pub b_ih: Tensor<1>,
    pub w_hh: Tensor<2>,
    pub b_hh: Tensor<1>,
}

/// The layer's output, batch x time x (hidden x directions), the forward
/// direction's hidden state first; `None` when `x` is not a flex tensor.
/// `directions` holds one (forward) or two (forward, backward) weight sets.
pub(crate) fn lstm_layer(
    x: &Tensor<3>,
    directions: &[LstmWeights],
    lengths: &[usize],
) -> Option<Tensor<3>> {
    match directions.len() {
        1 => run::<5>(x, directions, lengths),
        2 => run::<9>(x, directions, lengths),
        _ => None,
    }
}

/// Parents in order: x, then per direction w_ih, b_ih, w_hh, b_hh.
fn parents(x: &Tensor<3>, directions: &[LstmWeights]) -> Vec<Tensor<1>> {
    let mut all = vec![x.clone().flatten::<1>(0, 2)];
    for w in directions {
        all.push(w.w_ih.clone().flatten::<1>(0, 1));
        all.push(w.b_ih.clone());
        all.push(w.w_hh.clone().flatten::<1>(0, 1));
        all.push(w.b_hh.clone());
    }
    all
}

fn run<const N: usize>(
    x: &Tensor<3>,
    directions: &[LstmWeights],
    lengths: &[usize],
) -> Option<Tensor<3>> {
    let [b, t, d] = x.dims();
    let h = directions[0].w_hh.dims()[0];
    let shape = Shape { b, t, d, h };
    let tensors = parents(x, directions);
    let tracked: Option<Vec<_>> = tensors
        .iter()
        .map(|p| p.clone().try_into_primitive::<Autodiff<Flex>>().ok())
        .collect();
    if let Some(prims) = tracked {
        let values: Vec<Vec<f32>> = prims.iter().map(|p| values(p.primitive())).collect();
        let (out, tape) = forward(shape, &values, lengths);
        let nodes: [_; N] = std::array::from_fn(|i| prims[i].node());
        let output = flex_tensor(out, [b, t, h * directions.len()]);
        let result = match LstmBackward::<N>
            .prepare::<NoCheckpointing>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(Arc::new(tape), output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        };
        return Some(Tensor::from_primitive::<Autodiff<Flex>>(result));
    }
    let values: Vec<Vec<f32>> = tensors
        .into_iter()
        .map(|p| p.try_into_primitive::<Flex>().ok().map(|f| values(&f)))
        .collect::<Option<_>>()?;
    let (out, _) = forward(shape, &values, lengths);
    Some(Tensor::from_primitive::<Flex>(flex_tensor(
        out,
        [b, t, h * directions.len()],
    )))
}

#[derive(Debug, Clone, Copy)]
struct Shape {
    b: usize,
    t: usize,
    d: usize,
    h: usize,
}

/// What the backward pass needs of one direction.
#[derive(Debug)]
struct DirectionTape {
    reverse: bool,
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    /// Gate activations i, f, g, o per (row, step): b x t x 4h.
    gates: Vec<f32>,
    /// Cell state after each step (held outside a sequence): b x t x h.
    cell: Vec<f32>,
    /// tanh of the cell state of each real step (0 elsewhere): b x t x h.
    cell_tanh: Vec<f32>,
    /// Hidden state after each step: b x t x h.
    hidden: Vec<f32>,
}

#[derive(Debug)]
struct Tape {
    shape: Shape,
    x: Vec<f32>,
    lengths: Vec<usize>,
    directions: Vec<DirectionTape>,
}

/// `1 / (1 + e^-x)` over a slice, eight lanes at a time.
fn sigmoid_in_place(v: &mut [f32]) {
    let one = f32x8::splat(1.0);
    let mut chunks = v.chunks_exact_mut(8);
    for c in &mut chunks {
        let x = f32x8::from(&c[..]);
        let s = one / (one + (-x).exp());
        c.copy_from_slice(&s.to_array());
    }
    for e in chunks.into_remainder() {
        *e = 1.0 / (1.0 + (-*e).exp());
    }
}

fn tanh_in_place(v: &mut [f32]) {
    let mut chunks = v.chunks_exact_mut(8);
    for c in &mut chunks {
        c.copy_from_slice(&f32x8::from(&c[..]).tanh().to_array());
    }
    for e in chunks.into_remainder() {
        *e = e.tanh();
    }
}

fn forward(shape: Shape, values: &[Vec<f32>], lengths: &[usize]) -> (Vec<f32>, Tape) {
    let Shape { b, t, h, .. } = shape;
    let dirs = (values.len() - 1) / 4;
    let x = &values[0];
    let run_direction = |k: usize| {
        let [w_ih, b_ih, w_hh, b_hh] = [0, 1, 2, 3].map(|i| &values[1 + 4 * k + i]);
        forward_direction(shape, x, w_ih, b_ih, w_hh, b_hh, lengths, k == 1)
    };
    let directions: Vec<DirectionTape> = if dirs == 2 {
        let (f, r) = rayon::join(|| run_direction(0), || run_direction(1));
        vec![f, r]
    } else {
        vec![run_direction(0)]
    };
    let width = h * dirs;
    let mut out = vec![0f32; b * t * width];
    for (k, dir) in directions.iter().enumerate() {
        for (row, src) in dir.hidden.chunks_exact(h).enumerate() {
            out[row * width + k * h..row * width + (k + 1) * h].copy_from_slice(src);
        }
    }
    let tape = Tape {
        shape,
        x: x.clone(),
        lengths: lengths.to_vec(),
        directions,
    };
    (out, tape)
}

/// The step order: 0..t forwards, t-1..0 for the backward direction.
fn step_time(step: usize, t: usize, reverse: bool) -> usize {
    if reverse { t - 1 - step } else { step }
}

#[allow(clippy::too_many_arguments)]
fn forward_direction(
    shape: Shape,
    x: &[f32],
    w_ih: &[f32],
    b_ih: &[f32],
    w_hh: &[f32],
    b_hh: &[f32],
    lengths: &[usize],
    reverse: bool,
) -> DirectionTape {
    let Shape { b, t, d, h } = shape;
    let g4 = 4 * h;
    // Every step's input projection in one product, biases added.
    let mut gates = vec![0f32; b * t * g4];
    gemm(
        (b * t, g4, d),
        &mut gates,
        g4,
        false,
        (x, d, 1),
        (w_ih, g4, 1),
        true,
    );
    let bias: Vec<f32> = b_ih.iter().zip(b_hh).map(|(a, c)| a + c).collect();
    for row in gates.chunks_exact_mut(g4) {
        row.iter_mut().zip(&bias).for_each(|(g, b)| *g += b);
    }
    let mut cell = vec![0f32; b * t * h];
    let mut hidden = vec![0f32; b * t * h];
    let mut h_prev = vec![0f32; b * h];
    let mut c_prev = vec![0f32; b * h];
    let mut cell_tanh = vec![0f32; b * t * h];
    for step in 0..t {
        let tt = step_time(step, t, reverse);
        // gates[:, tt] += h_prev W_hh: rows of step tt are t * 4h apart.
        gemm(
            (b, g4, h),
            &mut gates[tt * g4..],
            t * g4,
            true,
            (&h_prev, h, 1),
            (w_hh, g4, 1),
            false,
        );
        for r in 0..b {
            let at = (r * t + tt) * h;
            let (hp, cp) = (
                &mut h_prev[r * h..(r + 1) * h],
                &mut c_prev[r * h..(r + 1) * h],
            );
            let g = &mut gates[(r * t + tt) * g4..(r * t + tt + 1) * g4];
            if tt < lengths[r] {
                sigmoid_in_place(&mut g[..2 * h]);
                tanh_in_place(&mut g[2 * h..3 * h]);
                sigmoid_in_place(&mut g[3 * h..]);
                let (i, rest) = g.split_at(h);
                let (f, rest) = rest.split_at(h);
                let (gg, o) = rest.split_at(h);
                for j in 0..h {
                    cp[j] = f[j] * cp[j] + i[j] * gg[j];
                }
                let tc = &mut cell_tanh[at..at + h];
                tc.copy_from_slice(cp);
                tanh_in_place(tc);
                for j in 0..h {
                    hp[j] = o[j] * tc[j];
                }
            } else {
                // Outside the sequence: the state is held; no gates.
                g.fill(0.0);
            }
            cell[at..at + h].copy_from_slice(cp);
            hidden[at..at + h].copy_from_slice(hp);
        }
    }
    DirectionTape {
        reverse,
        w_ih: w_ih.to_vec(),
        w_hh: w_hh.to_vec(),
        gates,
        cell,
        cell_tanh,
        hidden,
    }
}

/// Gradients of one direction: (x, w_ih, bias, w_hh); the bias gradient
/// is the same for both biases.
fn backward_direction(
    tape: &Tape,
    dir: &DirectionTape,
    grad_out: &[f32],
    column: usize,
    width: usize,
) -> [Vec<f32>; 4] {
    let Shape { b, t, d, h } = tape.shape;
    let g4 = 4 * h;
    let mut d_gates = vec![0f32; b * t * g4];
    let mut dh_next = vec![0f32; b * h];
    let mut dc_next = vec![0f32; b * h];
    // The state before step tt (zero before the first step).
    let before = |r: usize, step: usize| -> Option<usize> {
        (step > 0).then(|| (r * t + step_time(step - 1, t, dir.reverse)) * h)
    };
    for step in (0..t).rev() {
        let tt = step_time(step, t, dir.reverse);
        for r in 0..b {
            let at = (r * t + tt) * h;
            let dy = &grad_out[(r * t + tt) * width + column..][..h];
            let dh = &mut dh_next[r * h..(r + 1) * h];
            let dc = &mut dc_next[r * h..(r + 1) * h];
            dh.iter_mut().zip(dy).for_each(|(a, y)| *a += y);
            if tt >= tape.lengths[r] {
                // A held step passes both gradients on unchanged.
                continue;
            }
            let g = &dir.gates[(r * t + tt) * g4..(r * t + tt + 1) * g4];
            let (i, f, gg, o) = (&g[..h], &g[h..2 * h], &g[2 * h..3 * h], &g[3 * h..]);
            let c_prev = before(r, step);
            let da = &mut d_gates[(r * t + tt) * g4..(r * t + tt + 1) * g4];
            let tc = &dir.cell_tanh[at..at + h];
            for j in 0..h {
                let cp = c_prev.map_or(0.0, |p| dir.cell[p + j]);
                let d_o = dh[j] * tc[j];
                let dcj = dc[j] + dh[j] * o[j] * (1.0 - tc[j] * tc[j]);
                da[j] = dcj * gg[j] * i[j] * (1.0 - i[j]);
                da[h + j] = dcj * cp * f[j] * (1.0 - f[j]);
                da[2 * h + j] = dcj * i[j] * (1.0 - gg[j] * gg[j]);
                da[3 * h + j] = d_o * o[j] * (1.0 - o[j]);
                dc[j] = dcj * f[j];
            }
            // The hidden gradient of a real step comes only through W_hh.
            dh.fill(0.0);
        }
        // dh_prev += dA_tt W_hh^T (W_hh is h x 4h: its transpose is a view).
        gemm(
            (b, h, g4),
            &mut dh_next,
            h,
            true,
            (&d_gates[tt * g4..], t * g4, 1),
            (&dir.w_hh, 1, g4),
            false,
        );
    }
    // The hidden state each step read, zero before the first.
    let mut h_before = vec![0f32; b * t * h];
    for r in 0..b {
        for step in 1..t {
            let tt = step_time(step, t, dir.reverse);
            let p = before(r, step).expect("step > 0");
            h_before[(r * t + tt) * h..(r * t + tt + 1) * h].copy_from_slice(&dir.hidden[p..p + h]);
        }
    }
    let rows = b * t;
    let mut dw_hh = vec![0f32; h * g4];
    gemm(
        (h, g4, rows),
        &mut dw_hh,
        g4,
        false,
        (&h_before, 1, h),
        (&d_gates, g4, 1),
        true,
    );
    let mut dw_ih = vec![0f32; d * g4];
    gemm(
        (d, g4, rows),
        &mut dw_ih,
        g4,
        false,
        (&tape.x, 1, d),
        (&d_gates, g4, 1),
        true,
    );
    let mut d_bias = vec![0f32; g4];
    for row in d_gates.chunks_exact(g4) {
        d_bias.iter_mut().zip(row).for_each(|(a, g)| *a += g);
    }
    let mut dx = vec![0f32; rows * d];
    gemm(
        (rows, d, g4),
        &mut dx,
        d,
        false,
        (&d_gates, g4, 1),
        (&dir.w_ih, 1, g4),
        true,
    );
    [dx, dw_ih, d_bias, dw_hh]
}

#[derive(Debug)]
struct LstmBackward<const N: usize>;

impl<const N: usize> Backward<Flex, N> for LstmBackward<N> {
    type State = Arc<Tape>;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let tape = ops.state;
        let Shape { b, t, d, h } = tape.shape;
        let dirs = tape.directions.len();
        let grad_out = values(&grads.consume::<Flex>(&ops.node));
        let width = h * dirs;
        let per_direction =
            |k: usize| backward_direction(&tape, &tape.directions[k], &grad_out, k * h, width);
        let results: Vec<[Vec<f32>; 4]> = if dirs == 2 {
            let (f, r) = rayon::join(|| per_direction(0), || per_direction(1));
            vec![f, r]
        } else {
            vec![per_direction(0)]
        };
        let mut dx = vec![0f32; b * t * d];
        for [dxk, ..] in &results {
            dx.iter_mut().zip(dxk).for_each(|(a, g)| *a += g);
        }
        let mut out: Vec<Vec<f32>> = vec![dx];
        for [_, dw_ih, d_bias, dw_hh] in results {
            out.extend([dw_ih, d_bias.clone(), dw_hh, d_bias]);
        }
        for (parent, grad) in ops.parents.iter().zip(out) {
            if let Some(node) = parent {
                let n = grad.len();
                grads.register::<Flex>(node.id, flex_tensor(grad, [n]));
            }
        }
    }
}
