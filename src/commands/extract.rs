//! `ser extract`: features for any audio files, outside any pipeline (like
//! openSMILE's SMILExtract).
//!
//! Each file is decoded (any supported format), downmixed and resampled
//! like ingest does, and one Parquet row of functionals per file (or, with
//! `--frames`, one row per frame) is written, with a `file` column holding
//! the file stem. Files are processed in parallel batches and written batch
//! by batch, so memory does not grow with the number of files. A file that
//! cannot be read is reported with the reason; the rest are still written.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use rayon::prelude::*;
use serde_yaml_ng::Value;

use ser_extract::{ExtractParams, Extractor};

use crate::artifact::parquet_write::ParquetFileWriter;
use crate::artifact::{ColumnData, Table};
use crate::config::apply_override;
use crate::progress::Progress;

/// Files processed (and held) at a time.
const BATCH: usize = 64;

/// `ser extract`.
#[derive(Debug, clap::Args)]
pub struct ExtractArgs {
    /// Feature set: acoustic, mfcc, logmel, spectral, egemaps, gemaps.
    #[arg(long = "set", default_value = "acoustic")]
    pub set: String,
    /// One row per frame (file, frame, descriptors) instead of one row of functionals per file.
    #[arg(long)]
    pub frames: bool,
    /// The Parquet file to write.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Rate every file is resampled to.
    #[arg(long, default_value_t = 16000)]
    pub sample_rate: u32,
    /// Override an extract parameter, e.g. `--param n_mfcc=20` (repeatable; names as in pipeline.yaml's extract section).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Audio files (WAV, FLAC, MP3, Ogg, AIFF; the format is read from the bytes).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

impl ExtractArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        extract(self)
    }
}

pub fn extract(args: &ExtractArgs) -> anyhow::Result<i32> {
    let set = ser_extract::feature_set(&args.set).ok_or_else(|| {
        let known: Vec<_> = ser_extract::FEATURE_SETS.iter().map(|s| s.name).collect();
        anyhow::anyhow!(
            "unknown feature set '{}' (known: {})",
            args.set,
            known.join(", ")
        )
    })?;
    let params = extract_params(&args.params)?;
    let probe = Extractor::new(args.sample_rate, &params, set.descriptors)?;
    let columns = if args.frames {
        probe.column_names()
    } else {
        probe.functional_names()
    };
    anyhow::ensure!(!args.files.is_empty(), "no audio files given");

    let mut writer = ParquetFileWriter::create(&args.out)?;
    let bar = Progress::for_terminal().bar(args.files.len(), &format!("extract: {}", set.name));
    let mut failures = Vec::new();
    let mut written = 0usize;
    for chunk in args.files.chunks(BATCH) {
        let results: Vec<Result<(String, Array2<f32>), String>> = chunk
            .par_iter()
            .map_init(
                || Extractor::new(args.sample_rate, &params, set.descriptors),
                |extractor, path| {
                    let extractor = extractor.as_mut().map_err(|e| e.to_string())?;
                    let result = one_file(path, args.sample_rate, extractor, args.frames);
                    bar.inc(1);
                    result.map_err(|e| format!("{}: {e}", path.display()))
                },
            )
            .collect();
        // One row group per batch: per-file row groups would cost a column
        // writer per column per file.
        let mut rows: Vec<(String, Array2<f32>)> = Vec::with_capacity(results.len());
        for result in results {
            match result {
                Ok(row) => rows.push(row),
                Err(e) => {
                    bar.suspend(|| eprintln!("{e}"));
                    failures.push(e);
                }
            }
        }
        if !rows.is_empty() {
            writer.write(&batch_table(&rows, &columns, args.frames))?;
            written += rows.len();
        }
    }
    bar.finish_and_clear();
    writer.close()?;
    eprintln!(
        "{written} file(s) -> {} ({} {} columns)",
        args.out.display(),
        columns.len(),
        if args.frames {
            "frame-level"
        } else {
            "functional"
        }
    );
    if !failures.is_empty() {
        anyhow::bail!(
            "{} file(s) could not be read (listed above); the others are in {}",
            failures.len(),
            args.out.display()
        );
    }
    Ok(0)
}

/// `ExtractParams` defaults with `key=value` overrides, checked like
/// pipeline.yaml's `extract:` section.
fn extract_params(overrides: &[String]) -> anyhow::Result<ExtractParams> {
    let mut value: Value = serde_yaml_ng::to_value(ExtractParams::default())?;
    for o in overrides {
        apply_override(&mut value, o)
            .map_err(|e| anyhow::anyhow!("{}", e.to_string().replace("--set", "--param")))?;
    }
    serde_path_to_error::deserialize(value)
        .map_err(|e| anyhow::anyhow!("--param {}: {}", e.path(), e.inner()))
}

/// One file's rows: its functionals (1 x columns) or frames (frames x
/// columns), with the file stem.
fn one_file(
    path: &Path,
    rate: u32,
    extractor: &mut Extractor,
    frames: bool,
) -> Result<(String, Array2<f32>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read file: {e}"))?;
    let signal = ser_ingest::load_signal(&bytes, rate).map_err(|e| e.to_string())?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let features = extractor
        .frames(&signal.samples)
        .map_err(|e| e.to_string())?;
    let values = if frames {
        features.values
    } else {
        let row = extractor.functionals_of(&features);
        Array2::from_shape_vec((1, row.len()), row).expect("one row")
    };
    Ok((stem, values))
}

/// The rows of several files as one table: `file`, (`frame`,) columns.
fn batch_table(rows: &[(String, Array2<f32>)], columns: &[String], frames: bool) -> Table {
    let n: usize = rows.iter().map(|(_, v)| v.nrows()).sum();
    let mut table = Table::new().strings(
        "file",
        rows.iter()
            .flat_map(|(stem, v)| std::iter::repeat_n(stem, v.nrows())),
    );
    if frames {
        let index = rows.iter().flat_map(|(_, v)| 0..v.nrows() as i64).collect();
        table = table.with("frame", ColumnData::Int64(index));
    }
    for (j, name) in columns.iter().enumerate() {
        let mut col = Vec::with_capacity(n);
        for (_, v) in rows {
            col.extend(v.column(j).iter());
        }
        table = table.with(name, ColumnData::Float32(col));
    }
    table
}
