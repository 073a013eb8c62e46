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
//!
//! With `probability: true` each machine also gets Platt's sigmoid (LIBSVM's
//! `sigmoid_train`, Lin, Lin & Weng 2007) fitted on decision values of
//! training rows predicted by fits without their speaker ([`calibrate`]),
//! and a row's class probabilities are the sigmoids normalised to sum to 1.
//! LIBSVM's own probability option draws its folds from one process-wide
//! `rand()` (so results would depend on which fits ran first) and splits
//! rows, not speakers, which lets a speaker's other utterances inflate the
//! held-out decision values.

use libsvm_rs::probability::{sigmoid_predict, sigmoid_train};
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
    /// Per class, the machine's offset; infinite for a class absent from
    /// training (its machine never wins), which JSON writes as null.
    #[serde(with = "infinite_as_null")]
    pub rho: Vec<f64>,
    /// Per class, Platt's sigmoid (A, B): P(class | f) = 1 / (1 + exp(A f +
    /// B)) for the machine's decision value f. Absent without `probability:
    /// true`, so models fitted before it read back unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platt: Option<Vec<[f64; 2]>>,
}

/// Inner folds of [`calibrate`] (LIBSVM's probability option uses 5).
const CALIBRATION_FOLDS: usize = 5;

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
        platt: None,
    })
}

/// Platt's sigmoid per class machine, fitted on out-of-fold decision
/// values: each row's comes from a fit on the other inner folds, with
/// whole groups (speakers) dealt to 5 folds in the order of their first
/// row. Needs at least two groups. A (row, class) whose machine could not
/// be fitted without the row's fold (the class absent there) is left out.
pub fn calibrate(
    x: ArrayView2<f64>,
    y: &[usize],
    groups: &[usize],
    n_classes: usize,
    c: f64,
    gamma: f64,
    class_weight: ClassWeight,
) -> Result<Vec<[f64; 2]>, String> {
    let mut order: Vec<usize> = Vec::new();
    for &g in groups {
        if !order.contains(&g) {
            order.push(g);
        }
    }
    if order.len() < 2 {
        return Err("probability: true needs rows of at least two speakers to calibrate on".into());
    }
    let folds = CALIBRATION_FOLDS.min(order.len());
    let fold_of = |g: usize| order.iter().position(|&o| o == g).expect("listed") % folds;
    let mut decisions: Vec<Vec<f64>> = vec![Vec::new(); n_classes];
    let mut targets: Vec<Vec<f64>> = vec![Vec::new(); n_classes];
    for k in 0..folds {
        let (train, held): (Vec<usize>, Vec<usize>) =
            (0..y.len()).partition(|&r| fold_of(groups[r]) != k);
        let y_train: Vec<usize> = train.iter().map(|&r| y[r]).collect();
        if y_train.iter().all(|&t| t == y_train[0]) {
            continue;
        }
        let inner = fit(
            x.select(Axis(0), &train).view(),
            &y_train,
            n_classes,
            c,
            gamma,
            class_weight,
        )?;
        let d = inner.decision(x.select(Axis(0), &held).view());
        for (row, &r) in d.outer_iter().zip(&held) {
            for (class, &f) in row.iter().enumerate() {
                if f.is_finite() {
                    decisions[class].push(f);
                    targets[class].push(if y[r] == class { 1.0 } else { -1.0 });
                }
            }
        }
    }
    Ok((decisions.iter().zip(&targets))
        .map(|(d, t)| match t.iter().any(|&v| v > 0.0) {
            true => {
                let (a, b) = sigmoid_train(d, t);
                [a, b]
            }
            // Never the class among the held-out rows (so absent from
            // training): probability 0, by a sigmoid at exp(-MAX).
            false => [0.0, f64::MAX],
        })
        .collect())
}

/// `rho` in JSON, which has no infinity: +inf as null.
mod infinite_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(rho: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let values: Vec<Option<f64>> = rho.iter().map(|&v| v.is_finite().then_some(v)).collect();
        values.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let values: Vec<Option<f64>> = Vec::deserialize(d)?;
        Ok(values
            .into_iter()
            .map(|v| v.unwrap_or(f64::INFINITY))
            .collect())
    }
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

    /// Class probabilities (rows x classes) from the machines' sigmoids,
    /// normalised per row; None without them.
    pub fn probabilities(&self, x: ArrayView2<f64>) -> Option<Vec<Vec<f64>>> {
        let platt = self.platt.as_ref()?;
        let d = self.decision(x);
        Some(
            d.outer_iter()
                .map(|row| {
                    let mut p: Vec<f64> = (row.iter().zip(platt))
                        .map(|(&f, &[a, b])| match f.is_finite() {
                            true => sigmoid_predict(f, a, b),
                            false => 0.0,
                        })
                        .collect();
                    let (sum, n) = (p.iter().sum::<f64>(), p.len() as f64);
                    match sum > 0.0 {
                        true => p.iter_mut().for_each(|v| *v /= sum),
                        false => p.fill(1.0 / n),
                    }
                    p
                })
                .collect(),
        )
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

    /// Platt's sigmoids on held-out speakers' decision values: the same
    /// every time, probabilities that rank the true class first where the
    /// machines do, a lower log loss than the classes' frequencies give,
    /// and an error with one speaker.
    #[test]
    fn calibration_on_held_out_speakers_gives_probabilities_that_score_better_than_priors() {
        let (x, y) = wavy(150, 6);
        let groups: Vec<usize> = (0..150).map(|r| r / 15).collect();
        let mut svm = fit(x.view(), &y, 3, 1.0, 0.4, ClassWeight::Balanced).unwrap();
        let platt = calibrate(x.view(), &y, &groups, 3, 1.0, 0.4, ClassWeight::Balanced).unwrap();
        let again = calibrate(x.view(), &y, &groups, 3, 1.0, 0.4, ClassWeight::Balanced).unwrap();
        assert_eq!(platt, again);
        // A larger decision value, a larger probability: A < 0.
        assert!(platt.iter().all(|&[a, _]| a < 0.0), "{platt:?}");
        assert!(svm.probabilities(x.view()).is_none());
        svm.platt = Some(platt);
        let (test, truth) = wavy(250, 6);
        let (test, truth) = (test.slice(ndarray::s![150.., ..]), &truth[150..]);
        let p = svm.probabilities(test).unwrap();
        let predicted = svm.predict(test);
        let mut agree = 0;
        let (mut loss, mut prior_loss) = (0.0, 0.0);
        for ((row, &t), &c) in p.iter().zip(truth).zip(&predicted) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            agree += usize::from(argmax(row.iter().copied()) == c);
            loss -= row[t].max(1e-12).ln();
            let prior = y.iter().filter(|&&v| v == t).count() as f64 / y.len() as f64;
            prior_loss -= prior.ln();
        }
        assert!(agree >= 95, "{agree} of 100 rows rank as the machines do");
        assert!(
            loss < 0.7 * prior_loss,
            "log loss {loss} vs {prior_loss} from priors"
        );
        let one = vec![0; 150];
        assert!(calibrate(x.view(), &y, &one, 3, 1.0, 0.4, ClassWeight::Balanced).is_err());
    }

    #[test]
    fn a_class_missing_from_training_never_wins_and_bad_settings_are_errors() {
        let (x, y) = wavy(60, 4);
        let mut svm = fit(x.view(), &y, 4, 1.0, 0.5, ClassWeight::None).unwrap();
        assert!(svm.predict(x.view()).iter().all(|&c| c < 3));
        // Calibrated, the missing class has probability 0; and the model
        // (infinite offset included) reads back from JSON.
        let groups: Vec<usize> = (0..60).map(|r| r % 4).collect();
        svm.platt = Some(calibrate(x.view(), &y, &groups, 4, 1.0, 0.5, ClassWeight::None).unwrap());
        let p = svm.probabilities(x.view()).unwrap();
        assert!(
            p.iter()
                .all(|row| row[3] == 0.0 && (row.iter().sum::<f64>() - 1.0).abs() < 1e-9)
        );
        let back: RbfSvm = serde_json::from_str(&serde_json::to_string(&svm).unwrap()).unwrap();
        assert_eq!(back, svm);
        assert!(fit(x.view(), &y, 3, 0.0, 0.5, ClassWeight::None).is_err());
        assert!(fit(x.view(), &y, 3, 1.0, -1.0, ClassWeight::None).is_err());
    }
}
