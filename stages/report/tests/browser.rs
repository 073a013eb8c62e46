//! The page in a real browser: headless Chromium loads `index.html` from
//! disk with networking off, runs its script, and the tests read back the
//! DOM (the script marks the table, and sorts it from the URL fragment) and
//! a screenshot (the embedded figures are drawn).
//!
//! Chromium is required: without it these tests fail, naming what to
//! install, unless `SER_SKIP_BROWSER_TESTS=1` says to skip them. The binary
//! is `$SER_CHROMIUM` if set, else `chromium` / `chromium-browser` /
//! `google-chrome` from `PATH`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ser_report::write_report;

/// One browser at a time: each is several processes, and the build
/// machine has two cores.
static BROWSER: Mutex<()> = Mutex::new(());

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SER_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// The browser, or `None` when the tests are to be skipped.
fn chromium() -> Option<PathBuf> {
    match find_chromium() {
        Some(p) => Some(p),
        None if std::env::var("SER_SKIP_BROWSER_TESTS").as_deref() == Ok("1") => {
            eprintln!("skipping: no Chromium and SER_SKIP_BROWSER_TESTS=1");
            None
        }
        None => panic!(
            "Chromium not found (needed to test the report page): install it \
             (`apt-get install chromium`), point SER_CHROMIUM at it, or set \
             SER_SKIP_BROWSER_TESTS=1 to skip these tests"
        ),
    }
}

/// Runs headless Chromium on `url` with `extra` arguments; returns stdout.
/// Networking, sync and updates are off so nothing but the file is loaded.
fn run_chromium(browser: &Path, url: &str, extra: &[String]) -> String {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", browser.display()));
    // Read the pipes on threads so a chatty browser cannot block on a full
    // pipe while we wait for it to exit.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).map(|_| s)
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).map(|_| s)
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("Chromium did not finish {url} within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out.join().unwrap().unwrap_or_default();
    let stderr = err.join().unwrap().unwrap_or_default();
    assert!(
        status.success(),
        "Chromium failed on {url}: {status}\n{stderr}"
    );
    stdout
}

fn file_url(path: &Path, fragment: &str) -> String {
    format!(
        "file://{}{fragment}",
        path.canonicalize().unwrap().display()
    )
}

/// Slugs of the matrix rows in DOM order.
fn row_order(dom: &str) -> Vec<String> {
    dom.match_indices("<tr data-experiment=\"")
        .map(|(i, m)| {
            let rest = &dom[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

#[test]
fn page_script_runs_in_chromium() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = common::sample_input();
    let files = write_report(&input, dir.path()).unwrap();

    let dom = run_chromium(
        &browser,
        &file_url(&files.index_html, ""),
        &["--dump-dom".to_string()],
    );
    // The marker only the script sets: it ran to the end without error.
    assert!(
        dom.contains("data-sort-ready=\"true\""),
        "script did not run:\n{}",
        &dom[..dom.len().min(2000)]
    );
    assert_eq!(
        row_order(&dom),
        [
            "acoustic-filter25-svm",
            "logmel-none-mlp",
            "acoustic-none-logreg",
            "mfcc-none-random_forest",
            "spectral-none-gaussian_nb"
        ]
    );
    // The script made the headers keyboard-reachable.
    assert_eq!(dom.matches("<th data-key=").count(), 11);
    assert_eq!(dom.matches("tabindex=\"0\"").count(), 11);
    for exp in &input.experiments {
        assert!(
            dom.contains(&format!("id=\"exp-{}\"", ser_report::slug(&exp.name))),
            "{}",
            exp.name
        );
    }
}

#[test]
fn fragment_sorts_the_table_in_chromium() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = common::sample_input();
    let files = write_report(&input, dir.path()).unwrap();

    // Text column, ascending.
    let dom = run_chromium(
        &browser,
        &file_url(&files.index_html, "#sort=experiment:asc"),
        &["--dump-dom".to_string()],
    );
    assert!(dom.contains("data-sorted-by=\"experiment:asc\""));
    let mut by_name: Vec<String> = input
        .experiments
        .iter()
        .map(|e| ser_report::slug(&e.name))
        .collect();
    by_name.sort();
    assert_eq!(row_order(&dom), by_name);
    assert!(dom.contains(
        "data-key=\"experiment\" data-type=\"text\" tabindex=\"0\" aria-sort=\"ascending\""
    ));

    // Numeric column, ascending: WA from worst to best.
    let dom = run_chromium(
        &browser,
        &file_url(&files.index_html, "#sort=wa:asc"),
        &["--dump-dom".to_string()],
    );
    let mut by_wa: Vec<(f64, String)> = input
        .experiments
        .iter()
        .map(|e| (e.wa, ser_report::slug(&e.name)))
        .collect();
    by_wa.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(
        row_order(&dom),
        by_wa.into_iter().map(|(_, s)| s).collect::<Vec<_>>()
    );
}

#[test]
fn figures_render_in_chromium() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let files = write_report(&common::sample_input(), dir.path()).unwrap();

    let shot = dir.path().join("shot.png");
    run_chromium(
        &browser,
        &file_url(&files.index_html, ""),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,1600".to_string(),
        ],
    );
    let bytes = std::fs::read(&shot).expect("Chromium wrote no screenshot");
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    // The first confusion matrix's blue cells fill a large area of the
    // first screen; the page's own blue (links, arrows) is a few thousand
    // pixels. So many blue pixels means the embedded PNGs decoded and drew.
    let blue = buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| p[2] as i32 - p[0] as i32 > 60 && p[2] > 120)
        .count();
    assert!(
        blue > 40_000,
        "only {blue} blue pixels: the figures did not render"
    );
}
