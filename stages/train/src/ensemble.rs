//! Ensembles: several trained models' predictions for the same test
//! utterances combined into one.
//!
//! Nothing is fitted: an ensemble reads its members' class scores (a deep
//! network's softmax probabilities; a one-hot of the predicted class for a
//! model that keeps no probabilities) and combines them row by row.
//!
//! - `mean` averages the members' scores (weighted when weights are given)
//!   and predicts the top class: soft voting.
//! - `vote` gives each member's predicted class the member's weight and
//!   predicts the class with most; ties go to the higher mean score, then
//!   to the first class.
//! - `geometric` takes the weighted geometric mean of the members'
//!   probabilities (log-linear pooling, a product of experts) and predicts
//!   the top class: a class that any member finds unlikely loses, where
//!   the mean lets one confident member outweigh the rest.
//!
//! Either way the combined scores are returned normalised to sum to one,
//! so an ensemble's output reads like a member's. [`best_members`] picks,
//! per fold, the members that did best on held-out training speakers, one
//! by one; [`forward_selection`] picks the members whose mean does best
//! there, which is what an ensemble is scored on, and
//! [`bagged_forward_selection`] averages that choice over resamples of the
//! validation speakers.

use serde::{Deserialize, Serialize};

/// How members' scores become one prediction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// Weighted mean of the members' class scores (soft voting).
    #[default]
    Mean,
    /// Weighted count of the members' predicted classes (hard voting).
    Vote,
    /// Weighted geometric mean of the members' probabilities, normalised
    /// (log-linear pooling); a probability below [`MIN_PROBABILITY`]
    /// counts as that, so one member's zero is a strong veto, not `-inf`.
    Geometric,
}

/// The floor of a probability where its log is taken (a geometric pool;
/// the validation cross-entropy that breaks `choose`'s ties), so that one
/// confident miss counts as a large number, not an infinite one.
pub const MIN_PROBABILITY: f64 = 1e-12;

/// How an ensemble picks, per fold, the members it combines (besides all
/// of them, or `keep_best`'s members ranked one by one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberChoice {
    /// [`forward_selection`] by the mean's UA on validation utterances.
    Forward,
}

impl Combine {
    pub fn name(self) -> &'static str {
        match self {
            Combine::Mean => "mean",
            Combine::Vote => "vote",
            Combine::Geometric => "geometric",
        }
    }

    /// How [`forward_selection`] pools a trial set of members: as the
    /// ensemble will, except that a vote is chosen by its members' mean,
    /// since a vote of a few members is coarse and has no probabilities
    /// for the tie-break.
    pub fn for_selection(self) -> Combine {
        match self {
            Combine::Mean | Combine::Vote => Combine::Mean,
            Combine::Geometric => Combine::Geometric,
        }
    }
}

/// The combined prediction of each row and its class scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Combined {
    pub predicted: Vec<usize>,
    pub scores: Vec<Vec<f64>>,
}

/// Combine `members[m][row][class]` scores. Every member must score the
/// same rows over the same classes; `weights` (one per member, default
/// equal) must be non-negative with a positive sum.
pub fn combine(
    members: &[Vec<Vec<f64>>],
    weights: Option<&[f64]>,
    mode: Combine,
) -> Result<Combined, String> {
    let Some(first) = members.first() else {
        return Err("an ensemble needs at least one member".into());
    };
    let rows = first.len();
    let classes = first.first().map_or(0, Vec::len);
    for (m, member) in members.iter().enumerate() {
        if member.len() != rows {
            return Err(format!(
                "member {m} scores {} rows, member 0 scores {rows}",
                member.len()
            ));
        }
        if let Some(row) = member.iter().position(|r| r.len() != classes) {
            return Err(format!(
                "member {m} row {row} has {} class scores, expected {classes}",
                member[row].len()
            ));
        }
    }
    let equal = vec![1.0; members.len()];
    let weights = weights.unwrap_or(&equal);
    if weights.len() != members.len() {
        return Err(format!(
            "{} weights for {} members",
            weights.len(),
            members.len()
        ));
    }
    if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || weights.iter().sum::<f64>() <= 0.0 {
        return Err(format!(
            "weights must be non-negative with a positive sum, got {weights:?}"
        ));
    }
    let mut predicted = Vec::with_capacity(rows);
    let mut scores = Vec::with_capacity(rows);
    let total_weight: f64 = weights.iter().sum();
    for row in 0..rows {
        let mut mean = vec![0.0; classes];
        let mut votes = vec![0.0; classes];
        for (member, &w) in members.iter().zip(weights) {
            let r = &member[row];
            for (c, &s) in r.iter().enumerate() {
                mean[c] += w * s;
            }
            votes[top(r, None)] += w;
        }
        let total: f64 = mean.iter().sum();
        if total > 0.0 {
            mean.iter_mut().for_each(|s| *s /= total);
        }
        let (best, row_scores) = match mode {
            Combine::Mean => (top(&mean, None), mean),
            Combine::Vote => {
                let n: f64 = votes.iter().sum();
                (
                    top(&votes, Some(&mean)),
                    votes.iter().map(|v| v / n).collect(),
                )
            }
            Combine::Geometric => {
                let pooled = geometric_pool(members, weights, total_weight, row, classes);
                (top(&pooled, None), pooled)
            }
        };
        predicted.push(best);
        scores.push(row_scores);
    }
    Ok(Combined { predicted, scores })
}

/// One row's weighted geometric mean of the members' scores, normalised to
/// sum to one. The log-mean is shifted by its largest value before `exp`,
/// so rows of tiny probabilities do not underflow to all zeros.
fn geometric_pool(
    members: &[Vec<Vec<f64>>],
    weights: &[f64],
    total_weight: f64,
    row: usize,
    classes: usize,
) -> Vec<f64> {
    let mut log_mean = vec![0.0; classes];
    for (member, &w) in members.iter().zip(weights) {
        for (c, &s) in member[row].iter().enumerate() {
            log_mean[c] += w * s.max(MIN_PROBABILITY).ln();
        }
    }
    let largest = log_mean.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let mut pooled: Vec<f64> = log_mean
        .iter()
        .map(|l| ((l - largest) / total_weight).exp())
        .collect();
    let total: f64 = pooled.iter().sum();
    pooled.iter_mut().for_each(|p| *p /= total);
    pooled
}

/// The index of the largest value (a row's top class); ties go to the
/// larger `tie_break` value, then to the first index.
pub fn top(values: &[f64], tie_break: Option<&[f64]>) -> usize {
    let mut best = 0;
    for c in 1..values.len() {
        let better = match values[c].total_cmp(&values[best]) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => tie_break.is_some_and(|t| t[c] > t[best]),
        };
        if better {
            best = c;
        }
    }
    best
}

/// The members to keep in one fold: the `keep` with the highest validation
/// UA (ties to the one listed first), in member order. Validation UA is
/// measured on speakers held out of the fold's training set, so choosing
/// by it never looks at the fold's test speakers.
pub fn best_members(validation_ua: &[f64], keep: usize) -> Vec<usize> {
    let mut ranked: Vec<usize> = (0..validation_ua.len()).collect();
    ranked.sort_by(|&a, &b| {
        validation_ua[b]
            .total_cmp(&validation_ua[a])
            .then(a.cmp(&b))
    });
    ranked.truncate(keep.max(1));
    ranked.sort_unstable();
    ranked
}

/// The members a fold combines, chosen by their mean's validation score,
/// and the steps that chose them.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardSelection<S> {
    /// Member indices, in member order.
    pub members: Vec<usize>,
    /// The mean's score after each step: (member added, score).
    pub steps: Vec<(usize, S)>,
}

/// Forward selection of ensemble members (Caruana et al., 2004, without
/// replacement): `members[m][row][class]` are each member's scores for the
/// same validation rows (speakers held out of training, so no test speaker
/// takes part), and `score` rates a mean of some of them (higher is
/// better). Starts from the best single member and adds, one at a time,
/// the member whose addition scores best, while that strictly improves the
/// score; ties go to the member listed first. Trial sets are pooled by
/// `mode`'s [`Combine::for_selection`].
///
/// Ranking members one by one ([`best_members`]) does not measure what a
/// member adds to the mean: one that repeats the others' mistakes can rank
/// high and still pull the mean down.
pub fn forward_selection<S: PartialOrd + Clone>(
    members: &[Vec<Vec<f64>>],
    mode: Combine,
    score: impl Fn(&Combined) -> S,
) -> Result<ForwardSelection<S>, String> {
    if members.is_empty() {
        return Err("forward selection needs at least one member".into());
    }
    let mut chosen: Vec<usize> = Vec::new();
    let mut steps: Vec<(usize, S)> = Vec::new();
    loop {
        let mut best: Option<(usize, S)> = None;
        for candidate in (0..members.len()).filter(|m| !chosen.contains(m)) {
            let trial: Vec<Vec<Vec<f64>>> = chosen
                .iter()
                .chain([&candidate])
                .map(|&m| members[m].clone())
                .collect();
            let s = score(&combine(&trial, None, mode.for_selection())?);
            if best.as_ref().is_none_or(|(_, b)| s > *b) {
                best = Some((candidate, s));
            }
        }
        let Some((candidate, s)) = best else { break };
        if steps.last().is_some_and(|(_, current)| s <= *current) {
            break;
        }
        chosen.push(candidate);
        steps.push((candidate, s));
    }
    chosen.sort_unstable();
    Ok(ForwardSelection {
        members: chosen,
        steps,
    })
}

/// Bagged ensemble selection (Caruana et al., 2004): [`forward_selection`]
/// once per bag, a bag being a resample of the validation rows (`bags[b]`
/// lists row indices, repeats allowed; for speakers held out, whole
/// speakers drawn with replacement), and the ensemble the mean of the
/// bags' means: a member gets `1 / |chosen|` from each bag that chose it,
/// over the bags; one weight per member, summing to one (0 for a member
/// no bag chose). `score` rates a mean on the rows it is given. When
/// members are nearly tied, one choice flips with the few speakers that
/// happened to be held out; the average over bags moves far less.
pub fn bagged_forward_selection<S: PartialOrd + Clone>(
    members: &[Vec<Vec<f64>>],
    mode: Combine,
    bags: &[Vec<usize>],
    score: impl Fn(&[usize], &Combined) -> S,
) -> Result<Vec<f64>, String> {
    if bags.is_empty() || bags.iter().any(Vec::is_empty) {
        return Err("bagged selection needs bags of at least one row".into());
    }
    let mut weights = vec![0.0; members.len()];
    for rows in bags {
        let resampled: Vec<Vec<Vec<f64>>> = members
            .iter()
            .map(|member| rows.iter().map(|&r| member[r].clone()).collect())
            .collect();
        let chosen = forward_selection(&resampled, mode, |c| score(rows, c))?.members;
        for &m in &chosen {
            weights[m] += 1.0 / (chosen.len() * bags.len()) as f64;
        }
    }
    Ok(weights)
}

/// A one-hot score row: how a member without probabilities takes part.
pub fn one_hot(class: usize, classes: usize) -> Vec<f64> {
    let mut row = vec![0.0; classes];
    row[class] = 1.0;
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_is_soft_voting_and_can_overrule_the_majority() {
        // Two members lean weakly to class 0, one is sure of class 1: the
        // mean picks 1, the vote picks 0.
        let weak = vec![vec![0.55, 0.45]];
        let sure = vec![vec![0.0, 1.0]];
        let members = [weak.clone(), weak, sure];
        let mean = combine(&members, None, Combine::Mean).unwrap();
        assert_eq!(mean.predicted, [1]);
        assert!((mean.scores[0][0] - 1.1 / 3.0).abs() < 1e-12);
        assert!((mean.scores[0].iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let vote = combine(&members, None, Combine::Vote).unwrap();
        assert_eq!(vote.predicted, [0]);
        assert_eq!(vote.scores[0], [2.0 / 3.0, 1.0 / 3.0]);
    }

    #[test]
    fn weights_scale_members_and_vote_ties_fall_to_the_mean_score() {
        let a = vec![vec![0.9, 0.1, 0.0]];
        let b = vec![vec![0.0, 0.4, 0.6]];
        // Equal votes for classes 0 and 2; class 0's mean score is higher.
        let tie = combine(&[a.clone(), b.clone()], None, Combine::Vote).unwrap();
        assert_eq!(tie.predicted, [0]);
        // Weighted, b outvotes a.
        let weighted = combine(&[a, b], Some(&[1.0, 2.0]), Combine::Vote).unwrap();
        assert_eq!(weighted.predicted, [2]);
    }

    #[test]
    fn geometric_pool_picks_the_class_no_member_rules_out() {
        // The mean follows `a`'s 0.72 for class 0; `b` rules class 0 out
        // and `a` rules class 2 out, so the geometric pool picks class 1.
        let a = vec![vec![0.72, 0.28, 0.0]];
        let b = vec![vec![0.0, 0.3, 0.7]];
        let members = [a.clone(), b.clone()];
        assert_eq!(
            combine(&members, None, Combine::Mean).unwrap().predicted,
            [0]
        );
        let pooled = combine(&members, None, Combine::Geometric).unwrap();
        assert_eq!(pooled.predicted, [1]);
        // exp of the log-mean, normalised: sqrt(0.72e-12), sqrt(0.084), sqrt(0.7e-12).
        let raw = [
            (0.72e-12f64).sqrt(),
            (0.28f64 * 0.3).sqrt(),
            (0.7e-12f64).sqrt(),
        ];
        let total: f64 = raw.iter().sum();
        for (got, want) in pooled.scores[0].iter().zip(raw) {
            assert!(
                (got - want / total).abs() < 1e-12,
                "{got} against {}",
                want / total
            );
        }
        // Weights are exponents: a weight of 3 on `b` is b's row cubed.
        let weighted = combine(&members, Some(&[1.0, 3.0]), Combine::Geometric).unwrap();
        let raw = [
            (0.72f64 * 1e-36).powf(0.25),
            (0.28f64 * 0.3f64.powi(3)).powf(0.25),
            (1e-12f64 * 0.7f64.powi(3)).powf(0.25),
        ];
        let total: f64 = raw.iter().sum();
        for (got, want) in weighted.scores[0].iter().zip(raw) {
            assert!(
                (got - want / total).abs() < 1e-12,
                "{got} against {}",
                want / total
            );
        }
        // One member pools to itself, and tiny rows do not underflow.
        let alone = combine(&[b], None, Combine::Geometric).unwrap();
        assert!((alone.scores[0][2] - 0.7).abs() < 1e-12);
        let tiny = vec![vec![1e-300, 2e-300]];
        let pooled = combine(&[tiny.clone(), tiny], None, Combine::Geometric).unwrap();
        assert!(
            (pooled.scores[0][0] - 0.5).abs() < 1e-12,
            "{:?}",
            pooled.scores[0]
        );
    }

    #[test]
    fn forward_selection_chooses_by_the_pool_it_will_use() {
        // Truth: class 1. Alone, `a` is wrong and `b` is wrong; pooled by
        // the mean they stay wrong, pooled geometrically they are right.
        const TRUTH: &[usize] = &[1];
        let a = vec![vec![0.72, 0.28, 0.0]];
        let b = vec![vec![0.0, 0.3, 0.7]];
        let members = [a, b];
        let mean = forward_selection(&members, Combine::Mean, accuracy(TRUTH)).unwrap();
        assert_eq!(mean.members.len(), 1);
        let geometric = forward_selection(&members, Combine::Geometric, accuracy(TRUTH)).unwrap();
        assert_eq!(geometric.members, [0, 1]);
        assert_eq!(geometric.steps.last().unwrap().1, 1.0);
        // A vote is chosen by its members' mean.
        let vote = forward_selection(&members, Combine::Vote, accuracy(TRUTH)).unwrap();
        assert_eq!(vote, mean);
    }

    /// Accuracy of a mean against fixed truth: the score the tests select by.
    fn accuracy(truth: &'static [usize]) -> impl Fn(&Combined) -> f64 {
        move |c: &Combined| {
            let hits = c
                .predicted
                .iter()
                .zip(truth)
                .filter(|(p, t)| p == t)
                .count();
            hits as f64 / truth.len() as f64
        }
    }

    #[test]
    fn forward_selection_adds_the_member_that_helps_the_mean_not_the_best_alone() {
        // Truth: class 0, 0, 1, 1. `a` is right on 3 rows, `twin` repeats
        // a's mistake (also 3 of 4), `other` is right on 2 but on the row
        // both get wrong, and is sure of it.
        const TRUTH: &[usize] = &[0, 0, 1, 1];
        let a = vec![
            vec![0.9, 0.1],
            vec![0.8, 0.2],
            vec![0.6, 0.4],
            vec![0.2, 0.8],
        ];
        let twin = vec![
            vec![0.8, 0.2],
            vec![0.7, 0.3],
            vec![0.6, 0.4],
            vec![0.3, 0.7],
        ];
        let other = vec![
            vec![0.6, 0.4],
            vec![0.4, 0.6],
            vec![0.0, 1.0],
            vec![0.6, 0.4],
        ];
        let members = [a, twin, other];
        // One by one, keeping two: a and its twin (3 of 4 each).
        assert_eq!(best_members(&[0.75, 0.75, 0.5], 2), [0, 1]);
        // Their mean stays at 3 of 4; a with `other` gets all 4.
        let chosen = forward_selection(&members, Combine::Mean, accuracy(TRUTH)).unwrap();
        assert_eq!(chosen.members, [0, 2]);
        assert_eq!(chosen.steps, [(0, 0.75), (2, 1.0)]);
    }

    #[test]
    fn forward_selection_stops_when_no_member_improves_the_mean() {
        const TRUTH: &[usize] = &[0, 1];
        let right = vec![vec![0.9, 0.1], vec![0.1, 0.9]];
        let wrong = vec![vec![0.1, 0.9], vec![0.9, 0.1]];
        // The first of equally good members starts; nothing improves on
        // 2 of 2, so neither its equal nor the wrong one joins.
        let chosen = forward_selection(
            &[wrong.clone(), right.clone(), right],
            Combine::Mean,
            accuracy(TRUTH),
        )
        .unwrap();
        assert_eq!(chosen.members, [1]);
        assert_eq!(chosen.steps, [(1, 1.0)]);
        assert!(forward_selection(&[], Combine::Mean, accuracy(TRUTH)).is_err());
    }

    #[test]
    fn bagging_weights_members_by_the_bags_that_chose_them() {
        // Rows 0-1: `a` alone is right; rows 2-3: `b` alone is. A bag of
        // a's rows chooses a, one of b's chooses b, one of all four starts
        // from a (listed first) and adds b (their mean gets 4 of 4 where
        // either alone gets 2).
        let truth = [0, 0, 1, 1];
        let a = vec![
            vec![0.9, 0.1],
            vec![0.9, 0.1],
            vec![0.9, 0.1],
            vec![0.9, 0.1],
        ];
        let b = vec![
            vec![0.2, 0.8],
            vec![0.45, 0.55],
            vec![0.0, 1.0],
            vec![0.0, 1.0],
        ];
        let score = |rows: &[usize], c: &Combined| {
            let hits = rows
                .iter()
                .zip(&c.predicted)
                .filter(|&(&r, &p)| truth[r] == p)
                .count();
            hits as f64 / rows.len() as f64
        };
        let members = [a.clone(), b.clone()];
        let bags = [vec![0, 1, 0], vec![2, 3], vec![0, 1, 2, 3]];
        let bagged = bagged_forward_selection(&members, Combine::Mean, &bags, score).unwrap();
        // a: 1/3 + 1/6; b: 1/3 + 1/6.
        assert!((bagged[0] - 0.5).abs() < 1e-12, "{bagged:?}");
        assert!((bagged[1] - 0.5).abs() < 1e-12, "{bagged:?}");
        // One bag is plain forward selection on its rows, weighted equally.
        let one = bagged_forward_selection(&members, Combine::Mean, &bags[2..], score).unwrap();
        let plain =
            forward_selection(&members, Combine::Mean, |c| score(&[0, 1, 2, 3], c)).unwrap();
        assert_eq!(plain.members, [0, 1]);
        assert_eq!(one, [0.5, 0.5]);
        let only_a = bagged_forward_selection(&members, Combine::Mean, &bags[..1], score).unwrap();
        assert_eq!(only_a, [1.0, 0.0]);
        assert!(bagged_forward_selection(&members, Combine::Mean, &[], score).is_err());
        assert!(bagged_forward_selection(&members, Combine::Mean, &[vec![]], score).is_err());
    }

    #[test]
    fn one_hot_members_make_mean_a_vote() {
        let members: Vec<Vec<Vec<f64>>> = [0, 2, 2].iter().map(|&c| vec![one_hot(c, 3)]).collect();
        let mean = combine(&members, None, Combine::Mean).unwrap();
        assert_eq!(mean.predicted, [2]);
        assert_eq!(
            mean.predicted,
            combine(&members, None, Combine::Vote).unwrap().predicted
        );
    }

    #[test]
    fn best_members_rank_by_validation_and_keep_member_order() {
        assert_eq!(best_members(&[0.4, 0.6, 0.5, 0.6], 2), [1, 3]);
        assert_eq!(best_members(&[0.4, 0.6, 0.5, 0.6], 3), [1, 2, 3]);
        // Ties go to the member listed first; keeping more than there are
        // keeps all, and at least one is kept.
        assert_eq!(best_members(&[0.5, 0.5, 0.5], 1), [0]);
        assert_eq!(best_members(&[0.1, 0.2], 5), [0, 1]);
        assert_eq!(best_members(&[0.1, 0.2], 0), [1]);
    }

    #[test]
    fn mismatched_members_and_bad_weights_are_errors() {
        let a = vec![vec![0.5, 0.5], vec![1.0, 0.0]];
        let short = vec![vec![0.5, 0.5]];
        let err = combine(&[a.clone(), short], None, Combine::Mean).unwrap_err();
        assert!(err.contains("member 1 scores 1 rows"), "{err}");
        let narrow = vec![vec![1.0], vec![1.0]];
        let err = combine(&[a.clone(), narrow], None, Combine::Mean).unwrap_err();
        assert!(err.contains("member 1 row 0 has 1 class scores"), "{err}");
        let err = combine(&[a.clone(), a.clone()], Some(&[1.0]), Combine::Mean).unwrap_err();
        assert!(err.contains("1 weights for 2 members"), "{err}");
        let err = combine(&[a.clone(), a], Some(&[0.0, -1.0]), Combine::Mean).unwrap_err();
        assert!(err.contains("non-negative"), "{err}");
        assert!(combine(&[], None, Combine::Mean).is_err());
    }
}
