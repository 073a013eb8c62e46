//! Convolutional networks: 1-D over time on frame descriptors (`cnn1d`),
//! on the waveform (`cnn1d_raw`, M5-like), and 2-D on a spectrogram
//! (`cnn2d`).

use burn::module::Module;
use burn::nn::conv::Conv1dConfig;
use burn::nn::pool::MaxPool1dConfig;
use burn::tensor::{Device, Tensor};

use super::layers::*;
use crate::dropout::Dropout;
use crate::spec::DeepParams;

#[derive(Module, Debug)]
pub struct Cnn1d {
    blocks: Vec<ConvBlock1d>,
    head: Head,
}

#[derive(Module, Debug)]
pub struct Cnn1dRaw {
    front: ConvBlock1d,
    /// Samples per output frame of `front` (its stride times its pool).
    front_stride: usize,
    front_kernel: usize,
    blocks: Vec<ConvBlock1d>,
    head: Head,
}

#[derive(Module, Debug)]
pub struct Cnn2d {
    convs: Conv2dStack,
    head: Head,
}

/// 1-D conv blocks of `kernel`, one per channel count, each pooling by 2
/// and dropping out `dropout` of its outputs.
pub(super) fn conv_stack(
    d_in: usize,
    channels: &[usize],
    kernel: usize,
    dropout: f64,
    p: &DeepParams,
    device: &Device,
) -> Vec<ConvBlock1d> {
    let mut c_in = d_in;
    channels
        .iter()
        .map(|&c| {
            let b = ConvBlock1d::new(c_in, c, kernel, 2, dropout, p, device);
            c_in = c;
            b
        })
        .collect()
}

/// The last channel count of a stack.
pub(super) fn last(c: &[usize]) -> usize {
    *c.last().expect("checked non-empty")
}

impl Cnn1d {
    pub(super) fn new(p: &DeepParams, dims: usize, classes: usize, device: &Device) -> Cnn1d {
        Cnn1d {
            blocks: conv_stack(dims, &p.channels, p.kernel, p.block_dropout(), p, device),
            head: Head::new(last(&p.channels), p.hidden, classes, p, device),
        }
    }

    pub(super) fn forward(&self, x: Tensor<3>, lengths: &[usize]) -> Tensor<2> {
        let (h, lengths) = conv_over_time(&self.blocks, x.swap_dims(1, 2), lengths, 2);
        self.head.forward(masked_mean(h.swap_dims(1, 2), &lengths))
    }
}

impl Cnn1dRaw {
    pub(super) fn new(p: &DeepParams, dims: usize, classes: usize, device: &Device) -> Cnn1dRaw {
        // M5-like: an 80-sample (5 ms) kernel at stride 4, pooled by 4,
        // then 3-wide blocks each pooled by 4.
        let (kernel, stride) = (80, 4);
        let c0 = p.channels[0];
        let front = ConvBlock1d {
            conv: Conv1dConfig::new(dims, c0, kernel)
                .with_stride(stride)
                .with_initializer(hidden_init(p))
                .init(device),
            norm: p.batch_norm.then(|| batch_norm_layer(c0, device)),
            pool: MaxPool1dConfig::new(4).init(),
            dropout: Dropout::new(p.block_dropout()),
        };
        let mut c_in = c0;
        let blocks = p.channels[1..]
            .iter()
            .map(|&c| {
                let b = ConvBlock1d::new(c_in, c, 3, 4, p.block_dropout(), p, device);
                c_in = c;
                b
            })
            .collect();
        Cnn1dRaw {
            front,
            front_stride: stride,
            front_kernel: kernel,
            blocks,
            head: Head::new(c_in, p.hidden, classes, p, device),
        }
    }

    pub(super) fn forward(&self, x: Tensor<3>, lengths: &[usize]) -> Tensor<2> {
        let x = x.swap_dims(1, 2);
        let h = self.front.forward(x);
        let (k, s) = (self.front_kernel, self.front_stride);
        let lengths = pooled(lengths, |l| (l.saturating_sub(k) / s + 1) / 4);
        let (h, lengths) = conv_over_time(&self.blocks, h, &lengths, 4);
        self.head.forward(masked_mean(h.swap_dims(1, 2), &lengths))
    }
}

impl Cnn2d {
    pub(super) fn new(p: &DeepParams, dims: usize, classes: usize, device: &Device) -> Cnn2d {
        let convs = Conv2dStack::new(&p.channels, 3, dims, p, device);
        let width = convs.out_dims;
        Cnn2d {
            convs,
            head: Head::new(width, p.hidden, classes, p, device),
        }
    }

    pub(super) fn forward(&self, x: Tensor<3>, lengths: &[usize]) -> Tensor<2> {
        self.head.forward(self.convs.forward(x, lengths))
    }
}
