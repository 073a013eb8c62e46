#![allow(dead_code)] // each test binary uses a part of it
//! Reading the reference tables of `../shared/reference/ravdess24`, shared
//! by the librosa and openSMILE parity tests.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/ravdess24")
}

pub fn read_table(name: &str) -> Vec<RecordBatch> {
    let file =
        File::open(reference_dir().join(name)).expect("reference table (../shared/reference)");
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

pub fn column_f64(batch: &RecordBatch, name: &str) -> Vec<f64> {
    let col = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    if let Some(a) = col.as_primitive_opt::<Float64Type>() {
        a.values().to_vec()
    } else if let Some(a) = col.as_primitive_opt::<Float32Type>() {
        a.values().iter().map(|&v| v as f64).collect()
    } else {
        panic!("column {name} has type {}", col.data_type())
    }
}

pub fn column_str(batch: &RecordBatch, name: &str) -> Vec<String> {
    let col = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    if let Some(a) = col.as_string_opt::<i32>() {
        a.iter()
            .map(|s| s.unwrap_or_default().to_string())
            .collect()
    } else if let Some(a) = col.as_string_opt::<i64>() {
        a.iter()
            .map(|s| s.unwrap_or_default().to_string())
            .collect()
    } else {
        col.as_string_view()
            .iter()
            .map(|s| s.unwrap_or_default().to_string())
            .collect()
    }
}
