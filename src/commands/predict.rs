//! `ser predict`: a bundle's predictions for new audio files, one row per
//! file: `file`, `duration_s`, `predicted`, one `p_<label>` per class (for
//! models with probabilities) and `error`. A file that cannot be used gets
//! a row naming the reason, and the rest go on.
//!
//! Output: CSV (default; stdout without `--out`), JSON Lines (`.jsonl`) or
//! Parquet (`.parquet`), by the extension of `--out`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::artifact::{ColumnData, Table, parquet_write};
use crate::bundle::{self, Extracted, Extractors, Prediction, Predictor, Speaker};
use crate::commands::PipelineArgs;
use crate::commands::export::{CacheSource, ModelChoice};
use crate::progress::Progress;

/// File extensions `ser predict` takes from a folder.
const AUDIO_EXTENSIONS: [&str; 7] = ["wav", "flac", "mp3", "ogg", "oga", "aiff", "aif"];

/// `ser predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// The bundle (`ser export`).
    #[arg(
        long,
        required_unless_present = "experiment",
        conflicts_with = "experiment"
    )]
    pub model: Option<PathBuf>,
    /// An experiment of the pipeline instead, straight from the cache (as
    /// `ser export` would bundle it).
    #[arg(long)]
    pub experiment: Option<String>,
    #[command(flatten)]
    pub choice: ModelChoice,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
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
    /// Whose each file is, for a model scaled by speaker: a regular
    /// expression over its path, the speaker being its first group (or
    /// the whole match), e.g. 'Actor_(\d+)'.
    #[arg(long, value_name = "REGEX")]
    pub speaker_of: Option<String>,
    /// Whose each file is, from a CSV with columns file and speaker (a
    /// file matches by its path as given or by its name).
    #[arg(long, value_name = "CSV")]
    pub speakers: Option<PathBuf>,
    /// Audio files, or folders searched for them.
    #[arg(required = true)]
    pub audio: Vec<PathBuf>,
}

/// One row of the output: a file, or one window of it (`window`: its
/// range in seconds).
struct Row {
    file: String,
    speaker: Option<String>,
    window: Option<(f64, f64)>,
    result: Result<Prediction, String>,
}

/// One file after decoding and extraction: its windows (one, the whole
/// signal, without `--segment`), or why it cannot be used.
struct FileInput {
    file: String,
    speaker: Option<String>,
    windowed: bool,
    duration_s: f64,
    windows: Result<Vec<Window>, String>,
}

/// One window of a file: what was extracted, then (once predicted) its
/// prediction.
struct Window {
    id: String,
    range: (f64, f64),
    state: WindowState,
}

enum WindowState {
    Extracted(Extracted),
    Done(Result<Prediction, String>),
}

/// Files are decoded, extracted and predicted this many at a time, so
/// memory holds one chunk's features (and those of known speakers waiting
/// for the rest of their files).
const CHUNK_FILES: usize = 256;

impl PredictArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        let chose_model =
            self.choice.protocol.is_some() || self.choice.fold.is_some() || self.choice.from_folds;
        let mut corpus_ids = None;
        let (predictor, source) = match (&self.model, &self.experiment) {
            (Some(model), _) => {
                anyhow::ensure!(
                    !chose_model,
                    "--protocol, --fold and --from-folds choose an --experiment's model; a \
                     bundle holds the one it was exported with"
                );
                (Predictor::open(model)?, model.display().to_string())
            }
            (None, Some(experiment)) => {
                let cached = CacheSource::open(&self.pipeline)?;
                let predictor = Predictor::new(cached.bundle(experiment, &self.choice)?)?;
                if predictor
                    .manifest
                    .parts
                    .iter()
                    .any(|p| p.test_copies.is_some())
                {
                    corpus_ids = Some(cached.corpus_ids()?);
                }
                let source = format!("the cache of {}", self.pipeline.pipeline.display());
                (predictor, source)
            }
            (None, None) => unreachable!("clap requires --model or --experiment"),
        };
        let speakers = SpeakerOf::new(self.speaker_of.as_deref(), self.speakers.as_deref())?;
        let files = audio_files(&self.audio)?;
        anyhow::ensure!(!files.is_empty(), "no audio files in {:?}", self.audio);
        let segment = self.segment.map(|s| s.as_secs_f64());
        let hop = self.hop.map(|h| h.as_secs_f64()).or(segment);

        let bar = Progress::for_terminal().bar(files.len(), "predict");
        let mut inputs: Vec<FileInput> = Vec::with_capacity(files.len());
        for chunk in files.chunks(CHUNK_FILES) {
            let first = inputs.len();
            inputs.par_extend(chunk.par_iter().map_init(
                || predictor.extractors(),
                |extractors, path| {
                    let input = read_file(
                        &predictor,
                        path,
                        extractors,
                        segment.zip(hop),
                        speakers.of(path),
                        corpus_ids.as_ref(),
                    );
                    bar.inc(1);
                    input
                },
            ));
            // A model scaled by speaker takes a known speaker's statistics
            // from all their files: those wait. The rest go now, in small
            // batches, each recording its own unknown speaker.
            let now: Vec<(usize, usize)> = windows_to_predict(&inputs[first..])
                .filter(|&(f, _)| !(predictor.by_speaker() && inputs[first + f].speaker.is_some()))
                .map(|(f, w)| (first + f, w))
                .collect();
            let jobs: Vec<(Speaker<'_>, &[(usize, usize)])> = now
                .chunks(UNKNOWN_BATCH)
                .map(|rows| (Speaker::Unknown, rows))
                .collect();
            predict_jobs(&predictor, &mut inputs, &jobs);
        }
        bar.finish_and_clear();
        if predictor.by_speaker() {
            let unknown = inputs
                .iter()
                .filter(|i| i.speaker.is_none() && i.windows.is_ok())
                .count();
            if unknown > 0 {
                eprintln!("{}", without_speakers_warning(&predictor, unknown));
            }
            // One batch per known speaker.
            let mut by_speaker: BTreeMap<String, Vec<(usize, usize)>> = BTreeMap::new();
            for (f, w) in windows_to_predict(&inputs) {
                let speaker = inputs[f].speaker.clone().expect("the others are done");
                by_speaker.entry(speaker).or_default().push((f, w));
            }
            let jobs: Vec<(Speaker<'_>, &[(usize, usize)])> = by_speaker
                .iter()
                .map(|(s, rows)| (Speaker::Known(s.as_str()), rows.as_slice()))
                .collect();
            predict_jobs(&predictor, &mut inputs, &jobs);
        }

        let classes = &predictor.manifest.classes;
        let mut rows: Vec<Row> = Vec::new();
        for input in inputs {
            let row = |window, result| Row {
                file: input.file.clone(),
                speaker: input.speaker.clone(),
                window,
                result,
            };
            let windows = match input.windows {
                Err(e) => {
                    rows.push(row(None, Err(e)));
                    continue;
                }
                Ok(windows) => windows,
            };
            let results: Vec<((f64, f64), Result<Prediction, String>)> = windows
                .into_iter()
                .map(|w| match w.state {
                    WindowState::Done(result) => (w.range, result),
                    WindowState::Extracted(_) => unreachable!("every window is predicted"),
                })
                .collect();
            if !input.windowed {
                let (_, result) = results.into_iter().next().expect("one window");
                rows.push(row(None, result));
                continue;
            }
            let ok: Vec<&Prediction> = results
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok())
                .collect();
            let whole = match ok.is_empty() {
                true => Err(results
                    .iter()
                    .find_map(|(_, r)| r.as_ref().err().cloned())
                    .unwrap_or_else(|| "no window".into())),
                false => Ok(bundle::of_windows(&ok, classes.len(), input.duration_s)),
            };
            for (range, result) in results {
                rows.push(row(Some(range), result));
            }
            rows.push(row(None, whole));
        }

        let table = rows_table(&rows, classes, speakers.given());
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
            predictor.manifest.experiment,
            source,
            failed.len()
        );
        Ok(if failed.is_empty() { 0 } else { 1 })
    }
}

/// A window waiting for its prediction: its id and what was extracted.
fn extracted(inputs: &[FileInput], (f, w): (usize, usize)) -> (&str, &Extracted) {
    let window = &inputs[f].windows.as_ref().expect("ok: it has windows")[w];
    match &window.state {
        WindowState::Extracted(e) => (window.id.as_str(), e),
        WindowState::Done(_) => unreachable!("predicted once"),
    }
}

/// (file, window) of every window still waiting for its prediction.
fn windows_to_predict(inputs: &[FileInput]) -> impl Iterator<Item = (usize, usize)> + '_ {
    inputs.iter().enumerate().flat_map(|(f, input)| {
        input
            .windows
            .iter()
            .flatten()
            .enumerate()
            .filter(|(_, w)| matches!(w.state, WindowState::Extracted(_)))
            .map(move |(w, _)| (f, w))
    })
}

/// Predict each job's windows as one batch (jobs in parallel), and put the
/// predictions in place of what was extracted.
fn predict_jobs(
    predictor: &Predictor,
    inputs: &mut [FileInput],
    jobs: &[(Speaker<'_>, &[(usize, usize)])],
) {
    let shared: &[FileInput] = inputs;
    let results: Vec<Vec<Result<Prediction, String>>> = jobs
        .par_iter()
        .map(|(speaker, rows)| {
            let batch: Vec<(&str, &Extracted)> =
                rows.iter().map(|&row| extracted(shared, row)).collect();
            match predictor.predict(&batch, *speaker) {
                Ok(p) => p.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e); rows.len()],
            }
        })
        .collect();
    for ((_, rows), results) in jobs.iter().zip(results) {
        for (&(f, w), result) in rows.iter().zip(results) {
            let windows = inputs[f].windows.as_mut().expect("ok: it has windows");
            windows[w].state = WindowState::Done(result);
        }
    }
}

/// Recordings of unknown speakers are predicted in batches of this many
/// (batches run in parallel).
const UNKNOWN_BATCH: usize = 16;

/// The one-line warning for files of no known speaker given to a model
/// scaled by speaker, with what that cost on the exported folds' test
/// utterances when the bundle measured it.
fn without_speakers_warning(predictor: &Predictor, files: usize) -> String {
    let cost = predictor
        .manifest
        .parts
        .iter()
        .filter_map(|p| p.without_speakers.as_ref().map(|c| (p, c)))
        .map(|(p, c)| {
            format!(
                "{}: UA {:.3} -> {:.3} on {} test utterances",
                p.experiment, c.ua_with_speakers, c.ua_without_speakers, c.n_test
            )
        })
        .collect::<Vec<_>>();
    format!(
        "warning: {files} file(s) have no speaker (--speaker-of or --speakers), and {} scales \
         features by speaker: they are scaled by its training set's statistics instead; \
         expected cost: {}",
        predictor.manifest.experiment,
        match cost.is_empty() {
            true => "not measured for this bundle (see docs/predict.md)".to_string(),
            false => cost.join("; "),
        }
    )
}

/// A corpus file's utterance id by the BLAKE3 of its bytes
/// ([`CacheSource::corpus_ids`]): what seeds its test copies.
type CorpusIds = HashMap<String, String>;

/// Read, decode and extract one file (each window of it, with `windows`).
fn read_file(
    predictor: &Predictor,
    path: &Path,
    extractors: &mut anyhow::Result<Extractors>,
    windows: Option<(f64, f64)>,
    speaker: Option<String>,
    corpus_ids: Option<&CorpusIds>,
) -> FileInput {
    let file = path.display().to_string();
    let mut input = FileInput {
        file: file.clone(),
        speaker,
        windowed: windows.is_some(),
        duration_s: f64::NAN,
        windows: Err(String::new()),
    };
    let extractors = match extractors {
        Ok(e) => e,
        Err(e) => {
            input.windows = Err(format!("{e:#}"));
            return input;
        }
    };
    // What seeds the file's test copies: its corpus id when it is a file
    // of `--experiment`'s corpus, else its path as given.
    let mut recording = file.clone();
    let samples = match std::fs::read(path) {
        Err(e) => Err(format!("cannot read file: {e}")),
        Ok(bytes) => {
            if let Some(id) =
                corpus_ids.and_then(|ids| ids.get(blake3::hash(&bytes).to_hex().as_str()))
            {
                recording = id.clone();
            }
            predictor.decode(&bytes)
        }
    };
    let samples = match samples {
        Ok(s) => s,
        Err(e) => {
            input.windows = Err(e);
            return input;
        }
    };
    let rate = predictor.manifest.sample_rate;
    input.duration_s = samples.len() as f64 / f64::from(rate);
    let (segment, hop) = match windows {
        Some((s, h)) => (
            (s * f64::from(rate)).round() as usize,
            (h * f64::from(rate)).round() as usize,
        ),
        None => (samples.len(), samples.len()),
    };
    input.windows = Ok(bundle::windows(samples.len(), segment, hop)
        .into_iter()
        .map(|w| {
            let id = match windows {
                Some(_) => format!("{recording}#{}", w.start),
                None => recording.clone(),
            };
            let state = match predictor.extract(&id, &samples[w.clone()], extractors) {
                Ok(extracted) => WindowState::Extracted(extracted),
                Err(e) => WindowState::Done(Err(e)),
            };
            Window {
                id,
                range: (
                    w.start as f64 / f64::from(rate),
                    w.end as f64 / f64::from(rate),
                ),
                state,
            }
        })
        .collect());
    input
}

/// Whose each file is: `--speaker-of REGEX` (the first capture group of
/// the path, or the whole match) or `--speakers CSV` (`file,speaker` rows;
/// a file matches by its path as given or by its name).
struct SpeakerOf {
    pattern: Option<regex::Regex>,
    table: BTreeMap<String, String>,
}

impl SpeakerOf {
    fn new(pattern: Option<&str>, csv_path: Option<&Path>) -> anyhow::Result<SpeakerOf> {
        let pattern = pattern
            .map(|p| regex::Regex::new(p).map_err(|e| anyhow::anyhow!("--speaker-of {p:?}: {e}")))
            .transpose()?;
        let mut table = BTreeMap::new();
        if let Some(path) = csv_path {
            let mut reader = csv::Reader::from_path(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let headers = reader.headers()?.clone();
            let column = |name: &str| {
                headers.iter().position(|h| h == name).ok_or_else(|| {
                    anyhow::anyhow!("{}: no column {name} (need file,speaker)", path.display())
                })
            };
            let (file, speaker) = (column("file")?, column("speaker")?);
            for (line, record) in reader.records().enumerate() {
                let record = record.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                let get = |i: usize| record.get(i).unwrap_or_default().to_string();
                anyhow::ensure!(
                    !get(speaker).is_empty(),
                    "{} row {}: no speaker for {}",
                    path.display(),
                    line + 2,
                    get(file)
                );
                table.insert(get(file), get(speaker));
            }
        }
        Ok(SpeakerOf { pattern, table })
    }

    fn given(&self) -> bool {
        self.pattern.is_some() || !self.table.is_empty()
    }

    fn of(&self, path: &Path) -> Option<String> {
        let text = path.display().to_string();
        let name = path.file_name().map(|n| n.to_string_lossy().to_string());
        if let Some(s) = self
            .table
            .get(&text)
            .or_else(|| name.and_then(|n| self.table.get(&n)))
        {
            return Some(s.clone());
        }
        let captures = self.pattern.as_ref()?.captures(&text)?;
        captures
            .get(1)
            .or_else(|| captures.get(0))
            .map(|m| m.as_str().to_string())
    }
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

/// The rows as a table: file, (speaker, when given,) (start_s, end_s: the window, empty on a
/// file's row,) duration_s, predicted, p_<class>..., error.
fn rows_table(rows: &[Row], classes: &[String], with_speakers: bool) -> Table {
    let ok = |r: &Row| r.result.as_ref().ok().cloned();
    let mut table = Table::new().strings("file", rows.iter().map(|r| r.file.as_str()));
    if with_speakers {
        table = table.with(
            "speaker",
            ColumnData::Utf8(rows.iter().map(|r| r.speaker.clone()).collect()),
        );
    }
    if rows.iter().any(|r| r.window.is_some()) {
        let edge = |f: fn((f64, f64)) -> f64| -> ColumnData {
            ColumnData::Float64(rows.iter().map(|r| r.window.map_or(f64::NAN, f)).collect())
        };
        table = table
            .with("start_s", edge(|w| w.0))
            .with("end_s", edge(|w| w.1));
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
