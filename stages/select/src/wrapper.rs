//! Algorithm 2: backward elimination in chunks.
//!
//! Start from all candidate columns, ordered best first by a ranking (a
//! filter's, or the given order). Each round splits the current set's
//! lower-ranked part into `chunks` groups and scores the set without each
//! group (in parallel); the best removal is taken when it scores at least
//! the current set minus `tolerance`. The search stops when no removal is
//! good enough for `patience` rounds in a row, or at `min_features`, and
//! returns the best-scoring set it saw (fewest columns on ties).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackwardParams {
    /// Groups scored per round; each round costs this many scores.
    pub chunks: usize,
    /// Stop at this many columns.
    pub min_features: usize,
    /// A removal may lower the score by this much and still be taken
    /// (a simpler set that scores about as well is preferred).
    pub tolerance: f64,
    /// Rounds without an acceptable removal before stopping; each such
    /// round halves the chunk size first.
    pub patience: usize,
    /// Hard cap on rounds.
    pub max_rounds: usize,
}

impl Default for BackwardParams {
    fn default() -> Self {
        BackwardParams {
            chunks: 8,
            min_features: 8,
            tolerance: 0.0,
            patience: 2,
            max_rounds: 60,
        }
    }
}

/// One step of the search, for reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub n_features: usize,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Elimination {
    /// Selected columns, in ranking order.
    pub selected: Vec<usize>,
    pub score: f64,
    /// The accepted sets, first to last.
    pub path: Vec<Step>,
    /// Number of subset scores computed.
    pub evaluations: usize,
}

/// Backward elimination over `ranked` (column indices, best first) with a
/// subset scorer (higher is better).
pub fn backward_eliminate<F>(ranked: &[usize], params: &BackwardParams, score: F) -> Elimination
where
    F: Fn(&[usize]) -> f64 + Sync,
{
    let mut current: Vec<usize> = ranked.to_vec();
    let mut current_score = score(&current);
    let mut evaluations = 1;
    let mut best = (current_score, current.clone());
    let mut path = vec![Step {
        n_features: current.len(),
        score: current_score,
    }];
    let mut chunk_divisor = params.chunks.max(1);
    let mut misses = 0;
    for _ in 0..params.max_rounds {
        if current.len() <= params.min_features.max(1) || misses >= params.patience.max(1) {
            break;
        }
        // Removable groups: contiguous slices of the ranking, from the
        // bottom, each at most 1/chunks of the set, never below min.
        let removable = current.len() - params.min_features.max(1);
        let size = (current.len() / chunk_divisor).clamp(1, removable);
        let groups: Vec<std::ops::Range<usize>> = (0..params.chunks.max(1))
            .map(|g| {
                let end = current.len() - g * size;
                end.saturating_sub(size)..end
            })
            .filter(|r| !r.is_empty() && r.start >= current.len() - removable)
            .collect();
        let scored: Vec<(f64, usize)> = groups
            .par_iter()
            .enumerate()
            .map(|(g, range)| {
                let subset: Vec<usize> = current
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !range.contains(i))
                    .map(|(_, &c)| c)
                    .collect();
                (score(&subset), g)
            })
            .collect();
        evaluations += scored.len();
        let Some(&(candidate, g)) = scored
            .iter()
            .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
        else {
            break;
        };
        if candidate >= current_score - params.tolerance {
            let range = groups[g].clone();
            current = current
                .iter()
                .enumerate()
                .filter(|(i, _)| !range.contains(i))
                .map(|(_, &c)| c)
                .collect();
            current_score = candidate;
            path.push(Step {
                n_features: current.len(),
                score: current_score,
            });
            if current_score > best.0 || (current_score == best.0 && current.len() < best.1.len()) {
                best = (current_score, current.clone());
            }
            misses = 0;
        } else {
            misses += 1;
            // Finer steps before giving up.
            chunk_divisor *= 2;
        }
    }
    Elimination {
        selected: best.1,
        score: best.0,
        path,
        evaluations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_noise_columns_and_keeps_informative_ones() {
        // Columns 0-3 carry signal worth 1 each; 4-19 are noise that costs
        // 0.01 each. The best subset is exactly 0..4.
        let score = |cols: &[usize]| {
            cols.iter()
                .map(|&c| if c < 4 { 1.0 } else { -0.01 })
                .sum::<f64>()
        };
        let ranked: Vec<usize> = (0..20).collect();
        let params = BackwardParams {
            chunks: 4,
            min_features: 1,
            tolerance: 0.0,
            patience: 3,
            max_rounds: 50,
        };
        let result = backward_eliminate(&ranked, &params, score);
        assert_eq!(result.selected, [0, 1, 2, 3]);
        assert!((result.score - 4.0).abs() < 1e-12);
        assert!(
            result
                .path
                .windows(2)
                .all(|w| w[1].n_features < w[0].n_features)
        );
        assert!(
            result.evaluations < 100,
            "chunked search: {} evaluations",
            result.evaluations
        );
    }

    #[test]
    fn never_goes_below_min_features() {
        let ranked: Vec<usize> = (0..10).collect();
        let params = BackwardParams {
            min_features: 6,
            ..Default::default()
        };
        // Fewer columns always score higher.
        let result = backward_eliminate(&ranked, &params, |c| -(c.len() as f64));
        assert_eq!(result.selected.len(), 6);
        assert_eq!(
            result.selected,
            [0, 1, 2, 3, 4, 5],
            "the lowest-ranked go first"
        );
    }
}
