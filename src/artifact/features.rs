//! Feature tables and predictions tables as the train, select and ensemble
//! nodes read them: the key columns, the feature matrix, class indices and
//! the `p_<class>` probability columns.

use ndarray::Array2;

use super::{ColumnData, Table};

/// Columns of a feature table that are not features.
pub const KEY_COLUMNS: [&str; 5] = ["id", "speaker", "label", "corpus", "source"];

/// A feature union's name for `column` of its part `set`: how the join
/// node writes it, and how a bundle names what it extracts from audio.
pub fn union_column(set: &str, column: &str) -> String {
    format!("{set}:{column}")
}

/// Each row's corpus, when a table's rows come from more than one (empty
/// otherwise: a one-corpus pipeline's tables have no such column, and a
/// manifest's names one corpus throughout).
pub fn corpus_column(table: &Table) -> Vec<String> {
    table
        .utf8("corpus")
        .ok()
        .filter(|c| c.iter().any(|name| name != &c[0]))
        .unwrap_or_default()
}

/// Prefix of a predictions table's probability columns.
pub const PROBABILITY_PREFIX: &str = "p_";

/// The feature columns of a table: their names, and the values as an f64
/// matrix (rows x features).
pub fn feature_columns(table: &Table) -> anyhow::Result<(Vec<String>, Array2<f64>)> {
    let cols: Vec<(&String, &ColumnData)> = table
        .columns
        .iter()
        .filter(|(n, _)| !KEY_COLUMNS.contains(&n.as_str()))
        .map(|(n, c)| (n, c))
        .collect();
    anyhow::ensure!(!cols.is_empty(), "feature table has no feature columns");
    let mut x = Array2::<f64>::zeros((table.n_rows(), cols.len()));
    for (j, (name, col)) in cols.iter().enumerate() {
        match col {
            ColumnData::Float32(v) => x
                .column_mut(j)
                .iter_mut()
                .zip(v)
                .for_each(|(o, &i)| *o = i as f64),
            ColumnData::Float64(v) => x.column_mut(j).iter_mut().zip(v).for_each(|(o, &i)| *o = i),
            _ => anyhow::bail!("feature column {name} is not numeric"),
        }
    }
    Ok((cols.iter().map(|(n, _)| (*n).clone()).collect(), x))
}

/// The sorted distinct labels, and each label's index among them.
pub fn class_indices(labels: &[String]) -> (Vec<String>, Vec<usize>) {
    let mut classes = labels.to_vec();
    classes.sort();
    classes.dedup();
    let y = labels
        .iter()
        .map(|l| classes.binary_search(l).expect("from the same list"))
        .collect();
    (classes, y)
}

/// A predictions table with one `p_<class>` column per class (the scores
/// ensembles combine), in class order; `scores` has one row per table row.
pub fn with_probabilities<T: Copy + Into<f64>>(
    mut table: Table,
    classes: &[String],
    scores: &[Vec<T>],
) -> Table {
    for (c, class) in classes.iter().enumerate() {
        table = table.with(
            &format!("{PROBABILITY_PREFIX}{class}"),
            ColumnData::Float64(scores.iter().map(|row| row[c].into()).collect()),
        );
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_columns_are_not_features_and_classes_sort() {
        let table = Table::new()
            .strings("id", ["a", "b"])
            .strings("label", ["sad", "angry"])
            .with("f0", ColumnData::Float32(vec![1.0, 2.0]))
            .with("f1", ColumnData::Float64(vec![3.0, 4.0]));
        let (names, x) = feature_columns(&table).unwrap();
        assert_eq!(names, ["f0", "f1"]);
        assert_eq!(x, ndarray::array![[1.0, 3.0], [2.0, 4.0]]);
        let (classes, y) = class_indices(&table.utf8("label").unwrap());
        assert_eq!(
            (classes, y),
            (vec!["angry".to_string(), "sad".into()], vec![1, 0])
        );
        let bad = Table::new().strings("id", ["a"]);
        assert!(feature_columns(&bad).is_err());
    }
}
