#!/usr/bin/env python3
"""harness.c's work through xgboost's Python package: 100 rounds of
pipeline.yaml's `xgb` on each fold file, one thread."""
import sys
import time

import numpy as np
import xgboost as xgb

total = 0.0
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        n, p = np.fromfile(f, np.int32, 2)
        x = np.fromfile(f, np.float32, n * p).reshape(n, p)
        y = np.fromfile(f, np.float32, n)
    t0 = time.perf_counter()
    d = xgb.DMatrix(x, label=y, nthread=1)
    params = {"objective": "multi:softprob", "num_class": 8, "max_depth": 4, "eta": 0.1,
              "subsample": 0.8, "colsample_bytree": 0.5, "seed": 0, "tree_method": "hist",
              "nthread": 1, "verbosity": 0}
    xgb.train(params, d, 100)
    total += time.perf_counter() - t0
print(f"total {total:.2f} s (xgboost {xgb.__version__} from Python)")
