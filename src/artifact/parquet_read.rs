//! Reading Parquet bytes into [`Table`]s.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{ColumnData, Table};

/// Decode a Parquet file (any number of row groups) into a table. Column
/// types: strings, f32, f64, and integers (read as i64).
pub fn from_parquet(bytes: Vec<u8>) -> anyhow::Result<Table> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))?.build()?;
    let mut table = Table::new();
    for batch in reader {
        let batch = batch?;
        if table.columns.is_empty() {
            for field in batch.schema().fields() {
                table
                    .columns
                    .push((field.name().clone(), empty_like(field.data_type())?));
            }
        }
        for ((name, column), array) in table.columns.iter_mut().zip(batch.columns()) {
            append(column, array).map_err(|e| anyhow::anyhow!("column '{name}': {e}"))?;
        }
    }
    Ok(table)
}

fn empty_like(dtype: &DataType) -> anyhow::Result<ColumnData> {
    Ok(match dtype {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnData::Utf8(Vec::new()),
        DataType::Float32 => ColumnData::Float32(Vec::new()),
        DataType::Float64 => ColumnData::Float64(Vec::new()),
        DataType::Int32 | DataType::Int64 => ColumnData::Int64(Vec::new()),
        other => anyhow::bail!("unsupported column type {other}"),
    })
}

fn append(column: &mut ColumnData, array: &ArrayRef) -> anyhow::Result<()> {
    match column {
        ColumnData::Utf8(v) => match array.data_type() {
            DataType::Utf8 => v.extend(
                array
                    .as_string::<i32>()
                    .iter()
                    .map(|s| s.map(str::to_string)),
            ),
            DataType::LargeUtf8 => v.extend(
                array
                    .as_string::<i64>()
                    .iter()
                    .map(|s| s.map(str::to_string)),
            ),
            _ => v.extend(array.as_string_view().iter().map(|s| s.map(str::to_string))),
        },
        ColumnData::Float32(v) => v.extend(
            array
                .as_primitive::<Float32Type>()
                .iter()
                .map(|x| x.unwrap_or(f32::NAN)),
        ),
        ColumnData::Float64(v) => v.extend(
            array
                .as_primitive::<Float64Type>()
                .iter()
                .map(|x| x.unwrap_or(f64::NAN)),
        ),
        ColumnData::Int64(v) => match array.data_type() {
            DataType::Int32 => v.extend(
                array
                    .as_primitive::<Int32Type>()
                    .iter()
                    .map(|x| x.unwrap_or(0) as i64),
            ),
            _ => v.extend(
                array
                    .as_primitive::<Int64Type>()
                    .iter()
                    .map(|x| x.unwrap_or(0)),
            ),
        },
    }
    if array.null_count() > 0 && !matches!(column, ColumnData::Utf8(_)) {
        anyhow::bail!("numeric column has nulls");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::parquet_write::to_parquet;

    #[test]
    fn round_trip_every_column_type() {
        let table = Table::new()
            .with("id", ColumnData::Utf8(vec![Some("a".into()), None]))
            .with("x", ColumnData::Float32(vec![1.5, -2.0]))
            .with("y", ColumnData::Float64(vec![0.1, 1e300]))
            .with("n", ColumnData::Int64(vec![7, -1]));
        let bytes = to_parquet(&table).unwrap();
        assert_eq!(
            bytes,
            to_parquet(&table).unwrap(),
            "encoding is deterministic"
        );
        assert_eq!(from_parquet(bytes).unwrap(), table);
    }
}
