//! Fingerprints: when a node's cached output can be reused, and why not.
//!
//! A node's [`Fingerprint`] is everything that determines its output: the
//! stage name, the stage's code version (bumped by hand whenever a stage's
//! code changes what it computes), its parameters in canonical JSON (keys
//! sorted), and the digests of its inputs: upstream artifacts by their
//! object names, corpus files by their content hashes. The node's key is
//! the BLAKE3 hash of the fingerprint; a record under that key in the cache
//! means the work was done and its outputs are known.
//!
//! Inputs are artifact digests, not upstream keys, so a node whose upstream
//! reran but produced identical bytes stays fresh (early cutoff).
//!
//! When a key is not in the cache, the fingerprint is compared with the one
//! the node had on its last run in this pipeline to name the
//! [`DirtyReason`], as cargo's fingerprints do.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub stage: String,
    pub code_version: u32,
    pub params: Value,
    /// Input name -> digest.
    pub inputs: BTreeMap<String, String>,
}

impl Fingerprint {
    /// The node key: BLAKE3 of the canonical JSON of the fingerprint
    /// (serde_json's maps are sorted, so equal fingerprints hash equal).
    pub fn key(&self) -> String {
        let bytes = serde_json::to_vec(self).expect("fingerprints are plain JSON");
        blake3::hash(&bytes).to_hex().to_string()
    }

    /// Why `self` differs from `previous`, the fingerprint of the node's
    /// last run.
    pub fn diff(&self, previous: &Fingerprint) -> Option<DirtyReason> {
        if self.code_version != previous.code_version {
            return Some(DirtyReason::CodeVersionChanged {
                old: previous.code_version,
                new: self.code_version,
            });
        }
        if self.params != previous.params {
            let mut changed = Vec::new();
            diff_values("", &previous.params, &self.params, &mut changed);
            return Some(DirtyReason::ParamsChanged { changed });
        }
        let mut inputs: Vec<String> = self
            .inputs
            .iter()
            .filter(|(k, v)| previous.inputs.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .collect();
        inputs.extend(
            previous
                .inputs
                .keys()
                .filter(|k| !self.inputs.contains_key(*k))
                .cloned(),
        );
        if !inputs.is_empty() {
            return Some(DirtyReason::InputChanged { inputs });
        }
        None
    }
}

/// Collect `path: old -> new` for every leaf that differs.
fn diff_values(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff_values(
                    &sub,
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (a, b) if a != b => out.push(format!(
            "{} {a} -> {b}",
            if path.is_empty() { "params" } else { path }
        )),
        _ => {}
    }
}

/// Why a node runs (or, in `ser status`, would run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DirtyReason {
    /// No record of this node in this pipeline's state.
    NeverRun,
    /// The stage's code version changed, so its old outputs may be wrong.
    CodeVersionChanged { old: u32, new: u32 },
    /// Parameters changed; each entry is `path old -> new`.
    ParamsChanged { changed: Vec<String> },
    /// Upstream artifacts or input files changed.
    InputChanged { inputs: Vec<String> },
    /// The fingerprint matches the last run but its record or outputs are
    /// gone from the cache (deleted, or garbage-collected).
    OutputMissing,
    /// `ser status` only: an upstream node is stale, so this node's inputs
    /// are not known until it runs.
    UpstreamStale { upstream: String },
}

impl fmt::Display for DirtyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirtyReason::NeverRun => write!(f, "never run"),
            DirtyReason::CodeVersionChanged { old, new } => {
                write!(f, "code version changed ({old} -> {new})")
            }
            DirtyReason::ParamsChanged { changed } => {
                write!(f, "params changed: {}", changed.join(", "))
            }
            DirtyReason::InputChanged { inputs } => {
                write!(f, "input changed: {}", inputs.join(", "))
            }
            DirtyReason::OutputMissing => write!(f, "output missing from the cache"),
            DirtyReason::UpstreamStale { upstream } => write!(f, "upstream {upstream} is stale"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fp(params: Value, input: &str) -> Fingerprint {
        Fingerprint {
            stage: "extract".into(),
            code_version: 1,
            params,
            inputs: BTreeMap::from([("signals".to_string(), input.to_string())]),
        }
    }

    #[test]
    fn key_is_stable_and_order_free() {
        let a = fp(json!({"n_mfcc": 40, "n_mels": 64}), "x");
        let b = fp(
            serde_json::from_str(r#"{"n_mels": 64, "n_mfcc": 40}"#).unwrap(),
            "x",
        );
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), fp(json!({"n_mfcc": 20, "n_mels": 64}), "x").key());
    }

    #[test]
    fn diff_names_the_reason() {
        let old = fp(json!({"n_mfcc": 40, "mel": {"fmax": 8000}}), "x");
        let new = fp(json!({"n_mfcc": 20, "mel": {"fmax": 8000}}), "x");
        assert_eq!(
            new.diff(&old),
            Some(DirtyReason::ParamsChanged {
                changed: vec!["n_mfcc 40 -> 20".into()]
            })
        );
        assert_eq!(new.diff(&new), None);
        let moved = fp(json!({"n_mfcc": 20, "mel": {"fmax": 8000}}), "y");
        assert_eq!(
            moved.diff(&new),
            Some(DirtyReason::InputChanged {
                inputs: vec!["signals".into()]
            })
        );
        let mut bumped = new.clone();
        bumped.code_version = 2;
        assert_eq!(
            bumped.diff(&new).unwrap().to_string(),
            "code version changed (1 -> 2)"
        );
    }
}
