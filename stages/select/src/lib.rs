//! Select: choose feature columns on a training fold.
//!
//! The domain half of ser's `select` stage; it sees only the training
//! fold's matrix, labels and speakers, never a test speaker, so selection
//! cannot leak. Two algorithms, usable alone or chained (1+2):
//!
//! - Algorithm 1, [`filter`]: rank columns by a univariate score (ANOVA F,
//!   as scikit-learn's `f_classif`) and keep the top `k` or a fraction.
//! - Algorithm 2, [`wrapper`]: backward elimination driven by a
//!   cross-validated score that the caller supplies (ser scores a model by
//!   UA over speaker-grouped inner folds). Features are removed in chunks
//!   of the lowest-ranked columns, so a 645-column set takes tens of model
//!   fits per round rather than hundreds.

pub mod filter;
pub mod wrapper;

use serde::{Deserialize, Serialize};

/// How many columns a filter keeps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Keep {
    /// A number of columns (values above 1).
    Count(usize),
    /// A fraction of the columns, in (0, 1].
    Fraction(f64),
}

impl Keep {
    pub fn resolve(self, n_columns: usize) -> usize {
        let k = match self {
            Keep::Count(k) => k,
            Keep::Fraction(f) => (f * n_columns as f64).round() as usize,
        };
        k.clamp(1, n_columns.max(1))
    }
}
