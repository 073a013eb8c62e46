#!/usr/bin/env bash
# A CUDA 13.0 toolkit for building `--features xgboost-gpu` on a machine
# without one, assembled from NVIDIA's own wheels on PyPI (Debian 12 packages
# CUDA 11.8, and XGBoost 3.4 needs 12.9 or later). Compiling needs no GPU.
#
#   bash scripts/cuda-toolkit.sh [PREFIX]     # default /opt/cuda-13.0
#   ln -sfn PREFIX /usr/local/cuda           # where the build looks (or CUDACXX=PREFIX/bin/nvcc)
#   CUDAARCHS=90 cargo build --release --features xgboost-gpu
#
# CUDAARCHS names the GPUs to compile for (90: H100/H200; 80: A100;
# `80;90` both); without it XGBoost compiles for every architecture it
# supports, several times longer. The wheels: nvcc (with cudafe++, ptxas,
# fatbinary, nvlink), cicc (nvvm), the runtime (headers, cudart_static),
# CCCL (Thrust, CUB, libcu++), NVTX and the crt headers.
set -euo pipefail

prefix="${1:-/opt/cuda-13.0}"
wheels="$(mktemp -d)"
trap 'rm -rf "$wheels"' EXIT

python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$wheels" \
    --platform manylinux_2_27_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux_2_17_x86_64 --python-version 3.11 \
    "nvidia-cuda-nvcc==13.0.88" "nvidia-nvvm==13.0.88" "nvidia-cuda-runtime==13.0.96" \
    "nvidia-cuda-cccl==13.0.85" "nvidia-nvtx==13.0.85" "nvidia-cuda-crt==13.0.88"

unpacked="$wheels/unpacked"
mkdir -p "$unpacked"
for wheel in "$wheels"/*.whl; do
    python3 -m zipfile -e "$wheel" "$unpacked"
done
mkdir -p "$prefix"
cp -a "$unpacked"/nvidia/cu13/. "$prefix"/
chmod +x "$prefix"/bin/* "$prefix"/nvvm/bin/*
# The layout nvcc and CMake's FindCUDAToolkit expect: lib64, unversioned
# shared libraries, libnvvm under nvvm/lib64.
ln -sfn lib "$prefix/lib64"
ln -sf libcudart.so.13 "$prefix/lib/libcudart.so"
ln -sf libnvvm.so.4 "$prefix/lib/libnvvm.so"
mkdir -p "$prefix/nvvm/lib64"
ln -sf ../../lib/libnvvm.so.4 "$prefix/nvvm/lib64/libnvvm.so.4"
ln -sf libnvvm.so.4 "$prefix/nvvm/lib64/libnvvm.so"
"$prefix/bin/nvcc" --version | tail -2
