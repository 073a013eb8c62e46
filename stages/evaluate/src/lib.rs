//! Evaluate: how utterances are split into folds, and how predictions are
//! scored.
//!
//! The domain half of ser's `evaluate` stage. [`protocol`] turns a protocol
//! spec and the corpus's speakers into folds whose test side is a set of
//! speakers, so no speaker is ever on both sides of a split. [`metrics`]
//! computes UA (unweighted average recall), WA (accuracy), macro-F1,
//! per-class scores and the confusion matrix.

pub mod metrics;
pub mod protocol;

pub use metrics::Metrics;
pub use protocol::{Fold, ProtocolSpec};
