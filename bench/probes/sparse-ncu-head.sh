#!/usr/bin/env bash
# ncu on FlashMLA HEAD's sparse FP8 kernel and ours, same shape (V3.2, b 128, s_q 1, fp8-ds,
# h_q in $HEADS, default 64), same sections, one launch each, for a side-by-side of where the
# cycles go (issue, stalls, pipes, shared-memory and L1 traffic). Run after sparse-hopper-call.sh
# in the same call (it unpacks /tmp/flashmla and HEAD's package). Output: $OUT/ncu-{head,ours}-hN.txt.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
NCU=/usr/local/cuda/bin/ncu
HEAD_PKG=/tmp/flashmla-head/pkg
SECTIONS="--section SpeedOfLight --section WarpStateStats --section InstructionStats --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section SchedulerStats"
for h in ${HEADS:-64}; do
  timeout 120 $NCU --kernel-name regex:sparse --launch-skip 2 --launch-count 1 $SECTIONS \
    env PYTHONPATH=$HEAD_PKG python3 .device/head/bench_sparse.py --module flash_mla --only b=128,h_q=$h,s_q=1 \
    --iters 2 --warmup 1 > "$OUT/ncu-head-h$h.txt" 2>&1
  echo "ncu head h$h rc $?"
  timeout 120 $NCU --kernel-name regex:sm90_sparse --launch-skip 2 --launch-count 1 $SECTIONS \
    /tmp/flashmla bench --grid sparse-v32 --only b=128 --only s_q=1 --only h_q=$h --only kv_format=fp8-ds \
    --iterations 3 --warmup-ms 0 > "$OUT/ncu-ours-h$h.txt" 2>&1
  echo "ncu ours h$h rc $?"
  for who in head ours; do
    echo "--- $who h$h"
    grep -E "^\s+(Duration|Elapsed Cycles|SM Frequency|Executed Ipc A|Issue Slots Busy|No Eligible|Eligible Warps Per|Warp Cycles Per Issued|Executed Instructions  |Memory Throughput|L1/TEX Hit|Shared Memory|Mem Busy|Max Bandwidth|Mem Pipes Busy|Stall)" "$OUT/ncu-$who-h$h.txt" | head -30
  done
done
