//! The ingest node: scan the corpus, decode and resample every file, and
//! write the manifest and rejects tables.
//!
//! Freshness: the node's external input is a digest of the corpus listing
//! (each utterance's id, label, speaker and content hash, and each
//! name-rejected path), so renaming, adding, removing or editing a file
//! changes it, while touching a file does not. Each file's decode is cached
//! by its content hash and the sample rate, so only new or changed files
//! are decoded again. Paths in the tables are relative to the corpus root,
//! so the same corpus at another path (another machine) shares the cache.
//!
//! Files with identical content (the same BLAKE3 hash) are one utterance:
//! the first in path order is kept and every other copy is rejected as a
//! `duplicate` of it (with utterance-level folds a copy on both sides of a
//! split would be a leak). Files whose float samples exceed full scale are
//! kept as decoded and listed in the summary (`beyond_full_scale`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use ser_ingest::corpus::{self, NameReject};
use ser_ingest::{CorpusKind, LabelCounts, LabelFate, LabelSpec, UtteranceMeta};

use super::{Context, Inputs, Outputs, Placement, Shard, Stage, item_key};
use crate::artifact::{ColumnData, Table, npy, parquet_write};
use crate::config::CorpusSource;

/// 3: signals resampled by libsoxr (soxr_hq) instead of rubato.
/// 4: files under 100 ms and near-silent files (peak below -60 dBFS, was
/// -120) are rejected; duplicates by content are rejected; records keep
/// the peak, for the beyond-full-scale warning.
const CODE_VERSION: u32 = 4;

pub struct IngestStage {
    pub sources: Vec<CorpusSource>,
    pub labels: LabelSpec,
    pub sample_rate: u32,
    listing: OnceLock<Result<Listing, String>>,
}

struct Listing {
    utterances: Vec<UtteranceMeta>,
    /// Index into the stage's sources, parallel to `utterances`.
    source: Vec<usize>,
    /// What the label set does with each utterance, parallel to
    /// `utterances`.
    fates: Vec<LabelFate>,
    /// BLAKE3 of each utterance's file, parallel to `utterances`.
    hashes: Vec<String>,
    /// (source, file) of each name-rejected file.
    name_rejects: Vec<(usize, NameReject)>,
    /// One line per utterance (`id, label, speaker, gender, content hash`)
    /// and per name-rejected file. Stored as an object whose name is the
    /// listing's digest, so a later run can say what changed.
    text: String,
    digest: String,
}

/// The cached result of decoding one file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemRecord {
    Decoded {
        signal: String,
        n_samples: u64,
        source_rate: u32,
        channels: u16,
        /// Largest |x| as decoded; above 1.0 for float files beyond full
        /// scale.
        #[serde(default)]
        peak: f32,
    },
    Rejected {
        code: String,
        reason: String,
    },
}

impl IngestStage {
    pub fn new(sources: Vec<CorpusSource>, labels: LabelSpec, sample_rate: u32) -> IngestStage {
        IngestStage {
            sources,
            labels,
            sample_rate,
            listing: OnceLock::new(),
        }
    }

    fn listing(&self) -> anyhow::Result<&Listing> {
        self.listing
            .get_or_init(|| list_corpora(&self.sources, &self.labels).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// A file's path as the tables show it: relative to its corpus root,
    /// behind the corpus's name when there are several.
    fn rel(&self, source: usize, path: &Path) -> String {
        let s = &self.sources[source];
        let base = if s.kind == CorpusKind::Manifest {
            s.root.parent().unwrap_or(&s.root)
        } else {
            &s.root
        };
        let rel = path
            .strip_prefix(base)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        if s.namespaced {
            format!("{}/{rel}", s.name)
        } else {
            rel
        }
    }

    /// Where the corpora are, for messages.
    fn roots(&self) -> String {
        self.sources
            .iter()
            .map(|s| s.root.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn list_corpora(sources: &[CorpusSource], labels: &LabelSpec) -> anyhow::Result<Listing> {
    let mut utterances = Vec::new();
    let mut source = Vec::new();
    let mut name_rejects = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let report =
            corpus::scan(s.kind, &s.root).map_err(|e| anyhow::anyhow!("corpus {}: {e}", s.name))?;
        for mut u in report.utterances {
            if s.namespaced {
                u.id = format!("{}/{}", s.name, u.id);
                u.speaker = format!("{}/{}", s.name, u.speaker);
            }
            utterances.push(u);
            source.push(i);
        }
        name_rejects.extend(report.rejects.into_iter().map(|r| (i, r)));
    }
    let mut have: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (u, &i) in utterances.iter().zip(&source) {
        have.entry(sources[i].name.clone())
            .or_default()
            .insert(u.label.clone());
    }
    labels.check(&have).map_err(anyhow::Error::msg)?;
    let fates = utterances.iter().map(|u| labels.apply(&u.label)).collect();
    let hashes: Vec<String> = utterances
        .par_iter()
        .map(|u| {
            let mut h = blake3::Hasher::new();
            match h.update_mmap(&u.path) {
                Ok(_) => h.finalize().to_hex().to_string(),
                // Unreadable files get a per-path marker; decode reports why.
                Err(e) => format!("unreadable:{}:{e}", u.path.display()),
            }
        })
        .collect();
    let mut text = String::new();
    for (u, hash) in utterances.iter().zip(&hashes) {
        let gender = u.gender.map_or("", |g| g.as_str());
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            u.id, u.label, u.speaker, gender, hash
        ));
    }
    for (i, r) in &name_rejects {
        let s = &sources[*i];
        let rel = r.path.strip_prefix(&s.root).unwrap_or(&r.path);
        let shown = if s.namespaced {
            format!("{}/{}", s.name, rel.display())
        } else {
            rel.display().to_string()
        };
        text.push_str(&format!("reject:{shown}\t{}\n", r.reason));
    }
    let digest = format!("{}.tsv", blake3::hash(text.as_bytes()).to_hex());
    Ok(Listing {
        utterances,
        source,
        fates,
        hashes,
        name_rejects,
        text,
        digest,
    })
}

/// What changed between two corpus listings, counted by utterance id.
fn listing_change(old: &str, new: &str) -> String {
    let parse = |t: &str| -> BTreeMap<String, String> {
        t.lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(id, rest)| (id.to_string(), rest.to_string()))
            .collect()
    };
    let (old, new) = (parse(old), parse(new));
    let added = new.keys().filter(|k| !old.contains_key(*k)).count();
    let removed = old.keys().filter(|k| !new.contains_key(*k)).count();
    let modified = new
        .iter()
        .filter(|(k, v)| old.get(*k).is_some_and(|o| o != *v))
        .count();
    format!("{added} added, {removed} removed, {modified} changed")
}

impl Stage for IngestStage {
    fn stage(&self) -> &'static str {
        "ingest"
    }

    fn code_version(&self) -> u32 {
        CODE_VERSION
    }

    fn params(&self) -> Value {
        // The one-corpus form keeps the keys it always had.
        let mut params = match self.sources.as_slice() {
            [one] if !one.namespaced => {
                json!({ "corpus": one.kind.name(), "sample_rate": self.sample_rate })
            }
            many => json!({
                "corpora": many
                    .iter()
                    .map(|s| json!({ "name": s.name, "kind": s.kind.name() }))
                    .collect::<Vec<_>>(),
                "sample_rate": self.sample_rate,
            }),
        };
        if !self.labels.is_identity() {
            params["labels"] = json!(self.labels);
        }
        params
    }

    fn external_inputs(&self, _ctx: &Context) -> anyhow::Result<BTreeMap<String, String>> {
        Ok(BTreeMap::from([(
            "corpus".to_string(),
            self.listing()?.digest.clone(),
        )]))
    }

    fn describe_input_change(
        &self,
        ctx: &Context,
        input: &str,
        old_digest: &str,
    ) -> Option<String> {
        let listing = self.listing().ok()?;
        let old = ctx.cache.read_object(old_digest).ok()?;
        (input == "corpus").then(|| listing_change(&String::from_utf8_lossy(&old), &listing.text))
    }

    fn placement(&self) -> Placement {
        Placement {
            class: "ingest",
            per_item: true,
            gpu: false,
        }
    }

    fn items_hint(&self) -> Option<usize> {
        self.listing().ok().map(|l| l.utterances.len())
    }

    fn run(&self, ctx: &Context, _inputs: &Inputs) -> anyhow::Result<Outputs> {
        let listing = self.listing()?;
        let listing_object = ctx.cache.put_object(listing.text.as_bytes(), "tsv")?;
        debug_assert_eq!(listing_object, listing.digest);
        let item_params = json!({ "sample_rate": self.sample_rate });
        let total = listing.utterances.len();
        let range = Shard::range(ctx.shard, total);
        let bar = ctx.progress.bar(range.len(), "ingest: decode");
        let items: Vec<(String, Option<Result<ItemRecord, String>>)> = listing.utterances
            [range.clone()]
        .par_iter()
        .zip(&listing.hashes[range.clone()])
        .zip(&listing.fates[range])
        .map(|((u, hash), fate)| {
            let key = item_key("ingest", CODE_VERSION, &item_params, hash);
            // Files the label set excludes are never decoded. After a
            // stop signal, remaining files are not decoded (the
            // scheduler does not record this node); decoded ones stay
            // cached.
            let result = match (fate, crate::interrupt::requested()) {
                (LabelFate::Exclude(_), _) => None,
                (_, Some(_)) => Some(Err("interrupted".to_string())),
                (LabelFate::Keep(_), None) => Some(decode_item(ctx, &key, u, self.sample_rate)),
            };
            bar.inc(1);
            (key, result)
        })
        .collect();
        bar.finish_and_clear();
        if let Some(shard) = ctx.shard {
            return Ok(Outputs::shard(shard, items.len(), total));
        }

        let mut manifest = ManifestColumns::default();
        let mut rejects: Vec<(String, String, String)> = listing
            .name_rejects
            .iter()
            .map(|(i, r)| (self.rel(*i, &r.path), "name".to_string(), r.reason.clone()))
            .collect();
        let mut refs = vec![listing_object];
        let mut item_keys = Vec::new();
        // Content hash -> the path kept for it (utterances are in id order,
        // which is path order within a corpus).
        let mut first_of: BTreeMap<&str, String> = BTreeMap::new();
        let mut loud: Vec<(String, f32)> = Vec::new();
        let mut counts = LabelCounts::default();
        // Left out by the label set: by choice, so in the rejects table
        // (code `label`) and the label counts, but not among the rejects a
        // run reports or `--strict` refuses.
        let mut excluded: Vec<(String, String, String)> = Vec::new();
        for ((((u, hash), (key, result)), fate), &source) in listing
            .utterances
            .iter()
            .zip(&listing.hashes)
            .zip(items)
            .zip(&listing.fates)
            .zip(&listing.source)
        {
            let rel = self.rel(source, &u.path);
            let corpus_name = &self.sources[source].name;
            let (label, result) = match (fate, result) {
                (LabelFate::Exclude(reason), _) => {
                    counts.count(corpus_name, &u.label, fate);
                    excluded.push((rel, "label".into(), reason.clone()));
                    continue;
                }
                (LabelFate::Keep(label), Some(result)) => (label, result),
                (LabelFate::Keep(_), None) => unreachable!("kept labels are decoded"),
            };
            match result {
                Ok(ItemRecord::Decoded {
                    signal,
                    n_samples,
                    source_rate,
                    channels,
                    peak,
                }) => {
                    item_keys.push(format!("ingest/{key}"));
                    if let Some(first) = first_of.get(hash.as_str()) {
                        rejects.push((
                            rel,
                            "duplicate".into(),
                            format!("duplicate: same content as {first}"),
                        ));
                        continue;
                    }
                    first_of.insert(hash, rel.clone());
                    if peak > 1.0 {
                        loud.push((rel.clone(), peak));
                    }
                    counts.count(corpus_name, &u.label, fate);
                    manifest.push(
                        u,
                        label,
                        &rel,
                        corpus_name,
                        hash,
                        &signal,
                        n_samples,
                        self.sample_rate,
                        source_rate,
                        channels,
                    );
                    refs.push(signal);
                }
                Ok(ItemRecord::Rejected { code, reason }) => {
                    item_keys.push(format!("ingest/{key}"));
                    rejects.push((rel, code, reason));
                }
                Err(io) => rejects.push((rel, "io".into(), io)),
            }
        }
        rejects.sort();
        let n_utterances = manifest.id.len();
        let shown: Vec<Value> = rejects
            .iter()
            .map(|(p, c, r)| json!({"path": p, "code": c, "reason": r}))
            .collect();
        if n_utterances == 0 {
            anyhow::bail!(
                "no usable audio in {} ({} rejected)",
                self.roots(),
                rejects.len()
            );
        }
        let manifest_obj = ctx.cache.put_object(
            &parquet_write::to_parquet(&manifest.into_table())?,
            "parquet",
        )?;
        let all = rejects.iter().chain(&excluded);
        let rejects_table = Table::new()
            .strings("path", all.clone().map(|r| &r.0))
            .strings("code", all.clone().map(|r| &r.1))
            .strings("reason", all.map(|r| &r.2));
        let rejects_obj = ctx
            .cache
            .put_object(&parquet_write::to_parquet(&rejects_table)?, "parquet")?;
        let mut summary = json!({
                "utterances": n_utterances,
                "rejects": shown,
                "beyond_full_scale": loud
                    .iter()
                    .map(|(p, peak)| json!({"path": p, "peak": peak}))
                    .collect::<Vec<_>>(),
        });
        // Per corpus and label, before and after the label set, where
        // there is more than one corpus or a label set to show.
        if self.sources.len() > 1 || !self.labels.is_identity() {
            summary["labels"] = serde_json::to_value(&counts)?;
        }
        Ok(Outputs {
            files: BTreeMap::from([
                ("manifest".into(), manifest_obj),
                ("rejects".into(), rejects_obj),
            ]),
            refs,
            items: item_keys,
            summary,
        })
    }
}

/// Decode one file, or reuse its cached decode. Read errors are returned
/// as `Err` and not cached: they may pass (a file still being copied).
fn decode_item(
    ctx: &Context,
    key: &str,
    u: &UtteranceMeta,
    rate: u32,
) -> Result<ItemRecord, String> {
    let record_path = ctx.cache.item_record_path("ingest", key);
    if let Some(record) = ctx.cache.read_json::<ItemRecord>(&record_path) {
        match &record {
            ItemRecord::Decoded { signal, .. } if ctx.cache.has_object(signal) => {
                return Ok(record);
            }
            ItemRecord::Rejected { .. } => return Ok(record),
            _ => {}
        }
    }
    let bytes = std::fs::read(&u.path).map_err(|e| format!("cannot read file: {e}"))?;
    let record = match ser_ingest::load_signal(&bytes, rate) {
        Ok(signal) => {
            let npy_bytes = npy::write_1d(&signal.samples).map_err(|e| e.to_string())?;
            let object = ctx
                .cache
                .put_object(&npy_bytes, "npy")
                .map_err(|e| format!("cache write failed: {e}"))?;
            ItemRecord::Decoded {
                signal: object,
                n_samples: signal.samples.len() as u64,
                source_rate: signal.source_rate,
                channels: signal.source_channels,
                peak: signal.peak,
            }
        }
        Err(e) => ItemRecord::Rejected {
            code: e.code().to_string(),
            reason: e.to_string(),
        },
    };
    ctx.cache
        .write_json(&record_path, &record)
        .map_err(|e| format!("cache write failed: {e}"))?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_change_counts_by_id() {
        let old = "a\thappy\t01\tmale\th1\nb\tsad\t01\tmale\th2\n";
        let new = "a\thappy\t01\tmale\th9\nc\tsad\t02\tfemale\th3\nd\tsad\t02\tfemale\th4\n";
        assert_eq!(listing_change(old, new), "2 added, 1 removed, 1 changed");
    }
}

#[derive(Default)]
struct ManifestColumns {
    id: Vec<String>,
    path: Vec<String>,
    corpus: Vec<String>,
    speaker: Vec<String>,
    gender: Vec<Option<String>>,
    label: Vec<String>,
    duration_s: Vec<f64>,
    n_samples: Vec<i64>,
    source_rate: Vec<i64>,
    channels: Vec<i64>,
    content_hash: Vec<String>,
    signal: Vec<String>,
}

impl ManifestColumns {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        u: &UtteranceMeta,
        label: &str,
        rel: &str,
        corpus: &str,
        hash: &str,
        signal: &str,
        n_samples: u64,
        rate: u32,
        source_rate: u32,
        channels: u16,
    ) {
        self.id.push(u.id.clone());
        self.path.push(rel.to_string());
        self.corpus.push(corpus.to_string());
        self.speaker.push(u.speaker.clone());
        self.gender.push(u.gender.map(|g| g.as_str().to_string()));
        self.label.push(label.to_string());
        self.duration_s.push(n_samples as f64 / rate as f64);
        self.n_samples.push(n_samples as i64);
        self.source_rate.push(source_rate as i64);
        self.channels.push(channels as i64);
        self.content_hash.push(hash.to_string());
        self.signal.push(signal.to_string());
    }

    fn into_table(self) -> Table {
        Table::new()
            .strings("id", self.id)
            .strings("path", self.path)
            .strings("corpus", self.corpus)
            .strings("speaker", self.speaker)
            .with("gender", ColumnData::Utf8(self.gender))
            .strings("label", self.label)
            .with("duration_s", ColumnData::Float64(self.duration_s))
            .with("n_samples", ColumnData::Int64(self.n_samples))
            .with("source_rate", ColumnData::Int64(self.source_rate))
            .with("channels", ColumnData::Int64(self.channels))
            .strings("content_hash", self.content_hash)
            .strings("signal", self.signal)
    }
}
