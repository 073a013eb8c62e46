//! The leak guard: the last check before a model is fitted on a fold.
//!
//! Folds are built so that nothing of a test utterance reaches training,
//! but the training set a node actually assembles also holds augmented
//! copies, selections and whatever a future stage adds. This check looks
//! at the assembled rows themselves: none may be a test utterance, none may
//! be derived from one, and on a speaker-independent fold none may be
//! spoken by a test speaker. A violation is a bug, and the node refuses to
//! run rather than report a score that would not survive a new speaker.

use std::collections::BTreeSet;

use crate::protocol::Fold;

/// One row of an assembled training set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainingRow<'a> {
    pub id: &'a str,
    pub speaker: &'a str,
    /// For an augmented copy, the utterance it was made from.
    pub source: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeakError {
    #[error("fold {fold}: test utterance {id} is in the training set")]
    TestUtterance { fold: String, id: String },
    #[error("fold {fold}: training row {id} is derived from test utterance {source_id}")]
    DerivedFromTest {
        fold: String,
        id: String,
        source_id: String,
    },
    #[error("fold {fold}: training row {id} is spoken by test speaker {speaker}")]
    TestSpeaker {
        fold: String,
        id: String,
        speaker: String,
    },
}

/// Refuse a training set that holds, or derives from, any of the fold's
/// test utterances (`test_ids`), or, on a speaker-independent fold, any
/// test speaker's audio.
pub fn check_training_set(
    fold: &Fold,
    training: &[TrainingRow<'_>],
    test_ids: &BTreeSet<&str>,
) -> Result<(), LeakError> {
    let by_speaker = fold.is_speaker_independent();
    for row in training {
        if test_ids.contains(row.id) {
            return Err(LeakError::TestUtterance {
                fold: fold.name.clone(),
                id: row.id.to_string(),
            });
        }
        if let Some(source) = row.source
            && test_ids.contains(source)
        {
            return Err(LeakError::DerivedFromTest {
                fold: fold.name.clone(),
                id: row.id.to_string(),
                source_id: source.to_string(),
            });
        }
        if by_speaker && fold.test_speakers.contains(row.speaker) {
            return Err(LeakError::TestSpeaker {
                fold: fold.name.clone(),
                id: row.id.to_string(),
                speaker: row.speaker.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(id: &'a str, speaker: &'a str, source: Option<&'a str>) -> TrainingRow<'a> {
        TrainingRow {
            id,
            speaker,
            source,
        }
    }

    #[test]
    fn a_clean_training_set_passes() {
        let fold = Fold::speakers("f1", ["s3"]);
        let test: BTreeSet<&str> = ["u5"].into();
        let training = [row("u1", "s1", None), row("u1~noisy.0", "s1", Some("u1"))];
        assert_eq!(check_training_set(&fold, &training, &test), Ok(()));
    }

    #[test]
    fn every_kind_of_leak_is_refused_by_name() {
        let fold = Fold::speakers("f1", ["s3"]);
        let test: BTreeSet<&str> = ["u5"].into();
        let err = check_training_set(&fold, &[row("u5", "s9", None)], &test).unwrap_err();
        assert!(
            matches!(err, LeakError::TestUtterance { ref id, .. } if id == "u5"),
            "{err}"
        );
        // An augmented copy of a test utterance, even under another speaker
        // label, is the test utterance's audio.
        let err =
            check_training_set(&fold, &[row("u5~pitch.0", "s9", Some("u5"))], &test).unwrap_err();
        assert!(
            err.to_string().contains("derived from test utterance u5"),
            "{err}"
        );
        let err = check_training_set(&fold, &[row("u7", "s3", None)], &test).unwrap_err();
        assert!(err.to_string().contains("test speaker s3"), "{err}");
    }

    #[test]
    fn utterance_level_folds_allow_shared_speakers_but_not_shared_audio() {
        let mut fold = Fold::speakers("k1", ["s3"]);
        fold.test_items = Some(["u5".to_string()].into());
        let test: BTreeSet<&str> = ["u5"].into();
        // kfold is not speaker-independent: s3's other utterances may train.
        assert_eq!(
            check_training_set(&fold, &[row("u6", "s3", None)], &test),
            Ok(())
        );
        assert!(check_training_set(&fold, &[row("u5~n.0", "s3", Some("u5"))], &test).is_err());
    }
}
