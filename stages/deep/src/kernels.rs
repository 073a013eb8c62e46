//! CPU kernels the fused operations share: a strided matrix product
//! (the `gemm` crate, which flex itself uses) and conversions between
//! flex tensors and plain vectors.

use burn::backend::flex::FlexTensor;
use burn::tensor::TensorData;

/// A tensor's values as a vector: without a copy when `t` is contiguous
/// and holds its buffer alone (a gradient handed to a backward pass), else
/// copied.
pub(crate) fn into_values(t: FlexTensor) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 tensor")
}

/// A tensor's values as one contiguous slice, read in place (the buffer is
/// shared, not copied) unless the layout is strided. Why: a fused
/// operation's inputs are shared with the graph, so taking them as vectors
/// copied every input and weight, a tenth of a cnn2d training step.
#[derive(Debug, Clone)]
pub(crate) struct View(FlexTensor);

impl View {
    pub(crate) fn of(t: &FlexTensor) -> View {
        View(t.to_contiguous())
    }

    pub(crate) fn as_slice(&self) -> &[f32] {
        let layout = self.0.layout();
        let start = layout.start_offset();
        &self.0.storage::<f32>()[start..start + layout.num_elements()]
    }
}

impl std::ops::Deref for View {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        self.as_slice()
    }
}

pub(crate) fn flex_tensor<const D: usize>(data: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape))
}

/// `dst = (accumulate ? dst : 0) + lhs * rhs` on row-major `dst` (m x n,
/// row stride `dst_rs`); lhs (m x k) and rhs (k x n) by (row, column)
/// strides, so transposes are views.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    (lhs, lhs_rs, lhs_cs): (&[f32], usize, usize),
    (rhs, rhs_rs, rhs_cs): (&[f32], usize, usize),
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    // The raw call reads and writes through strides; these bounds make the
    // views it is given lie inside the slices.
    assert!(dst.len() > (m - 1) * dst_rs + n - 1);
    if k > 0 {
        assert!(lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
        assert!(rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    }
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every strided access in bounds, and
    // `dst` is borrowed mutably, apart from `lhs` and `rhs`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// What the fused operations' tests share: comparing their numbers with
/// burn's.
#[cfg(test)]
pub(crate) mod testing {
    use burn::tensor::Tensor;

    /// `a` equals `b` to a relative 1e-4 (summation order differs).
    pub(crate) fn close(what: &str, a: Vec<f32>, b: Vec<f32>) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                "{what}[{i}]: {x} vs {y}"
            );
        }
    }

    pub(crate) fn vec_of<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }
}
