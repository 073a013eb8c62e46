//! eGeMAPS benchmark: ser's `egemaps` functionals against openSMILE's Python
//! wrapper on the full RAVDESS corpus (1440 FLAC files,
//! `../shared/corpora/ravdess/Actor_*/`), both fed the same 16 kHz signals.
//!
//! 1. Every file is decoded and resampled to 16 kHz mono once, with
//!    `ser_ingest::load_signal` (not timed against openSMILE), and written to
//!    a temporary folder as one float32 file (`signals.f32`) plus an index
//!    (`index.tsv`: stem, offset, length).
//! 2. ser: `Extractor::functionals` of the `egemaps` feature set (88
//!    functionals, as `ser extract` computes them when no model reads the
//!    frames: the LLD pass without the formants of unvoiced frames) over
//!    all signals with rayon across files, (a) on the global pool (all
//!    threads) and (b) on a one-thread pool, in this process. Each is
//!    preceded by a warm-up call; peak RSS is read from `/proc/self/status`
//!    (`VmHWM`, reset before each run through `/proc/self/clear_refs`).
//! 3. openSMILE: `benches/opensmile_egemaps.py` runs
//!    `opensmile.Smile(eGeMAPSv02, Functionals).process_signal(x, 16000)`
//!    over the same signals, (c) in one process and (d) in a pool of two
//!    processes; only its processing loop is timed (after loading and a
//!    warm-up call).
//!
//! It prints the wall times, the speed-ups openSMILE / ser against the
//! targets (at least 10x with all threads, 5x with one thread), and a
//! sanity check of ser's functionals against openSMILE's (same column names
//! and order, and how close the values are, per file and per column).
//!
//! Run with `cargo bench --bench gemaps`. The openSMILE side needs Python 3
//! with opensmile and numpy (`scripts/bench-deps.sh`; the interpreter is
//! `$PYTHON`, default `python3`). Linux only (`/proc`). With
//! `GEMAPS_BENCH_SER_ONLY=1` only ser's two runs are made (for profiling).

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use rayon::prelude::*;
use ser_extract::{ExtractParams, Extractor, feature_set};

/// Required speed-up of ser (all threads) over openSMILE (one process).
const TARGET_ALL_THREADS: f64 = 10.0;
/// Required speed-up of ser (one thread) over openSMILE (one process).
const TARGET_ONE_THREAD: f64 = 5.0;
const SR: u32 = 16000;
/// Python modules the openSMILE side imports.
mod common;
use common::{corpus, fail};

const PYTHON_MODULES: &str = "opensmile, numpy";
/// Files whose functionals the sanity check prints one by one.
const SHOWN_FILES: usize = 3;

fn main() {
    // `cargo bench` passes --bench; nothing else is configurable.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = corpus(&root.join("../shared/corpora/ravdess"));
    let python = common::python(PYTHON_MODULES, "openSMILE");
    let threads = rayon::current_num_threads();
    println!(
        "gemaps benchmark: eGeMAPSv02 functionals, RAVDESS {} files, {threads} threads, load average {}",
        files.len(),
        loadavg()
    );

    // 1. Decode + resample once; both sides read these signals.
    let started = Instant::now();
    let signals: Vec<(String, Vec<f32>)> = files
        .par_iter()
        .map(|path| {
            let bytes = std::fs::read(path).expect("read corpus file");
            let signal = ser_ingest::load_signal(&bytes, SR)
                .unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, signal.samples)
        })
        .collect();
    let decode_s = started.elapsed().as_secs_f64();
    let samples: usize = signals.iter().map(|(_, s)| s.len()).sum();
    let audio_s = samples as f64 / SR as f64;
    let dir = tempfile::tempdir().expect("temporary folder");
    write_signals(dir.path(), &signals);
    println!(
        "decoded + resampled to 16 kHz once (ser_ingest::load_signal, {threads} threads): {decode_s:.2} s, \
         {audio_s:.0} s of audio ({:.2} s per file), written to one float32 file",
        audio_s / files.len() as f64
    );
    let signals_mib = samples as f64 * 4.0 / (1024.0 * 1024.0);

    // 2. ser, all threads then one thread, in this process.
    let set = feature_set("egemaps").expect("registered feature set");
    let names = Extractor::new(SR, &ExtractParams::default(), set.descriptors)
        .expect("egemaps extractor")
        .functional_names();
    let ser_all = run_ser(&signals, None);
    let ser_one = run_ser(&signals, Some(1));
    let threads_agree = ser_all.values == ser_one.values;
    if std::env::var_os("GEMAPS_BENCH_SER_ONLY").is_some() {
        // For profiling ser alone (e.g. under `perf record`).
        for (what, run) in [("all threads", &ser_all), ("1 thread", &ser_one)] {
            println!(
                "ser, {what}: {:.3} s, peak RSS {}",
                run.wall_s,
                mib(run.peak_rss)
            );
        }
        return;
    }

    // 3. openSMILE, one process then a pool of two.
    println!("running openSMILE (Python) on the same signals, 1 process then 2 (minutes)...");
    let script = root.join("benches/opensmile_egemaps.py");
    let smile_json = dir.path().join("opensmile.json");
    let smile_one = run_opensmile(&python, &script, dir.path(), 1, Some(&smile_json));
    let smile_two = run_opensmile(&python, &script, dir.path(), 2, None);

    println!();
    println!(
        "{:<28} {:>9} {:>10} {:>11} {:>12}",
        "run (same 16 kHz signals)", "wall s", "ms/file", "x realtime", "peak RSS"
    );
    let row = |what: &str, wall: f64, rss: String| {
        println!(
            "{what:<28} {wall:9.3} {:10.2} {:11.0} {rss:>12}",
            wall * 1e3 / files.len() as f64,
            audio_s / wall
        )
    };
    row(
        &format!("ser, all threads ({threads})"),
        ser_all.wall_s,
        mib(ser_all.peak_rss),
    );
    row("ser, 1 thread", ser_one.wall_s, mib(ser_one.peak_rss));
    row(
        "openSMILE, 1 process",
        smile_one.loop_s,
        mib(smile_one.peak_rss),
    );
    row(
        "openSMILE, 2 processes",
        smile_two.loop_s,
        format!("{} *", mib(smile_two.peak_rss)),
    );
    println!(
        "  peak RSS: ser's is this process's VmHWM during the run, {signals_mib:.0} MiB of it the \
         signals held in memory (baseline before the runs {}); openSMILE's is ru_maxrss, \
         signals included; * largest single process of the pool",
        mib(ser_all.baseline_rss)
    );

    println!();
    println!("speed-up, openSMILE wall time / ser wall time:");
    speedup(
        "ser all threads vs openSMILE 1 process",
        smile_one.loop_s,
        ser_all.wall_s,
        Some(TARGET_ALL_THREADS),
    );
    speedup(
        "ser 1 thread    vs openSMILE 1 process",
        smile_one.loop_s,
        ser_one.wall_s,
        Some(TARGET_ONE_THREAD),
    );
    speedup(
        "ser all threads vs openSMILE 2 processes",
        smile_two.loop_s,
        ser_all.wall_s,
        None,
    );
    println!("load average at the end: {}", loadavg());

    println!();
    println!("sanity check, ser's functionals against openSMILE's:");
    println!(
        "  ser all threads and ser 1 thread give {}",
        if threads_agree {
            "identical values"
        } else {
            "DIFFERENT values"
        }
    );
    sanity(&names, &signals, &ser_all.values, &smile_json);
}

/// `/proc/loadavg`'s three load averages.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// `signals.f32` (all signals back to back, float32 little-endian) and
/// `index.tsv` (stem, offset, length in samples).
fn write_signals(dir: &Path, signals: &[(String, Vec<f32>)]) {
    let mut data = BufWriter::new(File::create(dir.join("signals.f32")).expect("signals.f32"));
    let mut index = BufWriter::new(File::create(dir.join("index.tsv")).expect("index.tsv"));
    let mut offset = 0;
    for (stem, samples) in signals {
        for v in samples {
            data.write_all(&v.to_le_bytes()).expect("write signals.f32");
        }
        writeln!(index, "{stem}\t{offset}\t{}", samples.len()).expect("write index.tsv");
        offset += samples.len();
    }
    data.flush().expect("write signals.f32");
    index.flush().expect("write index.tsv");
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn proc_status(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// Resets this process's peak RSS (`VmHWM`) to its current RSS (Linux 4.0+).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

struct SerRun {
    wall_s: f64,
    /// `VmHWM` during the run (the signals included).
    peak_rss: u64,
    /// `VmRSS` just before the run.
    baseline_rss: u64,
    values: Vec<Vec<f32>>,
}

/// `Extractor::functionals` of the `egemaps` set over every signal, rayon
/// across files, one extractor per rayon job split; on the global pool, or
/// on a pool of `threads` threads.
fn run_ser(signals: &[(String, Vec<f32>)], threads: Option<usize>) -> SerRun {
    let set = feature_set("egemaps").expect("registered feature set");
    let new_extractor = || {
        Extractor::new(SR, &ExtractParams::default(), set.descriptors).expect("egemaps extractor")
    };
    let work = || {
        // Warm-up: one file, outside the clock.
        new_extractor()
            .functionals(&signals[0].1)
            .expect("egemaps functionals");
        reset_peak_rss();
        let baseline_rss = proc_status("VmRSS");
        let started = Instant::now();
        let values: Vec<Vec<f32>> = signals
            .par_iter()
            .map_init(new_extractor, |ex, (stem, x)| {
                ex.functionals(x)
                    .unwrap_or_else(|e| fail(&format!("ser egemaps on {stem}: {e}")))
            })
            .collect();
        let wall_s = started.elapsed().as_secs_f64();
        SerRun {
            wall_s,
            peak_rss: proc_status("VmHWM"),
            baseline_rss,
            values,
        }
    };
    match threads {
        None => work(),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .expect("rayon pool")
            .install(work),
    }
}

struct SmileRun {
    loop_s: f64,
    peak_rss: u64,
}

/// `PYTHON benches/opensmile_egemaps.py DIR --workers N [--out JSON]`.
fn run_opensmile(
    python: &Path,
    script: &Path,
    dir: &Path,
    workers: usize,
    out: Option<&Path>,
) -> SmileRun {
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .arg(dir)
        .args(["--workers", &workers.to_string()]);
    if let Some(out) = out {
        cmd.arg("--out").arg(out);
    }
    cmd.stdin(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("cannot start {}: {e}", script.display())));
    let mut stderr = String::new();
    let mut stderr_pipe = child.stderr.take().expect("piped stderr");
    let drain = std::thread::spawn(move || {
        let _ = stderr_pipe.read_to_string(&mut stderr);
        stderr
    });
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_string(&mut stdout)
        .expect("read openSMILE output");
    let status = child.wait().expect("wait for openSMILE");
    let stderr = drain.join().expect("stderr reader");
    if !status.success() {
        fail(&format!(
            "opensmile_egemaps.py --workers {workers} failed ({status}):\n{stderr}{stdout}"
        ));
    }
    let summary: serde_json::Value = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("opensmile_egemaps: "))
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_else(|| {
            fail(&format!(
                "no summary line from opensmile_egemaps.py:\n{stdout}"
            ))
        });
    SmileRun {
        loop_s: summary["loop_s"].as_f64().expect("loop_s"),
        peak_rss: summary["peak_rss"].as_u64().unwrap_or(0),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn speedup(what: &str, smile_s: f64, ser_s: f64, target: Option<f64>) {
    let ratio = smile_s / ser_s;
    let verdict = match target {
        Some(t) => format!(
            "target >= {t:.0}x: {}",
            if ratio >= t { "met" } else { "MISSED" }
        ),
        None => "like-for-like parallelism, no target".into(),
    };
    println!("  {what}  {smile_s:8.3} s / {ser_s:7.3} s = {ratio:6.1}x   ({verdict})");
}

/// |a-b| / max(|a|,|b|), 0 when equal.
fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / a.abs().max(b.abs())
    }
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    (v[(n - 1) / 2] + v[n / 2]) / 2.0
}

/// Column names and order against openSMILE's; per file (a few shown) and
/// per column, how close ser's values are to openSMILE's.
fn sanity(names: &[String], signals: &[(String, Vec<f32>)], ser: &[Vec<f32>], smile_json: &Path) {
    let smile: serde_json::Value = File::open(smile_json)
        .ok()
        .and_then(|f| serde_json::from_reader(std::io::BufReader::new(f)).ok())
        .unwrap_or_else(|| fail(&format!("cannot read {}", smile_json.display())));
    let columns: Vec<String> = smile["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c.as_str().unwrap_or_default().to_string())
        .collect();
    let files: Vec<&str> = smile["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f.as_str().unwrap_or_default())
        .collect();
    let theirs: Vec<Vec<f64>> = smile["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("row")
                .iter()
                .map(|v| v.as_f64().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    let same_names = columns == names;
    println!(
        "  columns: ser {}, openSMILE {}, same names in the same order: {}",
        names.len(),
        columns.len(),
        if same_names { "yes" } else { "NO" }
    );
    if !same_names {
        for (i, (a, b)) in names.iter().zip(&columns).enumerate() {
            if a != b {
                println!("    first difference at {i}: ser {a}, openSMILE {b}");
                break;
            }
        }
        return;
    }
    let same_files =
        files.len() == signals.len() && files.iter().zip(signals).all(|(f, s)| *f == s.0);
    if !same_files {
        return println!("  openSMILE's rows are not the same files in the same order");
    }
    let ours: Vec<Vec<f64>> = ser
        .iter()
        .map(|r| r.iter().map(|&v| v as f64).collect())
        .collect();

    // A few files, spread over the corpus.
    let step = (signals.len() / SHOWN_FILES).max(1);
    for i in (0..signals.len()).step_by(step).take(SHOWN_FILES) {
        let r: Vec<f64> = ours[i]
            .iter()
            .zip(&theirs[i])
            .map(|(&a, &b)| rel(a, b))
            .collect();
        let within = |t: f64| r.iter().filter(|&&x| x <= t).count();
        let worst = (0..r.len()).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap();
        println!(
            "  {}: {} values, relative difference median {:.1e}, <= 1%: {}, <= 10%: {}; worst {} (ser {:.5}, openSMILE {:.5})",
            signals[i].0,
            r.len(),
            median(r.clone()),
            within(0.01),
            within(0.1),
            names[worst],
            ours[i][worst],
            theirs[i][worst]
        );
    }

    // Every file: per-column median relative difference and correlation.
    let mut per_col: Vec<(f64, f64, &str)> = (0..names.len())
        .map(|j| {
            let a: Vec<f64> = ours.iter().map(|r| r[j]).collect();
            let b: Vec<f64> = theirs.iter().map(|r| r[j]).collect();
            let med = median(a.iter().zip(&b).map(|(&x, &y)| rel(x, y)).collect());
            (med, pearson(&a, &b), names[j].as_str())
        })
        .collect();
    let all: Vec<f64> = ours
        .iter()
        .zip(&theirs)
        .flat_map(|(a, b)| a.iter().zip(b).map(|(&x, &y)| rel(x, y)))
        .collect();
    let n = all.len();
    let share = |t: f64| 100.0 * all.iter().filter(|&&x| x <= t).count() as f64 / n as f64;
    println!(
        "  all {} files x {} columns: relative difference <= 1%: {:.1}% of values, <= 5%: {:.1}%, <= 10%: {:.1}%",
        signals.len(),
        names.len(),
        share(0.01),
        share(0.05),
        share(0.1)
    );
    let rs: Vec<f64> = per_col.iter().map(|c| c.1).collect();
    println!(
        "  per column over all files: Pearson r median {:.4}, {} of {} columns with r >= 0.95; median relative difference per column, median {:.1e}",
        median(rs.clone()),
        rs.iter().filter(|&&r| r >= 0.95).count(),
        rs.len(),
        median(per_col.iter().map(|c| c.0).collect())
    );
    per_col.sort_by(|x, y| y.0.total_cmp(&x.0));
    println!("  columns furthest from openSMILE (median relative difference, Pearson r):");
    for (med, r, name) in per_col.iter().take(5) {
        println!("    {name:<44} {med:9.2e}  r {r:.4}");
    }
}
