//! Training behaviour of every network: it can memorise a tiny set, and the
//! same settings give the same weights.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ser_deep::{DeepKind, DeepParams, Example, Normalize, fit};

/// 16 random examples of 4 classes, of varying lengths, each with its own
/// speaker; the shape suits `kind`'s input.
fn tiny_set(kind: DeepKind) -> (Vec<Example>, Vec<usize>, Vec<String>, usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (frames, dims) = match kind {
        DeepKind::Mlp => (1, 12),
        DeepKind::Cnn1dRaw => (2000, 1),
        _ => (24, 8),
    };
    let mut examples = Vec::new();
    for i in 0..16 {
        let n = if frames == 1 {
            1
        } else {
            frames - (i % 4) * frames / 8
        };
        let values = (0..n * dims)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        examples.push(Example::new(values, n));
    }
    let labels = (0..16).map(|i| i % 4).collect();
    let speakers = (0..16).map(|i| format!("s{i}")).collect();
    (examples, labels, speakers, dims)
}

fn memorising(kind: DeepKind) -> DeepParams {
    DeepParams {
        hidden: 32,
        layers: 1,
        channels: vec![16, 32],
        heads: 2,
        dropout: 0.0,
        epochs: 80,
        batch_size: 8,
        learning_rate: 1e-2,
        weight_decay: 0.0,
        schedule: ser_deep::Schedule::Constant,
        patience: 0,
        validation_speakers: 0,
        normalize: if kind == DeepKind::Cnn1dRaw {
            Normalize::None
        } else {
            Normalize::Global
        },
        ..DeepParams::default()
    }
}

#[test]
fn every_network_memorises_sixteen_examples() {
    for kind in DeepKind::ALL {
        let (x, y, s, dims) = tiny_set(kind);
        let params = memorising(kind);
        let net = fit(kind, &params, &x, &y, &s, dims, 4, &mut |_| {}).unwrap();
        let loss = net.loss(&x, &s, &y).unwrap();
        let predicted = net.predict(&x, &s).unwrap();
        let curve = &net.curves[0].points;
        eprintln!(
            "{kind:?}: first training loss {:.3}, last {:.4}, loss in evaluation {loss:.4}",
            curve[0][1],
            curve.last().unwrap()[1]
        );
        assert!(loss < 0.1, "{kind:?} did not memorise: loss {loss}");
        assert_eq!(predicted, y, "{kind:?}");
        // Probabilities are the same network's: rows sum to one, their
        // argmax is the prediction, and a memorised label is near certain.
        let probabilities = net.probabilities(&x, &s).unwrap();
        let (again, same) = net.predict_with_probabilities(&x, &s).unwrap();
        assert_eq!((&again, &same), (&predicted, &probabilities), "{kind:?}");
        for (row, &label) in probabilities.iter().zip(&y) {
            assert_eq!(row.len(), 4);
            assert!(
                (row.iter().sum::<f32>() - 1.0).abs() < 1e-5,
                "{kind:?}: {row:?}"
            );
            let top = (0..4).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            assert_eq!(top, label, "{kind:?}: {row:?}");
            assert!(row[label] > 0.5, "{kind:?}: {row:?}");
        }
    }
}

#[test]
fn the_same_settings_give_the_same_network() {
    for kind in [DeepKind::Cnn2d, DeepKind::Lstm, DeepKind::CnnTransformer] {
        let (x, y, s, dims) = tiny_set(kind);
        let params = DeepParams {
            epochs: 3,
            dropout: 0.2,
            validation_speakers: 4,
            patience: 2,
            ..memorising(kind)
        };
        let a = fit(kind, &params, &x, &y, &s, dims, 4, &mut |_| {}).unwrap();
        let b = fit(kind, &params, &x, &y, &s, dims, 4, &mut |_| {}).unwrap();
        // Records carry random parameter ids, so compare what the weights
        // compute rather than their bytes.
        let logits = |n: &ser_deep::TrainedNet| n.logits(&x, &s).unwrap();
        assert_eq!(logits(&a), logits(&b), "{kind:?}");
        assert_eq!(a.curves, b.curves, "{kind:?}");
        assert_eq!(a.validation_speakers.len(), 4);
        let other = fit(
            kind,
            &DeepParams { seed: 1, ..params },
            &x,
            &y,
            &s,
            dims,
            4,
            &mut |_| {},
        )
        .unwrap();
        assert_ne!(logits(&a), logits(&other), "{kind:?}: the seed must matter");
    }
}

/// Trainings run side by side (as the scheduler runs a pipeline's models,
/// on rayon's pool) give what each gives alone: dropout, initial weights
/// and batches depend on a training's own seed, not on who else is drawing.
#[test]
fn trainings_side_by_side_match_trainings_alone() {
    let kinds = [
        DeepKind::Mlp,
        DeepKind::Cnn2d,
        DeepKind::Lstm,
        DeepKind::Gru,
        DeepKind::CnnTransformer,
    ];
    let train = |kind: DeepKind| {
        let (x, y, s, dims) = tiny_set(kind);
        let params = DeepParams {
            epochs: 2,
            dropout: 0.3,
            validation_speakers: 4,
            patience: 2,
            ..memorising(kind)
        };
        let net = fit(kind, &params, &x, &y, &s, dims, 4, &mut |_| {}).unwrap();
        (net.logits(&x, &s).unwrap(), net.curves)
    };
    let alone: Vec<_> = kinds.iter().map(|&k| train(k)).collect();
    let together = std::sync::Mutex::new(vec![None; kinds.len()]);
    rayon::scope(|scope| {
        for (i, &kind) in kinds.iter().enumerate() {
            let together = &together;
            scope.spawn(move |_| {
                let result = train(kind);
                together.lock().unwrap()[i] = Some(result);
            });
        }
    });
    for ((kind, alone), together) in kinds.iter().zip(alone).zip(together.into_inner().unwrap()) {
        assert_eq!(Some(alone), together, "{kind:?}");
    }
}

#[test]
fn early_stopping_keeps_the_best_validation_epoch() {
    let kind = DeepKind::Mlp;
    let (x, y, s, dims) = tiny_set(kind);
    let params = DeepParams {
        epochs: 30,
        validation_speakers: 4,
        patience: 3,
        ..memorising(kind)
    };
    let mut seen = Vec::new();
    let net = fit(kind, &params, &x, &y, &s, dims, 4, &mut |r| {
        seen.push(r.clone())
    })
    .unwrap();
    let ua = &net.curves[2].points;
    let best = ua.iter().map(|p| p[1]).fold(f64::MIN, f64::max);
    assert_eq!(net.best_validation_ua, Some(best));
    assert_eq!(ua[net.best_epoch - 1][1], best);
    assert_eq!(seen.len(), net.epochs_run);
    // Training stopped within `patience` epochs of the best one, or ran out.
    assert!(net.epochs_run == 30 || net.epochs_run - net.best_epoch == 3);
}

/// Mixup blends every batch with a shuffled copy of itself: the networks
/// still learn the tiny set (random inputs, so blends of two of them are
/// hard to tell apart; chance is 4 of 16), the same seed still gives the
/// same network, and the blending changes what is learned.
#[test]
fn mixup_still_learns_and_stays_deterministic() {
    for kind in [DeepKind::Mlp, DeepKind::Cnn2d, DeepKind::Lstm] {
        let (x, y, s, dims) = tiny_set(kind);
        let plain = memorising(kind);
        let mixed = DeepParams {
            mixup: 0.2,
            ..plain.clone()
        };
        let a = fit(kind, &mixed, &x, &y, &s, dims, 4, &mut |_| {}).unwrap();
        let right = a
            .predict(&x, &s)
            .unwrap()
            .iter()
            .zip(&y)
            .filter(|(p, t)| p == t)
            .count();
        assert!(right >= 14, "{kind:?} learned {right} of 16 with mixup");
        let b = fit(kind, &mixed, &x, &y, &s, dims, 4, &mut |_| {}).unwrap();
        let logits = |n: &ser_deep::TrainedNet| n.logits(&x, &s).unwrap();
        assert_eq!(logits(&a), logits(&b), "{kind:?}");
        let without = fit(kind, &plain, &x, &y, &s, dims, 4, &mut |_| {}).unwrap();
        assert_ne!(logits(&a), logits(&without), "{kind:?}: mixup must matter");
    }
}
