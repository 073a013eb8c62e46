"""Validation UA per fold of deep_validated's acoustic and union copy MLPs (`mlp_tta` on
noisy_pitch_stretch) with the ten functionals of librosa's descriptors (shipped) and with their
deltas' too, from `ser metrics --validation --json` (the rows of the speakers each fold's networks
hold out, recorded utterances); looks at no test UA.

    python3 benches/ten_deltas.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs numpy) after `bash benches/ten_deltas.sh --validation`. What it
decides is declared in benches/ten_deltas.sh's header.
"""
import sys

import numpy as np

sys.path.insert(0, "benches")
from rule_scripts import script_sets, validation_uas  # noqa: E402

VARIANTS = ["shipped", "deltas"]
CELLS = ["acoustic_egemaps+noisy_pitch_stretch/none/mlp_tta", "acoustic+noisy_pitch_stretch/none/mlp_tta"]


def main(argv):
    ser = "ser"
    if argv[:1] == ["--ser"]:
        ser, argv = argv[1], argv[2:]
    rows = {}
    for variant in VARIANTS:
        scores = validation_uas(ser, argv + script_sets("benches/ten_deltas.sh",
                                                          {"VARIANT": variant}))
        for cell in CELLS:
            rows[(cell, variant)] = scores[cell]
    folds = sorted(rows[(CELLS[0], "shipped")])
    print(f"{'cell / acoustic columns':62s} " + " ".join(f"{f:>6s}" for f in folds) + "   mean")
    for (cell, variant), per_fold in rows.items():
        values = [per_fold[f] for f in folds]
        print(f"{cell + ' / ' + variant:62s} " + " ".join(f"{v:6.3f}" for v in values)
              + f"  {np.mean(values):.4f}")
    base = np.array([rows[(CELLS[0], "shipped")][f] for f in folds])
    values = np.array([rows[(CELLS[0], "deltas")][f] for f in folds])
    d = values - base
    print(f"union / deltas minus shipped: {d.mean():+.4f} (higher in {(d > 0).sum()} of {len(d)} folds)")
    print("decision: " + ("deltas" if values.mean() > base.mean()
                          else "none (the variant is not above the shipped cell)"))


if __name__ == "__main__":
    main(sys.argv[1:])
