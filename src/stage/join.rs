//! The join node: a feature union, the functionals of several feature sets
//! side by side in one table (early fusion, e.g. eGeMAPS beside librosa's
//! acoustic set), as `feature_unions` in the pipeline names them.
//!
//! It reads the `features` table of each part's extract node (the same
//! node every experiment on that set reads, so nothing is extracted twice)
//! and writes one `features` table: the first part's key columns, then each
//! part's feature columns named `<set>:<column>`, for the utterances every
//! part holds. The extract nodes of one pipeline reject the same
//! utterances for length and finiteness (their common minimum), so rows
//! only drop where one set failed on its own; the summary counts them.
//! The same node joins the feature tables of an augmentation's copies.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::{Context, Inputs, Outputs, Role, Stage};
use crate::artifact::features::{KEY_COLUMNS, union_column};
use crate::artifact::{ColumnData, Table, parquet_read, parquet_write};

const CODE_VERSION: u32 = 1;

pub struct JoinStage {
    /// The union's name, for messages.
    pub union: String,
    /// Its feature sets, in column order; part `i` is read as
    /// [`Role::Part`]`(i)`.
    pub parts: Vec<String>,
}

impl Stage for JoinStage {
    fn stage(&self) -> &'static str {
        "join"
    }

    fn code_version(&self) -> u32 {
        CODE_VERSION
    }

    fn params(&self) -> Value {
        // The parts' tables are inputs; their names prefix the columns.
        json!({ "parts": self.parts })
    }

    fn reads(&self, role: Role) -> &'static [&'static str] {
        match role {
            Role::Part(_) => &["features"],
            _ => &[],
        }
    }

    fn run(&self, ctx: &Context, inputs: &Inputs) -> anyhow::Result<Outputs> {
        let tables = (0..self.parts.len())
            .map(|i| {
                let bytes = ctx
                    .cache
                    .read_object(inputs.file(Role::Part(i), "features")?)?;
                parquet_read::from_parquet(bytes)
            })
            .collect::<anyhow::Result<Vec<Table>>>()?;
        let (table, dropped) = join_tables(&self.parts, &tables)
            .map_err(|e| anyhow::anyhow!("feature union {}: {e}", self.union))?;
        anyhow::ensure!(
            table.n_rows() > 0,
            "feature union {}: no utterance is in every part's table",
            self.union
        );
        let features = table.columns.len() - key_count(&table);
        let object = ctx
            .cache
            .put_object(&parquet_write::to_parquet(&table)?, "parquet")?;
        Ok(Outputs {
            files: BTreeMap::from([("features".to_string(), object)]),
            summary: json!({
                "utterances": table.n_rows(),
                "features": features,
                "parts": self.parts,
                "dropped": dropped,
            }),
            ..Outputs::default()
        })
    }
}

fn key_count(table: &Table) -> usize {
    table
        .columns
        .iter()
        .filter(|(n, _)| KEY_COLUMNS.contains(&n.as_str()))
        .count()
}

/// The parts' tables side by side: the rows of the first table whose id
/// every other table holds, in the first table's order; its key columns,
/// then every part's feature columns as `<part>:<column>`. Also the ids
/// left out, because some part lacks them.
fn join_tables(parts: &[String], tables: &[Table]) -> anyhow::Result<(Table, Vec<String>)> {
    let first = &tables[0];
    let ids = first.utf8("id")?;
    let positions: Vec<HashMap<String, usize>> = tables
        .iter()
        .map(|t| {
            let ids = t.utf8("id")?;
            Ok(ids.into_iter().enumerate().map(|(i, id)| (id, i)).collect())
        })
        .collect::<anyhow::Result<_>>()?;
    let (kept, dropped): (Vec<usize>, Vec<usize>) =
        (0..ids.len()).partition(|&row| positions.iter().all(|p| p.contains_key(&ids[row])));
    let mut joined = Table::new();
    for (name, column) in first
        .columns
        .iter()
        .filter(|(n, _)| KEY_COLUMNS.contains(&n.as_str()))
    {
        joined = joined.with(name, take(column, &kept));
    }
    for ((part, table), position) in parts.iter().zip(tables).zip(&positions) {
        let rows: Vec<usize> = kept.iter().map(|&r| position[&ids[r]]).collect();
        for (name, column) in &table.columns {
            if KEY_COLUMNS.contains(&name.as_str()) {
                continue;
            }
            anyhow::ensure!(
                !matches!(column, ColumnData::Utf8(_)),
                "{part}'s column {name} is not numeric"
            );
            joined = joined.with(&union_column(part, name), take(column, &rows));
        }
    }
    Ok((
        joined,
        dropped.into_iter().map(|r| ids[r].clone()).collect(),
    ))
}

/// The values of `column` at `rows`, in that order.
fn take(column: &ColumnData, rows: &[usize]) -> ColumnData {
    match column {
        ColumnData::Utf8(v) => ColumnData::Utf8(rows.iter().map(|&r| v[r].clone()).collect()),
        ColumnData::Float32(v) => ColumnData::Float32(rows.iter().map(|&r| v[r]).collect()),
        ColumnData::Float64(v) => ColumnData::Float64(rows.iter().map(|&r| v[r]).collect()),
        ColumnData::Int64(v) => ColumnData::Int64(rows.iter().map(|&r| v[r]).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(ids: &[&str], columns: &[(&str, &[f32])]) -> Table {
        let mut t = Table::new()
            .strings("id", ids)
            .strings("speaker", ids.iter().map(|id| &id[..1]))
            .strings("label", ids.iter().map(|_| "neutral"));
        for (name, values) in columns {
            t = t.with(name, ColumnData::Float32(values.to_vec()));
        }
        t
    }

    /// Rows meet by id whatever each table's order; a row one part lacks
    /// is left out and named; columns are prefixed by their part.
    #[test]
    fn parts_meet_by_id_and_a_row_one_part_lacks_is_left_out() {
        let a = table(&["a1", "b1", "c1"], &[("f", &[1.0, 2.0, 3.0])]);
        let b = table(&["c1", "a1"], &[("f", &[30.0, 10.0]), ("g", &[-3.0, -1.0])]);
        let parts = ["acoustic".to_string(), "egemaps".to_string()];
        let (joined, dropped) = join_tables(&parts, &[a, b]).unwrap();
        assert_eq!(dropped, ["b1"]);
        assert_eq!(joined.utf8("id").unwrap(), ["a1", "c1"]);
        assert_eq!(joined.utf8("speaker").unwrap(), ["a", "c"]);
        assert_eq!(joined.f64("acoustic:f").unwrap(), [1.0, 3.0]);
        assert_eq!(joined.f64("egemaps:f").unwrap(), [10.0, 30.0]);
        assert_eq!(joined.f64("egemaps:g").unwrap(), [-1.0, -3.0]);
        let names: Vec<&str> = joined.columns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "id",
                "speaker",
                "label",
                "acoustic:f",
                "egemaps:f",
                "egemaps:g"
            ]
        );
    }

    /// Through the cache, as the graph runs it: the node's table has
    /// every part's columns, and a union with nothing in common fails
    /// with the union's name.
    #[test]
    fn the_node_writes_one_table_and_fails_on_nothing_in_common() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_test(dir.path());
        let put = |t: &Table| {
            BTreeMap::from([(
                "features".to_string(),
                ctx.cache
                    .put_object(&parquet_write::to_parquet(t).unwrap(), "parquet")
                    .unwrap(),
            )])
        };
        let stage = JoinStage {
            union: "both".into(),
            parts: vec!["mfcc".into(), "gemaps".into()],
        };
        let inputs = |a: &Table, b: &Table| Inputs {
            by_role: BTreeMap::from([(Role::Part(0), put(a)), (Role::Part(1), put(b))]),
        };
        let a = table(&["a1", "b1"], &[("m", &[1.0, 2.0])]);
        let b = table(&["b1", "a1"], &[("g", &[20.0, 10.0])]);
        let out = stage.run(&ctx, &inputs(&a, &b)).unwrap();
        let joined =
            parquet_read::from_parquet(ctx.cache.read_object(&out.files["features"]).unwrap())
                .unwrap();
        assert_eq!(joined.f64("gemaps:g").unwrap(), [10.0, 20.0]);
        assert_eq!(out.summary["features"], 2);
        assert_eq!(out.summary["utterances"], 2);

        let c = table(&["z9"], &[("g", &[0.0])]);
        let err = stage.run(&ctx, &inputs(&a, &c)).unwrap_err().to_string();
        assert!(err.contains("feature union both"), "{err}");
    }
}
