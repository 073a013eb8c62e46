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
//! - `rejects`: utterances this set could not process (`path, id, code,
//!   reason`), also listed in the node summary. One bad utterance never
//!   fails the node. Every set applies the same checks first
//!   ([`ser_extract::check_signal`]: finite samples, and at least the
//!   length the most demanding set of the pipeline needs, never under
//!   100 ms), so the sets of a pipeline reject the same utterances for
//!   those reasons and their feature tables hold the same utterances (the
//!   common set); a failure of one set's own (a non-finite value) is
//!   listed with `every_set: false`.
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

use super::{Context, Inputs, Outputs, Placement, Role, Shard, Stage, item_key};
use crate::artifact::{ColumnData, Table, npy, parquet_read, parquet_write};

/// 3: spectral shape and RMS summed lane-parallel (last-bit differences).
/// 4: an utterance a set cannot process is rejected (a `rejects` table and
/// summary list) instead of failing the node; no number changes.
const CODE_VERSION: u32 = 4;

/// Version in every item's key: 3, the numbers of [`CODE_VERSION`] 3,
/// which 4 did not change (GeMAPS' own change is in its parameters, see
/// [`GEMAPS_VERSION`]), so cached items stay valid.
const ITEM_VERSION: u32 = 3;

/// In the GeMAPS sets' parameters, so only their items are recomputed:
/// 2: float samples beyond full scale are no longer clamped to 16 bits;
/// jitter's pitch periods are 32-bit floats, as openSMILE's.
const GEMAPS_VERSION: u32 = 2;

pub struct ExtractStage {
    pub set: String,
    pub descriptors: Vec<Descriptor>,
    pub params: ExtractParams,
    pub sample_rate: u32,
    /// Utterances shorter than this are rejected before any extraction:
    /// the most any feature set of the pipeline needs (see
    /// [`ExtractStage::with_common_minimum`]), so every set rejects the same
    /// short utterances.
    pub min_samples: usize,
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
        let mut stage = ExtractStage {
            set: set.to_string(),
            descriptors,
            params,
            sample_rate,
            min_samples: 0,
        };
        stage.min_samples = stage.own_min_samples();
        stage
    }

    /// The fewest samples this set needs, and at least ingest's minimum
    /// ([`ser_extract::MIN_DURATION_S`]).
    pub fn own_min_samples(&self) -> usize {
        let floor = ser_extract::min_samples(self.sample_rate);
        // Invalid parameters fail the node when it runs, with the reason.
        Extractor::new(self.sample_rate, &self.params, &self.descriptors)
            .map_or(floor, |ex| ex.min_samples().max(floor))
    }

    /// The same stage under a pipeline's own name for its set (a
    /// `feature_variants` entry), for progress lines; the name is in no key.
    pub fn named(mut self, set: &str) -> ExtractStage {
        self.set = set.to_string();
        self
    }

    /// The same set, rejecting utterances under `min_samples`: the graph
    /// gives every extract node of a pipeline the largest
    /// [`ExtractStage::own_min_samples`] of its sets.
    pub fn with_common_minimum(mut self, min_samples: usize) -> ExtractStage {
        self.min_samples = min_samples.max(self.min_samples);
        self
    }

    /// Only the parameters this set's numbers depend on, so tweaking
    /// `n_mfcc` leaves the log-mel and spectral sets fresh.
    fn numeric_params(&self) -> Value {
        if self.descriptors.iter().any(|d| d.gemaps_set().is_some()) {
            // Fixed by the standard: n_fft, hops and functionals do not
            // change these numbers, so they must not invalidate them.
            return json!({
                "descriptors": self.descriptors,
                "sample_rate": self.sample_rate,
                "gemaps_version": GEMAPS_VERSION,
            });
        }
        // The frame settings, and each descriptor's own parameters as it
        // declares them (`Descriptor::parameters`).
        let all = serde_json::to_value(&self.params).expect("plain data");
        let names = ser_extract::FRAME_PARAMETERS
            .iter()
            .chain(self.descriptors.iter().flat_map(|d| d.parameters()));
        let v: serde_json::Map<String, Value> = names
            .map(|&name| {
                (
                    name.to_string(),
                    all.get(name).cloned().unwrap_or(Value::Null),
                )
            })
            .collect();
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
        // Whether frames are kept changes the node's outputs, not its numbers;
        // so does the length under which an utterance is rejected.
        v["frames"] = json!(self.params.frames);
        v["min_samples"] = json!(self.min_samples);
        v
    }

    fn reads(&self, role: Role) -> &'static [&'static str] {
        match role {
            Role::Signals => &["manifest"],
            _ => &[],
        }
    }

    fn placement(&self) -> Placement {
        Placement {
            class: "extract",
            per_item: true,
            gpu: false,
        }
    }

    fn run(&self, ctx: &Context, inputs: &Inputs) -> anyhow::Result<Outputs> {
        let manifest = parquet_read::from_parquet(
            ctx.cache
                .read_object(inputs.file(Role::Signals, "manifest")?)?,
        )?;
        let ids = manifest.utf8("id")?;
        let signals = manifest.utf8("signal")?;
        // Ingest manifests name each file and its length; augmented ones
        // name the source instead.
        let paths = manifest.utf8("path").ok();
        let lengths = manifest.i64("n_samples").ok();
        let item_params = self.numeric_params();
        let probe = Extractor::new(self.sample_rate, &self.params, &self.descriptors)?;
        let names = probe.functional_names();
        let keep_frames = self.params.frames;
        let range = Shard::range(ctx.shard, ids.len());
        let bar = ctx
            .progress
            .bar(range.len(), &format!("extract: {}", self.set));
        let rows: Vec<Result<ExtractedRow, Reject>> = range
            .into_par_iter()
            .map_init(
                || Extractor::new(self.sample_rate, &self.params, &self.descriptors),
                |extractor, i| {
                    let signal = &signals[i];
                    let key = item_key("extract", ITEM_VERSION, &item_params, signal);
                    // After a stop signal the remaining utterances are left
                    // (the node fails and is not recorded; finished items stay).
                    if crate::interrupt::requested().is_some() {
                        bar.inc(1);
                        return Err(Reject::Failed(anyhow::anyhow!("interrupted")));
                    }
                    let result = match extractor.as_mut() {
                        Ok(extractor) => extract_item(
                            ctx,
                            &key,
                            signal,
                            lengths.as_ref().map(|l| l[i]),
                            self.min_samples,
                            extractor,
                            keep_frames,
                        ),
                        Err(e) => Err(Reject::Failed(anyhow::anyhow!("{e}"))),
                    };
                    bar.inc(1);
                    result.map(|(record, values)| (key, record, values))
                },
            )
            .collect();
        bar.finish_and_clear();
        if let Some(shard) = ctx.shard {
            // Cache failures fail the shard; rejected utterances are the
            // assembling run's to report.
            let done = rows.len();
            for row in rows {
                if let Err(Reject::Failed(e)) = row {
                    return Err(e.context(format!("shard {shard}")));
                }
            }
            return Ok(Outputs::shard(shard, done, ids.len()));
        }
        let mut columns: Vec<Vec<f32>> = vec![Vec::with_capacity(ids.len()); names.len()];
        let mut items = Vec::with_capacity(ids.len());
        let (mut tensors, mut n_frames) = (Vec::new(), Vec::new());
        let mut kept = Vec::with_capacity(ids.len());
        // (path, id, code, reason, common to every set)
        let mut rejects: Vec<(String, String, String, String, bool)> = Vec::new();
        for (i, row) in rows.into_iter().enumerate() {
            let (key, record, values) = match row {
                Ok(row) => row,
                Err(Reject::Utterance {
                    code,
                    reason,
                    common,
                }) => {
                    let path = paths.as_ref().map_or(&ids[i], |p| &p[i]).clone();
                    rejects.push((path, ids[i].clone(), code.into(), reason, common));
                    continue;
                }
                // Cache and I/O failures are not the utterance's fault.
                Err(Reject::Failed(e)) => return Err(e.context(format!("utterance {}", ids[i]))),
            };
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
            kept.push(i);
        }
        if kept.is_empty() {
            anyhow::bail!(
                "no utterance could be extracted ({} rejected; first: {}: {})",
                rejects.len(),
                rejects.first().map_or("?", |r| r.0.as_str()),
                rejects.first().map_or("?", |r| r.3.as_str()),
            );
        }
        let pick =
            |col: &[String]| -> Vec<String> { kept.iter().map(|&i| col[i].clone()).collect() };
        let ids_kept = pick(&ids);
        let (speakers, labels) = (
            pick(&manifest.utf8("speaker")?),
            pick(&manifest.utf8("label")?),
        );
        // Augmented copies name the utterance they were made from.
        let sources = manifest.utf8("source").ok().map(|s| pick(&s));
        let with_keys = |table: Table| match &sources {
            Some(sources) => table.strings("source", sources),
            None => table,
        };
        // Which corpus each row is from, when the pipeline has several
        // (per-corpus metrics, `normalize: corpus`); a one-corpus table
        // stays as it was.
        let corpora = crate::artifact::features::corpus_column(&manifest);
        let corpora = (!corpora.is_empty()).then(|| pick(&corpora));
        let mut table = Table::new()
            .strings("id", &ids_kept)
            .strings("speaker", &speakers)
            .strings("label", &labels);
        if let Some(corpora) = &corpora {
            table = table.strings("corpus", corpora);
        }
        let mut table = with_keys(table);
        for (name, col) in names.iter().zip(columns) {
            table = table.with(name, ColumnData::Float32(col));
        }
        let rejects_table = Table::new()
            .strings("path", rejects.iter().map(|r| &r.0))
            .strings("id", rejects.iter().map(|r| &r.1))
            .strings("code", rejects.iter().map(|r| &r.2))
            .strings("reason", rejects.iter().map(|r| &r.3));
        let mut files = BTreeMap::from([
            (
                "features".to_string(),
                ctx.cache
                    .put_object(&parquet_write::to_parquet(&table)?, "parquet")?,
            ),
            (
                "rejects".to_string(),
                ctx.cache
                    .put_object(&parquet_write::to_parquet(&rejects_table)?, "parquet")?,
            ),
        ]);
        let shown: Vec<Value> = rejects
            .iter()
            .map(|(p, id, c, r, common)| {
                json!({"path": p, "id": id, "code": c, "reason": r, "every_set": common})
            })
            .collect();
        let mut summary = json!({
            "utterances": ids_kept.len(),
            "features": names.len(),
            "rejects": shown,
        });
        if keep_frames {
            let index = with_keys(
                Table::new()
                    .strings("id", &ids_kept)
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

/// An utterance's item key, cache record and functionals.
type ExtractedRow = (String, ItemRecord, Vec<f32>);

/// Why an utterance has no row.
enum Reject {
    /// The utterance cannot be processed: it is listed with its reason and
    /// the node goes on. `common` when the reason is one of the checks
    /// every feature set applies alike ([`ser_extract::check_signal`]), so
    /// every set of the pipeline rejects it.
    Utterance {
        code: &'static str,
        reason: String,
        common: bool,
    },
    /// The cache or the machine failed: the node fails.
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Reject {
    fn from(e: anyhow::Error) -> Reject {
        Reject::Failed(e)
    }
}

impl From<std::io::Error> for Reject {
    fn from(e: std::io::Error) -> Reject {
        Reject::Failed(e.into())
    }
}

/// One utterance's functionals (and frames, when kept), from the cache or
/// computed.
fn extract_item(
    ctx: &Context,
    key: &str,
    signal: &str,
    n_samples: Option<i64>,
    min_samples: usize,
    extractor: &mut Extractor,
    keep_frames: bool,
) -> Result<(ItemRecord, Vec<f32>), Reject> {
    let common = |e: ser_extract::ExtractError| Reject::Utterance {
        code: e.code(),
        reason: e.to_string(),
        common: true,
    };
    // The length check comes before the cache, so that an item cached by
    // an older version under a shorter minimum is rejected all the same.
    let mut samples = None;
    let n = match n_samples {
        Some(n) => n.max(0) as usize,
        None => {
            let s = npy::read_1d(&ctx.cache.read_object(signal)?)?;
            let n = s.len();
            samples = Some(s);
            n
        }
    };
    ser_extract::check_length(n, min_samples).map_err(common)?;
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
    let samples = match samples {
        Some(s) => s,
        None => npy::read_1d(&ctx.cache.read_object(signal)?)?,
    };
    ser_extract::check_signal(&samples, min_samples).map_err(common)?;
    // Past the common checks, a failure is this set's own.
    let own = |e: ser_extract::ExtractError| Reject::Utterance {
        code: e.code(),
        reason: e.to_string(),
        common: false,
    };
    let check_values = |values: &[f32]| -> Result<(), Reject> {
        match values.iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(j) => Err(Reject::Utterance {
                code: "non_finite_features",
                reason: format!("feature {j} is {}", values[j]),
                common: false,
            }),
        }
    };
    let (record, values) = if keep_frames {
        let frames = extractor.frames(&samples).map_err(own)?;
        let values = extractor.functionals_of(&frames);
        check_values(&values)?;
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
        let values = extractor.functionals(&samples).map_err(own)?;
        check_values(&values)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Changing a parameter reruns exactly the feature sets whose
    /// descriptors declare it (and every spectral set for a frame
    /// setting); the GeMAPS sets never.
    #[test]
    fn a_parameter_change_reruns_the_sets_that_use_it_and_only_those() {
        let base = ExtractParams::default();
        let bump = |name: &str| -> ExtractParams {
            let mut v = serde_json::to_value(&base).unwrap();
            v[name] = match &v[name] {
                Value::Number(n) if n.is_u64() => json!(n.as_u64().unwrap() + 1),
                Value::Number(n) => json!(n.as_f64().unwrap() * 0.5 + 1.0),
                Value::Null => json!(7000.0),
                Value::Array(_) => json!(["mean"]),
                other => panic!("{name}: {other}"),
            };
            serde_json::from_value(v).unwrap()
        };
        let names = ser_extract::FRAME_PARAMETERS
            .iter()
            .chain(Descriptor::ACOUSTIC.iter().flat_map(|d| d.parameters()));
        for &name in names {
            let changed = bump(name);
            for set in ser_extract::FEATURE_SETS {
                let before = ExtractStage::for_set(set.name, &base, 16_000).params();
                let after = ExtractStage::for_set(set.name, &changed, 16_000).params();
                let gemaps = set.descriptors.iter().any(|d| d.gemaps_set().is_some());
                let uses = !gemaps
                    && (ser_extract::FRAME_PARAMETERS.contains(&name)
                        || set
                            .descriptors
                            .iter()
                            .any(|d| d.parameters().contains(&name)));
                assert_eq!(before != after, uses, "{name} on {}", set.name);
            }
        }
    }

    /// A manifest table stored in the cache, as the node's `signals` input.
    fn signals_input(ctx: &Context, manifest: &Table) -> Inputs {
        let manifest = ctx
            .cache
            .put_object(&parquet_write::to_parquet(manifest).unwrap(), "parquet")
            .unwrap();
        Inputs {
            by_role: BTreeMap::from([(
                Role::Signals,
                BTreeMap::from([("manifest".to_string(), manifest)]),
            )]),
        }
    }

    /// A manifest of three good signals and three an extractor cannot take
    /// (as a manifest ingest made before its minimum, or an augmented copy,
    /// might hold); each feature set goes on without them and rejects the
    /// same ones, with the reason.
    #[test]
    fn an_unusable_utterance_is_rejected_and_the_node_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_test(dir.path());
        let tone = |n: usize, f: f32| -> Vec<f32> {
            (0..n)
                .map(|i| 0.3 * (i as f32 * f * std::f32::consts::TAU / 16000.0).sin())
                .collect()
        };
        let mut nan = tone(16000, 300.0);
        nan[8000] = f32::NAN;
        let signals: Vec<(&str, Vec<f32>)> = vec![
            ("a", tone(16000, 200.0)),
            ("b", tone(160, 200.0)),
            ("c", tone(24000, 250.0)),
            ("d", nan),
            ("e", tone(1599, 200.0)),
            ("f", tone(1600, 220.0)),
        ];
        let objects: Vec<String> = signals
            .iter()
            .map(|(_, s)| {
                ctx.cache
                    .put_object(&npy::write_1d(s).unwrap(), "npy")
                    .unwrap()
            })
            .collect();
        let ids: Vec<&str> = signals.iter().map(|(id, _)| *id).collect();
        let paths: Vec<String> = ids.iter().map(|id| format!("Actor_01/{id}.wav")).collect();
        let n: Vec<i64> = signals.iter().map(|(_, s)| s.len() as i64).collect();
        let manifest = Table::new()
            .strings("id", &ids)
            .strings("path", &paths)
            .strings("speaker", ids.iter().map(|_| "01"))
            .strings("label", ids.iter().map(|_| "neutral"))
            .with("n_samples", ColumnData::Int64(n))
            .strings("signal", &objects);
        let inputs = signals_input(&ctx, &manifest);
        for set in ["egemaps", "acoustic"] {
            let stage = ExtractStage::for_set(set, &ExtractParams::default(), 16000);
            // Twice: the second run reads the cached items.
            for _ in 0..2 {
                let out = stage.run(&ctx, &inputs).unwrap();
                let features = parquet_read::from_parquet(
                    ctx.cache.read_object(&out.files["features"]).unwrap(),
                )
                .unwrap();
                assert_eq!(features.utf8("id").unwrap(), ["a", "c", "f"], "{set}");
                let rejects = parquet_read::from_parquet(
                    ctx.cache.read_object(&out.files["rejects"]).unwrap(),
                )
                .unwrap();
                assert_eq!(rejects.utf8("id").unwrap(), ["b", "d", "e"], "{set}");
                assert_eq!(
                    rejects.utf8("code").unwrap(),
                    ["too_short", "non_finite", "too_short"]
                );
                let shown = out.summary["rejects"].as_array().unwrap();
                assert_eq!(shown[0]["path"], "Actor_01/b.wav");
                assert_eq!(
                    shown[0]["reason"],
                    "signal too short: 160 samples, under the 1600 every feature set needs"
                );
                assert!(shown.iter().all(|r| r["every_set"] == true));
                assert_eq!(out.summary["utterances"], 3);
            }
        }
    }

    /// A set that needs longer signals (deltas over 512-sample hops need
    /// 4096 samples) raises the minimum of every set it is given to, so
    /// all reject the same utterances and keep the same ones.
    #[test]
    fn the_common_minimum_makes_every_set_reject_alike() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_test(dir.path());
        let lengths = [16000usize, 3000, 4096, 4095];
        let objects: Vec<String> = lengths
            .iter()
            .map(|&n| {
                let s: Vec<f32> = (0..n).map(|i| 0.3 * (i as f32 * 0.09).sin()).collect();
                ctx.cache
                    .put_object(&npy::write_1d(&s).unwrap(), "npy")
                    .unwrap()
            })
            .collect();
        let ids = ["a", "b", "c", "d"];
        let manifest = Table::new()
            .strings("id", ids)
            .strings("speaker", ["01"; 4])
            .strings("label", ["neutral"; 4])
            .strings("signal", &objects);
        let inputs = signals_input(&ctx, &manifest);
        let params = ExtractParams {
            deltas: 1,
            hop_length: 512,
            ..ExtractParams::default()
        };
        let sets = ["egemaps", "mfcc"];
        let stages: Vec<ExtractStage> = sets
            .iter()
            .map(|set| ExtractStage::for_set(set, &params, 16000))
            .collect();
        assert_eq!(
            stages[0].min_samples, 1600,
            "eGeMAPS alone: ingest's 100 ms"
        );
        assert_eq!(stages[1].min_samples, 4096, "9 frames of 512");
        let common = stages.iter().map(|s| s.own_min_samples()).max().unwrap();
        for stage in stages {
            let stage = stage.with_common_minimum(common);
            let out = stage.run(&ctx, &inputs).unwrap();
            let features =
                parquet_read::from_parquet(ctx.cache.read_object(&out.files["features"]).unwrap())
                    .unwrap();
            assert_eq!(features.utf8("id").unwrap(), ["a", "c"], "{}", stage.set);
            let shown = out.summary["rejects"].as_array().unwrap();
            assert_eq!(shown.len(), 2);
            assert_eq!(
                shown[1]["reason"],
                "signal too short: 4095 samples, under the 4096 every feature set needs"
            );
        }
    }

    #[test]
    fn a_node_with_nothing_usable_fails() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_test(dir.path());
        let object = ctx
            .cache
            .put_object(&npy::write_1d(&[0.1; 100]).unwrap(), "npy")
            .unwrap();
        let manifest = Table::new()
            .strings("id", ["x"])
            .strings("speaker", ["01"])
            .strings("label", ["neutral"])
            .strings("signal", [&object]);
        let inputs = signals_input(&ctx, &manifest);
        let stage = ExtractStage::for_set("mfcc", &ExtractParams::default(), 16000);
        let err = stage.run(&ctx, &inputs).unwrap_err().to_string();
        assert!(
            err.contains("no utterance could be extracted (1 rejected; first: x: signal too short: 100 samples, under the 1600"),
            "{err}"
        );
    }
}
