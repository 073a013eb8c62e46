//! The public emotional-speech corpora `ser corpus fetch NAME` knows: where
//! each one's official archive is, how big it is, the checksum its
//! publisher lists (if any), and the folder to point `corpus.path` at once
//! it is unpacked.
//!
//! Rules kept here: a checksum is only pinned when the publisher lists one
//! (RAVDESS: Zenodo's MD5); an entry without one says so, and the fetch then
//! prints the SHA-256 it computed so the user can pin it with `--sha256`.
//! Sizes that are not published exactly are estimates rounded up, marked
//! [`Size::About`]: the free-space check would rather ask for a little too
//! much than run out half way through unpacking. Corpora that cannot be
//! fetched as one archive (CREMA-D lives in Git LFS, SAVEE needs a
//! registration) are entries too, which refuse with what to do instead.

use std::fmt;

use ser_ingest::CorpusKind;

/// A digest algorithm a publisher lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha256,
    Md5,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Md5 => "md5",
        }
    }

    /// Length of the digest in hex characters.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Md5 => 32,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A checksum the archive must match: the algorithm and the lowercase hex
/// digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: Algorithm,
    pub hex: String,
}

impl Checksum {
    /// `hex` as given on the command line or in the registry: checked to be
    /// the algorithm's length of hex digits, kept lowercase.
    pub fn parse(algorithm: Algorithm, hex: &str) -> Result<Checksum, String> {
        let hex = hex.trim().to_ascii_lowercase();
        if hex.len() != algorithm.hex_len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "'{hex}' is not a {algorithm} digest ({} hex digits)",
                algorithm.hex_len()
            ));
        }
        Ok(Checksum { algorithm, hex })
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

/// A size in bytes, exact (published) or an estimate rounded up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Exact(u64),
    About(u64),
}

impl Size {
    pub fn bytes(self) -> u64 {
        match self {
            Size::Exact(b) | Size::About(b) => b,
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Size::Exact(b) => write!(f, "{} ({b} bytes)", human_bytes(*b)),
            Size::About(b) => write!(f, "about {}", human_bytes(*b)),
        }
    }
}

/// A checksum the publisher lists, and where.
#[derive(Debug, Clone, Copy)]
pub struct Published {
    pub algorithm: Algorithm,
    pub hex: &'static str,
    /// Where the digest is published.
    pub source: &'static str,
}

/// One archive to download.
#[derive(Debug, Clone, Copy)]
pub struct Archive {
    pub url: &'static str,
    /// The name the download is kept under while partial.
    pub file_name: &'static str,
    pub bytes: Size,
    pub unpacked: Size,
    /// None: no checksum is published for this archive.
    pub checksum: Option<Published>,
    /// The folder, relative to `--to`, to use as `corpus.path` ("" for
    /// `--to` itself).
    pub corpus_dir: &'static str,
    /// What else the user should know (how the server serves it).
    pub note: &'static str,
}

/// How a corpus is obtained.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    Archive(Archive),
    /// Not fetchable as one archive: why, and what to do instead.
    Manual {
        why: &'static str,
        how: &'static str,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The name given to `ser corpus fetch`.
    pub name: &'static str,
    pub title: &'static str,
    /// The `corpus.kind` whose naming rules read it.
    pub kind: CorpusKind,
    /// The publisher's page for the corpus.
    pub homepage: &'static str,
    pub licence: &'static str,
    pub source: Source,
}

/// Every corpus `ser corpus fetch NAME` knows, in the order `--list` shows.
pub const ENTRIES: &[Entry] = &[
    Entry {
        name: "ravdess",
        title: "RAVDESS, speech, audio only (1440 files, 24 actors)",
        kind: CorpusKind::Ravdess,
        homepage: "https://zenodo.org/records/1188976",
        licence: "CC BY-NC-SA 4.0",
        source: Source::Archive(Archive {
            url: "https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip?download=1",
            file_name: "Audio_Speech_Actors_01-24.zip",
            bytes: Size::Exact(208_468_073),
            // 1440 16-bit 48 kHz WAV files: about 512 MB of samples (counted
            // from the shared FLAC copy) plus headers, rounded up.
            unpacked: Size::About(620_000_000),
            checksum: Some(Published {
                algorithm: Algorithm::Md5,
                hex: "bc696df654c87fed845eb13823edef8a",
                source: "the file list of Zenodo record 1188976 (Zenodo publishes MD5 only)",
            }),
            corpus_dir: "",
            note: "Actor_01 ... Actor_24 unpack at the top of the folder",
        }),
    },
    Entry {
        name: "crema_d",
        title: "CREMA-D (7442 files, 91 actors)",
        kind: CorpusKind::CremaD,
        homepage: "https://github.com/CheyneyComputerScience/CREMA-D",
        licence: "Open Database License 1.0 (contents: Database Contents License 1.0)",
        source: Source::Manual {
            why: "its official copy is the GitHub repository CheyneyComputerScience/CREMA-D, whose \
                  AudioWAV folder is stored in Git LFS: GitHub's zip of the repository holds LFS \
                  pointer files, not audio, so there is no single archive to fetch",
            how: "clone it with Git LFS: `git lfs install && git clone \
                  https://github.com/CheyneyComputerScience/CREMA-D.git DIR` (or \
                  `GIT_LFS_SKIP_SMUDGE=1 git clone ...` then `git lfs pull --include AudioWAV` \
                  for the WAV files only), then use `corpus: {kind: crema_d, path: DIR/AudioWAV}` \
                  (VideoDemographics.csv beside it gives the speakers' gender)",
        },
    },
    Entry {
        name: "tess",
        title: "TESS, Toronto emotional speech set (2800 files, 2 speakers)",
        kind: CorpusKind::Tess,
        homepage: "https://borealisdata.ca/dataset.xhtml?persistentId=doi:10.5683/SP2/E8H2MF",
        licence: "see the Dataverse page (University of Toronto, doi:10.5683/SP2/E8H2MF)",
        source: Source::Archive(Archive {
            // Dataverse's "download all files" of the dataset's latest
            // version.
            url: "https://borealisdata.ca/api/access/dataset/:persistentId/?persistentId=doi:10.5683/SP2/E8H2MF",
            file_name: "TESS.zip",
            bytes: Size::About(300_000_000),
            unpacked: Size::About(320_000_000),
            checksum: None,
            corpus_dir: "",
            note: "Dataverse builds this zip on each request: no digest is published for it (only \
                   per-file MD5s), it may come without a length, and a server that builds it \
                   afresh may not resume (the download then starts again from byte 0)",
        }),
    },
    Entry {
        name: "savee",
        title: "SAVEE, Surrey audio-visual expressed emotion (480 files, 4 speakers)",
        kind: CorpusKind::Savee,
        homepage: "http://kahlan.eps.surrey.ac.uk/savee/",
        licence: "free for research use, after registration",
        source: Source::Manual {
            why: "it is only given out after registering: the download link comes with the \
                  registration, at http://kahlan.eps.surrey.ac.uk/savee/Register.html",
            how: "register there, download AudioData.zip, unzip it into DIR and use \
                  `corpus: {kind: savee, path: DIR/AudioData}` (or, with the link you were \
                  given, `ser corpus fetch --url LINK --to DIR`)",
        },
    },
    Entry {
        name: "emodb",
        title: "EmoDB, Berlin database of emotional speech (535 files, 10 speakers)",
        kind: CorpusKind::Emodb,
        homepage: "http://emodb.bilderbar.info/",
        licence: "free to download; cite Burkhardt et al., Interspeech 2005",
        source: Source::Archive(Archive {
            url: "http://emodb.bilderbar.info/download/download.zip",
            file_name: "emodb.zip",
            bytes: Size::About(45_000_000),
            unpacked: Size::About(60_000_000),
            checksum: None,
            corpus_dir: "wav",
            note: "the recordings are in wav/; lablaut/, labsilb/ and silb/ hold labels",
        }),
    },
];

/// The entry called `name` (case and `-`/`_` do not matter).
pub fn lookup(name: &str) -> Option<&'static Entry> {
    let norm = name.trim().to_ascii_lowercase().replace('-', "_");
    ENTRIES
        .iter()
        .find(|e| e.name == norm || (norm == "cremad" && e.name == "crema_d"))
}

/// The known names, for messages.
pub fn names() -> String {
    ENTRIES
        .iter()
        .map(|e| e.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1234567` as `1.2 MB` (decimal units, as download pages give them).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pinned_checksum_is_a_well_formed_digest() {
        for entry in ENTRIES {
            if let Source::Archive(a) = entry.source
                && let Some(p) = a.checksum
            {
                let parsed = Checksum::parse(p.algorithm, p.hex)
                    .unwrap_or_else(|e| panic!("{}: {e}", entry.name));
                assert_eq!(
                    parsed.hex, p.hex,
                    "{}: keep registry digests lowercase",
                    entry.name
                );
                assert!(
                    !p.source.is_empty(),
                    "{}: say where the digest is published",
                    entry.name
                );
            }
        }
    }

    #[test]
    fn names_are_unique_and_match_their_corpus_kind() {
        let mut names: Vec<_> = ENTRIES.iter().map(|e| e.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ENTRIES.len());
        for entry in ENTRIES {
            assert_eq!(
                entry.kind.name(),
                entry.name,
                "the registry name is the corpus kind"
            );
            assert!(entry.homepage.starts_with("http"), "{}", entry.name);
            match entry.source {
                Source::Archive(a) => {
                    assert!(a.url.starts_with("http"), "{}", entry.name);
                    assert!(
                        a.unpacked.bytes() > 0 && a.bytes.bytes() > 0,
                        "{}",
                        entry.name
                    );
                    assert!(!a.file_name.contains('/'), "{}", entry.name);
                }
                Source::Manual { why, how } => {
                    assert!(
                        why.contains("http") || how.contains("http"),
                        "{}",
                        entry.name
                    )
                }
            }
        }
    }

    #[test]
    fn lookup_ignores_case_and_dashes() {
        assert_eq!(lookup("RAVDESS").unwrap().name, "ravdess");
        assert_eq!(lookup("crema-d").unwrap().name, "crema_d");
        assert_eq!(lookup("CREMAD").unwrap().name, "crema_d");
        assert!(lookup("iemocap").is_none());
    }

    #[test]
    fn checksums_must_have_the_algorithms_length_of_hex() {
        assert!(Checksum::parse(Algorithm::Md5, "bc696df654c87fed845eb13823edef8a").is_ok());
        assert!(Checksum::parse(Algorithm::Sha256, "bc696df654c87fed845eb13823edef8a").is_err());
        let upper = Checksum::parse(Algorithm::Md5, "BC696DF654C87FED845EB13823EDEF8A").unwrap();
        assert_eq!(upper.hex, "bc696df654c87fed845eb13823edef8a");
        assert!(Checksum::parse(Algorithm::Md5, "zz696df654c87fed845eb13823edef8a").is_err());
    }

    #[test]
    fn sizes_read_in_decimal_units() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(208_468_073), "208.5 MB");
        assert_eq!(human_bytes(1_000_000_000_000_000), "1.0 PB");
    }
}
