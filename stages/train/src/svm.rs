//! RBF-kernel SVM, one-vs-rest, on one Gram matrix per fit.
//!
//! The binary machines are LIBSVM's C-SVC solver (`libsvm-rs`, a pure-Rust
//! LIBSVM: second-order working-set selection, shrinking, LIBSVM's
//! stopping rule) on a precomputed kernel. The kernel matrix is computed
//! once per fit, as a matrix product (|a|^2 + |b|^2 - 2 a.b), and serves
//! every class's machine; prediction likewise computes the test rows'
//! kernel against the support vectors in one product.
//!
//! Why not linfa-svm, which ser used first: it recomputes the Gram matrix
//! for every binary machine with a scalar loop that allocates a vector per
//! pair of rows (87% of an SVM train node's time on the 645-column
//! acoustic set in a `perf` profile), and it takes no precomputed kernel.
//!
//! The model keeps the union of the machines' support vectors (rows of the
//! standardised training set) once, and per class the dual coefficients
//! y_i alpha_i over those rows and the offset rho: the decision value of
//! class c is sum_i coef[c][i] K(x, sv_i) - rho[c], and the largest wins.

use libsvm_rs::train::svm_train;
use libsvm_rs::{KernelType, SvmNode, SvmParameter, SvmProblem, SvmType};
use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::distance::{row_norms_sq, squared_distances};
use crate::{ClassWeight, argmax};

/// A fitted one-vs-rest RBF SVM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RbfSvm {
    /// Kernel exp(-gamma |x - x'|^2).
    pub gamma: f64,
    /// Support vectors of any machine (standardised rows), each once.
    pub support: Array2<f64>,
    /// Per class, the signed dual coefficient of each support vector
    /// (0 where the vector supports other classes' machines only).
    pub coef: Array2<f64>,
    /// Per class, the machine's offset.
    pub rho: Vec<f64>,
}

/// exp(-gamma |a_i - b_j|^2) for every row pair, by one matrix product.
pub fn rbf_kernel(a: ArrayView2<f64>, b: ArrayView2<f64>, gamma: f64) -> Array2<f64> {
    let mut k = squared_distances(a, b, &row_norms_sq(b));
    k.mapv_inplace(|d| (-gamma * d).exp());
    k
}

/// Fit one machine per class (the class against the rest) on standardised
/// rows `x` with class indices `y`.
pub fn fit(
    x: ArrayView2<f64>,
    y: &[usize],
    n_classes: usize,
    c: f64,
    gamma: f64,
    class_weight: ClassWeight,
) -> Result<RbfSvm, String> {
    if !(c > 0.0 && c.is_finite()) {
        return Err(format!("C must be positive, got {c}"));
    }
    if !(gamma > 0.0 && gamma.is_finite()) {
        return Err(format!("gamma must be positive, got {gamma}"));
    }
    libsvm_rs::set_quiet(true);
    let n = x.nrows();
    let gram = rbf_kernel(x, x, gamma);
    // LIBSVM's precomputed form: each row starts with 0:serial number
    // (1-based), then K(i, j) at index j + 1.
    let instances: Vec<Vec<SvmNode>> = gram
        .outer_iter()
        .enumerate()
        .map(|(i, row)| {
            std::iter::once(SvmNode {
                index: 0,
                value: (i + 1) as f64,
            })
            .chain(row.iter().enumerate().map(|(j, &v)| SvmNode {
                index: j as i32 + 1,
                value: v,
            }))
            .collect()
        })
        .collect();
    drop(gram);
    let mut problem = SvmProblem {
        labels: vec![0.0; n],
        instances,
    };
    let mut dual = Array2::<f64>::zeros((n_classes, n));
    let mut rho = vec![0.0; n_classes];
    for class in 0..n_classes {
        let binary: Vec<usize> = y.iter().map(|&t| (t == class) as usize).collect();
        if !binary.contains(&1) {
            // A class absent from this training set: its machine never
            // wins (a decision value far below any other).
            rho[class] = f64::INFINITY;
            continue;
        }
        let w = class_weight.weights(&binary, 2);
        for (label, &b) in problem.labels.iter_mut().zip(&binary) {
            *label = if b == 1 { 1.0 } else { -1.0 };
        }
        let param = SvmParameter {
            svm_type: SvmType::CSvc,
            kernel_type: KernelType::Precomputed,
            // Unused by a precomputed kernel; non-zero so LIBSVM does not
            // scan the problem for a default.
            gamma,
            c,
            eps: 1e-3,
            cache_size: 100.0,
            shrinking: true,
            probability: false,
            weight: vec![(1, w[1]), (-1, w[0])],
            ..SvmParameter::default()
        };
        libsvm_rs::check_parameter(&problem, &param).map_err(|e| e.to_string())?;
        let model = svm_train(&problem, &param);
        // LIBSVM's decision value is positive for its first label, the
        // label of the first training row.
        let sign = if model.label.first() == Some(&1) {
            1.0
        } else {
            -1.0
        };
        for (&index, &coef) in model.sv_indices.iter().zip(&model.sv_coef[0]) {
            dual[[class, index - 1]] = sign * coef;
        }
        rho[class] = sign * model.rho[0];
    }
    let used: Vec<usize> = (0..n)
        .filter(|&i| dual.column(i).iter().any(|&v| v != 0.0))
        .collect();
    Ok(RbfSvm {
        gamma,
        support: x.select(Axis(0), &used),
        coef: dual.select(Axis(1), &used),
        rho,
    })
}

impl RbfSvm {
    /// Decision values, rows x classes.
    pub fn decision(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let k = rbf_kernel(x, self.support.view(), self.gamma);
        let mut d = k.dot(&self.coef.t());
        for mut row in d.axis_iter_mut(Axis(0)) {
            for (v, r) in row.iter_mut().zip(&self.rho) {
                *v -= r;
            }
        }
        d
    }

    /// The class with the largest decision value (the first on ties).
    pub fn predict(&self, x: ArrayView2<f64>) -> Vec<usize> {
        self.decision(x)
            .outer_iter()
            .map(|row| argmax(row.iter().copied()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libsvm_rs::predict::predict_values;

    fn wavy(n: usize, d: usize) -> (Array2<f64>, Vec<usize>) {
        let x = Array2::from_shape_fn((n, d), |(i, j)| {
            ((i * 7 + j * 13) as f64 * 0.37).sin() + 0.1 * j as f64
        });
        let y = (0..n)
            .map(|i| {
                let s: f64 = x.row(i).iter().take(3).sum();
                if s > 0.6 {
                    2
                } else if s > -0.4 {
                    1
                } else {
                    0
                }
            })
            .collect();
        (x, y)
    }

    #[test]
    fn kernel_by_matrix_product_equals_the_definition() {
        let (x, _) = wavy(20, 5);
        let k = rbf_kernel(x.view(), x.slice(ndarray::s![..7, ..]), 0.3);
        for i in 0..20 {
            for j in 0..7 {
                let d = crate::distance::direct_squared_distance(x.row(i), x.row(j));
                assert!((k[[i, j]] - (-0.3 * d).exp()).abs() < 1e-12);
            }
            if i < 7 {
                assert!((k[[i, i]] - 1.0).abs() < 1e-12, "a row is its own nearest");
            }
        }
    }

    /// The precomputed-kernel machines give the decision values of LIBSVM's
    /// own RBF kernel on the raw rows, class by class.
    #[test]
    fn decision_values_match_libsvm_with_its_own_rbf_kernel() {
        let (x, y) = wavy(90, 6);
        let gamma = 0.4;
        let svm = fit(x.view(), &y, 3, 2.0, gamma, ClassWeight::Balanced).unwrap();
        let (test, _) = wavy(130, 6);
        let test = test.slice(ndarray::s![90.., ..]).to_owned();
        let ours = svm.decision(test.view());
        let nodes = |row: ndarray::ArrayView1<f64>| -> Vec<SvmNode> {
            row.iter()
                .enumerate()
                .map(|(j, &v)| SvmNode {
                    index: j as i32 + 1,
                    value: v,
                })
                .collect()
        };
        for class in 0..3 {
            let binary: Vec<usize> = y.iter().map(|&t| (t == class) as usize).collect();
            let w = ClassWeight::Balanced.weights(&binary, 2);
            let problem = SvmProblem {
                labels: binary
                    .iter()
                    .map(|&b| if b == 1 { 1.0 } else { -1.0 })
                    .collect(),
                instances: x.outer_iter().map(nodes).collect(),
            };
            let param = SvmParameter {
                kernel_type: KernelType::Rbf,
                gamma,
                c: 2.0,
                weight: vec![(1, w[1]), (-1, w[0])],
                ..SvmParameter::default()
            };
            let model = svm_train(&problem, &param);
            let sign = if model.label[0] == 1 { 1.0 } else { -1.0 };
            for (i, row) in test.outer_iter().enumerate() {
                let mut dec = [0.0];
                predict_values(&model, &nodes(row), &mut dec);
                assert!(
                    (sign * dec[0] - ours[[i, class]]).abs() < 1e-6,
                    "class {class}, row {i}: {} vs {}",
                    sign * dec[0],
                    ours[[i, class]]
                );
            }
        }
        // Support vectors are kept once, and only those some machine uses.
        assert!(svm.support.nrows() <= 90);
        assert!(
            svm.coef
                .axis_iter(Axis(1))
                .all(|col| col.iter().any(|&v| v != 0.0))
        );
    }

    #[test]
    fn a_class_missing_from_training_never_wins_and_bad_settings_are_errors() {
        let (x, y) = wavy(60, 4);
        let svm = fit(x.view(), &y, 4, 1.0, 0.5, ClassWeight::None).unwrap();
        assert!(svm.predict(x.view()).iter().all(|&c| c < 3));
        assert!(fit(x.view(), &y, 3, 0.0, 0.5, ClassWeight::None).is_err());
        assert!(fit(x.view(), &y, 3, 1.0, -1.0, ClassWeight::None).is_err());
    }
}
