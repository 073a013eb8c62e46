//! The ensemble node: its members' predictions combined
//! ([`ser_train::ensemble`]), written as a train node's predictions table
//! so that evaluate, `ser compare` and `ser report` read it as one.
//!
//! Inputs: each member's train node (`member0`, `member1`, ...), its
//! `predictions` only. A member's class scores are its `p_<class>` columns
//! (the networks' softmax probabilities, the classic models'
//! probabilities); a member without them (an SVM without `probability: true`) takes part with a
//! one-hot row of its predicted class, i.e. as one vote. The members must
//! have predicted the same utterances with the same folds and labels: they
//! are cells of one protocol on one corpus.
//!
//! With `keep_best: N`, each fold combines only the N members whose
//! networks scored the highest validation UA in that fold (on speakers held
//! out of its training set, read from each member's `models`; a member of
//! several networks per fold ranks by their mean), so choosing
//! members never looks at test speakers; the summary lists the choice.
//! With `choose: forward` each fold instead combines the members whose
//! mean scores best on validation utterances
//! ([`ser_train::ensemble::forward_selection`]): the original utterances
//! that every member's networks held out of that fold's training set, read
//! from each member's `validation` table. That scores what a member adds
//! to the others, which ranking them one by one does not. With `bags: N`
//! the choice is made on N bootstrap resamples of those speakers and the
//! members are weighted by their share of the bags' means
//! ([`ser_train::ensemble::bagged_forward_selection`]), so a fold's
//! ensemble does not hang on which few speakers were held out.
//!
//! `combine: geometric` pools probabilities, so every member must have
//! them; `choose` then pools its trial sets geometrically too.
//!
//! Output: `predictions` (id, speaker, fold, label, predicted and the
//! combined `p_<class>` scores, in the first member's row order) and
//! `params` (the ensemble's settings). Nothing is fitted, so the node
//! costs a few table reads; it reruns when a member's predictions change.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use ser_train::ensemble::{self, Combine, MIN_PROBABILITY, MemberChoice};

use super::{Context, Inputs, Outputs, Role, Stage};
use crate::artifact::features::{PROBABILITY_PREFIX, with_probabilities};
use crate::artifact::schema::{KeptMembers, ModelsArtifact};
use crate::artifact::{Table, parquet_read, parquet_write};

// 2: combined scores kept in f64 (were rounded through f32).
const CODE_VERSION: u32 = 2;

pub struct EnsembleStage {
    /// Experiment names, in the order of the `member<i>` roles.
    pub members: Vec<String>,
    pub combine: Combine,
    pub weights: Option<Vec<f64>>,
    /// Per fold, only the members with the highest validation UA.
    pub keep_best: Option<usize>,
    /// Per fold, the members whose mean scores best on validation
    /// utterances.
    pub choose: Option<MemberChoice>,
    /// With `choose`: that choice on this many resamples of the validation
    /// speakers, members weighted by their share of the bags' means.
    pub bags: Option<usize>,
}

/// The seed of the validation speakers' resamples: fixed, so a bagged
/// ensemble's key names one result.
const BAG_SEED: u64 = 0;

/// What a fold combines: members (indices, in member order) and, when
/// bagged, their weights.
struct FoldMembers {
    members: Vec<usize>,
    weights: Option<Vec<f64>>,
}

/// One member's predictions, keyed for alignment.
struct MemberTable {
    ids: Vec<String>,
    speakers: Vec<String>,
    /// Each row's corpus; empty in a one-corpus pipeline.
    corpora: Vec<String>,
    folds: Vec<String>,
    labels: Vec<String>,
    predicted: Vec<String>,
    /// (class, its score per row), when the member kept probabilities.
    probabilities: Option<Vec<(String, Vec<f64>)>>,
}

impl MemberTable {
    fn read(table: &Table) -> anyhow::Result<MemberTable> {
        let probability_columns: Vec<String> = table
            .columns
            .iter()
            .filter_map(|(name, _)| name.strip_prefix(PROBABILITY_PREFIX).map(String::from))
            .collect();
        let probabilities = if probability_columns.is_empty() {
            None
        } else {
            Some(
                probability_columns
                    .into_iter()
                    .map(|class| {
                        let values = table.f64(&format!("{PROBABILITY_PREFIX}{class}"))?;
                        Ok((class, values))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?,
            )
        };
        Ok(MemberTable {
            ids: table.utf8("id")?,
            speakers: table.utf8("speaker")?,
            corpora: table.utf8("corpus").unwrap_or_default(),
            folds: table.utf8("fold")?,
            labels: table.utf8("label")?,
            predicted: table.utf8("predicted")?,
            probabilities,
        })
    }

    /// Each utterance's row, among the rows of `fold` when given (a
    /// validation table holds an utterance once per fold that held it out).
    fn rows_by_id(&self, fold: Option<&str>) -> HashMap<&str, usize> {
        (0..self.ids.len())
            .filter(|&r| fold.is_none_or(|f| self.folds[r] == f))
            .map(|r| (self.ids[r].as_str(), r))
            .collect()
    }

    /// This table's rows for `first`'s rows `at` (by id, through
    /// `row_of`), checked to be the same utterances in the same fold with
    /// the same label; the names are for the errors.
    fn aligned_to(
        &self,
        row_of: &HashMap<&str, usize>,
        first: &MemberTable,
        at: &[usize],
        (member, first_member): (&str, &str),
    ) -> anyhow::Result<Vec<usize>> {
        at.iter()
            .map(|&r| {
                let id = &first.ids[r];
                let Some(&m) = row_of.get(id.as_str()) else {
                    anyhow::bail!(
                        "member {member} has no prediction for {id}, which {first_member} has"
                    );
                };
                anyhow::ensure!(
                    self.folds[m] == first.folds[r] && self.labels[m] == first.labels[r],
                    "utterance {id} is in fold {} with label {} for {member} but fold {} with \
                     label {} for {first_member}",
                    self.folds[m],
                    self.labels[m],
                    first.folds[r],
                    first.labels[r],
                );
                Ok(m)
            })
            .collect()
    }

    /// Class scores per row of `order` (row indices into this table), over
    /// `classes`.
    fn scores(&self, order: &[usize], classes: &[String]) -> anyhow::Result<Vec<Vec<f64>>> {
        let class_index = |c: &str| {
            classes
                .binary_search_by(|k| k.as_str().cmp(c))
                .map_err(|_| anyhow::anyhow!("class {c} is not among the labels"))
        };
        match &self.probabilities {
            Some(columns) => {
                let mut by_class: Vec<Option<&Vec<f64>>> = vec![None; classes.len()];
                for (class, values) in columns {
                    by_class[class_index(class)?] = Some(values);
                }
                Ok(order
                    .iter()
                    .map(|&r| by_class.iter().map(|v| v.map_or(0.0, |v| v[r])).collect())
                    .collect())
            }
            None => order
                .iter()
                .map(|&r| {
                    Ok(ensemble::one_hot(
                        class_index(&self.predicted[r])?,
                        classes.len(),
                    ))
                })
                .collect(),
        }
    }
}

impl EnsembleStage {
    /// Per fold, the members to combine (indices, in member order): the
    /// `keep` whose networks scored the highest validation UA in that fold,
    /// with the choice for the summary.
    fn best_by_fold(
        &self,
        ctx: &Context,
        inputs: &Inputs,
        keep: usize,
        folds: &[&str],
    ) -> anyhow::Result<(BTreeMap<String, Vec<usize>>, Value)> {
        // validation[m][fold name]
        let mut validation: Vec<BTreeMap<String, f64>> = Vec::new();
        for (i, member) in self.members.iter().enumerate() {
            let models: ModelsArtifact = serde_json::from_slice(
                &ctx.cache
                    .read_object(inputs.file(Role::Member(i), "models")?)?,
            )
            .map_err(|e| anyhow::anyhow!("member {member}: models: {e}"))?;
            let mut by_fold = BTreeMap::new();
            for fold in &models.folds {
                let name = fold.fold().to_string();
                // A model of several networks per fold ranks by their mean.
                let Some(ua) = fold.validation_ua() else {
                    anyhow::bail!(
                        "member {member}, fold {name}: no validation UA to rank by (keep_best \
                         needs networks trained with validation speakers, or a classic model's \
                         `validation:`)"
                    );
                };
                by_fold.insert(name, ua);
            }
            validation.push(by_fold);
        }
        let (mut chosen, mut kept) = (BTreeMap::new(), Vec::new());
        for &fold in folds {
            let ua: Vec<f64> = self
                .members
                .iter()
                .zip(&validation)
                .map(|(member, by_fold)| {
                    by_fold.get(fold).copied().ok_or_else(|| {
                        anyhow::anyhow!("member {member} has no network for fold {fold}")
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            let best = ensemble::best_members(&ua, keep);
            kept.push(KeptMembers {
                fold: fold.to_string(),
                members: best.iter().map(|&m| self.members[m].clone()).collect(),
                validation_ua: best.iter().map(|&m| ua[m]).collect(),
                ensemble_validation_ua: None,
                validation_utterances: None,
                validation_speakers: None,
                weights: None,
            });
            chosen.insert(fold.to_string(), best);
        }
        Ok((chosen, json!(kept)))
    }

    /// Per fold, the members forward selection chooses by their mean's
    /// validation UA, with the choice for the summary.
    fn forward_by_fold(
        &self,
        ctx: &Context,
        inputs: &Inputs,
        classes: &[String],
        folds: &[&str],
    ) -> anyhow::Result<(BTreeMap<String, FoldMembers>, Value)> {
        let mut tables = Vec::with_capacity(self.members.len());
        for (i, member) in self.members.iter().enumerate() {
            let object = inputs.file(Role::Member(i), "validation").map_err(|_| {
                anyhow::anyhow!(
                    "member {member}: no validation predictions (choose needs networks trained \
                     with validation speakers, or a classic model's `validation:`)"
                )
            })?;
            let table =
                MemberTable::read(&parquet_read::from_parquet(ctx.cache.read_object(object)?)?)
                    .map_err(|e| anyhow::anyhow!("member {member}: validation: {e:#}"))?;
            anyhow::ensure!(
                table.probabilities.is_some() || table.ids.is_empty(),
                "member {member}: its validation table has no class probabilities"
            );
            tables.push(table);
        }
        let pool = self.combine.for_selection();
        let (mut chosen, mut kept) = (BTreeMap::new(), Vec::new());
        for &fold in folds {
            let rows: Vec<HashMap<&str, usize>> =
                tables.iter().map(|t| t.rows_by_id(Some(fold))).collect();
            // The utterances every member held out, in the first's order.
            let first = &tables[0];
            let common: Vec<usize> = (0..first.ids.len())
                .filter(|&r| first.folds[r] == fold)
                .filter(|&r| rows.iter().all(|m| m.contains_key(first.ids[r].as_str())))
                .collect();
            anyhow::ensure!(
                !common.is_empty(),
                "fold {fold}: no validation utterance is held out by every member (each \
                 network's validation speakers follow its seed: give members a common seed)"
            );
            let mut member_scores = Vec::with_capacity(tables.len());
            for ((member, table), row_of) in self.members.iter().zip(&tables).zip(&rows) {
                let order = table
                    .aligned_to(row_of, first, &common, (member, &self.members[0]))
                    .map_err(|e| anyhow::anyhow!("validation: {e:#}"))?;
                member_scores.push(table.scores(&order, classes)?);
            }
            let truth: Vec<usize> = common
                .iter()
                .map(|&r| {
                    classes.binary_search(&first.labels[r]).map_err(|_| {
                        anyhow::anyhow!("class {} is not among the labels", first.labels[r])
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            let score = |c: &ensemble::Combined| score_mean(&truth, c, classes.len());
            let own_ua = |m: usize| {
                let alone = ensemble::combine(&member_scores[m..=m], None, Combine::Mean)
                    .expect("one member's scores combine");
                score(&alone).0
            };
            let speakers: std::collections::BTreeSet<&str> =
                common.iter().map(|&r| first.speakers[r].as_str()).collect();
            let (members, weights, ensemble_validation_ua) = match self.bags {
                None => {
                    let selection = ensemble::forward_selection(&member_scores, pool, score)
                        .map_err(|e| anyhow::anyhow!("fold {fold}: {e}"))?;
                    let ua = selection.steps.last().map(|(_, (ua, _))| *ua);
                    (selection.members, None, ua)
                }
                Some(bags) => {
                    let speaker_index: Vec<usize> = common
                        .iter()
                        .map(|&r| speakers.iter().position(|s| *s == first.speakers[r]))
                        .map(|i| i.expect("every row's speaker is listed"))
                        .collect();
                    let bags =
                        ser_evaluate::metrics::speaker_resamples(&speaker_index, bags, BAG_SEED);
                    let bagged = ensemble::bagged_forward_selection(
                        &member_scores,
                        pool,
                        &bags,
                        |rows, c| {
                            let truth: Vec<usize> = rows.iter().map(|&r| truth[r]).collect();
                            score_mean(&truth, c, classes.len())
                        },
                    )
                    .map_err(|e| anyhow::anyhow!("fold {fold}: {e}"))?;
                    let members: Vec<usize> = (0..self.members.len())
                        .filter(|&m| bagged[m] > 0.0)
                        .collect();
                    let weights: Vec<f64> = members.iter().map(|&m| bagged[m]).collect();
                    // The weighted mean's UA on every validation row.
                    let kept_scores: Vec<Vec<Vec<f64>>> =
                        members.iter().map(|&m| member_scores[m].clone()).collect();
                    let mean = ensemble::combine(&kept_scores, Some(&weights), pool)
                        .map_err(|e| anyhow::anyhow!("fold {fold}: {e}"))?;
                    (members, Some(weights), Some(score(&mean).0))
                }
            };
            kept.push(KeptMembers {
                fold: fold.to_string(),
                members: members.iter().map(|&m| self.members[m].clone()).collect(),
                validation_ua: members.iter().map(|&m| own_ua(m)).collect(),
                ensemble_validation_ua,
                validation_utterances: Some(common.len()),
                validation_speakers: Some(speakers.len()),
                weights: weights.clone(),
            });
            chosen.insert(fold.to_string(), FoldMembers { members, weights });
        }
        Ok((chosen, json!(kept)))
    }
}

/// How `choose` rates a mean on validation rows (`truth`, one class per
/// row of `mean`): UA, then the lower cross-entropy.
fn score_mean(truth: &[usize], mean: &ensemble::Combined, classes: usize) -> (f64, f64) {
    let ua = ser_evaluate::Metrics::compute(truth, &mean.predicted, classes).ua;
    let cross_entropy = truth
        .iter()
        .zip(&mean.scores)
        .map(|(&t, row)| -row[t].max(MIN_PROBABILITY).ln())
        .sum::<f64>()
        / truth.len() as f64;
    (ua, -cross_entropy)
}

impl Stage for EnsembleStage {
    fn stage(&self) -> &'static str {
        "ensemble"
    }

    fn code_version(&self) -> u32 {
        CODE_VERSION
    }

    fn params(&self) -> Value {
        let mut params =
            json!({ "members": self.members, "combine": self.combine, "weights": self.weights });
        // Only when set, so ensembles without it keep their keys.
        if let Some(keep) = self.keep_best {
            params["keep_best"] = json!(keep);
        }
        if let Some(choose) = self.choose {
            params["choose"] = json!(choose);
        }
        if let Some(bags) = self.bags {
            params["bags"] = json!(bags);
        }
        params
    }

    fn reads(&self, role: Role) -> &'static [&'static str] {
        match (matches!(role, Role::Member(_)), self.keep_best, self.choose) {
            // The validation UA to rank by is in each fold's network record.
            (true, Some(_), _) => &["predictions", "models"],
            (true, None, Some(MemberChoice::Forward)) => &["predictions", "validation"],
            (true, None, None) => &["predictions"],
            (false, ..) => &[],
        }
    }

    fn run(&self, ctx: &Context, inputs: &Inputs) -> anyhow::Result<Outputs> {
        let mut tables = Vec::with_capacity(self.members.len());
        for (i, member) in self.members.iter().enumerate() {
            let object = inputs.file(Role::Member(i), "predictions")?;
            let table = parquet_read::from_parquet(ctx.cache.read_object(object)?)?;
            tables.push(
                MemberTable::read(&table).map_err(|e| anyhow::anyhow!("member {member}: {e:#}"))?,
            );
        }
        let without_probabilities = (self.members.iter().zip(&tables))
            .find(|(_, t)| t.probabilities.is_none() && !t.ids.is_empty());
        if let (Combine::Geometric, Some((member, _))) = (self.combine, without_probabilities) {
            anyhow::bail!(
                "member {member} has no class probabilities, and combine: geometric pools \
                 probabilities (give it `probability: true`, or use combine: vote)"
            );
        }
        let first = &tables[0];
        let mut classes: Vec<String> = tables
            .iter()
            .flat_map(|t| t.labels.iter().chain(&t.predicted))
            .cloned()
            .collect();
        classes.sort();
        classes.dedup();
        // Every member's rows in the first member's order.
        let mut member_scores = Vec::with_capacity(tables.len());
        for (member, table) in self.members.iter().zip(&tables) {
            let row_of = table.rows_by_id(None);
            anyhow::ensure!(
                row_of.len() == table.ids.len() && table.ids.len() == first.ids.len(),
                "member {member} predicted {} utterances ({} distinct), {} predicted {}; \
                 members must be experiments of one protocol on one corpus",
                table.ids.len(),
                row_of.len(),
                self.members[0],
                first.ids.len()
            );
            let all: Vec<usize> = (0..first.ids.len()).collect();
            let order = table.aligned_to(&row_of, first, &all, (member, &self.members[0]))?;
            member_scores.push(table.scores(&order, &classes)?);
        }
        // Each fold is combined over its members: all of them, or with
        // keep_best those its validation speakers favoured.
        let mut fold_names: Vec<&str> = first.folds.iter().map(String::as_str).collect();
        fold_names.sort_unstable();
        fold_names.dedup();
        let unweighted = |chosen: BTreeMap<String, Vec<usize>>| {
            let weights = |members: &[usize]| {
                (self.weights.as_ref()).map(|w| members.iter().map(|&m| w[m]).collect())
            };
            chosen
                .into_iter()
                .map(|(fold, members)| {
                    let weights = weights(&members);
                    (fold, FoldMembers { members, weights })
                })
                .collect::<BTreeMap<_, _>>()
        };
        let (chosen, kept) = match (self.keep_best, self.choose) {
            (None, Some(MemberChoice::Forward)) => {
                self.forward_by_fold(ctx, inputs, &classes, &fold_names)?
            }
            (None, None) => {
                let all: Vec<usize> = (0..self.members.len()).collect();
                let chosen = fold_names
                    .iter()
                    .map(|f| (f.to_string(), all.clone()))
                    .collect();
                (unweighted(chosen), Value::Null)
            }
            (Some(keep), _) => {
                let (chosen, kept) = self.best_by_fold(ctx, inputs, keep, &fold_names)?;
                (unweighted(chosen), kept)
            }
        };
        let rows = first.ids.len();
        let mut predicted = vec![0; rows];
        let mut scores: Vec<Vec<f64>> = vec![Vec::new(); rows];
        for (fold, FoldMembers { members, weights }) in &chosen {
            let fold_rows: Vec<usize> = (0..rows).filter(|&r| &first.folds[r] == fold).collect();
            let fold_scores: Vec<Vec<Vec<f64>>> = members
                .iter()
                .map(|&m| {
                    fold_rows
                        .iter()
                        .map(|&r| member_scores[m][r].clone())
                        .collect()
                })
                .collect();
            let part = ensemble::combine(&fold_scores, weights.as_deref(), self.combine)
                .map_err(|e| anyhow::anyhow!("fold {fold}: {e}"))?;
            for ((&r, p), row) in fold_rows.iter().zip(part.predicted).zip(part.scores) {
                predicted[r] = p;
                scores[r] = row;
            }
        }
        let mut predictions = Table::new()
            .strings("id", &first.ids)
            .strings("speaker", &first.speakers);
        if !first.corpora.is_empty() {
            predictions = predictions.strings("corpus", &first.corpora);
        }
        let predictions = predictions
            .strings("fold", &first.folds)
            .strings("label", &first.labels)
            .strings("predicted", predicted.iter().map(|&c| classes[c].as_str()));
        let predictions = with_probabilities(predictions, &classes, &scores);
        // How often the ensemble's choice differs from each member's: an
        // ensemble that agrees with one member everywhere adds nothing.
        let members: Vec<Value> = self
            .members
            .iter()
            .zip(&tables)
            .zip(&member_scores)
            .map(|((name, table), scores)| {
                let changed = scores
                    .iter()
                    .zip(&predicted)
                    .filter(|&(row, &c)| ensemble::top(row, None) != c)
                    .count();
                json!({
                    "experiment": name,
                    "probabilities": table.probabilities.is_some(),
                    "changed": changed,
                })
            })
            .collect();
        let cache = &ctx.cache;
        let files = BTreeMap::from([
            (
                "predictions".to_string(),
                cache.put_object(&parquet_write::to_parquet(&predictions)?, "parquet")?,
            ),
            (
                "params".to_string(),
                cache.put_object(&serde_json::to_vec_pretty(&self.params())?, "json")?,
            ),
        ]);
        Ok(Outputs {
            files,
            summary: json!({ "classes": classes, "members": members, "kept": kept }),
            ..Default::default()
        })
    }
}
