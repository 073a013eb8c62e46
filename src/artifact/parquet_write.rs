//! Writing [`Table`]s as Parquet bytes.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::{ColumnData, Table};

/// Encode a table as one Parquet file (snappy-compressed, one row group).
/// The bytes depend only on the table, so equal tables get equal digests.
pub fn to_parquet(table: &Table) -> anyhow::Result<Vec<u8>> {
    let mut fields = Vec::with_capacity(table.columns.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(table.columns.len());
    for (name, data) in &table.columns {
        let (dtype, nullable, array): (DataType, bool, ArrayRef) = match data {
            ColumnData::Utf8(v) => (DataType::Utf8, true, Arc::new(StringArray::from(v.clone()))),
            ColumnData::Float32(v) => (
                DataType::Float32,
                false,
                Arc::new(Float32Array::from(v.clone())),
            ),
            ColumnData::Float64(v) => (
                DataType::Float64,
                false,
                Arc::new(Float64Array::from(v.clone())),
            ),
            ColumnData::Int64(v) => (
                DataType::Int64,
                false,
                Arc::new(Int64Array::from(v.clone())),
            ),
        };
        fields.push(Field::new(name, dtype, nullable));
        arrays.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(usize::MAX))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, Some(props))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(out)
}
