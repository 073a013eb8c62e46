//! The experiment graph: pipeline.yaml expanded into nodes.
//!
//! ```text
//! ingest ─┬─ extract:<set> ──┬── select:<set>/<sel>@<protocol> ──┬─ train:<set>/<sel>/<model>@<protocol> ── evaluate:…
//!         ├─ folds:<protocol> ┴───────────────────────────────────┤
//!         └─ augment:<aug> ── extract:<set>+<aug> ────────────────┘ (train:<set>+<aug>/…)
//! ```
//!
//! A feature union (`feature_unions:`) stands where an extract node would:
//! `join:<union>` (and `join:<union>+<aug>`) over its parts' extract nodes.
//!
//! Every cell of the matrix (feature set x selection x model x protocol)
//! gets its own train and evaluate node; cells share the ingest, extract
//! and folds nodes they have in common, also across matrices. A train node
//! reads the output its model eats: an extract node's `features`
//! (functionals), its `frames` (sequence models; the extract node then keeps
//! frames), or, for the `waveform` pseudo-set, the ingested signals.
//! An ensemble (`ensembles:` in pipeline.yaml) adds, per protocol, a node
//! `train:ensemble/<combine>/<name>@<protocol>` over its members' train
//! nodes, and its evaluate node. Nodes are stored in topological order:
//! each node's dependencies come before it.

use std::fmt::Write;

use crate::config::{ENSEMBLE, Pipeline, WAVEFORM};
use crate::stage::augment::AugmentStage;
use crate::stage::ensemble::EnsembleStage;
use crate::stage::evaluate::EvaluateStage;
use crate::stage::extract::ExtractStage;
use crate::stage::folds::FoldsStage;
use crate::stage::ingest::IngestStage;
use crate::stage::join::JoinStage;
use crate::stage::select::SelectStage;
use crate::stage::train::TrainStage;
use crate::stage::{Role, Stage};
use ser_learn::Input;

/// One cell of the experiment matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    pub features: String,
    /// `none`, or the augmentation set the training folds get.
    pub augment: String,
    pub selection: String,
    pub model: String,
    pub protocol: String,
    /// Test speakers normalised by their own audio (`normalize: speaker`,
    /// here or in an ensemble member); `ser metrics` and the report mark it.
    pub transductive: bool,
}

impl Experiment {
    /// `features/selection/model` (`features+augment/...` with an
    /// augmentation), the `experiment` key of `ser metrics`.
    pub fn name(&self) -> String {
        format!(
            "{}/{}/{}",
            self.features_with_augment(),
            self.selection,
            self.model
        )
    }

    pub fn features_with_augment(&self) -> String {
        if self.augment == "none" {
            self.features.clone()
        } else {
            format!("{}+{}", self.features, self.augment)
        }
    }
}

pub struct Node {
    pub name: String,
    /// (role, index of the dependency node).
    pub deps: Vec<(Role, usize)>,
    pub stage: Box<dyn Stage>,
    /// Set on evaluate nodes: the matrix cell they score.
    pub experiment: Option<Experiment>,
}

impl Node {
    /// The index of the dependency in `role`, if the node has one.
    pub fn dep(&self, role: Role) -> Option<usize> {
        self.deps.iter().find(|(r, _)| *r == role).map(|(_, d)| *d)
    }
}

pub struct Graph {
    pub nodes: Vec<Node>,
}

/// Say once per process which `optional` corpora are left out.
fn warn_absent_corpora(pipeline: &Pipeline) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    let absent = pipeline.absent_corpora();
    if !absent.is_empty() {
        WARNED.call_once(|| {
            for (name, path) in &absent {
                eprintln!(
                    "warning: corpus {name} is left out: {} does not exist (optional: true)",
                    path.display()
                );
            }
        });
    }
}

impl Graph {
    pub fn build(pipeline: &Pipeline) -> Graph {
        let c = &pipeline.config;
        warn_absent_corpora(pipeline);
        let mut graph = Graph { nodes: Vec::new() };
        let ingest = graph.add(
            "ingest".into(),
            vec![],
            || {
                Box::new(IngestStage::new(
                    pipeline.corpus_sources(),
                    c.labels.clone(),
                    c.sample_rate,
                ))
            },
            None,
        );
        // A feature set keeps frames when some sequence model reads it.
        let frames_needed: std::collections::BTreeSet<&str> = c
            .experiments
            .iter()
            .flat_map(|m| {
                let sequence_model = m
                    .models
                    .iter()
                    .any(|model| c.models[model].spec.input() == Input::Frames);
                m.features
                    .iter()
                    .filter(move |_| sequence_model)
                    .map(String::as_str)
            })
            .collect();
        // Every extract node rejects utterances shorter than the most any
        // set of the pipeline needs, so all feature tables hold the same
        // utterances.
        let common_minimum = c
            .experiments
            .iter()
            .flat_map(|m| m.features.iter())
            .flat_map(|set| c.feature_parts(set))
            .filter(|set| *set != WAVEFORM)
            .map(|set| {
                ExtractStage::for_set(c.builtin_set(set), &c.extract_for(set), c.sample_rate)
                    .own_min_samples()
            })
            .max()
            .unwrap_or(0);
        let extract_stage = |set: &str| -> Box<dyn Stage> {
            let mut params = c.extract_for(set);
            params.frames |= frames_needed.contains(set);
            Box::new(
                ExtractStage::for_set(c.builtin_set(set), &params, c.sample_rate)
                    .named(set)
                    .with_common_minimum(common_minimum),
            )
        };
        // The node whose `features` a set's cells read, from the signals
        // of `signals` (`suffix`: `+<augmentation>` for copies): its
        // extract node, or for a union a join node over its parts' ones.
        let features_node = |graph: &mut Graph, set: &str, signals: usize, suffix: &str| {
            let mut extract = |part: &str| {
                graph.add(
                    format!("extract:{part}{suffix}"),
                    vec![(Role::Signals, signals)],
                    || extract_stage(part),
                    None,
                )
            };
            let Some(parts) = c.feature_unions.get(set) else {
                return extract(set);
            };
            let deps = parts
                .iter()
                .enumerate()
                .map(|(i, part)| (Role::Part(i), extract(part)))
                .collect();
            graph.add(
                format!("join:{set}{suffix}"),
                deps,
                || {
                    // Columns are prefixed by the built-in set a part
                    // extracts, so a variant's union is the table (and the
                    // key) of the set's union with those extract values.
                    Box::new(JoinStage {
                        union: set.to_string(),
                        parts: parts
                            .iter()
                            .map(|part| c.builtin_set(part).to_string())
                            .collect(),
                    })
                },
                None,
            )
        };
        for m in c.experiments.iter() {
            let extract: Vec<Option<usize>> = m
                .features
                .iter()
                .map(|set| (set != WAVEFORM).then(|| features_node(&mut graph, set, ingest, "")))
                .collect();
            // Augmented copies, and their features per set.
            let augment: Vec<(String, Option<usize>)> = m
                .augment
                .iter()
                .map(|name| {
                    let node = c.augmentations.get(name).map(|spec| {
                        graph.add(
                            format!("augment:{name}"),
                            vec![(Role::Signals, ingest)],
                            || {
                                let noise_files = spec
                                    .copies
                                    .iter()
                                    .enumerate()
                                    .filter_map(|(i, copy)| match copy {
                                        ser_augment::Augmentation::Noise { files, .. }
                                            if !files.is_empty() =>
                                        {
                                            Some((
                                                i,
                                                files.iter().map(|f| pipeline.resolve(f)).collect(),
                                            ))
                                        }
                                        _ => None,
                                    })
                                    .collect();
                                Box::new(AugmentStage {
                                    name: name.clone(),
                                    spec: spec.clone(),
                                    sample_rate: c.sample_rate,
                                    noise_files,
                                })
                            },
                            None,
                        )
                    });
                    (name.clone(), node)
                })
                .collect();
            let augmented_extract: Vec<Vec<Option<usize>>> = m
                .features
                .iter()
                .map(|set| {
                    augment
                        .iter()
                        .map(|(name, node)| {
                            let node = (*node)?;
                            if set == WAVEFORM {
                                return Some(node);
                            }
                            Some(features_node(&mut graph, set, node, &format!("+{name}")))
                        })
                        .collect()
                })
                .collect();
            let folds: Vec<usize> = m
                .protocols
                .iter()
                .map(|protocol| {
                    let spec = c.protocols[protocol].clone();
                    let file = match &spec {
                        ser_evaluate::ProtocolSpec::FoldsFile { path, .. } => {
                            Some(pipeline.resolve(path))
                        }
                        _ => None,
                    };
                    graph.add(
                        format!("folds:{protocol}"),
                        vec![(Role::Corpus, ingest)],
                        || Box::new(FoldsStage { spec, file }),
                        None,
                    )
                })
                .collect();
            for (si, set) in m.features.iter().enumerate() {
                for selection in &m.selection {
                    // One select node per (features, selection, protocol),
                    // shared by every model.
                    let select: Vec<Option<usize>> = m
                        .protocols
                        .iter()
                        .enumerate()
                        .map(|(pi, protocol)| {
                            let spec = c.selection.get(selection)?;
                            Some(graph.add(
                                format!("select:{set}/{selection}@{protocol}"),
                                vec![(Role::Features, extract[si]?), (Role::Folds, folds[pi])],
                                || Box::new(SelectStage { spec: spec.clone() }),
                                None,
                            ))
                        })
                        .collect();
                    for (ai, (aug, _)) in augment.iter().enumerate() {
                        for model in &m.models {
                            let entry = &c.models[model];
                            let input = entry.spec.input();
                            for (pi, protocol) in m.protocols.iter().enumerate() {
                                let exp = Experiment {
                                    features: set.clone(),
                                    augment: aug.clone(),
                                    selection: selection.clone(),
                                    model: model.clone(),
                                    protocol: protocol.clone(),
                                    transductive: entry.transductive(),
                                };
                                let cell = format!("{}@{protocol}", exp.name());
                                // The roles say which output of the upstream
                                // node the model reads (see TrainStage::reads).
                                let (role, augmented_role, source) = match input {
                                    Input::Functionals => {
                                        (Role::Features, Role::Augmented, extract[si])
                                    }
                                    Input::Frames => {
                                        (Role::Frames, Role::AugmentedFrames, extract[si])
                                    }
                                    Input::Waveform => {
                                        (Role::Signals, Role::AugmentedSignals, Some(ingest))
                                    }
                                };
                                let source = source.expect("validated: set matches input");
                                let mut deps = vec![(role, source), (Role::Folds, folds[pi])];
                                if let Some(select) = select[pi] {
                                    deps.push((Role::Selection, select));
                                }
                                if let Some(augmented) = augmented_extract[si][ai] {
                                    deps.push((augmented_role, augmented));
                                }
                                // Only models with a gender target read the
                                // manifest, so others keep their keys.
                                if entry.reads_genders() {
                                    deps.push((Role::Corpus, ingest));
                                }
                                let train = graph.add(
                                    format!("train:{cell}"),
                                    deps,
                                    || {
                                        Box::new(TrainStage {
                                            model: entry.spec.clone(),
                                            grid: entry.grid.clone(),
                                            normalize: entry.normalize,
                                            held_out: entry.held_out,
                                            test_copies: entry.test_copies,
                                        })
                                    },
                                    None,
                                );
                                // A final model (protocol `all`) has no test
                                // utterances to score.
                                if !c.protocols[protocol].trains_on_everything() {
                                    graph.add_evaluate(&cell, train, exp);
                                }
                            }
                        }
                    }
                }
            }
        }
        // Ensembles sit where a train node would, reading their members'
        // train nodes, so evaluate, compare and report treat them as one.
        for (name, spec) in &c.ensembles {
            for protocol in &spec.protocols {
                let members: Vec<(Role, usize)> = spec
                    .members
                    .iter()
                    .enumerate()
                    .map(|(i, member)| {
                        let node = graph
                            .index(&format!("train:{member}@{protocol}"))
                            .expect("validated: members are cells of the matrices");
                        (Role::Member(i), node)
                    })
                    .collect();
                let exp = Experiment {
                    features: ENSEMBLE.into(),
                    augment: "none".into(),
                    selection: spec.combine.name().into(),
                    model: name.clone(),
                    protocol: protocol.clone(),
                    transductive: spec.members.iter().any(|member| {
                        c.member_model(member)
                            .is_some_and(|entry| entry.transductive())
                    }),
                };
                let cell = format!("{}@{protocol}", exp.name());
                let train = graph.add(
                    format!("train:{cell}"),
                    members.clone(),
                    || {
                        Box::new(EnsembleStage {
                            members: spec.members.clone(),
                            combine: spec.combine,
                            weights: spec.weights.clone(),
                            keep_best: spec.keep_best,
                            choose: spec.choose,
                            bags: spec.bags,
                        })
                    },
                    None,
                );
                graph.add_evaluate(&cell, train, exp);
            }
        }
        graph
    }

    /// The evaluate node of a matrix cell (or ensemble), scoring `train`.
    fn add_evaluate(&mut self, cell: &str, train: usize, exp: Experiment) -> usize {
        self.add(
            format!("evaluate:{cell}"),
            vec![(Role::Predictions, train)],
            || Box::new(EvaluateStage),
            Some(exp),
        )
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// The node named `name`, added (with the stage `make` builds) unless
    /// an earlier matrix already added it: matrices share their common
    /// cells.
    fn add(
        &mut self,
        name: String,
        deps: Vec<(Role, usize)>,
        make: impl FnOnce() -> Box<dyn Stage>,
        experiment: Option<Experiment>,
    ) -> usize {
        if let Some(i) = self.index(&name) {
            return i;
        }
        self.nodes.push(Node {
            name,
            deps,
            stage: make(),
            experiment,
        });
        self.nodes.len() - 1
    }

    /// Indices of the nodes that depend on each node.
    pub fn dependents(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            for (_, d) in &node.deps {
                out[*d].push(i);
            }
        }
        out
    }

    /// The graph as text: one line per node with its inputs.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            let deps: Vec<String> = node
                .deps
                .iter()
                .map(|(role, d)| format!("{role}={}", self.nodes[*d].name))
                .collect();
            let _ = writeln!(
                out,
                "{}{}",
                node.name,
                if deps.is_empty() {
                    String::new()
                } else {
                    format!("  <- {}", deps.join(", "))
                }
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(text: &str) -> Graph {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pipeline.yaml");
        std::fs::write(&file, text).unwrap();
        std::fs::write(dir.path().join("folds.json"), "{}").unwrap();
        Graph::build(&Pipeline::load(&file, &[]).unwrap())
    }

    /// A logistic regression on `features`, with and without one noisy
    /// copy; `head`: more top-level keys.
    fn with_copies(head: &str, features: &str) -> String {
        format!(
            "corpus: {{kind: ravdess, path: corpus}}
{head}protocols:
  six: {{kind: folds_file, path: folds.json, key: six}}
augmentations:
  loud: {{copies: [{{kind: noise, snr_db: 20}}]}}
models:
  lr: {{kind: logistic_regression}}
experiments:
  features: [{features}]
  augment: [none, loud]
  models: [lr]
  protocols: [six]
"
        )
    }

    /// `extract_per_set` changes the key of its set's extract nodes (copies'
    /// too) and leaves every other set's, so only that set's cells rerun.
    #[test]
    fn a_sets_own_extract_values_move_its_nodes_only() {
        let params = |g: &Graph, name: &str| {
            let n = g.nodes.iter().find(|n| n.name == name).unwrap();
            n.stage.params()
        };
        let sets = "acoustic, logmel";
        let shared = graph(&with_copies("extract: {deltas: 1}\n", sets));
        let own = graph(&with_copies(
            "extract_per_set: {acoustic: {deltas: 1}}\n",
            sets,
        ));
        let none = graph(&with_copies("", sets));
        for suffix in ["", "+loud"] {
            let acoustic = format!("extract:acoustic{suffix}");
            let logmel = format!("extract:logmel{suffix}");
            assert_eq!(params(&own, &acoustic), params(&shared, &acoustic));
            assert_ne!(params(&own, &acoustic), params(&none, &acoustic));
            assert_eq!(params(&own, &logmel), params(&none, &logmel));
            assert_ne!(params(&own, &logmel), params(&shared, &logmel));
        }
    }

    /// A variant's extract nodes have the key its set would have with the
    /// variant's values (`extract_per_set`'s), beside the set's own nodes,
    /// which stay as they are; a union may take the variant as a part.
    #[test]
    fn a_variant_extracts_beside_its_set() {
        let params = |g: &Graph, name: &str| {
            let n = g
                .nodes
                .iter()
                .find(|n| n.name == name)
                .unwrap_or_else(|| panic!("no node {name}"));
            n.stage.params()
        };
        let with_variant = graph(&with_copies(
            "feature_variants: {acoustic_d: {of: acoustic, deltas: 1}}\n\
             feature_unions: {both: [acoustic_d, spectral]}\n",
            "acoustic, acoustic_d, both",
        ));
        let per_set = graph(&with_copies(
            "extract_per_set: {acoustic: {deltas: 1}}\n",
            "acoustic",
        ));
        let none = graph(&with_copies("", "acoustic"));
        let per_set_union = graph(&with_copies(
            "extract_per_set: {acoustic: {deltas: 1}}\n\
             feature_unions: {both: [acoustic, spectral]}\n",
            "both",
        ));
        for suffix in ["", "+loud"] {
            let variant = params(&with_variant, &format!("extract:acoustic_d{suffix}"));
            let acoustic = format!("extract:acoustic{suffix}");
            assert_eq!(variant, params(&per_set, &acoustic));
            assert_ne!(variant, params(&none, &acoustic));
            assert_eq!(params(&with_variant, &acoustic), params(&none, &acoustic));
            let join = with_variant
                .nodes
                .iter()
                .find(|n| n.name == format!("join:both{suffix}"))
                .unwrap();
            assert_eq!(
                with_variant.nodes[join.deps[0].1].name,
                format!("extract:acoustic_d{suffix}")
            );
            // The union's columns name the set, as the same union of the
            // set with `extract_per_set` does: one table, one key.
            assert_eq!(
                params(&with_variant, &format!("join:both{suffix}")),
                params(&per_set_union, &format!("join:both{suffix}"))
            );
        }
    }

    /// A union's cells read a join node over its parts' extract nodes, the
    /// same nodes the parts' own cells read (nothing is extracted twice),
    /// and an augmentation's copies get a join of their own.
    #[test]
    fn a_union_joins_the_extract_nodes_its_parts_share() {
        let g = graph(&with_copies(
            "feature_unions:\n  both: [mfcc, spectral]\n",
            "both, mfcc",
        ));
        let node = |name: &str| {
            g.nodes
                .iter()
                .position(|n| n.name == name)
                .unwrap_or_else(|| panic!("no node {name}"))
        };
        let deps = |name: &str| -> Vec<String> {
            g.nodes[node(name)]
                .deps
                .iter()
                .map(|(role, d)| format!("{role}={}", g.nodes[*d].name))
                .collect()
        };
        assert_eq!(
            deps("join:both"),
            ["part0=extract:mfcc", "part1=extract:spectral"]
        );
        assert_eq!(
            deps("join:both+loud"),
            ["part0=extract:mfcc+loud", "part1=extract:spectral+loud"]
        );
        assert!(deps("train:both+loud/none/lr@six").contains(&"features=join:both".to_string()));
        assert!(
            deps("train:both+loud/none/lr@six").contains(&"augmented=join:both+loud".to_string())
        );
        assert!(deps("train:mfcc/none/lr@six").contains(&"features=extract:mfcc".to_string()));
        let extracts = g.nodes.iter().filter(|n| n.name == "extract:mfcc").count();
        assert_eq!(extracts, 1);
    }
}
