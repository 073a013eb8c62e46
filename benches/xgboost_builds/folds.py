#!/usr/bin/env python3
"""Write the six emobox_6fold training matrices of a ser feature table as
binary files for harness.c: int32 rows, int32 columns, float32 X (row-major,
standardised on the fold as ser's train stage does), float32 labels.

    python3 folds.py FEATURES.parquet PROTOCOLS.json OUT_DIR
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import sklearn_matrix as sm  # noqa: E402

features, protocols, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
_, x, speakers, labels, _ = sm.read_features(features)
_, y = sm.class_indices(labels)
speaker = np.array([int(s) for s in speakers])
for k, test in enumerate(json.load(open(protocols))["emobox_6fold"]["test_actors"]):
    train = ~np.isin(speaker, test)
    xt = x[train]
    sd = xt.std(0)
    sd[sd == 0] = 1
    xt = ((xt - xt.mean(0)) / sd).astype(np.float32)
    with open(out / f"fold{k}.bin", "wb") as f:
        np.array(xt.shape, dtype=np.int32).tofile(f)
        xt.tofile(f)
        y[train].astype(np.float32).tofile(f)
