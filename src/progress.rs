//! Progress bars for long per-item work (indicatif), drawn only when
//! stdout is a terminal so logs and pipes stay clean.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    pub fn for_terminal() -> Progress {
        let visible =
            std::io::stdout().is_terminal() && std::env::var_os("SER_NO_PROGRESS").is_none();
        Progress {
            multi: visible.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    pub fn hidden() -> Progress {
        Progress { multi: None }
    }

    /// A bar over `len` items; hidden when progress is off.
    pub fn bar(&self, len: usize, what: &str) -> ProgressBar {
        match &self.multi {
            Some(m) => {
                let bar = m.add(ProgressBar::new(len as u64));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>24} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
                    )
                    .expect("static template")
                    .progress_chars("=> "),
                );
                bar.set_prefix(what.to_string());
                bar
            }
            None => ProgressBar::hidden(),
        }
    }

    /// A bar over `total` bytes (pushes and pulls); hidden when progress
    /// is off.
    pub fn bytes_bar(&self, total: u64, what: &str) -> ProgressBar {
        match &self.multi {
            Some(m) => {
                let bar = m.add(ProgressBar::new(total));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .expect("static template")
                    .progress_chars("=> "),
                );
                bar.set_prefix(what.to_string());
                bar
            }
            None => ProgressBar::hidden(),
        }
    }

    /// Print a line without tearing the bars.
    pub fn println(&self, line: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(line);
            }
            None => eprintln!("{line}"),
        }
    }
}
