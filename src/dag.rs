//! The experiment graph: pipeline.yaml expanded into nodes.
//!
//! ```text
//! ingest ─┬─ extract:<set> ──┬── select:<set>/<sel>@<protocol> ──┬─ train:<set>/<sel>/<model>@<protocol> ── evaluate:…
//!         ├─ folds:<protocol> ┴───────────────────────────────────┤
//!         └─ augment:<aug> ── extract:<set>+<aug> ────────────────┘ (train:<set>+<aug>/…)
//! ```
//!
//! Every cell of the matrix (feature set x selection x model x protocol)
//! gets its own train and evaluate node; cells share the ingest, extract
//! and folds nodes they have in common. Nodes are stored in topological
//! order: each node's dependencies come before it.

use std::fmt::Write;

use crate::config::Pipeline;
use crate::stage::Stage;
use crate::stage::augment::AugmentStage;
use crate::stage::evaluate::EvaluateStage;
use crate::stage::extract::ExtractStage;
use crate::stage::folds::FoldsStage;
use crate::stage::ingest::IngestStage;
use crate::stage::select::SelectStage;
use crate::stage::train::TrainStage;

/// One cell of the experiment matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    pub features: String,
    /// `none`, or the augmentation set the training folds get.
    pub augment: String,
    pub selection: String,
    pub model: String,
    pub protocol: String,
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
    pub deps: Vec<(String, usize)>,
    pub stage: Box<dyn Stage>,
    /// Set on evaluate nodes: the matrix cell they score.
    pub experiment: Option<Experiment>,
}

pub struct Graph {
    pub nodes: Vec<Node>,
}

impl Graph {
    pub fn build(pipeline: &Pipeline) -> Graph {
        let c = &pipeline.config;
        let mut nodes: Vec<Node> = Vec::new();
        let mut add = |name: String,
                       deps: Vec<(&str, usize)>,
                       stage: Box<dyn Stage>,
                       experiment: Option<Experiment>| {
            nodes.push(Node {
                name,
                deps: deps.into_iter().map(|(r, i)| (r.to_string(), i)).collect(),
                stage,
                experiment,
            });
            nodes.len() - 1
        };
        let ingest = add(
            "ingest".into(),
            vec![],
            Box::new(IngestStage::new(
                c.corpus.kind,
                pipeline.resolve(&c.corpus.path),
                c.sample_rate,
            )),
            None,
        );
        let m = &c.experiments;
        let mut extract = Vec::new();
        for set in &m.features {
            let stage = ExtractStage::for_set(set, &c.extract, c.sample_rate);
            extract.push(add(
                format!("extract:{set}"),
                vec![("signals", ingest)],
                Box::new(stage),
                None,
            ));
        }
        // Augmented copies, and their features per set: (augment, node) and
        // extract[set][augment].
        let augment: Vec<(String, Option<usize>)> = m
            .augment
            .iter()
            .map(|name| {
                let node = c.augmentations.get(name).map(|spec| {
                    let noise_files = spec
                        .copies
                        .iter()
                        .enumerate()
                        .filter_map(|(i, copy)| match copy {
                            ser_augment::Augmentation::Noise { files, .. } if !files.is_empty() => {
                                Some((i, files.iter().map(|f| pipeline.resolve(f)).collect()))
                            }
                            _ => None,
                        })
                        .collect();
                    add(
                        format!("augment:{name}"),
                        vec![("signals", ingest)],
                        Box::new(AugmentStage {
                            name: name.clone(),
                            spec: spec.clone(),
                            sample_rate: c.sample_rate,
                            noise_files,
                        }),
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
                        Some(add(
                            format!("extract:{set}+{name}"),
                            vec![("signals", node)],
                            Box::new(ExtractStage::for_set(set, &c.extract, c.sample_rate)),
                            None,
                        ))
                    })
                    .collect()
            })
            .collect();
        let mut folds = Vec::new();
        for protocol in &m.protocols {
            let spec = c.protocols[protocol].clone();
            let file = match &spec {
                ser_evaluate::ProtocolSpec::FoldsFile { path, .. } => Some(pipeline.resolve(path)),
                _ => None,
            };
            folds.push(add(
                format!("folds:{protocol}"),
                vec![("corpus", ingest)],
                Box::new(FoldsStage { spec, file }),
                None,
            ));
        }
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
                        Some(add(
                            format!("select:{set}/{selection}@{protocol}"),
                            vec![("features", extract[si]), ("folds", folds[pi])],
                            Box::new(SelectStage { spec: spec.clone() }),
                            None,
                        ))
                    })
                    .collect();
                for (ai, (aug, _)) in augment.iter().enumerate() {
                    for model in &m.models {
                        for (pi, protocol) in m.protocols.iter().enumerate() {
                            let exp = Experiment {
                                features: set.clone(),
                                augment: aug.clone(),
                                selection: selection.clone(),
                                model: model.clone(),
                                protocol: protocol.clone(),
                            };
                            let cell = format!("{}@{protocol}", exp.name());
                            let mut deps = vec![("features", extract[si]), ("folds", folds[pi])];
                            if let Some(select) = select[pi] {
                                deps.push(("selection", select));
                            }
                            if let Some(augmented) = augmented_extract[si][ai] {
                                deps.push(("augmented", augmented));
                            }
                            let train = add(
                                format!("train:{cell}"),
                                deps,
                                Box::new(TrainStage {
                                    model: c.models[model].spec.clone(),
                                    grid: c.models[model].grid.clone(),
                                }),
                                None,
                            );
                            add(
                                format!("evaluate:{cell}"),
                                vec![("predictions", train)],
                                Box::new(EvaluateStage),
                                Some(exp),
                            );
                        }
                    }
                }
            }
        }
        Graph { nodes }
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
