//! The CNN-transformer (`cnn_transformer`): parallel 2-D conv branches
//! (3x3 and 5x5 kernels) and a transformer encoder branch, fused before the
//! classifier; and the encoder layer it is built from.

use burn::module::Module;
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::pool::{MaxPool1d, MaxPool1dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::{Bool, Device, Tensor};

use super::layers::*;
use crate::dropout::Dropout;
use crate::spec::DeepParams;

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
pub(super) struct EncoderLayer {
    pub(super) attention: MultiHeadAttention,
    pub(super) norm_attention: LayerNorm,
    pub(super) inner: Linear,
    pub(super) outer: Linear,
    pub(super) norm_feed_forward: LayerNorm,
    pub(super) dropout: Dropout,
}

impl EncoderLayer {
    pub(super) fn new(d_model: usize, p: &DeepParams, device: &Device) -> Self {
        // burn's transformer initialisation.
        let init = uniform_init();
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
    pub(super) fn forward(&self, x: Tensor<3>, padding: Tensor<2, Bool>) -> Tensor<3> {
        let attended = self
            .attention
            .forward(MhaInput::self_attn(x.clone()).mask_pad(padding))
            .context;
        let x = self
            .norm_attention
            .forward(x + self.dropout.forward(attended));
        let fed = self
            .outer
            .forward(self.dropout.forward(gelu(self.inner.forward(x.clone()))));
        self.norm_feed_forward
            .forward(x + self.dropout.forward(fed))
    }
}

/// Frames the transformer branch pools together before attention, so its
/// cost stays quadratic in a quarter of the length.
pub(super) const TRANSFORMER_POOL: usize = 4;

impl CnnTransformer {
    pub(super) fn new(
        p: &DeepParams,
        dims: usize,
        classes: usize,
        device: &Device,
    ) -> CnnTransformer {
        let branch_channels = [16, 32];
        let d_model = p.hidden;
        let branch3 = Conv2dStack::new(&branch_channels, 3, dims, p, device);
        let branch5 = Conv2dStack::new(&branch_channels, 5, dims, p, device);
        let branches = 2 * branch3.out_dims;
        CnnTransformer {
            branch3,
            branch5,
            pool: MaxPool1dConfig::new(TRANSFORMER_POOL).init(),
            project: LinearConfig::new(dims, d_model).init(device),
            encoder: (0..p.layers)
                .map(|_| EncoderLayer::new(d_model, p, device))
                .collect(),
            head: Head::new(branches + d_model, p.hidden, classes, p, device),
        }
    }

    pub(super) fn forward(&self, x: Tensor<3>, lengths: &[usize]) -> Tensor<2> {
        let a = self.branch3.forward(x.clone(), lengths);
        let c = self.branch5.forward(x.clone(), lengths);
        let [_, t, _] = x.dims();
        let (x, lengths) = if t >= TRANSFORMER_POOL {
            let pooled_x = self.pool.forward(x.swap_dims(1, 2)).swap_dims(1, 2);
            (pooled_x, pooled(lengths, |l| l / TRANSFORMER_POOL))
        } else {
            (x, lengths.to_vec())
        };
        let h = self.project.forward(x);
        let [_, t, _] = h.dims();
        let padding = frame_mask(&lengths, t, &h.device()).equal_elem(0.0);
        let h = self
            .encoder
            .iter()
            .fold(h, |h, layer| layer.forward(h, padding.clone()));
        let e = masked_mean(h, &lengths);
        self.head.forward(Tensor::cat(vec![a, c, e], 1))
    }
}
