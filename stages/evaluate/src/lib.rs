//! Evaluate: how utterances are split into folds, and how predictions are
//! scored.
//!
//! The domain half of ser's `evaluate` stage (and of the `folds` stage).
//!
//! [`protocol`] turns a protocol spec and a corpus into folds:
//! - [`ProtocolSpec`]: `folds_file`, `holdout`, `speaker_kfold` (stratified
//!   by label over whole speakers, seeded), `leave_one_speaker_out`, and
//!   `kfold`, the one utterance-level protocol (speakers on both sides; only
//!   for comparison with papers that use it).
//! - [`protocol::folds_for`]`(spec, Utterances { ids, speakers, labels },
//!   folds_file) -> Vec<Fold>`; [`protocol::folds`]`(spec, speakers,
//!   folds_file)` for every protocol but `kfold`, when labels and ids are not
//!   at hand.
//! - [`Fold`]: `is_test_utterance(speaker, id)` (every protocol),
//!   `is_test(speaker)` (speaker folds only), `split(speakers, ids) ->`
//!   [`Split`]`{ train, test }` rows.
//! - [`protocol::inner_splits`]`(speakers, labels, n, seed) -> Vec<Split>`:
//!   speaker-grouped, stratified inner folds of one training fold, for model
//!   selection.
//!
//! [`metrics`] scores predictions given as class indices:
//! - [`Metrics::compute`]: UA (unweighted average recall), WA (accuracy),
//!   macro-F1, per-class precision/recall/F1, confusion counts;
//!   [`Metrics::confusion_normalized`] (rows sum to 1).
//! - [`metrics::bootstrap_intervals`]: percentile bootstrap confidence
//!   intervals on UA and WA, pooled or as fold means resampled within folds.
//! - [`metrics::paired_bootstrap`]: UA difference of two systems on the same
//!   utterances, with its interval and a two-sided sign-flip p-value.
//! - [`metrics::mcnemar`] / [`metrics::mcnemar_counts`]: McNemar's exact
//!   (binomial) test with its mid-p variant.

pub mod leak;
pub mod metrics;
pub mod protocol;
mod rng;

pub use metrics::{Bootstrap, Interval, Metrics};
pub use protocol::{Fold, ProtocolSpec, Split, Utterances};
