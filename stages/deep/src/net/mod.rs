//! The networks. Every one maps a padded batch (batch x time x dims, with
//! each sequence's length) to class logits (batch x classes), and pools
//! over time with masks so padding never counts.
//!
//! [`layers`] is the kit (conv blocks, masks, the dense head) and
//! [`recurrent`] the LSTM/GRU layers; each architecture family has its own
//! module ([`dense`], [`conv`], [`rnn`], [`transformer`]) with its
//! network's construction and forward pass. [`Net`] dispatches on the kind.

mod conv;
mod dense;
mod layers;
mod recurrent;
mod rnn;
mod transformer;

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::spec::{DeepKind, DeepParams};
use conv::{Cnn1d, Cnn1dRaw, Cnn2d};
use dense::Mlp;
use rnn::{AttentionRnn, Crnn, Rnn};
use transformer::CnnTransformer;

// One network per training run: boxing the large variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Net {
    Mlp(Mlp),
    Cnn1d(Cnn1d),
    Cnn1dRaw(Cnn1dRaw),
    Cnn2d(Cnn2d),
    Rnn(Rnn),
    Crnn(Crnn),
    AttentionRnn(AttentionRnn),
    CnnTransformer(CnnTransformer),
}

impl Net {
    /// A freshly initialised network (draws from the device's seed).
    pub fn new(
        kind: DeepKind,
        p: &DeepParams,
        dims: usize,
        classes: usize,
        device: &Device,
    ) -> Net {
        let _ids = layers::number_running_states();
        match kind {
            DeepKind::Mlp => Net::Mlp(Mlp::new(p, dims, classes, device)),
            DeepKind::Cnn1d => Net::Cnn1d(Cnn1d::new(p, dims, classes, device)),
            DeepKind::Cnn1dRaw => Net::Cnn1dRaw(Cnn1dRaw::new(p, dims, classes, device)),
            DeepKind::Cnn2d => Net::Cnn2d(Cnn2d::new(p, dims, classes, device)),
            DeepKind::Lstm | DeepKind::Gru => {
                Net::Rnn(Rnn::new(kind == DeepKind::Gru, p, dims, classes, device))
            }
            DeepKind::Crnn => Net::Crnn(Crnn::new(p, dims, classes, device)),
            DeepKind::AttentionLstm => {
                Net::AttentionRnn(AttentionRnn::new(p, dims, classes, device))
            }
            DeepKind::CnnTransformer => {
                Net::CnnTransformer(CnnTransformer::new(p, dims, classes, device))
            }
        }
    }

    /// Logits (batch x classes) for x (batch x time x dims).
    pub fn forward(&self, x: Tensor<3>, lengths: &[usize]) -> Tensor<2> {
        match self {
            Net::Mlp(m) => m.forward(x),
            Net::Cnn1d(m) => m.forward(x, lengths),
            Net::Cnn1dRaw(m) => m.forward(x, lengths),
            Net::Cnn2d(m) => m.forward(x, lengths),
            Net::Rnn(m) => m.forward(x, lengths),
            Net::Crnn(m) => m.forward(x, lengths),
            Net::AttentionRnn(m) => m.forward(x, lengths),
            Net::CnnTransformer(m) => m.forward(x, lengths),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::layers::Conv2dStack;
    use super::recurrent::Recurrent;
    use super::*;
    use crate::spec::BinPooling;

    fn device() -> Device {
        Device::flex()
    }

    fn params() -> DeepParams {
        DeepParams {
            hidden: 8,
            layers: 1,
            channels: vec![4, 8],
            heads: 2,
            dropout: 0.0,
            ..DeepParams::default()
        }
    }

    #[test]
    fn every_network_maps_a_padded_batch_to_logits() {
        let _generator = crate::fit::generator_lock();
        let device = device();
        for kind in DeepKind::ALL {
            let (t, d) = match kind {
                DeepKind::Mlp => (1, 6),
                DeepKind::Cnn1dRaw => (1600, 1),
                _ => (20, 6),
            };
            let net = Net::new(kind, &params(), d, 3, &device);
            let x = Tensor::<3>::random(
                [2, t, d],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            let lengths = [t, (t / 2).max(1)];
            let y = net.forward(x, &lengths);
            assert_eq!(y.dims(), [2, 3], "{kind:?}");
        }
    }

    /// `head: linear` leaves out the hidden layer, for every kind: fewer
    /// parameters by exactly that layer and a wider output layer, and the
    /// same logits' shape.
    #[test]
    fn a_linear_head_has_no_hidden_layer() {
        let _generator = crate::fit::generator_lock();
        use burn::module::Module;
        let device = device();
        for kind in DeepKind::ALL {
            let (t, d) = match kind {
                // Its hidden layers are `layers` (check() refuses the option).
                DeepKind::Mlp => continue,
                DeepKind::Cnn1dRaw => (1600, 1),
                _ => (20, 6),
            };
            let hidden = Net::new(kind, &params(), d, 3, &device);
            let p = DeepParams {
                head: crate::spec::HeadKind::Linear,
                ..params()
            };
            let linear = Net::new(kind, &p, d, 3, &device);
            // The pooled width w: the hidden head has w*8+8 + 8*3+3
            // parameters, the linear one w*3+3, so the difference is 5w+32.
            let diff = hidden.num_params() as i64 - linear.num_params() as i64;
            assert!(diff > 32 && (diff - 32) % 5 == 0, "{kind:?}: {diff}");
            let x = Tensor::<3>::random(
                [2, t, d],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            assert_eq!(linear.forward(x, &[t, t]).dims(), [2, 3], "{kind:?}");
        }
    }

    /// A spectrogram stack's width is the last block's channels (bins
    /// averaged) or channels x the bins its blocks leave (bins kept),
    /// whatever the input's length: a sequence too short or too narrow
    /// for every block's pooling is padded, not cut short of blocks.
    #[test]
    fn spectrogram_stacks_give_one_width_for_every_length() {
        let _generator = crate::fit::generator_lock();
        let device = device();
        for (pooling, bins, width) in [
            (BinPooling::Mean, 16, 8),
            (BinPooling::Keep, 16, 8 * 4),
            (BinPooling::Keep, 3, 8),
        ] {
            let p = DeepParams {
                bin_pooling: pooling,
                ..params()
            };
            let stack = Conv2dStack::new(&p.channels, 3, bins, &p, &device);
            assert_eq!(stack.out_dims, width, "{pooling:?}, {bins} bins");
            for t in [1, 2, 3, 20] {
                let x = Tensor::<3>::random(
                    [2, t, bins],
                    burn::tensor::Distribution::Normal(0.0, 1.0),
                    &device,
                );
                let y = stack.forward(x, &[t, 1]);
                assert_eq!(y.dims(), [2, width], "{pooling:?}, {bins} bins, {t} frames");
            }
        }
        for kind in [DeepKind::Cnn2d, DeepKind::CnnTransformer] {
            let p = DeepParams {
                bin_pooling: BinPooling::Keep,
                ..params()
            };
            let net = Net::new(kind, &p, 16, 3, &device);
            let x = Tensor::<3>::random(
                [2, 3, 16],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            assert_eq!(net.forward(x, &[3, 2]).dims(), [2, 3], "{kind:?}");
        }
    }

    /// Padding a sequence with anything must not change its output: the
    /// masks keep padded frames out of every pooling and of the backward
    /// RNN's state.
    #[test]
    fn padding_does_not_reach_the_output() {
        let _generator = crate::fit::generator_lock();
        let device = device();
        let (t, d) = (12, 3);
        for kind in [DeepKind::Lstm, DeepKind::Gru, DeepKind::AttentionLstm] {
            let p = DeepParams {
                batch_norm: false,
                ..params()
            };
            let net = Net::new(kind, &p, d, 3, &device);
            let x = Tensor::<3>::random(
                [1, t, d],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            let alone = net.forward(x.clone(), &[t]);
            let junk = Tensor::<3>::random(
                [1, 5, d],
                burn::tensor::Distribution::Normal(5.0, 3.0),
                &device,
            );
            let padded_input = Tensor::cat(vec![x, junk], 1);
            let padded = net.forward(padded_input.clone(), &[t]);
            let (a, p): (Vec<f32>, Vec<f32>) = (
                alone.to_data().try_to_vec::<f32>().unwrap(),
                padded.to_data().try_to_vec::<f32>().unwrap(),
            );
            for (x, y) in a.iter().zip(&p) {
                assert!((x - y).abs() <= 1e-5, "{kind:?}: {a:?} vs {p:?}");
            }
            // Beside a longer sequence: the steps both cover run unmasked,
            // the rest masked, and the short one's output still ignores
            // its padding.
            let long = Tensor::<3>::random(
                [1, t + 5, d],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            let both = net.forward(
                Tensor::cat(vec![padded_input.clone(), long], 0),
                &[t, t + 5],
            );
            let first = both
                .slice([0..1, 0..3])
                .to_data()
                .try_to_vec::<f32>()
                .unwrap();
            for (x, y) in a.iter().zip(&first) {
                assert!(
                    (x - y).abs() <= 1e-5,
                    "{kind:?} in a mixed batch: {a:?} vs {first:?}"
                );
            }
        }
    }

    /// The fused LSTM and GRU layers compute what the per-op cells
    /// compute, forward and backward: outputs, the input's gradient and
    /// every weight's, for two-layer bidirectional networks over a ragged
    /// batch.
    #[test]
    fn the_fused_lstm_matches_the_per_op_cells() {
        let _generator = crate::fit::generator_lock();
        fused_matches_per_op(false);
    }

    #[test]
    fn the_fused_gru_matches_the_per_op_cells() {
        let _generator = crate::fit::generator_lock();
        fused_matches_per_op(true);
    }

    fn fused_matches_per_op(gru: bool) {
        let device = device().autodiff();
        let (b, t, d) = (3, 9, 5);
        let p = DeepParams {
            layers: 2,
            hidden: 6,
            ..params()
        };
        let rnn = Recurrent::new(gru, d, &p, &device);
        let lengths = [t, 4, 7];
        let x = Tensor::<3>::random(
            [b, t, d],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        )
        .require_grad();
        let weights = Tensor::<3>::random(
            [b, t, 12],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let fused = rnn
            .forward_fused(&x, &lengths)
            .expect("flex tensors take the fused path");
        let per_op = rnn.forward_per_op(x.clone(), &lengths);
        let values = |t: &Tensor<3>| t.to_data().try_to_vec::<f32>().unwrap();
        let close = |what: &str, a: Vec<f32>, b: Vec<f32>| {
            assert_eq!(a.len(), b.len(), "{what}");
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                assert!(
                    (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                    "{what}[{i}]: {x} vs {y}"
                );
            }
        };
        close("outputs", values(&fused), values(&per_op));
        let grads_fused = (fused * weights.clone()).sum().backward();
        let grads_per_op = (per_op * weights).sum().backward();
        fn grad<const D: usize>(grads: &burn::tensor::Gradients, t: &Tensor<D>) -> Vec<f32> {
            let g = t.grad(grads).expect("a gradient reaches every parameter");
            g.to_data().try_to_vec::<f32>().unwrap()
        }
        close(
            "x gradient",
            grad(&grads_fused, &x),
            grad(&grads_per_op, &x),
        );
        for (layer, cell) in rnn
            .forward_cells
            .iter()
            .chain(&rnn.backward_cells)
            .enumerate()
        {
            for (name, w) in [("input", &cell.input), ("hidden", &cell.hidden)] {
                let (weight, bias) = (w.weight.val(), w.bias.as_ref().unwrap().val());
                close(
                    &format!("cell {layer} {name} weight"),
                    grad(&grads_fused, &weight),
                    grad(&grads_per_op, &weight),
                );
                close(
                    &format!("cell {layer} {name} bias"),
                    grad(&grads_fused, &bias),
                    grad(&grads_per_op, &bias),
                );
            }
        }
        // Without autodiff (evaluation), the same numbers.
        let plain = rnn.valid();
        let x_plain = x.inner();
        close(
            "outputs without autodiff",
            values(&plain.forward_fused(&x_plain, &lengths).unwrap()),
            values(&plain.forward_per_op(x_plain.clone(), &lengths)),
        );
    }
}
