"""Step 1 of benches/log_pool.sh's rule: deep_validated's pool (as pipeline.yaml ships it) pooled
by the weighted arithmetic mean of its members' probabilities, and by their weighted geometric
mean, judged on held-out halves of each fold's validation speakers. Looks at no test UA.

    python3 benches/log_pool.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs pyarrow and numpy) on the default pipeline's cache. Halves and
bags as benches/classic_members.py (numpy's generator, seed 0, the same draws for both pools);
forward selection as benches/choice_stability.py, with the pool as a parameter. The geometric
pool of a row: exp(sum of w log max(p, 1e-12) / sum of w), normalised over the classes, which
is what `combine: geometric` computes.
"""
import sys

import numpy as np

sys.path.insert(0, "benches")
from choice_stability import MIN_PROBABILITY, score, validation_table  # noqa: E402
from classic_members import CLASSIC  # noqa: E402

POOL = ["egemaps/none/mlp", "egemaps+noisy_pitch_stretch/none/mlp_tta",
        "acoustic+noisy_pitch_stretch/none/mlp_tta", "gemaps+noisy_pitch_stretch/none/mlp_tta",
        "acoustic_egemaps+noisy_pitch_stretch/none/mlp_tta", "acoustic_egemaps/none/mlp",
        *CLASSIC]


def arithmetic(members, weights):
    return sum(w * m for w, m in zip(weights, members)) / sum(weights)


def geometric(members, weights):
    logs = sum(w * np.log(np.maximum(m, MIN_PROBABILITY)) for w, m in zip(weights, members))
    logs = logs / sum(weights)
    pooled = np.exp(logs - logs.max(axis=1, keepdims=True))
    return pooled / pooled.sum(axis=1, keepdims=True)


def forward_selection(members, truth, row_weights, classes, pool):
    chosen, best_score = [], None
    while True:
        best = None
        for m in range(len(members)):
            if m in chosen:
                continue
            pooled = pool([members[k] for k in chosen + [m]], [1.0] * (len(chosen) + 1))
            s = score(pooled, truth, row_weights, classes)
            if best is None or s > best[1]:
                best = (m, s)
        if best is None or (best_score is not None and not best[1] > best_score):
            return chosen
        chosen.append(best[0])
        best_score = best[1]


def bagged_weights(members, truth, speakers, bags, classes, rng, pool):
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


def main(argv, bags=50):
    ser = "ser"
    if argv[:1] == ["--ser"]:
        ser, argv = argv[1], argv[2:]
    tables = {m: validation_table(ser, m, argv) for m in POOL}
    classes = sorted(c[2:] for c in tables[POOL[0]].columns if c.startswith("p_"))
    pools = {"arithmetic": arithmetic, "geometric": geometric}
    scores = {p: [] for p in pools}
    print(f"{'fold':6s} {'chose on':8s} " + " ".join(f"{p:>10s}" for p in pools))
    for fold in sorted(tables[POOL[0]].fold.unique()):
        by_member = {m: tables[m][tables[m].fold == fold].set_index("id") for m in POOL}
        ids = sorted(set.intersection(*(set(t.index) for t in by_member.values())))
        first = by_member[POOL[0]].loc[ids]
        truth = np.array([classes.index(label) for label in first.label])
        speakers = first.speaker.to_numpy()
        members = [by_member[m].loc[ids][[f"p_{c}" for c in classes]].to_numpy() for m in POOL]
        names = sorted(set(speakers))
        halves = [set(names[0::2]), set(names[1::2])]
        for choose_on, score_on in [(0, 1), (1, 0)]:
            a = np.array([s in halves[choose_on] for s in speakers])
            b = np.array([s in halves[score_on] for s in speakers])
            row = []
            for name, pool in pools.items():
                rng = np.random.default_rng(0)
                weights = bagged_weights([m[a] for m in members], truth[a], speakers[a], bags,
                                         len(classes), rng, pool)
                kept = [(w, m[b]) for w, m in zip(weights, members) if w > 0]
                pooled = pool([m for _, m in kept], [w for w, _ in kept])
                scores[name].append(score(pooled, truth[b], np.ones(b.sum()), len(classes))[0])
                row.append(scores[name][-1])
            print(f"{fold:6s} {'AB'[choose_on]:8s} " + " ".join(f"{v:10.3f}" for v in row))
    d = np.array(scores["geometric"]) - np.array(scores["arithmetic"])
    print(f"geometric minus arithmetic, mean over {len(d)} halves: {d.mean():+.4f} "
          f"(higher in {(d > 0).sum()}, lower in {(d < 0).sum()})")
    print("decision: " + ("combine: geometric" if d.mean() > 0 else "nothing changes"))


if __name__ == "__main__":
    main(sys.argv[1:])
