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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use ser_ingest::corpus::{self, NameReject};
use ser_ingest::{CorpusKind, UtteranceMeta};

use super::{Context, Inputs, Outputs, Placement, Shard, Stage, item_key};
use crate::artifact::{ColumnData, Table, npy, parquet_write};

/// 3: signals resampled by libsoxr (soxr_hq) instead of rubato.
/// 4: files under 100 ms and near-silent files (peak below -60 dBFS, was
/// -120) are rejected; duplicates by content are rejected; records keep
/// the peak, for the beyond-full-scale warning.
const CODE_VERSION: u32 = 4;

pub struct IngestStage {
    pub kind: CorpusKind,
    pub root: PathBuf,
    pub sample_rate: u32,
    listing: OnceLock<Result<Listing, String>>,
}

struct Listing {
    utterances: Vec<UtteranceMeta>,
    /// BLAKE3 of each utterance's file, parallel to `utterances`.
    hashes: Vec<String>,
    name_rejects: Vec<NameReject>,
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
    pub fn new(kind: CorpusKind, root: PathBuf, sample_rate: u32) -> IngestStage {
        IngestStage {
            kind,
            root,
            sample_rate,
            listing: OnceLock::new(),
        }
    }

    fn listing(&self) -> anyhow::Result<&Listing> {
        self.listing
            .get_or_init(|| list_corpus(self.kind, &self.root).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    fn rel(&self, path: &Path) -> String {
        let base = if self.kind == CorpusKind::Manifest {
            self.root.parent().unwrap_or(&self.root)
        } else {
            &self.root
        };
        path.strip_prefix(base)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/")
    }
}

fn list_corpus(kind: CorpusKind, root: &Path) -> anyhow::Result<Listing> {
    let report = corpus::scan(kind, root)?;
    let hashes: Vec<String> = report
        .utterances
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
    for (u, hash) in report.utterances.iter().zip(&hashes) {
        let gender = u.gender.map_or("", |g| g.as_str());
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            u.id, u.label, u.speaker, gender, hash
        ));
    }
    for r in &report.rejects {
        let rel = r.path.strip_prefix(root).unwrap_or(&r.path);
        text.push_str(&format!("reject:{}\t{}\n", rel.display(), r.reason));
    }
    let digest = format!("{}.tsv", blake3::hash(text.as_bytes()).to_hex());
    Ok(Listing {
        utterances: report.utterances,
        hashes,
        name_rejects: report.rejects,
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
        json!({ "corpus": self.kind.name(), "sample_rate": self.sample_rate })
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
        let items: Vec<(String, Result<ItemRecord, String>)> = listing.utterances[range.clone()]
            .par_iter()
            .zip(&listing.hashes[range])
            .map(|(u, hash)| {
                let key = item_key("ingest", CODE_VERSION, &item_params, hash);
                // After a stop signal, remaining files are not decoded (the
                // scheduler does not record this node); decoded ones stay cached.
                let result = match crate::interrupt::requested() {
                    Some(_) => Err("interrupted".to_string()),
                    None => decode_item(ctx, &key, u, self.sample_rate),
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
            .map(|r| (self.rel(&r.path), "name".to_string(), r.reason.clone()))
            .collect();
        let mut refs = vec![listing_object];
        let mut item_keys = Vec::new();
        // Content hash -> the path kept for it (utterances are in id order,
        // which is path order within a corpus).
        let mut first_of: BTreeMap<&str, String> = BTreeMap::new();
        let mut loud: Vec<(String, f32)> = Vec::new();
        for ((u, hash), (key, result)) in listing.utterances.iter().zip(&listing.hashes).zip(items)
        {
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
                            self.rel(&u.path),
                            "duplicate".into(),
                            format!("duplicate: same content as {first}"),
                        ));
                        continue;
                    }
                    first_of.insert(hash, self.rel(&u.path));
                    if peak > 1.0 {
                        loud.push((self.rel(&u.path), peak));
                    }
                    manifest.push(
                        u,
                        &self.rel(&u.path),
                        self.kind,
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
                    rejects.push((self.rel(&u.path), code, reason));
                }
                Err(io) => rejects.push((self.rel(&u.path), "io".into(), io)),
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
                self.root.display(),
                rejects.len()
            );
        }
        let manifest_obj = ctx.cache.put_object(
            &parquet_write::to_parquet(&manifest.into_table())?,
            "parquet",
        )?;
        let rejects_table = Table::new()
            .strings("path", rejects.iter().map(|r| &r.0))
            .strings("code", rejects.iter().map(|r| &r.1))
            .strings("reason", rejects.iter().map(|r| &r.2));
        let rejects_obj = ctx
            .cache
            .put_object(&parquet_write::to_parquet(&rejects_table)?, "parquet")?;
        Ok(Outputs {
            files: BTreeMap::from([
                ("manifest".into(), manifest_obj),
                ("rejects".into(), rejects_obj),
            ]),
            refs,
            items: item_keys,
            summary: json!({
                "utterances": n_utterances,
                "rejects": shown,
                "beyond_full_scale": loud
                    .iter()
                    .map(|(p, peak)| json!({"path": p, "peak": peak}))
                    .collect::<Vec<_>>(),
            }),
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
        rel: &str,
        kind: CorpusKind,
        hash: &str,
        signal: &str,
        n_samples: u64,
        rate: u32,
        source_rate: u32,
        channels: u16,
    ) {
        self.id.push(u.id.clone());
        self.path.push(rel.to_string());
        self.corpus.push(kind.name().to_string());
        self.speaker.push(u.speaker.clone());
        self.gender.push(u.gender.map(|g| g.as_str().to_string()));
        self.label.push(u.label.clone());
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
