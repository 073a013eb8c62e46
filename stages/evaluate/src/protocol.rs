//! Speaker-independent evaluation protocols.
//!
//! Every protocol yields folds defined by their test speakers: an utterance
//! is in a fold's test side exactly when its speaker is, and in its training
//! side otherwise. Splitting by speaker (never by utterance) is what makes a
//! score say something about voices the model has not heard.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A protocol as written in pipeline.yaml under `protocols.<name>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProtocolSpec {
    /// Folds listed in a JSON file: `{"<key>": {"test_speakers": [[..], ..]}}`
    /// (`test_actors` is read too, as in ../shared/protocols/ravdess.json).
    /// Speakers are strings or numbers; a number matches a speaker id with
    /// the same numeric value (`1` matches RAVDESS actor `01`).
    FoldsFile { path: String, key: String },
    /// One fold testing on the named speakers, training on all others.
    Holdout { test_speakers: Vec<SpeakerRef> },
    /// `k` folds of whole speakers, balanced by utterance count.
    SpeakerKfold {
        #[serde(default = "default_k")]
        k: usize,
    },
    /// One fold per speaker.
    LeaveOneSpeakerOut,
}

fn default_k() -> usize {
    5
}

/// A speaker named in a protocol: a string, or a number for corpora whose
/// speaker ids are numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SpeakerRef {
    Number(u64),
    Name(String),
}

impl SpeakerRef {
    pub fn matches(&self, speaker: &str) -> bool {
        match self {
            SpeakerRef::Name(n) => n == speaker,
            SpeakerRef::Number(n) => speaker.parse::<u64>().is_ok_and(|s| s == *n),
        }
    }
}

/// One fold: its name and the speakers it tests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fold {
    pub name: String,
    pub test_speakers: BTreeSet<String>,
}

impl Fold {
    pub fn is_test(&self, speaker: &str) -> bool {
        self.test_speakers.contains(speaker)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtocolError {
    #[error("protocol file: {0}")]
    File(String),
    #[error("protocol file has no key '{key}' (keys: {available})")]
    MissingKey { key: String, available: String },
    #[error("speaker {0} named by the protocol is not in the corpus")]
    UnknownSpeaker(String),
    #[error("speaker {speaker} is a test speaker in folds {first} and {second}")]
    SpeakerInTwoFolds {
        speaker: String,
        first: String,
        second: String,
    },
    #[error("fold {0} has no training speakers")]
    NoTraining(String),
    #[error("{0}")]
    Invalid(String),
}

/// Build the folds of `spec` for a corpus whose utterances have the given
/// speakers (one entry per utterance). `folds_file` gives the JSON text of
/// the file a [`ProtocolSpec::FoldsFile`] names.
pub fn folds(
    spec: &ProtocolSpec,
    utterance_speakers: &[String],
    folds_file: Option<&str>,
) -> Result<Vec<Fold>, ProtocolError> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in utterance_speakers {
        *counts.entry(s.as_str()).or_default() += 1;
    }
    let folds = match spec {
        ProtocolSpec::FoldsFile { key, .. } => {
            let text =
                folds_file.ok_or_else(|| ProtocolError::File("no file contents given".into()))?;
            let lists = parse_folds_file(text, key)?;
            lists
                .into_iter()
                .enumerate()
                .map(|(i, refs)| {
                    Ok(Fold {
                        name: format!("fold{}", i + 1),
                        test_speakers: resolve(&refs, &counts)?,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        ProtocolSpec::Holdout { test_speakers } => {
            vec![Fold {
                name: "holdout".into(),
                test_speakers: resolve(test_speakers, &counts)?,
            }]
        }
        ProtocolSpec::LeaveOneSpeakerOut => counts
            .keys()
            .map(|s| Fold {
                name: format!("speaker_{s}"),
                test_speakers: BTreeSet::from([s.to_string()]),
            })
            .collect(),
        ProtocolSpec::SpeakerKfold { k } => speaker_kfold(*k, &counts)?,
    };
    let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
    for fold in &folds {
        for s in &fold.test_speakers {
            if let Some(first) = owner.insert(s, &fold.name) {
                return Err(ProtocolError::SpeakerInTwoFolds {
                    speaker: s.clone(),
                    first: first.into(),
                    second: fold.name.clone(),
                });
            }
        }
        if counts.keys().all(|s| fold.is_test(s)) {
            return Err(ProtocolError::NoTraining(fold.name.clone()));
        }
    }
    Ok(folds)
}

fn parse_folds_file(text: &str, key: &str) -> Result<Vec<Vec<SpeakerRef>>, ProtocolError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ProtocolError::File(e.to_string()))?;
    let Some(entry) = value.get(key) else {
        let available = value
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        return Err(ProtocolError::MissingKey {
            key: key.into(),
            available,
        });
    };
    let lists = entry
        .get("test_speakers")
        .or_else(|| entry.get("test_actors"))
        .ok_or_else(|| ProtocolError::File(format!("'{key}' has no test_speakers list")))?;
    serde_json::from_value(lists.clone()).map_err(|e| {
        ProtocolError::File(format!(
            "'{key}'.test_speakers must be a list of speaker lists: {e}"
        ))
    })
}

fn resolve(
    refs: &[SpeakerRef],
    counts: &BTreeMap<&str, usize>,
) -> Result<BTreeSet<String>, ProtocolError> {
    refs.iter()
        .map(|r| {
            counts
                .keys()
                .find(|s| r.matches(s))
                .map(|s| s.to_string())
                .ok_or_else(|| {
                    ProtocolError::UnknownSpeaker(match r {
                        SpeakerRef::Number(n) => n.to_string(),
                        SpeakerRef::Name(n) => n.clone(),
                    })
                })
        })
        .collect()
}

/// Greedy balancing: speakers by descending utterance count, each to the
/// fold with the fewest utterances so far (ties by fold index), so the
/// result depends only on the corpus.
fn speaker_kfold(k: usize, counts: &BTreeMap<&str, usize>) -> Result<Vec<Fold>, ProtocolError> {
    if k < 2 || k > counts.len() {
        return Err(ProtocolError::Invalid(format!(
            "speaker_kfold needs 2 <= k ({k}) <= number of speakers ({})",
            counts.len()
        )));
    }
    let mut speakers: Vec<(&str, usize)> = counts.iter().map(|(s, c)| (*s, *c)).collect();
    speakers.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut folds: Vec<(usize, BTreeSet<String>)> = vec![(0, BTreeSet::new()); k];
    for (speaker, count) in speakers {
        let target = (0..k).min_by_key(|&i| (folds[i].0, i)).expect("k >= 2");
        folds[target].0 += count;
        folds[target].1.insert(speaker.to_string());
    }
    Ok(folds
        .into_iter()
        .enumerate()
        .map(|(i, (_, test_speakers))| Fold {
            name: format!("fold{}", i + 1),
            test_speakers,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ravdess_speakers() -> Vec<String> {
        (1..=24)
            .flat_map(|a| std::iter::repeat_n(format!("{a:02}"), 60))
            .collect()
    }

    const RAVDESS_JSON: &str = r#"{"emobox_6fold": {"test_actors": [[1, 11, 20, 21], [4, 10, 12, 14], [8, 9, 19, 23], [3, 5, 7, 24], [2, 15, 16, 18], [6, 13, 17, 22]]},
        "holdout_22_24": {"test_actors": [[22, 23, 24]]}}"#;

    #[test]
    fn folds_file_maps_numbers_to_speaker_ids() {
        let spec = ProtocolSpec::FoldsFile {
            path: "x".into(),
            key: "emobox_6fold".into(),
        };
        let folds = folds(&spec, &ravdess_speakers(), Some(RAVDESS_JSON)).unwrap();
        assert_eq!(folds.len(), 6);
        assert_eq!(
            folds[0].test_speakers,
            ["01", "11", "20", "21"].map(String::from).into()
        );
        let all: BTreeSet<_> = folds
            .iter()
            .flat_map(|f| f.test_speakers.iter().cloned())
            .collect();
        assert_eq!(all.len(), 24);
    }

    #[test]
    fn folds_file_errors_are_specific() {
        let spec = ProtocolSpec::FoldsFile {
            path: "x".into(),
            key: "nope".into(),
        };
        let err = folds(&spec, &ravdess_speakers(), Some(RAVDESS_JSON)).unwrap_err();
        assert!(
            err.to_string()
                .contains("keys: emobox_6fold, holdout_22_24"),
            "{err}"
        );
        let spec = ProtocolSpec::FoldsFile {
            path: "x".into(),
            key: "holdout_22_24".into(),
        };
        let few: Vec<String> = ["01", "02"].map(String::from).to_vec();
        assert_eq!(
            folds(&spec, &few, Some(RAVDESS_JSON)).unwrap_err(),
            ProtocolError::UnknownSpeaker("22".into())
        );
        let twice = r#"{"k": {"test_speakers": [["01"], ["01"]]}}"#;
        let spec = ProtocolSpec::FoldsFile {
            path: "x".into(),
            key: "k".into(),
        };
        assert!(matches!(
            folds(&spec, &ravdess_speakers(), Some(twice)),
            Err(ProtocolError::SpeakerInTwoFolds { .. })
        ));
    }

    #[test]
    fn holdout_and_loso() {
        let spec = ProtocolSpec::Holdout {
            test_speakers: vec![SpeakerRef::Number(22), SpeakerRef::Name("23".into())],
        };
        let f = folds(&spec, &ravdess_speakers(), None).unwrap();
        assert_eq!(f.len(), 1);
        assert!(f[0].is_test("22") && f[0].is_test("23") && !f[0].is_test("24"));
        let f = folds(&ProtocolSpec::LeaveOneSpeakerOut, &ravdess_speakers(), None).unwrap();
        assert_eq!(f.len(), 24);
    }

    #[test]
    fn speaker_kfold_balances_whole_speakers() {
        let mut speakers = ravdess_speakers();
        speakers.extend(std::iter::repeat_n("25".to_string(), 100));
        let f = folds(&ProtocolSpec::SpeakerKfold { k: 5 }, &speakers, None).unwrap();
        assert_eq!(f.len(), 5);
        let sizes: Vec<usize> = f
            .iter()
            .map(|fold| speakers.iter().filter(|s| fold.is_test(s)).count())
            .collect();
        assert_eq!(sizes.iter().sum::<usize>(), speakers.len());
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 100,
            "{sizes:?}"
        );
        assert!(folds(&ProtocolSpec::SpeakerKfold { k: 1 }, &speakers, None).is_err());
    }
}
