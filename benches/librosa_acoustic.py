#!/usr/bin/env python3
"""librosa side of `cargo bench --bench extract`: the acoustic feature set in one process.

Usage: librosa_acoustic.py OUT.parquet AUDIO_FILE...
       librosa_acoustic.py --load-only AUDIO_FILE...

Does, per file, the same work as `ser extract --set acoustic`:
  y, _ = librosa.load(path, sr=16000, mono=True, res_type="soxr_hq")
  lld = acoustic_lld(y)          # 129 frame-level descriptors
  row = functionals(lld)         # 645 functionals: mean/std/min/max/range
with acoustic_lld() and functionals() taken unchanged from
../shared/tools/make_reference.py (imported by path; it imports opensmile at
top level, so opensmile must be installed: scripts/bench-deps.sh).

Writes one Parquet row per file, a `file` column (the file stem) first, then
the 645 functionals as float64. Prints, on its last stdout line,
`librosa_acoustic: N files, work loop X.XXX s` (the loop alone, without
interpreter start-up and imports, which the caller's wall time includes).

With --load-only it only runs the `librosa.load` of every file (libsndfile's
decoder and soxr_hq: librosa's share of the floor that decoding and
resampling put under any implementation) and prints
`librosa_acoustic: N files, load loop X.XXX s`.
"""
import importlib.util
import os
import sys
import time
from pathlib import Path

REFERENCE = Path(__file__).resolve().parent.parent / ".." / "shared" / "tools" / "make_reference.py"


def load_reference():
    spec = importlib.util.spec_from_file_location("make_reference", REFERENCE)
    if spec is None or spec.loader is None:
        sys.exit(f"librosa_acoustic: cannot import {REFERENCE}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: librosa_acoustic.py OUT.parquet AUDIO_FILE...")
    out, files = sys.argv[1], sys.argv[2:]
    if out == "--load-only":
        import librosa
        started = time.perf_counter()
        for path in files:
            librosa.load(path, sr=16000, mono=True, res_type="soxr_hq")
        elapsed = time.perf_counter() - started
        print(f"librosa_acoustic: {len(files)} files, load loop {elapsed:.3f} s", flush=True)
        return
    try:
        import librosa
        import pandas as pd
        ref = load_reference()
    except ImportError as e:
        sys.exit(f"librosa_acoustic: {e}; run scripts/bench-deps.sh")

    started = time.perf_counter()
    rows = []
    for path in files:
        fid = os.path.splitext(os.path.basename(path))[0]
        y, _ = librosa.load(path, sr=ref.SR, mono=True, res_type="soxr_hq")
        lld = ref.acoustic_lld(y)
        rows.append({"file": fid, **ref.functionals(lld)})
    table = pd.DataFrame(rows)
    table.to_parquet(out, index=False)
    elapsed = time.perf_counter() - started
    print(f"librosa_acoustic: {len(files)} files, work loop {elapsed:.3f} s", flush=True)


if __name__ == "__main__":
    main()
