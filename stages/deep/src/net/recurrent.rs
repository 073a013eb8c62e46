//! Recurrent layers: LSTM and GRU cells stepped over time, and the
//! (bidirectional, multi-layer) encoder built from them.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{sigmoid, tanh};
use burn::tensor::{Device, Tensor};

use super::layers::*;
use crate::dropout::Dropout;
use crate::spec::DeepParams;

/// One direction of one recurrent layer: an LSTM or GRU cell (PyTorch's
/// gate layout; GRU with the reset gate applied after the hidden
/// projection), stepped over time.
///
/// burn's own `Lstm` writes each step into a preallocated (batch x time x
/// hidden) tensor, which copies the whole sequence per step (quadratic in
/// length: 40% of an LSTM training step was memmove here). These cells keep
/// one tensor per step and stack them once.
#[derive(Module, Debug)]
pub(super) struct Cell {
    pub(super) input: Linear,
    pub(super) hidden: Linear,
    pub(super) gates: usize,
    pub(super) d_hidden: usize,
}

impl Cell {
    pub(super) fn new(gru: bool, d_in: usize, d_hidden: usize, device: &Device) -> Self {
        let gates = if gru { 3 } else { 4 };
        Cell {
            input: LinearConfig::new(d_in, gates * d_hidden).init(device),
            hidden: LinearConfig::new(d_hidden, gates * d_hidden).init(device),
            gates,
            d_hidden,
        }
    }

    /// The cell's parameters for the fused layer.
    pub(super) fn weights(&self) -> Option<crate::fused_rnn::RnnWeights> {
        Some(crate::fused_rnn::RnnWeights {
            w_ih: self.input.weight.val(),
            b_ih: self.input.bias.as_ref()?.val(),
            w_hh: self.hidden.weight.val(),
            b_hh: self.hidden.bias.as_ref()?.val(),
        })
    }

    /// Outputs per step (batch x hidden) over `inputs` (one batch x
    /// features tensor per step); `masks[t]`, when given, is (mask, 1 -
    /// mask) for step t, mask (batch x 1) being 1 where step t is a real
    /// frame, and `None` marks a step every sequence covers. Outside a
    /// sequence the state is held, so a backward pass (steps in reverse)
    /// starts every sequence at its own last frame from a zero state.
    ///
    /// The input projection stays per step: projecting the whole sequence
    /// in one product and slicing steps out of it is slower in training,
    /// because each slice's gradient is a zero-filled tensor of the whole
    /// sequence (measured: 22.9 -> 6.8 samples/s in `cargo bench --bench
    /// deep`, lstm).
    pub(super) fn run(
        &self,
        inputs: &[Tensor<2>],
        masks: &[Option<(Tensor<2>, Tensor<2>)>],
        backward: bool,
    ) -> Vec<Tensor<2>> {
        let b = inputs[0].dims()[0];
        let device = inputs[0].device();
        let d = self.d_hidden;
        let h0 = Tensor::<2>::zeros([b, d], &device);
        let (mut h, mut c) = (h0.clone(), h0);
        let t_len = inputs.len();
        let mut out: Vec<Option<Tensor<2>>> = vec![None; t_len];
        for step in 0..t_len {
            let t = if backward { t_len - 1 - step } else { step };
            let xw = self.input.forward(inputs[t].clone());
            let hw = self.hidden.forward(h.clone());
            let part = |x: &Tensor<2>, k: usize| x.clone().slice([0..b, k * d..(k + 1) * d]);
            let (h_new, c_new) = if self.gates == 4 {
                let g = xw + hw;
                let i = sigmoid(part(&g, 0));
                let f = sigmoid(part(&g, 1));
                let cand = tanh(part(&g, 2));
                let o = sigmoid(part(&g, 3));
                let c_new = f * c.clone() + i * cand;
                (o * tanh(c_new.clone()), c_new)
            } else {
                let rz = sigmoid(
                    xw.clone().slice([0..b, 0..2 * d]) + hw.clone().slice([0..b, 0..2 * d]),
                );
                let (r, z) = (part(&rz, 0), part(&rz, 1));
                let n = tanh(part(&xw, 2) + r * part(&hw, 2));
                let h_new = (z.clone().neg() + 1.0) * n + z * h.clone();
                (h_new, c.clone())
            };
            match &masks[t] {
                Some((m, keep)) => {
                    h = h_new * m.clone() + h * keep.clone();
                    c = c_new * m.clone() + c * keep.clone();
                }
                None => {
                    h = h_new;
                    c = c_new;
                }
            }
            out[t] = Some(h.clone());
        }
        out.into_iter()
            .map(|o| o.expect("every step ran"))
            .collect()
    }
}

/// A (possibly bidirectional, possibly multi-layer) recurrent encoder;
/// output batch x time x (hidden x directions).
#[derive(Module, Debug)]
pub(super) struct Recurrent {
    pub(super) forward_cells: Vec<Cell>,
    pub(super) backward_cells: Vec<Cell>,
    pub(super) dropout: Dropout,
}

impl Recurrent {
    pub(super) fn new(gru: bool, d_in: usize, p: &DeepParams, device: &Device) -> Self {
        let dirs = if p.bidirectional { 2 } else { 1 };
        let mut r = Recurrent {
            forward_cells: vec![],
            backward_cells: vec![],
            dropout: Dropout::new(p.dropout),
        };
        for layer in 0..p.layers {
            let d = if layer == 0 { d_in } else { p.hidden * dirs };
            r.forward_cells.push(Cell::new(gru, d, p.hidden, device));
            if dirs == 2 {
                r.backward_cells.push(Cell::new(gru, d, p.hidden, device));
            }
        }
        r
    }

    pub(super) fn forward(&self, x: Tensor<3>, lengths: &[usize]) -> Tensor<3> {
        match self.forward_fused(&x, lengths) {
            Some(out) => out,
            None => self.forward_per_op(x, lengths),
        }
    }

    /// LSTM and GRU layers on the flex backend as one fused operation each
    /// (see [`crate::fused_rnn`]); `None` on another backend.
    pub(super) fn forward_fused(&self, x: &Tensor<3>, lengths: &[usize]) -> Option<Tensor<3>> {
        use crate::fused_rnn::CellKind;
        let cell = match self.forward_cells.first()?.gates {
            4 => CellKind::Lstm,
            _ => CellKind::Gru,
        };
        let layers = self.forward_cells.len();
        let mut x = x.clone();
        for layer in 0..layers {
            let mut directions = vec![self.forward_cells[layer].weights()?];
            if let Some(cell) = self.backward_cells.get(layer) {
                directions.push(cell.weights()?);
            }
            x = crate::fused_rnn::recurrent_layer(&x, cell, &directions, lengths)?;
            if layer + 1 < layers {
                x = self.dropout.forward(x);
            }
        }
        Some(x)
    }

    /// The same network from burn's tensor ops, one step at a time: the
    /// path on the GPU backend.
    pub(super) fn forward_per_op(&self, x: Tensor<3>, lengths: &[usize]) -> Tensor<3> {
        let [b, t, d] = x.dims();
        let device = x.device();
        // Steps before the shortest sequence's end are real frames in every
        // row and need no mask (with equal-length windows, none do).
        let covered = lengths.iter().copied().min().unwrap_or(0).min(t);
        let mask = frame_mask(lengths, t, &device);
        let masks: Vec<Option<(Tensor<2>, Tensor<2>)>> = (0..t)
            .map(|i| {
                (i >= covered).then(|| {
                    let m = mask.clone().slice([0..b, i..i + 1]);
                    (m.clone(), m.neg() + 1.0)
                })
            })
            .collect();
        let mut steps: Vec<Tensor<2>> = (0..t)
            .map(|i| x.clone().slice([0..b, i..i + 1, 0..d]).reshape([b, d]))
            .collect();
        let layers = self.forward_cells.len();
        for layer in 0..layers {
            let fwd = self.forward_cells[layer].run(&steps, &masks, false);
            steps = match self.backward_cells.get(layer) {
                Some(cell) => {
                    let bwd = cell.run(&steps, &masks, true);
                    fwd.into_iter()
                        .zip(bwd)
                        .map(|(f, b)| Tensor::cat(vec![f, b], 1))
                        .collect()
                }
                None => fwd,
            };
            if layer + 1 < layers {
                steps = steps.into_iter().map(|s| self.dropout.forward(s)).collect();
            }
        }
        Tensor::stack(steps, 1)
    }
}
