#!/usr/bin/env bash
# XGBoost libraries timed against each other on the same work (issue 28;
# docs/performance.md, "Classic matrix against scikit-learn"): the static
# library ser's build made, the xgboost wheel's libxgboost.so, and any other
# XGBoost CMake build folders given, each linked into harness.c, then the
# wheel from Python; all take the acoustic functionals' six emobox_6fold
# training matrices, one thread, one fold after another, in alternating rounds.
#
#   bash benches/xgboost_builds/run.sh [--cache-dir C] [--rounds N] [BUILD_DIR ...]
#
# Needs a cache where pipeline.yaml's extract:acoustic has run, gcc, and the
# bench's Python (scripts/bench-deps.sh). A BUILD_DIR is a CMake build of
# XGBoost's source with -DBUILD_STATIC_LIB=ON -DKEEP_BUILD_ARTIFACTS_IN_BINARY_DIR=ON.
# The ones docs/performance.md reports, with ser's flags (-march=x86-64, -O3):
#   src=~/.cargo/registry/src/*/xgboost_lib-sys-3.4.0/xgboost      # ser's 3.4.1
#   cmake -G Ninja -S $src -B /tmp/xgb-native -DCMAKE_BUILD_TYPE=Release \
#     -DBUILD_STATIC_LIB=ON -DKEEP_BUILD_ARTIFACTS_IN_BINARY_DIR=ON \
#     -DCMAKE_CXX_FLAGS="-ffunction-sections -fdata-sections -fPIC -m64 -march=native" \
#     -DCMAKE_CXX_FLAGS_RELEASE="-O3 -DNDEBUG" && ninja -C /tmp/xgb-native
#   XGBoost 3.2.0: the same with -march=x86-64 and -S at the cpp_src folder of
#   `pip download xgboost==3.2.0 --no-binary :all: --no-deps` (the sdist).
#   Clang 22: CC/CXX scripts running `python -m ziglang cc|c++` (pip install
#   ziglang), -march=x86_64 and -DUSE_OPENMP=OFF; link harness.c with zig c++.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/benches/xgboost_builds
cache=() rounds=2 builds=()
while [ $# -gt 0 ]; do
  case $1 in
    --cache-dir) cache=(--cache-dir "$2"); shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) builds+=("$1"); shift ;;
  esac
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"
features=$(SER_NO_PROGRESS=1 target/release/ser outputs "${cache[@]}" | awk -F'\t' '$1 == "extract:acoustic" && $2 == "features" {print $3}')
[ -n "$features" ] || { echo "run.sh: no acoustic feature table in the cache (ser run first)" >&2; exit 1; }
python3 "$here/folds.py" "$features" ../shared/protocols/ravdess.json "$work"
include=$(ls -d ~/.cargo/registry/src/*/xgboost_lib-sys-3.4.0/xgboost/include | head -1)
link() {  # name, static build folder with lib/ and libdmlc.a somewhere in it
  gcc -O2 -I"$include" "$here/harness.c" -o "$work/$1" "$2/lib/libxgboost.a" \
    "$(find "$2" -name libdmlc.a | head -1)" -lstdc++ -fopenmp -lm -lpthread
}
# ser's own: the newest library the release build linked.
ser_lib=$(ls -td target/release/build/xgboost_lib-sys-*/out | head -1)
link ser "$ser_lib"
names=(ser)
wheel=$(python3 -c 'import os, xgboost; print(os.path.dirname(xgboost.__file__))')/lib
gcc -O2 -I"$include" "$here/harness.c" -o "$work/wheel_so" -L"$wheel" -lxgboost -Wl,-rpath,"$wheel" -lm
names+=(wheel_so)
i=0
for b in "${builds[@]}"; do i=$((i + 1)); link "build$i" "$b"; names+=("build$i"); echo "build$i: $b"; done
echo "ser: $ser_lib; wheel_so: $wheel/libxgboost.so"
for r in $(seq "$rounds"); do
  for n in "${names[@]}"; do printf '%-9s round %s: ' "$n" "$r"; "$work/$n" "$work"/fold*.bin; done
  printf '%-9s round %s: ' python "$r"; python3 "$here/wheel.py" "$work"/fold*.bin
done
