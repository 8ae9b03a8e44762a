#!/usr/bin/env bash
# One device call: DeepSeek-V3.2 sparse decode beside FlashMLA HEAD (built here from the carried
# kit, bench/flashmla-head), then the whole dense grid as CUDA-graph replays beside FlashMLA's
# April-2025 build (the anchor), bf16 then fp16, each step bounded by DEADLINE.
#   head-build.txt   FlashMLA HEAD's build log and time
#   sparse.jsonl     bench_sparse.py: FlashMLA HEAD and ours (the Python drop-in), same inputs, --check
#   sparse-cli.jsonl `flashmla bench --grid sparse-v32` (ours, bench's timing)
#   pytest.txt       the Python tests (the drop-in on this GPU)
#   grid-bf16.jsonl, grid-fp16.jsonl  bench/interleave.py --graph, FlashMLA then ours
# Needs carried: .device/flashmla.xz, .device/anchor, .device/head, python/flashmla_swift/libFlashMLASwiftC.so.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
DEADLINE=${DEADLINE:-540}
python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" .device/flashmla.xz /tmp/flashmla && chmod +x /tmp/flashmla
export FLASHMLA_CACHE_DIR=$(mktemp -d) PYTHONUNBUFFERED=1
ROOT=$PWD
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv,noheader | tee "$OUT/log.txt"
# Our kernels compile while FlashMLA HEAD builds (NVRTC and nvcc on different cores).
(timeout 200 /tmp/flashmla compile > "$OUT/compile.txt" 2>&1) &
timeout 420 bash .device/head/build.sh > "$OUT/head-build.txt" 2>&1; echo "head build rc $?" | tee -a "$OUT/log.txt"
tail -3 "$OUT/head-build.txt"
wait
if [[ -d /tmp/flashmla-head/pkg/flash_mla ]]; then
  PYTHONPATH=/tmp/flashmla-head/pkg:$ROOT/python timeout 150 python3 .device/head/bench_sparse.py \
    --module flash_mla,flashmla_swift --impl flashmla-head,ours --check > "$OUT/sparse.jsonl" 2>> "$OUT/log.txt"
  echo "sparse bench rc $?" | tee -a "$OUT/log.txt"
fi
if (( SECONDS < DEADLINE - 60 )); then
  timeout 90 /tmp/flashmla bench --grid sparse-v32 --iterations 30 --json > "$OUT/sparse-cli.jsonl" 2>> "$OUT/log.txt"
  echo "sparse cli rc $?" | tee -a "$OUT/log.txt"
fi
if (( SECONDS < DEADLINE - 150 )); then
  (cd python && timeout 100 python3 -m pytest -q tests) > "$OUT/pytest.txt" 2>&1; echo "pytest rc $?" | tee -a "$OUT/log.txt"
  tail -3 "$OUT/pytest.txt"
fi
for dt in bf16 fp16; do
  left=$((DEADLINE - SECONDS)); (( left > 90 )) || { echo "skipped grid $dt (deadline)" | tee -a "$OUT/log.txt"; continue; }
  (cd .device/anchor && PYTHONPATH=$ROOT/python timeout $left python3 $ROOT/bench/interleave.py . --graph --rounds 1 --dtype $dt) \
    > "$OUT/grid-$dt.jsonl" 2>> "$OUT/log.txt"; echo "grid $dt rc $?" | tee -a "$OUT/log.txt"
done
python3 bench/sparse_summary.py "$OUT"
echo "elapsed ${SECONDS}s"
