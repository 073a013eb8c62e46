"""deep_validated's pool with and without two classic models, judged on validation speakers
only: each fold's validation speakers are split in two halves; the shipped procedure (forward
selection bagged 50 times) chooses members and weights from each pool on one half and is scored
on the other, both ways. Looks at no test UA.

    python3 benches/classic_members.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs pyarrow and numpy) on the default pipeline's cache, once the
two classic models have trained: `bash benches/classic_members.sh --set 'ensembles={}'` (their
train nodes; no ensemble is computed). Halves and bags as benches/bagged_choice.py (numpy's
generator, seed 0, the same draws for both pools).

The rule this decides, declared in benches/classic_members.sh's header before any run.
"""
import sys

import numpy as np

sys.path.insert(0, "benches")
from bagged_choice import bagged_weights, ua  # noqa: E402
from choice_stability import MLPS, validation_table  # noqa: E402

CLASSIC = ["egemaps/none/svm_speaker_val", "egemaps/none/logreg_speaker_val"]
DEFINITIONS = [
    "--set", "models.svm_speaker_val={kind: svm, c: 1.0, class_weight: balanced, "
    "normalize: speaker, probability: true, validation: {seeds: 5}}",
    "--set", "models.logreg_speaker_val={kind: logistic_regression, alpha: 1.0, "
    "max_iterations: 300, normalize: speaker, validation: {seeds: 5}}",
    # cnn1d (cached): eGeMAPS extracted with its frames, as pipeline.yaml extracts it.
    "--set", "experiments=[{features: [egemaps], models: [cnn1d, svm_speaker_val, "
    "logreg_speaker_val], protocols: [emobox_6fold]}]",
    "--set", "ensembles={}",
]


def main(argv, pools=None, bags=50, definitions=None, pooling=None):
    """`pools`: name -> members (the first is the baseline); `definitions`: member -> the
    `--set` options that define it (default: the two classic models'). A member written
    `experiment#variant` is that experiment under its own definitions, so two pools may hold
    one cell computed two ways (an extraction setting is global to a run). `pooling`: pool name
    -> `f(members, weights)`, how that pool combines its members in the choice and after
    (default: the weighted mean). Returns the mean difference, second pool minus first."""
    ser = "ser"
    if argv[:1] == ["--ser"]:
        ser, argv = argv[1], argv[2:]
    pools = pools or {"MLPs": MLPS, "MLPs + classic": MLPS + CLASSIC}
    definitions = {m: DEFINITIONS for m in CLASSIC} if definitions is None else definitions
    names = sorted({m for pool in pools.values() for m in pool})
    tables = {m: validation_table(ser, m.split("#")[0], argv + definitions.get(m, []))
              for m in names}
    classes = sorted(c[2:] for c in tables[names[0]].columns if c.startswith("p_"))
    labels = list(pools)
    scores = {p: [] for p in labels}
    print(f"{'fold':6s} {'chose on':8s} " + " ".join(f"{p:>16s}" for p in labels))
    for fold in sorted(tables[names[0]].fold.unique()):
        by_member = {m: tables[m][tables[m].fold == fold].set_index("id") for m in names}
        ids = sorted(set.intersection(*(set(t.index) for t in by_member.values())))
        first = by_member[names[0]].loc[ids]
        truth = np.array([classes.index(label) for label in first.label])
        speakers = first.speaker.to_numpy()
        probabilities = {m: t.loc[ids][[f"p_{c}" for c in classes]].to_numpy()
                         for m, t in by_member.items()}
        halves = [set(sorted(set(speakers))[0::2]), set(sorted(set(speakers))[1::2])]
        for choose_on, score_on in [(0, 1), (1, 0)]:
            a = np.array([s in halves[choose_on] for s in speakers])
            b = np.array([s in halves[score_on] for s in speakers])
            row = []
            for p in labels:
                # The same bootstrap draws for every pool: each starts from seed 0.
                rng = np.random.default_rng(0)
                members = [probabilities[m] for m in pools[p]]
                pool = (pooling or {}).get(p)
                weights = bagged_weights([m[a] for m in members], truth[a], speakers[a], bags,
                                         len(classes), rng, pool)
                scores[p].append(ua([m[b] for m in members], weights, truth[b], len(classes),
                                    pool))
                row.append(scores[p][-1])
            print(f"{fold:6s} {'AB'[choose_on]:8s} " + " ".join(f"{v:16.3f}" for v in row))
    base, other = labels
    differences = np.array(scores[other]) - np.array(scores[base])
    print(f"{other} minus {base}, mean over {len(differences)} halves: {differences.mean():+.4f} "
          f"(higher in {(differences > 0).sum()}, lower in {(differences < 0).sum()})")
    return differences.mean()


if __name__ == "__main__":
    main(sys.argv[1:])
