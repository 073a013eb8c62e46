"""Validation UA per fold of the eGeMAPS MLP trained on noisy_pitch's copies and on the two wider
sets of benches/wider_copies.sh, with and without predicting each utterance with its copies
(`test_copies`). Reads the validation tables only (the rows of the speakers each fold's networks
hold out, recorded utterances); looks at no test UA.

    python3 benches/wider_copies.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs pyarrow and numpy) after `bash benches/wider_copies.sh`. What it
decides is declared in benches/wider_copies.sh's header.
"""
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq

VARIANTS = ["noisy_pitch", "noisy_pitch_speed", "noisy_pitch_stretch"]


def definitions():
    """The `--set` options of benches/wider_copies.sh, read from the script itself."""
    out = subprocess.run(["bash", "-c", 'ser() { shift; printf "%s\\n" "$@"; }; '
                          'source benches/wider_copies.sh'], capture_output=True, text=True,
                         check=True).stdout
    return out.splitlines()


def validation_ua(ser, member, argv):
    listing = subprocess.run([ser, "outputs", f"train:{member}@emobox_6fold", *argv],
                             capture_output=True, text=True, check=True).stdout
    files = {line.split("\t")[1]: line.split("\t")[2] for line in listing.splitlines()}
    table = pq.read_table(files["validation"]).to_pandas()
    classes = sorted(c[2:] for c in table.columns if c.startswith("p_"))
    per_fold = {}
    for fold, rows in table.groupby("fold"):
        predicted = np.array(classes)[rows[[f"p_{c}" for c in classes]].to_numpy().argmax(axis=1)]
        truth = rows.label.to_numpy()
        per_fold[fold] = np.mean([(predicted[truth == c] == c).mean()
                                  for c in classes if (truth == c).any()])
    return per_fold


def main(argv):
    ser = "ser"
    if argv[:1] == ["--ser"]:
        ser, argv = argv[1], argv[2:]
    argv = argv + definitions()
    rows = {}
    for variant in VARIANTS:
        for model in ["mlp", "mlp_tta"]:
            rows[f"{variant}/{model}"] = validation_ua(ser, f"egemaps+{variant}/none/{model}", argv)
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
