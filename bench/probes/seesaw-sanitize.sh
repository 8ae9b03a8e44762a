#!/usr/bin/env bash
# The closing checks of a change that routes more rows to the seesaw kernel (about six minutes):
# `check --cases $CASES` with the build's defaults, then memcheck, synccheck and racecheck on the
# seesaw kernel forced, each on a few random cases and on $SANITIZE_GRID (default
# probes/lockstep-sanitize-grid.json: 16 and 64 rows a KV head, partial pages, causal s_q 2, workers
# with many pieces). Needs carried: .device/flashmla.xz.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" .device/flashmla.xz /tmp/flashmla && chmod +x /tmp/flashmla
export FLASHMLA_CACHE_DIR=$(mktemp -d)
B=/tmp/flashmla; SAN=/usr/local/cuda/bin/compute-sanitizer; GRID=${SANITIZE_GRID:-bench/probes/lockstep-sanitize-grid.json}
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv,noheader | tee "$OUT/log.txt"
timeout 240 $B check --backend cuda --cases ${CASES:-300} --seed 95 2>&1 | tail -2 | tee "$OUT/checks.txt"
echo "[${SECONDS}s] checked"
for tool in memcheck synccheck racecheck; do
  FLASHMLA_KERNEL=sm90-seesaw timeout 120 $SAN --tool $tool --print-limit 4 --error-exitcode 9 \
    $B check --backend cuda --cases 2 --token-budget 6000 --seed 7 > /tmp/san.txt 2>&1
  echo "== $tool sm90-seesaw random rc $? (${SECONDS}s)"; grep -E "SUMMARY|passed|FAIL|Error|Hazard" /tmp/san.txt | head -6
  FLASHMLA_KERNEL=sm90-seesaw timeout ${GRID_TIMEOUT:-150} $SAN --tool $tool --print-limit 4 --error-exitcode 9 \
    $B check --backend cuda --grid "$GRID" --dtype bf16 > /tmp/san.txt 2>&1
  echo "== $tool sm90-seesaw grid rc $? (${SECONDS}s)"; grep -E "SUMMARY|passed|FAIL|Error|Hazard" /tmp/san.txt | head -6
done 2>&1 | tee "$OUT/sanitize.txt"
echo "elapsed ${SECONDS}s"
