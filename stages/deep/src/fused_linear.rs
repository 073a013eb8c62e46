//! A dense layer's product `x · W` as one autodiff operation for the flex
//! CPU backend, its bias added by burn as before.
//!
//! Why: flex allocates each product's output as a zeroed byte vector and
//! then copies it into a buffer of 16-byte alignment
//! (`FlexTensor::empty`), so every product paid a zeroing and a copy of
//! its output besides the product. For an MLP on utterance functionals the
//! largest is the first layer's weight gradient (1290 x 256 values a
//! step), and together they were a tenth of its training in a `perf`
//! profile. This operation makes the same `gemm` calls flex makes (the
//! same shapes, strides and threading, forward and backward) into buffers
//! of its own, so every value is flex's to the bit and a network cached
//! before it is the one it would train now; a test holds it to that.
//! Other tensors (wgpu, a plain forward outside autodiff) take burn's
//! path.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::nn::Linear;
use burn::tensor::Tensor;

use crate::kernels::{flex_tensor, gemm};

/// flex's threshold (`m x n x k`) for a threaded product.
const FLEX_PARALLEL_PRODUCT: usize = 192 * 192 * 192;

/// `layer.forward(x)` for a batch of rows, with the product fused when `x`
/// and the weight are flex autodiff tensors.
pub(crate) fn dense(layer: &Linear, x: Tensor<2>) -> Tensor<2> {
    let weight = layer.weight.val();
    let Some(product) = product(&x, &weight) else {
        return layer.forward(x);
    };
    match &layer.bias {
        // burn's `linear`: the bias as one row, added with broadcasting.
        Some(bias) => {
            let [d_output] = bias.dims();
            product + bias.val().reshape([1, d_output])
        }
        None => product,
    }
}

/// A matrix operand where flex reads it: its buffer, first value and
/// (row, column) strides, which may describe a transposed view.
#[derive(Debug, Clone)]
struct Operand {
    tensor: FlexTensor,
    start: usize,
    row_stride: usize,
    col_stride: usize,
}

impl Operand {
    /// `t`'s 2-D layout as it lies; `None` for negative strides, which
    /// this operation leaves to flex.
    fn of(t: &FlexTensor) -> Option<Operand> {
        let layout = t.layout();
        let [row_stride, col_stride] = layout.strides() else {
            return None;
        };
        Some(Operand {
            tensor: t.clone(),
            start: layout.start_offset(),
            row_stride: usize::try_from(*row_stride).ok()?,
            col_stride: usize::try_from(*col_stride).ok()?,
        })
    }

    fn transposed(&self) -> Operand {
        Operand {
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self.clone()
        }
    }

    /// The matrix as `kernels::gemm` reads it: values from the first one
    /// on, row and column strides.
    fn view(&self) -> (&[f32], usize, usize) {
        (
            &self.tensor.storage::<f32>()[self.start..],
            self.row_stride,
            self.col_stride,
        )
    }
}

/// `lhs (m x k) · rhs (k x n)` as flex's 2-D product computes it: one
/// `gemm` call into a row-major output, threaded from flex's threshold.
fn gemm_product((m, n, k): (usize, usize, usize), lhs: &Operand, rhs: &Operand) -> Vec<f32> {
    let mut out = vec![0f32; m * n];
    let parallel = m.saturating_mul(n).saturating_mul(k) >= FLEX_PARALLEL_PRODUCT;
    gemm(
        (m, n, k),
        &mut out,
        n,
        false,
        lhs.view(),
        rhs.view(),
        parallel,
    );
    out
}

/// `x · w` on flex autodiff tensors, recorded for the backward pass;
/// `None` for other tensors.
fn product(x: &Tensor<2>, w: &Tensor<2>) -> Option<Tensor<2>> {
    let x = x.clone().try_into_primitive::<Autodiff<Flex>>().ok()?;
    let w = w.clone().try_into_primitive::<Autodiff<Flex>>().ok()?;
    let (x_operand, w_operand) = (Operand::of(x.primitive())?, Operand::of(w.primitive())?);
    let [m, k] = dims(x.primitive());
    let [k_w, n] = dims(w.primitive());
    if k != k_w {
        return None;
    }
    let output = flex_tensor(gemm_product((m, n, k), &x_operand, &w_operand), [m, n]);
    let result = match ProductBackward
        .prepare::<NoCheckpointing>([x.node(), w.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            Arc::new(Tape {
                x: x_operand,
                w: w_operand,
                m,
                n,
                k,
            }),
            output,
        ),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Some(Tensor::from_primitive::<Autodiff<Flex>>(result))
}

fn dims(t: &FlexTensor) -> [usize; 2] {
    let shape = t.layout().shape();
    [shape[0], shape[1]]
}

/// The forward's operands, as views of the buffers the graph holds.
#[derive(Debug)]
struct Tape {
    x: Operand,
    w: Operand,
    m: usize,
    n: usize,
    k: usize,
}

#[derive(Debug)]
struct ProductBackward;

impl Backward<Flex, 2> for ProductBackward {
    type State = Arc<Tape>;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let Tape { x, w, m, n, k } = &*ops.state;
        let (m, n, k) = (*m, *n, *k);
        let dy = grads.consume::<Flex>(&ops.node);
        let Some(dy) = Operand::of(&dy) else {
            panic!("a product's gradient with negative strides");
        };
        let [x_node, w_node] = ops.parents;
        // flex's matmul backward: dx = dy · wᵀ and dw = xᵀ · dy, the
        // transposes as views.
        if let Some(node) = x_node {
            let dx = gemm_product((m, k, n), &dy, &w.transposed());
            grads.register::<Flex>(node.id, flex_tensor(dx, [m, k]));
        }
        if let Some(node) = w_node {
            let dw = gemm_product((k, n, m), &x.transposed(), &dy);
            grads.register::<Flex>(node.id, flex_tensor(dw, [k, n]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Distribution};

    fn bits<const D: usize>(t: Tensor<D>) -> Vec<u32> {
        t.into_data().iter::<f32>().map(f32::to_bits).collect()
    }

    /// Outputs and the gradients of input, weight and bias equal burn's
    /// `Linear` to the bit: small and threaded products, a transposed
    /// input, an input that needs no gradient, a layer without bias.
    #[test]
    fn the_fused_product_equals_burns_linear_to_the_bit() {
        let device = Device::flex().autodiff();
        for (case, (rows, d_in, d_out, bias, transposed, x_grad)) in [
            (5, 37, 11, true, false, true),
            (32, 1290, 256, true, false, false),
            (32, 256, 256, true, false, true),
            (7, 9, 3, false, true, true),
            (300, 200, 150, true, true, true),
        ]
        .into_iter()
        .enumerate()
        {
            let (layer, x) = {
                let _generator = crate::fit::generator_lock();
                device.seed(60 + case as u64);
                let layer: Linear = LinearConfig::new(d_in, d_out).with_bias(bias).init(&device);
                // Lazy weights: drawn here, under the lock, not on first use.
                let _ = layer.weight.val();
                let _ = layer.bias.as_ref().map(|b| b.val());
                let x = if transposed {
                    Tensor::<2>::random([d_in, rows], Distribution::Normal(0.0, 1.0), &device)
                        .transpose()
                } else {
                    Tensor::<2>::random([rows, d_in], Distribution::Normal(0.0, 1.0), &device)
                };
                (layer, x)
            };
            let x = if x_grad { x.require_grad() } else { x };
            let weights_of_loss = Tensor::<2>::from_data(
                burn::tensor::TensorData::new(
                    (0..rows * d_out)
                        .map(|i| ((i % 13) as f32 - 6.0) * 0.1)
                        .collect::<Vec<_>>(),
                    [rows, d_out],
                ),
                &device,
            );
            let run = |fused: bool| {
                let y = if fused {
                    dense(&layer, x.clone())
                } else {
                    layer.forward(x.clone())
                };
                let grads = (y.clone() * weights_of_loss.clone()).sum().backward();
                let weight = layer.weight.grad(&grads).expect("weight gradient");
                let bias = layer.bias.as_ref().map(|b| bits(b.grad(&grads).unwrap()));
                let input = x_grad.then(|| bits(x.grad(&grads).unwrap()));
                (bits(y), bits(weight), bias, input)
            };
            let what = format!("{rows} x {d_in} -> {d_out}");
            let (ours, burns) = (run(true), run(false));
            assert_eq!(ours.0, burns.0, "output, {what}");
            assert_eq!(ours.1, burns.1, "weight gradient, {what}");
            assert_eq!(ours.2, burns.2, "bias gradient, {what}");
            assert_eq!(ours.3, burns.3, "input gradient, {what}");
            assert_eq!(ours.3.is_some(), x_grad);
        }
    }

    /// Outside autodiff the layer is burn's own.
    #[test]
    fn a_plain_forward_takes_burns_path() {
        // Its weights are drawn on first use: under the lock, so the draw
        // never falls inside another test's seeded initialisation.
        let _generator = crate::fit::generator_lock();
        let device = Device::flex();
        let layer: Linear = LinearConfig::new(4, 3).init(&device);
        let x = Tensor::<2>::ones([2, 4], &device);
        assert!(product(&x, &layer.weight.val()).is_none());
        assert_eq!(bits(dense(&layer, x.clone())), bits(layer.forward(x)));
    }
}
