"""Per deep member: the validation UA early stopping kept, against the UA of the kept weights on
the held-out speakers' recorded utterances (the train node's `validation` table). They agree when
validation scores held-out speakers as test speakers are scored; docs/performance.md ("Augmented
copies no longer validate") has the runs that found they did not for members on augmented copies.

    python3 benches/validation_check.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs pyarrow); reads pipeline.yaml's MLP cells on emobox_6fold and
their fold records under the cache's items/train-deep. Looks at no test UA.
"""
import glob
import json
import subprocess
import sys

import pyarrow.parquet as pq

sys.path.insert(0, "benches")
from choice_stability import MLP_CELLS  # noqa: E402

MEMBERS = ["egemaps/none/mlp", "acoustic_egemaps/none/mlp", "egemaps+noisy_pitch/none/mlp",
           "acoustic_egemaps+noisy_pitch/none/mlp", "acoustic+noisy_pitch/none/mlp",
           "gemaps+noisy_pitch/none/mlp"]


def unweighted_recall(truth, predicted):
    recalls = []
    for c in set(truth):
        rows = [i for i, t in enumerate(truth) if t == c]
        recalls.append(sum(predicted[i] == c for i in rows) / len(rows))
    return sum(recalls) / len(recalls)


def main(argv):
    ser = "ser"
    if argv[:1] == ["--ser"]:
        ser, argv = argv[1], argv[2:]
    cache = ".ser"
    if "--cache-dir" in argv:
        cache = argv[argv.index("--cache-dir") + 1]
    records = {}
    for path in glob.glob(f"{cache}/items/train-deep/**/*.json", recursive=True):
        record = json.load(open(path))
        records[record["weights"]] = record
    print(f"{'member':40s} {'kept':>6s} {'tables':>6s}  (means over networks)")
    for member in MEMBERS:
        listing = subprocess.run([ser, "outputs", f"train:{member}@emobox_6fold", *argv,
                                  *MLP_CELLS],
                                 capture_output=True, text=True, check=True).stdout
        files = {line.split("\t")[1]: line.split("\t")[2] for line in listing.splitlines()}
        models = json.load(open(files["models"]))
        predictions = pq.read_table(files["predictions"]).to_pandas()
        # Row index -> label: each fold's test rows, in the first network's order.
        label_of = {}
        for fold in models["folds"]:
            rows = predictions[predictions.fold == fold["fold"]]
            for (row, _), label in zip(records[fold["weights"]]["predictions"], rows.label):
                label_of[row] = label
        kept, rescored = [], []
        for fold in models["folds"]:
            for network in fold.get("networks") or [{"weights": fold["weights"],
                                                     "best_validation_ua": fold["net"]["best_validation_ua"]}]:
                validation = records[network["weights"]]["validation"]
                truth = [label_of[row] for row, _ in validation]
                predicted = [models["classes"][max(range(len(p)), key=p.__getitem__)]
                             for _, p in validation]
                kept.append(network["best_validation_ua"])
                rescored.append(unweighted_recall(truth, predicted))
        print(f"{member:40s} {sum(kept) / len(kept):6.3f} {sum(rescored) / len(rescored):6.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
