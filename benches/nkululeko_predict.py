#!/usr/bin/env python3
"""nkululeko side of the `ser predict` benchmark: nkululeko's own prediction
of emotions for new audio files from a saved eGeMAPS + SVM model.

Run it with the python of the nkululeko virtualenv (scripts/bench-deps.sh,
target/nkululeko-venv):

  target/nkululeko-venv/bin/python benches/nkululeko_predict.py \
      --corpus ../shared/corpora/ravdess --work target/nkululeko-work \
      --files LIST.txt --one FILE.flac --out RESULT.json [--mode infer|predict]

How a user of nkululeko 1.14 does it, and what this script runs (every step a
fresh `python -m nkululeko.<module>` subprocess, as from the shell):

  1. train (once; cached in --work, not timed):
       python -m nkululeko.nkululeko --config WORK/exp.ini
     exp.ini: FEATS type = ['os'] (openSMILE eGeMAPSv02 functionals),
     scale = standard, MODEL type = svm, EXP save = True (the default),
     trained on RAVDESS actors 1-20, tested on actors 21-24.
  2. export the saved experiment as a bundle (once, not timed):
       python -m nkululeko.bundle --config WORK/exp.ini --output WORK/bundle
  3. predict (timed):
     --mode infer (default), the bundle inference entry point:
       python -m nkululeko.infer WORK/bundle --file ONE.flac        (cold start)
       python -m nkululeko.infer WORK/bundle --list files.csv --outfile out.csv
     --mode predict, the unified predict module (replaces nkululeko.demo,
     which 1.14 no longer has):
       python -m nkululeko.predict --config WORK/predict.ini --type model
           --list files.csv --outfile out.csv --restart
     predict.ini is exp.ini with FEATS type = ['opensmile']: 1.14.1's
     predict.py maps extractor names by substring and does not know the
     training name 'os' ("unknown feature extractor: os"); both set
     [EXP] res_name, so the saved experiment's file name does not depend
     on that spelling. Note that this
     path scales each sample by its own mean/std instead of the saved
     StandardScaler, so its predictions differ from the trained model's
     (the accuracy field shows it); infer applies the saved scaler.

Threads: every subprocess gets OMP/MKL/OPENBLAS/NUMEXPR/VECLIB_NUM_THREADS and
torch's thread count = --threads (default 2), and the bundle's inference.ini
gets [MODEL] n_jobs = --threads (nkululeko's default 8 is the number of
openSMILE workers audinterface runs on the files).

Cold start: the `--one` file predicted --cold-runs times (default 3), each in
a fresh process (interpreter start + imports + model load + one file);
minimum and median wall time. Throughput: one fresh process over all --files;
wall time including start-up. The output CSV must have one row per file with
a non-empty `predicted`, else the script exits 1.

--out JSON: version, mode, threads, cold_start_s {runs, min, median},
files, wall_s, files_per_s, command (throughput argv), cold_command,
accuracy (against the RAVDESS emotion code of each file name, where it
parses), predictions {file stem: label}, train {...}.
"""
import argparse
import configparser
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}
TEST_ACTORS = {21, 22, 23, 24}
EXP_NAME = "egemaps_svm"


def ravdess_fields(path):
    """(emotion, actor) from a RAVDESS file name, or None."""
    parts = Path(path).stem.split("-")
    if len(parts) != 7 or parts[2] not in EMOTIONS:
        return None
    try:
        return EMOTIONS[parts[2]], int(parts[6])
    except ValueError:
        return None


def thread_env(threads):
    env = dict(os.environ)
    for var in (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "TORCH_NUM_THREADS",
    ):
        env[var] = str(threads)
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["PYTHONWARNINGS"] = "ignore"
    return env


def run(cmd, env, log_path, cwd):
    """Run cmd, stdout+stderr to log_path; return wall seconds. Exit on failure."""
    with open(log_path, "w") as log:
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = Path(log_path).read_text(errors="replace")[-3000:]
        sys.exit(f"nkululeko_predict: {' '.join(cmd)} failed ({proc.returncode}):\n{tail}")
    return wall


def write_data_csvs(corpus, work):
    rows = {"train": [], "test": []}
    for path in sorted(Path(corpus).glob("Actor_*/*.flac")):
        fields = ravdess_fields(path)
        if fields is None:
            continue
        emotion, actor = fields
        split = "test" if actor in TEST_ACTORS else "train"
        gender = "male" if actor % 2 else "female"
        rows[split].append((str(path.resolve()), emotion, f"actor{actor:02d}", gender))
    if not rows["train"] or not rows["test"]:
        sys.exit(f"nkululeko_predict: no RAVDESS files under {corpus}/Actor_*/*.flac")
    for split, split_rows in rows.items():
        with open(work / f"{split}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["file", "emotion", "speaker", "gender"])
            w.writerows(split_rows)
    return {k: len(v) for k, v in rows.items()}


def exp_config(work, threads, feats_type="os"):
    c = configparser.ConfigParser()
    c["EXP"] = {"root": str(work / "exp") + "/", "name": EXP_NAME, "runs": "1",
                "epochs": "1", "save": "True",
                # fixed result name, so that predict.ini (other FEATS.type
                # spelling) finds the experiment and model exp.ini saved
                "res_name": EXP_NAME}
    c["DATA"] = {
        "databases": "['train', 'test']",
        "train": str(work / "train.csv"), "train.type": "csv",
        "train.absolute_path": "True", "train.split_strategy": "train",
        "test": str(work / "test.csv"), "test.type": "csv",
        "test.absolute_path": "True", "test.split_strategy": "test",
        "target": "emotion",
        "labels": str(list(EMOTIONS.values())),
    }
    c["FEATS"] = {"type": f"['{feats_type}']", "set": "eGeMAPSv02", "scale": "standard"}
    c["MODEL"] = {"type": "svm", "save": "True", "n_jobs": str(threads)}
    return c


def write_ini(config, path):
    with open(path, "w") as f:
        config.write(f)


def train(args, work, env):
    """Train + export the bundle once; reuse when exp.ini is unchanged."""
    counts = write_data_csvs(args.corpus, work)
    ini = work / "exp.ini"
    config = exp_config(work, args.threads)
    from io import StringIO
    buf = StringIO()
    config.write(buf)
    stamp = work / "trained.stamp"
    bundle = work / "bundle"
    if stamp.exists() and stamp.read_text() == buf.getvalue() and (bundle / "manifest.json").exists():
        info = json.loads((work / "train.json").read_text())
        info["cached"] = True
        return info
    write_ini(config, ini)
    # predict.py's extractor name for the same openSMILE features (see top).
    write_ini(exp_config(work, args.threads, feats_type="opensmile"), work / "predict.ini")
    py = sys.executable
    train_s = run([py, "-m", "nkululeko.nkululeko", "--config", str(ini)], env,
                  work / "train.log", work)
    bundle_s = run([py, "-m", "nkululeko.bundle", "--config", str(ini), "--output", str(bundle)],
                   env, work / "bundle.log", work)
    result = ""
    for line in (work / "train.log").read_text(errors="replace").splitlines():
        if "UAR:" in line and "ACC:" in line:
            result = line.strip()
    info = {"train_files": counts["train"], "test_files": counts["test"],
            "train_s": round(train_s, 1), "bundle_s": round(bundle_s, 1),
            "test_result": result[-200:], "cached": False}
    (work / "train.json").write_text(json.dumps(info, indent=1))
    stamp.write_text(buf.getvalue())
    return info


def set_bundle_threads(bundle, threads):
    ini = bundle / "inference.ini"
    c = configparser.ConfigParser()
    c.read(ini)
    if "MODEL" not in c:
        c.add_section("MODEL")
    c["MODEL"]["n_jobs"] = str(threads)
    write_ini(c, ini)


def write_list(files, path):
    with open(path, "w") as f:
        f.write("file\n")
        for p in files:
            f.write(os.path.abspath(p) + "\n")


def predict_cmd(args, work, list_csv, out_csv):
    py = sys.executable
    if args.mode == "infer":
        return [py, "-m", "nkululeko.infer", str(work / "bundle"),
                "--list", str(list_csv), "--outfile", str(out_csv)]
    return [py, "-m", "nkululeko.predict", "--config", str(work / "predict.ini"),
            "--type", "model", "--list", str(list_csv), "--outfile", str(out_csv),
            "--restart"]


def cold_cmd(args, work):
    if args.mode == "infer":
        return [sys.executable, "-m", "nkululeko.infer", str(work / "bundle"),
                "--file", os.path.abspath(args.one)]
    # predict --file writes <name>_result.txt next to the audio (the
    # corpus), so the single file goes through --list into --work instead.
    one_csv = work / "one.csv"
    write_list([args.one], one_csv)
    return predict_cmd(args, work, one_csv, work / "one_pred.csv")


def read_predictions(out_csv):
    """{absolute file: predicted label} from nkululeko's output CSV."""
    preds = {}
    with open(out_csv, newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            label = (row.get("predicted") or "").strip()
            if label:
                preds[row["file"]] = label
    return preds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True, help="RAVDESS folder with Actor_NN/*.flac")
    ap.add_argument("--work", required=True, help="scratch folder for the experiment")
    ap.add_argument("--files", required=True, help="text file: audio paths, one per line")
    ap.add_argument("--one", required=True, help="one file for the cold-start runs")
    ap.add_argument("--out", required=True, help="result JSON")
    ap.add_argument("--mode", choices=["infer", "predict"], default="infer")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cold-runs", type=int, default=3)
    args = ap.parse_args()

    import nkululeko
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = thread_env(args.threads)

    train_info = train(args, work, env)
    set_bundle_threads(work / "bundle", args.threads)

    files = [l.strip() for l in open(args.files) if l.strip()]
    if not files:
        sys.exit(f"nkululeko_predict: no files in {args.files}")

    # Cold start.
    cold_command = cold_cmd(args, work)
    cold = []
    for i in range(args.cold_runs):
        if args.mode == "predict":
            (work / "one_pred.csv").unlink(missing_ok=True)
        cold.append(run(cold_command, env, work / f"cold{i}.log", work))
    if args.mode == "infer":
        out = (work / f"cold{args.cold_runs - 1}.log").read_text(errors="replace")
        if "\tpredicted: " not in out:
            sys.exit(f"nkululeko_predict: no prediction in cold-start output:\n{out[-2000:]}")

    # Throughput.
    list_csv, out_csv = work / "files.csv", work / "predictions.csv"
    write_list(files, list_csv)
    out_csv.unlink(missing_ok=True)
    command = predict_cmd(args, work, list_csv, out_csv)
    wall = run(command, env, work / "predict.log", work)

    preds = read_predictions(out_csv)
    wanted = {os.path.abspath(p) for p in files}
    missing = wanted - set(preds)
    if len(wanted) != len(files) or missing or len(preds) != len(wanted):
        sys.exit(f"nkululeko_predict: {len(preds)} predictions for {len(files)} files "
                 f"({len(missing)} missing, e.g. {sorted(missing)[:3]})")

    def accuracy(actors=None):
        scored = [(ravdess_fields(f), label) for f, label in preds.items()]
        scored = [(fields[0], label) for fields, label in scored
                  if fields and (actors is None or fields[1] in actors)]
        if not scored:
            return None, 0
        return round(sum(t == p for t, p in scored) / len(scored), 4), len(scored)

    result = {
        "version": nkululeko.__version__,
        "mode": args.mode,
        "threads": args.threads,
        "cold_start_s": {"runs": [round(x, 3) for x in cold],
                         "min": round(min(cold), 3),
                         "median": round(statistics.median(cold), 3)},
        "files": len(files),
        "wall_s": round(wall, 3),
        "files_per_s": round(len(files) / wall, 3),
        "command": command,
        "cold_command": cold_command,
        # against the file names' emotion codes: all files, and only the
        # held-out actors 21-24 (the training run's own test set)
        "accuracy": accuracy()[0],
        "accuracy_test_actors": dict(zip(("acc", "files"), accuracy(TEST_ACTORS))),
        "predictions": {Path(f).stem: label for f, label in sorted(preds.items())},
        "train": train_info,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    summary = {k: v for k, v in result.items() if k not in ("predictions", "command", "cold_command")}
    print("nkululeko_predict: " + json.dumps(summary))


if __name__ == "__main__":
    main()
