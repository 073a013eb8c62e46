//! One label set across corpora: pipeline.yaml's `labels:`.
//!
//! Each corpus adapter already maps its own codes onto ser's vocabulary
//! (`neutral`, `calm`, `happy`, ...); a pipeline over several corpora still
//! has to say which of those labels it trains on and which it merges
//! (`calm` as `neutral`) or drops (`boredom`, which only EmoDB has). A
//! [`LabelSpec`] says both: `map` renames or (with `null`) excludes labels,
//! then `keep`, when given, is the pipeline's label set and every other
//! label is excluded. Exclusions are counted per corpus and label, never
//! silent; a `map` key or `keep` label that no corpus of the pipeline has
//! is an error (almost always a typo), naming each corpus and its labels.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// `labels:` in pipeline.yaml.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSpec {
    /// Corpus label -> pipeline label, or `null` to exclude it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub map: BTreeMap<String, Option<String>>,
    /// The pipeline's labels (after `map`); others are excluded. Absent:
    /// every label is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<Vec<String>>,
}

/// What becomes of one utterance's label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelFate {
    Keep(String),
    /// Excluded, with the reason (for the rejects table).
    Exclude(String),
}

impl LabelSpec {
    pub fn is_identity(&self) -> bool {
        self.map.is_empty() && self.keep.is_none()
    }

    pub fn apply(&self, label: &str) -> LabelFate {
        let mapped = match self.map.get(label) {
            Some(None) => {
                return LabelFate::Exclude(format!("label {label} is mapped to null (labels.map)"));
            }
            Some(Some(to)) => to.as_str(),
            None => label,
        };
        match &self.keep {
            Some(keep) if !keep.iter().any(|k| k == mapped) => {
                let shown = if mapped == label {
                    format!("label {label}")
                } else {
                    format!("label {label} (mapped to {mapped})")
                };
                LabelFate::Exclude(format!("{shown} is not in labels.keep"))
            }
            _ => LabelFate::Keep(mapped.to_string()),
        }
    }

    /// Check the spec against the labels each corpus has (corpus name ->
    /// its labels before mapping): every `map` key must be some corpus's
    /// label and every `keep` label some corpus's label after mapping.
    pub fn check(&self, corpora: &BTreeMap<String, BTreeSet<String>>) -> Result<(), String> {
        let all: BTreeSet<&str> = corpora.values().flatten().map(String::as_str).collect();
        let after: BTreeSet<String> = all
            .iter()
            .filter_map(|l| match self.map.get(*l) {
                Some(to) => to.clone(),
                None => Some(l.to_string()),
            })
            .collect();
        let unknown_keys: Vec<&str> = self
            .map
            .keys()
            .map(String::as_str)
            .filter(|k| !all.contains(k))
            .collect();
        let unknown_keep: Vec<&str> = self
            .keep
            .iter()
            .flatten()
            .map(String::as_str)
            .filter(|k| !after.contains(*k))
            .collect();
        if unknown_keys.is_empty() && unknown_keep.is_empty() {
            return Ok(());
        }
        let have: Vec<String> = corpora
            .iter()
            .map(|(name, labels)| {
                format!(
                    "{name} has {}",
                    labels.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        let mut what = Vec::new();
        if !unknown_keys.is_empty() {
            what.push(format!(
                "labels.map names {} that no corpus has",
                unknown_keys.join(", ")
            ));
        }
        if !unknown_keep.is_empty() {
            what.push(format!(
                "labels.keep names {} that no corpus has after labels.map",
                unknown_keep.join(", ")
            ));
        }
        Err(format!("{} ({})", what.join("; "), have.join("; ")))
    }
}

/// Per-corpus, per-label counts before and after a [`LabelSpec`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelCounts {
    /// Corpus -> label as the corpus names it -> utterances.
    pub before: BTreeMap<String, BTreeMap<String, usize>>,
    /// Corpus -> pipeline label -> utterances kept.
    pub after: BTreeMap<String, BTreeMap<String, usize>>,
    /// Corpus -> utterances excluded by the label set.
    pub excluded: BTreeMap<String, usize>,
}

impl LabelCounts {
    pub fn count(&mut self, corpus: &str, label: &str, fate: &LabelFate) {
        *self
            .before
            .entry(corpus.to_string())
            .or_default()
            .entry(label.to_string())
            .or_default() += 1;
        let after = self.after.entry(corpus.to_string()).or_default();
        match fate {
            LabelFate::Keep(to) => *after.entry(to.clone()).or_default() += 1,
            LabelFate::Exclude(_) => *self.excluded.entry(corpus.to_string()).or_default() += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml_map: &[(&str, Option<&str>)], keep: Option<&[&str]>) -> LabelSpec {
        LabelSpec {
            map: yaml_map
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
            keep: keep.map(|k| k.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn map_then_keep() {
        let s = spec(
            &[("calm", Some("neutral")), ("boredom", None)],
            Some(&["neutral", "happy"]),
        );
        assert_eq!(s.apply("calm"), LabelFate::Keep("neutral".into()));
        assert_eq!(s.apply("happy"), LabelFate::Keep("happy".into()));
        assert!(matches!(s.apply("boredom"), LabelFate::Exclude(r) if r.contains("null")));
        assert!(matches!(s.apply("sad"), LabelFate::Exclude(r) if r.contains("labels.keep")));
        assert!(LabelSpec::default().is_identity());
        assert_eq!(
            LabelSpec::default().apply("sad"),
            LabelFate::Keep("sad".into())
        );
    }

    #[test]
    fn names_unknown_labels_and_each_corpus() {
        let corpora = BTreeMap::from([
            (
                "ravdess".to_string(),
                BTreeSet::from(["calm".to_string(), "happy".to_string()]),
            ),
            ("emodb".to_string(), BTreeSet::from(["boredom".to_string()])),
        ]);
        let ok = spec(
            &[("calm", Some("neutral")), ("boredom", None)],
            Some(&["neutral", "happy"]),
        );
        ok.check(&corpora).unwrap();
        let err = spec(&[("clam", Some("neutral"))], Some(&["suprised"]))
            .check(&corpora)
            .unwrap_err();
        assert!(err.contains("labels.map names clam"), "{err}");
        assert!(err.contains("labels.keep names suprised"), "{err}");
        assert!(err.contains("ravdess has calm, happy"), "{err}");
        assert!(err.contains("emodb has boredom"), "{err}");
    }

    #[test]
    fn counts_before_and_after() {
        let s = spec(&[("calm", Some("neutral")), ("boredom", None)], None);
        let mut counts = LabelCounts::default();
        for (corpus, label) in [("r", "calm"), ("r", "neutral"), ("e", "boredom")] {
            counts.count(corpus, label, &s.apply(label));
        }
        assert_eq!(counts.after["r"]["neutral"], 2);
        assert_eq!(counts.before["r"]["calm"], 1);
        assert_eq!(counts.excluded["e"], 1);
        assert!(!counts.excluded.contains_key("r"));
    }
}
