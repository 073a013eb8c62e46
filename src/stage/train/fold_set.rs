//! The fold builder: which rows one fold trains and tests on, for every
//! model family.
//!
//! A fold trains on its training speakers' utterances, then on the
//! augmented copies whose source is one of those utterances (a copy of a
//! test utterance never joins). The assembled set goes through the leak
//! guard ([`ser_evaluate::leak`]) before anything is fitted: a row that is,
//! or derives from, a test utterance stops the node.

use std::collections::BTreeSet;

use ser_evaluate::Fold;
use ser_evaluate::leak::{self, TrainingRow};

use crate::artifact::Table;

/// Who the rows of a table are: one id and speaker per row, and for
/// augmented copies the utterance each was made from.
#[derive(Debug, Clone, Copy)]
pub struct RowKeys<'a> {
    pub ids: &'a [String],
    pub speakers: &'a [String],
    /// Empty for the corpus's own utterances.
    pub sources: &'a [String],
    /// Each row's corpus; empty in a one-corpus pipeline.
    pub corpora: &'a [String],
}

/// The ids, speakers and sources of a table's rows, owned.
#[derive(Debug, Clone)]
pub struct RowIds {
    pub ids: Vec<String>,
    pub speakers: Vec<String>,
    pub sources: Vec<String>,
    pub corpora: Vec<String>,
}

impl RowIds {
    /// An augmented copies' table: every row names its source.
    pub fn of_copies(table: &Table) -> anyhow::Result<RowIds> {
        Ok(RowIds {
            ids: table.utf8("id")?,
            speakers: table.utf8("speaker")?,
            sources: table.utf8("source")?,
            corpora: crate::artifact::features::corpus_column(table),
        })
    }

    pub fn keys(&self) -> RowKeys<'_> {
        RowKeys {
            ids: &self.ids,
            speakers: &self.speakers,
            sources: &self.sources,
            corpora: &self.corpora,
        }
    }
}

/// One fold's rows: indices into the corpus table (`train`, `test`) and
/// into the augmented table (`augmented`, copies of `train` rows only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldSet {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
    pub augmented: Vec<usize>,
}

impl FoldSet {
    /// The fold's rows, checked: the fold has test utterances, and no
    /// training row is or derives from one.
    pub fn build(
        fold: &Fold,
        corpus: RowKeys<'_>,
        augmented: Option<RowKeys<'_>>,
    ) -> anyhow::Result<FoldSet> {
        let ser_evaluate::protocol::Split { train, test } = fold.split(corpus.speakers, corpus.ids);
        // Only a fold that names no test speakers (protocol `all`) may
        // test on nothing.
        let trains_on_everything = fold.test_speakers.is_empty() && fold.test_items.is_none();
        anyhow::ensure!(
            !test.is_empty() || trains_on_everything,
            "fold {} has no test utterances",
            fold.name
        );
        let mut rows: Vec<TrainingRow> = train
            .iter()
            .map(|&i| TrainingRow {
                id: &corpus.ids[i],
                speaker: &corpus.speakers[i],
                source: None,
            })
            .collect();
        let mut copies = Vec::new();
        if let Some(aug) = augmented {
            let train_ids: BTreeSet<&str> = train.iter().map(|&i| corpus.ids[i].as_str()).collect();
            copies = (0..aug.ids.len())
                .filter(|&r| train_ids.contains(aug.sources[r].as_str()))
                .collect();
            rows.extend(copies.iter().map(|&r| TrainingRow {
                id: &aug.ids[r],
                speaker: &aug.speakers[r],
                source: Some(&aug.sources[r]),
            }));
        }
        let test_ids: BTreeSet<&str> = test.iter().map(|&i| corpus.ids[i].as_str()).collect();
        leak::check_training_set(fold, &rows, &test_ids)
            .map_err(|e| anyhow::anyhow!("refusing to train: {e}"))?;
        Ok(FoldSet {
            train,
            test,
            augmented: copies,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows as (id, speaker, source); an empty source for the corpus's.
    fn rows(rows: &[(&str, &str, &str)]) -> RowIds {
        let column = |k: usize| -> Vec<String> {
            rows.iter()
                .map(|r| [r.0, r.1, r.2][k].to_string())
                .collect()
        };
        let sources = column(2);
        RowIds {
            ids: column(0),
            speakers: column(1),
            sources: if sources.iter().all(String::is_empty) {
                vec![]
            } else {
                sources
            },
            corpora: vec![],
        }
    }

    fn fold(test_speakers: &[&str]) -> Fold {
        serde_json::from_value(serde_json::json!({
            "name": "f1", "test_speakers": test_speakers,
        }))
        .unwrap()
    }

    #[test]
    fn copies_join_only_with_their_training_source() {
        let corpus = rows(&[("a1", "A", ""), ("a2", "A", ""), ("b1", "B", "")]);
        let copies = rows(&[
            ("a1~0", "A", "a1"),
            ("b1~0", "B", "b1"),
            ("a2~0", "A", "a2"),
        ]);
        let set = FoldSet::build(&fold(&["B"]), corpus.keys(), Some(copies.keys())).unwrap();
        let expected = FoldSet {
            train: vec![0, 1],
            test: vec![2],
            augmented: vec![0, 2],
        };
        assert_eq!(set, expected);
    }

    #[test]
    fn a_copy_that_claims_a_training_source_but_is_a_test_utterance_is_refused() {
        let corpus = rows(&[("a1", "A", ""), ("b1", "B", "")]);
        // A row of the augmented table whose id is a test utterance's.
        let copies = rows(&[("b1", "B", "a1")]);
        let err = FoldSet::build(&fold(&["B"]), corpus.keys(), Some(copies.keys()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("refusing to train"), "{err}");
        let err = FoldSet::build(&fold(&["C"]), corpus.keys(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no test utterances"), "{err}");
    }
}
