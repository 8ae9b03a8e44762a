#!/usr/bin/env bash
# The sparse kernel's fixed cost, variant by variant (VARIANTS, ';' between kernel options): for
# each, check-sparse (skipped for the first, the committed kernel), the role trace of V3.2's
# b 128, s_q 1 rows (first block, pieces' ends) and `flashmla bench --grid sparse-v32` on the
# fp8-ds rows. Needs carried: .device/flashmla.xz.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" .device/flashmla.xz /tmp/flashmla && chmod +x /tmp/flashmla
export FLASHMLA_CACHE_DIR=$(mktemp -d)
B=/tmp/flashmla
IFS=';' read -ra VARS <<< "${VARIANTS:-}"
i=0
for v in "${VARS[@]}"; do
  d="$OUT/v$i"; mkdir -p "$d"; echo "== variant $i: $v" | tee -a "$OUT/summary.txt"
  if (( i > 0 )); then
    { FLASHMLA_KERNEL_OPTIONS="$v" timeout 60 $B check-sparse --cases 30 --seed 51 | tail -1
      FLASHMLA_KERNEL_OPTIONS="$v" timeout 40 $B check-sparse --cases 8 --seed 52 --heads 128 --format fp8-ds --mode sparse | tail -1
      FLASHMLA_KERNEL_OPTIONS="$v" timeout 40 $B check-sparse --cases 8 --seed 53 --format fp8-ds --dtype fp16 --mode sparse | tail -1
      FLASHMLA_KERNEL_OPTIONS="$v" timeout 40 $B check-sparse --cases 8 --seed 54 --heads 64 --format native --mode sparse | tail -1; } 2>&1 | tee -a "$OUT/summary.txt"
  fi
  OUT="$d" BASE_OPTS="$v" ROWS="64:fp8-ds 128:fp8-ds" bash bench/probes/sparse-trace.sh 2>&1 | grep -v "^NVIDIA\|elapsed" | tee -a "$OUT/summary.txt"
  FLASHMLA_KERNEL_OPTIONS="$v" timeout 90 $B bench --grid sparse-v32 --only kv_format=fp8-ds --iterations 30 --json > "$d/cli.jsonl" 2>> "$OUT/log.txt"
  python3 -c "
import json, sys
for l in open(sys.argv[1]):
    if l.startswith('{'): r = json.loads(l); print('  cli b', r['b'], 's_q', r['s_q'], 'h_q', r['h_q'], 'ms', r['ms'])" "$d/cli.jsonl" | tee -a "$OUT/summary.txt"
  i=$((i + 1))
done
echo "elapsed ${SECONDS}s"
