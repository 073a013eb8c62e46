//! The train node's classic path: a `ser_train` model per fold on the
//! feature table (after the fold's selection), with an optional grid
//! searched by inner cross-validation on the training fold. Its
//! predictions table has each test row's class probabilities (`p_<class>`)
//! for every kind but the SVM, so an ensemble averages them as it does a
//! network's.
//!
//! `normalize: speaker` z-scores every utterance by its speaker's own
//! statistics before the fold's standardiser (augmented copies by their
//! source speaker's); `speaker_online` does it per fold, inductively (see
//! [`ser_train::OnlineSpeakerNormaliser`]); `corpus` does it by corpus.
//!
//! `test_copies` predicts each test and validation utterance with its
//! augmented copies (scaled as the training copies are), its probabilities
//! the mean of its own and theirs.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use serde_json::json;

use ser_learn::GridSearch;
use ser_train::{ClassicSpec, FeatureNormalize, OnlineSpeakerNormaliser, SpeakerNormaliser};

use super::fold_set::RowIds;
use super::{
    FoldPredictions, FoldSet, RowKeys, TrainStage, fold_columns, read_folds, selected_columns,
    train_artifacts,
};
use crate::artifact::features::{class_indices, feature_columns};
use crate::artifact::schema::{
    ClassicFold, FoldModel, GridScore, InnerCvChoice, InnerCvSearch, ModelsArtifact,
};
use crate::artifact::{parquet_read, parquet_write};
use crate::model::ModelSpec;
use crate::stage::{Context, Inputs, Outputs, Role, inner_cv, item_key};

/// The classic path of a train node.
pub fn run(
    ctx: &Context,
    inputs: &Inputs,
    model: &ClassicSpec,
    stage: &TrainStage,
) -> anyhow::Result<Outputs> {
    let table = parquet_read::from_parquet(
        ctx.cache
            .read_object(inputs.file(Role::Features, "features")?)?,
    )?;
    let folds = read_folds(ctx, inputs)?;
    let ids = table.utf8("id")?;
    let speakers = table.utf8("speaker")?;
    let labels = table.utf8("label")?;
    let (classes, y) = class_indices(&labels);
    let (names, mut x) = feature_columns(&table)?;
    let selected = selected_columns(ctx, inputs, &names)?;
    let mut augmented = match inputs.file(Role::Augmented, "features") {
        Ok(object) => Some(Augmented::load(ctx, object, &names, &classes)?),
        Err(_) => None,
    };
    let normalize = stage.normalize;
    // Refused by config validation; a guard for a graph built otherwise.
    anyhow::ensure!(
        !(normalize == FeatureNormalize::SpeakerOnline && augmented.is_some()),
        "normalize: speaker_online does not take augmented copies yet"
    );
    let corpora = crate::artifact::features::corpus_column(&table);
    if normalize == FeatureNormalize::Corpus {
        // Each corpus's own statistics; augmented copies by their source
        // utterance's corpus. One corpus: one group, as `global`.
        let corpus_of: Vec<String> = match corpora.is_empty() {
            true => vec![String::new(); ids.len()],
            false => corpora.clone(),
        };
        let normaliser = SpeakerNormaliser::fit(x.view(), &corpus_of);
        x = normaliser
            .transform(x.view(), &corpus_of)
            .map_err(anyhow::Error::msg)?;
        if let Some(aug) = &mut augmented {
            let by_id: std::collections::HashMap<&str, &str> = ids
                .iter()
                .zip(&corpus_of)
                .map(|(i, c)| (i.as_str(), c.as_str()))
                .collect();
            let aug_corpus: Vec<String> = aug
                .rows
                .sources
                .iter()
                .map(|s| {
                    by_id
                        .get(s.as_str())
                        .copied()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect();
            aug.x = normaliser
                .transform(aug.x.view(), &aug_corpus)
                .map_err(|e| anyhow::anyhow!("augmented features: {e}"))?;
        }
    }
    if normalize == FeatureNormalize::Speaker {
        // Statistics from each speaker's own utterances (features, not
        // labels); augmented copies are scaled by their source speaker's,
        // so a copy moves with the utterance it came from.
        let normaliser = SpeakerNormaliser::fit(x.view(), &speakers);
        x = normaliser
            .transform(x.view(), &speakers)
            .map_err(anyhow::Error::msg)?;
        if let Some(aug) = &mut augmented {
            aug.x = normaliser
                .transform(aug.x.view(), &aug.rows.speakers)
                .map_err(|e| anyhow::anyhow!("augmented features: {e}"))?;
        }
    }
    let corpus = RowKeys {
        ids: &ids,
        speakers: &speakers,
        sources: &[],
        corpora: &corpora,
    };
    // `test_copies`: each corpus row's copies, by row index.
    let copies_of: Option<Vec<Vec<usize>>> = match (stage.test_copies, &augmented) {
        (false, _) => None,
        (true, None) => anyhow::bail!("test_copies: the node was given no augmented copies"),
        (true, Some(aug)) => {
            let row_of: std::collections::HashMap<&str, usize> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.as_str(), i))
                .collect();
            let mut of = vec![Vec::new(); ids.len()];
            for (c, source) in aug.rows.sources.iter().enumerate() {
                if let Some(&i) = row_of.get(source.as_str()) {
                    of[i].push(c);
                }
            }
            Some(of)
        }
    };

    // Per fold: its model, (test row, predicted class) pairs, the test
    // rows' class probabilities (every kind but a plain SVM has them), and with
    // `validation:` its held-out fits (the rows' probabilities).
    type FoldResult = anyhow::Result<(
        FoldModel,
        Vec<(usize, usize)>,
        Option<Vec<Vec<f32>>>,
        HeldOutFits,
    )>;
    let per_fold: Vec<FoldResult> = folds
        .par_iter()
        .map(|fold| {
            let set = FoldSet::build(fold, corpus, augmented.as_ref().map(Augmented::keys))?;
            let columns = fold_columns(selected.as_ref(), fold)?;
            // speaker_online: per fold, with the fold's training rows as
            // the prior, so no test utterance informs another's scale.
            let online;
            let x = if normalize == FeatureNormalize::SpeakerOnline {
                let normaliser = OnlineSpeakerNormaliser::fit(x.select(Axis(0), &set.train).view());
                online = normaliser.transform(x.view(), &speakers, &ids);
                &online
            } else {
                &x
            };
            let x = match columns {
                Some(columns) => x.select(Axis(1), columns),
                None => x.clone(),
            };
            // The copies' features with the fold's columns, for
            // `test_copies`.
            let copies = match (&copies_of, &augmented) {
                (Some(of), Some(aug)) => Some(TestCopies {
                    of,
                    x: match columns {
                        Some(columns) => aug.x.select(Axis(1), columns),
                        None => aug.x.clone(),
                    },
                }),
                _ => None,
            };
            let mut x_train = x.select(Axis(0), &set.train);
            let mut y_train: Vec<usize> = set.train.iter().map(|&i| y[i]).collect();
            if let Some(aug) = &augmented {
                let mut extra = aug.x.select(Axis(0), &set.augmented);
                if let Some(columns) = columns {
                    extra = extra.select(Axis(1), columns);
                }
                x_train = ndarray::concatenate![Axis(0), x_train, extra];
                y_train.extend(set.augmented.iter().map(|&r| aug.y[r]));
            }
            let cell = match &stage.grid {
                None => None,
                Some(grid) => Some(GridCell {
                    ctx,
                    grid,
                    input: format!(
                        "{}\0{}\0{}",
                        inputs.file(Role::Features, "features")?,
                        inputs
                            .file(Role::Selection, "selected")
                            .map_or("", |s| s.as_str()),
                        serde_json::to_string(fold)?
                    ),
                }),
            };
            let (spec, search) = match &cell {
                None => (model.clone(), None),
                Some(cell) => {
                    let s_train: Vec<String> =
                        set.train.iter().map(|&i| speakers[i].clone()).collect();
                    // Grid search scores on the fold's own utterances (the
                    // first rows; augmented copies are appended after
                    // them): an inner validation speaker's copies would
                    // otherwise sit in the inner training rows.
                    let n = set.train.len();
                    let (x_own, y_own) = (x_train.slice(ndarray::s![..n, ..]), &y_train[..n]);
                    let (spec, search) = cell
                        .search(model, x_own, y_own, &s_train)
                        .map_err(|e| anyhow::anyhow!("fold {}: grid search: {e:#}", fold.name))?;
                    (spec, Some(search))
                }
            };
            // Each training row's speaker: the SVM's calibration holds
            // whole speakers out (copies with their source's speaker).
            let train_speakers: Vec<&str> = (set.train.iter().map(|&i| speakers[i].as_str()))
                .chain(set.augmented.iter().map(|&r| {
                    let aug = augmented.as_ref().expect("copies come with their table");
                    aug.rows.speakers[r].as_str()
                }))
                .collect();
            let groups = ser_train::group_ids(&train_speakers);
            let fitted = ser_train::fit_grouped(&spec, x_train.view(), &y_train, Some(&groups))
                .map_err(|e| anyhow::anyhow!("fold {}: {e}", fold.name))?;
            let held_out = match stage.held_out {
                None => HeldOutFits::default(),
                Some(held_out) => {
                    let fold_rows = FoldRows {
                        x: &x,
                        labels: &y,
                        speakers: &speakers,
                        x_train: &x_train,
                        y_train: &y_train,
                        train_speakers: &train_speakers,
                        set: &set,
                        n_classes: classes.len(),
                        copies: copies.as_ref(),
                    };
                    // With a grid, each held-out fit searches it again
                    // without its held-out speakers.
                    let how = match &cell {
                        None => HeldOutSpec::Fixed(&spec),
                        Some(cell) => HeldOutSpec::Searched { cell, base: model },
                    };
                    HeldOutFits::fit(how, held_out, &fold_rows)
                        .map_err(|e| anyhow::anyhow!("fold {}: validation: {e:#}", fold.name))?
                }
            };
            let (predicted, probabilities) = if set.test.is_empty() {
                (Vec::new(), None)
            } else {
                let x_test = x.select(Axis(0), &set.test);
                let probabilities = match &copies {
                    None => fitted.probabilities(x_test.view()),
                    Some(copies) => Some(copies.probabilities(&fitted, &x, &set.test)?),
                };
                let predicted = match (&copies, &probabilities) {
                    (Some(_), Some(p)) => p
                        .iter()
                        .map(|row| ser_train::ensemble::top(row, None))
                        .collect(),
                    _ => fitted.predict(x_test.view()),
                };
                let probabilities = probabilities.map(|rows| {
                    // A class the fold's training rows lack has no column:
                    // probability 0.
                    rows.into_iter()
                        .map(|row| {
                            let mut full = vec![0.0f32; classes.len()];
                            for (c, p) in row.into_iter().enumerate().take(classes.len()) {
                                full[c] = p as f32;
                            }
                            full
                        })
                        .collect()
                });
                (predicted, probabilities)
            };
            let entry = FoldModel::Classic(ClassicFold {
                fold: fold.name.clone(),
                n_features: x.ncols(),
                model: fitted,
                grid: search,
                n_train: set.train.len(),
                n_augmented: set.augmented.len(),
                validation_ua: held_out.ua,
            });
            let rows = set.test.into_iter().zip(predicted).collect();
            Ok((entry, rows, probabilities, held_out))
        })
        .collect();

    let mut models = Vec::new();
    let mut predictions = FoldPredictions::default();
    let mut validation = FoldPredictions::default();
    let mut held_out_items = Vec::new();
    for (fold, result) in folds.iter().zip(per_fold) {
        let (model, predicted, probabilities, held_out) = result?;
        models.push(model);
        predictions.push(fold, predicted, probabilities);
        if stage.held_out.is_none() {
            continue;
        }
        held_out_items.extend(held_out.items);
        let (rows, probabilities): (Vec<_>, Vec<_>) = held_out
            .rows
            .into_iter()
            .map(|(row, p)| {
                let p64: Vec<f64> = p.iter().map(|&v| f64::from(v)).collect();
                ((row, ser_train::ensemble::top(&p64, None)), p)
            })
            .unzip();
        validation.push(fold, rows, Some(probabilities));
    }
    let table = predictions.table(corpus, &labels, &classes);
    // The params artifact says how the models were made: the spec, and
    // the speaker normalisation their inputs went through (its statistics
    // come from each speaker's own utterances at prediction time, as for
    // the deep models, so only the mode is kept).
    let mut spec = json!(stage.model);
    if normalize != FeatureNormalize::Global {
        spec["normalize"] = json!(normalize);
    }
    if stage.test_copies {
        spec["test_copies"] = json!(true);
    }
    let mut summary = json!({ "folds": folds.len(), "classes": classes });
    let mut items = Vec::new();
    if stage.grid.is_some() {
        let (mut computed, mut reused) = (0, 0);
        let mut chosen = Vec::new();
        for m in &models {
            let FoldModel::Classic(ClassicFold {
                fold,
                grid: Some(search),
                ..
            }) = m
            else {
                continue;
            };
            computed += search.computed;
            reused += search.reused;
            chosen.push(InnerCvChoice {
                fold: fold.clone(),
                params: search.chosen.clone(),
            });
            items.extend(search.items.iter().cloned());
        }
        summary["grid"] =
            json!({ "chosen": chosen, "points_computed": computed, "points_reused": reused });
    }
    items.extend(held_out_items);
    let models = ModelsArtifact {
        classes: classes.clone(),
        folds: models,
    };
    let mut files = train_artifacts(ctx, &table, &models, &spec)?;
    if stage.held_out.is_some() {
        // What an ensemble choosing its members reads, as a network's.
        let validation = validation.table(corpus, &labels, &classes);
        files.insert(
            "validation".to_string(),
            ctx.cache
                .put_object(&parquet_write::to_parquet(&validation)?, "parquet")?,
        );
    }
    Ok(Outputs {
        files,
        summary,
        items,
        ..Default::default()
    })
}

/// A fold's validation predictions (`validation:`): per seed, the model
/// fitted without the training speakers that seed holds out, on their
/// recorded utterances.
#[derive(Default)]
struct HeldOutFits {
    /// (row, mean probabilities over the seeds that held the row out).
    rows: Vec<(usize, Vec<f32>)>,
    /// The mean over seeds of each fit's UA on its held-out rows.
    ua: Option<f64>,
    /// The per-item records of their grid searches.
    items: Vec<String>,
}

/// What a held-out fit fits: the fold's model as it is, or, for a model
/// with a grid, the point its own search chooses on the speakers it keeps
/// (so no held-out speaker's utterance scores a point).
enum HeldOutSpec<'a> {
    Fixed(&'a ClassicSpec),
    Searched {
        cell: &'a GridCell<'a>,
        base: &'a ClassicSpec,
    },
}

/// One fold's rows as its model reads them.
struct FoldRows<'a> {
    /// Every utterance's features (after normalisation and the fold's
    /// column selection), class and speaker.
    x: &'a Array2<f64>,
    labels: &'a [usize],
    speakers: &'a [String],
    /// The fold's training rows: its own utterances, then its augmented
    /// copies, as `set` lists them, with each one's speaker (a copy's: its
    /// source's).
    x_train: &'a Array2<f64>,
    y_train: &'a [usize],
    train_speakers: &'a [&'a str],
    set: &'a FoldSet,
    n_classes: usize,
    /// With `test_copies`: the copies each row is predicted with.
    copies: Option<&'a TestCopies<'a>>,
}

impl HeldOutFits {
    fn fit(
        how: HeldOutSpec<'_>,
        held_out: ser_learn::held_out::HeldOut,
        rows_of: &FoldRows<'_>,
    ) -> anyhow::Result<HeldOutFits> {
        let FoldRows {
            x,
            labels,
            speakers,
            x_train,
            y_train,
            train_speakers,
            set,
            n_classes,
            copies,
        } = *rows_of;
        // The fold's own utterances' speakers, which the seeds draw from.
        let own_speakers: Vec<String> = (train_speakers[..set.train.len()].iter())
            .map(|s| s.to_string())
            .collect();
        let mut sums: std::collections::BTreeMap<usize, (Vec<f64>, usize)> = Default::default();
        let mut uas = Vec::new();
        let mut items = Vec::new();
        for seed in held_out.seed_range() {
            let out =
                ser_learn::held_out::held_out_speakers(&own_speakers, held_out.speakers, seed);
            if out.is_empty() {
                continue;
            }
            // Training rows of speakers kept in, and copies of their
            // utterances; a held-out speaker's copies neither train nor
            // validate, as with the networks.
            let keep: Vec<usize> = (0..x_train.nrows())
                .filter(|&r| !out.contains(train_speakers[r]))
                .collect();
            let y: Vec<usize> = keep.iter().map(|&r| y_train[r]).collect();
            let kept_speakers: Vec<&str> = keep.iter().map(|&r| train_speakers[r]).collect();
            let searched;
            let spec = match &how {
                HeldOutSpec::Fixed(spec) => *spec,
                HeldOutSpec::Searched { cell, base } => {
                    // On the kept speakers' own utterances, as the fold's
                    // search (copies come after the fold's own rows).
                    let own: Vec<usize> = keep
                        .iter()
                        .copied()
                        .filter(|&r| r < set.train.len())
                        .collect();
                    let own_y: Vec<usize> = own.iter().map(|&r| y_train[r]).collect();
                    let own_speakers: Vec<String> =
                        own.iter().map(|&r| train_speakers[r].to_string()).collect();
                    let held_cell = GridCell {
                        ctx: cell.ctx,
                        grid: cell.grid,
                        input: format!("{}\0held out: {out:?}", cell.input),
                    };
                    let (spec, search) = held_cell
                        .search(
                            base,
                            x_train.select(Axis(0), &own).view(),
                            &own_y,
                            &own_speakers,
                        )
                        .map_err(|e| anyhow::anyhow!("seed {seed}: grid search: {e:#}"))?;
                    items.extend(search.items);
                    searched = spec;
                    &searched
                }
            };
            let fitted = ser_train::fit_grouped(
                spec,
                x_train.select(Axis(0), &keep).view(),
                &y,
                Some(&ser_train::group_ids(&kept_speakers)),
            )?;
            let rows: Vec<usize> = set
                .train
                .iter()
                .copied()
                .filter(|&i| out.contains(&speakers[i]))
                .collect();
            let x_out = x.select(Axis(0), &rows);
            let (predicted, probabilities) = match copies {
                Some(copies) => {
                    let p = copies.probabilities(&fitted, x, &rows)?;
                    (
                        p.iter()
                            .map(|row| ser_train::ensemble::top(row, None))
                            .collect::<Vec<_>>(),
                        p,
                    )
                }
                None => {
                    let predicted = fitted.predict(x_out.view());
                    let probabilities = fitted.probabilities(x_out.view()).unwrap_or_else(|| {
                        // A plain SVM: its vote.
                        (predicted.iter())
                            .map(|&c| ser_train::ensemble::one_hot(c, n_classes))
                            .collect()
                    });
                    (predicted, probabilities)
                }
            };
            let truth: Vec<usize> = rows.iter().map(|&i| labels[i]).collect();
            uas.push(ser_evaluate::Metrics::compute(&truth, &predicted, n_classes).ua);
            for (&row, p) in rows.iter().zip(probabilities) {
                let entry = sums.entry(row).or_insert_with(|| (vec![0.0; n_classes], 0));
                for (s, v) in entry.0.iter_mut().zip(p) {
                    *s += v;
                }
                entry.1 += 1;
            }
        }
        Ok(HeldOutFits {
            rows: sums
                .into_iter()
                .map(|(row, (sum, n))| (row, sum.iter().map(|s| (s / n as f64) as f32).collect()))
                .collect(),
            ua: (!uas.is_empty()).then(|| uas.iter().sum::<f64>() / uas.len() as f64),
            items,
        })
    }
}

/// Grid search in one training fold.
struct GridCell<'a> {
    ctx: &'a Context,
    grid: &'a GridSearch,
    /// What the fold's scores depend on besides the point: the feature
    /// table, the selection and the fold.
    input: String,
}

impl GridCell<'_> {
    /// The best spec by inner-CV UA, and the search's record (each point's
    /// score, the chosen values, the per-item records used).
    fn search(
        &self,
        base: &ClassicSpec,
        x: ArrayView2<f64>,
        y: &[usize],
        speakers: &[String],
    ) -> anyhow::Result<(ClassicSpec, InnerCvSearch)> {
        // Expanded as the engine's model, so a point's key is what a
        // model without a grid would have.
        let points = ModelSpec::Classic(base.clone())
            .grid_points(self.grid)
            .map_err(|e| anyhow::anyhow!(e))?;
        let splits = inner_cv::speaker_splits(speakers, y, self.grid.folds)?;
        let scored: Vec<anyhow::Result<(GridScore, String, bool)>> = points
            .par_iter()
            .map(|point| {
                let ModelSpec::Classic(spec) = &point.spec else {
                    anyhow::bail!("a grid point of a classic model is not classic");
                };
                let key = item_key(
                    "train-grid",
                    spec.code_version(),
                    &json!({ "spec": point.spec, "folds": self.grid.folds }),
                    &self.input,
                );
                let path = self.ctx.cache.item_record_path("train-grid", &key);
                if let Some(score) = self.ctx.cache.read_json::<GridScore>(&path) {
                    return Ok((score, key, false));
                }
                let score = GridScore {
                    params: point.params.clone(),
                    ua: inner_cv::mean_ua(spec, x, y, &splits),
                };
                self.ctx.cache.write_json(&path, &score)?;
                Ok((score, key, true))
            })
            .collect();
        let scored: Vec<(GridScore, String, bool)> =
            scored.into_iter().collect::<anyhow::Result<_>>()?;
        // The first point of the best score wins, so ties go to the order
        // the grid lists its values in.
        let best = (0..scored.len())
            .rev()
            .max_by(|&a, &b| scored[a].0.ua.total_cmp(&scored[b].0.ua))
            .expect("a grid has at least one point");
        let computed = scored.iter().filter(|s| s.2).count();
        let record = InnerCvSearch {
            chosen: scored[best].0.params.clone(),
            inner_folds: self.grid.folds,
            scores: scored.iter().map(|s| s.0.clone()).collect(),
            computed,
            reused: scored.len() - computed,
            items: scored
                .iter()
                .map(|s| format!("train-grid/{}", s.1))
                .collect(),
        };
        let ModelSpec::Classic(chosen) = &points[best].spec else {
            unreachable!("checked above");
        };
        Ok((chosen.clone(), record))
    }
}

/// `test_copies` in one fold: each corpus row's augmented copies, and the
/// copies' features with the fold's columns (scaled as the training
/// copies are: by their source speaker's statistics).
struct TestCopies<'a> {
    of: &'a [Vec<usize>],
    x: Array2<f64>,
}

impl TestCopies<'_> {
    /// Class probabilities of corpus rows `rows` (features `x`), each the
    /// mean of its own and its copies'.
    fn probabilities(
        &self,
        fitted: &ser_train::TrainedModel,
        x: &Array2<f64>,
        rows: &[usize],
    ) -> anyhow::Result<Vec<Vec<f64>>> {
        let no_probabilities =
            || anyhow::anyhow!("test_copies averages probabilities, and this model has none");
        let own = fitted
            .probabilities(x.select(Axis(0), rows).view())
            .ok_or_else(no_probabilities)?;
        let copy_rows: Vec<usize> = rows.iter().flat_map(|&i| self.of[i].clone()).collect();
        let theirs = fitted
            .probabilities(self.x.select(Axis(0), &copy_rows).view())
            .ok_or_else(no_probabilities)?;
        let mut next = 0;
        Ok(rows
            .iter()
            .zip(own)
            .map(|(&i, mut p)| {
                for copy in &theirs[next..next + self.of[i].len()] {
                    p.iter_mut().zip(copy).for_each(|(s, &v)| *s += v);
                }
                next += self.of[i].len();
                let n = (1 + self.of[i].len()) as f64;
                p.iter_mut().for_each(|v| *v /= n);
                p
            })
            .collect())
    }
}

/// Augmented copies' features: the rows a fold may add to its training
/// set, when their source is one of its training utterances.
struct Augmented {
    rows: RowIds,
    y: Vec<usize>,
    x: Array2<f64>,
}

impl Augmented {
    fn load(
        ctx: &Context,
        object: &str,
        names: &[String],
        classes: &[String],
    ) -> anyhow::Result<Augmented> {
        let table = parquet_read::from_parquet(ctx.cache.read_object(object)?)?;
        let (aug_names, x) = feature_columns(&table)?;
        anyhow::ensure!(
            aug_names == names,
            "augmented features have other columns than the corpus's"
        );
        let y = table
            .utf8("label")?
            .iter()
            .map(|l| {
                classes.binary_search(l).map_err(|_| {
                    anyhow::anyhow!("augmented copy has label {l}, which no utterance has")
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Augmented {
            rows: RowIds::of_copies(&table)?,
            y,
            x,
        })
    }

    fn keys(&self) -> RowKeys<'_> {
        self.rows.keys()
    }
}
