//! Writing [`Table`]s as Parquet: whole tables as bytes (cache artifacts),
//! or a stream of tables into one file (`ser extract`).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::{ColumnData, Table};

fn to_batch(table: &Table) -> anyhow::Result<RecordBatch> {
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
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(usize::MAX))
        .build()
}

/// Encode a table as one Parquet file (snappy-compressed, one row group).
/// The bytes depend only on the table, so equal tables get equal digests.
pub fn to_parquet(table: &Table) -> anyhow::Result<Vec<u8>> {
    let batch = to_batch(table)?;
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(properties()))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(out)
}

/// A Parquet file written a table at a time (one row group each), so a
/// large output never has to be in memory whole. Every table must have the
/// first one's columns.
pub struct ParquetFileWriter {
    writer: Option<ArrowWriter<File>>,
    schema: Option<SchemaRef>,
    file: File,
}

impl ParquetFileWriter {
    pub fn create(path: &Path) -> anyhow::Result<ParquetFileWriter> {
        let file = File::create(path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        Ok(ParquetFileWriter {
            writer: None,
            schema: None,
            file,
        })
    }

    pub fn write(&mut self, table: &Table) -> anyhow::Result<()> {
        let batch = to_batch(table)?;
        if self.writer.is_none() {
            let file = self.file.try_clone()?;
            self.writer = Some(ArrowWriter::try_new(
                file,
                batch.schema(),
                Some(properties()),
            )?);
            self.schema = Some(batch.schema());
        }
        anyhow::ensure!(
            self.schema.as_ref() == Some(&batch.schema()),
            "tables of one file must share columns"
        );
        let writer = self.writer.as_mut().expect("created above");
        writer.write(&batch)?;
        writer.flush()?;
        Ok(())
    }

    /// Finish the file; returns whether anything was written.
    pub fn close(self) -> anyhow::Result<bool> {
        match self.writer {
            Some(writer) => {
                writer.close()?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
