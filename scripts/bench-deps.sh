#!/usr/bin/env bash
# Install the Python packages the benchmarks' Python sides need:
# `cargo bench --bench extract` (benches/librosa_acoustic.py) and the
# scikit-learn check of the model matrix (benches/sklearn_matrix.py):
#
#   librosa     load + resample (soxr_hq) and the acoustic feature set
#   soxr        librosa's soxr_hq resampler (normally pulled in by librosa)
#   soundfile   FLAC decoding behind librosa.load
#   opensmile   imported at top level by ../shared/tools/make_reference.py,
#               whose acoustic_lld() and functionals() the benchmark calls
#   pandas      the feature tables
#   pyarrow     writing / reading the Parquet outputs
#   numpy, scipy, scikit-learn   sklearn_matrix.py: the models and selection
#   pyyaml      sklearn_matrix.py: reading pipeline.yaml
#   xgboost-cpu sklearn_matrix.py: models of kind xgboost (CPU-only wheel of
#               XGBoost; imports as `xgboost`)
#   torch       `cargo bench --bench deep` (benches/torch_deep.py): PyTorch's
#               training speed beside ser's. Installed from PyTorch's CPU-only
#               index (no CUDA wheels); where that host is unreachable, from
#               PyPI (the default build, which pulls the nvidia-* wheels).
#               Also benches/torch_cnn2d_ravdess.py (issue 27's PyTorch cnn2d).
#   dvc[s3]     `cargo bench --bench remote`: DVC 3 beside `ser push`/`pull`.
#               In its own virtualenv (target/dvc-venv), since its S3 stack
#               pins botocore versions the tests' moto server may not want.
#   nkululeko   `cargo bench --bench predict` (benches/nkululeko_predict.py):
#               nkululeko 1.14.1's bundle inference beside `ser predict`. In
#               its own virtualenv (target/nkululeko-venv): its dependency
#               accelerate pulls torch (the CPU build where PyTorch's index
#               is reachable, else PyPI's, about 7 GB with CUDA wheels).
#
# Idempotent: only packages whose module does not import are installed; with
# everything importable it changes nothing. The interpreter is $PYTHON
# (default python3), the same one the benchmark runs.
set -euo pipefail

PYTHON=${PYTHON:-python3}

# Each entry: "pip-package:import-name".
REQUIREMENTS=(
    "librosa:librosa"
    "soxr:soxr"
    "soundfile:soundfile"
    "opensmile:opensmile"
    "pandas:pandas"
    "pyarrow:pyarrow"
    "numpy:numpy"
    "scipy:scipy"
    "scikit-learn:sklearn"
    "pyyaml:yaml"
    "xgboost-cpu:xgboost"
)

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "bench-deps.sh: '$PYTHON' not found (set PYTHON to a Python 3 interpreter)" >&2
    exit 1
fi

missing=()
for req in "${REQUIREMENTS[@]}"; do
    package=${req%%:*}
    module=${req#*:}
    "$PYTHON" -c "import $module" >/dev/null 2>&1 || missing+=("$package")
done

# torch comes from its own index, so it is handled apart from the list above.
need_torch=false
"$PYTHON" -c "import torch" >/dev/null 2>&1 || need_torch=true

# DVC in a virtualenv of its own (see above).
DVC_VENV="$(dirname "$0")/../target/dvc-venv"
if [[ ! -x "$DVC_VENV/bin/dvc" ]]; then
    echo "bench-deps.sh: installing dvc[s3] into $DVC_VENV"
    "$PYTHON" -m venv "$DVC_VENV"
    "$DVC_VENV/bin/pip" install --quiet "dvc[s3]>=3,<4"
fi

# nkululeko in a virtualenv of its own (see above).
NKULULEKO_VERSION=${NKULULEKO_VERSION:-1.14.1}
NKULULEKO_VENV="$(dirname "$0")/../target/nkululeko-venv"
if ! { [[ -x "$NKULULEKO_VENV/bin/python" ]] && "$NKULULEKO_VENV/bin/python" -c \
    "import sys, nkululeko, opensmile; sys.exit(nkululeko.__version__ != '$NKULULEKO_VERSION')" \
    >/dev/null 2>&1; }; then
    echo "bench-deps.sh: installing nkululeko==$NKULULEKO_VERSION into $NKULULEKO_VENV"
    "$PYTHON" -m venv "$NKULULEKO_VENV"
    "$NKULULEKO_VENV/bin/pip" install --quiet --upgrade pip
    "$NKULULEKO_VENV/bin/python" -c "import torch" >/dev/null 2>&1 ||
        "$NKULULEKO_VENV/bin/pip" install --quiet --retries 1 --timeout 15 torch \
            --index-url https://download.pytorch.org/whl/cpu ||
        echo "bench-deps.sh: PyTorch's CPU index failed; torch comes from PyPI" >&2
    "$NKULULEKO_VENV/bin/pip" install --quiet "nkululeko==$NKULULEKO_VERSION"
    "$NKULULEKO_VENV/bin/python" -c "import nkululeko, nkululeko.infer, opensmile"
fi

if ((${#missing[@]} == 0)) && ! $need_torch; then
    echo "bench-deps.sh: all Python packages import ($("$PYTHON" --version 2>&1)); nothing to do"
    exit 0
fi

if ((${#missing[@]} > 0)); then
    echo "bench-deps.sh: installing ${missing[*]} for $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m pip install --quiet "${missing[@]}"
fi

if $need_torch; then
    echo "bench-deps.sh: installing torch (CPU build) for $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m pip install --quiet --retries 1 torch \
        --index-url https://download.pytorch.org/whl/cpu ||
        {
            echo "bench-deps.sh: PyTorch's CPU index failed; installing torch from PyPI" >&2
            "$PYTHON" -m pip install --quiet torch
        }
fi

# Check that the install gave us what the checks above look for.
for req in "${REQUIREMENTS[@]}" "torch:torch"; do
    module=${req#*:}
    "$PYTHON" -c "import $module" >/dev/null 2>&1 || {
        echo "bench-deps.sh: installed, but 'import $module' still fails:" >&2
        "$PYTHON" -c "import $module" >&2 || true
        exit 1
    }
done
echo "bench-deps.sh: done"
