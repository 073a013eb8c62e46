//! CPU kernels the fused operations share: a strided matrix product
//! (the `gemm` crate, which flex itself uses) and conversions between
//! flex tensors and plain vectors.

use burn::backend::flex::FlexTensor;
use burn::tensor::TensorData;

pub(crate) fn values(t: &FlexTensor) -> Vec<f32> {
    t.clone()
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 tensor")
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

