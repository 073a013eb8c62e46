//! What a run tells the person or the log watching it.
//!
//! On a terminal: indicatif progress bars for long per-item work, and one
//! line per node. Headless (stdout not a terminal, as in a batch job, or
//! `SER_NO_PROGRESS`): no bars; every line starts with a UTC timestamp,
//! and every `--progress-every` seconds (default 30) each unfinished bar
//! is printed as a line (`progress extract: egemaps 512/1440`, or for a
//! network `epoch 7/20 loss 1.234 val UA 0.456`), so a slow node can be
//! told from a hung one. `--log-format json` writes the same events as
//! JSON lines (`{"ts", "event", "node", ...}`) for monitoring tools.
//!
//! Every node event is also recorded here, so the run summary
//! (`state/<pipeline>/runs/*.json`) can be written at any moment, even
//! by the signal watchdog while nodes are still running.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::{Value, json};

/// `--log-format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people (timestamped when headless).
    #[default]
    Text,
    /// One JSON object per event.
    Json,
}

/// One node's part in a run, as the summary records it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeLog {
    /// `running`, `ran`, `fresh`, `fetched`, `failed`, `skipped`, `not_started`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub seconds: f64,
    #[serde(skip)]
    started: Option<Instant>,
}

#[derive(Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
    shared: Arc<Shared>,
}

struct Shared {
    format: LogFormat,
    /// Lines carry timestamps (no terminal).
    headless: bool,
    /// Live bars, for the periodic progress lines.
    bars: Mutex<Vec<(String, ProgressBar)>>,
    nodes: Mutex<BTreeMap<String, NodeLog>>,
}

impl Progress {
    /// Bars and plain lines on a terminal; timestamped lines otherwise.
    pub fn for_terminal() -> Progress {
        Progress::for_run(LogFormat::Text, Duration::from_secs(30))
    }

    /// A run's progress: `format`, and when headless a progress line per
    /// unfinished bar every `every` (zero: never).
    pub fn for_run(format: LogFormat, every: Duration) -> Progress {
        let terminal =
            std::io::stdout().is_terminal() && std::env::var_os("SER_NO_PROGRESS").is_none();
        let bars = format == LogFormat::Text && terminal;
        let progress = Progress {
            multi: bars.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            shared: Arc::new(Shared {
                format,
                headless: !terminal,
                bars: Mutex::new(Vec::new()),
                nodes: Mutex::new(BTreeMap::new()),
            }),
        };
        if !bars && !every.is_zero() {
            let shared = Arc::downgrade(&progress.shared);
            std::thread::Builder::new()
                .name("ser-progress".into())
                .spawn(move || report_every(shared, every))
                .expect("spawn the progress thread");
        }
        progress
    }

    /// Nothing shown (status, tests).
    pub fn hidden() -> Progress {
        Progress {
            multi: None,
            shared: Arc::new(Shared {
                format: LogFormat::Text,
                headless: false,
                bars: Mutex::new(Vec::new()),
                nodes: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// A bar over `len` items: drawn on a terminal, reported periodically
    /// when headless.
    pub fn bar(&self, len: usize, what: &str) -> ProgressBar {
        self.styled_bar(
            len as u64,
            what,
            "{prefix:>24} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}",
        )
    }

    /// A bar over `total` bytes (pushes and pulls).
    pub fn bytes_bar(&self, total: u64, what: &str) -> ProgressBar {
        self.styled_bar(
            total,
            what,
            "{prefix:>24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
    }

    fn styled_bar(&self, len: u64, what: &str, template: &str) -> ProgressBar {
        match &self.multi {
            Some(m) => {
                let bar = m.add(ProgressBar::new(len));
                bar.set_style(
                    ProgressStyle::with_template(template)
                        .expect("static template")
                        .progress_chars("=> "),
                );
                bar.set_prefix(what.to_string());
                bar
            }
            None => {
                let bar = ProgressBar::hidden();
                bar.set_length(len);
                self.shared
                    .bars
                    .lock()
                    .expect("bars")
                    .push((what.to_string(), bar.clone()));
                bar
            }
        }
    }

    /// Print a line without tearing the bars (timestamped when headless;
    /// a `message` event in JSON).
    pub fn println(&self, line: &str) {
        self.emit("message", json!({ "text": line }), line);
    }

    /// A node starts computing, for `reason`.
    pub fn node_started(&self, node: &str, reason: &str) {
        self.shared.nodes.lock().expect("nodes").insert(
            node.to_string(),
            NodeLog {
                outcome: "running".into(),
                reason: Some(reason.to_string()),
                error: None,
                seconds: 0.0,
                started: Some(Instant::now()),
            },
        );
        self.emit(
            "run",
            json!({ "node": node, "reason": reason }),
            &format!("{:>9} {node} ({reason})", "run"),
        );
    }

    /// A node's outcome: `ran`, `fresh`, `fetched`, `failed`, `skipped`.
    pub fn node_finished(&self, node: &str, outcome: &str, error: Option<&str>) {
        let seconds = {
            let mut nodes = self.shared.nodes.lock().expect("nodes");
            let entry = nodes.entry(node.to_string()).or_insert(NodeLog {
                outcome: String::new(),
                reason: None,
                error: None,
                seconds: 0.0,
                started: None,
            });
            entry.outcome = outcome.to_string();
            entry.error = error.map(str::to_string);
            entry.seconds = entry.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
            entry.seconds
        };
        let fields = json!({ "node": node, "seconds": seconds, "error": error });
        match outcome {
            "ran" => self.emit(
                "done",
                fields,
                &format!("{:>9} {node} in {seconds:.2}s", "done"),
            ),
            "fetched" => self.emit(
                "fetched",
                fields,
                &format!("{:>9} {node} (from the remote)", "fetched"),
            ),
            "failed" => self.emit(
                "failed",
                fields,
                &format!("{:>9} {node}: {}", "FAILED", error.unwrap_or("?")),
            ),
            // Fresh and skipped nodes are in the summary, not the log.
            _ => {}
        }
    }

    /// Every node event so far.
    pub fn nodes(&self) -> BTreeMap<String, NodeLog> {
        self.shared.nodes.lock().expect("nodes").clone()
    }

    /// An event: a JSON object with `ts` and `event`, or the text line.
    pub fn emit(&self, event: &str, fields: Value, text: &str) {
        match self.shared.format {
            LogFormat::Json => {
                let mut object = json!({ "ts": timestamp(), "event": event });
                if let (Some(o), Value::Object(f)) = (object.as_object_mut(), fields) {
                    o.extend(f.into_iter().filter(|(_, v)| !v.is_null()));
                }
                eprintln!("{object}");
            }
            LogFormat::Text => {
                let line = if self.shared.headless {
                    format!("{} {text}", timestamp())
                } else {
                    text.to_string()
                };
                match &self.multi {
                    Some(m) => {
                        let _ = m.println(line);
                    }
                    None => eprintln!("{line}"),
                }
            }
        }
    }
}

/// Now, as RFC 3339 UTC to the second.
pub fn timestamp() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// The headless progress lines: every `every`, one per unfinished bar,
/// until the run's `Progress` is gone.
fn report_every(shared: Weak<Shared>, every: Duration) {
    loop {
        std::thread::sleep(every);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let progress = Progress {
            multi: None,
            shared: shared.clone(),
        };
        let live: Vec<(String, ProgressBar)> = {
            let mut bars = shared.bars.lock().expect("bars");
            bars.retain(|(_, bar)| !bar.is_finished());
            bars.clone()
        };
        for (what, bar) in live {
            let (done, total) = (bar.position(), bar.length().unwrap_or(0));
            let message = bar.message();
            progress.emit(
                "progress",
                json!({ "what": what, "done": done, "total": total, "message": message }),
                &format!("{:>9} {what} {done}/{total} {message}", "progress"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_events_are_recorded_with_their_outcome() {
        let progress = Progress::hidden();
        progress.node_started("extract:mfcc", "never run");
        progress.node_finished("extract:mfcc", "ran", None);
        progress.node_finished("train:x", "failed", Some("boom"));
        let nodes = progress.nodes();
        assert_eq!(nodes["extract:mfcc"].outcome, "ran");
        assert_eq!(nodes["extract:mfcc"].reason.as_deref(), Some("never run"));
        assert_eq!(nodes["train:x"].error.as_deref(), Some("boom"));
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let ts = timestamp();
        assert!(
            ts.ends_with('Z') && ts.contains('T') && ts.len() == 20,
            "{ts}"
        );
    }
}
