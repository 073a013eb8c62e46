"""Validation UA per fold of the eGeMAPS MLP trained on noisy_pitch's copies and on the two wider
sets of benches/wider_copies.sh, with and without predicting each utterance with its copies
(`test_copies`), from `ser metrics --validation --json` (the rows of the speakers each fold's
networks hold out, recorded utterances); looks at no test UA.

    python3 benches/wider_copies.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs numpy) after `bash benches/wider_copies.sh`. What it
decides is declared in benches/wider_copies.sh's header.
"""
import sys

import numpy as np

sys.path.insert(0, "benches")
from rule_scripts import script_sets, validation_uas  # noqa: E402

VARIANTS = ["noisy_pitch", "noisy_pitch_speed", "noisy_pitch_stretch"]


def main(argv):
    ser = "ser"
    if argv[:1] == ["--ser"]:
        ser, argv = argv[1], argv[2:]
    scores = validation_uas(ser, argv + script_sets("benches/wider_copies.sh"))
    rows = {f"{variant}/{model}": scores[f"egemaps+{variant}/none/{model}"]
            for variant in VARIANTS for model in ["mlp", "mlp_tta"]}
    folds = sorted(next(iter(rows.values())))
    print(f"{'egemaps + copies / model':32s} " + " ".join(f"{f:>6s}" for f in folds) + "   mean")
    for name, per_fold in rows.items():
        values = [per_fold[f] for f in folds]
        print(f"{name:32s} " + " ".join(f"{v:6.3f}" for v in values) + f"  {np.mean(values):.4f}")
    base = np.array([rows["noisy_pitch/mlp_tta"][f] for f in folds])
    for variant in VARIANTS[1:]:
        d = np.array([rows[f"{variant}/mlp_tta"][f] for f in folds]) - base
        print(f"{variant}/mlp_tta minus noisy_pitch/mlp_tta: {d.mean():+.4f} "
              f"(higher in {(d > 0).sum()} of {len(d)} folds)")


if __name__ == "__main__":
    main(sys.argv[1:])
