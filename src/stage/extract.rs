//! The extract node: one feature set for every utterance of the manifest.
//!
//! Outputs:
//! - `features`: utterance functionals, one Parquet row per utterance
//!   (`id, speaker, label, <descriptor>_<functional>...`);
//! - `frames` (when `extract.frames` is on): a Parquet index (`id, speaker,
//!   label, n_frames, tensor`) of per-utterance `.npy` matrices (frames x
//!   descriptors, float32) for sequence models; the frame rate and column
//!   names are in the node summary. For the `logmel` set these are the
//!   log-mel spectrograms.
//!
//! Each utterance is cached under a key of the set's parameters and the
//! utterance's signal digest, so a grown corpus extracts only new signals
//! and two feature sets never share (or invalidate) each other's items.
//! Turning `frames` on re-extracts only items cached without frames.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use ser_extract::{Descriptor, ExtractParams, Extractor};

use super::{Context, Inputs, Outputs, Stage, item_key};
use crate::artifact::{ColumnData, Table, npy, parquet_read, parquet_write};

/// 3: spectral shape and RMS summed lane-parallel (last-bit differences).
const CODE_VERSION: u32 = 3;

pub struct ExtractStage {
    pub set: String,
    pub descriptors: Vec<Descriptor>,
    pub params: ExtractParams,
    pub sample_rate: u32,
}

/// What one utterance's extraction left in the cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ItemRecord {
    /// `.npy` vector of functionals.
    functionals: String,
    /// `.npy` matrix of frame-level descriptors, when asked for.
    #[serde(default)]
    frames: Option<String>,
    #[serde(default)]
    n_frames: usize,
}

impl ExtractStage {
    /// The stage for a feature set named in the matrix (names checked by
    /// config validation).
    pub fn for_set(set: &str, params: &ExtractParams, sample_rate: u32) -> ExtractStage {
        let descriptors: Vec<Descriptor> = ser_extract::feature_set(set)
            .map(|s| s.descriptors.to_vec())
            .unwrap_or_default();
        let mut params = params.clone();
        if descriptors.iter().any(|d| d.gemaps_set().is_some()) {
            // openSMILE's sets fix their own frames and functionals; the
            // librosa options (deltas among them) do not apply.
            params.deltas = 0;
        }
        ExtractStage {
            set: set.to_string(),
            descriptors,
            params,
            sample_rate,
        }
    }

    /// Only the parameters this set's numbers depend on, so tweaking
    /// `n_mfcc` leaves the log-mel and spectral sets fresh.
    fn numeric_params(&self) -> Value {
        if self.descriptors.iter().any(|d| d.gemaps_set().is_some()) {
            // Fixed by the standard: n_fft, hops and functionals do not
            // change these numbers, so they must not invalidate them.
            return json!({ "descriptors": self.descriptors, "sample_rate": self.sample_rate });
        }
        let p = &self.params;
        let mut v = json!({
            "n_fft": p.n_fft, "win_length": p.win_length, "hop_length": p.hop_length,
            "deltas": p.deltas, "functionals": p.functionals,
        });
        let d = &self.descriptors;
        if d.iter().any(|d| d.uses_mel()) {
            v["n_mels"] = json!(p.n_mels);
            v["fmin"] = json!(p.fmin);
            v["fmax"] = json!(p.fmax);
        }
        if d.contains(&Descriptor::Mfcc) {
            v["n_mfcc"] = json!(p.n_mfcc);
            v["top_db"] = json!(p.top_db);
        }
        if d.contains(&Descriptor::Chroma) {
            v["n_chroma"] = json!(p.n_chroma);
            v["tuning"] = json!(p.tuning);
        }
        if d.contains(&Descriptor::Contrast) {
            v["contrast_bands"] = json!(p.contrast_bands);
            v["contrast_fmin"] = json!(p.contrast_fmin);
            v["contrast_quantile"] = json!(p.contrast_quantile);
        }
        if d.contains(&Descriptor::SpectralShape) {
            v["roll_percent"] = json!(p.roll_percent);
        }
        json!({ "descriptors": self.descriptors, "sample_rate": self.sample_rate, "spectral": v })
    }
}

impl Stage for ExtractStage {
    fn stage(&self) -> &'static str {
        "extract"
    }

    fn code_version(&self) -> u32 {
        CODE_VERSION
    }

    fn params(&self) -> Value {
        let mut v = self.numeric_params();
        // Whether frames are kept changes the node's outputs, not its numbers.
        v["frames"] = json!(self.params.frames);
        v
    }

    fn reads(&self, role: &str) -> &'static [&'static str] {
        match role {
            "signals" => &["manifest"],
            _ => &[],
        }
    }

    fn run(&self, ctx: &Context, inputs: &Inputs) -> anyhow::Result<Outputs> {
        let manifest = parquet_read::from_parquet(
            ctx.cache.read_object(inputs.file("signals", "manifest")?)?,
        )?;
        let ids = manifest.utf8("id")?;
        let signals = manifest.utf8("signal")?;
        let item_params = self.numeric_params();
        let probe = Extractor::new(self.sample_rate, &self.params, &self.descriptors)?;
        let names = probe.functional_names();
        let keep_frames = self.params.frames;
        let bar = ctx
            .progress
            .bar(ids.len(), &format!("extract: {}", self.set));
        let rows: Vec<anyhow::Result<(String, ItemRecord, Vec<f32>)>> = ids
            .par_iter()
            .zip(&signals)
            .map_init(
                || Extractor::new(self.sample_rate, &self.params, &self.descriptors),
                |extractor, (id, signal)| {
                    let extractor = extractor.as_mut().map_err(|e| anyhow::anyhow!("{e}"))?;
                    let key = item_key("extract", CODE_VERSION, &item_params, signal);
                    let result = extract_item(ctx, &key, signal, extractor, keep_frames)
                        .map_err(|e| anyhow::anyhow!("utterance {id}: {e:#}"));
                    bar.inc(1);
                    result.map(|(record, values)| (key, record, values))
                },
            )
            .collect();
        bar.finish_and_clear();
        let mut columns: Vec<Vec<f32>> = vec![Vec::with_capacity(ids.len()); names.len()];
        let mut items = Vec::with_capacity(ids.len());
        let (mut tensors, mut n_frames) = (Vec::new(), Vec::new());
        for row in rows {
            let (key, record, values) = row?;
            anyhow::ensure!(
                values.len() == names.len(),
                "cached item {key} has {} values, expected {}",
                values.len(),
                names.len()
            );
            for (col, v) in columns.iter_mut().zip(values) {
                col.push(v);
            }
            if let Some(frames) = record.frames {
                tensors.push(frames);
                n_frames.push(record.n_frames as i64);
            }
            items.push(format!("extract/{key}"));
        }
        let (speakers, labels) = (manifest.utf8("speaker")?, manifest.utf8("label")?);
        // Augmented copies name the utterance they were made from.
        let sources = manifest.utf8("source").ok();
        let with_keys = |table: Table| match &sources {
            Some(sources) => table.strings("source", sources),
            None => table,
        };
        let mut table = with_keys(
            Table::new()
                .strings("id", &ids)
                .strings("speaker", &speakers)
                .strings("label", &labels),
        );
        for (name, col) in names.iter().zip(columns) {
            table = table.with(name, ColumnData::Float32(col));
        }
        let mut files = BTreeMap::from([(
            "features".to_string(),
            ctx.cache
                .put_object(&parquet_write::to_parquet(&table)?, "parquet")?,
        )]);
        let mut summary = json!({ "utterances": ids.len(), "features": names.len() });
        if keep_frames {
            let index = with_keys(
                Table::new()
                    .strings("id", &ids)
                    .strings("speaker", &speakers)
                    .strings("label", &labels),
            )
            .with("n_frames", ColumnData::Int64(n_frames))
            .strings("tensor", &tensors);
            files.insert(
                "frames".into(),
                ctx.cache
                    .put_object(&parquet_write::to_parquet(&index)?, "parquet")?,
            );
            summary["frame_rate"] = json!(self.sample_rate as f64 / self.params.hop_length as f64);
            summary["frame_columns"] = json!(probe.column_names());
        }
        Ok(Outputs {
            files,
            refs: tensors,
            items,
            summary,
        })
    }
}

/// One utterance's functionals (and frames, when kept), from the cache or
/// computed.
fn extract_item(
    ctx: &Context,
    key: &str,
    signal: &str,
    extractor: &mut Extractor,
    keep_frames: bool,
) -> anyhow::Result<(ItemRecord, Vec<f32>)> {
    let record_path = ctx.cache.item_record_path("extract", key);
    if let Some(record) = ctx.cache.read_json::<ItemRecord>(&record_path)
        && (!keep_frames
            || record
                .frames
                .as_deref()
                .is_some_and(|f| ctx.cache.has_object(f)))
        && let Ok(bytes) = ctx.cache.read_object(&record.functionals)
    {
        let values = npy::read_1d(&bytes)?;
        return Ok((record, values));
    }
    let samples = npy::read_1d(&ctx.cache.read_object(signal)?)?;
    let (record, values) = if keep_frames {
        let frames = extractor.frames(&samples)?;
        let values = extractor.functionals_of(&frames);
        let record = ItemRecord {
            functionals: ctx.cache.put_object(&npy::write_1d(&values)?, "npy")?,
            frames: Some(
                ctx.cache
                    .put_object(&npy::write_2d(&frames.values)?, "npy")?,
            ),
            n_frames: frames.values.nrows(),
        };
        (record, values)
    } else {
        // Functionals alone may skip frame-only work (GeMAPS formants).
        let values = extractor.functionals(&samples)?;
        let record = ItemRecord {
            functionals: ctx.cache.put_object(&npy::write_1d(&values)?, "npy")?,
            frames: None,
            n_frames: 0,
        };
        (record, values)
    };
    ctx.cache.write_json(&record_path, &record)?;
    Ok((record, values))
}
