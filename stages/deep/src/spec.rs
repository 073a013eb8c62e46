//! The networks and their settings, as written in pipeline.yaml.

use serde::{Deserialize, Serialize};

pub use ser_learn::Input;

/// The deep models ser trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeepKind {
    /// Dense layers on utterance functionals.
    Mlp,
    /// 1-D convolutions over time on frame-level descriptors.
    Cnn1d,
    /// 1-D convolutions on the 16 kHz waveform (a strided first layer with
    /// a long kernel, as in Dai et al.'s M5 network).
    Cnn1dRaw,
    /// 2-D convolution blocks on a spectrogram (frames x bins).
    Cnn2d,
    /// (Bi)LSTM on frame sequences, mean-pooled over each sequence.
    Lstm,
    /// (Bi)GRU on frame sequences, mean-pooled over each sequence.
    Gru,
    /// A 1-D CNN front end feeding a (bi)LSTM.
    Crnn,
    /// (Bi)LSTM with attention pooling over time.
    AttentionLstm,
    /// Parallel 2-D CNN branches (3x3 and 5x5 kernels) and a transformer
    /// encoder branch, fused before the classifier.
    CnnTransformer,
}

impl DeepKind {
    pub const ALL: [DeepKind; 9] = [
        DeepKind::Mlp,
        DeepKind::Cnn1d,
        DeepKind::Cnn1dRaw,
        DeepKind::Cnn2d,
        DeepKind::Lstm,
        DeepKind::Gru,
        DeepKind::Crnn,
        DeepKind::AttentionLstm,
        DeepKind::CnnTransformer,
    ];

    pub fn input(self) -> Input {
        match self {
            DeepKind::Mlp => Input::Functionals,
            DeepKind::Cnn1dRaw => Input::Waveform,
            _ => Input::Frames,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DeepKind::Mlp => "mlp",
            DeepKind::Cnn1d => "cnn1d",
            DeepKind::Cnn1dRaw => "cnn1d_raw",
            DeepKind::Cnn2d => "cnn2d",
            DeepKind::Lstm => "lstm",
            DeepKind::Gru => "gru",
            DeepKind::Crnn => "crnn",
            DeepKind::AttentionLstm => "attention_lstm",
            DeepKind::CnnTransformer => "cnn_transformer",
        }
    }
}

/// How inputs are normalised per descriptor before the network sees them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalize {
    /// Mean and standard deviation over the training examples' frames.
    #[default]
    Global,
    /// Each speaker's own frames' mean and standard deviation (no labels
    /// are used, so test speakers are normalised by their own audio).
    Speaker,
    /// Inductive speaker normalisation: each example scaled by the frames
    /// of its speaker's examples seen so far (itself included, none after,
    /// in a fixed pseudo-random order), shrunk towards the training frames'
    /// statistics with the weight of ten examples' frames.
    SpeakerOnline,
    /// Each corpus's own frames' mean and standard deviation, then the
    /// training frames' as `global` (transductive, as `speaker`: a test
    /// corpus is scaled by its own audio). The caller scales by corpus
    /// ([`crate::normalise_by_group`]), since only it knows each
    /// example's corpus.
    Corpus,
    /// As extracted.
    None,
}

/// The learning-rate schedule over epochs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Linear warm-up for `warmup_epochs`, then cosine decay to zero.
    #[default]
    Cosine,
    /// Multiply by `step_gamma` every `step_epochs` epochs.
    Step,
    Constant,
}

/// How a 2-D conv stack (`cnn2d`, `cnn_transformer`'s branches) turns its
/// last feature map (channels x time x bins) into one vector per utterance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinPooling {
    /// Average over bins, then over time: one value per channel (global
    /// average pooling; blind to where in the spectrum a pattern is).
    #[default]
    Mean,
    /// Average over time only and keep every bin: channels x bins values,
    /// so the head sees which frequency band a pattern is in.
    Keep,
}

/// How examples shorter than the batch's longest are filled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// Zeros (the normalised mean), masked: pooling averages each example's
    /// own frames only.
    #[default]
    Masked,
    /// Every example padded to `max_frames` with its own minimum value and
    /// pooled over all of them, as the PyTorch model of issue 27 pads with
    /// the utterance's minimum: the amount of padding then tells the
    /// network how long the utterance is.
    Minimum,
}

impl Padding {
    fn is_masked(&self) -> bool {
        *self == Padding::Masked
    }
}

/// How a sequence longer than `max_frames` is predicted (training always
/// takes one random window).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestWindows {
    /// Its middle window only.
    #[default]
    Middle,
    /// ceil(frames / max_frames) windows, evenly spaced from its first
    /// frame to its last, so every frame is seen; their logits averaged.
    Cover,
}

impl TestWindows {
    fn is_middle(&self) -> bool {
        *self == TestWindows::Middle
    }
}

/// The classifier on top of a network's pooled vector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadKind {
    /// A hidden ReLU layer of `hidden` units with dropout, then the classes.
    #[default]
    Hidden,
    /// Dropout, then one linear layer to the classes, as the PyTorch cnn2d
    /// of issue 27 has it.
    Linear,
}

impl HeadKind {
    fn is_hidden(&self) -> bool {
        *self == HeadKind::Hidden
    }
}

/// How conv and dense layers' weights start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// He (Kaiming) normal, standard deviation sqrt(2 / fan_in), for layers
    /// followed by a ReLU; the output layer uniform in +-1/sqrt(fan_in).
    #[default]
    He,
    /// Every conv and dense layer's weights and biases uniform in
    /// +-1/sqrt(fan_in): PyTorch's default for its conv and linear layers
    /// (Kaiming uniform with a = sqrt(5)), as the PyTorch cnn2d of issue 27
    /// starts. Behind batch norm a conv's scale does not change its output,
    /// only how far AdamW's steps of fixed size turn it: these weights are
    /// sqrt(6) times smaller than He's, so they move that much faster.
    Uniform,
}

impl Init {
    fn is_he(&self) -> bool {
        *self == Init::He
    }
}

/// Where training runs: `gpu` is burn's wgpu backend and needs the `gpu`
/// cargo feature.
pub use ser_learn::Device;

/// Optional SpecAugment masks drawn for every training example at every
/// epoch (see `ser_augment::SpecAugment`).
pub type SpecAugmentParams = ser_augment::SpecAugment;

/// A deep model's settings: architecture and training. Every model kind
/// reads the architecture fields it has and ignores none silently: the
/// fields are shared so one name means one thing across models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeepParams {
    /// Width of dense and recurrent layers (per direction).
    #[serde(default = "defaults::hidden")]
    pub hidden: usize,
    /// Dense layers (`mlp`), recurrent layers (`lstm`, `gru`, `crnn`,
    /// `attention_lstm`) or transformer layers (`cnn_transformer`).
    #[serde(default = "defaults::layers")]
    pub layers: usize,
    /// Output channels of each convolution block.
    #[serde(default = "defaults::channels")]
    pub channels: Vec<usize>,
    /// Kernel size of the 1-D convolutions (2-D blocks use 3x3).
    #[serde(default = "defaults::kernel")]
    pub kernel: usize,
    #[serde(default = "defaults::yes")]
    pub bidirectional: bool,
    /// Attention heads of the transformer branch.
    #[serde(default = "defaults::heads")]
    pub heads: usize,
    #[serde(default = "defaults::dropout")]
    pub dropout: f64,
    /// Dropout inside `cnn1d`'s and `cnn1d_raw`'s conv blocks, where
    /// absent: `dropout`. The 2-D stacks and `crnn`'s front end have none
    /// (dropout ahead of the next block's batch norm stalled them:
    /// tests/generalises.rs); these two kept theirs, since their shipped
    /// numbers were measured with it. Absent when unset, so specs without
    /// it keep their cache keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv_dropout: Option<f64>,
    #[serde(default = "defaults::yes")]
    pub batch_norm: bool,
    /// Average every this many consecutive frames first (1: keep every
    /// frame). A recurrent network's cost grows with the number of steps,
    /// and 10 ms frames are finer than emotion needs.
    #[serde(default = "defaults::one")]
    pub pool_frames: usize,
    /// Longer sequences (after pooling) are cut to this many frames (samples for
    /// `cnn1d_raw`): a random window in training, the middle one otherwise.
    #[serde(default)]
    pub max_frames: Option<usize>,
    /// What the 2-D conv stacks do with the spectrogram's remaining bins.
    #[serde(default)]
    pub bin_pooling: BinPooling,
    /// Absent when `masked`, so specs without it keep their cache keys.
    #[serde(default, skip_serializing_if = "Padding::is_masked")]
    pub padding: Padding,
    /// Validation and test predictions of sequences longer than
    /// `max_frames`. Absent when `middle`, so specs without it keep their
    /// cache keys.
    #[serde(default, skip_serializing_if = "TestWindows::is_middle")]
    pub test_windows: TestWindows,
    /// Absent when `hidden`, so specs without it keep their cache keys.
    #[serde(default, skip_serializing_if = "HeadKind::is_hidden")]
    pub head: HeadKind,
    /// Absent when `he`, so specs without it keep their cache keys.
    #[serde(default, skip_serializing_if = "Init::is_he")]
    pub init: Init,
    #[serde(default = "defaults::epochs")]
    pub epochs: usize,
    #[serde(default = "defaults::batch_size")]
    pub batch_size: usize,
    #[serde(default = "defaults::learning_rate")]
    pub learning_rate: f64,
    #[serde(default = "defaults::weight_decay")]
    pub weight_decay: f64,
    #[serde(default)]
    pub schedule: Schedule,
    #[serde(default = "defaults::warmup_epochs")]
    pub warmup_epochs: usize,
    #[serde(default = "defaults::step_epochs")]
    pub step_epochs: usize,
    #[serde(default = "defaults::step_gamma")]
    pub step_gamma: f64,
    /// Epochs without a better validation UA before training stops; 0
    /// trains every epoch.
    #[serde(default = "defaults::patience")]
    pub patience: usize,
    /// Training speakers held out for early stopping (0: none, train all
    /// epochs and keep the last).
    #[serde(default = "defaults::validation_speakers")]
    pub validation_speakers: usize,
    /// Weigh the cross-entropy by n / (k n_c) per class.
    #[serde(default)]
    pub class_balanced: bool,
    #[serde(default)]
    pub normalize: Normalize,
    #[serde(default)]
    pub specaugment: Option<SpecAugmentParams>,
    /// Mixup (Zhang et al., 2018): every training batch is blended with a
    /// shuffled copy of itself, inputs and targets alike, by a weight drawn
    /// from Beta(mixup, mixup) per batch; 0 is off. Absent when 0, so specs
    /// without it keep their cache keys.
    #[serde(default, skip_serializing_if = "defaults::is_zero")]
    pub mixup: f64,
    /// Gender as an auxiliary target: the output layer gets two more
    /// units, trained to the speaker's gender with this weight on their
    /// cross-entropy (rows whose corpus gives no gender add nothing);
    /// predictions read the emotion units only. 0 is off. Absent when 0,
    /// so specs without it keep their cache keys.
    #[serde(default, skip_serializing_if = "defaults::is_zero")]
    pub aux_gender: f64,
    /// Gradient norm clipping (0: none).
    #[serde(default = "defaults::clip")]
    pub clip_norm: f64,
    #[serde(default)]
    pub seed: u64,
    /// Networks trained per fold, with seeds `seed`, `seed + 1`, ...: the
    /// model's test probabilities are their mean. Each network holds out
    /// its own seed's validation speakers, so each also trains on a
    /// different set of speakers, and a network is the same cached fold
    /// record a one-network model with its seed would have (absent when 1,
    /// so one-network specs keep their cache keys).
    #[serde(default = "defaults::one", skip_serializing_if = "defaults::is_one")]
    pub networks: usize,
    #[serde(default)]
    pub device: Device,
}

impl Default for DeepParams {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("every field has a default")
    }
}

impl DeepParams {
    /// Output units of a network for `classes` emotions: two more for the
    /// gender target when it is on.
    pub fn outputs(&self, classes: usize) -> usize {
        match self.aux_gender > 0.0 {
            true => classes + 2,
            false => classes,
        }
    }

    /// The dropout of `cnn1d`'s and `cnn1d_raw`'s conv blocks.
    pub fn block_dropout(&self) -> f64 {
        self.conv_dropout.unwrap_or(self.dropout)
    }

    /// Settings that cannot train, named.
    pub fn check(&self, kind: DeepKind) -> Result<(), crate::DeepError> {
        let bad = |m: String| Err(crate::DeepError::Invalid(m));
        if self.epochs == 0 || self.batch_size == 0 {
            return bad("epochs and batch_size must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {} is not in [0, 1)", self.dropout));
        }
        if let Some(d) = self.conv_dropout {
            if !(0.0..1.0).contains(&d) {
                return bad(format!("conv_dropout {d} is not in [0, 1)"));
            }
            if !matches!(kind, DeepKind::Cnn1d | DeepKind::Cnn1dRaw) {
                return bad(format!(
                    "{}: conv_dropout is for cnn1d and cnn1d_raw (the other conv stacks have \
                     no dropout inside; `dropout` sets the head's)",
                    kind.name()
                ));
            }
        }
        if !(self.mixup >= 0.0 && self.mixup.is_finite()) {
            return bad(format!(
                "mixup {} is not a Beta parameter (0: off)",
                self.mixup
            ));
        }
        if !(self.aux_gender >= 0.0 && self.aux_gender.is_finite()) {
            return bad(format!(
                "aux_gender {} is not a loss weight (0: off)",
                self.aux_gender
            ));
        }
        if self.pool_frames == 0 {
            return bad("pool_frames must be at least 1".into());
        }
        if self.networks == 0 {
            return bad("networks must be at least 1".into());
        }
        if self.padding == Padding::Minimum && self.max_frames.is_none() {
            // Else each batch's longest example would set the length.
            return bad("padding: minimum pads to max_frames; set max_frames".into());
        }
        if self.test_windows == TestWindows::Cover && self.max_frames.is_none() {
            return bad(
                "test_windows: cover splits inputs longer than max_frames; set max_frames".into(),
            );
        }
        if kind == DeepKind::Mlp && self.head == HeadKind::Linear {
            // Its hidden layers are `layers`; its output layer is the head.
            return bad("mlp has no separate head; `head: linear` is for the other kinds".into());
        }
        if self.hidden == 0 || self.layers == 0 {
            return bad("hidden and layers must be at least 1".into());
        }
        let needs_channels = matches!(
            kind,
            DeepKind::Cnn1d | DeepKind::Cnn1dRaw | DeepKind::Cnn2d | DeepKind::Crnn
        );
        if needs_channels && (self.channels.is_empty() || self.channels.contains(&0)) {
            return bad(format!("{} needs non-zero `channels`", kind.name()));
        }
        if kind == DeepKind::CnnTransformer && !self.hidden.is_multiple_of(self.heads.max(1)) {
            return bad(format!(
                "cnn_transformer: hidden {} is not a multiple of heads {}",
                self.hidden, self.heads
            ));
        }
        if self.learning_rate.is_nan() || self.learning_rate <= 0.0 {
            return bad("learning_rate must be positive".into());
        }
        Ok(())
    }
}

mod defaults {
    pub fn hidden() -> usize {
        128
    }
    pub fn layers() -> usize {
        2
    }
    pub fn channels() -> Vec<usize> {
        vec![32, 64, 128]
    }
    pub fn kernel() -> usize {
        5
    }
    pub fn one() -> usize {
        1
    }
    pub fn is_one(n: &usize) -> bool {
        *n == 1
    }
    pub fn is_zero(x: &f64) -> bool {
        *x == 0.0
    }
    pub fn yes() -> bool {
        true
    }
    pub fn heads() -> usize {
        4
    }
    pub fn dropout() -> f64 {
        0.3
    }
    pub fn epochs() -> usize {
        30
    }
    pub fn batch_size() -> usize {
        32
    }
    pub fn learning_rate() -> f64 {
        1e-3
    }
    pub fn weight_decay() -> f64 {
        1e-2
    }
    pub fn warmup_epochs() -> usize {
        2
    }
    pub fn step_epochs() -> usize {
        10
    }
    pub fn step_gamma() -> f64 {
        0.5
    }
    pub fn patience() -> usize {
        8
    }
    pub fn validation_speakers() -> usize {
        3
    }
    pub fn clip() -> f64 {
        5.0
    }
}
