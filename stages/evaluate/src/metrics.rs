//! Classification metrics over class indices.
//!
//! Definitions follow scikit-learn: UA is `balanced_accuracy_score` (mean
//! recall over the classes present in the truth), WA is
//! `accuracy_score`, macro-F1 is `f1_score(average="macro")` over the
//! classes present in truth or prediction, with 0 where a score divides by
//! zero.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub ua: f64,
    pub wa: f64,
    pub macro_f1: f64,
    pub n: usize,
    pub per_class: Vec<ClassScores>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
}

impl Metrics {
    /// Score predictions; labels are indices below `n_classes`.
    pub fn compute(truth: &[usize], predicted: &[usize], n_classes: usize) -> Metrics {
        assert_eq!(truth.len(), predicted.len(), "one prediction per utterance");
        let mut confusion = vec![vec![0usize; n_classes]; n_classes];
        for (&t, &p) in truth.iter().zip(predicted) {
            confusion[t][p] += 1;
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per_class: Vec<ClassScores> = (0..n_classes)
            .map(|c| {
                let tp = confusion[c][c];
                let support: usize = confusion[c].iter().sum();
                let predicted_c: usize = confusion.iter().map(|row| row[c]).sum();
                let precision = ratio(tp, predicted_c);
                let recall = ratio(tp, support);
                let f1 = if precision + recall == 0.0 {
                    0.0
                } else {
                    2.0 * precision * recall / (precision + recall)
                };
                ClassScores {
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        let present_truth: Vec<usize> = (0..n_classes)
            .filter(|&c| per_class[c].support > 0)
            .collect();
        let present_any: Vec<usize> = (0..n_classes)
            .filter(|&c| per_class[c].support > 0 || confusion.iter().any(|row| row[c] > 0))
            .collect();
        let mean = |idx: &[usize], f: &dyn Fn(&ClassScores) -> f64| {
            if idx.is_empty() {
                0.0
            } else {
                idx.iter().map(|&c| f(&per_class[c])).sum::<f64>() / idx.len() as f64
            }
        };
        let correct = (0..n_classes).map(|c| confusion[c][c]).sum();
        Metrics {
            ua: mean(&present_truth, &|s| s.recall),
            wa: ratio(correct, truth.len()),
            macro_f1: mean(&present_any, &|s| s.f1),
            n: truth.len(),
            per_class,
            confusion,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_example() {
        // truth: 0 0 0 0 1 1 2 ; predicted: 0 0 0 1 1 0 1
        let m = Metrics::compute(&[0, 0, 0, 0, 1, 1, 2], &[0, 0, 0, 1, 1, 0, 1], 3);
        assert_eq!(
            m.confusion,
            vec![vec![3, 1, 0], vec![1, 1, 0], vec![0, 1, 0]]
        );
        // recalls 3/4, 1/2, 0 -> UA 5/12
        assert!((m.ua - 5.0 / 12.0).abs() < 1e-12);
        assert!((m.wa - 4.0 / 7.0).abs() < 1e-12);
        // precision 3/4, 1/3, 0 ; f1 3/4, 0.4, 0 -> macro 0.38333
        assert!((m.macro_f1 - (0.75 + 0.4) / 3.0).abs() < 1e-12);
        assert_eq!(m.per_class[2].support, 1);
    }

    #[test]
    fn absent_classes_do_not_dilute_ua() {
        let m = Metrics::compute(&[0, 0, 1], &[0, 0, 1], 4);
        assert_eq!((m.ua, m.wa, m.macro_f1), (1.0, 1.0, 1.0));
    }
}
