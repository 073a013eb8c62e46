//! Deep emotion classifiers on burn: the neural half of ser's `train` stage.
//!
//! Given a training fold's examples (utterance functionals, frame-level
//! sequences, log-mel spectrograms or raw waveforms) with labels and
//! speakers, [`fit`] trains one of the networks named by [`DeepKind`] and
//! returns a [`TrainedNet`]: the best epoch's weights (burnpack bytes), the
//! input normaliser, the per-epoch curves and the settings it was made
//! with, so that the artifact says how it was made.
//!
//! What happens in one fit, in order:
//! - inputs are normalised per descriptor, with statistics of the training
//!   examples (`normalize: global`) or of each speaker's own examples
//!   (`normalize: speaker`, which needs no labels, so a test speaker is
//!   normalised by its own audio only);
//! - a speaker-disjoint validation split is taken from the training
//!   speakers (`validation_speakers`); early stopping watches its UA and
//!   the best epoch's weights are kept;
//! - training: AdamW, a cosine (with linear warm-up) or step learning-rate
//!   schedule, weight decay, dropout, He (Kaiming) initialisation of conv
//!   and dense layers, optional class-balanced cross-entropy and
//!   SpecAugment masks drawn per example per epoch;
//! - everything random draws from seeded generators, so the same settings
//!   on the same data give the same weights on the CPU backend, whether
//!   the training runs alone or beside others (dropout masks come from the
//!   training's own generator, see `dropout`; only the drawing of initial
//!   weights takes turns on burn's per-process one).
//!
//! Variable lengths are handled by masks, not by padding into the
//! statistics: a batch is padded to its longest member, every pooling over
//! time averages (or attends) over each sequence's own frames only, the
//! transformer gets a padding mask, and a recurrent cell holds its state
//! outside a sequence, so the backward direction of a bidirectional RNN
//! starts at each sequence's own last frame and padding never reaches a
//! valid frame's state.
//!
//! On the flex backend, LSTM and GRU layers, convolutions with odd
//! kernels and "same" padding, batch normalisation in training, and the
//! conv blocks' ReLU and max-pool are fused autodiff operations of ours
//! (`fused_rnn`, `fused_conv`, `fused_norm`, `fused_pool`), each held by a
//! test to burn's own ops; AdamW steps each parameter in one pass, its
//! gradient clipping folded in (`fused_adamw`), and the MLP's dense layers
//! multiply through one operation each (`fused_linear`), both equal to
//! burn's to the bit.
//!
//! [`DeepSpec`] is the networks' side of the learner contract
//! (`ser_learn::Learner`); [`TrainedNet`] its fitted model.
//!
//! Backends: burn's `flex` CPU backend by default; with the `gpu` cargo
//! feature, `device: gpu` trains on burn's `wgpu` backend (Vulkan, Metal or
//! DX12, found at run time). burn 0.22's `cuda` feature cannot be built
//! offline (its cubecl-llvm build script downloads LLVM), wgpu can.

mod data;
mod dropout;
mod fit;
mod fused_adamw;
mod fused_conv;
mod fused_linear;
mod fused_norm;
mod fused_pool;
mod fused_rnn;
mod kernels;
mod learner;
mod net;
mod spec;
mod thread_stack;

pub use data::{Example, Normaliser, normalise_by_group};
pub use fit::{Curve, EpochReport, RowExtras, TrainedNet, fit, fit_with_extras};
pub use learner::{DeepSpec, code_version};
pub use spec::{
    BinPooling, DeepKind, DeepParams, Device, HeadKind, Init, Input, Normalize, Padding, Schedule,
};

/// What can go wrong training or using a network.
#[derive(Debug, thiserror::Error)]
pub enum DeepError {
    #[error("{0}")]
    Invalid(String),
    #[error("the GPU backend is not compiled in: rebuild with `--features gpu`")]
    NoGpu,
    #[error("weights: {0}")]
    Weights(String),
}
