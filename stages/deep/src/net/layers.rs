//! The layer kit the architectures are built from: initialisation,
//! masks and masked pooling over time, conv blocks (1-D and 2-D, with the
//! fused CPU operations), the spectrogram conv stack and the dense head.

use burn::module::{Module, ParamId, RunningState};
use burn::nn::conv::{Conv1d, Conv1dConfig, Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool1d, MaxPool1dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Initializer, Linear, LinearConfig, PaddingConfig1d, PaddingConfig2d,
};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};

use crate::dropout::Dropout;
use crate::spec::{BinPooling, DeepParams, HeadKind, Init};
use crate::thread_stack::Pushed;

/// The initialiser of a layer followed by a ReLU, as `p.init` says.
pub(super) fn hidden_init(p: &DeepParams) -> Initializer {
    match p.init {
        Init::He => Initializer::KaimingNormal {
            gain: std::f64::consts::SQRT_2,
            fan_out_only: false,
        },
        Init::Uniform => uniform_init(),
    }
}

/// Uniform in +-1/sqrt(fan_in): burn's and PyTorch's default for linear
/// layers, the class layer's and the transformer's.
pub(super) fn uniform_init() -> Initializer {
    Initializer::KaimingUniform {
        gain: 1.0 / 3f64.sqrt(),
        fan_out_only: false,
    }
}

/// A dense layer followed by a ReLU.
pub(super) fn linear(d_in: usize, d_out: usize, p: &DeepParams, device: &Device) -> Linear {
    LinearConfig::new(d_in, d_out)
        .with_initializer(hidden_init(p))
        .init(device)
}

/// The dense layer that gives the classes.
pub(super) fn output_linear(d_in: usize, classes: usize, device: &Device) -> Linear {
    LinearConfig::new(d_in, classes)
        .with_initializer(uniform_init())
        .init(device)
}

/// A float mask (batch x time) with 1.0 on each sequence's frames.
pub(super) fn frame_mask(lengths: &[usize], max_len: usize, device: &Device) -> Tensor<2> {
    let mut m = vec![0f32; lengths.len() * max_len];
    for (b, &len) in lengths.iter().enumerate() {
        m[b * max_len..b * max_len + len.min(max_len)].fill(1.0);
    }
    Tensor::from_data(TensorData::new(m, [lengths.len(), max_len]), device)
}

/// The mean over each sequence's own frames: x is batch x time x dims.
pub(super) fn masked_mean(x: Tensor<3>, lengths: &[usize]) -> Tensor<2> {
    let [b, t, d] = x.dims();
    let mask = frame_mask(lengths, t, &x.device());
    let counts: Vec<f32> = lengths.iter().map(|&l| l.clamp(1, t) as f32).collect();
    let counts = Tensor::<2>::from_data(TensorData::new(counts, [b, 1]), &x.device());
    let summed = (x * mask.unsqueeze_dim::<3>(2)).sum_dim(1).reshape([b, d]);
    summed / counts
}

/// Lengths after a pooling that maps t frames to `f(t)`, at least 1.
pub(super) fn pooled(lengths: &[usize], f: impl Fn(usize) -> usize) -> Vec<usize> {
    lengths.iter().map(|&l| f(l).max(1)).collect()
}

thread_local! {
    /// The next running-statistics id of each network being built on this
    /// thread, innermost last (see [`number_running_states`]).
    static RUNNING_STATE_IDS: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Running-statistics ids start here, far above the 1, 2, ... that
/// `fit` gives parameters when it saves a network.
const FIRST_RUNNING_STATE_ID: u64 = 1 << 62;

/// Until dropped, the batch norms built on this thread number their
/// running statistics from [`FIRST_RUNNING_STATE_ID`] in the order they
/// are built. burn draws a running state's id at random, the burnpack
/// stores it, and unlike a parameter's it keeps its id through a module
/// mapper; so a network with batch norm was different bytes (a different
/// cache object) each time the same training ran. A stack, as dropout's
/// generators, so a network built while another is being built on the
/// same thread numbers its own.
#[must_use = "running statistics are numbered only while the guard lives"]
pub(super) fn number_running_states() -> Pushed<u64> {
    Pushed::onto(&RUNNING_STATE_IDS, FIRST_RUNNING_STATE_ID)
}

/// A batch norm over `channels`, its running statistics numbered as
/// [`number_running_states`] says (burn's random ids outside it).
pub(super) fn batch_norm_layer(channels: usize, device: &Device) -> BatchNorm {
    let mut norm = BatchNormConfig::new(channels).init(device);
    RUNNING_STATE_IDS.with(|ids| {
        if let Some(next) = ids.borrow_mut().last_mut() {
            for state in [&mut norm.running_mean, &mut norm.running_var] {
                *state = RunningState::with_id(ParamId::from(*next), state.value());
                *next += 1;
            }
        }
    });
    norm
}

/// `norm` applied to x; in training on the CPU one fused operation (see
/// [`crate::fused_norm`]).
pub(super) fn batch_norm<const D: usize>(norm: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    crate::fused_norm::batch_norm_train(norm, &x).unwrap_or_else(|| norm.forward(x))
}

/// A conv block over time: conv (same padding), batch norm, ReLU, max-pool
/// by `pool`, dropout (`dropout`: the caller's choice, since dropout ahead
/// of the next block's batch norm can stall learning; see
/// [`ConvBlock2d`]).
#[derive(Module, Debug)]
pub(super) struct ConvBlock1d {
    pub(super) conv: Conv1d,
    pub(super) norm: Option<BatchNorm>,
    pub(super) pool: MaxPool1d,
    pub(super) dropout: Dropout,
}

impl ConvBlock1d {
    pub(super) fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        pool: usize,
        dropout: f64,
        p: &DeepParams,
        device: &Device,
    ) -> Self {
        ConvBlock1d {
            conv: Conv1dConfig::new(c_in, c_out, kernel)
                .with_padding(PaddingConfig1d::Same)
                .with_initializer(hidden_init(p))
                .init(device),
            norm: p.batch_norm.then(|| batch_norm_layer(c_out, device)),
            pool: MaxPool1dConfig::new(pool).init(),
            dropout: Dropout::new(dropout),
        }
    }

    /// x: batch x channels x time.
    pub(super) fn forward(&self, x: Tensor<3>) -> Tensor<3> {
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
/// max-pool. No dropout inside the stack: dropout before the next block's
/// batch norm shifts the variance it normalises by between training and
/// inference, and on spectrograms that kept cnn2d at chance
/// (tests/generalises.rs: 0.25 held-out with dropout 0.3 in every block,
/// 0.90 with none); the head keeps its dropout, as the usual
/// conv-BN-ReLU-pool CNNs do.
#[derive(Module, Debug)]
pub(super) struct ConvBlock2d {
    pub(super) conv: Conv2d,
    pub(super) norm: Option<BatchNorm>,
    pub(super) pool: MaxPool2d,
}

impl ConvBlock2d {
    pub(super) fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        p: &DeepParams,
        device: &Device,
    ) -> Self {
        ConvBlock2d {
            conv: Conv2dConfig::new([c_in, c_out], [kernel, kernel])
                .with_padding(PaddingConfig2d::Same)
                .with_initializer(hidden_init(p))
                .init(device),
            norm: p.batch_norm.then(|| batch_norm_layer(c_out, device)),
            pool: MaxPool2dConfig::new([2, 2]).init(),
        }
    }

    /// x: batch x channels x time x bins.
    pub(super) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = match crate::fused_conv::conv2d_same(&self.conv, &x) {
            Some(y) => y,
            None => self.conv.forward(x),
        };
        if let Some(norm) = &self.norm {
            x = batch_norm(norm, x);
        }
        match crate::fused_pool::relu_max_pool2d(&self.pool, &x) {
            Some(y) => y,
            None => self.pool.forward(relu(x)),
        }
    }
}

/// Stacked 2-D blocks on a spectrogram, then pooled to one vector per
/// sequence over its own (pooled) frames: batch x channels, the bins
/// averaged, or batch x (channels x bins) with `BinPooling::Keep`.
#[derive(Module, Debug)]
pub(super) struct Conv2dStack {
    pub(super) blocks: Vec<ConvBlock2d>,
    /// Bins left after the blocks when they are kept (0: averaged away).
    pub(super) bins_kept: usize,
    /// Width of [`Conv2dStack::forward`]'s output.
    pub(super) out_dims: usize,
}

impl Conv2dStack {
    pub(super) fn new(
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
    pub(super) fn min_size(blocks: usize) -> usize {
        1 << blocks
    }

    /// x: batch x time x bins.
    pub(super) fn forward(&self, x: Tensor<3>, lengths: &[usize]) -> Tensor<2> {
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

/// Dense head: hidden ReLU layer with dropout, then the classes; or, with
/// `head: linear`, dropout and the classes. The hidden layer is an `Option`
/// so that records saved before `head` existed (their parameters keyed
/// `head.hidden.*`) load unchanged.
#[derive(Module, Debug)]
pub(super) struct Head {
    pub(super) hidden: Option<Linear>,
    pub(super) dropout: Dropout,
    pub(super) out: Linear,
}

impl Head {
    pub(super) fn new(
        d_in: usize,
        hidden: usize,
        classes: usize,
        p: &DeepParams,
        device: &Device,
    ) -> Self {
        match p.head {
            HeadKind::Hidden => Head {
                hidden: Some(linear(d_in, hidden, p, device)),
                dropout: Dropout::new(p.dropout),
                out: output_linear(hidden, classes, device),
            },
            HeadKind::Linear => Head {
                hidden: None,
                dropout: Dropout::new(p.dropout),
                out: output_linear(d_in, classes, device),
            },
        }
    }

    pub(super) fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = match &self.hidden {
            Some(hidden) => relu(hidden.forward(x)),
            None => x,
        };
        self.out.forward(self.dropout.forward(x))
    }
}

/// 1-D blocks over time (x: batch x channels x time), each pooling by
/// `pool`; blocks stop once fewer than `pool` frames are left.
pub(super) fn conv_over_time(
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
    use burn::module::Module;
    use burn::store::ModuleRecord;
    use burn::tensor::Bytes;

    /// The root mean square and the largest magnitude of a tensor's values.
    fn spread<const D: usize>(t: Tensor<D>) -> (f32, f32) {
        let v: Vec<f32> = t.into_data().try_to_vec::<f32>().unwrap();
        let rms = (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
        (rms, v.iter().fold(0f32, |m, x| m.max(x.abs())))
    }

    /// `init: uniform` starts a conv block's weights and biases in
    /// +-1/sqrt(fan_in) as PyTorch does (root mean square bound/sqrt(3));
    /// `he` draws its weights with standard deviation sqrt(2/fan_in),
    /// sqrt(6) times that. The class layer is uniform either way.
    #[test]
    fn uniform_init_starts_layers_as_pytorch_does() {
        let _generator = crate::fit::generator_lock();
        let device = Device::flex();
        let fan_in = 16.0 * 9.0;
        let bound = 1.0 / f32::sqrt(fan_in);
        let near = |got: f32, want: f32| (got / want - 1.0).abs() < 0.1;
        for init in [Init::Uniform, Init::He] {
            let p = DeepParams {
                init,
                ..DeepParams::default()
            };
            let block = ConvBlock2d::new(16, 64, 3, &p, &device);
            let (rms, max) = spread(block.conv.weight.val());
            let head = Head::new(16 * 9, 32, 8, &p, &device);
            let (hidden_rms, _) = spread(head.hidden.as_ref().unwrap().weight.val());
            let (out_rms, out_max) = spread(head.out.weight.val());
            let out_bound = 1.0 / f32::sqrt(32.0);
            assert!(out_max <= out_bound && near(out_rms, out_bound / 3f32.sqrt()));
            match init {
                Init::Uniform => {
                    assert!(
                        max <= bound && near(rms, bound / 3f32.sqrt()),
                        "{rms} {max}"
                    );
                    let (_, bias_max) = spread(block.conv.bias.as_ref().unwrap().val());
                    assert!(bias_max <= bound, "{bias_max}");
                    assert!(near(hidden_rms, bound / 3f32.sqrt()), "{hidden_rms}");
                }
                Init::He => {
                    let he = f32::sqrt(2.0 / fan_in);
                    assert!(near(rms, he) && max > bound, "{rms} {max}");
                    assert!(near(hidden_rms, he), "{hidden_rms}");
                }
            }
        }
    }

    /// The head as it was before `head: linear`, whose records are in
    /// users' caches and bundles.
    #[derive(Module, Debug)]
    struct HeadBeforeOption {
        hidden: Linear,
        dropout: Dropout,
        out: Linear,
    }

    #[test]
    fn a_record_of_the_head_before_linear_heads_loads_unchanged() {
        let _generator = crate::fit::generator_lock();
        let device = Device::flex();
        let p = DeepParams {
            dropout: 0.0,
            ..DeepParams::default()
        };
        let old = HeadBeforeOption {
            hidden: linear(6, 4, &p, &device),
            dropout: Dropout::new(0.0),
            out: LinearConfig::new(4, 3).init(&device),
        };
        let x = Tensor::<2>::random([2, 6], burn::tensor::Distribution::Default, &device);
        let expected = old
            .out
            .forward(relu(old.hidden.forward(x.clone())))
            .into_data();
        let bytes = old.into_record().into_bytes().unwrap();
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec())).unwrap();
        let head = Head::new(6, 4, 3, &p, &device).load_record(record);
        assert!(head.hidden.is_some());
        assert_eq!(head.forward(x).into_data(), expected);
    }
}
