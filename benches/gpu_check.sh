#!/bin/bash
# One GPU check, prepared for a lent device machine (not run yet: on 2026-12-04 the loan was
# withdrawn before the first call): XGBoost's cells of benches/xgboost.yaml with `device: gpu`
# (issue 28), cold, then alone twice (model digests kept, to check determinism), then on the
# machine's CPU cores; then the two networks of gpu_deep.yaml not yet run on a GPU
# (gpu_deep_rest.yaml, issue 27) until DEEP_SECONDS (finished folds are cached).
#
# Expects, beside the repository (the corpus is too large to travel with the binary, so a
# first call carries target/gpu-data and a second, within the machine's warm period, the rest):
#   target/gpu-data/corpus16k   RAVDESS at 16 kHz (sox -D IN -C 8 -r 16000 -b 16 OUT rate -v)
#   target/gpu-data/ravdess.json  ../shared/protocols/ravdess.json
#   target/gpu-bin/ser.xz       `cargo build --release --features xgboost-gpu,gpu` (CUDAARCHS=90),
#                               stripped, xz -9e; libsoxr.so.0 and libgomp.so.1 beside it
#   .gl/                        the Vulkan/GL loader .debs (the device tool's README)
# and writes its logs to $OUT. Run from the repository root.
set -u
B=/tmp/ser-bin; mkdir -p $B
{ xz -dc target/gpu-bin/ser.xz 2>/dev/null || python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open('target/gpu-bin/ser.xz'), sys.stdout.buffer)"; } > $B/ser && chmod +x $B/ser || exit 1
ldd $B/ser | grep -q "not found" && export LD_LIBRARY_PATH=$PWD/target/gpu-bin
ldd $B/ser
export PATH=$B:$PATH
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; nproc; ser --version; } 2>&1 | tee $OUT/machine.txt
S=$PWD/target/gpu-data
ls $S/corpus16k | wc -l
X="-p benches/xgboost.yaml --corpus $S/corpus16k --set protocols.emobox_6fold.path=$S/ravdess.json --cache-dir /tmp/xc"
t() { local s=$EPOCHREALTIME; "$@"; local rc=$?; echo "WALL $(awk "BEGIN{print $EPOCHREALTIME - $s}") s rc=$rc: $*"; }
# 1. cold: ingest, extract egemaps + acoustic, XGBoost on the GPU
t ser run $X --set models.xgb.device=gpu > $OUT/xgb.log 2>&1
tail -4 $OUT/xgb.log
ser outputs $X --set models.xgb.device=gpu train > $OUT/outputs.txt 2>&1
# 2. the XGBoost cells alone on the GPU (features cached), twice
for i in 1 2; do
  rm -rf /tmp/xc/records/train /tmp/xc/records/evaluate
  t ser run $X --set models.xgb.device=gpu >> $OUT/xgb.log 2>&1
  tail -4 $OUT/xgb.log
  ser outputs $X --set models.xgb.device=gpu train >> $OUT/outputs.txt 2>&1
done
# 3. the same cells on the CPU, all 16 cores
rm -rf /tmp/xc/records/train /tmp/xc/records/evaluate
t ser run $X >> $OUT/xgb.log 2>&1
tail -4 $OUT/xgb.log
ser metrics $X > $OUT/metrics_cpu.txt 2>&1
ser metrics $X --set models.xgb.device=gpu > $OUT/metrics_gpu.txt 2>&1
cat $OUT/metrics_gpu.txt $OUT/metrics_cpu.txt
# 4. deep networks on the GPU until the deadline (finished folds are cached); wgpu needs Vulkan
if ! ldconfig -p | grep -q libvulkan; then for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; fi
[ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
D="-p benches/gpu_deep_rest.yaml --corpus $S/corpus16k --set protocols.emobox_6fold.path=$S/ravdess.json --cache-dir /tmp/xc --progress-every 20"
t timeout -s TERM ${DEEP_SECONDS:-300} ser run $D --threads 12 > $OUT/deep.log 2>&1
tail -30 $OUT/deep.log
ser metrics $D >> $OUT/deep.log 2>&1
