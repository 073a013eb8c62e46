#!/usr/bin/env python3
"""openSMILE side of `cargo bench --bench gemaps`: eGeMAPSv02 functionals.

Usage: opensmile_egemaps.py SIGNAL_DIR --workers N [--out OUT.json]

SIGNAL_DIR holds what the benchmark wrote once with ser_ingest::load_signal:
  signals.f32   every 16 kHz mono signal, float32 little-endian, back to back
  index.tsv     one line per signal: file stem, offset and length in samples

Per signal it calls what openSMILE's Python wrapper offers for the task:

  smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                          feature_level=opensmile.FeatureLevel.Functionals)
  smile.process_signal(x, 16000)        # one row of 88 functionals

Only the processing loop is timed: the signals are loaded and the Smile
object built (and called once on the first signal, as a warm-up) before
the clock starts. With --workers 1 the loop runs in this process; with
--workers N > 1 it runs in a fork-based multiprocessing pool of N
processes, each of which builds its own Smile and warms it up before the
clock starts (the signals are inherited through fork, only indices and the
88 values per file cross the pipes), openSMILE's best parallel case.

--out writes the functionals as JSON: {"columns": [...], "files": [...],
"values": [[...], ...]}, rows in index order.

The last stdout line is `opensmile_egemaps: ` followed by a JSON object:
files, workers, loop_s (the timed loop), peak_rss (ru_maxrss of this
process and, with a pool, the largest of its workers, in bytes).
"""
import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time

import numpy as np

SR = 16000

# Set in the parent before a pool forks, so the workers inherit them.
SIGNALS = []
SMILE = None


def load(signal_dir):
    data = np.fromfile(os.path.join(signal_dir, "signals.f32"), dtype="<f4")
    stems, signals = [], []
    with open(os.path.join(signal_dir, "index.tsv"), encoding="utf-8") as f:
        for line in f:
            stem, offset, length = line.rstrip("\n").split("\t")
            offset, length = int(offset), int(length)
            stems.append(stem)
            signals.append(data[offset:offset + length])
    return stems, signals


def make_smile():
    import opensmile

    return opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.Functionals,
    )


def worker_init(ready):
    global SMILE
    SMILE = make_smile()
    SMILE.process_signal(SIGNALS[0], SR)  # warm-up, outside the clock
    ready.release()


def worker_run(i):
    return i, SMILE.process_signal(SIGNALS[i], SR).to_numpy()[0]


def worker_rss(_):
    time.sleep(0.05)  # keep each worker busy so every one answers
    return os.getpid(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("signal_dir")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out")
    args = ap.parse_args()

    global SIGNALS
    try:
        smile = make_smile()
    except ImportError as e:
        sys.exit(f"opensmile_egemaps: {e}; run scripts/bench-deps.sh")
    stems, SIGNALS = load(args.signal_dir)
    columns = list(smile.feature_names)
    values = [None] * len(SIGNALS)
    rss_kib = 0

    if args.workers <= 1:
        smile.process_signal(SIGNALS[0], SR)  # warm-up, outside the clock
        started = time.perf_counter()
        for i, x in enumerate(SIGNALS):
            values[i] = smile.process_signal(x, SR).to_numpy()[0]
        loop_s = time.perf_counter() - started
    else:
        ctx = mp.get_context("fork")
        ready = ctx.Semaphore(0)
        with ctx.Pool(args.workers, initializer=worker_init, initargs=(ready,)) as pool:
            for _ in range(args.workers):
                ready.acquire()
            started = time.perf_counter()
            for i, row in pool.imap_unordered(worker_run, range(len(SIGNALS)), chunksize=4):
                values[i] = row
            loop_s = time.perf_counter() - started
            seen = dict(pool.map(worker_rss, range(4 * args.workers), chunksize=1))
            rss_kib = max(seen.values(), default=0)

    rss_kib = max(rss_kib, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "columns": columns,
                    "files": stems,
                    "values": [[float(v) for v in row] for row in values],
                },
                f,
            )
    summary = {
        "files": len(SIGNALS),
        "workers": args.workers,
        "loop_s": loop_s,
        "peak_rss": rss_kib * 1024,
    }
    print("opensmile_egemaps: " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
