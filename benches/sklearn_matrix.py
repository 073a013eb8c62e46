#!/usr/bin/env python3
"""scikit-learn's side of ser's classic models: the same matrix, the same data.

For every experiment of a pipeline (feature set x selection x model, on each
protocol) this script runs the scikit-learn equivalent of what ser's select,
train and evaluate stages do, on the very feature tables and folds ser has
cached (found through `ser outputs`), and compares its UA with ser's
(`ser metrics --json`). It also times the scikit-learn matrix, so a Rust bench
can put ser's wall time beside it (`--json-out`).

    python3 benches/sklearn_matrix.py                        # full matrix, table
    python3 benches/sklearn_matrix.py --only-selection none  # quick: no selection
    python3 benches/sklearn_matrix.py --time-only --threads 2 --json-out t.json

Needs numpy, scipy, scikit-learn, pyarrow, pyyaml (and xgboost for a model of
kind `xgboost`): `bash scripts/bench-deps.sh`. The ser binary is only read
(`ser outputs`, `ser metrics --json`); run `ser run` first so the cache holds
the feature tables, folds and ser's results.

What is replicated, and how (see stages/train/src/lib.rs, stages/select):

- standardiser: fitted on the training fold only (StandardScaler, population
  std, constant columns unscaled), then the model.
- logistic_regression {alpha, max_iterations}: linfa-logistic minimises
  -sum_i log softmax(x_i W + b)[y_i] + alpha/2 ||W||^2 (all K columns of W,
  intercept b unpenalised, L-BFGS). scikit-learn's lbfgs multinomial minimises
  C sum_i loss_i + 1/2 ||W||^2 (intercept unpenalised), i.e. the same
  function times C when C = 1 / alpha. max_iter = max_iterations. linfa stops
  when the gradient's L2 norm of the *summed* objective is below 1e-4;
  scikit-learn's tol applies to the gradient of the objective divided by
  n_samples, so tol = 1e-4 / n_train.
- gaussian_nb {var_smoothing}: linfa-bayes adds var_smoothing * max column
  variance, as GaussianNB(var_smoothing) does.
- svm {c, gamma, class_weight}: linfa's Gaussian kernel exp(-|x-x'|^2 / eps)
  with eps = 1 / gamma; gamma absent = 1 / n_features (on standardised data
  sklearn's "scale" is about that; "auto" is exactly that, used here). ser
  trains one binary SVM per class and takes the largest decision value:
  OneVsRestClassifier(SVC(kernel="rbf", C, gamma)). SVC's own multiclass
  scheme (one-vs-one) is reported too, as an extra row `<exp> [ovo]`.
  class_weight balanced: per binary machine in ser, as OvR(SVC(balanced)).
- knn {k, distance_weighted}: KNeighborsClassifier(k, uniform|distance,
  brute force Euclidean); ties go to the lower class index in both.
- random_forest {n_trees, max_depth, max_features, seed}: rafor (Gini,
  bootstrap, max_features per split, default floor(sqrt(p)), probabilities
  averaged over trees) vs RandomForestClassifier(n_estimators, max_depth,
  max_features or "sqrt", random_state=seed). Different random streams, so
  only statistically equal.
- xgboost {n_estimators, max_depth, learning_rate, subsample,
  colsample_bytree, min_child_weight, reg_lambda, seed, class_weight}:
  XGBClassifier(objective="multi:softprob", tree_method="hist", same names).
- unknown kinds are skipped with a message.
- selection: Algorithm 1 ranks columns by f_classif (non-finite F -> 0, ties
  by column index) and keeps a count (an integer in the YAML) or a fraction
  (a float, rounded half away from zero, at least 1). Algorithm 2 is ser's
  chunked backward elimination (stages/select/src/wrapper.rs) line by line,
  scored by mean UA of the estimator over ser's speaker-grouped inner folds
  (speaker_kfold: speakers by descending utterance count, each to the
  lightest fold), a fold whose fit fails scoring 0. 1+2: the filter's
  survivors in ranking order, then the wrapper.
- metrics: per fold UA (mean recall over classes present in the truth), WA,
  macro-F1 (classes present in truth or prediction), as
  stages/evaluate/src/metrics.rs, over the classes of the whole prediction
  table; the headline is the mean over folds (src/stage/evaluate.rs).

Timing: each select node (one per feature set, selection and protocol, shared
by its models, as in ser) and each train node is timed; "matrix" is their sum
plus the process-pool overhead, without the ovo extras. Folds run in parallel
over --threads worker processes (ser runs folds in parallel on rayon); with
one fold, the threads go to the model (n_jobs) instead.
"""

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Points of UA by which scikit-learn may differ from ser and still agree.
BOUNDS = {
    "logistic_regression": 2.0,
    "gaussian_nb": 2.0,
    "svm": 2.0,
    "knn": 2.0,
    "random_forest": 3.0,
    "xgboost": 3.0,
}
KNOWN_KINDS = set(BOUNDS)
KEY_COLUMNS = ("id", "speaker", "label")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Run ser's experiment matrix in scikit-learn and compare UA.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-p", "--pipeline", default="pipeline.yaml",
                   help="pipeline file (default pipeline.yaml)")
    p.add_argument("--ser", default=None,
                   help="ser binary (default target/release/ser)")
    p.add_argument("--cache-dir", default=None,
                   help="passed to ser as --cache-dir")
    p.add_argument("--only-selection", action="append", metavar="NAME",
                   help="restrict to these selections (repeat or comma-separate)")
    p.add_argument("--only-features", action="append", metavar="NAME")
    p.add_argument("--only-models", action="append", metavar="NAME")
    p.add_argument("--only-protocols", action="append", metavar="NAME")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="worker processes / n_jobs / BLAS threads in all (default: all cores)")
    p.add_argument("--time-only", action="store_true",
                   help="only time the scikit-learn matrix: no ser metrics, no comparison")
    p.add_argument("--no-ovo", action="store_true",
                   help="skip the extra one-vs-one SVC rows")
    p.add_argument("--ser-selection", action="store_true",
                   help="train on the columns ser's select nodes chose instead of "
                        "re-running the selection (isolates model differences)")
    p.add_argument("--json-out", default=None, help="write the results as JSON here")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when an experiment is outside its bound")
    args = p.parse_args(argv)
    for name in ("only_selection", "only_features", "only_models", "only_protocols"):
        value = getattr(args, name)
        if value:
            setattr(args, name, {v for item in value for v in item.split(",") if v})
    args.threads = max(1, args.threads)
    return args


ARGS = parse_args() if __name__ == "__main__" else None
# BLAS threads are fixed per task below (threadpoolctl); start at one so the
# worker processes do not each take every core.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ.setdefault(_var, "1")

import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import yaml  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.feature_selection import f_classif  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.multiclass import OneVsRestClassifier  # noqa: E402
from sklearn.naive_bayes import GaussianNB  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import SVC  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402


# ---------------------------------------------------------------- ser side

def ser_command(args, *cmd):
    command = [args.ser, *cmd, "-p", str(args.pipeline)]
    if args.cache_dir:
        command += ["--cache-dir", args.cache_dir]
    out = subprocess.run(command, capture_output=True, text=True,
                         env={**os.environ, "SER_NO_PROGRESS": "1"})
    if out.returncode != 0:
        lines = out.stderr.strip().splitlines() or ["no message"]
        more = f" (+{len(lines) - 1} more lines)" if len(lines) > 1 else ""
        raise SerFailed(f"`{' '.join(command)}` failed: {lines[-1]}{more}")
    return out.stdout


class SerFailed(Exception):
    pass


def ser_outputs(args):
    """{(node, output): path} from `ser outputs`."""
    outputs = {}
    for line in ser_command(args, "outputs").splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            outputs[(parts[0], parts[1])] = parts[2]
    return outputs


def cache_state(args):
    """(outputs, metrics) read from the cache's state and records directly.

    The fallback when the ser binary cannot read the pipeline file (a binary
    built before the pipeline's keys existed): <cache>/state/<id>/nodes.json
    names each node's record; a record lists the node's objects, and an
    evaluate record's summary holds ua, wa, macro_f1, n_test. With several
    pipelines' states in the cache, the newest state file is used."""
    cache = Path(args.cache_dir or os.environ.get("SER_CACHE_DIR") or args.pipeline.parent / ".ser")
    states = sorted((cache / "state").glob("*/nodes.json"), key=lambda p: p.stat().st_mtime)
    if not states:
        sys.exit(f"sklearn_matrix: no pipeline state under {cache}/state (run `ser run` first)")
    nodes = json.loads(states[-1].read_text())
    outputs, metrics = {}, {}
    for node, state in nodes.items():
        key = state["key"]
        record = cache / "records" / state["stage"] / key[:2] / f"{key}.json"
        if not record.exists():
            continue
        rec = json.loads(record.read_text())
        for name, obj in rec.get("outputs", {}).get("files", {}).items():
            outputs[(node, name)] = str(cache / "objects" / obj[:2] / obj)
        if state["stage"] == "evaluate":
            summary = rec.get("outputs", {}).get("summary", {})
            experiment, _, protocol = node.split(":", 1)[1].rpartition("@")
            f, s, m = experiment.split("/")
            metrics[(experiment, protocol)] = {
                "experiment": experiment, "features": f, "selection": s, "model": m,
                "protocol": protocol, **{k: summary.get(k) for k in ("ua", "wa", "macro_f1", "n_test")}}
    print(f"sklearn_matrix: read ser's results from {states[-1]} directly", file=sys.stderr)
    return outputs, metrics


def ser_results(args):
    """(outputs, metrics) through the ser binary, else from the cache state."""
    try:
        return ser_outputs(args), ({} if args.time_only else ser_metrics(args))
    except SerFailed as e:
        print(f"sklearn_matrix: {e}; falling back to the cache state", file=sys.stderr)
        return cache_state(args)


def ser_metrics(args):
    """{(experiment, protocol): metrics} from `ser metrics --json`."""
    metrics = {}
    for line in ser_command(args, "metrics", "--json").splitlines():
        line = line.strip()
        if line.startswith("{"):
            m = json.loads(line)
            metrics[(m["experiment"], m["protocol"])] = m
    return metrics


def read_features(path):
    """(names, X float64, speakers, labels, ids) of a ser feature table."""
    table = pq.read_table(path)
    names = [n for n in table.column_names if n not in KEY_COLUMNS]
    x = np.empty((table.num_rows, len(names)), dtype=np.float64)
    for j, n in enumerate(names):
        x[:, j] = table.column(n).to_numpy(zero_copy_only=False).astype(np.float64)
    speakers = [str(s) for s in table.column("speaker").to_pylist()]
    labels = [str(s) for s in table.column("label").to_pylist()]
    ids = [str(s) for s in table.column("id").to_pylist()]
    return names, x, speakers, labels, ids


def class_indices(labels):
    classes = sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    return classes, np.array([index[label] for label in labels], dtype=np.int64)


# ---------------------------------------------------------------- metrics

def metrics_compute(truth, pred, n_classes):
    """stages/evaluate/src/metrics.rs Metrics::compute, same summation order."""
    conf = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(conf, (np.asarray(truth), np.asarray(pred)), 1)
    ratio = lambda a, b: 0.0 if b == 0 else a / b  # noqa: E731
    recall, f1, support, present_any = [], [], [], []
    for c in range(n_classes):
        tp = int(conf[c, c])
        sup = int(conf[c].sum())
        pc = int(conf[:, c].sum())
        p, r = ratio(tp, pc), ratio(tp, sup)
        recall.append(r)
        f1.append(0.0 if p + r == 0.0 else 2.0 * p * r / (p + r))
        support.append(sup)
        present_any.append(sup > 0 or pc > 0)

    def mean(idx, values):
        if not idx:
            return 0.0
        s = 0.0
        for c in idx:
            s += values[c]
        return s / len(idx)

    correct = int(np.trace(conf))
    return {
        "ua": mean([c for c in range(n_classes) if support[c] > 0], recall),
        "wa": ratio(correct, len(truth)),
        "macro_f1": mean([c for c in range(n_classes) if present_any[c]], f1),
        "n": len(truth),
    }


def evaluate(fold_names, fold_truth, fold_pred, n_classes):
    """Per-fold metrics and their mean (src/stage/evaluate.rs)."""
    per_fold = [dict(fold=name, **metrics_compute(t, p, n_classes))
                for name, t, p in zip(fold_names, fold_truth, fold_pred)]
    k = len(per_fold)
    mean = {key: sum(m[key] for m in per_fold) / k for key in ("ua", "wa", "macro_f1")}
    return mean, per_fold


# ---------------------------------------------------------------- models

def model_defaults(spec):
    """A model spec with ser's defaults filled in (stages/train/src/lib.rs)."""
    kind = spec.get("kind")
    defaults = {
        "logistic_regression": {"alpha": 1.0, "max_iterations": 300},
        "gaussian_nb": {"var_smoothing": 1e-9},
        "svm": {"c": 1.0, "gamma": None, "class_weight": "none"},
        "knn": {"k": 5, "distance_weighted": False},
        "random_forest": {"n_trees": 100, "max_depth": None, "max_features": None, "seed": 0},
        "xgboost": {"n_estimators": 100, "max_depth": 6, "learning_rate": 0.3,
                    "subsample": 1.0, "colsample_bytree": 1.0, "min_child_weight": 1.0,
                    "reg_lambda": 1.0, "seed": 0, "class_weight": "none"},
    }.get(kind, {})
    if defaults:
        # ser's FeatureNormalize (stages/train/src/lib.rs), any classic kind.
        defaults["normalize"] = "global"
    full = {**defaults, **{k: v for k, v in spec.items()}}
    unknown = set(spec) - set(defaults) - {"kind"}
    return full, unknown


def speaker_normalised(x, speakers):
    """ser's SpeakerNormaliser: every row z-scored by its own speaker's
    column means and population deviations (constant columns unscaled),
    from features alone, test speakers' included."""
    out = np.empty_like(x)
    speakers = np.asarray(speakers)
    for sp in np.unique(speakers):
        rows = speakers == sp
        mean = x[rows].mean(axis=0)
        std = x[rows].std(axis=0)
        std = np.where((std > 1e-12) & np.isfinite(std), std, 1.0)
        out[rows] = (x[rows] - mean) / std
    return out


def balanced_weights(y, n_classes):
    counts = np.bincount(y, minlength=n_classes)
    return np.array([0.0 if c == 0 else len(y) / (n_classes * c) for c in counts])


def make_model(spec, n_train, n_features, n_jobs, variant=None):
    kind = spec["kind"]
    if kind == "logistic_regression":
        alpha = float(spec["alpha"])
        return LogisticRegression(
            C=np.inf if alpha == 0 else 1.0 / alpha,
            max_iter=int(spec["max_iterations"]),
            tol=1e-4 / n_train,
            solver="lbfgs",
        )
    if kind == "gaussian_nb":
        return GaussianNB(var_smoothing=float(spec["var_smoothing"]))
    if kind == "svm":
        gamma = spec["gamma"]
        gamma = 1.0 / n_features if gamma is None else float(gamma)
        balanced = spec.get("class_weight", "none") == "balanced"
        svc = SVC(kernel="rbf", C=float(spec["c"]), gamma=gamma,
                  class_weight="balanced" if balanced else None)
        if variant == "ovo":
            return svc
        return OneVsRestClassifier(svc, n_jobs=n_jobs if n_jobs > 1 else None)
    if kind == "knn":
        return KNeighborsClassifier(
            n_neighbors=int(spec["k"]),
            weights="distance" if spec["distance_weighted"] else "uniform",
            algorithm="brute", metric="euclidean", n_jobs=n_jobs,
        )
    if kind == "random_forest":
        mf = spec["max_features"]
        return RandomForestClassifier(
            n_estimators=int(spec["n_trees"]),
            max_depth=None if spec["max_depth"] is None else int(spec["max_depth"]),
            max_features="sqrt" if mf is None else int(mf),
            criterion="gini", bootstrap=True,
            random_state=int(spec["seed"]), n_jobs=n_jobs,
        )
    if kind == "xgboost":
        from xgboost import XGBClassifier
        return XGBClassifier(
            objective="multi:softprob", tree_method="hist",
            n_estimators=int(spec["n_estimators"]), max_depth=int(spec["max_depth"]),
            learning_rate=float(spec["learning_rate"]), subsample=float(spec["subsample"]),
            colsample_bytree=float(spec["colsample_bytree"]),
            min_child_weight=float(spec["min_child_weight"]),
            reg_lambda=float(spec["reg_lambda"]),
            random_state=int(spec["seed"]), n_jobs=n_jobs, verbosity=0,
        )
    raise ValueError(f"unknown model kind {kind}")


def fit_predict(spec, x_train, y_train, x_test, n_jobs=1, variant=None):
    """Standardise on the training rows, fit, predict class indices.

    Raises ValueError where ser's fit fails (a single class)."""
    if len(y_train) == 0:
        raise ValueError("training set is empty")
    present = np.unique(y_train)
    if len(present) < 2:
        raise ValueError("training fold has a single class")
    scaler = StandardScaler().fit(x_train)
    xtr, xte = scaler.transform(x_train), scaler.transform(x_test)
    model = make_model(spec, len(y_train), x_train.shape[1], n_jobs, variant)
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if spec["kind"] == "xgboost":
            # XGBoost wants labels 0..k-1 of the classes it sees.
            y_enc = np.searchsorted(present, y_train)
            weights = None
            if spec.get("class_weight", "none") == "balanced":
                n_classes = int(y_train.max()) + 1
                weights = balanced_weights(y_train, n_classes)[y_train]
            model.fit(xtr, y_enc, sample_weight=weights)
            pred = present[model.predict(xte).astype(np.int64)]
        else:
            model.fit(xtr, y_train)
            pred = np.asarray(model.predict(xte), dtype=np.int64)
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            notes.append("not converged")
    return pred, sorted(set(notes))


def grid_points(spec, grid):
    """ser's GridSearch::points: parameters by name, values as listed (the
    first name varies slowest)."""
    names = sorted(grid)
    for name in names:
        if name == "kind" or name not in spec:
            raise ValueError(f"grid parameter '{name}' is not a parameter of {spec['kind']}")
    return [({**spec, **dict(zip(names, values))}, dict(zip(names, values)))
            for values in itertools.product(*(grid[n] for n in names))]


def inner_splits(speakers, k):
    """Speaker-grouped inner folds of a training fold (src/stage/inner_cv.rs)."""
    splits = []
    for test_speakers in speaker_kfold(k, speakers):
        is_test = np.array([sp in test_speakers for sp in speakers])
        splits.append((np.flatnonzero(~is_test), np.flatnonzero(is_test)))
    return splits


def mean_ua(spec, x, y, splits, n_classes, n_jobs=1, variant=None):
    """src/stage/inner_cv.rs mean_ua: a split that cannot be fitted scores 0."""
    total = 0.0
    for train, test in splits:
        try:
            pred, _ = fit_predict(spec, x[train], y[train], x[test], n_jobs, variant)
            total += metrics_compute(y[test], pred, n_classes)["ua"]
        except ValueError:
            total += 0.0
    return total / max(len(splits), 1)


def train_fold(spec, grid, x, y, speakers, train, test, columns, n_jobs, variant):
    """One fold of a train node: (predictions, seconds, notes, chosen grid point)."""
    started = time.perf_counter()
    chosen = None
    with threadpool_limits(limits=n_jobs):
        xs = x if columns is None else x[:, columns]
        x_train, y_train = xs[train], y[train]
        if grid is not None:
            points = grid_points(spec, grid["grid"])
            splits = inner_splits([speakers[i] for i in train], grid["folds"])
            n_classes = int(y_train.max()) + 1
            scores = [mean_ua(point, x_train, y_train, splits, n_classes, n_jobs, variant)
                      for point, _ in points]
            # The first point of the best score wins (ser: ties by grid order).
            best = max(range(len(points)), key=lambda i: (scores[i], -i))
            spec, chosen = points[best]
        pred, notes = fit_predict(spec, x_train, y_train, xs[test], n_jobs, variant)
    return pred, time.perf_counter() - started, notes, chosen


# ---------------------------------------------------------------- selection

def resolve_keep(keep, n_columns):
    """stages/select/src/lib.rs Keep::resolve: YAML int = count, float = fraction."""
    if isinstance(keep, bool):
        raise ValueError(f"keep must be a number, not {keep}")
    if isinstance(keep, int):
        k = keep
    else:
        f = float(keep) * n_columns
        k = int(np.floor(f + 0.5)) if f >= 0 else 0  # Rust f64::round, `as usize`
    return min(max(k, 1), max(n_columns, 1))


def anova_ranking(x, y):
    """Columns best first by ANOVA F (f_classif); non-finite -> 0, ties by index."""
    n_classes_present = len(np.unique(y))
    if n_classes_present < 2 or len(y) <= n_classes_present:
        scores = np.zeros(x.shape[1])
    else:
        with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores, _ = f_classif(x, y)
        scores = np.where(np.isfinite(scores), scores, 0.0)
    return sorted(range(x.shape[1]), key=lambda j: (-scores[j], j))


def speaker_kfold(k, speakers):
    """stages/evaluate/src/protocol.rs speaker_kfold: [set of test speakers]."""
    counts = Counter(speakers)
    if k < 2 or k > len(counts):
        raise ValueError(f"speaker_kfold needs 2 <= k ({k}) <= number of speakers ({len(counts)})")
    order = sorted(counts.items(), key=lambda t: (-t[1], t[0]))
    folds = [[0, set()] for _ in range(k)]
    for speaker, count in order:
        target = min(range(k), key=lambda i: (folds[i][0], i))
        folds[target][0] += count
        folds[target][1].add(speaker)
    return [f[1] for f in folds]


def backward_eliminate(ranked, params, score):
    """stages/select/src/wrapper.rs backward_eliminate, step for step."""
    chunks = max(int(params["chunks"]), 1)
    min_features = max(int(params["min_features"]), 1)
    tolerance = float(params["tolerance"])
    patience = max(int(params["patience"]), 1)
    current = list(ranked)
    current_score = score(current)
    evaluations = 1
    best = (current_score, list(current))
    path = [{"n_features": len(current), "score": current_score}]
    chunk_divisor = chunks
    misses = 0
    for _ in range(int(params["max_rounds"])):
        if len(current) <= min_features or misses >= patience:
            break
        removable = len(current) - min_features
        size = min(max(len(current) // chunk_divisor, 1), removable)
        groups = []
        for g in range(chunks):
            end = len(current) - g * size
            start = max(end - size, 0)
            if end > start and start >= len(current) - removable:
                groups.append((start, end))
        scored = []
        for g, (start, end) in enumerate(groups):
            subset = current[:start] + current[end:]
            scored.append((score(subset), g))
        evaluations += len(scored)
        if not scored:
            break
        candidate, g = max(scored, key=lambda t: (t[0], -t[1]))
        if candidate >= current_score - tolerance:
            start, end = groups[g]
            current = current[:start] + current[end:]
            current_score = candidate
            path.append({"n_features": len(current), "score": current_score})
            if current_score > best[0] or (current_score == best[0] and len(current) < len(best[1])):
                best = (current_score, list(current))
            misses = 0
        else:
            misses += 1
            chunk_divisor *= 2
    return {"selected": best[1], "score": best[0], "path": path, "evaluations": evaluations}


def selection_defaults(spec):
    spec = dict(spec or {})
    if spec.get("wrapper") is not None:
        w = dict(spec["wrapper"] or {})
        estimator, _ = model_defaults(w.get("estimator") or {"kind": "gaussian_nb"})
        search = {"chunks": 8, "min_features": 8, "tolerance": 0.0, "patience": 2,
                  "max_rounds": 60, **(w.get("search") or {})}
        spec["wrapper"] = {"estimator": estimator, "inner_folds": int(w.get("inner_folds", 3)),
                           "search": search}
    return spec


def select_fold(spec, x, y, speakers, n_classes, n_jobs):
    """src/stage/select.rs SelectStage::select on one training fold."""
    started = time.perf_counter()
    with threadpool_limits(limits=n_jobs):
        ranked = anova_ranking(x, y)
        if spec.get("filter") is not None:
            ranked = ranked[:resolve_keep(spec["filter"]["keep"], len(ranked))]
        info = None
        if spec.get("wrapper") is not None:
            w = spec["wrapper"]
            splits = inner_splits(speakers, w["inner_folds"])

            def score(columns):
                return mean_ua(w["estimator"], x[:, columns], y, splits, n_classes)

            info = backward_eliminate(ranked, w["search"], score)
            ranked = info["selected"]
    return ranked, info, time.perf_counter() - started


# ---------------------------------------------------------------- the matrix

def warm_up():
    """Import and run every model path once in a worker on tiny data."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 3)), np.arange(30) % 3
    for spec in ({"kind": "gaussian_nb", "var_smoothing": 1e-9},
                 {"kind": "logistic_regression", "alpha": 1.0, "max_iterations": 5}):
        fit_predict(spec, x, y, x)
    f_classif(x, y)
    return os.getpid()


def parallel_map(fn, tasks, workers):
    """Run tasks (tuples of args) over `workers` processes, in order."""
    if workers <= 1 or len(tasks) <= 1:
        return [fn(*t) for t in tasks]
    return Parallel(n_jobs=workers, backend="loky")(delayed(fn)(*t) for t in tasks)


def jaccard(a, b):
    a, b = set(a), set(b)
    return 1.0 if not a and not b else len(a & b) / len(a | b)


def main(args):
    t_start = time.perf_counter()
    pipeline_path = Path(args.pipeline)
    if not pipeline_path.exists() and (REPO / args.pipeline).exists():
        pipeline_path = REPO / args.pipeline
    args.pipeline = pipeline_path
    if args.ser is None:
        args.ser = str(REPO / "target" / "release" / "ser")
    pipeline = yaml.safe_load(pipeline_path.read_text())
    # `experiments` is one matrix or a list of them (src/config.rs); each
    # matrix keeps its own combinations, and a cell two matrices share is
    # run once, as ser's DAG does.
    exp = pipeline.get("experiments") or {}
    matrices = exp if isinstance(exp, list) else [exp]
    cells = []  # (features, selection, model, protocol), first-listed order
    for matrix in matrices:
        augments = matrix.get("augment", ["none"])
        if augments != ["none"]:
            print(f"skip the augmented cells of a matrix ({[a for a in augments if a != 'none']}): "
                  "the scikit-learn side has no augmentation", file=sys.stderr)
        if "none" not in augments:
            continue
        for f, s, m, p in itertools.product(
                matrix.get("features", []), matrix.get("selection", ["none"]),
                matrix.get("models", []), matrix.get("protocols", [])):
            keep = ((not args.only_features or f in args.only_features)
                    and (not args.only_selection or s in args.only_selection)
                    and (not args.only_models or m in args.only_models)
                    and (not args.only_protocols or p in args.only_protocols))
            if keep and (f, s, m, p) not in cells:
                cells.append((f, s, m, p))
    model_names = list(dict.fromkeys(c[2] for c in cells))
    selections = list(dict.fromkeys(c[1] for c in cells))
    models = {}
    for name in model_names:
        raw = (pipeline.get("models") or {}).get(name)
        if raw is None:
            print(f"skip model {name}: not defined under models", file=sys.stderr)
            continue
        raw = dict(raw)
        grid = None
        if "grid" in raw:
            grid = {"grid": raw.pop("grid"), "folds": int(raw.pop("grid_folds", 3))}
        spec, unknown = model_defaults(raw)
        if spec.get("kind") not in KNOWN_KINDS:
            print(f"skip model {name}: kind {spec.get('kind')!r} has no scikit-learn equivalent here",
                  file=sys.stderr)
            continue
        if unknown:
            print(f"model {name}: keys {sorted(unknown)} are not mapped (ignored)", file=sys.stderr)
        if spec["kind"] == "xgboost":
            try:
                import xgboost  # noqa: F401
            except ImportError:
                print(f"skip model {name}: xgboost is not installed (scripts/bench-deps.sh)",
                      file=sys.stderr)
                continue
        if grid is not None:
            try:
                grid_points(spec, grid["grid"])
            except ValueError as e:
                print(f"skip model {name}: {e}", file=sys.stderr)
                continue
        models[name] = (spec, grid)
    sel_specs = {}
    for s in selections:
        if s == "none":
            sel_specs[s] = None
        else:
            raw = (pipeline.get("selection") or {}).get(s)
            if raw is None:
                print(f"skip selection {s}: not defined under selection", file=sys.stderr)
                continue
            sel_specs[s] = selection_defaults(raw)
    cells = [c for c in cells if c[2] in models and c[1] in sel_specs]
    features = list(dict.fromkeys(c[0] for c in cells))
    protocols = list(dict.fromkeys(c[3] for c in cells))

    outputs, ser_metric_rows = ser_results(args)
    data = {}
    for f in features:
        path = outputs.get((f"extract:{f}", "features"))
        if path is None:
            sys.exit(f"sklearn_matrix: no features for {f} in `ser outputs` (run `ser run` first)")
        data[f] = read_features(path)
    folds = {}
    for p in protocols:
        path = outputs.get((f"folds:{p}", "folds"))
        if path is None:
            sys.exit(f"sklearn_matrix: no folds for {p} in `ser outputs` (run `ser run` first)")
        folds[p] = json.loads(Path(path).read_text())
    # Start the worker processes (and their imports) before timing, as
    # ser's thread pool exists before its nodes run.
    workers_max = min(args.threads, max((len(v) for v in folds.values()), default=1))
    if workers_max > 1:
        Parallel(n_jobs=workers_max, backend="loky")(delayed(warm_up)() for _ in range(workers_max))
    t_loaded = time.perf_counter()
    load_seconds = t_loaded - t_start

    threads = args.threads
    rows, select_rows = [], []
    matrix_seconds = 0.0
    extra_seconds = 0.0
    for p in protocols:
        for f in features:
            names, x, speakers, labels, ids = data[f]
            classes, y = class_indices(labels)
            n_classes = len(classes)
            fold_list = folds[p]
            splits = []
            for fold in fold_list:
                test_set = set(fold["test_speakers"])
                is_test = np.array([s in test_set for s in speakers])
                splits.append((fold["name"], np.flatnonzero(~is_test), np.flatnonzero(is_test)))
            workers = min(threads, len(splits))
            inner_jobs = max(1, threads // workers)
            for s, sel in sel_specs.items():
                cell_models = [m for m in models if (f, s, m, p) in cells]
                if not cell_models:
                    continue
                columns_by_fold = [None] * len(splits)
                if sel is not None:
                    node = f"select:{f}/{s}@{p}"
                    ser_sel = None
                    if not args.time_only or args.ser_selection:
                        path = outputs.get((node, "selected"))
                        if path is not None:
                            ser_sel = {fs["fold"]: fs for fs in json.loads(Path(path).read_text())["folds"]}
                        elif args.ser_selection:
                            sys.exit(f"sklearn_matrix: no ser selection for {node}")
                    started = time.perf_counter()
                    if args.ser_selection:
                        index = {n: j for j, n in enumerate(names)}
                        results = [([index[c] for c in ser_sel[name]["columns"]], None, 0.0)
                                   for name, _, _ in splits]
                    else:
                        tasks = [(sel, x[train], y[train], [speakers[i] for i in train], n_classes,
                                  inner_jobs) for _, train, _ in splits]
                        results = parallel_map(select_fold, tasks, workers)
                    seconds = time.perf_counter() - started
                    matrix_seconds += seconds
                    per_fold = []
                    for (name, _, _), (cols, info, fold_s) in zip(splits, results):
                        entry = {"fold": name, "n_columns": len(cols), "seconds": fold_s}
                        if info is not None:
                            entry["evaluations"] = info["evaluations"]
                            entry["inner_ua"] = info["score"]
                            entry["path"] = [st["n_features"] for st in info["path"]]
                        if ser_sel is not None and name in ser_sel:
                            ser_cols = ser_sel[name]["columns"]
                            entry["ser_n_columns"] = len(ser_cols)
                            entry["jaccard_with_ser"] = jaccard([names[c] for c in cols], ser_cols)
                            if ser_sel[name].get("wrapper"):
                                entry["ser_path"] = [st["n_features"] for st in ser_sel[name]["wrapper"]["path"]]
                                entry["ser_inner_ua"] = ser_sel[name]["wrapper"]["score"]
                        per_fold.append(entry)
                    columns_by_fold = [r[0] for r in results]
                    select_rows.append({"node": node, "features": f, "selection": s, "protocol": p,
                                        "seconds": seconds, "folds": per_fold})
                    print(f"{node}: {seconds:.2f} s, columns per fold "
                          f"{[e['n_columns'] for e in per_fold]}"
                          + (f" (ser {[e.get('ser_n_columns') for e in per_fold]},"
                             f" jaccard {[round(e.get('jaccard_with_ser', float('nan')), 2) for e in per_fold]})"
                             if ser_sel is not None else ""),
                          file=sys.stderr, flush=True)
                for m in cell_models:
                    spec, grid = models[m]
                    variants = [None]
                    if spec["kind"] == "svm" and not args.no_ovo:
                        variants.append("ovo")
                    for variant in variants:
                        experiment = f"{f}/{s}/{m}"
                        started = time.perf_counter()
                        # Once per train node, as ser's train stage does.
                        # `speaker_online` and `corpus` are not implemented
                        # here: such a cell times the same model on globally
                        # standardised features and is not compared.
                        xm = (speaker_normalised(x, speakers)
                              if spec.get("normalize", "global") == "speaker" else x)
                        tasks = [(spec, grid, xm, y, speakers, train, test, columns_by_fold[i],
                                  inner_jobs, variant)
                                 for i, (_, train, test) in enumerate(splits)]
                        results = parallel_map(train_fold, tasks, workers)
                        seconds = time.perf_counter() - started
                        if variant is None:
                            matrix_seconds += seconds
                        else:
                            extra_seconds += seconds
                        preds = [r[0] for r in results]
                        notes = sorted({n for r in results for n in r[2]})
                        truth = [y[test] for _, _, test in splits]
                        # evaluate's class list: labels and predictions seen.
                        eval_classes = len(classes)
                        mean, per_fold = evaluate([n for n, _, _ in splits], truth, preds, eval_classes)
                        row = {
                            "experiment": experiment + (f" [{variant}]" if variant else ""),
                            "features": f, "selection": s, "model": m, "kind": spec["kind"],
                            "variant": variant or ("ser-equivalent" if spec.get("normalize", "global")
                                                   in ("global", "speaker") else "global features"),
                            "protocol": p,
                            "sklearn": {**mean, "per_fold": per_fold},
                            "seconds": seconds, "notes": notes,
                            "spec": spec,
                            "grid_chosen": ([r[3] for r in results] if grid is not None else None),
                            "bound_points": BOUNDS[spec["kind"]],
                        }
                        ser_m = ser_metric_rows.get((experiment, p))
                        if ser_m is not None:
                            row["ser"] = {k: ser_m[k] for k in ("ua", "wa", "macro_f1", "n_test")}
                            row["diff_points"] = 100.0 * (mean["ua"] - ser_m["ua"])
                            stale = ser_spec_differs(outputs.get((f"train:{experiment}@{p}", "params")), spec)
                            if not stale and grid is not None and not ser_used_grid(
                                    outputs.get((f"train:{experiment}@{p}", "models"))):
                                stale = "no grid search"
                            if stale:
                                row["ser_stale"] = stale
                                row["notes"] = row["notes"] + [f"ser ran other params: {stale}"]
                            else:
                                row["within_bound"] = abs(row["diff_points"]) <= row["bound_points"]
                            ppath = outputs.get((f"train:{experiment}@{p}", "predictions"))
                            if ppath is not None:
                                row["agreement"] = prediction_agreement(ppath, splits, preds, classes, ids)
                        rows.append(row)
                        print_row(row, file=sys.stderr)
    t_end = time.perf_counter()
    timing = {
        "load_seconds": load_seconds,
        "matrix_seconds": matrix_seconds,
        "matrix_wall_seconds": t_end - t_loaded - extra_seconds,
        "total_wall_seconds": t_end - t_start - extra_seconds,
        "extra_ovo_seconds": extra_seconds,
        "threads": threads,
    }
    report(rows, select_rows, timing, args)
    if args.json_out:
        import sklearn
        import scipy
        meta = {
            "pipeline": str(pipeline_path), "ser": args.ser, "threads": threads,
            "time_only": args.time_only, "ser_selection": args.ser_selection,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "versions": {"python": sys.version.split()[0], "numpy": np.__version__,
                         "scipy": scipy.__version__, "sklearn": sklearn.__version__},
            "features": features, "selections": list(sel_specs), "models": list(models),
            "protocols": protocols, "cpu_count": os.cpu_count(),
        }
        Path(args.json_out).write_text(json.dumps(
            {"meta": meta, "timing": timing, "results": rows, "selections": select_rows},
            indent=1, default=float))
        print(f"wrote {args.json_out}", file=sys.stderr)
    bad = [r for r in rows if r["variant"] == "ser-equivalent" and r.get("within_bound") is False]
    return 1 if (args.strict and bad) else 0


def ser_spec_differs(params_path, spec):
    """Where the model spec ser's train node saved (its `params` output)
    differs from the one used here: ser's results are then stale, from a
    pipeline file other than this one. Empty string when they agree."""
    if params_path is None:
        return ""
    saved = json.loads(Path(params_path).read_text())
    saved_full, _ = model_defaults(saved)
    diffs = [f"{k}={saved_full.get(k)!r}" for k, v in spec.items()
             if k != "kind" and saved_full.get(k) != v]
    if saved.get("kind") != spec.get("kind"):
        diffs.insert(0, f"kind={saved.get('kind')}")
    return ", ".join(diffs)


def ser_used_grid(models_path):
    """Whether ser's train node searched a grid (its `models` output records
    the search per fold); True when there is nothing to check."""
    if models_path is None:
        return True
    folds = json.loads(Path(models_path).read_text()).get("folds", [])
    return bool(folds) and all(f.get("grid") for f in folds)


def prediction_agreement(path, splits, preds, classes, ids):
    """Fraction of test utterances where ser and scikit-learn predict the same label."""
    table = pq.read_table(path, columns=["id", "predicted"]).to_pydict()
    ser_pred = dict(zip(table["id"], table["predicted"]))
    same = total = 0
    for (_, _, test), pred in zip(splits, preds):
        for i, pc in zip(test, pred):
            sp = ser_pred.get(ids[i])
            if sp is not None:
                total += 1
                same += sp == classes[pc]
    return same / total if total else None


def print_row(row, file=sys.stdout):
    ser = row.get("ser")
    ser_ua = f"{100 * ser['ua']:6.2f}" if ser else "     -"
    diff = f"{row['diff_points']:+6.2f}" if "diff_points" in row else "     -"
    flag = ("ok" if row["within_bound"] else "OUT") if "within_bound" in row else (
        "stale" if row.get("ser_stale") else "-")
    if row["variant"] != "ser-equivalent":
        flag = f"({flag})"
    agree = f"{100 * row['agreement']:5.1f}%" if row.get("agreement") is not None else "     -"
    notes = ", ".join(row["notes"])
    print(f"{row['experiment'] + '@' + row['protocol']:<48} {ser_ua} {100 * row['sklearn']['ua']:6.2f} "
          f"{diff} {row['bound_points']:4.1f} {flag:>5} {agree} {row['seconds']:7.2f}  {notes}",
          file=file, flush=True)


def report(rows, select_rows, timing, args):
    print(f"\n{'experiment@protocol':<48} {'ser UA':>6} {'sk UA':>6} {'diff':>6} {'bound':>4} "
          f"{'flag':>5} {'agree':>6} {'fit s':>7}  notes")
    for row in rows:
        print_row(row)
    compared = [r for r in rows if r["variant"] == "ser-equivalent" and "within_bound" in r]
    if compared:
        ok = sum(r["within_bound"] for r in compared)
        mean_abs = sum(abs(r["diff_points"]) for r in compared) / len(compared)
        print(f"\n{ok}/{len(compared)} experiments within bound (2 points svm/logreg/gnb/knn, "
              f"3 rf/xgboost); mean |diff| {mean_abs:.2f} points")
        by_kind = {}
        for r in compared:
            by_kind.setdefault(r["kind"], []).append(r["diff_points"])
        for kind, diffs in sorted(by_kind.items()):
            print(f"  {kind:<20} mean diff {sum(diffs) / len(diffs):+6.2f}, "
                  f"max |diff| {max(abs(d) for d in diffs):5.2f} over {len(diffs)}")
    if select_rows:
        print("\nselect nodes (scikit-learn side):")
        for s in select_rows:
            jac = [e.get("jaccard_with_ser") for e in s["folds"]]
            jac_s = (" jaccard vs ser " + " ".join("-" if j is None else f"{j:.2f}" for j in jac)
                     if any(j is not None for j in jac) else "")
            print(f"  {s['node']:<40} {s['seconds']:7.2f} s  columns "
                  f"{[e['n_columns'] for e in s['folds']]}{jac_s}")
    print(f"\nscikit-learn matrix, {timing['threads']} thread(s): "
          f"{timing['matrix_wall_seconds']:.2f} s wall without data loading "
          f"(select + train nodes {timing['matrix_seconds']:.2f} s), "
          f"{timing['total_wall_seconds']:.2f} s with loading ({timing['load_seconds']:.2f} s: "
          f"ser outputs/metrics, Parquet, worker start); ovo extras {timing['extra_ovo_seconds']:.2f} s not included")


if __name__ == "__main__":
    sys.exit(main(ARGS))
