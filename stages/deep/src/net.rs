//! The networks. Every one maps a padded batch (batch x time x dims, with
//! each sequence's length) to class logits (batch x classes), and pools
//! over time with masks so padding never counts.

use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig, Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool1d, MaxPool1dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig,
    PaddingConfig1d, PaddingConfig2d,
};
use burn::tensor::activation::{gelu, relu, sigmoid, softmax, tanh};
use burn::tensor::{Bool, Device, Tensor, TensorData};

use crate::dropout::Dropout;
use crate::spec::{BinPooling, DeepKind, DeepParams};

/// He (Kaiming) normal initialisation, for layers followed by a ReLU.
fn he() -> Initializer {
    Initializer::KaimingNormal {
        gain: std::f64::consts::SQRT_2,
        fan_out_only: false,
    }
}

fn linear(d_in: usize, d_out: usize, device: &Device) -> Linear {
    LinearConfig::new(d_in, d_out)
        .with_initializer(he())
        .init(device)
}

/// A float mask (batch x time) with 1.0 on each sequence's frames.
fn frame_mask(lengths: &[usize], max_len: usize, device: &Device) -> Tensor<2> {
    let mut m = vec![0f32; lengths.len() * max_len];
    for (b, &len) in lengths.iter().enumerate() {
        m[b * max_len..b * max_len + len.min(max_len)].fill(1.0);
    }
    Tensor::from_data(TensorData::new(m, [lengths.len(), max_len]), device)
}

/// The mean over each sequence's own frames: x is batch x time x dims.
fn masked_mean(x: Tensor<3>, lengths: &[usize]) -> Tensor<2> {
    let [b, t, d] = x.dims();
    let mask = frame_mask(lengths, t, &x.device());
    let counts: Vec<f32> = lengths.iter().map(|&l| l.clamp(1, t) as f32).collect();
    let counts = Tensor::<2>::from_data(TensorData::new(counts, [b, 1]), &x.device());
    let summed = (x * mask.unsqueeze_dim::<3>(2)).sum_dim(1).reshape([b, d]);
    summed / counts
}

/// Lengths after a pooling that maps t frames to `f(t)`, at least 1.
fn pooled(lengths: &[usize], f: impl Fn(usize) -> usize) -> Vec<usize> {
    lengths.iter().map(|&l| f(l).max(1)).collect()
}

/// `norm` applied to x; in training on the CPU one fused operation (see
/// [`crate::fused_norm`]).
fn batch_norm<const D: usize>(norm: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    crate::fused_norm::batch_norm_train(norm, &x).unwrap_or_else(|| norm.forward(x))
}

/// A conv block over time: conv (same padding), batch norm, ReLU, max-pool
/// by `pool`, dropout.
#[derive(Module, Debug)]
struct ConvBlock1d {
    conv: Conv1d,
    norm: Option<BatchNorm>,
    pool: MaxPool1d,
    dropout: Dropout,
}

impl ConvBlock1d {
    fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        pool: usize,
        p: &DeepParams,
        device: &Device,
    ) -> Self {
        ConvBlock1d {
            conv: Conv1dConfig::new(c_in, c_out, kernel)
                .with_padding(PaddingConfig1d::Same)
                .with_initializer(he())
                .init(device),
            norm: p
                .batch_norm
                .then(|| BatchNormConfig::new(c_out).init(device)),
            pool: MaxPool1dConfig::new(pool).init(),
            dropout: Dropout::new(p.dropout),
        }
    }

    /// x: batch x channels x time.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let mut x = match crate::fused_conv::conv1d_same(&self.conv, &x) {
            Some(y) => y,
            None => self.conv.forward(x),
        };
        if let Some(norm) = &self.norm {
            x = batch_norm(norm, x);
        }
        let pooled = match crate::fused_pool::relu_max_pool1d(&self.pool, &x) {
            Some(y) => y,
            None => self.pool.forward(relu(x)),
        };
        self.dropout.forward(pooled)
    }
}

/// A 2-D conv block: conv k x k (same padding), batch norm, ReLU, 2x2
/// max-pool, dropout.
#[derive(Module, Debug)]
struct ConvBlock2d {
    conv: Conv2d,
    norm: Option<BatchNorm>,
    pool: MaxPool2d,
    dropout: Dropout,
}

impl ConvBlock2d {
    fn new(c_in: usize, c_out: usize, kernel: usize, p: &DeepParams, device: &Device) -> Self {
        ConvBlock2d {
            conv: Conv2dConfig::new([c_in, c_out], [kernel, kernel])
                .with_padding(PaddingConfig2d::Same)
                .with_initializer(he())
                .init(device),
            norm: p
                .batch_norm
                .then(|| BatchNormConfig::new(c_out).init(device)),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            dropout: Dropout::new(p.dropout),
        }
    }

    /// x: batch x channels x time x bins.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = match crate::fused_conv::conv2d_same(&self.conv, &x) {
            Some(y) => y,
            None => self.conv.forward(x),
        };
        if let Some(norm) = &self.norm {
            x = batch_norm(norm, x);
        }
        let pooled = match crate::fused_pool::relu_max_pool2d(&self.pool, &x) {
            Some(y) => y,
            None => self.pool.forward(relu(x)),
        };
        self.dropout.forward(pooled)
    }
}

/// Stacked 2-D blocks on a spectrogram, then pooled to one vector per
/// sequence over its own (pooled) frames: batch x channels, the bins
/// averaged, or batch x (channels x bins) with `BinPooling::Keep`.
#[derive(Module, Debug)]
struct Conv2dStack {
    blocks: Vec<ConvBlock2d>,
    /// Bins left after the blocks when they are kept (0: averaged away).
    bins_kept: usize,
    /// Width of [`Conv2dStack::forward`]'s output.
    out_dims: usize,
}

impl Conv2dStack {
    fn new(
        channels: &[usize],
        kernel: usize,
        bins: usize,
        p: &DeepParams,
        device: &Device,
    ) -> Self {
        let mut c_in = 1;
        let blocks = channels
            .iter()
            .map(|&c| {
                let block = ConvBlock2d::new(c_in, c, kernel, p, device);
                c_in = c;
                block
            })
            .collect();
        let bins_kept = match p.bin_pooling {
            BinPooling::Mean => 0,
            BinPooling::Keep => Self::min_size(channels.len()).max(bins) >> channels.len(),
        };
        let last = *channels.last().expect("checked non-empty");
        Conv2dStack {
            blocks,
            bins_kept,
            out_dims: last * bins_kept.max(1),
        }
    }

    /// Frames and bins every block's 2x2 pooling needs.
    fn min_size(blocks: usize) -> usize {
        1 << blocks
    }

    /// x: batch x time x bins.
    fn forward(&self, x: Tensor<3>, lengths: &[usize]) -> Tensor<2> {
        // A spectrogram too short (or too narrow) for every block's pooling
        // is padded with zeros, so every block runs and the output's width
        // is the same for every input; the masks keep padded frames out of
        // the mean.
        let need = Self::min_size(self.blocks.len());
        let [b, t, d] = x.dims();
        let device = x.device();
        let x = if t < need {
            Tensor::cat(vec![x, Tensor::zeros([b, need - t, d], &device)], 1)
        } else {
            x
        };
        let x = if d < need {
            let t = x.dims()[1];
            Tensor::cat(vec![x, Tensor::zeros([b, t, need - d], &device)], 2)
        } else {
            x
        };
        let [b, t, d] = x.dims();
        let mut x = x.reshape([b, 1, t, d]);
        let mut lengths = lengths.to_vec();
        for block in &self.blocks {
            x = block.forward(x);
            lengths = pooled(&lengths, |l| l / 2);
        }
        let [b, c, t, d] = x.dims();
        // batch x time x features, then the mean over each sequence's frames.
        let x = if self.bins_kept == 0 {
            x.mean_dim(3).reshape([b, c, t]).swap_dims(1, 2)
        } else {
            x.swap_dims(1, 2).reshape([b, t, c * d])
        };
        masked_mean(x, &lengths)
    }
}

/// One direction of one recurrent layer: an LSTM or GRU cell (PyTorch's
/// gate layout; GRU with the reset gate applied after the hidden
/// projection), stepped over time.
///
/// burn's own `Lstm` writes each step into a preallocated (batch x time x
/// hidden) tensor, which copies the whole sequence per step (quadratic in
/// length: 40% of an LSTM training step was memmove here). These cells keep
/// one tensor per step and stack them once.
#[derive(Module, Debug)]
struct Cell {
    input: Linear,
    hidden: Linear,
    gates: usize,
    d_hidden: usize,
}

impl Cell {
    fn new(gru: bool, d_in: usize, d_hidden: usize, device: &Device) -> Self {
        let gates = if gru { 3 } else { 4 };
        Cell {
            input: LinearConfig::new(d_in, gates * d_hidden).init(device),
            hidden: LinearConfig::new(d_hidden, gates * d_hidden).init(device),
            gates,
            d_hidden,
        }
    }

    /// The cell's parameters for the fused layer.
    fn weights(&self) -> Option<crate::fused_rnn::RnnWeights> {
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
    fn run(
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
struct Recurrent {
    forward_cells: Vec<Cell>,
    backward_cells: Vec<Cell>,
    dropout: Dropout,
}

impl Recurrent {
    fn new(gru: bool, d_in: usize, p: &DeepParams, device: &Device) -> Self {
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

    fn forward(&self, x: Tensor<3>, lengths: &[usize]) -> Tensor<3> {
        match self.forward_fused(&x, lengths) {
            Some(out) => out,
            None => self.forward_per_op(x, lengths),
        }
    }

    /// LSTM and GRU layers on the flex backend as one fused operation each
    /// (see [`crate::fused_rnn`]); `None` on another backend.
    fn forward_fused(&self, x: &Tensor<3>, lengths: &[usize]) -> Option<Tensor<3>> {
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
    fn forward_per_op(&self, x: Tensor<3>, lengths: &[usize]) -> Tensor<3> {
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

/// Dense head: hidden ReLU layer with dropout, then the classes.
#[derive(Module, Debug)]
struct Head {
    hidden: Linear,
    dropout: Dropout,
    out: Linear,
}

impl Head {
    fn new(d_in: usize, hidden: usize, classes: usize, p: &DeepParams, device: &Device) -> Self {
        Head {
            hidden: linear(d_in, hidden, device),
            dropout: Dropout::new(p.dropout),
            out: LinearConfig::new(hidden, classes).init(device),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.out
            .forward(self.dropout.forward(relu(self.hidden.forward(x))))
    }
}

#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    dropout: Dropout,
    out: Linear,
}

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

#[derive(Module, Debug)]
pub struct CnnTransformer {
    branch3: Conv2dStack,
    branch5: Conv2dStack,
    pool: MaxPool1d,
    project: Linear,
    encoder: Vec<EncoderLayer>,
    head: Head,
}

/// A post-norm transformer encoder layer, as burn's
/// `TransformerEncoderLayer` (self-attention, then a GELU feed-forward of
/// twice the width, each with dropout on its residual branch and a layer
/// norm after the sum), built here so that its dropout is [`Dropout`]
/// (the training's own masks). Unlike burn's, the attention weights
/// themselves are not dropped.
#[derive(Module, Debug)]
struct EncoderLayer {
    attention: MultiHeadAttention,
    norm_attention: LayerNorm,
    inner: Linear,
    outer: Linear,
    norm_feed_forward: LayerNorm,
    dropout: Dropout,
}

impl EncoderLayer {
    fn new(d_model: usize, p: &DeepParams, device: &Device) -> Self {
        // burn's transformer initialisation: Kaiming uniform, gain 1/sqrt(3).
        let init = Initializer::KaimingUniform {
            gain: 1.0 / 3f64.sqrt(),
            fan_out_only: false,
        };
        let dense = |d_in, d_out| {
            LinearConfig::new(d_in, d_out)
                .with_initializer(init.clone())
                .init(device)
        };
        EncoderLayer {
            attention: MultiHeadAttentionConfig::new(d_model, p.heads)
                .with_initializer(init.clone())
                .with_dropout(0.0)
                .init(device),
            norm_attention: LayerNormConfig::new(d_model).init(device),
            inner: dense(d_model, 2 * d_model),
            outer: dense(2 * d_model, d_model),
            norm_feed_forward: LayerNormConfig::new(d_model).init(device),
            dropout: Dropout::new(p.dropout),
        }
    }

    /// x: batch x time x d_model; `padding` is true on padded frames.
    fn forward(&self, x: Tensor<3>, padding: Tensor<2, Bool>) -> Tensor<3> {
        let attended = self
            .attention
            .forward(MhaInput::self_attn(x.clone()).mask_pad(padding))
            .context;
        let x = self.norm_attention.forward(x + self.dropout.forward(attended));
        let fed = self
            .outer
            .forward(self.dropout.forward(gelu(self.inner.forward(x.clone()))));
        self.norm_feed_forward.forward(x + self.dropout.forward(fed))
    }
}

/// Frames the transformer branch pools together before attention, so its
/// cost stays quadratic in a quarter of the length.
const TRANSFORMER_POOL: usize = 4;

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
        let conv_stack = |d_in: usize, channels: &[usize], kernel: usize| -> Vec<ConvBlock1d> {
            let mut c_in = d_in;
            channels
                .iter()
                .map(|&c| {
                    let b = ConvBlock1d::new(c_in, c, kernel, 2, p, device);
                    c_in = c;
                    b
                })
                .collect()
        };
        let last = |c: &[usize]| *c.last().expect("checked non-empty");
        let dirs = if p.bidirectional { 2 } else { 1 };
        match kind {
            DeepKind::Mlp => {
                let mut d = dims;
                let layers = (0..p.layers)
                    .map(|_| {
                        let l = linear(d, p.hidden, device);
                        d = p.hidden;
                        l
                    })
                    .collect();
                Net::Mlp(Mlp {
                    layers,
                    dropout: Dropout::new(p.dropout),
                    out: LinearConfig::new(d, classes).init(device),
                })
            }
            DeepKind::Cnn1d => Net::Cnn1d(Cnn1d {
                blocks: conv_stack(dims, &p.channels, p.kernel),
                head: Head::new(last(&p.channels), p.hidden, classes, p, device),
            }),
            DeepKind::Cnn1dRaw => {
                // M5-like: an 80-sample (5 ms) kernel at stride 4, pooled by
                // 4, then 3-wide blocks each pooled by 4.
                let (kernel, stride) = (80, 4);
                let c0 = p.channels[0];
                let front = ConvBlock1d {
                    conv: Conv1dConfig::new(dims, c0, kernel)
                        .with_stride(stride)
                        .with_initializer(he())
                        .init(device),
                    norm: p.batch_norm.then(|| BatchNormConfig::new(c0).init(device)),
                    pool: MaxPool1dConfig::new(4).init(),
                    dropout: Dropout::new(p.dropout),
                };
                let mut c_in = c0;
                let blocks = p.channels[1..]
                    .iter()
                    .map(|&c| {
                        let b = ConvBlock1d::new(c_in, c, 3, 4, p, device);
                        c_in = c;
                        b
                    })
                    .collect();
                Net::Cnn1dRaw(Cnn1dRaw {
                    front,
                    front_stride: stride,
                    front_kernel: kernel,
                    blocks,
                    head: Head::new(c_in, p.hidden, classes, p, device),
                })
            }
            DeepKind::Cnn2d => {
                let convs = Conv2dStack::new(&p.channels, 3, dims, p, device);
                let width = convs.out_dims;
                Net::Cnn2d(Cnn2d {
                    convs,
                    head: Head::new(width, p.hidden, classes, p, device),
                })
            }
            DeepKind::Lstm | DeepKind::Gru => Net::Rnn(Rnn {
                rnn: Recurrent::new(kind == DeepKind::Gru, dims, p, device),
                head: Head::new(p.hidden * dirs, p.hidden, classes, p, device),
            }),
            DeepKind::Crnn => {
                let blocks = conv_stack(dims, &p.channels, p.kernel);
                Net::Crnn(Crnn {
                    blocks,
                    rnn: Recurrent::new(false, last(&p.channels), p, device),
                    head: Head::new(p.hidden * dirs, p.hidden, classes, p, device),
                })
            }
            DeepKind::AttentionLstm => Net::AttentionRnn(AttentionRnn {
                rnn: Recurrent::new(false, dims, p, device),
                score_hidden: LinearConfig::new(p.hidden * dirs, p.hidden).init(device),
                score: LinearConfig::new(p.hidden, 1).init(device),
                head: Head::new(p.hidden * dirs, p.hidden, classes, p, device),
            }),
            DeepKind::CnnTransformer => {
                let branch_channels = [16, 32];
                let d_model = p.hidden;
                let branch3 = Conv2dStack::new(&branch_channels, 3, dims, p, device);
                let branch5 = Conv2dStack::new(&branch_channels, 5, dims, p, device);
                let branches = 2 * branch3.out_dims;
                Net::CnnTransformer(CnnTransformer {
                    branch3,
                    branch5,
                    pool: MaxPool1dConfig::new(TRANSFORMER_POOL).init(),
                    project: LinearConfig::new(dims, d_model).init(device),
                    encoder: (0..p.layers)
                        .map(|_| EncoderLayer::new(d_model, p, device))
                        .collect(),
                    head: Head::new(branches + d_model, p.hidden, classes, p, device),
                })
            }
        }
    }

    /// Logits (batch x classes) for x (batch x time x dims).
    pub fn forward(&self, x: Tensor<3>, lengths: &[usize]) -> Tensor<2> {
        match self {
            Net::Mlp(m) => {
                let [b, t, d] = x.dims();
                let mut h = x.reshape([b, t * d]);
                for layer in &m.layers {
                    h = m.dropout.forward(relu(layer.forward(h)));
                }
                m.out.forward(h)
            }
            Net::Cnn1d(m) => {
                let (h, lengths) = conv_over_time(&m.blocks, x.swap_dims(1, 2), lengths, 2);
                m.head.forward(masked_mean(h.swap_dims(1, 2), &lengths))
            }
            Net::Cnn1dRaw(m) => {
                let x = x.swap_dims(1, 2);
                let h = m.front.forward(x);
                let (k, s) = (m.front_kernel, m.front_stride);
                let lengths = pooled(lengths, |l| (l.saturating_sub(k) / s + 1) / 4);
                let (h, lengths) = conv_over_time(&m.blocks, h, &lengths, 4);
                m.head.forward(masked_mean(h.swap_dims(1, 2), &lengths))
            }
            Net::Cnn2d(m) => m.head.forward(m.convs.forward(x, lengths)),
            Net::Rnn(m) => {
                let h = m.rnn.forward(x, lengths);
                m.head.forward(masked_mean(h, lengths))
            }
            Net::Crnn(m) => {
                let (h, lengths) = conv_over_time(&m.blocks, x.swap_dims(1, 2), lengths, 2);
                let h = m.rnn.forward(h.swap_dims(1, 2), &lengths);
                m.head.forward(masked_mean(h, &lengths))
            }
            Net::AttentionRnn(m) => {
                let h = m.rnn.forward(x, lengths);
                let [b, t, d] = h.dims();
                let scores = m.score.forward(tanh(m.score_hidden.forward(h.clone())));
                let padding: Tensor<2, Bool> = frame_mask(lengths, t, &h.device()).equal_elem(0.0);
                let scores = scores.reshape([b, t]).mask_fill(padding, -1e9);
                let weights = softmax(scores, 1);
                let pooled = (h * weights.unsqueeze_dim::<3>(2))
                    .sum_dim(1)
                    .reshape([b, d]);
                m.head.forward(pooled)
            }
            Net::CnnTransformer(m) => {
                let a = m.branch3.forward(x.clone(), lengths);
                let c = m.branch5.forward(x.clone(), lengths);
                let [_, t, _] = x.dims();
                let (x, lengths) = if t >= TRANSFORMER_POOL {
                    let pooled_x = m.pool.forward(x.swap_dims(1, 2)).swap_dims(1, 2);
                    (pooled_x, pooled(lengths, |l| l / TRANSFORMER_POOL))
                } else {
                    (x, lengths.to_vec())
                };
                let h = m.project.forward(x);
                let [_, t, _] = h.dims();
                let padding = frame_mask(&lengths, t, &h.device()).equal_elem(0.0);
                let h = m
                    .encoder
                    .iter()
                    .fold(h, |h, layer| layer.forward(h, padding.clone()));
                let e = masked_mean(h, &lengths);
                m.head.forward(Tensor::cat(vec![a, c, e], 1))
            }
        }
    }
}

/// 1-D blocks over time (x: batch x channels x time), each pooling by
/// `pool`; blocks stop once fewer than `pool` frames are left.
fn conv_over_time(
    blocks: &[ConvBlock1d],
    mut x: Tensor<3>,
    lengths: &[usize],
    pool: usize,
) -> (Tensor<3>, Vec<usize>) {
    let mut lengths = lengths.to_vec();
    for block in blocks {
        if x.dims()[2] < pool {
            break;
        }
        x = block.forward(x);
        lengths = pooled(&lengths, |l| l / pool);
    }
    (x, lengths)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A spectrogram stack's width is the last block's channels (bins
    /// averaged) or channels x the bins its blocks leave (bins kept),
    /// whatever the input's length: a sequence too short or too narrow
    /// for every block's pooling is padded, not cut short of blocks.
    #[test]
    fn spectrogram_stacks_give_one_width_for_every_length() {
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
        fused_matches_per_op(false);
    }

    #[test]
    fn the_fused_gru_matches_the_per_op_cells() {
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
