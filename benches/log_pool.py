"""Step 1 of benches/log_pool.sh's rule: deep_validated's pool (as pipeline.yaml ships it) pooled
by the weighted arithmetic mean of its members' probabilities, and by their weighted geometric
mean, judged on held-out halves of each fold's validation speakers. Looks at no test UA.

    python3 benches/log_pool.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs pyarrow and numpy) on the default pipeline's cache. Halves, bags
and forward selection as benches/classic_members.py (numpy's generator, seed 0, the same draws
for both), the geometric pool in the choice and in the final pool alike. The geometric pool of a
row: exp(sum of w log max(p, 1e-12) / sum of w), normalised over the classes, which is what
`combine: geometric` computes.
"""
import sys

import numpy as np

sys.path.insert(0, "benches")
import classic_members  # noqa: E402
from choice_stability import MIN_PROBABILITY  # noqa: E402

POOL = ["egemaps/none/mlp", "egemaps+noisy_pitch_stretch/none/mlp_tta",
        "acoustic+noisy_pitch_stretch/none/mlp_tta", "gemaps+noisy_pitch_stretch/none/mlp_tta",
        "acoustic_egemaps+noisy_pitch_stretch/none/mlp_tta", "acoustic_egemaps/none/mlp",
        *classic_members.CLASSIC]


def geometric(members, weights):
    logs = sum(w * np.log(np.maximum(m, MIN_PROBABILITY)) for w, m in zip(weights, members))
    logs = logs / sum(weights)
    pooled = np.exp(logs - logs.max(axis=1, keepdims=True))
    return pooled / pooled.sum(axis=1, keepdims=True)


def main(argv):
    difference = classic_members.main(argv, pools={"arithmetic": POOL, "geometric": POOL},
                                      definitions={}, pooling={"geometric": geometric})
    print("decision: " + ("combine: geometric" if difference > 0 else "nothing changes"))


if __name__ == "__main__":
    main(sys.argv[1:])
