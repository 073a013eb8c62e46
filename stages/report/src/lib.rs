//! Report: the experiment report of a ser run, as files a person opens.
//!
//! [`write_report`] turns the evaluated experiments of one pipeline into a
//! folder:
//!
//! ```text
//! <out_dir>/
//!   index.html                      one self-contained page (figures embedded, no URLs)
//!   README.md                       the results table in Markdown, linking the figures
//!   img/<slug>_confusion.png|svg    row-normalised confusion matrix
//!   img/<slug>_per_class.png|svg    precision / recall / F1 per class
//!   img/<slug>_curves.png|svg       training curves (when the experiment has them)
//!   img/<slug>_features.png|svg     features kept across folds (when selection ran)
//! ```
//!
//! The crate knows nothing about the cache or the pipeline: the caller fills
//! a [`ReportInput`] from evaluate's outputs. Modules: [`charts`] draws the
//! figures (PNG and SVG from one drawing routine each), `html` and
//! `markdown` write the two documents, `format` holds the number formatting
//! and slugs both documents share, and `font` registers the bundled font.

pub mod charts;
mod font;
mod format;
mod html;
mod markdown;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use format::slug;
pub use html::escape_html;

/// Everything the report shows: one pipeline's experiments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportInput {
    /// Page title and Markdown heading.
    pub title: String,
    /// Hash of the pipeline configuration the results come from, shown so a
    /// report can be matched to its `pipeline.yaml`.
    pub config_hash: String,
    /// In any order: the report sorts them by UA.
    pub experiments: Vec<ExperimentResult>,
    /// Inputs a stage left out, with the reason (ingest's files, extract's
    /// utterances), in the order given; shown as one table.
    #[serde(default)]
    pub rejects: Vec<RejectedInput>,
    /// A pipeline over several corpora (or with a label set): each
    /// corpus's labels before and after, and each experiment's scores per
    /// test corpus.
    #[serde(default)]
    pub corpora: Option<Corpora>,
    /// What experiments chose inside their training folds (a grid's point,
    /// an ensemble's kept members), per fold; shown as one table.
    #[serde(default)]
    pub choices: Vec<ExperimentChoices>,
}

/// One experiment's choices made inside its training folds, never on
/// their test speakers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentChoices {
    pub experiment: String,
    pub protocol: String,
    /// How they were made, in words.
    pub chosen_by: String,
    pub folds: Vec<FoldChoice>,
}

/// One fold's choice: the point's values or the members, as text, and the
/// validation UA it was chosen by (one per `keep_best` member, or the
/// `choose` members' mean's; none for a classic grid, chosen by inner CV).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldChoice {
    pub fold: String,
    pub chosen: String,
    pub validation_ua: Vec<f64>,
    /// The rows a `choose` mean was scored on: (utterances, speakers), so
    /// a reader sees how much evidence chose it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_rows: Option<(usize, usize)>,
}

impl FoldChoice {
    /// The validation UA(s) as one cell: "0.512", "0.6, 0.5" per member,
    /// or "0.717 (659 utterances, 11 speakers)".
    pub fn scores(&self) -> String {
        let scores = self
            .validation_ua
            .iter()
            .map(|ua| format!("{ua:.3}"))
            .collect::<Vec<_>>()
            .join(", ");
        match self.validation_rows {
            Some((utterances, speakers)) => {
                format!("{scores} ({utterances} utterances, {speakers} speakers)")
            }
            None => scores,
        }
    }
}

/// The corpora section of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Corpora {
    pub labels: Vec<CorpusLabels>,
    pub results: Vec<CorpusResult>,
}

/// One corpus's utterances per label as the corpus names them, and per
/// pipeline label after the label set; `excluded` were left out by it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusLabels {
    pub corpus: String,
    pub before: Vec<(String, usize)>,
    pub after: Vec<(String, usize)>,
    pub excluded: usize,
}

/// One experiment's scores on one test corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusResult {
    pub experiment: String,
    pub protocol: String,
    pub corpus: String,
    pub ua: f64,
    pub ua_ci: Option<(f64, f64)>,
    pub wa: f64,
    pub n_test: usize,
}

/// One input a stage rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedInput {
    /// The node that rejected it (`ingest`, `extract:egemaps`, or
    /// `extract` for an utterance every feature set rejected).
    pub stage: String,
    /// The file, relative to the corpus.
    pub path: String,
    /// A short stable code (`silent`, `duplicate`, `too_short`, ...).
    pub code: String,
    pub reason: String,
}

/// One cell of the experiment matrix, evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentResult {
    /// Display name, conventionally `features/selection/model`; also the
    /// source of the figure file names (see [`slug`]).
    pub name: String,
    pub features: String,
    pub selection: String,
    pub model: String,
    pub protocol: String,
    /// Unweighted average recall (headline number, averaged over folds).
    pub ua: f64,
    /// Weighted accuracy.
    pub wa: f64,
    pub macro_f1: f64,
    /// Confidence intervals `(low, high)`, when the evaluation computed them.
    pub ua_ci: Option<(f64, f64)>,
    pub wa_ci: Option<(f64, f64)>,
    pub macro_f1_ci: Option<(f64, f64)>,
    /// What the intervals' bootstrap resampled: `speaker` or `utterance`.
    #[serde(default)]
    pub ci_unit: Option<String>,
    /// Test speakers normalised by their own audio (`normalize: speaker`):
    /// marked in both documents, not comparable with inductive results.
    #[serde(default)]
    pub transductive: bool,
    /// Test utterances scored, over all folds.
    pub n_test: usize,
    /// Fingerprint key of the evaluate node that produced the numbers.
    pub node_key: String,
    /// Class names, in the order of `confusion` and `per_class`.
    pub classes: Vec<String>,
    /// Pooled confusion counts, `confusion[true][predicted]`; `classes.len()`
    /// square, or empty when there is none (then no confusion figure).
    pub confusion: Vec<Vec<usize>>,
    /// One entry per class, or empty (then no per-class figure).
    pub per_class: Vec<ClassScore>,
    /// How often selection kept each feature, when a selection ran.
    pub selected_features: Option<Vec<FeatureKept>>,
    /// Training curves (per-epoch loss, UA, ...), for models that have them.
    pub curves: Option<Vec<Curve>>,
}

/// Pooled scores of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Test utterances of this class.
    pub support: usize,
}

/// One feature column and how many of the folds' selections kept it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureKept {
    pub name: String,
    pub kept: usize,
    pub folds: usize,
}

/// One training curve. Curves with the same `panel` share a plot and its
/// y axis (e.g. panel `loss` with `train loss` and `validation loss`, panel
/// `UA` with `validation UA`), so quantities on different scales do not
/// squash each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    pub name: String,
    pub panel: String,
    /// `(epoch, value)` points, in drawing order.
    pub points: Vec<(f64, f64)>,
}

/// The files one [`write_report`] call wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    pub index_html: PathBuf,
    pub readme_md: PathBuf,
    /// Every figure file (PNG and SVG), in writing order.
    pub images: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("experiment {experiment:?}: {reason}")]
    InvalidInput { experiment: String, reason: String },
    #[error("drawing {figure}: {reason}")]
    Render { figure: String, reason: String },
    #[error("writing {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One experiment as the documents see it: its data, rank, file-name slug
/// and rendered figures.
pub(crate) struct Entry<'a> {
    pub exp: &'a ExperimentResult,
    /// 1 = highest UA.
    pub rank: usize,
    pub slug: String,
    pub figures: Vec<charts::NamedFigure>,
}

/// Writes `index.html`, `README.md` and `img/` into `out_dir` (created if
/// missing). Existing files of the same names are replaced; other files in
/// `out_dir` are left alone.
pub fn write_report(input: &ReportInput, out_dir: &Path) -> Result<ReportFiles, ReportError> {
    for exp in &input.experiments {
        validate(exp)?;
    }
    let img_dir = out_dir.join("img");
    create_dir(&img_dir)?;

    let order = format::rank_order(&input.experiments);
    let slugs = format::unique_slugs(&input.experiments);
    let mut entries = Vec::with_capacity(order.len());
    let mut images = Vec::new();
    for (rank0, &i) in order.iter().enumerate() {
        let exp = &input.experiments[i];
        let figures = charts::experiment_figures(exp)?;
        for fig in &figures {
            let base = format!("{}_{}", slugs[i], fig.kind);
            let png = img_dir.join(format!("{base}.png"));
            let svg = img_dir.join(format!("{base}.svg"));
            write_file(&png, &fig.figure.png)?;
            write_file(&svg, fig.figure.svg.as_bytes())?;
            images.push(png);
            images.push(svg);
        }
        entries.push(Entry {
            exp,
            rank: rank0 + 1,
            slug: slugs[i].clone(),
            figures,
        });
    }

    let index_html = out_dir.join("index.html");
    write_file(&index_html, html::render(input, &entries).as_bytes())?;
    let readme_md = out_dir.join("README.md");
    write_file(&readme_md, markdown::render(input, &entries).as_bytes())?;
    Ok(ReportFiles {
        index_html,
        readme_md,
        images,
    })
}

/// Shape checks the figures rely on, so a malformed result is reported by
/// name instead of drawing a wrong picture or panicking on an index.
fn validate(exp: &ExperimentResult) -> Result<(), ReportError> {
    let invalid = |reason: String| ReportError::InvalidInput {
        experiment: exp.name.clone(),
        reason,
    };
    let n = exp.classes.len();
    if !exp.confusion.is_empty() {
        if exp.confusion.len() != n {
            return Err(invalid(format!(
                "confusion has {} rows for {n} classes",
                exp.confusion.len()
            )));
        }
        if let Some((r, row)) = exp
            .confusion
            .iter()
            .enumerate()
            .find(|(_, row)| row.len() != n)
        {
            return Err(invalid(format!(
                "confusion row {r} has {} columns for {n} classes",
                row.len()
            )));
        }
    }
    if !exp.per_class.is_empty() && exp.per_class.len() != n {
        return Err(invalid(format!(
            "per_class has {} entries for {n} classes",
            exp.per_class.len()
        )));
    }
    Ok(())
}

fn create_dir(dir: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    std::fs::write(path, bytes).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A small valid experiment for unit tests to vary with struct-update
/// syntax.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub fn experiment() -> ExperimentResult {
        let classes: Vec<String> = ["angry", "calm", "sad"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let confusion = vec![vec![8, 1, 1], vec![0, 7, 3], vec![1, 2, 7]];
        let per_class = per_class_from(&confusion);
        ExperimentResult {
            name: "acoustic/none/logreg".into(),
            features: "acoustic".into(),
            selection: "none".into(),
            model: "logreg".into(),
            protocol: "speaker_6fold".into(),
            ua: 0.733,
            wa: 0.733,
            macro_f1: 0.731,
            ua_ci: Some((0.6, 0.85)),
            wa_ci: None,
            macro_f1_ci: None,
            ci_unit: Some("speaker".into()),
            transductive: false,
            n_test: 30,
            node_key: "3f9a0c1d2e4b5a6978877665544332211".into(),
            classes,
            confusion,
            per_class,
            selected_features: None,
            curves: None,
        }
    }

    /// Pooled precision/recall/F1 from a confusion matrix.
    pub fn per_class_from(confusion: &[Vec<usize>]) -> Vec<ClassScore> {
        ser_evaluate::metrics::class_scores(confusion)
            .into_iter()
            .map(|s| ClassScore {
                precision: s.precision,
                recall: s.recall,
                f1: s.f1,
                support: s.support,
            })
            .collect()
    }
}
