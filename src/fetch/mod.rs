//! `ser corpus fetch`: download a public emotional-speech corpus (or any
//! archive) into a folder, verified and unpacked, ready to be a pipeline's
//! `corpus.path`.
//!
//! The flow, each step refusing with its reason before the next one runs:
//!
//! 1. **what**: an entry of the [`registry`] (`NAME`), or `--url` with an
//!    optional `--sha256`. Entries that cannot be fetched as one archive
//!    (CREMA-D, SAVEE) refuse here with what to do instead.
//! 2. **already there**: `DIR/.ser-fetch.json` (the marker) names the same
//!    URL and digests, and the corpus folder exists: say so and stop, with
//!    no network access at all.
//! 3. **size**: a HEAD request for the archive's length (else the
//!    registry's figure).
//! 4. **room**: the free bytes on `DIR`'s file system must cover the bytes
//!    still to download plus the unpacked size, checked before any file or
//!    folder is created.
//! 5. **download** ([`download`]) into `DIR/.partial/ARCHIVE`, resumed with
//!    HTTP Range and retried with a doubling back-off.
//! 6. **verify**: SHA-256 always, MD5 too where that is what the publisher
//!    lists. A mismatch is refused with both digests, and the file is kept:
//!    the next call does not download it again (it is complete) but checks
//!    it again, so a wrong `--sha256` costs no second download and a corrupt
//!    file is never unpacked; the message says to delete it if the expected
//!    digest is the right one.
//! 7. **unpack** ([`unpack`]) into `DIR`, refusing any entry that would
//!    land outside it.
//! 8. **done**: the marker is written, `DIR/.partial` removed, and the
//!    command ends with `corpus ready: kind K, path P`.

pub mod download;
pub mod registry;
pub mod unpack;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use ser_ingest::CorpusKind;

use crate::progress::{LogFormat, Progress};
use registry::{Algorithm, Checksum, Size, Source, human_bytes};

/// The marker a completed fetch leaves in `--to`.
pub const MARKER_NAME: &str = ".ser-fetch.json";
/// The folder in `--to` that holds the download until it is unpacked.
pub const PARTIAL_DIR: &str = ".partial";

/// `ser corpus fetch`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").args(["name", "url", "list"]).required(true)))]
pub struct FetchArgs {
    /// A corpus of the registry: ravdess, crema_d, tess, savee, emodb
    /// (`--list` shows where each comes from).
    pub name: Option<String>,
    /// Any other archive (zip, tar, tar.gz) over HTTP(S), instead of NAME.
    #[arg(long, conflicts_with = "name")]
    pub url: Option<String>,
    /// The archive's SHA-256: the download must match it. Also pins a
    /// registry entry that has no published checksum.
    #[arg(long, value_name = "HEX", value_parser = parse_sha256)]
    pub sha256: Option<Checksum>,
    /// The folder to download and unpack into (created if missing).
    #[arg(long, value_name = "DIR", required_unless_present = "list")]
    pub to: Option<PathBuf>,
    /// The unpacked files' size, for the free-space check: bytes, or with
    /// kB/MB/GB/TB or KiB/MiB/GiB/TiB. Default: the registry's figure; for
    /// --url, the archive's size again.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub unpacked_size: Option<u64>,
    /// Retries after a failed request (network error, cut connection, 408,
    /// 429, 5xx), waiting 1 s, 2 s, 4 s, ... (SER_FETCH_BACKOFF_MS sets the
    /// first wait).
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// Print the registry (name, kind, size, checksum, source) and exit.
    #[arg(long, conflicts_with_all = ["name", "url"])]
    pub list: bool,
}

fn parse_sha256(hex: &str) -> Result<Checksum, String> {
    Checksum::parse(Algorithm::Sha256, hex)
}

/// `123`, `215MB`, `1.5 GB`, `200MiB`: decimal units (kB, MB, ...) as
/// download pages give them, binary ones (KiB, MiB, ...) as `du` does.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size (e.g. 123456, 500MB, 2GiB)"))?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let factor: f64 = match unit {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        "ki" => 1024.0,
        "mi" => 1024f64.powi(2),
        "gi" => 1024f64.powi(3),
        "ti" => 1024f64.powi(4),
        _ => {
            return Err(format!(
                "'{text}': unknown unit (use kB, MB, GB, TB, KiB, MiB, GiB, TiB)"
            ));
        }
    };
    Ok((number * factor).ceil() as u64)
}

/// What this call fetches, resolved from the registry or `--url`.
#[derive(Debug, Clone)]
struct Target {
    /// The registry name, or the archive's file name for `--url`.
    name: String,
    kind: Option<CorpusKind>,
    url: String,
    file_name: String,
    /// Digests the download must match, each with where it comes from.
    expected: Vec<(Checksum, Origin)>,
    /// The registry's archive size.
    size: Option<Size>,
    /// The unpacked size and where that figure comes from.
    unpacked: Option<(u64, &'static str)>,
    /// Relative to `--to`: the folder for `corpus.path`.
    corpus_dir: String,
    note: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Published by the corpus's publisher (the registry).
    Publisher,
    /// Given with `--sha256`.
    User,
}

/// `DIR/.ser-fetch.json`: what a completed fetch put in the folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub url: String,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// The archive's length.
    pub bytes: u64,
    /// Files unpacked, and their bytes.
    pub files: u64,
    pub unpacked_bytes: u64,
    /// The folder for `corpus.path`, relative to the marker's folder.
    pub corpus_path: String,
    pub fetched_at: String,
}

impl Marker {
    /// Ok when this marker records `target`: the same URL, and every
    /// expected digest equal to the one recorded. Err: what the folder
    /// holds instead.
    fn records(&self, target: &Target) -> Result<(), String> {
        if self.url != target.url {
            return Err(format!("a corpus fetched from {}", self.url));
        }
        for (checksum, _) in &target.expected {
            let recorded = match checksum.algorithm {
                Algorithm::Sha256 => Some(self.sha256.as_str()),
                Algorithm::Md5 => self.md5.as_deref(),
            };
            match recorded {
                Some(hex) if hex == checksum.hex => {}
                Some(hex) => {
                    return Err(format!(
                        "{} with {} {hex}, not the expected {}",
                        self.url, checksum.algorithm, checksum.hex
                    ));
                }
                // Fetched before this digest was known: the SHA-256 still
                // pins it, so it stays.
                None => {}
            }
        }
        Ok(())
    }
}

/// `rel` inside `dir` (`dir` itself for ""), for `corpus.path`.
fn inside(dir: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(rel)
    }
}

/// `1 file`, `2 files`.
fn count(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn marker_path(dir: &Path) -> PathBuf {
    dir.join(MARKER_NAME)
}

fn read_marker(dir: &Path) -> anyhow::Result<Option<Marker>> {
    let path = marker_path(dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| {
            format!(
                "{} is not a fetch marker; delete it to fetch again",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_marker(dir: &Path, marker: &Marker) -> anyhow::Result<()> {
    let path = marker_path(dir);
    let tmp = dir.join(format!("{MARKER_NAME}.tmp"));
    let json = serde_json::to_vec_pretty(marker)?;
    std::fs::write(&tmp, json).with_context(|| format!("cannot write {}", tmp.display()))?;
    // Renamed into place: a marker is whole or absent.
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
}

/// `ser corpus fetch ...`: 0 when the corpus is ready.
pub fn run(args: &FetchArgs) -> anyhow::Result<i32> {
    if args.list {
        print_list()?;
        return Ok(0);
    }
    let to = args.to.as_deref().context("--to DIR is required")?;
    let target = resolve(args)?;
    let progress = Progress::for_run(LogFormat::Text, Duration::from_secs(10));
    fetch(&target, to, args.retries, &progress)?;
    Ok(0)
}

fn resolve(args: &FetchArgs) -> anyhow::Result<Target> {
    let user = args.sha256.clone().map(|c| (c, Origin::User));
    if let Some(url) = &args.url {
        let parsed =
            reqwest::Url::parse(url).with_context(|| format!("--url {url} is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!("--url {url}: only http and https URLs can be fetched");
        }
        let file_name = parsed
            .path_segments()
            .and_then(|mut s| s.next_back())
            .map(safe_file_name)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "download".to_string());
        return Ok(Target {
            name: file_name.clone(),
            kind: None,
            url: url.clone(),
            file_name,
            expected: user.into_iter().collect(),
            size: None,
            unpacked: args.unpacked_size.map(|b| (b, "from --unpacked-size")),
            corpus_dir: String::new(),
            note: None,
        });
    }
    let name = args
        .name
        .as_deref()
        .context("give a corpus NAME, --url or --list")?;
    let Some(entry) = registry::lookup(name) else {
        bail!(
            "no corpus '{name}' in the registry (known: {}); use --url for anything else",
            registry::names()
        );
    };
    let archive = match entry.source {
        Source::Archive(a) => a,
        Source::Manual { why, how } => {
            bail!(
                "{} cannot be fetched automatically: {why}. Instead, {how}",
                entry.name
            )
        }
    };
    let mut expected: Vec<(Checksum, Origin)> = archive
        .checksum
        .map(|p| {
            let checksum =
                Checksum::parse(p.algorithm, p.hex).expect("registry digests are well formed");
            (checksum, Origin::Publisher)
        })
        .into_iter()
        .collect();
    expected.extend(user);
    Ok(Target {
        name: entry.name.to_string(),
        kind: Some(entry.kind),
        url: archive.url.to_string(),
        file_name: archive.file_name.to_string(),
        expected,
        size: Some(archive.bytes),
        unpacked: Some(match args.unpacked_size {
            Some(b) => (b, "from --unpacked-size"),
            None => (
                archive.unpacked.bytes(),
                match archive.unpacked {
                    Size::Exact(_) => "the registry's figure",
                    Size::About(_) => "the registry's estimate",
                },
            ),
        }),
        corpus_dir: archive.corpus_dir.to_string(),
        note: Some(archive.note).filter(|n| !n.is_empty()),
    })
}

/// A URL's last segment as a file name: anything but letters, digits and
/// `._-` becomes `_`, so it cannot name a folder or hide.
fn safe_file_name(segment: &str) -> String {
    let name: String = segment
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    name.trim_start_matches('.').to_string()
}

fn fetch(target: &Target, to: &Path, retries: u32, progress: &Progress) -> anyhow::Result<()> {
    if to.exists() && !to.is_dir() {
        bail!("--to {} is a file, not a folder", to.display());
    }
    let corpus_path = inside(to, &target.corpus_dir);
    // 2. Already there: no network at all.
    if let Some(marker) = read_marker(to)? {
        match marker.records(target) {
            Ok(()) if inside(to, &marker.corpus_path).is_dir() => {
                outln!(
                    "{} is already in {} (fetched {}, {}; {}): nothing to do",
                    target.name,
                    to.display(),
                    marker.fetched_at,
                    count(marker.files, "file"),
                    marker_path(to).display()
                )?;
                print_ready(target.kind, &inside(to, &marker.corpus_path))?;
                return Ok(());
            }
            Ok(()) => {
                progress.println(&format!(
                    "{} records {}, but {} is gone: fetching again",
                    marker_path(to).display(),
                    target.url,
                    inside(to, &marker.corpus_path).display()
                ));
                std::fs::remove_file(marker_path(to))
                    .with_context(|| format!("cannot remove {}", marker_path(to).display()))?;
            }
            Err(holds) => bail!(
                "{} already holds {holds} (see {}); fetch into another folder, or delete that one first",
                to.display(),
                marker_path(to).display()
            ),
        }
    }
    if let Some(note) = target.note {
        progress.println(&format!("{}: {note}", target.name));
    }

    // 3. Size.
    let downloader = download::Downloader::new(retries, progress.clone())?;
    let probe = downloader.probe(&target.url)?;
    let exact = match target.size {
        Some(Size::Exact(b)) => Some(b),
        _ => None,
    };
    let length = probe.length.or(exact);
    if let (Some(told), Some(published)) = (probe.length, exact)
        && told != published
    {
        progress.println(&format!(
            "{}: the server gives {told} bytes where the registry has {published}",
            target.url
        ));
    }

    // 4. Room, before anything is created.
    let partial = to.join(PARTIAL_DIR).join(&target.file_name);
    let have = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
    let archive_bytes = length.or(target.size.map(Size::bytes));
    let to_download = archive_bytes.map(|b| b.saturating_sub(have));
    let (unpacked, unpacked_note) = match (target.unpacked, archive_bytes) {
        (Some((b, note)), _) => (Some(b), note.to_string()),
        (None, Some(b)) => (
            Some(b),
            "assumed equal to the archive's size, as --unpacked-size was not given".to_string(),
        ),
        (None, None) => (None, String::new()),
    };
    match (to_download, unpacked) {
        (Some(d), Some(u)) => {
            if target.unpacked.is_none() {
                progress.println(&format!(
                    "unpacked size {unpacked_note}: {} (give --unpacked-size for a better check)",
                    human_bytes(u)
                ));
            }
            download::ensure_room(to, d, u, &unpacked_note)?;
        }
        (None, Some(u)) => {
            progress.println(&format!(
                "{} gives no length: the free-space check counts the unpacked size only",
                target.url
            ));
            download::ensure_room(to, 0, u, &unpacked_note)?;
        }
        _ => progress.println(&format!(
            "{} gives no length and --unpacked-size was not given: free space is not checked",
            target.url
        )),
    }

    // 5. Download.
    std::fs::create_dir_all(to.join(PARTIAL_DIR))
        .with_context(|| format!("cannot create {}", to.join(PARTIAL_DIR).display()))?;
    if have > 0 {
        progress.println(&format!(
            "resuming {} from byte {have} ({})",
            partial.display(),
            human_bytes(have)
        ));
    }
    let transfer = downloader.download(&target.url, &partial, length)?;
    if transfer.received > 0 {
        progress.println(&format!(
            "downloaded {} bytes ({}) of {} in {:.1} s ({}/s){}",
            transfer.received,
            human_bytes(transfer.received),
            target.url,
            transfer.seconds,
            human_bytes((transfer.received as f64 / transfer.seconds.max(1e-3)) as u64),
            if transfer.resumed_from > 0 {
                format!(", resumed from byte {}", transfer.resumed_from)
            } else {
                String::new()
            }
        ));
    }

    // 6. Verify.
    let wants_md5 = target
        .expected
        .iter()
        .any(|(c, _)| c.algorithm == Algorithm::Md5);
    let digests = download::digest_file(&partial, wants_md5, progress)?;
    for (checksum, origin) in &target.expected {
        let actual = match checksum.algorithm {
            Algorithm::Sha256 => digests.sha256.clone(),
            Algorithm::Md5 => digests.md5.clone().unwrap_or_default(),
        };
        if actual != checksum.hex {
            let advice = match origin {
                Origin::Publisher => format!(
                    "the publisher's digest does not match, so the download is corrupt or the \
                     file was replaced: delete {} and fetch again",
                    partial.display()
                ),
                Origin::User => format!(
                    "if --sha256 is right, the download is corrupt: delete {} and fetch again; if \
                     the file is right, pass --sha256 {}",
                    partial.display(),
                    digests.sha256
                ),
            };
            bail!(
                "{}: checksum mismatch: expected {} {}, got {actual} ({}, {} bytes). The file is \
                 kept, so the next fetch does not download it again: {advice}",
                target.url,
                checksum.algorithm,
                checksum.hex,
                partial.display(),
                digests.bytes
            );
        }
        outln!("verified {} {}", checksum.algorithm, checksum.hex)?;
    }
    if target.expected.is_empty() {
        outln!(
            "checksum: none published for {}; SHA-256 of the download: {} (pin it with --sha256 {})",
            target.name,
            digests.sha256,
            digests.sha256
        )?;
    }

    // 7. Unpack.
    let unpacked = unpack::unpack(&partial, to)?;
    outln!(
        "unpacked {} ({}) into {}",
        count(unpacked.files, "file"),
        human_bytes(unpacked.bytes),
        to.display()
    )?;
    if !corpus_path.is_dir() {
        progress.println(&format!(
            "warning: {} was expected in the archive but is not there: point corpus.path at the \
             folder that holds the audio",
            corpus_path.display()
        ));
    }

    // 8. Marker, then the download goes.
    write_marker(
        to,
        &Marker {
            name: target.name.clone(),
            kind: target.kind.map(|k| k.name().to_string()),
            url: target.url.clone(),
            sha256: digests.sha256.clone(),
            md5: digests.md5.clone(),
            bytes: digests.bytes,
            files: unpacked.files,
            unpacked_bytes: unpacked.bytes,
            corpus_path: target.corpus_dir.clone(),
            fetched_at: crate::progress::timestamp(),
        },
    )?;
    std::fs::remove_dir_all(to.join(PARTIAL_DIR))
        .with_context(|| format!("cannot remove {}", to.join(PARTIAL_DIR).display()))?;
    print_ready(target.kind, &corpus_path)?;
    Ok(())
}

fn print_ready(kind: Option<CorpusKind>, path: &Path) -> std::io::Result<()> {
    match kind {
        Some(kind) => outln!("corpus ready: kind {kind}, path {}", path.display()),
        None => outln!(
            "corpus ready: path {} (set corpus.kind to the naming rules its files follow)",
            path.display()
        ),
    }
}

fn print_list() -> std::io::Result<()> {
    for entry in registry::ENTRIES {
        outln!("{} ({}): {}", entry.name, entry.kind, entry.title)?;
        match entry.source {
            Source::Archive(a) => {
                outln!("  archive:  {}, {}", a.url, a.bytes)?;
                outln!("  unpacked: {}", a.unpacked)?;
                match a.checksum {
                    Some(p) => outln!("  checksum: {} {}, from {}", p.algorithm, p.hex, p.source)?,
                    None => {
                        outln!("  checksum: none published (the fetch prints the SHA-256 to pin)")?
                    }
                }
                let dir = if a.corpus_dir.is_empty() {
                    "DIR".to_string()
                } else {
                    format!("DIR/{}", a.corpus_dir)
                };
                outln!("  corpus.path: {dir}")?;
            }
            Source::Manual { why, .. } => outln!("  not fetchable: {why}")?,
        }
        outln!("  licence:  {}", entry.licence)?;
        outln!("  source:   {}", entry.homepage)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_decimal_and_binary_units() {
        assert_eq!(parse_size("123").unwrap(), 123);
        assert_eq!(parse_size("215MB").unwrap(), 215_000_000);
        assert_eq!(parse_size("1.5 GB").unwrap(), 1_500_000_000);
        assert_eq!(parse_size("2GiB").unwrap(), 2 * 1024 * 1024 * 1024);
        assert_eq!(parse_size("10k").unwrap(), 10_000);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }

    fn target(expected: Vec<(Checksum, Origin)>) -> Target {
        Target {
            name: "ravdess".into(),
            kind: Some(CorpusKind::Ravdess),
            url: "https://example.org/a.zip".into(),
            file_name: "a.zip".into(),
            expected,
            size: None,
            unpacked: None,
            corpus_dir: String::new(),
            note: None,
        }
    }

    fn marker() -> Marker {
        Marker {
            name: "ravdess".into(),
            kind: Some("ravdess".into()),
            url: "https://example.org/a.zip".into(),
            sha256: "a".repeat(64),
            md5: Some("b".repeat(32)),
            bytes: 10,
            files: 2,
            unpacked_bytes: 20,
            corpus_path: String::new(),
            fetched_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_marker_records_the_same_url_with_the_same_digests() {
        let sha = |c: char| {
            (
                Checksum::parse(Algorithm::Sha256, &c.to_string().repeat(64)).unwrap(),
                Origin::User,
            )
        };
        let md5 = |c: char| {
            (
                Checksum::parse(Algorithm::Md5, &c.to_string().repeat(32)).unwrap(),
                Origin::Publisher,
            )
        };
        assert_eq!(marker().records(&target(vec![])), Ok(()));
        assert_eq!(marker().records(&target(vec![sha('a'), md5('b')])), Ok(()));
        let wrong = marker().records(&target(vec![sha('c')])).unwrap_err();
        assert!(wrong.contains("not the expected"), "{wrong}");
        assert!(marker().records(&target(vec![md5('c')])).is_err());
        let mut other = target(vec![]);
        other.url = "https://example.org/b.zip".into();
        assert!(marker().records(&other).unwrap_err().contains("a.zip"));
    }

    #[test]
    fn the_marker_round_trips_through_its_file() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(read_marker(tmp.path()).unwrap(), None);
        write_marker(tmp.path(), &marker()).unwrap();
        assert_eq!(read_marker(tmp.path()).unwrap(), Some(marker()));
        assert!(!tmp.path().join(format!("{MARKER_NAME}.tmp")).exists());
    }

    #[test]
    fn url_file_names_cannot_name_folders_or_hide() {
        assert_eq!(
            safe_file_name("Audio_Speech_Actors_01-24.zip"),
            "Audio_Speech_Actors_01-24.zip"
        );
        assert_eq!(safe_file_name("..%2F..%2Fetc"), "_2F.._2Fetc");
        assert_eq!(safe_file_name(".hidden.zip"), "hidden.zip");
    }

    #[test]
    fn manual_entries_refuse_with_what_to_do_instead() {
        let args = |name: &str| FetchArgs {
            name: Some(name.into()),
            url: None,
            sha256: None,
            to: Some(PathBuf::from("x")),
            unpacked_size: None,
            retries: 0,
            list: false,
        };
        let savee = resolve(&args("savee")).unwrap_err().to_string();
        assert!(
            savee.contains("http://kahlan.eps.surrey.ac.uk/savee/Register.html"),
            "{savee}"
        );
        let crema = resolve(&args("crema-d")).unwrap_err().to_string();
        assert!(
            crema.contains("Git LFS") && crema.contains("git lfs pull"),
            "{crema}"
        );
        let ravdess = resolve(&args("ravdess")).unwrap();
        assert_eq!(ravdess.expected[0].0.algorithm, Algorithm::Md5);
        assert_eq!(ravdess.kind, Some(CorpusKind::Ravdess));
    }
}
