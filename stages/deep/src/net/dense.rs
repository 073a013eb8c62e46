//! Dense networks on utterance functionals (`mlp`).

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::layers::*;
use crate::dropout::Dropout;
use crate::fused_linear::dense;
use crate::spec::DeepParams;

#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    dropout: Dropout,
    out: Linear,
}

impl Mlp {
    pub(super) fn new(p: &DeepParams, dims: usize, classes: usize, device: &Device) -> Mlp {
        let mut d = dims;
        let layers = (0..p.layers)
            .map(|_| {
                let l = linear(d, p.hidden, p, device);
                d = p.hidden;
                l
            })
            .collect();
        Mlp {
            layers,
            dropout: Dropout::new(p.dropout),
            out: output_linear(d, classes, device),
        }
    }

    pub(super) fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let [b, t, d] = x.dims();
        let mut h = x.reshape([b, t * d]);
        for layer in &self.layers {
            h = self.dropout.forward(relu(dense(layer, h)));
        }
        dense(&self.out, h)
    }
}
