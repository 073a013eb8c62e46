//! `ser predict`: a bundle's predictions for new audio files, one row per
//! file: `file`, `duration_s`, `predicted`, one `p_<label>` per class (for
//! models with probabilities) and `error`. A file that cannot be used gets
//! a row naming the reason, and the rest go on.
//!
//! Output: CSV (default; stdout without `--out`), JSON Lines (`.jsonl`) or
//! Parquet (`.parquet`), by the extension of `--out`.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::artifact::{ColumnData, Table, parquet_write};
use crate::bundle::{Prediction, Predictor};
use crate::progress::Progress;

/// File extensions `ser predict` takes from a folder.
const AUDIO_EXTENSIONS: [&str; 7] = ["wav", "flac", "mp3", "ogg", "oga", "aiff", "aif"];

/// `ser predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// The bundle (`ser export`).
    #[arg(long)]
    pub model: PathBuf,
    /// Where to write the rows: .csv, .jsonl or .parquet (default: CSV on stdout).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Predict windows of this length (e.g. 4s) for long recordings: one
    /// row per window, then one for the whole file (the windows' mean).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub segment: Option<std::time::Duration>,
    /// Step between windows (default: the window's length).
    #[arg(long, value_parser = humantime::parse_duration, requires = "segment")]
    pub hop: Option<std::time::Duration>,
    /// Audio files, or folders searched for them.
    #[arg(required = true)]
    pub audio: Vec<PathBuf>,
}

/// One row of the output: a file, or one window of it (`window`: its
/// range in seconds).
struct Row {
    file: String,
    window: Option<(f64, f64)>,
    result: Result<Prediction, String>,
}

impl PredictArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        let predictor = Predictor::open(&self.model)?;
        let files = audio_files(&self.audio)?;
        anyhow::ensure!(!files.is_empty(), "no audio files in {:?}", self.audio);
        let bar = Progress::for_terminal().bar(files.len(), "predict");
        let segment = self.segment.map(|s| s.as_secs_f64());
        let hop = self.hop.map(|h| h.as_secs_f64()).or(segment);
        let rows: Vec<Row> = files
            .par_iter()
            .map_init(
                || predictor.extractor(),
                |extractor, path| {
                    let file = path.display().to_string();
                    let rows = match extractor {
                        Err(e) => vec![Row { file, window: None, result: Err(format!("{e:#}")) }],
                        Ok(extractor) => {
                            predict_file(&predictor, path, extractor, segment.zip(hop), &file)
                        }
                    };
                    bar.inc(1);
                    rows
                },
            )
            .flatten()
            .collect();
        bar.finish_and_clear();
        let classes = &predictor.manifest.classes;
        let table = rows_table(&rows, classes);
        match &self.out {
            None => write_csv(std::io::stdout().lock(), &table)?,
            Some(path) => match path.extension().and_then(|e| e.to_str()) {
                Some("parquet") => std::fs::write(path, parquet_write::to_parquet(&table)?)?,
                Some("jsonl") => write_jsonl(std::fs::File::create(path)?, &table)?,
                _ => write_csv(std::fs::File::create(path)?, &table)?,
            },
        }
        let failed: Vec<&Row> = rows
            .iter()
            .filter(|r| r.window.is_none() && r.result.is_err())
            .collect();
        for row in &failed {
            if let Err(e) = &row.result {
                eprintln!("{}: {e}", row.file);
            }
        }
        eprintln!(
            "{} file(s) predicted with {} ({}), {} could not be used",
            rows.iter().filter(|r| r.window.is_none()).count() - failed.len(),
            self.model.display(),
            predictor.manifest.experiment,
            failed.len()
        );
        Ok(if failed.is_empty() { 0 } else { 1 })
    }
}

/// One file's rows: its prediction, or with windows each window's and
/// then the file's (their mean).
fn predict_file(
    predictor: &Predictor,
    path: &Path,
    extractor: &mut ser_extract::Extractor,
    windows: Option<(f64, f64)>,
    file: &str,
) -> Vec<Row> {
    let row = |window, result| Row {
        file: file.to_string(),
        window,
        result,
    };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => return vec![row(None, Err(format!("cannot read file: {e}")))],
    };
    let Some((segment, hop)) = windows else {
        return vec![row(None, predictor.predict_bytes(&bytes, extractor))];
    };
    let rate = predictor.manifest.features.sample_rate;
    let signal = match ser_ingest::load_signal(&bytes, rate) {
        Ok(signal) => signal,
        Err(e) => return vec![row(None, Err(e.to_string()))],
    };
    let (per_window, whole) = predictor.predict_windows(&signal.samples, extractor, segment, hop);
    let seconds = |i: usize| i as f64 / f64::from(rate);
    let mut rows: Vec<Row> = per_window
        .into_iter()
        .map(|(w, p)| row(Some((seconds(w.start), seconds(w.end))), p))
        .collect();
    rows.push(row(None, whole));
    rows
}

/// The files named, and the audio files under the folders named, sorted
/// per folder.
fn audio_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            found.sort();
            out.extend(found);
        } else {
            // A missing file still gets its row, with the reason.
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// The rows as a table: file, (start_s, end_s: the window, empty on a
/// file's row,) duration_s, predicted, p_<class>..., error.
fn rows_table(rows: &[Row], classes: &[String]) -> Table {
    let ok = |r: &Row| r.result.as_ref().ok().cloned();
    let mut table = Table::new().strings("file", rows.iter().map(|r| r.file.as_str()));
    if rows.iter().any(|r| r.window.is_some()) {
        let edge = |f: fn((f64, f64)) -> f64| -> ColumnData {
            ColumnData::Float64(rows.iter().map(|r| r.window.map_or(f64::NAN, f)).collect())
        };
        table = table.with("start_s", edge(|w| w.0)).with("end_s", edge(|w| w.1));
    }
    let mut table = table
        .with(
            "duration_s",
            ColumnData::Float64(
                rows.iter()
                    .map(|r| ok(r).map_or(f64::NAN, |p| p.duration_s))
                    .collect(),
            ),
        )
        .with(
            "predicted",
            ColumnData::Utf8(
                rows.iter()
                    .map(|r| ok(r).map(|p| classes[p.class].clone()))
                    .collect(),
            ),
        );
    let with_probabilities = rows
        .iter()
        .any(|r| r.result.as_ref().is_ok_and(|p| p.probabilities.is_some()));
    if with_probabilities {
        for (c, class) in classes.iter().enumerate() {
            table = table.with(
                &format!("p_{class}"),
                ColumnData::Float64(
                    rows.iter()
                        .map(|r| {
                            ok(r)
                                .and_then(|p| p.probabilities)
                                .map_or(f64::NAN, |p| f64::from(p[c]))
                        })
                        .collect(),
                ),
            );
        }
    }
    table.with(
        "error",
        ColumnData::Utf8(
            rows.iter()
                .map(|r| r.result.as_ref().err().cloned())
                .collect(),
        ),
    )
}

/// A cell as text: empty for a missing value.
fn cell(column: &ColumnData, row: usize) -> Option<String> {
    match column {
        ColumnData::Utf8(v) => v[row].clone(),
        ColumnData::Float64(v) => v[row].is_finite().then(|| v[row].to_string()),
        ColumnData::Float32(v) => v[row].is_finite().then(|| v[row].to_string()),
        ColumnData::Int64(v) => Some(v[row].to_string()),
    }
}

fn write_csv(out: impl std::io::Write, table: &Table) -> anyhow::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(table.columns.iter().map(|(name, _)| name))?;
    for row in 0..table.n_rows() {
        csv.write_record(
            table
                .columns
                .iter()
                .map(|(_, c)| cell(c, row).unwrap_or_default()),
        )?;
    }
    csv.flush()?;
    Ok(())
}

fn write_jsonl(mut out: impl std::io::Write, table: &Table) -> anyhow::Result<()> {
    for row in 0..table.n_rows() {
        let object: serde_json::Map<String, serde_json::Value> = table
            .columns
            .iter()
            .map(|(name, c)| {
                let value = match c {
                    ColumnData::Float64(v) if v[row].is_finite() => serde_json::json!(v[row]),
                    _ => cell(c, row).map_or(serde_json::Value::Null, serde_json::Value::String),
                };
                (name.clone(), value)
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::Object(object))?;
    }
    Ok(())
}
