//! The training loop: validation split, epochs, early stopping, curves.

use std::collections::BTreeSet;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution};
use serde::{Deserialize, Serialize};

use crate::DeepError;
use crate::data::{Batch, Example, Normaliser, Window, batch, pool_frames};
use crate::fused_adamw::{FusedAdamW, burns_module_optimizer};
use crate::net::Net;
use crate::spec::{DeepKind, DeepParams, Device, Normalize, Schedule, TestWindows};

/// burn's CPU backend keeps one random generator per process, and a fresh
/// network's weights are drawn from it (lazily, at first use, unless
/// [`fresh_net`] draws them at once). Each draw of initial weights holds
/// this lock with the generator just seeded, so a network's initial weights
/// depend on its own seed only. Nothing else draws from that generator:
/// dropout masks come from each training's own ([`crate::dropout`]), so
/// the lock is held for a network's initialisation only and trainings run
/// side by side. The section holds no rayon join, so no worker waiting in
/// it can pick up another training that would wait on the lock in turn.
static GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The device's generator for tests that draw from it outside `init_net`
/// (random inputs, networks initialised on first use): holding it keeps
/// their draws from falling between another thread's seeding and its
/// initialisation, which made that network's weights depend on timing.
#[cfg(test)]
pub(crate) fn generator_lock() -> std::sync::MutexGuard<'static, ()> {
    GENERATOR.lock().unwrap_or_else(|e| e.into_inner())
}

/// A network of `kind` with every parameter drawn now, from burn's
/// generator seeded by `seed`.
fn fresh_net(
    kind: DeepKind,
    params: &DeepParams,
    dims: usize,
    outputs: usize,
    device: &burn::tensor::Device,
    seed: u64,
) -> Net {
    struct DrawNow;
    impl burn::module::ModuleVisitor for DrawNow {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            // `val` runs a lazy parameter's initialiser.
            let _ = param.val();
        }
    }
    // A panic in another initialisation leaves no state behind that matters.
    let _generator = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(seed);
    let net = Net::new(kind, params, dims, outputs, device);
    net.visit(&mut DrawNow);
    net
}

pub use ser_learn::EpochReport;

/// One line of a training-curve figure, as `ser report` draws it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    pub name: String,
    pub panel: String,
    /// (epoch, value) pairs. JSON writes a NaN as null; it reads back as
    /// NaN.
    #[serde(deserialize_with = "points_with_nan")]
    pub points: Vec<[f64; 2]>,
}

fn points_with_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<[f64; 2]>, D::Error> {
    let points = Vec::<[Option<f64>; 2]>::deserialize(d)?;
    Ok(points
        .into_iter()
        .map(|[x, y]| [x.unwrap_or(f64::NAN), y.unwrap_or(f64::NAN)])
        .collect())
}

/// A trained network: its settings, the best epoch's weights and how
/// training went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainedNet {
    pub kind: DeepKind,
    pub params: DeepParams,
    pub dims: usize,
    pub classes: usize,
    pub normaliser: Normaliser,
    /// The epoch whose weights are kept (1-based).
    pub best_epoch: usize,
    pub epochs_run: usize,
    pub validation_speakers: Vec<String>,
    pub best_validation_ua: Option<f64>,
    pub curves: Vec<Curve>,
    /// burnpack bytes of the kept weights; stored as their own artifact,
    /// not inside JSON.
    #[serde(skip)]
    pub weights: Vec<u8>,
}

/// Keeps glibc's malloc from serving large tensors with `mmap`.
///
/// burn's CPU backend allocates and frees buffers of tens of MiB every
/// step (im2col matrices, activations, gradients). glibc hands out blocks
/// above its mmap threshold (at most 32 MiB by its own adjustment) as fresh
/// mappings and unmaps them on free, so every step paid page faults and
/// zeroing: 23 s of a 66 s cnn2d benchmark run went to the kernel. With
/// the threshold and heap trimming raised, freed blocks are reused (the
/// run's kernel time fell to under 1 s and samples/s rose by a fifth;
/// `cargo bench --bench deep`). A global allocator such as mimalloc did
/// the same for training but slowed feature extraction and nearly doubled
/// its memory, so only training changes the setting. Process-wide, set
/// once; memory freed by training stays with the process until it exits.
fn keep_large_tensors_off_mmap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            const ONE_GIB: libc::c_int = 1 << 30;
            // SAFETY: mallopt only changes allocator parameters; glibc
            // rejects values it can't take (returns 0), which leaves its
            // defaults in place.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, ONE_GIB);
                libc::mallopt(libc::M_TRIM_THRESHOLD, ONE_GIB);
            }
        });
    }
}

fn device_for(params: &DeepParams) -> Result<burn::tensor::Device, DeepError> {
    match params.device {
        Device::Cpu => Ok(burn::tensor::Device::flex()),
        #[cfg(feature = "gpu")]
        Device::Gpu => Ok(burn::tensor::Device::wgpu(
            burn::tensor::DeviceKind::DefaultDevice,
        )),
        #[cfg(not(feature = "gpu"))]
        Device::Gpu => Err(DeepError::NoGpu),
    }
}

/// The learning rate of `epoch` (0-based).
fn learning_rate(p: &DeepParams, epoch: usize) -> f64 {
    match p.schedule {
        Schedule::Constant => p.learning_rate,
        Schedule::Step => {
            p.learning_rate * p.step_gamma.powi((epoch / p.step_epochs.max(1)) as i32)
        }
        Schedule::Cosine => {
            if epoch < p.warmup_epochs {
                p.learning_rate * (epoch + 1) as f64 / (p.warmup_epochs + 1) as f64
            } else {
                let span = (p.epochs - p.warmup_epochs).max(1) as f64;
                let t = (epoch - p.warmup_epochs) as f64 / span;
                0.5 * p.learning_rate * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

/// Unweighted average recall of predictions.
fn unweighted_recall(truth: &[usize], predicted: &[usize], classes: usize) -> f64 {
    let mut hit = vec![0usize; classes];
    let mut n = vec![0usize; classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        n[t] += 1;
        hit[t] += (t == p) as usize;
    }
    let present: Vec<f64> = (0..classes)
        .filter(|&c| n[c] > 0)
        .map(|c| hit[c] as f64 / n[c] as f64)
        .collect();
    present.iter().sum::<f64>() / present.len().max(1) as f64
}

/// One batch's mixup: each example `i` is blended with example
/// `partner[i]` as `lambda * x_i + (1 - lambda) * x_partner`, and its loss
/// likewise weighs the two labels.
struct Mixup {
    lambda: f32,
    partner: Vec<usize>,
}

impl Mixup {
    fn draw(alpha: f64, n: usize, rng: &mut ChaCha8Rng) -> Mixup {
        let beta = Beta::new(alpha, alpha).expect("check() keeps mixup positive and finite");
        let lambda = beta.sample(rng) as f32;
        let mut partner: Vec<usize> = (0..n).collect();
        partner.shuffle(rng);
        Mixup { lambda, partner }
    }

    /// A blend is as long as the longer of its two examples: past an
    /// example's end its padding is zero, the normalised mean, so the
    /// blend there is the other example scaled down.
    fn lengths(&self, lengths: &[usize]) -> Vec<usize> {
        self.partner
            .iter()
            .enumerate()
            .map(|(i, &j)| lengths[i].max(lengths[j]))
            .collect()
    }
}

fn tensor(batch: &Batch, device: &burn::tensor::Device) -> Tensor<3> {
    let b = batch.lengths.len();
    Tensor::from_data(
        TensorData::new(batch.values.clone(), [b, batch.max_len, batch.dims]),
        device,
    )
}

/// Train a network on `examples` (each `dims` wide) with labels in
/// `0..classes`; `speakers` names each example's speaker, for the
/// validation split and speaker normalisation. `on_epoch` is called after
/// every epoch.
#[allow(clippy::too_many_arguments)] // each is a distinct input of one training run
pub fn fit(
    kind: DeepKind,
    params: &DeepParams,
    examples: &[Example],
    labels: &[usize],
    speakers: &[String],
    dims: usize,
    classes: usize,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<TrainedNet, DeepError> {
    fit_with_extras(
        kind,
        params,
        examples,
        labels,
        RowExtras::default(),
        speakers,
        dims,
        classes,
        on_epoch,
    )
}

/// What a training set may say of its examples besides label and speaker.
#[derive(Debug, Clone, Copy, Default)]
pub struct RowExtras<'a> {
    /// Each example's gender (a class index, None where unknown), for
    /// `aux_gender`, which needs them.
    pub genders: Option<&'a [Option<usize>]>,
    /// Which examples are augmented copies. A copy trains when its speaker
    /// does but never validates: validation measures the utterances as
    /// recorded, the same rows for a model with copies as for one without.
    pub copies: Option<&'a [bool]>,
}

/// [`fit`], with what [`RowExtras`] says of the examples.
#[allow(clippy::too_many_arguments)] // each is a distinct input of one training run
pub fn fit_with_extras(
    kind: DeepKind,
    params: &DeepParams,
    examples: &[Example],
    labels: &[usize],
    extras: RowExtras<'_>,
    speakers: &[String],
    dims: usize,
    classes: usize,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<TrainedNet, DeepError> {
    let RowExtras { genders, copies } = extras;
    params.check(kind)?;
    keep_large_tensors_off_mmap();
    if examples.is_empty() || examples.len() != labels.len() || labels.len() != speakers.len() {
        return Err(DeepError::Invalid(format!(
            "{} examples, {} labels, {} speakers",
            examples.len(),
            labels.len(),
            speakers.len()
        )));
    }
    let genders = match (params.aux_gender > 0.0, genders) {
        (false, _) => None,
        (true, Some(g)) if g.len() == examples.len() => Some(g),
        (true, Some(g)) => {
            return Err(DeepError::Invalid(format!(
                "{} examples, {} genders",
                examples.len(),
                g.len()
            )));
        }
        (true, None) => {
            return Err(DeepError::Invalid(
                "aux_gender is set but no genders were given".into(),
            ));
        }
    };
    if let Some(c) = copies
        && c.len() != examples.len()
    {
        return Err(DeepError::Invalid(format!(
            "{} examples, {} copy flags",
            examples.len(),
            c.len()
        )));
    }
    let is_copy = |i: usize| copies.is_some_and(|c| c[i]);
    if let Some(bad) = examples
        .iter()
        .position(|e| e.values.len() != e.frames * dims)
    {
        return Err(DeepError::Invalid(format!(
            "example {bad} has {} values, not {} frames x {dims}",
            examples[bad].values.len(),
            examples[bad].frames
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);

    // Speaker-disjoint validation: the first speakers of a seeded shuffle,
    // drawn as every family draws them.
    let all_speakers = ser_learn::held_out::shuffled_speakers(speakers, &mut rng);
    let n_val = if params.patience == 0 || all_speakers.len() < 2 {
        0
    } else {
        params.validation_speakers.min(all_speakers.len() - 1)
    };
    let validation: BTreeSet<&String> = all_speakers[..n_val].iter().copied().collect();
    // A held-out speaker's copies neither train, nor validate, nor enter
    // its statistics (it is scored as a test speaker is): they are dropped
    // here, and the rest of training sees the remaining rows only.
    let dropped = |i: usize| is_copy(i) && validation.contains(&speakers[i]);
    let kept_rows: Option<Vec<usize>> = (0..examples.len())
        .any(dropped)
        .then(|| (0..examples.len()).filter(|&i| !dropped(i)).collect());
    let kept;
    let (examples, labels, speakers, genders) = match &kept_rows {
        None => (examples, labels, speakers, genders),
        Some(rows) => {
            kept = (
                rows.iter()
                    .map(|&i| examples[i].clone())
                    .collect::<Vec<_>>(),
                rows.iter().map(|&i| labels[i]).collect::<Vec<_>>(),
                rows.iter()
                    .map(|&i| speakers[i].clone())
                    .collect::<Vec<_>>(),
                genders.map(|g| rows.iter().map(|&i| g[i]).collect::<Vec<_>>()),
            );
            (&kept.0[..], &kept.1[..], &kept.2[..], kept.3.as_deref())
        }
    };
    let (train_idx, val_idx): (Vec<usize>, Vec<usize>) =
        (0..examples.len()).partition(|&i| !validation.contains(&speakers[i]));

    let pooled: Vec<Example> = examples
        .iter()
        .map(|e| pool_frames(e, dims, params.pool_frames))
        .collect();
    let train_examples: Vec<Example> = train_idx.iter().map(|&i| pooled[i].clone()).collect();
    let normaliser = Normaliser::fit(params.normalize, &train_examples, dims);
    let normalised = normaliser.apply(&pooled, speakers, dims);
    drop(pooled);

    let device = device_for(params)?.autodiff();
    let outputs = params.outputs(classes);
    let mut model = fresh_net(kind, params, dims, outputs, &device, params.seed);
    let _masks = crate::dropout::masks_from(params.seed);
    let clip_norm = (params.clip_norm > 0.0).then_some(params.clip_norm as f32);
    let mut optimizer = match params.device {
        // One pass per parameter, equal to burn's step to the bit.
        Device::Cpu => FusedAdamW::module_optimizer(params.weight_decay as f32, clip_norm),
        Device::Gpu => burns_module_optimizer(params.weight_decay as f32, clip_norm),
    };
    let weights: Option<Vec<f32>> = params.class_balanced.then(|| {
        let mut n = vec![0usize; classes];
        train_idx.iter().for_each(|&i| n[labels[i]] += 1);
        let k = n.iter().filter(|&&c| c > 0).count() as f32;
        n.iter()
            .map(|&c| {
                if c == 0 {
                    0.0
                } else {
                    train_idx.len() as f32 / (k * c as f32)
                }
            })
            .collect()
    });
    let loss_fn = CrossEntropyLossConfig::new()
        .with_weights(weights)
        .init(&device);
    let gender_loss_fn = CrossEntropyLossConfig::new().init(&device);

    let mut curves = vec![Curve {
        name: "training loss".into(),
        panel: "loss".into(),
        points: vec![],
    }];
    if n_val > 0 {
        curves.push(Curve {
            name: "validation loss".into(),
            panel: "loss".into(),
            points: vec![],
        });
        curves.push(Curve {
            name: "validation UA".into(),
            panel: "UA".into(),
            points: vec![],
        });
    }
    let mut best: Option<(f64, f64, usize, Vec<u8>)> = None; // (ua, -loss, epoch, weights)
    let mut epochs_run = 0;
    let mut order = train_idx.clone();
    for epoch in 0..params.epochs {
        epochs_run = epoch + 1;
        let lr = learning_rate(params, epoch);
        order.shuffle(&mut rng);
        let (mut loss_sum, mut seen) = (0.0, 0usize);
        for chunk in order.chunks(params.batch_size) {
            let members: Vec<&Example> = chunk.iter().map(|&i| &normalised[i]).collect();
            let b = batch(
                &members,
                dims,
                Window::Train {
                    rng: &mut rng,
                    params,
                },
            );
            let x = tensor(&b, &device);
            let y: Vec<i64> = chunk.iter().map(|&i| labels[i] as i64).collect();
            let y = Tensor::<1, Int>::from_data(TensorData::new(y, [chunk.len()]), &device);
            let n = chunk.len();
            // Emotion logits, and the gender ones when that target is on.
            let split = |logits: Tensor<2>| match genders {
                None => (logits, None),
                Some(_) => (
                    logits.clone().slice([0..n, 0..classes]),
                    Some(logits.slice([0..n, classes..classes + 2])),
                ),
            };
            let gender_loss = |logits: &Option<Tensor<2>>, rows: &[usize]| {
                let (Some(logits), Some(genders)) = (logits, genders) else {
                    return None;
                };
                // (position in the batch, gender) of rows whose gender is known.
                let (at, g): (Vec<i64>, Vec<i64>) = rows
                    .iter()
                    .enumerate()
                    .filter_map(|(k, &i)| genders[i].map(|g| (k as i64, g as i64)))
                    .unzip();
                if at.is_empty() {
                    return None;
                }
                let m = at.len();
                let at = Tensor::<1, Int>::from_data(TensorData::new(at, [m]), &device);
                let g = Tensor::<1, Int>::from_data(TensorData::new(g, [m]), &device);
                Some(gender_loss_fn.forward(logits.clone().select(0, at), g) * params.aux_gender)
            };
            let loss = if params.mixup > 0.0 {
                let mix = Mixup::draw(params.mixup, n, &mut rng);
                let partner = Tensor::<1, Int>::from_data(
                    TensorData::new(
                        mix.partner.iter().map(|&j| j as i64).collect::<Vec<_>>(),
                        [n],
                    ),
                    &device,
                );
                let lambda = mix.lambda;
                let x = x.clone() * lambda + x.select(0, partner.clone()) * (1.0 - lambda);
                let (logits, gender_logits) = split(model.forward(x, &mix.lengths(&b.lengths)));
                let partners: Vec<usize> = mix.partner.iter().map(|&j| chunk[j]).collect();
                let mut loss = loss_fn.forward(logits.clone(), y.clone()) * lambda
                    + loss_fn.forward(logits, y.select(0, partner)) * (1.0 - lambda);
                if let Some(own) = gender_loss(&gender_logits, chunk) {
                    loss = loss + own * lambda;
                }
                if let Some(theirs) = gender_loss(&gender_logits, &partners) {
                    loss = loss + theirs * (1.0 - lambda);
                }
                loss
            } else {
                let (logits, gender_logits) = split(model.forward(x, &b.lengths));
                let loss = loss_fn.forward(logits, y);
                match gender_loss(&gender_logits, chunk) {
                    Some(g) => loss + g,
                    None => loss,
                }
            };
            let value: f32 = loss.clone().into_scalar();
            loss_sum += value as f64 * chunk.len() as f64;
            seen += chunk.len();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(lr, model, grads);
        }
        let train_loss = loss_sum / seen.max(1) as f64;
        curves[0].points.push([epochs_run as f64, train_loss]);

        let mut validation_ua = None;
        if n_val > 0 {
            let valid = model.valid();
            let (logits, _) = forward_all(
                &valid,
                &normalised,
                &val_idx,
                dims,
                params,
                classes,
                0..classes,
            )?;
            let truth: Vec<usize> = val_idx.iter().map(|&i| labels[i]).collect();
            let predicted = argmax_rows(&logits, classes);
            let ua = unweighted_recall(&truth, &predicted, classes);
            let loss = mean_cross_entropy(&logits, &truth, classes);
            curves[1].points.push([epochs_run as f64, loss]);
            curves[2].points.push([epochs_run as f64, ua]);
            validation_ua = Some(ua);
            let better = best
                .as_ref()
                .is_none_or(|(bu, bl, _, _)| (ua, -loss) > (*bu, *bl));
            if better {
                best = Some((ua, -loss, epochs_run, record_bytes(&valid)?));
            }
        }
        on_epoch(&EpochReport {
            epoch: epochs_run,
            epochs: params.epochs,
            train_loss,
            validation_ua,
        });
        if let Some((_, _, best_epoch, _)) = &best
            && params.patience > 0
            && epochs_run - best_epoch >= params.patience
        {
            break;
        }
    }
    let (best_epoch, best_ua, weights) = match best {
        Some((ua, _, epoch, weights)) => (epoch, Some(ua), weights),
        None => (epochs_run, None, record_bytes(&model.valid())?),
    };
    Ok(TrainedNet {
        kind,
        params: params.clone(),
        dims,
        classes,
        normaliser,
        best_epoch,
        epochs_run,
        validation_speakers: validation.into_iter().cloned().collect(),
        best_validation_ua: best_ua,
        curves,
        weights,
    })
}

/// Numbers a network's parameters 1, 2, ... in module order. burn draws
/// each parameter's id at random and the burnpack stores it, so without
/// this the same weights would be different bytes in every run (and a
/// different object in the content-addressed cache).
struct NumberParameters(u64);

impl burn::module::ModuleMapper for NumberParameters {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<Tensor<D>>,
    ) -> burn::module::Param<Tensor<D>> {
        let (_, value, mapper) = param.consume();
        self.0 += 1;
        burn::module::Param::from_mapped_value(burn::module::ParamId::from(self.0), value, mapper)
    }
}

fn record_bytes(model: &Net) -> Result<Vec<u8>, DeepError> {
    let bytes = model
        .clone()
        .map(&mut NumberParameters(0))
        .into_record()
        .into_bytes()
        .map_err(|e| DeepError::Weights(e.to_string()))?;
    Ok(bytes.to_vec())
}

/// The logits of output `units` for `idx` of `examples` (row-major,
/// idx.len() x units.len()), in evaluation batches. The emotion logits are
/// units `0..classes`; a gender target's follow them.
#[allow(clippy::too_many_arguments)] // each is a distinct input of one forward pass
fn forward_all(
    model: &Net,
    examples: &[Example],
    idx: &[usize],
    dims: usize,
    params: &DeepParams,
    classes: usize,
    units: std::ops::Range<usize>,
) -> Result<(Vec<f32>, usize), DeepError> {
    let device = device_for(params)?;
    let width = units.len();
    // What is evaluated: each example (its position in `idx`; no start: its
    // middle window), or with `test_windows: cover` each window of a long
    // one (its first frame).
    let cover = match params.test_windows {
        TestWindows::Cover => params.max_frames.map(|m| m.max(1)),
        TestWindows::Middle => None,
    };
    let mut items: Vec<(usize, Option<usize>)> = Vec::with_capacity(idx.len());
    for (k, &i) in idx.iter().enumerate() {
        match cover {
            Some(m) if examples[i].frames > m => {
                items.extend(covering_starts(examples[i].frames, m).map(|s| (k, Some(s))))
            }
            _ => items.push((k, None)),
        }
    }
    let frames = |&(k, start): &(usize, Option<usize>)| match (start, cover) {
        (Some(_), Some(m)) => m,
        _ => examples[idx[k]].frames,
    };
    // Similar lengths together, so little of a batch is padding; the
    // results are put back in the order asked for.
    let mut sorted: Vec<usize> = (0..items.len()).collect();
    sorted.sort_by_key(|&j| frames(&items[j]));
    let mut by_position = vec![0f32; idx.len() * width];
    let mut windows = vec![0u32; idx.len()];
    for chunk in sorted.chunks(params.batch_size.max(1)) {
        let members: Vec<&Example> = chunk.iter().map(|&j| &examples[idx[items[j].0]]).collect();
        let starts: Vec<Option<usize>> = chunk.iter().map(|&j| items[j].1).collect();
        let b = batch(
            &members,
            dims,
            Window::Eval {
                max_frames: params.max_frames,
                padding: params.padding,
                starts: Some(&starts),
            },
        );
        let logits: Vec<f32> = model
            .forward(tensor(&b, &device), &b.lengths)
            .to_data()
            .try_to_vec::<f32>()
            .map_err(|e| DeepError::Weights(format!("{e:?}")))?;
        for (row, &j) in logits.chunks_exact(params.outputs(classes)).zip(chunk) {
            let k = items[j].0;
            let sum = &mut by_position[k * width..(k + 1) * width];
            for (s, &v) in sum.iter_mut().zip(&row[units.clone()]) {
                *s += v;
            }
            windows[k] += 1;
        }
    }
    // The windows' mean logits (one window: its own, unchanged).
    for (sum, &n) in by_position.chunks_exact_mut(width).zip(&windows) {
        if n > 1 {
            sum.iter_mut().for_each(|v| *v /= n as f32);
        }
    }
    Ok((by_position, width))
}

/// The first frames of ceil(n / m) windows of `m` frames, evenly spaced
/// from frame 0 to the last window ending at frame `n` (for n > m).
fn covering_starts(n: usize, m: usize) -> impl Iterator<Item = usize> {
    let count = n.div_ceil(m);
    // Rounded to the nearest frame.
    (0..count).map(move |j| (j * (n - m) * 2 + (count - 1)) / (2 * (count - 1)))
}

fn argmax_rows(logits: &[f32], classes: usize) -> Vec<usize> {
    logits
        .chunks_exact(classes)
        .map(|row| {
            (0..classes)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
                .unwrap_or(0)
        })
        .collect()
}

/// Softmax of each row, in f64 so that large logits neither overflow nor
/// lose the small probabilities.
fn softmax_rows(logits: &[f32], classes: usize) -> Vec<Vec<f32>> {
    logits
        .chunks_exact(classes)
        .map(|row| {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
            let exp: Vec<f64> = row.iter().map(|&v| (v as f64 - max).exp()).collect();
            let total: f64 = exp.iter().sum();
            exp.iter().map(|&e| (e / total) as f32).collect()
        })
        .collect()
}

fn mean_cross_entropy(logits: &[f32], truth: &[usize], classes: usize) -> f64 {
    let total: f64 = logits
        .chunks_exact(classes)
        .zip(truth)
        .map(|(row, &t)| {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
            let lse = max
                + row
                    .iter()
                    .map(|&v| (v as f64 - max).exp())
                    .sum::<f64>()
                    .ln();
            lse - row[t] as f64
        })
        .sum();
    total / truth.len().max(1) as f64
}

impl TrainedNet {
    /// The network with the kept weights, on the inference device.
    fn network(&self) -> Result<Net, DeepError> {
        let device = device_for(&self.params)?;
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(self.weights.clone()))
            .map_err(|e| DeepError::Weights(e.to_string()))?;
        // Drawn through `fresh_net` (and then overwritten) rather than left
        // lazy, so no draw happens later outside the lock and moves the
        // generator under a training that is initialising elsewhere.
        let outputs = self.params.outputs(self.classes);
        let net = fresh_net(self.kind, &self.params, self.dims, outputs, &device, 0);
        Ok(net.load_record(record).valid())
    }

    /// Class logits per example (examples x classes, row-major).
    pub fn logits(&self, examples: &[Example], speakers: &[String]) -> Result<Vec<f32>, DeepError> {
        self.outputs(examples, speakers, 0..self.classes)
    }

    /// The logits of output `units` per example (examples x units.len(),
    /// row-major).
    fn outputs(
        &self,
        examples: &[Example],
        speakers: &[String],
        units: std::ops::Range<usize>,
    ) -> Result<Vec<f32>, DeepError> {
        let net = self.network()?;
        let pooled: Vec<Example> = examples
            .iter()
            .map(|e| pool_frames(e, self.dims, self.params.pool_frames))
            .collect();
        let normalised = self.normaliser.apply(&pooled, speakers, self.dims);
        let idx: Vec<usize> = (0..examples.len()).collect();
        Ok(forward_all(
            &net,
            &normalised,
            &idx,
            self.dims,
            &self.params,
            self.classes,
            units,
        )?
        .0)
    }

    /// Class probabilities per example (softmax of the logits; one row of
    /// `classes` values per example, each summing to 1). Ensembles average
    /// these across networks.
    pub fn probabilities(
        &self,
        examples: &[Example],
        speakers: &[String],
    ) -> Result<Vec<Vec<f32>>, DeepError> {
        Ok(softmax_rows(
            &self.logits(examples, speakers)?,
            self.classes,
        ))
    }

    /// The predicted class and the class probabilities of each example,
    /// from one forward pass.
    pub fn predict_with_probabilities(
        &self,
        examples: &[Example],
        speakers: &[String],
    ) -> Result<(Vec<usize>, Vec<Vec<f32>>), DeepError> {
        let logits = self.logits(examples, speakers)?;
        Ok((
            argmax_rows(&logits, self.classes),
            softmax_rows(&logits, self.classes),
        ))
    }

    /// The predicted class of each example.
    pub fn predict(
        &self,
        examples: &[Example],
        speakers: &[String],
    ) -> Result<Vec<usize>, DeepError> {
        Ok(argmax_rows(&self.logits(examples, speakers)?, self.classes))
    }

    /// The global statistics of `examples` (a training set) as this net
    /// reads them (frames pooled as its settings pool them): what a
    /// speaker-normalised net falls back to when a speaker's own
    /// statistics are not at hand.
    pub fn global_normaliser(&self, examples: &[Example]) -> Normaliser {
        let pooled: Vec<Example> = examples
            .iter()
            .map(|e| pool_frames(e, self.dims, self.params.pool_frames))
            .collect();
        Normaliser::fit(Normalize::Global, &pooled, self.dims)
    }

    /// Mean cross-entropy of `examples` against `labels`.
    pub fn loss(
        &self,
        examples: &[Example],
        speakers: &[String],
        labels: &[usize],
    ) -> Result<f64, DeepError> {
        Ok(mean_cross_entropy(
            &self.logits(examples, speakers)?,
            labels,
            self.classes,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covering_windows_start_evenly_from_the_first_frame_to_the_last() {
        let starts = |m: usize| covering_starts(10, m).collect::<Vec<_>>();
        assert_eq!(starts(4), [0, 3, 6]);
        assert_eq!(starts(3), [0, 2, 5, 7]);
        assert_eq!(starts(9), [0, 1]);
    }

    /// The same training, run twice, saves the same bytes: batch norm's
    /// running statistics too, whose ids burn draws at random
    /// (`number_running_states`).
    #[test]
    fn the_same_training_saves_the_same_bytes() {
        let (train, y, s) = two_class_task(4, 16, |_| 8);
        let params = tiny_cnn1d();
        assert!(params.batch_norm, "the default has batch norm");
        let weights = || {
            fit(DeepKind::Cnn1d, &params, &train, &y, &s, 2, 2, &mut |_| {})
                .unwrap()
                .weights
        };
        assert_eq!(weights(), weights());
    }

    /// `n` examples of two dims and `frames(i)` frames of uniform noise,
    /// labels alternating between two classes, four speakers.
    fn two_class_task(
        seed: u64,
        n: usize,
        frames: impl Fn(usize) -> usize,
    ) -> (Vec<Example>, Vec<usize>, Vec<String>) {
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let train = (0..n)
            .map(|i| {
                let frames = frames(i);
                let values = (0..2 * frames)
                    .map(|_| rng.random_range(-1.0..1.0))
                    .collect();
                Example::new(values, frames)
            })
            .collect();
        let y = (0..n).map(|i| i % 2).collect();
        let s = (0..n).map(|i| format!("s{}", i % 4)).collect();
        (train, y, s)
    }

    /// A 4-channel cnn1d trained 2 epochs, nobody held out.
    fn tiny_cnn1d() -> DeepParams {
        DeepParams {
            channels: vec![4],
            hidden: 8,
            epochs: 2,
            patience: 0,
            validation_speakers: 0,
            ..DeepParams::default()
        }
    }

    /// `test_windows: cover` predicts a long sequence by the mean logits of
    /// its covering windows, each as `middle` predicts a sequence of
    /// exactly `max_frames`; shorter ones as before.
    #[test]
    fn covered_predictions_are_the_mean_of_their_windows() {
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut example = |frames: usize| {
            Example::new(
                (0..2 * frames)
                    .map(|_| rng.random_range(-1.0..1.0))
                    .collect(),
                frames,
            )
        };
        let train: Vec<Example> = (0..24).map(|i| example(6 + i % 5)).collect();
        let y: Vec<usize> = (0..24).map(|i| i % 2).collect();
        let s: Vec<String> = (0..24).map(|i| format!("s{}", i % 4)).collect();
        let params = DeepParams {
            max_frames: Some(4),
            ..tiny_cnn1d()
        };
        let middle = fit(DeepKind::Cnn1d, &params, &train, &y, &s, 2, 2, &mut |_| {}).unwrap();
        let mut cover = middle.clone();
        cover.params.test_windows = TestWindows::Cover;
        let (long, short) = (example(10), example(3));
        let windows: Vec<Example> = (covering_starts(10, 4))
            .map(|s| Example::new(long.values[2 * s..2 * (s + 4)].to_vec(), 4))
            .collect();
        let speakers = vec!["s0".to_string(); windows.len()];
        let each = middle.logits(&windows, &speakers).unwrap();
        let covered = cover
            .logits(std::slice::from_ref(&long), &speakers[..1])
            .unwrap();
        for c in 0..2 {
            let mean = (each[c] + each[2 + c] + each[4 + c]) / 3.0;
            assert!((covered[c] - mean).abs() < 1e-5, "{covered:?} vs {each:?}");
        }
        assert_ne!(covered, middle.logits(&[long], &speakers[..1]).unwrap());
        let one = |net: &TrainedNet| {
            net.logits(std::slice::from_ref(&short), &speakers[..1])
                .unwrap()
        };
        assert_eq!(one(&cover), one(&middle));
    }

    #[test]
    fn a_mixup_pairs_every_example_once_and_blends_to_the_longer() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut lambdas = Vec::new();
        for _ in 0..200 {
            let mix = Mixup::draw(0.2, 5, &mut rng);
            let mut partners = mix.partner.clone();
            partners.sort_unstable();
            assert_eq!(partners, vec![0, 1, 2, 3, 4]);
            assert!((0.0..=1.0).contains(&mix.lambda));
            lambdas.push(mix.lambda);
        }
        // Beta(0.2, 0.2) puts most of its weight near 0 and 1.
        let extreme = lambdas
            .iter()
            .filter(|&&l| !(0.1..=0.9).contains(&l))
            .count();
        assert!(extreme > 100, "{extreme} of 200 near 0 or 1");
        let mix = Mixup {
            lambda: 0.5,
            partner: vec![2, 0, 1],
        };
        assert_eq!(mix.lengths(&[4, 9, 6]), vec![6, 9, 9]);
    }

    #[test]
    fn cosine_schedule_warms_up_then_decays_to_zero() {
        let p = DeepParams {
            epochs: 10,
            warmup_epochs: 2,
            learning_rate: 1.0,
            ..DeepParams::default()
        };
        let lrs: Vec<f64> = (0..10).map(|e| learning_rate(&p, e)).collect();
        assert!(lrs[0] < lrs[1] && lrs[1] < lrs[2]);
        assert_eq!(lrs[2], 1.0);
        assert!(lrs.windows(2).skip(2).all(|w| w[1] < w[0]));
        assert!(lrs[9] < 0.05);
    }

    #[test]
    fn softmax_rows_sum_to_one_without_overflow() {
        let rows = softmax_rows(&[1.0, 1.0, 1.0, 1000.0, -1000.0, 1000.0], 3);
        assert_eq!(rows[0], [1.0 / 3.0; 3]);
        assert_eq!(rows[1], [0.5, 0.0, 0.5]);
        assert!(rows.iter().all(|r| r.iter().all(|p| p.is_finite())));
    }

    /// 96 two-feature rows of 8 speakers: the emotion (2 classes) is the
    /// sign of the first feature, the gender the sign of the second; every
    /// eighth row's gender is unknown.
    #[allow(clippy::type_complexity)]
    fn emotion_and_gender_set() -> (Vec<Example>, Vec<usize>, Vec<Option<usize>>, Vec<String>) {
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (mut x, mut y, mut g, mut s) = (vec![], vec![], vec![], vec![]);
        for i in 0..96 {
            let (a, b): (f32, f32) = (rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0));
            x.push(Example::new(vec![a, b], 1));
            y.push((a > 0.0) as usize);
            g.push((i % 8 != 0).then_some((b > 0.0) as usize));
            s.push(format!("s{}", i % 8));
        }
        (x, y, g, s)
    }

    fn gender_params(aux_gender: f64) -> DeepParams {
        DeepParams {
            hidden: 16,
            layers: 1,
            dropout: 0.0,
            epochs: 60,
            batch_size: 16,
            learning_rate: 1e-2,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            patience: 0,
            validation_speakers: 0,
            normalize: Normalize::Global,
            aux_gender,
            ..DeepParams::default()
        }
    }

    fn accuracy(logits: &[f32], truth: impl Iterator<Item = Option<usize>>) -> f64 {
        let (mut hit, mut n) = (0, 0);
        for (p, t) in argmax_rows(logits, 2).into_iter().zip(truth) {
            if let Some(t) = t {
                hit += (p == t) as usize;
                n += 1;
            }
        }
        hit as f64 / n as f64
    }

    #[test]
    fn a_gender_target_trains_its_own_units_and_predictions_read_the_emotions_only() {
        let (x, y, g, s) = emotion_and_gender_set();
        for mixup in [0.0, 0.4] {
            let params = DeepParams {
                mixup,
                ..gender_params(1.0)
            };
            let fit = || {
                fit_with_extras(
                    DeepKind::Mlp,
                    &params,
                    &x,
                    &y,
                    RowExtras {
                        genders: Some(&g),
                        copies: None,
                    },
                    &s,
                    2,
                    2,
                    &mut |_| {},
                )
                .unwrap()
            };
            let net = fit();
            let emotions = net.logits(&x, &s).unwrap();
            assert_eq!(emotions.len(), x.len() * 2);
            assert!(
                net.probabilities(&x, &s)
                    .unwrap()
                    .iter()
                    .all(|p| p.len() == 2)
            );
            let genders = net.outputs(&x, &s, 2..4).unwrap();
            let (emotion_acc, gender_acc) = (
                accuracy(&emotions, y.iter().map(|&c| Some(c))),
                accuracy(&genders, g.iter().copied()),
            );
            assert!(emotion_acc > 0.9, "mixup {mixup}: emotion {emotion_acc}");
            assert!(gender_acc > 0.9, "mixup {mixup}: gender {gender_acc}");
            // The same seed trains the same weights.
            assert_eq!(fit().weights, net.weights, "mixup {mixup}");
        }
        // Without the target the extra units don't exist, and the gender is
        // not learned by the emotion units.
        let plain = fit(
            DeepKind::Mlp,
            &gender_params(0.0),
            &x,
            &y,
            &s,
            2,
            2,
            &mut |_| {},
        )
        .unwrap();
        let units = plain.outputs(&x, &s, 0..2).unwrap();
        assert!(accuracy(&units, g.iter().copied()) < 0.75);
    }

    /// Copies train but never validate: copies of the held-out speakers'
    /// utterances (labels flipped, features shifted) change nothing when
    /// flagged, not even those speakers' statistics (the same weights as
    /// without them), and drag the validation UA down when not.
    #[test]
    fn augmented_copies_never_validate() {
        let (x, y, _, s) = emotion_and_gender_set();
        for normalize in [Normalize::Global, Normalize::Speaker] {
            let params = DeepParams {
                patience: 5,
                validation_speakers: 2,
                epochs: 20,
                normalize,
                ..gender_params(0.0)
            };
            let fit_on = |examples: &[Example],
                          labels: &[usize],
                          speakers: &[String],
                          copies: Option<&[bool]>| {
                fit_with_extras(
                    DeepKind::Mlp,
                    &params,
                    examples,
                    labels,
                    RowExtras {
                        genders: None,
                        copies,
                    },
                    speakers,
                    2,
                    2,
                    &mut |_| {},
                )
                .unwrap()
            };
            let plain = fit_on(&x, &y, &s, None);
            assert_eq!(plain.validation_speakers.len(), 2);
            let ua = plain.best_validation_ua.unwrap();
            assert!(ua > 0.8, "{normalize:?}: {ua}");
            // Copies of the held-out speakers' utterances (the same speakers
            // again: the seeded shuffle sees the same speaker set).
            let held_out: Vec<usize> = (0..x.len())
                .filter(|&i| plain.validation_speakers.contains(&s[i]))
                .collect();
            let (mut examples, mut labels, mut speakers) = (x.clone(), y.clone(), s.clone());
            for &i in &held_out {
                let shifted = x[i].values.iter().map(|v| v + 3.0).collect();
                examples.push(Example::new(shifted, 1));
                labels.push(1 - y[i]);
                speakers.push(s[i].clone());
            }
            let copies: Vec<bool> = (0..examples.len()).map(|i| i >= x.len()).collect();
            let flagged = fit_on(&examples, &labels, &speakers, Some(&copies));
            assert_eq!(flagged.validation_speakers, plain.validation_speakers);
            assert_eq!(flagged.best_validation_ua, plain.best_validation_ua);
            assert_eq!(flagged.weights, plain.weights, "{normalize:?}");
            // The UA early stopping kept is the kept network's on the
            // held-out speakers' recorded utterances, scored as test
            // speakers are (their statistics from those rows alone).
            let rows: Vec<Example> = held_out.iter().map(|&i| x[i].clone()).collect();
            let who: Vec<String> = held_out.iter().map(|&i| s[i].clone()).collect();
            let truth: Vec<usize> = held_out.iter().map(|&i| y[i]).collect();
            let predicted = flagged.predict(&rows, &who).unwrap();
            let on_originals = unweighted_recall(&truth, &predicted, 2);
            assert_eq!(
                flagged.best_validation_ua,
                Some(on_originals),
                "{normalize:?}"
            );
            let unflagged = fit_on(&examples, &labels, &speakers, None);
            let mixed = unflagged.best_validation_ua.unwrap();
            assert!(mixed < 0.7, "{normalize:?}: {mixed}");
        }
    }

    #[test]
    fn a_gender_target_needs_one_gender_per_example() {
        let (x, y, g, s) = emotion_and_gender_set();
        let params = gender_params(1.0);
        let err = fit_with_extras(
            DeepKind::Mlp,
            &params,
            &x,
            &y,
            RowExtras::default(),
            &s,
            2,
            2,
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no genders were given"), "{err}");
        let err = fit_with_extras(
            DeepKind::Mlp,
            &params,
            &x,
            &y,
            RowExtras {
                genders: Some(&g[1..]),
                copies: None,
            },
            &s,
            2,
            2,
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("96 examples, 95 genders"), "{err}");
        let negative = gender_params(-0.5);
        assert!(
            negative
                .check(DeepKind::Mlp)
                .unwrap_err()
                .to_string()
                .contains("aux_gender -0.5 is not a loss weight")
        );
    }

    #[test]
    fn recall_is_averaged_over_present_classes() {
        assert_eq!(unweighted_recall(&[0, 0, 0, 1], &[0, 0, 0, 0], 3), 0.5);
    }
}
