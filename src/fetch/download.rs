//! Getting an archive onto the disk: its size (HEAD), the free-space check,
//! the resumable download and the digests that verify it.
//!
//! The download appends to a partial file and asks only for what is
//! missing (`Range: bytes=N-`). A server that answers 200 instead of 206
//! has ignored the range, so the file starts again from byte 0; a 416 whose
//! length equals the partial file means it was already complete. Network
//! errors, cut connections, timeouts, 408, 429 and 5xx answers are retried
//! after a delay that doubles each time (1 s, 2 s, 4 s, ... up to a minute;
//! `SER_FETCH_BACKOFF_MS` sets the first delay, which the tests shorten);
//! `--retries N` allows N retries after the first request. Any other answer
//! (404, 403, ...) is final. Whatever arrived stays on disk, so the next
//! `ser corpus fetch` resumes where this one stopped.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use sha2::Digest as _;

use super::registry::human_bytes;
use crate::progress::Progress;

/// The first retry's delay, in milliseconds, when set (the tests' knob).
pub const BACKOFF_ENV: &str = "SER_FETCH_BACKOFF_MS";
const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What a HEAD request says about the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Its length in bytes, when the server gives one.
    pub length: Option<u64>,
}

/// What one download call did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transfer {
    /// Bytes already on disk when the call started and kept (0 when the
    /// download had to start again from byte 0).
    pub resumed_from: u64,
    /// Bytes received over the network in this call (all attempts).
    pub received: u64,
    /// The file's length when complete.
    pub total: u64,
    pub seconds: f64,
}

pub struct Downloader {
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
    retries: u32,
    backoff: Duration,
    progress: Progress,
}

/// Why an attempt failed: worth another try, or not.
enum Failure {
    Retry(String),
    Fatal(anyhow::Error),
}

impl Downloader {
    pub fn new(retries: u32, progress: Progress) -> anyhow::Result<Downloader> {
        // reqwest is built without a bundled TLS provider; ring is already
        // in the build (as for the S3 remote).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                "ser/",
                env!("CARGO_PKG_VERSION"),
                " (corpus fetch)"
            ))
            .connect_timeout(Duration::from_secs(30))
            // A transfer that stalls this long is a failed attempt, retried
            // from where it stopped.
            .read_timeout(Duration::from_secs(60))
            .build()
            .context("cannot set up the HTTP client")?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the download runtime")?;
        let backoff = std::env::var(BACKOFF_ENV)
            .ok()
            .and_then(|ms| ms.trim().parse::<u64>().ok())
            .map_or(DEFAULT_BACKOFF, Duration::from_millis);
        Ok(Downloader {
            runtime,
            http,
            retries,
            backoff,
            progress,
        })
    }

    /// Run `attempt` until it succeeds, fails for good, or the retries are
    /// spent.
    fn with_retries<T>(
        &self,
        url: &str,
        mut attempt: impl AsyncFnMut() -> Result<T, Failure>,
    ) -> anyhow::Result<T> {
        let mut failures = 0;
        loop {
            match self.runtime.block_on(attempt()) {
                Ok(value) => return Ok(value),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry(reason)) => {
                    if failures >= self.retries {
                        bail!(
                            "{url}: {reason} (gave up after {} request{})",
                            failures + 1,
                            if failures == 0 { "" } else { "s" }
                        );
                    }
                    let delay = backoff_delay(self.backoff, failures);
                    failures += 1;
                    self.progress.println(&format!(
                        "{url}: {reason}; retry {failures} of {} in {delay:.1?}",
                        self.retries
                    ));
                    std::thread::sleep(delay);
                }
            }
        }
    }

    /// HEAD `url`: its length, if the server says.
    pub fn probe(&self, url: &str) -> anyhow::Result<Probe> {
        self.with_retries(url, async || {
            let response = self
                .http
                .head(url)
                .send()
                .await
                .map_err(|e| Failure::Retry(error_chain(&e.without_url())))?;
            let status = response.status();
            if status.is_success() {
                // The header, not reqwest's body length: a HEAD body is
                // always empty.
                return Ok(Probe {
                    length: header_u64(response.headers(), CONTENT_LENGTH),
                });
            }
            match status {
                StatusCode::NOT_FOUND | StatusCode::GONE => {
                    Err(Failure::Fatal(anyhow!("{url}: HTTP {status}")))
                }
                s if retryable(s) => Err(Failure::Retry(format!("HTTP {s}"))),
                // Servers that do not answer HEAD (405, 501, or a 403 from
                // a URL signed for GET): the length is learnt from the GET.
                _ => Ok(Probe { length: None }),
            }
        })
    }

    /// Download `url` into `dest`, resuming from the bytes already there.
    /// `length` is the archive's length when known (from HEAD).
    pub fn download(
        &self,
        url: &str,
        dest: &Path,
        length: Option<u64>,
    ) -> anyhow::Result<Transfer> {
        let start = Instant::now();
        let resumed_from = file_len(dest)?;
        let mut state = State {
            total: length,
            received: 0,
            bar: self.progress.bytes_bar(length.unwrap_or(0), "download"),
            last_rate: Instant::now(),
            started: Instant::now(),
            restarted: false,
        };
        state.bar.set_position(resumed_from);
        let result = self.with_retries(url, async || self.attempt(url, dest, &mut state).await);
        state.bar.finish_and_clear();
        let total = result?;
        Ok(Transfer {
            resumed_from: if state.restarted { 0 } else { resumed_from },
            received: state.received,
            total,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// One request: append what the server sends to `dest`. Ok(length of
    /// the complete file).
    async fn attempt(&self, url: &str, dest: &Path, state: &mut State) -> Result<u64, Failure> {
        let fatal = |e: anyhow::Error| Failure::Fatal(e);
        let mut have = file_len(dest).map_err(fatal)?;
        if let Some(total) = state.total {
            if have == total {
                return Ok(total);
            }
            if have > total {
                self.progress.println(&format!(
                    "{} holds {have} bytes, more than the {total} of {url}: starting again from byte 0",
                    dest.display()
                ));
                truncate(dest).map_err(fatal)?;
                state.restarted = true;
                have = 0;
            }
        }
        let mut request = self.http.get(url);
        if have > 0 {
            request = request.header(RANGE, format!("bytes={have}-"));
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| Failure::Retry(error_chain(&e.without_url())))?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut out = match status {
            StatusCode::PARTIAL_CONTENT => {
                let (range, total) = header_str(&headers, CONTENT_RANGE)
                    .and_then(parse_content_range)
                    .map_or((None, None), |c| (c.range, c.total));
                if range.map(|(first, _)| first) != Some(have) {
                    // A range we did not ask for: the bytes on disk cannot
                    // be trusted to line up with it.
                    truncate(dest).map_err(fatal)?;
                    state.restarted = true;
                    state.bar.set_position(0);
                    return Err(Failure::Retry(format!(
                        "the server sent range {:?} for a request from byte {have}; starting again from byte 0",
                        header_str(&headers, CONTENT_RANGE).unwrap_or("(none)")
                    )));
                }
                if total.is_some() {
                    state.total = total;
                }
                append(dest).map_err(fatal)?
            }
            StatusCode::OK => {
                if have > 0 {
                    self.progress.println(&format!(
                        "{url} ignored the range request (200, not 206): starting again from byte 0"
                    ));
                    state.restarted = true;
                    have = 0;
                }
                if let Some(length) = header_u64(&headers, CONTENT_LENGTH) {
                    state.total = Some(length);
                }
                truncate(dest).map_err(fatal)?
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                let total = header_str(&headers, CONTENT_RANGE)
                    .and_then(parse_content_range)
                    .and_then(|c| c.total);
                if total == Some(have) {
                    state.total = total;
                    return Ok(have);
                }
                truncate(dest).map_err(fatal)?;
                state.restarted = true;
                state.bar.set_position(0);
                return Err(Failure::Retry(format!(
                    "the server cannot send from byte {have} (416); starting again from byte 0"
                )));
            }
            s if retryable(s) => return Err(Failure::Retry(format!("HTTP {s}"))),
            s => return Err(Failure::Fatal(anyhow!("{url}: HTTP {s}"))),
        };
        state.bar.set_length(state.total.unwrap_or(0));
        state.bar.set_position(have);
        let mut written = 0u64;
        let streamed: Result<(), Failure> = async {
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| Failure::Retry(error_chain(&e.without_url())))?
            {
                out.write_all(&chunk)
                    .map_err(|e| Failure::Fatal(anyhow!("cannot write {}: {e}", dest.display())))?;
                written += chunk.len() as u64;
                state.got(chunk.len() as u64);
            }
            Ok(())
        }
        .await;
        // What arrived is kept for the next attempt, whatever happened.
        out.flush()
            .map_err(|e| Failure::Fatal(anyhow!("cannot write {}: {e}", dest.display())))?;
        let now = have + written;
        match (streamed, state.total) {
            (Err(Failure::Retry(reason)), total) => Err(Failure::Retry(format!(
                "{reason} after {now} of {} bytes",
                total.map_or("?".into(), |t| t.to_string())
            ))),
            (Err(fatal), _) => Err(fatal),
            (Ok(()), Some(total)) if now < total => Err(Failure::Retry(format!(
                "the connection closed after {now} of {total} bytes"
            ))),
            (Ok(()), Some(total)) if now > total => Err(Failure::Fatal(anyhow!(
                "{url}: received {now} bytes, more than the {total} announced"
            ))),
            (Ok(()), _) => Ok(now),
        }
    }
}

/// The running count behind the progress bar and its rate.
struct State {
    total: Option<u64>,
    received: u64,
    bar: indicatif::ProgressBar,
    last_rate: Instant,
    started: Instant,
    /// The bytes on disk were dropped at some point (start again from 0).
    restarted: bool,
}

impl State {
    fn got(&mut self, bytes: u64) {
        self.received += bytes;
        self.bar.inc(bytes);
        // The message carries the rate into the headless progress lines.
        if self.last_rate.elapsed() >= Duration::from_secs(1) {
            self.last_rate = Instant::now();
            let rate = self.received as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
            self.bar
                .set_message(format!("{}/s", human_bytes(rate as u64)));
        }
    }
}

/// The delay before retry `n` (0-based): `first` doubled `n` times, at
/// most a minute (or `first`, if that is longer).
fn backoff_delay(first: Duration, n: u32) -> Duration {
    first
        .saturating_mul(1u32.checked_shl(n).unwrap_or(u32::MAX))
        .min(MAX_BACKOFF.max(first))
}

fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// An error with its causes ("error sending request: connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

fn header_str(
    headers: &reqwest::header::HeaderMap,
    name: reqwest::header::HeaderName,
) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn header_u64(
    headers: &reqwest::header::HeaderMap,
    name: reqwest::header::HeaderName,
) -> Option<u64> {
    header_str(headers, name).and_then(|v| v.trim().parse().ok())
}

/// A `Content-Range` header's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// The first and last byte sent (none in a 416's `bytes */TOTAL`).
    pub range: Option<(u64, u64)>,
    /// The whole file's length, when the server knows it.
    pub total: Option<u64>,
}

/// `bytes FIRST-LAST/TOTAL`, `bytes */TOTAL` or `bytes FIRST-LAST/*`.
pub fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    let range = match range.trim() {
        "*" => None,
        r => {
            let (first, last) = r.split_once('-')?;
            Some((first.trim().parse().ok()?, last.trim().parse().ok()?))
        }
    };
    Some(ContentRange { range, total })
}

fn file_len(path: &Path) -> anyhow::Result<u64> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(anyhow!("cannot read {}: {e}", path.display())),
    }
}

fn truncate(path: &Path) -> anyhow::Result<BufWriter<File>> {
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(BufWriter::with_capacity(1 << 20, file))
}

fn append(path: &Path) -> anyhow::Result<BufWriter<File>> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(BufWriter::with_capacity(1 << 20, file))
}

/// A downloaded file's digests, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub sha256: String,
    /// Only when asked for (a publisher lists MD5).
    pub md5: Option<String>,
    pub bytes: u64,
}

/// SHA-256 of `path`, and its MD5 when `with_md5` (one read for both).
pub fn digest_file(path: &Path, with_md5: bool, progress: &Progress) -> anyhow::Result<Digests> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress.bytes_bar(len, "verify");
    let mut sha = sha2::Sha256::new();
    let mut md = with_md5.then(<md5::Md5 as md5::Digest>::new);
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        if let Some(md) = md.as_mut() {
            md5::Digest::update(md, &buf[..n]);
        }
        bytes += n as u64;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(Digests {
        sha256: hex(&sha.finalize()),
        md5: md.map(|m| hex(&md5::Digest::finalize(m))),
        bytes,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Free bytes for this user on the file system that holds `dir`, found at
/// its nearest existing ancestor (`dir` itself is not created yet when this
/// is asked).
pub fn free_space(dir: &Path) -> anyhow::Result<(PathBuf, u64)> {
    let existing = dir
        .ancestors()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .find(|p| p.exists())
        .unwrap_or(Path::new("."));
    let c_path = CString::new(existing.as_os_str().as_bytes())
        .with_context(|| format!("{} is not a usable path", existing.display()))?;
    // SAFETY: statvfs writes into the zeroed struct it is given and reads
    // only the NUL-terminated path.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        let e = std::io::Error::last_os_error();
        bail!("cannot read the free space of {}: {e}", existing.display());
    }
    // The field types differ between platforms (u32 on some 32-bit ones).
    #[allow(clippy::unnecessary_cast)]
    let free = (stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64);
    Ok((existing.to_path_buf(), free))
}

/// Refuse, before any file is written, when the file system of `dir`
/// cannot hold `to_download` more bytes of archive plus `unpacked` bytes
/// of files. `unpacked_note` says where the unpacked figure comes from.
pub fn ensure_room(
    dir: &Path,
    to_download: u64,
    unpacked: u64,
    unpacked_note: &str,
) -> anyhow::Result<u64> {
    let (checked_at, free) = free_space(dir)?;
    let need = to_download.saturating_add(unpacked);
    if free < need {
        bail!(
            "not enough free space for {}: it needs {need} bytes ({}) = {to_download} bytes still to \
             download + {unpacked} bytes unpacked ({unpacked_note}), but the file system of {} has \
             {free} bytes ({}) free; nothing was written",
            dir.display(),
            human_bytes(need),
            checked_at.display(),
            human_bytes(free),
        );
    }
    Ok(free)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_read_as_range_and_total() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some(ContentRange {
                range: Some((100, 199)),
                total: Some(200)
            })
        );
        assert_eq!(
            parse_content_range("bytes */200"),
            Some(ContentRange {
                range: None,
                total: Some(200)
            })
        );
        assert_eq!(
            parse_content_range("bytes 0-9/*"),
            Some(ContentRange {
                range: Some((0, 9)),
                total: None
            })
        );
        assert_eq!(parse_content_range("items 0-9/10"), None);
        assert_eq!(parse_content_range("bytes 0-x/10"), None);
    }

    #[test]
    fn free_space_is_read_at_the_nearest_existing_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("not/yet/there");
        let (at, free) = free_space(&missing).unwrap();
        assert_eq!(at, tmp.path());
        assert!(free > 0);
        assert!(!missing.exists(), "asking must not create the folder");
    }

    #[test]
    fn a_shortfall_is_refused_with_both_numbers_and_nothing_created() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("corpus");
        let (_, free) = free_space(&dir).unwrap();
        let huge = 1_000_000_000_000_000u64;
        let err = ensure_room(&dir, huge, 5, "from the registry")
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("needs {} bytes", huge + 5)), "{err}");
        assert!(
            err.contains(&format!("has {free} bytes")) || err.contains("bytes ("),
            "{err}"
        );
        assert!(
            err.contains(&huge.to_string()) && err.contains("from the registry"),
            "{err}"
        );
        assert!(!dir.exists());
        assert!(ensure_room(&dir, 1, 1, "").is_ok());
    }

    #[test]
    fn digests_are_the_standard_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("abc");
        std::fs::write(&file, b"abc").unwrap();
        let d = digest_file(&file, true, &Progress::hidden()).unwrap();
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.md5.as_deref(), Some("900150983cd24fb0d6963f7d28e17f72"));
        assert_eq!(d.bytes, 3);
        assert_eq!(
            digest_file(&file, false, &Progress::hidden()).unwrap().md5,
            None
        );
    }

    #[test]
    fn back_off_doubles_from_the_first_delay_up_to_a_minute() {
        let delays: Vec<u64> = (0..8)
            .map(|n| backoff_delay(Duration::from_secs(1), n).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        let short = backoff_delay(Duration::from_millis(20), 2);
        assert_eq!(short, Duration::from_millis(80));
        assert_eq!(backoff_delay(Duration::from_secs(1), 40), MAX_BACKOFF);
    }
}
