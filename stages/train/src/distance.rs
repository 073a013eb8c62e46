//! Squared Euclidean distances between row sets, by one matrix product.
//!
//! |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, as scikit-learn's brute-force
//! neighbours and its kernels compute it: the product is a GEMM, and the
//! row norms are computed once. Shared by the SVM's RBF kernel and k-NN.

use ndarray::{Array1, Array2, ArrayView2, Axis};

/// Each row's squared norm.
pub fn row_norms_sq(m: ArrayView2<f64>) -> Array1<f64> {
    m.map_axis(Axis(1), |r| r.dot(&r))
}

/// |a_i - b_j|^2 for every row pair, given `b`'s squared row norms.
pub fn squared_distances(
    a: ArrayView2<f64>,
    b: ArrayView2<f64>,
    b_sq: &Array1<f64>,
) -> Array2<f64> {
    let a_sq = row_norms_sq(a);
    let mut d = a.dot(&b.t());
    for (mut row, &ai) in d.axis_iter_mut(Axis(0)).zip(&a_sq) {
        for (v, &bj) in row.iter_mut().zip(b_sq) {
            // Rounding can leave a tiny negative distance for equal rows.
            *v = (ai + bj - 2.0 * *v).max(0.0);
        }
    }
    d
}

/// |a - b|^2 term by term: the definition the tests hold the matrix-product
/// forms (here, the SVM's kernel, k-NN) to.
#[cfg(test)]
pub(crate) fn direct_squared_distance(
    a: ndarray::ArrayView1<f64>,
    b: ndarray::ArrayView1<f64>,
) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_the_direct_sum_of_squares_and_are_never_negative() {
        let a = Array2::from_shape_fn((13, 5), |(i, j)| {
            ((i * 7 + j * 3) as f64 * 0.29).sin() * 40.0
        });
        let b = a.slice(ndarray::s![..6, ..]).to_owned();
        let d = squared_distances(a.view(), b.view(), &row_norms_sq(b.view()));
        for i in 0..13 {
            for j in 0..6 {
                let direct = direct_squared_distance(a.row(i), b.row(j));
                assert!((d[[i, j]] - direct).abs() < 1e-8 * direct.max(1.0));
                assert!(d[[i, j]] >= 0.0);
            }
        }
        for i in 0..6 {
            assert!(d[[i, i]] < 1e-8, "a row's distance to itself");
        }
    }
}
