"""Whether test-time augmentation is worth building, judged on validation speakers only: inside
each emobox_6fold training fold (20 speakers), four inner splits hold out every fourth speaker;
scikit-learn models trained on the other speakers' recorded utterances and their noisy_pitch
copies predict the held-out speakers' recorded utterances alone, and with their three copies
(probabilities averaged), and with the noisy copy only. Looks at no test speaker.

    python3 benches/test_copies_sklearn.py [--ser ser] [ser options, e.g. --cache-dir DIR]

Run from the project root (needs scikit-learn, pyarrow, numpy) on the default pipeline's cache
(eGeMAPS with and without noisy_pitch extracted). Features are z-scored per speaker by that
speaker's recorded utterances, then standardised on the training rows. Models: logistic
regression (C 1), an RBF SVM (C 1, balanced, Platt probabilities) and an MLP (256, 256; 200
iterations), all seed 0. Prints the mean inner-validation UA of each and the differences over
the 24 inner splits. This motivated `test_copies` (docs/performance.md); it chose no setting.
"""
import json
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

PROTOCOLS = "../shared/protocols/ravdess.json"


def features(ser, node, argv):
    listing = subprocess.run([ser, "outputs", node, *argv], capture_output=True, text=True,
                             check=True).stdout
    # The node itself: `ser outputs` matches names by prefix too.
    files = {cols[1]: cols[2] for cols in (line.split("\t") for line in listing.splitlines())
             if cols[0] == node}
    return pq.read_table(files["features"]).to_pandas()


def main(argv):
    ser = "ser"
    if argv[:1] == ["--ser"]:
        ser, argv = argv[1], argv[2:]
    recorded = features(ser, "extract:egemaps", argv)
    copies = features(ser, "extract:egemaps+noisy_pitch", argv)
    names = [c for c in recorded.columns if recorded[c].dtype.kind == "f"]
    x, xc = recorded[names].to_numpy(float).copy(), copies[names].to_numpy(float).copy()
    for s in recorded.speaker.unique():
        own, theirs = (recorded.speaker == s).to_numpy(), (copies.speaker == s).to_numpy()
        mean, std = x[own].mean(0), x[own].std(0) + 1e-9
        x[own], xc[theirs] = (x[own] - mean) / std, (xc[theirs] - mean) / std
    classes = sorted(recorded.label.unique())
    y = np.array([classes.index(label) for label in recorded.label])
    yc = np.array([classes.index(label) for label in copies.label])
    speaker, speaker_c = recorded.speaker.astype(int).to_numpy(), copies.speaker.astype(int).to_numpy()
    position = {utterance: k for k, utterance in enumerate(recorded.id)}
    source = np.array([position[s] for s in copies.source])

    def ua(p, truth):
        predicted = p.argmax(1)
        return np.mean([np.mean(predicted[truth == c] == c) for c in range(len(classes))])

    models = {
        "logreg": lambda: LogisticRegression(C=1.0, max_iter=300),
        "svm": lambda: SVC(C=1.0, class_weight="balanced", probability=True, random_state=0),
        "mlp": lambda: MLPClassifier((256, 256), alpha=1e-3, max_iter=200, random_state=0),
    }
    scores = {m: {"recorded": [], "with 3 copies": [], "with the noisy copy": []} for m in models}
    folds = json.load(open(PROTOCOLS))["emobox_6fold"]["test_actors"]
    for test in folds:
        training = sorted(set(range(1, 25)) - set(test))
        for split in range(4):
            held_out = set(training[split::4])
            fit_on = np.isin(speaker, list(set(training) - held_out))
            fit_on_c = np.isin(speaker_c, list(set(training) - held_out))
            xt, yt = np.vstack([x[fit_on], xc[fit_on_c]]), np.concatenate([y[fit_on], yc[fit_on_c]])
            scaler = StandardScaler().fit(xt)
            rows = np.where(np.isin(speaker, list(held_out)))[0]
            for name, make in models.items():
                model = make().fit(scaler.transform(xt), yt)
                own = model.predict_proba(scaler.transform(x[rows]))
                theirs = np.array([model.predict_proba(scaler.transform(xc[source == r]))
                                   for r in rows])
                scores[name]["recorded"].append(ua(own, y[rows]))
                scores[name]["with 3 copies"].append(ua((own + theirs.sum(1)) / 4, y[rows]))
                scores[name]["with the noisy copy"].append(ua((own + theirs[:, 0]) / 2, y[rows]))
    for name, s in scores.items():
        line = [f"{name:7s} recorded {np.mean(s['recorded']):.4f}"]
        for variant in ["with 3 copies", "with the noisy copy"]:
            d = np.array(s[variant]) - np.array(s["recorded"])
            line.append(f"{variant} {d.mean():+.4f} (higher in {(d > 0).sum()}, lower in "
                        f"{(d < 0).sum()} of {len(d)})")
        print("; ".join(line))


if __name__ == "__main__":
    main(sys.argv[1:])
