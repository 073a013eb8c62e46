//! Corpus adapters: which files make up a corpus, and what each file's name
//! (or a manifest) says about it.
//!
//! Every adapter maps its corpus's own emotion codes onto one vocabulary
//! (`neutral`, `calm`, `happy`, `sad`, `angry`, `fearful`, `disgust`,
//! `surprised`, `boredom`), so label sets compare across corpora. A file
//! whose name breaks the corpus's rules is a reject with the reason, never a
//! silent skip; documentation and metadata files (`.txt`, `.csv`, ...) are
//! not candidates at all.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The corpora ser knows by their naming rules, plus a CSV manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorpusKind {
    /// `MM-CC-EE-II-SS-RR-AA.wav`: modality, channel, emotion, intensity,
    /// statement, repetition, actor (odd actors are male).
    Ravdess,
    /// `1001_DFA_ANG_XX.wav`: actor, sentence, emotion, level; gender from
    /// `VideoDemographics.csv` when it sits in or beside the folder.
    #[serde(rename = "crema_d")]
    CremaD,
    /// `OAF_back_angry.wav`: speaker (OAF/YAF, both female), word, emotion.
    Tess,
    /// `DC_a01.wav` or `DC/a01.wav`: speaker (DC, JE, JK, KL, all male),
    /// emotion code (a, d, f, h, n, sa, su) and number.
    Savee,
    /// `03a01Fa.wav`: speaker, text, German emotion letter, version.
    Emodb,
    /// A CSV file with columns `path,label,speaker` and optionally `gender`;
    /// paths are relative to the CSV's folder.
    Manifest,
}

impl CorpusKind {
    pub const ALL: [CorpusKind; 6] = [
        CorpusKind::Ravdess,
        CorpusKind::CremaD,
        CorpusKind::Tess,
        CorpusKind::Savee,
        CorpusKind::Emodb,
        CorpusKind::Manifest,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CorpusKind::Ravdess => "ravdess",
            CorpusKind::CremaD => "crema_d",
            CorpusKind::Tess => "tess",
            CorpusKind::Savee => "savee",
            CorpusKind::Emodb => "emodb",
            CorpusKind::Manifest => "manifest",
        }
    }
}

impl fmt::Display for CorpusKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CorpusKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let norm = s.to_ascii_lowercase().replace('-', "_");
        CorpusKind::ALL
            .into_iter()
            .find(|k| k.name() == norm)
            .ok_or_else(|| {
                let names: Vec<_> = CorpusKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown corpus kind '{s}' (known: {})", names.join(", "))
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Female,
    Male,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Female => "female",
            Gender::Male => "male",
        }
    }

    fn parse(s: &str) -> Option<Gender> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f" | "female" | "w" | "woman" => Some(Gender::Female),
            "m" | "male" | "man" => Some(Gender::Male),
            _ => None,
        }
    }
}

/// What a corpus says about one file, before it is decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct UtteranceMeta {
    /// The path relative to the corpus root without its extension, with `/`
    /// separators: unique within the corpus, stable across machines.
    pub id: String,
    pub path: PathBuf,
    pub speaker: String,
    pub gender: Option<Gender>,
    pub label: String,
}

/// A file that is not part of the corpus as its rules define it.
#[derive(Debug, Clone, PartialEq)]
pub struct NameReject {
    pub path: PathBuf,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct ScanReport {
    /// Sorted by id, so a scan of the same folder is the same list anywhere.
    pub utterances: Vec<UtteranceMeta>,
    pub rejects: Vec<NameReject>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("corpus path {0} does not exist")]
    Missing(PathBuf),
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("manifest {path}, line {line}: {reason}")]
    Manifest {
        path: PathBuf,
        line: u64,
        reason: String,
    },
}

/// File extensions that are never audio candidates: corpus documentation and
/// metadata that ship beside the recordings.
const NOT_AUDIO_EXTENSIONS: &[&str] = &[
    "txt", "md", "csv", "tsv", "json", "yaml", "yml", "pdf", "xlsx", "xls", "doc", "docx", "html",
    "xml", "py", "zip", "tar", "gz", "lab", "textgrid", "png", "jpg",
];

/// Scan a corpus: list its audio candidates and read their labels.
pub fn scan(kind: CorpusKind, root: &Path) -> Result<ScanReport, ScanError> {
    if !root.exists() {
        return Err(ScanError::Missing(root.to_path_buf()));
    }
    if kind == CorpusKind::Manifest {
        return scan_manifest(root);
    }
    let demographics = if kind == CorpusKind::CremaD {
        crema_d_genders(root)
    } else {
        HashMap::new()
    };
    let mut report = ScanReport::default();
    for path in candidate_files(root)? {
        let rel = path.strip_prefix(root).unwrap_or(&path);
        match parse_name(kind, rel) {
            Ok(mut parsed) => {
                if parsed.gender.is_none() {
                    parsed.gender = demographics.get(&parsed.speaker).copied();
                }
                report.utterances.push(UtteranceMeta {
                    id: utterance_id(rel),
                    path: path.clone(),
                    speaker: parsed.speaker,
                    gender: parsed.gender,
                    label: parsed.label.to_string(),
                });
            }
            Err(reason) => report.rejects.push(NameReject {
                path: path.clone(),
                reason,
            }),
        }
    }
    report.utterances.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(report)
}

fn utterance_id(rel: &Path) -> String {
    let no_ext = rel.with_extension("");
    no_ext
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn candidate_files(root: &Path) -> Result<Vec<PathBuf>, ScanError> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| ScanError::Unreadable {
            path: e.path().unwrap_or(root).to_path_buf(),
            reason: e.to_string(),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let ext = entry
            .path()
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        if ext.is_some_and(|e| NOT_AUDIO_EXTENSIONS.contains(&e.as_str())) {
            continue;
        }
        files.push(entry.into_path());
    }
    Ok(files)
}

/// What a file name says.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedName {
    pub speaker: String,
    pub gender: Option<Gender>,
    pub label: &'static str,
}

/// Read a path (relative to the corpus root) by `kind`'s naming rules.
pub fn parse_name(kind: CorpusKind, rel: &Path) -> Result<ParsedName, String> {
    let stem = rel
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = rel
        .parent()
        .and_then(|p| p.file_name())
        .map(|p| p.to_string_lossy().into_owned());
    match kind {
        CorpusKind::Ravdess => parse_ravdess(&stem),
        CorpusKind::CremaD => parse_crema_d(&stem),
        CorpusKind::Tess => parse_tess(&stem),
        CorpusKind::Savee => parse_savee(&stem, parent.as_deref()),
        CorpusKind::Emodb => parse_emodb(&stem),
        CorpusKind::Manifest => Err("manifest entries are not named by rule".into()),
    }
}

pub fn parse_ravdess(stem: &str) -> Result<ParsedName, String> {
    let bad =
        |why: &str| format!("name does not follow RAVDESS naming MM-CC-EE-II-SS-RR-AA ({why})");
    let fields: Vec<&str> = stem.split('-').collect();
    if fields.len() != 7
        || fields
            .iter()
            .any(|f| f.len() != 2 || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad("expected 7 two-digit fields"));
    }
    let label = match fields[2] {
        "01" => "neutral",
        "02" => "calm",
        "03" => "happy",
        "04" => "sad",
        "05" => "angry",
        "06" => "fearful",
        "07" => "disgust",
        "08" => "surprised",
        other => return Err(bad(&format!("emotion code {other} is not 01-08"))),
    };
    let actor: u32 = fields[6]
        .parse()
        .map_err(|_| bad("actor is not a number"))?;
    if !(1..=24).contains(&actor) {
        return Err(bad(&format!("actor {actor} is not 01-24")));
    }
    let gender = if actor % 2 == 1 {
        Gender::Male
    } else {
        Gender::Female
    };
    Ok(ParsedName {
        speaker: format!("{actor:02}"),
        gender: Some(gender),
        label,
    })
}

pub fn parse_crema_d(stem: &str) -> Result<ParsedName, String> {
    let bad = |why: &str| format!("name does not follow CREMA-D naming 1001_DFA_ANG_XX ({why})");
    let fields: Vec<&str> = stem.split('_').collect();
    if fields.len() != 4 {
        return Err(bad("expected 4 fields separated by _"));
    }
    if fields[0].len() != 4 || !fields[0].bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("actor id is not a 4-digit number"));
    }
    let label = match fields[2] {
        "ANG" => "angry",
        "DIS" => "disgust",
        "FEA" => "fearful",
        "HAP" => "happy",
        "NEU" => "neutral",
        "SAD" => "sad",
        other => {
            return Err(bad(&format!(
                "emotion code {other} is not ANG/DIS/FEA/HAP/NEU/SAD"
            )));
        }
    };
    Ok(ParsedName {
        speaker: fields[0].to_string(),
        gender: None,
        label,
    })
}

/// CREMA-D keeps actor sex in `VideoDemographics.csv` (ActorID,Age,Sex,...),
/// in the corpus folder or its parent.
fn crema_d_genders(root: &Path) -> HashMap<String, Gender> {
    let mut out = HashMap::new();
    let candidates = [
        root.join("VideoDemographics.csv"),
        root.join("../VideoDemographics.csv"),
    ];
    let Some(path) = candidates.iter().find(|p| p.is_file()) else {
        return out;
    };
    let Ok(mut reader) = csv::Reader::from_path(path) else {
        return out;
    };
    let headers = reader.headers().cloned().unwrap_or_default();
    let (Some(id_col), Some(sex_col)) = (
        headers.iter().position(|h| h == "ActorID"),
        headers.iter().position(|h| h == "Sex"),
    ) else {
        return out;
    };
    for record in reader.records().flatten() {
        if let (Some(id), Some(g)) = (
            record.get(id_col),
            record.get(sex_col).and_then(Gender::parse),
        ) {
            out.insert(id.to_string(), g);
        }
    }
    out
}

pub fn parse_tess(stem: &str) -> Result<ParsedName, String> {
    let bad = |why: &str| format!("name does not follow TESS naming OAF_word_emotion ({why})");
    let (speaker, rest) = stem.split_once('_').ok_or_else(|| bad("no _ separator"))?;
    let speaker = speaker.to_ascii_uppercase();
    if speaker != "OAF" && speaker != "YAF" {
        return Err(bad(&format!("speaker {speaker} is not OAF or YAF")));
    }
    let emotion = rest.rsplit('_').next().unwrap_or("").to_ascii_lowercase();
    let label = match emotion.as_str() {
        "angry" => "angry",
        "disgust" => "disgust",
        "fear" => "fearful",
        "happy" => "happy",
        "neutral" => "neutral",
        "ps" | "surprise" | "surprised" => "surprised",
        "sad" => "sad",
        other => {
            return Err(bad(&format!(
                "emotion '{other}' is not angry/disgust/fear/happy/neutral/ps/sad"
            )));
        }
    };
    Ok(ParsedName {
        speaker,
        gender: Some(Gender::Female),
        label,
    })
}

pub fn parse_savee(stem: &str, parent: Option<&str>) -> Result<ParsedName, String> {
    let bad = |why: &str| format!("name does not follow SAVEE naming DC_a01 or DC/a01 ({why})");
    const SPEAKERS: [&str; 4] = ["DC", "JE", "JK", "KL"];
    let (speaker, code) = match stem.split_once('_') {
        Some((s, c)) => (s.to_string(), c),
        None => (parent.unwrap_or("").to_string(), stem),
    };
    if !SPEAKERS.contains(&speaker.as_str()) {
        return Err(bad(&format!("speaker '{speaker}' is not DC, JE, JK or KL")));
    }
    let letters: String = code
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    let digits = &code[letters.len()..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the emotion code is not followed by a number"));
    }
    let label = match letters.as_str() {
        "a" => "angry",
        "d" => "disgust",
        "f" => "fearful",
        "h" => "happy",
        "n" => "neutral",
        "sa" => "sad",
        "su" => "surprised",
        other => {
            return Err(bad(&format!(
                "emotion code '{other}' is not a/d/f/h/n/sa/su"
            )));
        }
    };
    Ok(ParsedName {
        speaker,
        gender: Some(Gender::Male),
        label,
    })
}

pub fn parse_emodb(stem: &str) -> Result<ParsedName, String> {
    let bad = |why: &str| format!("name does not follow EmoDB naming 03a01Fa ({why})");
    let b = stem.as_bytes();
    if b.len() != 7 || !b[..2].iter().all(u8::is_ascii_digit) {
        return Err(bad(
            "expected 2 speaker digits, 3 text characters, emotion letter, version",
        ));
    }
    let speaker = &stem[..2];
    let gender = match speaker {
        "03" | "10" | "11" | "12" | "15" => Gender::Male,
        "08" | "09" | "13" | "14" | "16" => Gender::Female,
        other => return Err(bad(&format!("speaker {other} is not one of EmoDB's ten"))),
    };
    let label = match b[5] {
        b'W' => "angry",
        b'L' => "boredom",
        b'E' => "disgust",
        b'A' => "fearful",
        b'F' => "happy",
        b'T' => "sad",
        b'N' => "neutral",
        other => {
            return Err(bad(&format!(
                "emotion letter '{}' is not W/L/E/A/F/T/N",
                other as char
            )));
        }
    };
    Ok(ParsedName {
        speaker: speaker.to_string(),
        gender: Some(gender),
        label,
    })
}

fn scan_manifest(csv_path: &Path) -> Result<ScanReport, ScanError> {
    let manifest_err = |line: u64, reason: String| ScanError::Manifest {
        path: csv_path.to_path_buf(),
        line,
        reason,
    };
    let base = csv_path.parent().unwrap_or(Path::new("."));
    let mut reader = csv::Reader::from_path(csv_path).map_err(|e| ScanError::Unreadable {
        path: csv_path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let headers = reader
        .headers()
        .map_err(|e| manifest_err(1, e.to_string()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let (Some(path_col), Some(label_col), Some(speaker_col)) =
        (col("path"), col("label"), col("speaker"))
    else {
        return Err(manifest_err(
            1,
            format!(
                "header must name path, label and speaker columns, found: {}",
                headers.iter().collect::<Vec<_>>().join(",")
            ),
        ));
    };
    let gender_col = col("gender");
    let mut report = ScanReport::default();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let record = record.map_err(|e| manifest_err(line, e.to_string()))?;
        let field = |c: usize| record.get(c).map(str::trim).unwrap_or("");
        let rel = field(path_col);
        let path = base.join(rel);
        let (label, speaker) = (field(label_col).to_ascii_lowercase(), field(speaker_col));
        if rel.is_empty() || label.is_empty() || speaker.is_empty() {
            report.rejects.push(NameReject {
                path,
                reason: format!("manifest line {line}: path, label and speaker must all be set"),
            });
            continue;
        }
        report.utterances.push(UtteranceMeta {
            id: utterance_id(Path::new(rel)),
            path,
            speaker: speaker.to_string(),
            gender: gender_col.and_then(|c| Gender::parse(field(c))),
            label,
        });
    }
    report.utterances.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(dup) = report.utterances.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(manifest_err(
            0,
            format!("two entries share the id {}", dup[0].id),
        ));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ravdess_names() {
        let p = parse_ravdess("03-01-05-02-01-01-12").unwrap();
        assert_eq!(
            (p.speaker.as_str(), p.gender, p.label),
            ("12", Some(Gender::Female), "angry")
        );
        let p = parse_ravdess("03-01-08-01-02-02-01").unwrap();
        assert_eq!(
            (p.speaker.as_str(), p.gender, p.label),
            ("01", Some(Gender::Male), "surprised")
        );
        assert!(
            parse_ravdess("03-01-09-01-01-01-01")
                .unwrap_err()
                .contains("emotion code 09")
        );
        assert!(
            parse_ravdess("03-01-01-01-01-01-25")
                .unwrap_err()
                .contains("actor 25")
        );
        assert!(
            parse_ravdess("readme")
                .unwrap_err()
                .contains("RAVDESS naming")
        );
    }

    #[test]
    fn crema_d_names() {
        let p = parse_crema_d("1001_DFA_ANG_XX").unwrap();
        assert_eq!((p.speaker.as_str(), p.label), ("1001", "angry"));
        assert_eq!(parse_crema_d("1091_WSI_FEA_HI").unwrap().label, "fearful");
        assert!(parse_crema_d("1001_DFA_XXX_XX").is_err());
        assert!(parse_crema_d("10_DFA_ANG_XX").is_err());
    }

    #[test]
    fn tess_names() {
        let p = parse_tess("OAF_back_angry").unwrap();
        assert_eq!(
            (p.speaker.as_str(), p.gender, p.label),
            ("OAF", Some(Gender::Female), "angry")
        );
        assert_eq!(parse_tess("YAF_dog_ps").unwrap().label, "surprised");
        assert_eq!(parse_tess("YAF_germ_fear").unwrap().label, "fearful");
        assert!(parse_tess("ZZZ_back_angry").is_err());
        assert!(parse_tess("OAF_back_bored").is_err());
    }

    #[test]
    fn savee_names_flat_and_nested() {
        let p = parse_savee("DC_sa01", None).unwrap();
        assert_eq!((p.speaker.as_str(), p.label), ("DC", "sad"));
        let p = parse_savee("su15", Some("KL")).unwrap();
        assert_eq!((p.speaker.as_str(), p.label), ("KL", "surprised"));
        assert_eq!(parse_savee("JE_n30", None).unwrap().label, "neutral");
        assert!(parse_savee("XX_a01", None).is_err());
        assert!(parse_savee("DC_q01", None).is_err());
        assert!(parse_savee("DC_a", None).is_err());
    }

    #[test]
    fn emodb_names() {
        let p = parse_emodb("03a01Fa").unwrap();
        assert_eq!(
            (p.speaker.as_str(), p.gender, p.label),
            ("03", Some(Gender::Male), "happy")
        );
        let p = parse_emodb("16b10Lb").unwrap();
        assert_eq!(
            (p.speaker.as_str(), p.gender, p.label),
            ("16", Some(Gender::Female), "boredom")
        );
        assert!(parse_emodb("04a01Fa").is_err());
        assert!(parse_emodb("03a01Xa").is_err());
    }

    #[test]
    fn scan_lists_rejects_and_skips_docs() {
        let dir = tempfile::tempdir().unwrap();
        let actor = dir.path().join("Actor_03");
        std::fs::create_dir(&actor).unwrap();
        std::fs::write(actor.join("03-01-04-01-01-01-03.wav"), b"x").unwrap();
        std::fs::write(actor.join("03-01-02-01-01-01-03.flac"), b"x").unwrap();
        std::fs::write(actor.join("notes.txt"), b"docs").unwrap();
        std::fs::write(actor.join("take2.wav"), b"x").unwrap();
        std::fs::write(actor.join(".DS_Store"), b"x").unwrap();
        let report = scan(CorpusKind::Ravdess, dir.path()).unwrap();
        let ids: Vec<_> = report.utterances.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "Actor_03/03-01-02-01-01-01-03",
                "Actor_03/03-01-04-01-01-01-03"
            ]
        );
        assert_eq!(report.utterances[0].label, "calm");
        assert_eq!(report.rejects.len(), 1);
        assert!(report.rejects[0].path.ends_with("take2.wav"));
        assert!(matches!(
            scan(CorpusKind::Ravdess, &dir.path().join("nope")),
            Err(ScanError::Missing(_))
        ));
    }

    #[test]
    fn crema_d_reads_gender_from_demographics() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("VideoDemographics.csv"), "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n").unwrap();
        std::fs::write(dir.path().join("1001_DFA_ANG_XX.wav"), b"x").unwrap();
        std::fs::write(dir.path().join("1002_IEO_SAD_LO.wav"), b"x").unwrap();
        let report = scan(CorpusKind::CremaD, dir.path()).unwrap();
        let genders: Vec<_> = report.utterances.iter().map(|u| u.gender).collect();
        assert_eq!(genders, [Some(Gender::Male), Some(Gender::Female)]);
    }

    #[test]
    fn manifest_rows_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("list.csv");
        std::fs::write(&csv, "path,label,speaker,gender\nclips/a.wav,Happy,s1,f\nclips/b.ogg,sad,s2,\nclips/c.wav,,s3,m\n").unwrap();
        let report = scan(CorpusKind::Manifest, &csv).unwrap();
        assert_eq!(report.utterances.len(), 2);
        assert_eq!(report.utterances[0].id, "clips/a");
        assert_eq!(report.utterances[0].label, "happy");
        assert_eq!(report.utterances[0].gender, Some(Gender::Female));
        assert_eq!(report.utterances[1].path, dir.path().join("clips/b.ogg"));
        assert!(report.rejects[0].reason.contains("line 4"));

        std::fs::write(&csv, "file,emotion\na.wav,happy\n").unwrap();
        let err = scan(CorpusKind::Manifest, &csv).unwrap_err().to_string();
        assert!(err.contains("path, label and speaker"), "{err}");
    }

    #[test]
    fn kind_from_str() {
        assert_eq!("CREMA-D".parse::<CorpusKind>().unwrap(), CorpusKind::CremaD);
        assert!(
            "timit"
                .parse::<CorpusKind>()
                .unwrap_err()
                .contains("known: ravdess")
        );
    }
}
