//! The extract node: utterance functionals of one feature set for every
//! utterance of the manifest, as one Parquet table
//! (`id, speaker, label, <feature columns>`).
//!
//! Each utterance's functionals are cached under a key of the feature
//! set's parameters and the utterance's signal digest, so changing the
//! corpus re-extracts only new signals, and two feature sets never share
//! (or invalidate) each other's items.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde_json::{Value, json};

use ser_extract::{Descriptor, Extractor, SpectralParams};

use super::{Context, Inputs, Outputs, Stage, item_key};
use crate::artifact::{ColumnData, Table, npy, parquet_read, parquet_write};

const CODE_VERSION: u32 = 1;

pub struct ExtractStage {
    pub set: String,
    pub descriptors: Vec<Descriptor>,
    pub params: SpectralParams,
    pub sample_rate: u32,
}

impl ExtractStage {
    /// The stage for a feature set named in the matrix (names checked by
    /// config validation).
    pub fn for_set(set: &str, params: &SpectralParams, sample_rate: u32) -> ExtractStage {
        let descriptors = match set {
            "logmel" => vec![Descriptor::Logmel],
            "spectral" => vec![Descriptor::SpectralShape, Descriptor::Rms, Descriptor::Zcr],
            _ => vec![Descriptor::Mfcc],
        };
        ExtractStage {
            set: set.to_string(),
            descriptors,
            params: params.clone(),
            sample_rate,
        }
    }

    /// Only the parameters this set reads, so tweaking `n_mfcc` leaves the
    /// log-mel and spectral sets fresh.
    fn relevant_params(&self) -> Value {
        let p = &self.params;
        let mut v = json!({
            "n_fft": p.n_fft, "win_length": p.win_length, "hop_length": p.hop_length,
            "functionals": p.functionals,
        });
        let d = &self.descriptors;
        if d.contains(&Descriptor::Logmel) || d.contains(&Descriptor::Mfcc) {
            v["n_mels"] = json!(p.n_mels);
            v["fmin"] = json!(p.fmin);
            v["fmax"] = json!(p.fmax);
        }
        if d.contains(&Descriptor::Mfcc) {
            v["n_mfcc"] = json!(p.n_mfcc);
            v["top_db"] = json!(p.top_db);
        }
        v
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
        json!({
            "descriptors": self.descriptors,
            "sample_rate": self.sample_rate,
            "spectral": self.relevant_params(),
        })
    }

    fn run(&self, ctx: &Context, inputs: &Inputs) -> anyhow::Result<Outputs> {
        let manifest = parquet_read::from_parquet(
            ctx.cache.read_object(inputs.file("signals", "manifest")?)?,
        )?;
        let ids = manifest.utf8("id")?;
        let signals = manifest.utf8("signal")?;
        let item_params = self.params();
        let probe = Extractor::new(self.sample_rate, &self.params, &self.descriptors)?;
        let names = probe.functional_names();
        let bar = ctx
            .progress
            .bar(ids.len(), &format!("extract: {}", self.set));
        let rows: Vec<anyhow::Result<(String, Vec<f32>)>> = ids
            .par_iter()
            .zip(&signals)
            .map_init(
                || Extractor::new(self.sample_rate, &self.params, &self.descriptors),
                |extractor, (id, signal)| {
                    let extractor = extractor.as_mut().map_err(|e| anyhow::anyhow!("{e}"))?;
                    let key = item_key("extract", CODE_VERSION, &item_params, signal);
                    let result = extract_item(ctx, &key, signal, extractor)
                        .map_err(|e| anyhow::anyhow!("utterance {id}: {e:#}"));
                    bar.inc(1);
                    result.map(|v| (key, v))
                },
            )
            .collect();
        bar.finish_and_clear();
        let mut columns: Vec<Vec<f32>> = vec![Vec::with_capacity(ids.len()); names.len()];
        let mut items = Vec::with_capacity(ids.len());
        for row in rows {
            let (key, values) = row?;
            anyhow::ensure!(
                values.len() == names.len(),
                "cached item {key} has {} values, expected {}",
                values.len(),
                names.len()
            );
            for (col, v) in columns.iter_mut().zip(values) {
                col.push(v);
            }
            items.push(format!("extract/{key}"));
        }
        let mut table = Table::new()
            .strings("id", &ids)
            .strings("speaker", manifest.utf8("speaker")?)
            .strings("label", manifest.utf8("label")?);
        for (name, col) in names.iter().zip(columns) {
            table = table.with(name, ColumnData::Float32(col));
        }
        let features = ctx
            .cache
            .put_object(&parquet_write::to_parquet(&table)?, "parquet")?;
        Ok(Outputs {
            files: BTreeMap::from([("features".into(), features)]),
            refs: Vec::new(),
            items,
            summary: json!({ "utterances": ids.len(), "features": names.len() }),
        })
    }
}

/// Functionals of one utterance, cached as a `.npy` vector.
fn extract_item(
    ctx: &Context,
    key: &str,
    signal: &str,
    extractor: &mut Extractor,
) -> anyhow::Result<Vec<f32>> {
    let record_path = ctx.cache.item_record_path("extract", key);
    if let Some(object) = ctx.cache.read_json::<String>(&record_path)
        && let Ok(bytes) = ctx.cache.read_object(&object)
    {
        return npy::read_1d(&bytes);
    }
    let samples = npy::read_1d(&ctx.cache.read_object(signal)?)?;
    let values = extractor.functionals(&samples)?;
    let object = ctx.cache.put_object(&npy::write_1d(&values)?, "npy")?;
    ctx.cache.write_json(&record_path, &object)?;
    Ok(values)
}
