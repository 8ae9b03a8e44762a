#!/usr/bin/env bash
# Where the Hopper sparse kernel's time goes: V3.2's b = 128 rows timed with parts of the kernel
# switched off (FMLA_SPARSE_EXP: 1 no math, 2 no cache reads, 3 no FP8 conversion; timing only,
# the results are wrong on purpose), then ncu on the default kernel (speed of light, memory,
# warp states, stall sampling by line). Needs carried: .device/flashmla.xz.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" .device/flashmla.xz /tmp/flashmla && chmod +x /tmp/flashmla
export FLASHMLA_CACHE_DIR=$(mktemp -d)
B=/tmp/flashmla
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,driver_version --format=csv,noheader | tee "$OUT/log.txt"
timeout 30 $B check-sparse --cases 2 --seed 3 --max-topk 200 --heads 64 --mode sparse --format fp8-ds 2>&1 | tail -1 | tee -a "$OUT/log.txt"
for e in 0 1 2 3; do
  FLASHMLA_KERNEL_OPTIONS="-DFMLA_SPARSE_EXP=$e" timeout 90 $B bench --grid sparse-v32 --only b=128 --only s_q=1 \
    --iterations 30 --json 2>> "$OUT/log.txt" | sed "s/^{/{\"exp\": $e, /" >> "$OUT/exp.jsonl"
done
python3 - "$OUT/exp.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
t = {}
for r in rows: t.setdefault((r["h_q"], r["kv_format"]), {})[r["exp"]] = r["ms"]
print("h_q kv_format | full | no math | no reads | no convert  (ms, b=128 s_q=1)")
for k, v in sorted(t.items()): print(k, " | ".join(f"{v.get(e, float('nan')):.4f}" for e in range(4)))
PY
NCU=/usr/local/cuda/bin/ncu
for fmt in fp8-ds native; do
  FLASHMLA_KERNEL_OPTIONS=-lineinfo timeout 150 $NCU --kernel-name regex:sm90_sparse --launch-skip 3 --launch-count 1 \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats \
    --section SourceCounters --section LaunchStats \
    $B bench --grid sparse-v32 --only b=128 --only s_q=1 --only h_q=64 --only kv_format=$fmt --iterations 3 --warmup-ms 0 > "$OUT/ncu-$fmt.txt" 2>&1
  echo "ncu $fmt rc $?"
  grep -E "Duration|Memory Throughput|DRAM Throughput|Compute \(SM\)|Shared.*Bank|Issue Slots Busy|No Eligible|Active Warps Per|Eligible Warps|Stall|L1/TEX Hit|L2 Hit|Bank Conflicts" "$OUT/ncu-$fmt.txt" | head -30
done
echo "elapsed ${SECONDS}s"
