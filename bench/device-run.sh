#!/usr/bin/env bash
# One device call: build nothing (the static flashmla binary travels in .device/), then
# info, compile, correctness, and the grid timed beside FlashMLA on the same card.
# Usage on the device machine: bash bench/device-run.sh [check-cases] [what...]
#   what: any of info compile check gridcheck sanitize bench (default: all)
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
BIN=$PWD/.device/flashmla
ANCHOR=$PWD/.device/anchor
CASES=${1:-300}; shift || true
WHAT=${*:-info compile check gridcheck sanitize bench}
export FLASHMLA_CACHE_DIR=/tmp/flashmla-cache
has() { [[ " $WHAT " == *" $1 "* ]]; }
status=0
step() { echo "== $*" >&2; }

nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv | tee "$OUT/gpu.txt"
if has info; then step info; $BIN info 2>&1 | tee "$OUT/info.txt"; fi
if has compile; then
  step compile
  $BIN compile --arch sm_90a 2>&1 | tee "$OUT/compile.txt" || status=1
fi
if has check; then
  step "check $CASES cases"
  $BIN check --backend cuda --cases "$CASES" > "$OUT/check.txt" 2>&1 || status=1
  grep -E "FAIL|worst|passed|rror" "$OUT/check.txt" | tail -20
fi
if has gridcheck; then
  step "check every grid configuration (bf16)"
  $BIN check --backend cuda --grid "$ANCHOR/grid.json" --dtype bf16 --sample-rows 24 > "$OUT/gridcheck.txt" 2>&1 || status=1
  grep -E "FAIL|worst|passed|rror" "$OUT/gridcheck.txt" | tail -20
fi
if has sanitize; then
  for tool in memcheck racecheck synccheck; do
    step "compute-sanitizer $tool"
    compute-sanitizer --tool $tool --error-exitcode 9 $BIN check --backend cuda --cases 3 --token-budget 20000 --seed 7 \
      > "$OUT/sanitize-$tool.txt" 2>&1 || { status=1; echo "$tool FAILED"; }
    grep -E "ERROR SUMMARY|passed" "$OUT/sanitize-$tool.txt" | tail -2
  done
fi
if has bench; then
  step "bench: ours"
  $BIN bench --grid "$ANCHOR/grid.json" --json > "$OUT/ours.jsonl" 2> "$OUT/ours.err" || status=1
  step "bench: FlashMLA"
  (cd "$ANCHOR" && python3 bench_grid.py) > "$OUT/flashmla.jsonl" 2> "$OUT/flashmla.err" || status=1
  python3 bench/compare.py "$OUT/ours.jsonl" "$OUT/flashmla.jsonl" | tee "$OUT/compare.txt"
fi
exit $status
