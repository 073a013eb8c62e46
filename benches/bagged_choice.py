"""Bagged against plain forward selection for deep_validated, judged on validation speakers only:
each fold's validation speakers are split in two halves; each procedure chooses its members (and,
bagged, their weights) on one half and is scored on the other, both ways. Looks at no test UA.

    python3 benches/bagged_choice.py [--ser ser] [--bags N] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs pyarrow and numpy) on the default pipeline's cache. The pool is
pipeline.yaml's deep_validated (the six MLPs, which share their validation speakers). A fold's
speakers are sorted and dealt alternately to halves A and B. Plain: forward selection as
src/stage/ensemble.rs does it (benches/choice_stability.py has the same code). Bagged: that
selection on N bootstrap resamples of the half's speakers (numpy's generator, seed 0: the same
procedure as `bags: N`, not ser's random stream), each member weighted by its share of the bags'
means. Prints each half's UA on the other half for both, and the mean difference.

The rule this decides, declared in benches/bagged_choice.sh's header before any run.
"""
import sys

import numpy as np

sys.path.insert(0, "benches")
from choice_stability import MLPS, forward_selection, score, validation_table  # noqa: E402


def bagged_weights(members, truth, speakers, bags, classes, rng, pool=None):
    names = sorted(set(speakers))
    weights = np.zeros(len(members))
    for _ in range(bags):
        draw = rng.choice(len(names), size=len(names), replace=True)
        counts = np.bincount(draw, minlength=len(names))
        row_weights = np.array([counts[names.index(s)] for s in speakers], dtype=float)
        chosen = forward_selection(members, truth, row_weights, classes, pool)
        for m in chosen:
            weights[m] += 1.0 / (len(chosen) * bags)
    return weights


def ua(members, weights, truth, classes, pool=None):
    if pool is None:
        mean = sum(w * m for w, m in zip(weights, members) if w > 0) / weights.sum()
    else:
        kept = [(w, m) for w, m in zip(weights, members) if w > 0]
        mean = pool([m for _, m in kept], [w for w, _ in kept])
    return score(mean, truth, np.ones(len(truth)), classes)[0]


def main(argv):
    ser, bags = "ser", 50
    if argv[:1] == ["--ser"]:
        ser, argv = argv[1], argv[2:]
    if argv[:1] == ["--bags"]:
        bags, argv = int(argv[1]), argv[2:]
    tables = {m: validation_table(ser, m, argv) for m in MLPS}
    classes = sorted(c[2:] for c in tables[MLPS[0]].columns if c.startswith("p_"))
    rng = np.random.default_rng(0)
    differences = []
    print(f"{'fold':6s} {'chose on':8s} {'speakers':>8s} {'plain':>6s} {'bagged':>6s}")
    for fold in sorted(tables[MLPS[0]].fold.unique()):
        by_member = [tables[m][tables[m].fold == fold].set_index("id") for m in MLPS]
        ids = sorted(set.intersection(*(set(t.index) for t in by_member)))
        first = by_member[0].loc[ids]
        truth = np.array([classes.index(label) for label in first.label])
        speakers = first.speaker.to_numpy()
        members = [t.loc[ids][[f"p_{c}" for c in classes]].to_numpy() for t in by_member]
        names = sorted(set(speakers))
        halves = [set(names[0::2]), set(names[1::2])]
        for h, (choose_on, score_on) in enumerate([(0, 1), (1, 0)]):
            a = np.array([s in halves[choose_on] for s in speakers])
            b = np.array([s in halves[score_on] for s in speakers])
            on_a = [m[a] for m in members]
            on_b = [m[b] for m in members]
            plain = forward_selection(on_a, truth[a], np.ones(a.sum()), len(classes))
            plain_weights = np.array([1.0 if m in plain else 0.0 for m in range(len(members))])
            bagged = bagged_weights(on_a, truth[a], speakers[a], bags, len(classes), rng)
            plain_ua = ua(on_b, plain_weights, truth[b], len(classes))
            bagged_ua = ua(on_b, bagged, truth[b], len(classes))
            differences.append(bagged_ua - plain_ua)
            print(f"{fold:6s} {'AB'[choose_on]:8s} {len(halves[choose_on]):8d} "
                  f"{plain_ua:6.3f} {bagged_ua:6.3f}")
    print(f"bagged minus plain, mean over {len(differences)} halves: {np.mean(differences):+.4f} "
          f"(bagged higher in {sum(d > 0 for d in differences)}, lower in "
          f"{sum(d < 0 for d in differences)})")


if __name__ == "__main__":
    main(sys.argv[1:])
