"""How steady `choose: forward`'s member choice is, per pool: the choice redone on bootstrap
resamples of the validation speakers, against the choice on all of them. Looks at no test UA.

    python3 benches/choice_stability.py [--ser ser] [--resamples N] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs pyarrow and numpy) on the default pipeline's cache. For each pool
and fold it takes the validation utterances every member held out (the rows `choose: forward`
scores), repeats forward selection as src/stage/ensemble.rs does it (start from the best member,
add the one that gives the mean the best UA, ties to the lower cross-entropy, then the member
listed first; stop when nothing strictly improves) on speakers drawn with replacement, and prints
how often the resampled choice is the full-data one and their mean Jaccard overlap. The six MLPs
are also scored on the 12-member pool's rows (seed 0's speakers), which separates what the rows
do from what the smaller pool does. A choice that
moves when a few speakers change is one that a different draw of validation speakers would have
made differently.
"""
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq

MLPS = ["egemaps/none/mlp", "egemaps+noisy_pitch/none/mlp", "acoustic+noisy_pitch/none/mlp",
        "gemaps+noisy_pitch/none/mlp", "acoustic_egemaps+noisy_pitch/none/mlp",
        "acoustic_egemaps/none/mlp"]
FRAMES = ["egemaps/none/cnn1d", "egemaps/none/lstm", "egemaps/none/gru", "egemaps/none/crnn",
          "egemaps/none/attention_lstm", "logmel/none/cnn2d"]
# name: (members, the members whose common rows it is scored on)
POOLS = {
    "12 members (the pool before)": (MLPS + FRAMES, MLPS + FRAMES),
    "six MLPs, seed 0's rows": (MLPS, MLPS + FRAMES),
    "six MLPs (shipped)": (MLPS, MLPS),
}
MIN_PROBABILITY = 1e-12


# The six MLP cells as they were shipped before benches/test_copies.sh made pipeline.yaml's
# noisy_pitch ones mlp_tta: given to `ser` for a member of MLPS when the caller defines no
# experiments of its own, so the older rules still run on the current pipeline.yaml.
MLP_CELLS = [
    "--set", "experiments=[{features: [egemaps, acoustic_egemaps], models: [mlp], "
    "protocols: [emobox_6fold]}, {features: [egemaps, acoustic, gemaps, acoustic_egemaps], "
    "augment: [noisy_pitch], models: [mlp], protocols: [emobox_6fold]}]",
    "--set", "ensembles={}",
]


def validation_table(ser, member, argv):
    if member in MLPS and not any(a.startswith("experiments=") for a in argv):
        argv = argv + MLP_CELLS
    listing = subprocess.run([ser, "outputs", f"train:{member}@emobox_6fold", *argv],
                             capture_output=True, text=True, check=True).stdout
    files = {line.split("\t")[1]: line.split("\t")[2] for line in listing.splitlines()}
    return pq.read_table(files["validation"]).to_pandas()


def score(probabilities, truth, weights, classes):
    """(UA, -cross-entropy) of a mean's probabilities on weighted rows."""
    predicted = probabilities.argmax(axis=1)
    recalls = []
    for c in range(classes):
        in_class = truth == c
        total = weights[in_class].sum()
        if total > 0:
            recalls.append(weights[in_class & (predicted == c)].sum() / total)
    picked = probabilities[np.arange(len(truth)), truth]
    cross_entropy = -(weights * np.log(np.maximum(picked, MIN_PROBABILITY))).sum() / weights.sum()
    return (sum(recalls) / len(recalls), -cross_entropy)


def forward_selection(members, truth, weights, classes, pool=None):
    """`pool(members, weights)`: how a trial set is combined (default: the plain mean)."""
    chosen, best_score = [], None
    while True:
        best = None
        for m in range(len(members)):
            if m in chosen:
                continue
            trial = [members[k] for k in chosen + [m]]
            mean = np.mean(trial, axis=0) if pool is None else pool(trial, [1.0] * len(trial))
            s = score(mean, truth, weights, classes)
            if best is None or s > best[1]:
                best = (m, s)
        if best is None or (best_score is not None and not best[1] > best_score):
            return frozenset(chosen)
        chosen.append(best[0])
        best_score = best[1]


def main(argv):
    ser = "ser"
    resamples = 200
    if argv[:1] == ["--ser"]:
        ser, argv = argv[1], argv[2:]
    if argv[:1] == ["--resamples"]:
        resamples, argv = int(argv[1]), argv[2:]
    tables = {m: validation_table(ser, m, argv) for m in MLPS + FRAMES}
    classes = sorted(c[2:] for c in tables[MLPS[0]].columns if c.startswith("p_"))
    rng = np.random.default_rng(0)
    print(f"{'pool':30s} {'fold':6s} {'speakers':>8s} {'rows':>5s} {'same choice':>11s} "
          f"{'Jaccard':>7s}  full choice (pool order)")
    for pool_name, (pool, rows_of) in POOLS.items():
        same_all, jaccard_all = [], []
        for fold in sorted(tables[pool[0]].fold.unique()):
            by_member = [tables[m][tables[m].fold == fold].set_index("id") for m in pool]
            ids = sorted(set.intersection(*(set(tables[m][tables[m].fold == fold].id)
                                            for m in rows_of)))
            first = by_member[0].loc[ids]
            truth = np.array([classes.index(label) for label in first.label])
            speakers = first.speaker.to_numpy()
            members = [t.loc[ids][[f"p_{c}" for c in classes]].to_numpy() for t in by_member]
            full = forward_selection(members, truth, np.ones(len(ids)), len(classes))
            names = sorted(set(speakers))
            same, jaccard = 0, []
            for _ in range(resamples):
                draw = rng.choice(len(names), size=len(names), replace=True)
                counts = np.bincount(draw, minlength=len(names))
                weights = np.array([counts[names.index(s)] for s in speakers], dtype=float)
                choice = forward_selection(members, truth, weights, len(classes))
                same += choice == full
                jaccard.append(len(choice & full) / len(choice | full))
            same_all.append(same / resamples)
            jaccard_all.append(np.mean(jaccard))
            print(f"{pool_name:30s} {fold:6s} {len(names):8d} {len(ids):5d} "
                  f"{same / resamples:11.2f} {np.mean(jaccard):7.2f}  {sorted(full)}")
        print(f"{pool_name:30s} {'mean':6s} {'':8s} {'':5s} {np.mean(same_all):11.2f} "
              f"{np.mean(jaccard_all):7.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
