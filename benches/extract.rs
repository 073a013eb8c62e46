//! Feature-extraction benchmark: `ser extract` against librosa on the full
//! RAVDESS corpus (1440 FLAC files, `../shared/corpora/ravdess/Actor_*/`).
//!
//! Both sides do the same work per file: decode, resample to 16 kHz mono,
//! compute the 129 frame-level descriptors of the acoustic set (log-mel,
//! MFCC, chroma, spectral contrast, centroid, bandwidth, roll-off, flatness,
//! ZCR, RMS) and reduce them to 645 functionals (mean, std, min, max, range),
//! one Parquet row per file with a `file` column (the file stem).
//!
//! Measured, each in its own child process, with the child's own wall time
//! and peak resident set size (`ru_maxrss` from `wait4`):
//!
//! 1. `ser extract --set acoustic --out OUT.parquet FILE...` (the release
//!    binary) with all threads, and again with `--threads 1`;
//! 2. ser with all threads on a quarter of the corpus (every 4th file, 360),
//!    to show whether peak memory grows with the number of files;
//! 3. `benches/librosa_acoustic.py OUT.parquet FILE...`: one Python process
//!    running librosa (`librosa.load(sr=16000, res_type="soxr_hq")`) and the
//!    `acoustic_lld` / `functionals` of `../shared/tools/make_reference.py`.
//!
//! It prints the wall times, the speed-ups librosa / ser against the targets
//! (at least 20x with all threads, 10x with one thread; librosa timed by its
//! own work loop, ser by its whole process; whole-process ratios beside
//! them), the peak RSS of
//! every run, and how far ser's table is from librosa's (rows, columns and
//! the largest relative difference of the functionals).
//!
//! Run with `cargo bench --bench extract`. The librosa side needs Python 3
//! with librosa, soxr, soundfile, opensmile, pandas and pyarrow: install them
//! with `scripts/bench-deps.sh` (the interpreter is `$PYTHON`, default
//! `python3`). The librosa run takes minutes; on a fresh machine its first
//! run also pays numba's one-off compilation (cached on disk afterwards).
//! Peak RSS is read from `wait4`, so the benchmark is for Linux.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type};
use arrow_array::{Array, RecordBatch, RecordBatchReader};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Required speed-up of ser over librosa, all threads.
const TARGET_ALL_THREADS: f64 = 20.0;
/// Required speed-up of ser over librosa, `--threads 1`.
const TARGET_ONE_THREAD: f64 = 10.0;
/// Python modules the librosa side imports.
mod common;
use common::{corpus, fail};

const PYTHON_MODULES: &str = "librosa, soxr, soundfile, opensmile, pandas, pyarrow";

fn main() {
    // `cargo bench` passes --bench; nothing else is configurable.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = corpus(&root.join("../shared/corpora/ravdess"));
    let python = common::python(PYTHON_MODULES, "librosa");
    check_ser_extract();
    let bytes = warm_page_cache(&files);
    let quarter: Vec<PathBuf> = files.iter().step_by(4).cloned().collect();
    let threads = thread::available_parallelism().map_or(1, |n| n.get());
    let out = tempfile::tempdir().expect("temporary output folder");

    println!(
        "ser extract benchmark: acoustic set, RAVDESS {} files ({:.1} MB of FLAC), {threads} threads available",
        files.len(),
        bytes as f64 / 1e6
    );

    let ser_all = run_ser(&files, &out.path().join("ser_all.parquet"), None);
    report("ser, all threads", &ser_all, files.len());
    let ser_one = run_ser(&files, &out.path().join("ser_one.parquet"), Some(1));
    report("ser, 1 thread", &ser_one, files.len());
    let ser_quarter = run_ser(&quarter, &out.path().join("ser_quarter.parquet"), None);
    report("ser, all threads", &ser_quarter, quarter.len());

    println!(
        "running librosa on {} files in one Python process (minutes)...",
        files.len()
    );
    let librosa_out = out.path().join("librosa.parquet");
    let librosa = run_librosa(
        &python,
        &root.join("benches/librosa_acoustic.py"),
        &files,
        &librosa_out,
    );
    report("librosa, 1 process", &librosa, files.len());
    if let Some(line) = summary_line(&librosa) {
        println!("    ({line})");
    }

    // librosa is timed by its own work loop (its script times the loop
    // over files, without the interpreter's start, imports and numba's
    // compilation); ser by its whole process, start included, which only
    // tilts the ratio against ser.
    let librosa_loop = summary_line(&librosa)
        .and_then(|l| l.split("work loop ").nth(1))
        .and_then(|t| t.trim_end_matches(" s").trim().parse::<f64>().ok())
        .unwrap_or_else(|| fail("librosa_acoustic.py printed no work-loop time"));
    println!();
    println!(
        "speed-up, librosa's work loop ({librosa_loop:.3} s of its {:.3} s process) / ser's whole process:",
        librosa.wall_s
    );
    speedup(
        "all threads",
        librosa_loop,
        ser_all.wall_s,
        TARGET_ALL_THREADS,
    );
    speedup("1 thread", librosa_loop, ser_one.wall_s, TARGET_ONE_THREAD);
    println!(
        "  (whole processes, librosa's start-up and imports included: {:.1}x all threads, {:.1}x 1 thread)",
        librosa.wall_s / ser_all.wall_s,
        librosa.wall_s / ser_one.wall_s
    );

    // The floor under ser's time: decoding (symphonia) and resampling
    // (libsoxr, the resampler librosa uses too) with no feature at all.
    // Whatever the features cost, ser can't beat librosa by more than
    // librosa's time over this.
    println!("decode + resample alone (ser_ingest::load_signal, in this process, no features):");
    for (label, n_threads, target) in [
        ("all threads", threads, TARGET_ALL_THREADS),
        ("1 thread", 1, TARGET_ONE_THREAD),
    ] {
        let load_s = decode_and_resample(&files, n_threads);
        let budget = librosa_loop / target;
        println!(
            "  {label:<12} {load_s:6.3} s: at most {:5.1}x librosa's loop with free features; \
             the {target:.0}x budget is {budget:.3} s, of which this is {:.0}%",
            librosa_loop / load_s,
            100.0 * load_s / budget
        );
    }

    let mut load_only = Command::new(&python);
    load_only
        .arg(root.join("benches/librosa_acoustic.py"))
        .arg("--load-only")
        .args(&files);
    let librosa_load = measure(&mut load_only, "benches/librosa_acoustic.py --load-only");
    if let Some(line) = summary_line(&librosa_load) {
        println!("  librosa's own decode + resample (librosa.load, libsndfile + soxr_hq): {line}");
    }

    println!("peak RSS:");
    println!(
        "  ser, all threads,  {:4} files  {:>9}",
        quarter.len(),
        mib(ser_quarter.peak_rss)
    );
    println!(
        "  ser, all threads,  {:4} files  {:>9}   ({:.2}x the {}-file peak for {:.0}x the files)",
        files.len(),
        mib(ser_all.peak_rss),
        ser_all.peak_rss as f64 / ser_quarter.peak_rss as f64,
        quarter.len(),
        files.len() as f64 / quarter.len() as f64
    );
    println!(
        "  ser, 1 thread,      {:4} files  {:>9}",
        files.len(),
        mib(ser_one.peak_rss)
    );
    println!(
        "  librosa,            {:4} files  {:>9}",
        files.len(),
        mib(librosa.peak_rss)
    );

    println!("output, ser (all threads) against librosa:");
    compare(&out.path().join("ser_all.parquet"), &librosa_out);
    compare_same(
        "ser 1 thread against ser all threads",
        &out.path().join("ser_one.parquet"),
        &out.path().join("ser_all.parquet"),
    );
}

/// Seconds to decode and resample every file to 16 kHz on `threads`
/// threads (files already in the page cache, read inside the timing as ser
/// extract reads them).
fn decode_and_resample(files: &[PathBuf], threads: usize) -> f64 {
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    let started = Instant::now();
    let samples: usize = pool.install(|| {
        files
            .par_iter()
            .map(|f| {
                let bytes = std::fs::read(f).expect("read corpus file");
                ser_ingest::load_signal(&bytes, 16000)
                    .unwrap_or_else(|e| fail(&format!("{}: {e}", f.display())))
                    .samples
                    .len()
            })
            .sum()
    });
    let elapsed = started.elapsed().as_secs_f64();
    assert!(samples > 0);
    elapsed
}

/// Ends the benchmark early, with a clear message, when the binary has no
/// `extract` subcommand.
fn check_ser_extract() {
    let out = Command::new(env!("CARGO_BIN_EXE_ser"))
        .args(["extract", "--help"])
        .output()
        .expect("run ser");
    if !out.status.success() {
        fail(&format!(
            "`ser extract --help` failed; this build of ser has no working extract command:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
}

/// Reads every file once so that neither side pays for cold disk reads;
/// returns the corpus size in bytes.
fn warm_page_cache(files: &[PathBuf]) -> u64 {
    let mut buf = Vec::new();
    let mut total = 0;
    for f in files {
        buf.clear();
        File::open(f)
            .and_then(|mut h| h.read_to_end(&mut buf))
            .expect("read corpus file");
        total += buf.len() as u64;
    }
    total
}

/// One finished child process.
struct Run {
    /// Wall time from spawn to reaping the child, in seconds.
    wall_s: f64,
    /// The child's own peak resident set size (`ru_maxrss`), in bytes.
    peak_rss: u64,
    stdout: String,
}

/// Runs `cmd` to completion and measures it. The child is reaped with
/// `wait4`, whose `rusage` is the child's own (its `ru_maxrss` is its peak
/// RSS, or that of a descendant it waited for if larger, never a sum).
/// Ends the benchmark if the child fails.
#[allow(clippy::zombie_processes)] // reaped by `wait4` below, not `Child::wait`
fn measure(cmd: &mut Command, what: &str) -> Run {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| fail(&format!("cannot start {what}: {e}")));
    // Drain both pipes while the child runs, so it never blocks on a full one.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let (status, usage) = wait4(child.id());
    let wall_s = started.elapsed().as_secs_f64();
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    if !status.success() {
        fail(&format!("{what} failed ({status}):\n{stderr}{stdout}"));
    }
    // Linux reports ru_maxrss in KiB (macOS in bytes).
    let unit = if cfg!(target_os = "macos") { 1 } else { 1024 };
    Run {
        wall_s,
        peak_rss: usage.ru_maxrss as u64 * unit,
        stdout,
    }
}

/// Blocks until child `pid` exits and reaps it, returning its exit status and
/// resource usage. The `std::process::Child` must not be waited on after.
fn wait4(pid: u32) -> (ExitStatus, libc::rusage) {
    let pid = pid as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live locals of the right types.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            return (ExitStatus::from_raw(status), usage);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            fail(&format!("wait4 on child {pid}: {err}"));
        }
    }
}

/// `ser extract --set acoustic --out OUT FILE...`, with all threads or with
/// `--threads` set to `threads`.
fn run_ser(files: &[PathBuf], out: &Path, threads: Option<usize>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ser"));
    if let Some(n) = threads {
        cmd.args(["--threads", &n.to_string()]);
    }
    cmd.args(["extract", "--set", "acoustic", "--out"])
        .arg(out)
        .args(files);
    cmd.env("SER_NO_PROGRESS", "1")
        .env_remove("SER_THREADS")
        .env_remove("RAYON_NUM_THREADS");
    measure(&mut cmd, "ser extract")
}

/// `PYTHON benches/librosa_acoustic.py OUT FILE...`.
fn run_librosa(python: &Path, script: &Path, files: &[PathBuf], out: &Path) -> Run {
    let mut cmd = Command::new(python);
    cmd.arg(script).arg(out).args(files);
    measure(&mut cmd, "benches/librosa_acoustic.py")
}

/// The last `librosa_acoustic: ...` line the script printed (its own
/// timing of its loop).
fn summary_line(run: &Run) -> Option<&str> {
    run.stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("librosa_acoustic:"))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn report(what: &str, run: &Run, files: usize) {
    println!(
        "{what:<20} {files:4} files  {:9.3} s  {:8.2} ms/file  peak RSS {:>9}",
        run.wall_s,
        run.wall_s * 1e3 / files as f64,
        mib(run.peak_rss)
    );
}

fn speedup(what: &str, librosa_s: f64, ser_s: f64, target: f64) {
    let ratio = librosa_s / ser_s;
    println!(
        "  {what:<12} {librosa_s:9.3} s / {ser_s:8.3} s = {ratio:7.1}x   (target >= {target:.0}x: {})",
        if ratio >= target { "met" } else { "MISSED" }
    );
}

/// A functionals table: column names (without `file`) and, per file stem,
/// the values in that column order.
struct Table {
    columns: Vec<String>,
    rows: HashMap<String, Vec<f64>>,
    n_rows: usize,
}

fn read_table(path: &Path) -> Result<Table, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let schema = reader.schema();
    let file_col = schema
        .index_of("file")
        .map_err(|_| format!("{}: no `file` column", path.display()))?;
    let value_cols: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| i != file_col)
        .collect();
    let columns = value_cols
        .iter()
        .map(|&i| schema.field(i).name().clone())
        .collect();
    let mut rows = HashMap::new();
    let mut n_rows = 0;
    for batch in reader {
        let batch: RecordBatch = batch.map_err(|e| format!("{}: {e}", path.display()))?;
        let names = strings(batch.column(file_col).as_ref())?;
        let values: Vec<Vec<f64>> = value_cols
            .iter()
            .map(|&i| floats(batch.column(i).as_ref(), schema.field(i).name()))
            .collect::<Result<_, _>>()?;
        for (r, name) in names.into_iter().enumerate() {
            rows.insert(name, values.iter().map(|col| col[r]).collect());
        }
        n_rows += batch.num_rows();
    }
    Ok(Table {
        columns,
        rows,
        n_rows,
    })
}

fn strings(array: &dyn Array) -> Result<Vec<String>, String> {
    let out: Vec<Option<&str>> = match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().iter().collect(),
        DataType::LargeUtf8 => array.as_string::<i64>().iter().collect(),
        DataType::Utf8View => array.as_string_view().iter().collect(),
        other => return Err(format!("`file` column is {other}, not a string")),
    };
    Ok(out
        .into_iter()
        .map(|s| s.unwrap_or_default().to_owned())
        .collect())
}

fn floats(array: &dyn Array, name: &str) -> Result<Vec<f64>, String> {
    match array.data_type() {
        DataType::Float64 => Ok(array
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect()),
        DataType::Float32 => Ok(array
            .as_primitive::<Float32Type>()
            .iter()
            .map(|v| v.map_or(f64::NAN, f64::from))
            .collect()),
        other => Err(format!("column {name} is {other}, not a float")),
    }
}

/// The largest difference between two tables over their common rows and
/// columns, with where it is.
#[derive(Default)]
struct Worst {
    value: f64,
    column: String,
    file: String,
    a: f64,
    b: f64,
}

impl Worst {
    fn update(&mut self, value: f64, column: &str, file: &str, a: f64, b: f64) {
        if value > self.value || (value.is_nan() && !self.value.is_nan()) {
            *self = Worst {
                value,
                column: column.into(),
                file: file.into(),
                a,
                b,
            };
        }
    }
}

/// Prints how far ser's functionals (`a`) are from librosa's (`b`): row and
/// column agreement, the largest relative difference |a-b| / max(|a|,|b|),
/// and the largest difference relative to the column's largest librosa
/// magnitude (which does not blow up for values near zero).
fn compare(a_path: &Path, b_path: &Path) {
    let (a, b) = match (read_table(a_path), read_table(b_path)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return println!("  cannot compare: {e}"),
    };
    println!(
        "  rows     ser {:5}   librosa {:5}   same files: {}",
        a.n_rows,
        b.n_rows,
        same_keys(&a, &b)
    );
    let missing: Vec<&str> = b
        .columns
        .iter()
        .filter(|c| !a.columns.contains(c))
        .map(String::as_str)
        .collect();
    let extra: Vec<&str> = a
        .columns
        .iter()
        .filter(|c| !b.columns.contains(c))
        .map(String::as_str)
        .collect();
    println!(
        "  columns  ser {:5}   librosa {:5}   same names: {}",
        a.columns.len(),
        b.columns.len(),
        if missing.is_empty() && extra.is_empty() {
            "yes".to_string()
        } else {
            "no".to_string()
        }
    );
    if !missing.is_empty() {
        println!("    not in ser: {}", abbreviate(&missing));
    }
    if !extra.is_empty() {
        println!("    only in ser: {}", abbreviate(&extra));
    }

    // Column pairs by name, and each librosa column's largest magnitude.
    let pairs: Vec<(usize, usize)> = a
        .columns
        .iter()
        .enumerate()
        .filter_map(|(i, c)| b.columns.iter().position(|d| d == c).map(|j| (i, j)))
        .collect();
    let mut scale = vec![0.0_f64; b.columns.len()];
    for row in b.rows.values() {
        for (s, v) in scale.iter_mut().zip(row) {
            *s = s.max(v.abs());
        }
    }
    let (mut rel, mut scaled) = (Worst::default(), Worst::default());
    let (mut values, mut over_1e3, mut over_1e2) = (0usize, 0usize, 0usize);
    for (file, ra) in &a.rows {
        let Some(rb) = b.rows.get(file) else { continue };
        for &(i, j) in &pairs {
            let (x, y) = (ra[i], rb[j]);
            let col = &a.columns[i];
            let r = if x == y {
                0.0
            } else {
                (x - y).abs() / x.abs().max(y.abs())
            };
            let s = if x == y {
                0.0
            } else {
                (x - y).abs() / scale[j].max(f64::MIN_POSITIVE)
            };
            rel.update(r, col, file, x, y);
            scaled.update(s, col, file, x, y);
            values += 1;
            over_1e3 += usize::from(r.is_nan() || r > 1e-3);
            over_1e2 += usize::from(r.is_nan() || r > 1e-2);
        }
    }
    if values == 0 {
        return println!("  no common values to compare");
    }
    println!(
        "  {values} values compared; relative difference > 1e-3: {over_1e3}, > 1e-2: {over_1e2}"
    );
    println!(
        "  max relative difference |a-b|/max(|a|,|b|): {:.3e}  ({} of {}: ser {:.6e}, librosa {:.6e})",
        rel.value, rel.column, rel.file, rel.a, rel.b
    );
    println!(
        "  max difference / column's max |librosa|:    {:.3e}  ({} of {}: ser {:.6e}, librosa {:.6e})",
        scaled.value, scaled.column, scaled.file, scaled.a, scaled.b
    );
}

/// Whether two runs of ser wrote the same table (threads must not change the
/// numbers beyond summation order).
fn compare_same(what: &str, a_path: &Path, b_path: &Path) {
    let (a, b) = match (read_table(a_path), read_table(b_path)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return println!("  {what}: cannot compare: {e}"),
    };
    if a.columns != b.columns || !same_keys(&a, &b) {
        return println!("  {what}: different rows or columns");
    }
    let mut worst = 0.0_f64;
    for (file, ra) in &a.rows {
        for (x, y) in ra.iter().zip(&b.rows[file]) {
            if x != y {
                worst = worst.max((x - y).abs() / x.abs().max(y.abs()));
            }
        }
    }
    println!("  {what}: max relative difference {worst:.3e}");
}

fn same_keys(a: &Table, b: &Table) -> bool {
    a.rows.len() == b.rows.len() && a.rows.keys().all(|k| b.rows.contains_key(k))
}

fn abbreviate(names: &[&str]) -> String {
    let shown = names.iter().take(8).copied().collect::<Vec<_>>().join(", ");
    if names.len() > 8 {
        format!("{shown}, ... ({} in all)", names.len())
    } else {
        shown
    }
}
