//! Artifact formats, one module per format and direction (as polars-io).
//!
//! - Tables are Parquet (snappy), readable by pandas, polars or pyarrow
//!   with no custom code: [`parquet_write`], [`parquet_read`].
//! - Tensors (signals, frame-level features) are NumPy `.npy` files
//!   (`numpy.load` reads them): [`npy`].
//!
//! [`Table`] is the in-memory form both Parquet modules use: named columns
//! of a few plain types, enough for manifests, feature matrices,
//! predictions and metrics.

pub mod features;
pub mod npy;
pub mod parquet_read;
pub mod parquet_write;
pub mod schema;

#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    Utf8(Vec<Option<String>>),
    Float32(Vec<f32>),
    Float64(Vec<f64>),
    Int64(Vec<i64>),
}

impl ColumnData {
    pub fn len(&self) -> usize {
        match self {
            ColumnData::Utf8(v) => v.len(),
            ColumnData::Float32(v) => v.len(),
            ColumnData::Float64(v) => v.len(),
            ColumnData::Int64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<(String, ColumnData)>,
}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    pub fn with(mut self, name: &str, data: ColumnData) -> Table {
        self.columns.push((name.to_string(), data));
        self
    }

    pub fn strings<S: AsRef<str>>(self, name: &str, values: impl IntoIterator<Item = S>) -> Table {
        self.with(
            name,
            ColumnData::Utf8(
                values
                    .into_iter()
                    .map(|s| Some(s.as_ref().to_string()))
                    .collect(),
            ),
        )
    }

    pub fn n_rows(&self) -> usize {
        self.columns.first().map_or(0, |(_, c)| c.len())
    }

    pub fn column(&self, name: &str) -> anyhow::Result<&ColumnData> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
            .ok_or_else(|| anyhow::anyhow!("table has no column '{name}'"))
    }

    /// A string column with nulls as empty strings.
    pub fn utf8(&self, name: &str) -> anyhow::Result<Vec<String>> {
        match self.column(name)? {
            ColumnData::Utf8(v) => Ok(v.iter().map(|s| s.clone().unwrap_or_default()).collect()),
            _ => anyhow::bail!("column '{name}' is not a string column"),
        }
    }

    pub fn f64(&self, name: &str) -> anyhow::Result<Vec<f64>> {
        match self.column(name)? {
            ColumnData::Float64(v) => Ok(v.clone()),
            ColumnData::Float32(v) => Ok(v.iter().map(|&x| x as f64).collect()),
            ColumnData::Int64(v) => Ok(v.iter().map(|&x| x as f64).collect()),
            ColumnData::Utf8(_) => anyhow::bail!("column '{name}' is not numeric"),
        }
    }

    pub fn i64(&self, name: &str) -> anyhow::Result<Vec<i64>> {
        match self.column(name)? {
            ColumnData::Int64(v) => Ok(v.clone()),
            _ => anyhow::bail!("column '{name}' is not an integer column"),
        }
    }
}
