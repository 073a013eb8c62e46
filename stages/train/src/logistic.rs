//! Multinomial logistic regression with an L2 penalty on the weights (not
//! the intercepts), fitted by argmin's L-BFGS: ten corrections, Moré–Thuente
//! line search, gradient tolerance 1e-4, the best point seen kept. That is
//! the set-up linfa-logistic used when ser fitted through it, so the models
//! are the same up to rounding.
//!
//! Why not linfa-logistic any more: its cost and its gradient each multiply
//! the whole training matrix by the weights, and L-BFGS asks for the
//! gradient at the accepted point once more after its line search, so an
//! iteration made five passes over the data where two do. Here one
//! evaluation gives the loss and its gradient together, and the gradient
//! call at the same point reads it back.

use std::cell::RefCell;

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut1, Axis, s};
use serde::{Deserialize, Serialize};

/// L-BFGS's memory: the corrections it keeps.
const CORRECTIONS: usize = 10;
/// The gradient's norm under which the fit stops (on the summed loss).
const GRADIENT_TOLERANCE: f64 = 1e-4;

/// A fitted model. The serialised fields are linfa-logistic's, so models
/// cached before the move still load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fitted {
    intercept: Array1<f64>,
    /// Features x classes.
    params: Array2<f64>,
    /// The class indices seen in training, one per column.
    classes: Vec<usize>,
}

pub fn fit(
    records: Array2<f64>,
    y: &[usize],
    alpha: f64,
    max_iterations: u64,
) -> Result<Fitted, String> {
    if records.nrows() != y.len() {
        return Err(format!("{} rows but {} labels", records.nrows(), y.len()));
    }
    if records.iter().any(|v| !v.is_finite()) {
        return Err("the features hold a value that is not finite".to_string());
    }
    if !(alpha.is_finite() && alpha >= 0.0) {
        return Err(format!("alpha must be finite and >= 0, not {alpha}"));
    }
    let mut classes = y.to_vec();
    classes.sort_unstable();
    classes.dedup();
    let target = y
        .iter()
        .map(|c| classes.binary_search(c).expect("a class of y"))
        .collect();
    let (n_features, n_classes) = (records.ncols(), classes.len());
    let problem = Problem {
        x: records.view(),
        target,
        n_classes,
        alpha,
        last: RefCell::new(None),
    };
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), CORRECTIONS)
        .with_tolerance_grad(GRADIENT_TOLERANCE)
        .map_err(|e| e.to_string())?;
    let start = Array1::zeros((n_features + 1) * n_classes);
    let result = Executor::new(problem, solver)
        .configure(|state| state.param(start.clone()).max_iters(max_iterations))
        .run()
        .map_err(|e| e.to_string())?;
    let best = result.state.get_best_param().cloned().unwrap_or(start);
    let best = best
        .into_shape_with_order((n_features + 1, n_classes))
        .expect("(features + 1) x classes parameters");
    Ok(Fitted {
        intercept: best.row(n_features).to_owned(),
        params: best.slice(s![..n_features, ..]).to_owned(),
        classes,
    })
}

pub fn predict(model: &Fitted, records: &Array2<f64>) -> Vec<usize> {
    scores(model, records)
        .rows()
        .into_iter()
        .map(|row| model.classes[crate::argmax(row.to_vec())])
        .collect()
}

/// Each row's class probabilities, column `c` for class `c` (0 for a
/// class the model never saw).
pub fn probabilities(model: &Fitted, records: &Array2<f64>) -> Vec<Vec<f64>> {
    let mut p = scores(model, records);
    for row in p.rows_mut() {
        softmax_in_place(row);
    }
    crate::by_class(p.view(), &model.classes)
}

/// Scores to probabilities, shifted by their largest for range; returns
/// that largest score and the sum of the shifted exponentials.
fn softmax_in_place(mut row: ArrayViewMut1<f64>) -> (f64, f64) {
    let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    row.mapv_inplace(|v| (v - max).exp());
    let sum = row.sum();
    row /= sum;
    (max, sum)
}

/// `X W + b`: one row of class scores per record.
fn scores(model: &Fitted, records: &Array2<f64>) -> Array2<f64> {
    records.dot(&model.params) + &model.intercept
}

/// The penalised loss over a training set, for argmin. Parameters are one
/// vector: (features + 1) x classes, row-major, the intercepts last.
struct Problem<'a> {
    x: ArrayView2<'a, f64>,
    /// Each row's column in `classes`.
    target: Vec<usize>,
    n_classes: usize,
    alpha: f64,
    last: RefCell<Option<Evaluation>>,
}

/// The last point evaluated, its loss and its gradient.
type Evaluation = (Array1<f64>, f64, Array1<f64>);

impl Problem<'_> {
    /// Loss and gradient at `p`, from the cache when `p` is the last point.
    fn evaluate(&self, p: &Array1<f64>) -> (f64, Array1<f64>) {
        if let Some((at, loss, gradient)) = &*self.last.borrow()
            && at == p
        {
            return (*loss, gradient.clone());
        }
        let (loss, gradient) = self.loss_and_gradient(p);
        *self.last.borrow_mut() = Some((p.clone(), loss, gradient.clone()));
        (loss, gradient)
    }

    /// `sum_i [logsumexp(h_i) - h_i,y_i] + alpha/2 |W|^2` with `H = X W + b`,
    /// and its gradient `X^T (softmax(H) - Y) + alpha W` (`sum_i` of the
    /// residuals for `b`): one product each way.
    fn loss_and_gradient(&self, p: &Array1<f64>) -> (f64, Array1<f64>) {
        let (n_features, k) = (self.x.ncols(), self.n_classes);
        let p = p
            .view()
            .into_shape_with_order((n_features + 1, k))
            .expect("(features + 1) x classes parameters");
        let w = p.slice(s![..n_features, ..]);
        let b = p.row(n_features);
        // Scores, then in place the residuals softmax(h) - onehot(y).
        let mut h = self.x.dot(&w) + b;
        let mut loss = 0.0;
        for (mut row, &t) in h.rows_mut().into_iter().zip(&self.target) {
            let own = row[t];
            let (max, sum) = softmax_in_place(row.view_mut());
            loss += sum.ln() - (own - max);
            row[t] -= 1.0;
        }
        loss += 0.5 * self.alpha * w.iter().map(|v| v * v).sum::<f64>();
        let mut gradient = Array2::zeros((n_features + 1, k));
        let mut gw = gradient.slice_mut(s![..n_features, ..]);
        gw.assign(&self.x.t().dot(&h));
        gw.scaled_add(self.alpha, &w);
        gradient.row_mut(n_features).assign(&h.sum_axis(Axis(0)));
        let len = gradient.len();
        (
            loss,
            gradient
                .into_shape_with_order(len)
                .expect("a standard-layout array"),
        )
    }
}

impl CostFunction for Problem<'_> {
    type Param = Array1<f64>;
    type Output = f64;

    fn cost(&self, p: &Self::Param) -> Result<f64, argmin::core::Error> {
        Ok(self.evaluate(p).0)
    }
}

impl Gradient for Problem<'_> {
    type Param = Array1<f64>;
    type Gradient = Array1<f64>;

    fn gradient(&self, p: &Self::Param) -> Result<Array1<f64>, argmin::core::Error> {
        Ok(self.evaluate(p).1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// linfa-logistic's loss and gradient, as it computed them (separate
    /// passes), to check the one-pass evaluation against.
    fn reference(
        x: &Array2<f64>,
        y: &[usize],
        k: usize,
        alpha: f64,
        p: &Array1<f64>,
    ) -> (f64, Array1<f64>) {
        let d = x.ncols();
        let p = p.clone().into_shape_with_order((d + 1, k)).unwrap();
        let (w, b) = (p.slice(s![..d, ..]), p.row(d));
        let h = x.dot(&w) + b;
        let mut onehot = Array2::<f64>::zeros((y.len(), k));
        for (i, &c) in y.iter().enumerate() {
            onehot[[i, c]] = 1.0;
        }
        let lse = h.map_axis(Axis(1), |r| {
            let m = r.fold(f64::NEG_INFINITY, |a, &v| a.max(v));
            m + r.mapv(|v| (v - m).exp()).sum().ln()
        });
        let log_prob = &h - &lse.insert_axis(Axis(1));
        let loss = -(&log_prob * &onehot).sum() + 0.5 * alpha * (&w * &w).sum();
        let diff = log_prob.mapv(f64::exp) - &onehot;
        let mut g = Array2::zeros((d + 1, k));
        g.slice_mut(s![..d, ..])
            .assign(&(x.t().dot(&diff) + &(&w * alpha)));
        g.row_mut(d).assign(&diff.sum_axis(Axis(0)));
        (loss, g.into_shape_with_order((d + 1) * k).unwrap())
    }

    fn blobs() -> (Array2<f64>, Vec<usize>) {
        // Three classes around three centres, with a deterministic spread.
        let centres = [[2.0, 0.0, 1.0], [-1.0, 2.0, 0.0], [0.0, -2.0, -1.0]];
        let mut x = Array2::zeros((60, 3));
        let mut y = Vec::new();
        for i in 0..60 {
            let c = i % 3;
            for j in 0..3 {
                let wobble = ((i * 7 + j * 13) % 11) as f64 / 5.5 - 1.0;
                x[[i, j]] = centres[c][j] + wobble;
            }
            y.push(c);
        }
        (x, y)
    }

    #[test]
    fn one_pass_matches_the_separate_loss_and_gradient() {
        let (x, y) = blobs();
        let problem = Problem {
            x: x.view(),
            target: y.clone(),
            n_classes: 3,
            alpha: 0.7,
            last: RefCell::new(None),
        };
        let p = Array1::from_iter((0..12).map(|i| (i as f64 * 0.37).sin()));
        let (loss, gradient) = problem.loss_and_gradient(&p);
        let (want_loss, want_gradient) = reference(&x, &y, 3, 0.7, &p);
        assert!((loss - want_loss).abs() < 1e-9 * want_loss.abs().max(1.0));
        for (g, w) in gradient.iter().zip(&want_gradient) {
            assert!((g - w).abs() < 1e-9, "{g} against {w}");
        }
    }

    #[test]
    fn the_cache_answers_for_the_last_point_only() {
        let (x, y) = blobs();
        let problem = Problem {
            x: x.view(),
            target: y,
            n_classes: 3,
            alpha: 1.0,
            last: RefCell::new(None),
        };
        let p = Array1::from_elem(12, 0.1);
        let cost = problem.cost(&p).unwrap();
        // A cache that answered for any point would give this one's too.
        let q = Array1::from_elem(12, -0.2);
        assert_ne!(problem.cost(&q).unwrap(), cost);
        assert_eq!(problem.last.borrow().as_ref().unwrap().0, q);
        let (want, _) = problem.loss_and_gradient(&p);
        assert_eq!(problem.cost(&p).unwrap(), want);
    }

    #[test]
    fn separable_classes_are_learned_and_probabilities_sum_to_one() {
        let (x, y) = blobs();
        let model = fit(x.clone(), &y, 1.0, 100).unwrap();
        assert_eq!(predict(&model, &x), y);
        for row in probabilities(&model, &x) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn unseen_classes_get_no_column_and_bad_input_is_refused() {
        let (x, y) = blobs();
        // Classes 1, 4 and 6: the model predicts those indices, and its
        // probabilities have a zero column for each class it never saw.
        let shifted: Vec<usize> = y.iter().map(|&c| [1, 4, 6][c]).collect();
        let model = fit(x.clone(), &shifted, 1.0, 100).unwrap();
        assert_eq!(predict(&model, &x), shifted);
        let p = probabilities(&model, &x);
        assert_eq!(p[0].len(), 7);
        assert!(p.iter().all(|r| r[0] == 0.0 && r[2] == 0.0 && r[5] == 0.0));
        let mut bad = x.clone();
        bad[[3, 1]] = f64::NAN;
        assert!(fit(bad, &y, 1.0, 10).unwrap_err().contains("not finite"));
    }

    #[test]
    fn a_model_linfa_saved_loads() {
        // linfa-logistic's MultiFittedLogisticRegression, serialised.
        let json = r#"{"intercept":{"v":1,"dim":[2],"data":[0.5,-0.5]},
            "params":{"v":1,"dim":[1,2],"data":[1.0,-1.0]},"classes":[0,3]}"#;
        let model: Fitted = serde_json::from_str(json).unwrap();
        let x = Array2::from_shape_vec((2, 1), vec![2.0, -2.0]).unwrap();
        assert_eq!(predict(&model, &x), vec![0, 3]);
    }
}
