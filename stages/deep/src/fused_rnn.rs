//! Fused LSTM and GRU layers for the flex CPU backend: the whole
//! sequence, both directions, forward and backward, as one autodiff
//! operation.
//!
//! Why: built from burn's tensor ops, one recurrent step is ten to twenty
//! small operations (two products, slices, sigmoids, tanhs, the products of
//! the state update), each a graph node with its own buffer, and burn's
//! sigmoid and tanh run one element at a time through libm (and the
//! autodiff sigmoid computes its output again in the backward pass). Over
//! 300 steps that was 3.5x slower than PyTorch's LSTM here. This operation
//! does what PyTorch's CPU LSTM and GRU do: the input projection of every
//! step in one product, per step only the hidden product and one pass of
//! vectorised gate arithmetic (`wide`'s f32x8 `exp`), the two directions on
//! two threads, and backpropagation through time by hand with the weight
//! gradients as one product over all steps.
//!
//! The arithmetic is the same as [`crate::net`]'s per-op cells (PyTorch's
//! gate orders, LSTM i, f, g, o and GRU r, z, n with the reset gate applied
//! to the hidden projection after its bias; the state held outside each
//! sequence's frames), and a test holds the two to each other, outputs and
//! gradients, for both cells. Tensors on another backend (wgpu) get `None`
//! and take the per-op path.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Flex};
use burn::tensor::Tensor;
use wide::f32x8;

use crate::kernels::{View, flex_tensor, gemm, into_values};

/// Which recurrent cell a layer steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CellKind {
    Lstm,
    Gru,
}

impl CellKind {
    /// Gate blocks of `hidden` in each projection.
    fn gates(self) -> usize {
        match self {
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }
}

/// One direction's parameters, as burn's `Linear` keeps them: input
/// weight (inputs x gates * hidden) and bias, hidden weight (hidden x
/// gates * hidden) and bias.
pub(crate) struct RnnWeights {
    pub w_ih: Tensor<2>,
    pub b_ih: Tensor<1>,
    pub w_hh: Tensor<2>,
    pub b_hh: Tensor<1>,
}

/// The layer's output, batch x time x (hidden x directions), the forward
/// direction's hidden state first; `None` when `x` is not a flex tensor.
/// `directions` holds one (forward) or two (forward, backward) weight sets.
pub(crate) fn recurrent_layer(
    x: &Tensor<3>,
    cell: CellKind,
    directions: &[RnnWeights],
    lengths: &[usize],
) -> Option<Tensor<3>> {
    match directions.len() {
        1 => run::<5>(x, cell, directions, lengths),
        2 => run::<9>(x, cell, directions, lengths),
        _ => None,
    }
}

/// Parents in order: x, then per direction w_ih, b_ih, w_hh, b_hh.
fn parents(x: &Tensor<3>, directions: &[RnnWeights]) -> Vec<Tensor<1>> {
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
    cell: CellKind,
    directions: &[RnnWeights],
    lengths: &[usize],
) -> Option<Tensor<3>> {
    let [b, t, d] = x.dims();
    let h = directions[0].w_hh.dims()[0];
    let shape = Shape { b, t, d, h, cell };
    let tensors = parents(x, directions);
    let tracked: Option<Vec<_>> = tensors
        .iter()
        .map(|p| p.clone().try_into_primitive::<Autodiff<Flex>>().ok())
        .collect();
    if let Some(prims) = tracked {
        let values: Vec<View> = prims.iter().map(|p| View::of(p.primitive())).collect();
        let (out, tape) = forward(shape, &values, lengths);
        let nodes: [_; N] = std::array::from_fn(|i| prims[i].node());
        let output = flex_tensor(out, [b, t, h * directions.len()]);
        let result = match RnnBackward::<N>
            .prepare::<NoCheckpointing>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(Arc::new(tape), output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        };
        return Some(Tensor::from_primitive::<Autodiff<Flex>>(result));
    }
    let values: Vec<View> = tensors
        .into_iter()
        .map(|p| p.try_into_primitive::<Flex>().ok().map(|f| View::of(&f)))
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
    cell: CellKind,
}

/// What the backward pass needs of one direction.
#[derive(Debug)]
struct DirectionTape {
    reverse: bool,
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    /// Gate activations per (row, step), LSTM i, f, g, o (b x t x 4h), GRU
    /// r, z, n (b x t x 3h); 0 outside a sequence.
    gates: Vec<f32>,
    /// GRU: the hidden projection (with its bias) of each real step, which
    /// the reset gate scales (b x t x 3h); empty for an LSTM, whose gates
    /// see only the sum of both projections.
    hidden_projection: Vec<f32>,
    /// LSTM: cell state after each step (held outside a sequence): b x t x
    /// h; empty for a GRU.
    cell: Vec<f32>,
    /// LSTM: tanh of the cell state of each real step (0 elsewhere); empty
    /// for a GRU.
    cell_tanh: Vec<f32>,
    /// Hidden state after each step: b x t x h.
    hidden: Vec<f32>,
}

#[derive(Debug)]
struct Tape {
    shape: Shape,
    x: View,
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

fn forward(shape: Shape, values: &[View], lengths: &[usize]) -> (Vec<f32>, Tape) {
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
    let Shape {
        b,
        t,
        d,
        h,
        cell: kind,
    } = shape;
    let lstm = kind == CellKind::Lstm;
    let g = kind.gates() * h;
    // Every step's input projection in one product, biases added (an
    // LSTM's gates see both biases; a GRU's reset gate scales the hidden
    // projection with its own bias, so that bias is added per step).
    let mut gates = vec![0f32; b * t * g];
    gemm(
        (b * t, g, d),
        &mut gates,
        g,
        false,
        (x, d, 1),
        (w_ih, g, 1),
        true,
    );
    let bias: Vec<f32> = match kind {
        CellKind::Lstm => b_ih.iter().zip(b_hh).map(|(a, c)| a + c).collect(),
        CellKind::Gru => b_ih.to_vec(),
    };
    for row in gates.chunks_exact_mut(g) {
        row.iter_mut().zip(&bias).for_each(|(v, b)| *v += b);
    }
    let mut hidden_projection = if lstm {
        Vec::new()
    } else {
        vec![0f32; b * t * g]
    };
    let (mut cell, mut cell_tanh) = if lstm {
        (vec![0f32; b * t * h], vec![0f32; b * t * h])
    } else {
        (Vec::new(), Vec::new())
    };
    let mut hidden = vec![0f32; b * t * h];
    let mut h_prev = vec![0f32; b * h];
    let mut c_prev = vec![0f32; if lstm { b * h } else { 0 }];
    for step in 0..t {
        let tt = step_time(step, t, reverse);
        // The hidden product of step tt, whose rows are t * g apart: into
        // an LSTM's gates, beside a GRU's.
        let (target, accumulate) = match kind {
            CellKind::Lstm => (&mut gates, true),
            CellKind::Gru => (&mut hidden_projection, false),
        };
        gemm(
            (b, g, h),
            &mut target[tt * g..],
            t * g,
            accumulate,
            (&h_prev, h, 1),
            (w_hh, g, 1),
            false,
        );
        for r in 0..b {
            let at = (r * t + tt) * h;
            let rows = (r * t + tt) * g..(r * t + tt + 1) * g;
            let hp = &mut h_prev[r * h..(r + 1) * h];
            let a = &mut gates[rows.clone()];
            if tt >= lengths[r] {
                // Outside the sequence: the state is held; no gates.
                a.fill(0.0);
                if !lstm {
                    hidden_projection[rows].fill(0.0);
                }
            } else if lstm {
                let cp = &mut c_prev[r * h..(r + 1) * h];
                sigmoid_in_place(&mut a[..2 * h]);
                tanh_in_place(&mut a[2 * h..3 * h]);
                sigmoid_in_place(&mut a[3 * h..]);
                let (i, rest) = a.split_at(h);
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
                cell[at..at + h].copy_from_slice(cp);
            } else {
                let hw = &mut hidden_projection[rows];
                hw.iter_mut().zip(b_hh).for_each(|(v, b)| *v += b);
                for (v, w) in a[..2 * h].iter_mut().zip(&hw[..2 * h]) {
                    *v += w;
                }
                sigmoid_in_place(&mut a[..2 * h]);
                let (rz, n) = a.split_at_mut(2 * h);
                for j in 0..h {
                    n[j] += rz[j] * hw[2 * h + j];
                }
                tanh_in_place(n);
                let z = &rz[h..];
                for j in 0..h {
                    hp[j] = (1.0 - z[j]) * n[j] + z[j] * hp[j];
                }
            }
            if lstm && tt >= lengths[r] {
                cell[at..at + h].copy_from_slice(&c_prev[r * h..(r + 1) * h]);
            }
            hidden[at..at + h].copy_from_slice(&h_prev[r * h..(r + 1) * h]);
        }
    }
    DirectionTape {
        reverse,
        w_ih: w_ih.to_vec(),
        w_hh: w_hh.to_vec(),
        gates,
        hidden_projection,
        cell,
        cell_tanh,
        hidden,
    }
}

/// Gradients of one direction: (x, w_ih, b_ih, w_hh, b_hh).
fn backward_direction(
    tape: &Tape,
    dir: &DirectionTape,
    grad_out: &[f32],
    column: usize,
    width: usize,
) -> [Vec<f32>; 5] {
    let Shape {
        b,
        t,
        d,
        h,
        cell: kind,
    } = tape.shape;
    let lstm = kind == CellKind::Lstm;
    let g = kind.gates() * h;
    // Gradients of the input projection's outputs; a GRU's hidden
    // projection has its own (they differ in the n block, which the reset
    // gate scales), an LSTM's is the same.
    let mut d_gates = vec![0f32; b * t * g];
    let mut d_hidden_projection = if lstm {
        Vec::new()
    } else {
        vec![0f32; b * t * g]
    };
    let mut dh_next = vec![0f32; b * h];
    let mut dc_next = vec![0f32; if lstm { b * h } else { 0 }];
    // The state before step tt (zero before the first step).
    let before = |r: usize, step: usize| -> Option<usize> {
        (step > 0).then(|| (r * t + step_time(step - 1, t, dir.reverse)) * h)
    };
    // W_hh^T (g x h) laid out row-major once: the per-step product below
    // then reads it as it is, instead of gathering a strided view of W_hh
    // in every one of the t steps.
    let mut w_hh_t = vec![0f32; g * h];
    for (i, row) in dir.w_hh.chunks_exact(g).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            w_hh_t[j * h + i] = v;
        }
    }
    for step in (0..t).rev() {
        let tt = step_time(step, t, dir.reverse);
        for r in 0..b {
            let at = (r * t + tt) * h;
            let rows = (r * t + tt) * g..(r * t + tt + 1) * g;
            let dy = &grad_out[(r * t + tt) * width + column..][..h];
            let dh = &mut dh_next[r * h..(r + 1) * h];
            dh.iter_mut().zip(dy).for_each(|(a, y)| *a += y);
            if tt >= tape.lengths[r] {
                // A held step passes the state's gradients on unchanged.
                continue;
            }
            let a = &dir.gates[rows.clone()];
            let prev = before(r, step);
            if lstm {
                let (i, f, gg, o) = (&a[..h], &a[h..2 * h], &a[2 * h..3 * h], &a[3 * h..]);
                let dc = &mut dc_next[r * h..(r + 1) * h];
                let da = &mut d_gates[rows];
                let tc = &dir.cell_tanh[at..at + h];
                for j in 0..h {
                    let cp = prev.map_or(0.0, |p| dir.cell[p + j]);
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
            } else {
                let (reset, z, n) = (&a[..h], &a[h..2 * h], &a[2 * h..]);
                let hn = &dir.hidden_projection[rows.start + 2 * h..rows.end];
                let dx_g = &mut d_gates[rows.clone()];
                let dh_g = &mut d_hidden_projection[rows];
                for j in 0..h {
                    let hp = prev.map_or(0.0, |p| dir.hidden[p + j]);
                    let dan = dh[j] * (1.0 - z[j]) * (1.0 - n[j] * n[j]);
                    let daz = dh[j] * (hp - n[j]) * z[j] * (1.0 - z[j]);
                    let dar = dan * hn[j] * reset[j] * (1.0 - reset[j]);
                    dx_g[j] = dar;
                    dx_g[h + j] = daz;
                    dx_g[2 * h + j] = dan;
                    dh_g[j] = dar;
                    dh_g[h + j] = daz;
                    dh_g[2 * h + j] = dan * reset[j];
                    // The state's direct path, z h_prev.
                    dh[j] *= z[j];
                }
            }
        }
        // dh_prev += dP_tt W_hh^T for the hidden projection's gradient dP.
        let through = if lstm { &d_gates } else { &d_hidden_projection };
        gemm(
            (b, h, g),
            &mut dh_next,
            h,
            true,
            (&through[tt * g..], t * g, 1),
            (&w_hh_t, h, 1),
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
    let through = if lstm { &d_gates } else { &d_hidden_projection };
    let mut dw_hh = vec![0f32; h * g];
    gemm(
        (h, g, rows),
        &mut dw_hh,
        g,
        false,
        (&h_before, 1, h),
        (through, g, 1),
        true,
    );
    let mut dw_ih = vec![0f32; d * g];
    gemm(
        (d, g, rows),
        &mut dw_ih,
        g,
        false,
        (&tape.x, 1, d),
        (&d_gates, g, 1),
        true,
    );
    let column_sums = |m: &[f32]| {
        let mut sums = vec![0f32; g];
        for row in m.chunks_exact(g) {
            sums.iter_mut().zip(row).for_each(|(a, v)| *a += v);
        }
        sums
    };
    let d_bias_ih = column_sums(&d_gates);
    let d_bias_hh = if lstm {
        d_bias_ih.clone()
    } else {
        column_sums(&d_hidden_projection)
    };
    let mut dx = vec![0f32; rows * d];
    gemm(
        (rows, d, g),
        &mut dx,
        d,
        false,
        (&d_gates, g, 1),
        (&dir.w_ih, 1, g),
        true,
    );
    [dx, dw_ih, d_bias_ih, dw_hh, d_bias_hh]
}

#[derive(Debug)]
struct RnnBackward<const N: usize>;

impl<const N: usize> Backward<Flex, N> for RnnBackward<N> {
    type State = Arc<Tape>;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let tape = ops.state;
        let Shape { b, t, d, h, .. } = tape.shape;
        let dirs = tape.directions.len();
        let grad_out = into_values(grads.consume::<Flex>(&ops.node));
        let width = h * dirs;
        let per_direction =
            |k: usize| backward_direction(&tape, &tape.directions[k], &grad_out, k * h, width);
        let results: Vec<[Vec<f32>; 5]> = if dirs == 2 {
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
        for [_, dw_ih, d_bias_ih, dw_hh, d_bias_hh] in results {
            out.extend([dw_ih, d_bias_ih, dw_hh, d_bias_hh]);
        }
        for (parent, grad) in ops.parents.iter().zip(out) {
            if let Some(node) = parent {
                let n = grad.len();
                grads.register::<Flex>(node.id, flex_tensor(grad, [n]));
            }
        }
    }
}
