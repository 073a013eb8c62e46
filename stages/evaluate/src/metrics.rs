//! Classification metrics over class indices, their uncertainty, and
//! comparisons of two systems.
//!
//! Definitions follow scikit-learn: UA is `balanced_accuracy_score` (mean
//! recall over the classes present in the truth), WA is
//! `accuracy_score`, macro-F1 is `f1_score(average="macro")` over the
//! classes present in truth or prediction, with 0 where a score divides by
//! zero; the normalised confusion matrix is
//! `confusion_matrix(normalize="true")`.
//!
//! Uncertainty comes from the percentile bootstrap ([`bootstrap_intervals`],
//! [`paired_bootstrap`]). Given each utterance's speaker it resamples
//! whole speakers (a cluster bootstrap): one speaker's utterances share a
//! voice, a microphone and a session, so they are not independent draws,
//! and resampling them one by one gives intervals too narrow for a corpus
//! of 24 speakers. Without speakers it resamples utterances. Two systems are also
//! compared by McNemar's exact test on their correct/incorrect pairs
//! ([`mcnemar`]). Resamples draw from a seeded ChaCha8 stream, so a seed
//! always gives the same intervals.

use serde::{Deserialize, Serialize};

use crate::rng::Stream;

/// One class's scores; `support` is its number of true utterances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// The scores of one set of predictions.
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

/// Precision, recall, F1 and support of each class of a confusion matrix
/// (`confusion[true][predicted]`), 0 where a score divides by zero.
pub fn class_scores(confusion: &[Vec<usize>]) -> Vec<ClassScores> {
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    (0..confusion.len())
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
        .collect()
}

impl Metrics {
    /// Score predictions; labels are indices below `n_classes`.
    pub fn compute(truth: &[usize], predicted: &[usize], n_classes: usize) -> Metrics {
        assert_eq!(truth.len(), predicted.len(), "one prediction per utterance");
        let mut confusion = vec![vec![0usize; n_classes]; n_classes];
        for (&t, &p) in truth.iter().zip(predicted) {
            confusion[t][p] += 1;
        }
        let per_class = class_scores(&confusion);
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
        let correct: usize = (0..n_classes).map(|c| confusion[c][c]).sum();
        Metrics {
            ua: mean(&present_truth, &|s| s.recall),
            wa: if truth.is_empty() {
                0.0
            } else {
                correct as f64 / truth.len() as f64
            },
            macro_f1: mean(&present_any, &|s| s.f1),
            n: truth.len(),
            per_class,
            confusion,
        }
    }
}

/// The rows of a confusion matrix (`[true][predicted]` counts) divided by
/// their sums, so row `t` is how utterances of class `t` were labelled; an
/// all-zero row (a class absent from the truth) stays zero, as in
/// scikit-learn's `confusion_matrix(normalize="true")`.
pub fn row_normalized(confusion: &[Vec<usize>]) -> Vec<Vec<f64>> {
    confusion
        .iter()
        .map(|row| {
            let total: usize = row.iter().sum();
            row.iter()
                .map(|&c| {
                    if total == 0 {
                        0.0
                    } else {
                        c as f64 / total as f64
                    }
                })
                .collect()
        })
        .collect()
}

impl Metrics {
    /// The confusion matrix with each true class's row summing to 1 (see
    /// [`row_normalized`]).
    pub fn confusion_normalized(&self) -> Vec<Vec<f64>> {
        row_normalized(&self.confusion)
    }
}

/// How a bootstrap resamples: `resamples` draws of the test utterances with
/// replacement from a ChaCha8 stream seeded with `seed`, and an interval
/// holding the central `level` of the resampled scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Bootstrap {
    pub resamples: usize,
    pub seed: u64,
    pub level: f64,
}

impl Default for Bootstrap {
    fn default() -> Bootstrap {
        Bootstrap {
            resamples: 1000,
            seed: 0,
            level: 0.95,
        }
    }
}

/// A score on the test utterances as they are, and the percentile interval
/// of its bootstrap resamples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// What one bootstrap draw takes: a whole speaker (all its utterances)
/// or one utterance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Speaker,
    Utterance,
}

/// Bootstrap intervals on UA and WA.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreIntervals {
    pub ua: Interval,
    pub wa: Interval,
    pub bootstrap: Bootstrap,
    pub unit: Unit,
}

/// Paired bootstrap of two systems' UA on the same utterances.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedBootstrap {
    pub ua_a: f64,
    pub ua_b: f64,
    /// `ua_a - ua_b` and its interval.
    pub difference: Interval,
    /// Two-sided: `min(1, 2 * min(#{d* <= 0}, #{d* >= 0}) / B)` over the
    /// `B` resampled differences `d*`, i.e. twice the fraction of resamples
    /// in which the difference's sign flips (or vanishes).
    pub p_value: f64,
    pub bootstrap: Bootstrap,
    pub unit: Unit,
}

/// McNemar's test of two systems on the same utterances.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Utterances system A gets right and system B wrong.
    pub only_a_correct: usize,
    /// Utterances system B gets right and system A wrong.
    pub only_b_correct: usize,
    /// Exact two-sided p: `min(1, 2 P(X <= k))`, `X ~ Binomial(b + c, 1/2)`,
    /// `k = min(b, c)`; what `scipy.stats.binomtest(k, b + c, 0.5)` gives.
    pub p_exact: f64,
    /// Mid-p: `min(1, 2 P(X <= k) - P(X = k))`; less conservative than the
    /// exact p, with close to nominal size (Fagerland, Lydersen and Laake,
    /// BMC Med. Res. Methodol. 2013), and the one to report by default.
    pub p_mid: f64,
}

/// Percentile bootstrap intervals on UA and WA of `predicted` against
/// `truth` (class indices below `n_classes`).
///
/// With `folds` (one fold index per utterance; equal values form a fold),
/// the scores are fold means, as the evaluate stage's headline numbers are,
/// and each resample draws every fold's utterances from that fold only, so
/// fold sizes stay fixed. Without, the scores are pooled over all
/// utterances. With `speakers` (one speaker index per utterance), a
/// resample draws as many speakers as the fold has, with replacement, and
/// takes every utterance of each; without, it draws utterances. A resample
/// in which a class happens to be absent averages UA over the classes it
/// holds, as the score does on any test set.
///
/// # Panics
/// On no utterances, or slices of different lengths.
pub fn bootstrap_intervals(
    truth: &[usize],
    predicted: &[usize],
    folds: Option<&[usize]>,
    speakers: Option<&[usize]>,
    n_classes: usize,
    config: &Bootstrap,
) -> ScoreIntervals {
    let mut resampler = Resampler::new(truth, &[predicted], folds, speakers, n_classes);
    let mut scores = [(0.0, 0.0)];
    resampler.scores(None, &mut scores);
    let (ua, wa) = scores[0];
    let mut ua_star = Vec::with_capacity(config.resamples);
    let mut wa_star = Vec::with_capacity(config.resamples);
    let mut stream = Stream::new(config.seed);
    for _ in 0..config.resamples {
        resampler.scores(Some(&mut stream), &mut scores);
        ua_star.push(scores[0].0);
        wa_star.push(scores[0].1);
    }
    ScoreIntervals {
        ua: percentile_interval(ua, &mut ua_star, config.level),
        wa: percentile_interval(wa, &mut wa_star, config.level),
        bootstrap: *config,
        unit: unit_of(speakers),
    }
}

fn unit_of(speakers: Option<&[usize]>) -> Unit {
    match speakers {
        Some(_) => Unit::Speaker,
        None => Unit::Utterance,
    }
}

/// Paired bootstrap of `ua(a) - ua(b)` on the same test utterances: each
/// resample draws one set of utterances and scores both systems on it, so
/// the interval and p-value reflect how the systems differ on the same
/// inputs. `folds` and `speakers` as in [`bootstrap_intervals`] (fold-mean
/// UA, resampled within folds, by speaker when speakers are given).
///
/// # Panics
/// On no utterances, or slices of different lengths.
pub fn paired_bootstrap(
    truth: &[usize],
    predicted_a: &[usize],
    predicted_b: &[usize],
    folds: Option<&[usize]>,
    speakers: Option<&[usize]>,
    n_classes: usize,
    config: &Bootstrap,
) -> PairedBootstrap {
    let mut resampler = Resampler::new(
        truth,
        &[predicted_a, predicted_b],
        folds,
        speakers,
        n_classes,
    );
    let mut scores = [(0.0, 0.0); 2];
    resampler.scores(None, &mut scores);
    let (ua_a, ua_b) = (scores[0].0, scores[1].0);
    let mut d_star = Vec::with_capacity(config.resamples);
    let mut stream = Stream::new(config.seed);
    let (mut not_above, mut not_below) = (0usize, 0usize);
    for _ in 0..config.resamples {
        resampler.scores(Some(&mut stream), &mut scores);
        let d = scores[0].0 - scores[1].0;
        not_above += usize::from(d <= 0.0);
        not_below += usize::from(d >= 0.0);
        d_star.push(d);
    }
    let p_value = if config.resamples == 0 {
        1.0
    } else {
        (2.0 * not_above.min(not_below) as f64 / config.resamples as f64).min(1.0)
    };
    PairedBootstrap {
        ua_a,
        ua_b,
        difference: percentile_interval(ua_a - ua_b, &mut d_star, config.level),
        p_value,
        bootstrap: *config,
        unit: unit_of(speakers),
    }
}

/// `resamples` bootstrap draws of whole speakers: each draws as many
/// speakers as `speakers` (one speaker index per row) holds, with
/// replacement, from a ChaCha8 stream seeded with `seed`, and lists the
/// rows of every speaker drawn, once per draw, in row order within each.
/// For choices that must not hang on which few speakers were held out
/// (bagged ensemble selection); the same resampling as the speaker
/// intervals, which need no row lists.
pub fn speaker_resamples(speakers: &[usize], resamples: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rows_of: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (row, &speaker) in speakers.iter().enumerate() {
        rows_of.entry(speaker).or_default().push(row);
    }
    let clusters: Vec<Vec<usize>> = rows_of.into_values().collect();
    let mut stream = Stream::new(seed);
    (0..resamples)
        .map(|_| {
            (0..clusters.len())
                .flat_map(|_| clusters[stream.below(clusters.len())].iter().copied())
                .collect()
        })
        .collect()
}

/// McNemar's test on which utterances each system gets right.
///
/// # Panics
/// On slices of different lengths.
pub fn mcnemar(truth: &[usize], predicted_a: &[usize], predicted_b: &[usize]) -> McNemar {
    assert!(
        truth.len() == predicted_a.len() && truth.len() == predicted_b.len(),
        "one prediction per utterance from each system"
    );
    let (mut only_a, mut only_b) = (0, 0);
    for ((&t, &a), &b) in truth.iter().zip(predicted_a).zip(predicted_b) {
        match (a == t, b == t) {
            (true, false) => only_a += 1,
            (false, true) => only_b += 1,
            _ => {}
        }
    }
    mcnemar_counts(only_a, only_b)
}

/// McNemar's test from the discordant counts: `only_a_correct` utterances
/// only A gets right, `only_b_correct` only B.
pub fn mcnemar_counts(only_a_correct: usize, only_b_correct: usize) -> McNemar {
    let n = only_a_correct + only_b_correct;
    let k = only_a_correct.min(only_b_correct);
    // Binomial(n, 1/2) probabilities in log space: 0.5^n underflows past
    // n = 1074, and ln C(n, i) grows one term at a time.
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let (mut ln_choose, mut tail, mut at_k) = (0.0f64, 0.0f64, 0.0f64);
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        at_k = (ln_choose + ln_half_n).exp();
        tail += at_k;
    }
    McNemar {
        only_a_correct,
        only_b_correct,
        p_exact: (2.0 * tail).min(1.0),
        p_mid: (2.0 * tail - at_k).min(1.0),
    }
}

/// The percentile interval of `resampled` (sorted in place) around
/// `estimate`, with numpy's default (linear) quantiles; with no resamples,
/// the estimate alone.
fn percentile_interval(estimate: f64, resampled: &mut [f64], level: f64) -> Interval {
    if resampled.is_empty() {
        return Interval {
            estimate,
            low: estimate,
            high: estimate,
        };
    }
    resampled.sort_unstable_by(f64::total_cmp);
    let quantile = |q: f64| {
        let h = (resampled.len() - 1) as f64 * q;
        let below = h.floor() as usize;
        let above = (below + 1).min(resampled.len() - 1);
        resampled[below] + (h - below as f64) * (resampled[above] - resampled[below])
    };
    let tail = (1.0 - level) / 2.0;
    Interval {
        estimate,
        low: quantile(tail),
        high: quantile(1.0 - tail),
    }
}

/// Test utterances prepared for cheap resampling: every system's outcome
/// on a row packed as `2 * true_class + correct`, so one resample is a
/// count per code and a pass over the classes, with no allocation.
struct Resampler {
    n_classes: usize,
    /// Per fold (one fold when the scores are pooled), its clusters (its
    /// speakers, or each utterance alone), each a list of rows.
    strata: Vec<Vec<Vec<u32>>>,
    /// Per system, each row's code.
    codes: Vec<Vec<u32>>,
    /// Scratch: per system, counts of each code in the current fold.
    counts: Vec<u32>,
}

impl Resampler {
    fn new(
        truth: &[usize],
        predictions: &[&[usize]],
        folds: Option<&[usize]>,
        speakers: Option<&[usize]>,
        n_classes: usize,
    ) -> Resampler {
        assert!(!truth.is_empty(), "no test utterances to resample");
        assert!(
            predictions.iter().all(|p| p.len() == truth.len())
                && folds.is_none_or(|f| f.len() == truth.len())
                && speakers.is_none_or(|s| s.len() == truth.len()),
            "one prediction, fold and speaker per utterance"
        );
        // fold -> cluster -> rows; a cluster is a speaker, or one row.
        let mut by_fold: std::collections::BTreeMap<
            usize,
            std::collections::BTreeMap<usize, Vec<u32>>,
        > = Default::default();
        for row in 0..truth.len() {
            let fold = folds.map_or(0, |f| f[row]);
            let cluster = speakers.map_or(row, |s| s[row]);
            by_fold
                .entry(fold)
                .or_default()
                .entry(cluster)
                .or_default()
                .push(row as u32);
        }
        let strata = by_fold
            .into_values()
            .map(|clusters| clusters.into_values().collect())
            .collect();
        let codes = predictions
            .iter()
            .map(|p| {
                truth
                    .iter()
                    .zip(*p)
                    .map(|(&t, &p)| {
                        assert!(t < n_classes && p < n_classes, "class index out of range");
                        (2 * t + usize::from(t == p)) as u32
                    })
                    .collect()
            })
            .collect();
        Resampler {
            n_classes,
            strata,
            codes,
            counts: vec![0; predictions.len() * 2 * n_classes],
        }
    }

    /// Each system's (UA, WA), averaged over folds, on one resample drawn
    /// from `stream`, or on the utterances as they are without one.
    fn scores(&mut self, mut stream: Option<&mut Stream>, out: &mut [(f64, f64)]) {
        let width = 2 * self.n_classes;
        out.fill((0.0, 0.0));
        let n_strata = self.strata.len() as f64;
        for clusters in &self.strata {
            self.counts.fill(0);
            let mut drawn = 0usize;
            let mut tally = |rows: &[u32]| {
                drawn += rows.len();
                for &row in rows {
                    for (m, codes) in self.codes.iter().enumerate() {
                        self.counts[m * width + codes[row as usize] as usize] += 1;
                    }
                }
            };
            match stream.as_deref_mut() {
                Some(stream) => {
                    for _ in 0..clusters.len() {
                        tally(&clusters[stream.below(clusters.len())]);
                    }
                }
                None => clusters.iter().for_each(|rows| tally(rows)),
            }
            for (m, score) in out.iter_mut().enumerate() {
                let counts = &self.counts[m * width..(m + 1) * width];
                let (mut recall_sum, mut present, mut correct) = (0.0, 0usize, 0u32);
                for class in counts.chunks_exact(2) {
                    let support = class[0] + class[1];
                    if support > 0 {
                        recall_sum += f64::from(class[1]) / f64::from(support);
                        present += 1;
                    }
                    correct += class[1];
                }
                score.0 += recall_sum / present as f64 / n_strata;
                score.1 += f64::from(correct) / drawn as f64 / n_strata;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaker_resamples_draw_whole_speakers_and_repeat_per_seed() {
        // Speakers 7, 3, 7, 9, 3: rows 0 and 2, 1 and 4, 3.
        let speakers = [7, 3, 7, 9, 3];
        let draws = speaker_resamples(&speakers, 50, 11);
        assert_eq!(draws.len(), 50);
        let mut drawn = std::collections::BTreeSet::new();
        for rows in &draws {
            // Three draws of whole speakers: 3 to 6 rows, speakers intact.
            assert!((3..=6).contains(&rows.len()), "{rows:?}");
            for speaker in [7, 3, 9] {
                let of = rows.iter().filter(|&&r| speakers[r] == speaker).count();
                let size = speakers.iter().filter(|&&s| s == speaker).count();
                assert_eq!(of % size, 0, "{rows:?}");
            }
            drawn.insert(rows.clone());
        }
        // Not every draw alike, and the same seed draws the same again.
        assert!(drawn.len() > 5);
        assert_eq!(draws, speaker_resamples(&speakers, 50, 11));
        assert_ne!(draws, speaker_resamples(&speakers, 50, 12));
        assert!(speaker_resamples(&[], 3, 0).iter().all(Vec::is_empty));
    }

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

    #[test]
    fn hand_computed_normalized_confusion() {
        let m = Metrics::compute(&[0, 0, 0, 0, 1, 1, 2], &[0, 0, 0, 1, 1, 0, 1], 4);
        assert_eq!(
            m.confusion_normalized(),
            vec![
                vec![0.75, 0.25, 0.0, 0.0],
                vec![0.5, 0.5, 0.0, 0.0],
                vec![0.0, 1.0, 0.0, 0.0],
                // Class 3 never occurs: its row stays zero, not NaN.
                vec![0.0, 0.0, 0.0, 0.0],
            ]
        );
    }

    /// A fixed 26-utterance, 5-class prediction set; class 3 is never
    /// predicted.
    const SK_TRUTH: [usize; 26] = [
        0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4,
    ];
    const SK_PRED: [usize; 26] = [
        0, 0, 0, 1, 2, 0, 1, 1, 0, 2, 1, 2, 2, 2, 0, 1, 2, 4, 2, 0, 1, 2, 4, 4, 0, 4,
    ];

    #[test]
    fn matches_scikit_learn() {
        let m = Metrics::compute(&SK_TRUTH, &SK_PRED, 5);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        // balanced_accuracy_score(truth, pred)
        assert!(close(m.ua, 0.5283333333333333), "{}", m.ua);
        // accuracy_score(truth, pred)
        assert!(close(m.wa, 0.5769230769230769), "{}", m.wa);
        // f1_score(truth, pred, average="macro")
        assert!(close(m.macro_f1, 0.4983766233766234), "{}", m.macro_f1);
        // precision_recall_fscore_support(truth, pred, labels=range(5),
        // zero_division=0)
        let precision = [0.5, 0.5, 0.625, 0.0, 0.75];
        let recall = [0.6666666666666666, 0.6, 0.625, 0.0, 0.75];
        let f1 = [0.5714285714285714, 0.5454545454545454, 0.625, 0.0, 0.75];
        let support = [6, 5, 8, 3, 4];
        for c in 0..5 {
            let s = &m.per_class[c];
            assert!(close(s.precision, precision[c]), "precision {c}");
            assert!(close(s.recall, recall[c]), "recall {c}");
            assert!(close(s.f1, f1[c]), "f1 {c}");
            assert_eq!(s.support, support[c]);
        }
        // confusion_matrix(truth, pred, labels=range(5))
        assert_eq!(
            m.confusion,
            vec![
                vec![4, 1, 1, 0, 0],
                vec![1, 3, 1, 0, 0],
                vec![1, 1, 5, 0, 1],
                vec![1, 1, 1, 0, 0],
                vec![1, 0, 0, 0, 3],
            ]
        );
        // confusion_matrix(truth, pred, labels=range(5), normalize="true")
        let normalized = [
            [
                0.6666666666666666,
                0.16666666666666666,
                0.16666666666666666,
                0.0,
                0.0,
            ],
            [0.2, 0.6, 0.2, 0.0, 0.0],
            [0.125, 0.125, 0.625, 0.0, 0.125],
            [
                0.3333333333333333,
                0.3333333333333333,
                0.3333333333333333,
                0.0,
                0.0,
            ],
            [0.25, 0.0, 0.0, 0.0, 0.75],
        ];
        for (row, expected) in m.confusion_normalized().iter().zip(normalized) {
            for (a, b) in row.iter().zip(expected) {
                assert!(close(*a, b), "{row:?} vs {expected:?}");
            }
        }
    }

    #[test]
    fn bootstrap_estimates_are_the_scores() {
        let b = Bootstrap::default();
        let ci = bootstrap_intervals(&SK_TRUTH, &SK_PRED, None, None, 5, &b);
        let m = Metrics::compute(&SK_TRUTH, &SK_PRED, 5);
        assert!((ci.ua.estimate - m.ua).abs() < 1e-12 && (ci.wa.estimate - m.wa).abs() < 1e-12);
        for i in [ci.ua, ci.wa] {
            assert!(i.low < i.estimate && i.estimate < i.high, "{i:?}");
        }
        // Folds: the estimate is the mean of the per-fold scores.
        let folds: Vec<usize> = (0..SK_TRUTH.len()).map(|i| i % 3).collect();
        let ci = bootstrap_intervals(&SK_TRUTH, &SK_PRED, Some(&folds), None, 5, &b);
        let per_fold: Vec<Metrics> = (0..3)
            .map(|f| {
                let rows: Vec<usize> = (0..folds.len()).filter(|&i| folds[i] == f).collect();
                let t: Vec<usize> = rows.iter().map(|&i| SK_TRUTH[i]).collect();
                let p: Vec<usize> = rows.iter().map(|&i| SK_PRED[i]).collect();
                Metrics::compute(&t, &p, 5)
            })
            .collect();
        let mean_ua = per_fold.iter().map(|m| m.ua).sum::<f64>() / 3.0;
        let mean_wa = per_fold.iter().map(|m| m.wa).sum::<f64>() / 3.0;
        assert!((ci.ua.estimate - mean_ua).abs() < 1e-12);
        assert!((ci.wa.estimate - mean_wa).abs() < 1e-12);
    }

    #[test]
    fn bootstrap_hand_computed_cases() {
        let b = Bootstrap::default();
        // All correct: every resample scores 1.
        let ci = bootstrap_intervals(&[0, 1, 2, 1], &[0, 1, 2, 1], None, None, 3, &b);
        assert_eq!(
            (ci.ua.low, ci.ua.high, ci.wa.low, ci.wa.high),
            (1.0, 1.0, 1.0, 1.0)
        );
        // One right, one wrong: a resample's WA is 0, 1/2 or 1 with
        // probabilities 1/4, 1/2, 1/4, so over 1000 resamples the 2.5th and
        // 97.5th percentiles are 0 and 1.
        let ci = bootstrap_intervals(&[0, 0], &[0, 1], None, None, 2, &b);
        assert_eq!((ci.wa.estimate, ci.wa.low, ci.wa.high), (0.5, 0.0, 1.0));
        // Folds fixed in size: fold A is always right, fold B always
        // wrong, so every resample's fold-mean WA is exactly 1/2.
        let ci = bootstrap_intervals(
            &[0, 0, 1, 1],
            &[0, 0, 0, 0],
            Some(&[7, 7, 9, 9]),
            None,
            2,
            &b,
        );
        assert_eq!((ci.wa.low, ci.wa.high), (0.5, 0.5));
    }

    #[test]
    fn bootstrap_is_deterministic_by_seed() {
        let run = |seed| {
            bootstrap_intervals(
                &SK_TRUTH,
                &SK_PRED,
                None,
                None,
                5,
                &Bootstrap {
                    seed,
                    ..Bootstrap::default()
                },
            )
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    /// Outcomes of `n` utterances, half of class 0 (recalled with
    /// probability 0.8) and half of class 1 (0.6): true UA and expected WA
    /// are both 0.7.
    fn simulate(stream: &mut Stream, n: usize) -> (Vec<usize>, Vec<usize>) {
        let truth: Vec<usize> = (0..n).map(|i| i % 2).collect();
        let predicted = truth
            .iter()
            .map(|&t| {
                let recall = if t == 0 { 0.8 } else { 0.6 };
                if stream.unit() < recall { t } else { 1 - t }
            })
            .collect();
        (truth, predicted)
    }

    #[test]
    fn bootstrap_intervals_cover_the_true_score() {
        // 200 simulated test sets of 200 utterances; a 95% interval should
        // cover 0.7 in ~95% of them (sd of the rate ~1.5 points, so
        // 90-99% is a 3-sigma band). Pooled and 5 folds of 40.
        let mut stream = Stream::new(11);
        let config = Bootstrap::default();
        let folds: Vec<usize> = (0..200).map(|i| i / 40).collect();
        let (mut pooled, mut fold_mean) = ([0usize; 2], [0usize; 2]);
        let covers = |i: Interval| usize::from(i.low <= 0.7 && 0.7 <= i.high);
        let trials = 200;
        for _ in 0..trials {
            let (truth, predicted) = simulate(&mut stream, 200);
            let ci = bootstrap_intervals(&truth, &predicted, None, None, 2, &config);
            pooled[0] += covers(ci.ua);
            pooled[1] += covers(ci.wa);
            let ci = bootstrap_intervals(&truth, &predicted, Some(&folds), None, 2, &config);
            fold_mean[0] += covers(ci.ua);
            fold_mean[1] += covers(ci.wa);
        }
        for (what, hits) in [("pooled", pooled), ("fold mean", fold_mean)] {
            for (score, hit) in ["UA", "WA"].iter().zip(hits) {
                let rate = hit as f64 / trials as f64;
                assert!(
                    (0.90..=0.99).contains(&rate),
                    "{what} {score} coverage {rate}"
                );
            }
        }
    }

    #[test]
    fn one_utterance_per_speaker_is_the_utterance_bootstrap() {
        // Singleton clusters draw exactly as rows do, from the same stream.
        let speakers: Vec<usize> = (0..SK_TRUTH.len()).collect();
        let folds: Vec<usize> = (0..SK_TRUTH.len()).map(|i| i % 3).collect();
        let b = Bootstrap::default();
        let by_speaker =
            bootstrap_intervals(&SK_TRUTH, &SK_PRED, Some(&folds), Some(&speakers), 5, &b);
        let by_utterance = bootstrap_intervals(&SK_TRUTH, &SK_PRED, Some(&folds), None, 5, &b);
        assert_eq!(
            (by_speaker.ua, by_speaker.wa),
            (by_utterance.ua, by_utterance.wa)
        );
        assert_eq!(
            (by_speaker.unit, by_utterance.unit),
            (Unit::Speaker, Unit::Utterance)
        );
    }

    #[test]
    fn a_speaker_draw_takes_all_its_utterances() {
        // Speaker 0: 3 utterances, all right; speaker 1: 1 utterance, wrong.
        // A resample is {0,0}, {0,1} or {1,1}: WA 1, 3/4 or 0, never the
        // 1/2 or 1/4 an utterance bootstrap would also give.
        let truth = [0, 0, 0, 0];
        let predicted = [0, 0, 0, 1];
        let speakers = [0, 0, 0, 1];
        let b = Bootstrap {
            resamples: 400,
            ..Bootstrap::default()
        };
        let ci = bootstrap_intervals(&truth, &predicted, None, Some(&speakers), 2, &b);
        assert_eq!((ci.wa.estimate, ci.wa.low, ci.wa.high), (0.75, 0.0, 1.0));
        // The paired form draws speakers too: with B right where A is
        // wrong on speaker 1 only, each resample's difference is 0 or
        // -1/(utterances drawn).
        let fixed = [0, 0, 0, 0];
        let paired = paired_bootstrap(&truth, &predicted, &fixed, None, Some(&speakers), 2, &b);
        assert_eq!(paired.unit, Unit::Speaker);
        assert!(paired.difference.high <= 0.0, "{paired:?}");
    }

    #[test]
    fn speaker_intervals_are_wider_when_speakers_differ() {
        // 12 speakers of 50 utterances in 3 folds; a system that is right
        // on 90% of some speakers' utterances and 50% of others'. Utterances
        // of a speaker are alike, so resampling them one by one understates
        // the spread: the speaker interval must be clearly wider.
        let mut stream = Stream::new(3);
        let (mut truth, mut predicted, mut speakers, mut folds) = (vec![], vec![], vec![], vec![]);
        for speaker in 0..12 {
            let recall = if speaker % 2 == 0 { 0.9 } else { 0.5 };
            for i in 0..50 {
                let t = i % 2;
                truth.push(t);
                predicted.push(if stream.unit() < recall { t } else { 1 - t });
                speakers.push(speaker);
                folds.push(speaker / 4);
            }
        }
        let b = Bootstrap::default();
        let by_speaker =
            bootstrap_intervals(&truth, &predicted, Some(&folds), Some(&speakers), 2, &b);
        let by_utterance = bootstrap_intervals(&truth, &predicted, Some(&folds), None, 2, &b);
        let width = |i: Interval| i.high - i.low;
        assert_eq!(by_speaker.ua.estimate, by_utterance.ua.estimate);
        assert!(
            width(by_speaker.ua) > 1.5 * width(by_utterance.ua),
            "speaker {:?} vs utterance {:?}",
            by_speaker.ua,
            by_utterance.ua
        );
    }

    #[test]
    fn speaker_intervals_cover_where_utterance_intervals_do_not() {
        // A corpus like RAVDESS: 24 speakers of 60 utterances in 6 folds of
        // 4, each speaker with an accuracy of its own, uniform on
        // [0.5, 0.9] (mean 0.7, the score the intervals should cover).
        // The utterance bootstrap treats 1440 utterances as independent
        // and covers far less often than 95%; the speaker bootstrap comes
        // near it (a percentile interval from 4 speakers per fold runs a
        // little short).
        let mut stream = Stream::new(21);
        let folds: Vec<usize> = (0..1440).map(|i| i / 240).collect();
        let speakers: Vec<usize> = (0..1440).map(|i| i / 60).collect();
        let config = Bootstrap {
            resamples: 400,
            ..Bootstrap::default()
        };
        let covers = |i: Interval| usize::from(i.low <= 0.7 && 0.7 <= i.high);
        let (mut by_speaker, mut by_utterance) = (0, 0);
        let trials = 100;
        for _ in 0..trials {
            let (mut truth, mut predicted) = (Vec::new(), Vec::new());
            for _ in 0..24 {
                let accuracy = 0.5 + 0.4 * stream.unit();
                for i in 0..60 {
                    let t = i % 2;
                    truth.push(t);
                    predicted.push(if stream.unit() < accuracy { t } else { 1 - t });
                }
            }
            let s = bootstrap_intervals(
                &truth,
                &predicted,
                Some(&folds),
                Some(&speakers),
                2,
                &config,
            );
            let u = bootstrap_intervals(&truth, &predicted, Some(&folds), None, 2, &config);
            by_speaker += covers(s.ua);
            by_utterance += covers(u.ua);
        }
        let (s, u) = (
            by_speaker as f64 / trials as f64,
            by_utterance as f64 / trials as f64,
        );
        eprintln!("coverage: speaker {s}, utterance {u}");
        assert!(s >= 0.82, "speaker coverage {s}");
        assert!(u <= 0.70, "utterance coverage {u}");
    }

    #[test]
    fn paired_bootstrap_sees_real_and_null_differences() {
        let config = Bootstrap::default();
        let mut stream = Stream::new(12);
        let (truth, a) = simulate(&mut stream, 400);
        // Same system: no difference in any resample.
        let same = paired_bootstrap(&truth, &a, &a, None, None, 2, &config);
        assert_eq!(
            (same.difference.low, same.difference.high, same.p_value),
            (0.0, 0.0, 1.0)
        );
        // B fixes 60 of A's errors: clearly better.
        let mut b = a.clone();
        let mut fixed = 0;
        for (p, &t) in b.iter_mut().zip(&truth) {
            if *p != t && fixed < 60 {
                *p = t;
                fixed += 1;
            }
        }
        let cmp = paired_bootstrap(&truth, &a, &b, None, None, 2, &config);
        let (ma, mb) = (
            Metrics::compute(&truth, &a, 2),
            Metrics::compute(&truth, &b, 2),
        );
        assert!((cmp.difference.estimate - (ma.ua - mb.ua)).abs() < 1e-12);
        assert!(cmp.difference.high < 0.0, "{cmp:?}");
        assert!(cmp.p_value < 0.01, "{cmp:?}");
        // Swapping the systems mirrors the result.
        let back = paired_bootstrap(&truth, &b, &a, None, None, 2, &config);
        assert!((back.difference.estimate + cmp.difference.estimate).abs() < 1e-12);
        assert!((back.difference.low + cmp.difference.high).abs() < 1e-12);
        assert_eq!(back.p_value, cmp.p_value);
        // Two systems differing on few utterances, either way: no evidence.
        let mut c = a.clone();
        c[0] = 1 - c[0];
        c[1] = 1 - c[1];
        let folds: Vec<usize> = (0..400).map(|i| i / 80).collect();
        let close = paired_bootstrap(&truth, &a, &c, Some(&folds), None, 2, &config);
        assert!(close.p_value > 0.2, "{close:?}");
    }

    #[test]
    fn mcnemar_matches_scipy() {
        // Expected values: scipy 1.17 with k = min(b, c), n = b + c:
        // exact = binomtest(k, n, 0.5).pvalue,
        // mid = min(1, 2 * binom.cdf(k, n, 0.5) - binom.pmf(k, n, 0.5)).
        let cases = [
            (12, 3, 0.03515625, 0.02127075195312501),
            (480, 420, 0.04916136808348984, 0.04556030116724773),
            (40, 25, 0.08168153394154003, 0.06401750413722561),
            (7, 7, 1.0, 1.0),
            (1, 0, 1.0, 0.4999999999999999),
        ];
        for (b, c, exact, mid) in cases {
            let t = mcnemar_counts(b, c);
            assert!((t.p_exact - exact).abs() <= 1e-10 * exact, "{b},{c}: {t:?}");
            assert!((t.p_mid - mid).abs() <= 1e-10 * mid, "{b},{c}: {t:?}");
            assert_eq!(mcnemar_counts(c, b).p_exact, t.p_exact);
        }
        // No discordant pairs: nothing to test.
        assert_eq!(
            (mcnemar_counts(0, 0).p_exact, mcnemar_counts(0, 0).p_mid),
            (1.0, 1.0)
        );
    }

    #[test]
    fn mcnemar_counts_discordant_utterances() {
        // rows: A right & B wrong (x2), A wrong & B right (x1), both right,
        // both wrong.
        let t = mcnemar(&[0, 1, 2, 0, 1], &[0, 1, 0, 0, 0], &[1, 0, 2, 0, 2]);
        assert_eq!((t.only_a_correct, t.only_b_correct), (2, 1));
        // P(X <= 1), X ~ Bin(3, 1/2) = 4/8: exact min(1, 1) = 1, mid 1 - 3/8.
        assert_eq!(t.p_exact, 1.0);
        assert!((t.p_mid - 0.625).abs() < 1e-12, "{t:?}");
    }
}
