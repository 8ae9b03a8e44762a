#!/usr/bin/env bash
# One device call that checks the GPU sparse decode and attention sinks (issue 18), then runs
# compute-sanitizer's four tools on the sparse kernels (16-bit and 656-byte FP8 caches) and on dense decodes with a sink.
# Needs .device/flashmla.gz. Writes $OUT/sparse.txt and $OUT/sanitize.txt; prints a table.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
gunzip -kf .device/flashmla.gz && chmod +x .device/flashmla
BIN=$PWD/.device/flashmla
export FLASHMLA_CACHE_DIR=$(mktemp -d)
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/sparse.txt"
run() {   # run SECONDS LABEL COMMAND...
  local limit=$1 label=$2; shift 2
  echo "== $label" >> "$OUT/sparse.txt"
  timeout "$limit" "$@" >> "$OUT/sparse.txt" 2>&1; echo "   rc $?" >> "$OUT/sparse.txt"
  printf '%-64s %s\n' "$label" "$(tail -2 "$OUT/sparse.txt" | head -1)"
}
run 150 "random 60 cases seed 1" $BIN check-sparse --cases 60 --seed 1
run 90 "h_q 128, topk up to 16384, 8 cases" $BIN check-sparse --cases 8 --heads 128 --max-topk 16384 --seed 2
run 60 "h_q 64, fp8-ds, topk up to 4096, 8 cases" $BIN check-sparse --cases 8 --heads 64 --format fp8-ds --mode sparse --max-topk 4096 --seed 3
run 60 "dense with sink, 12 cases" $BIN check-sparse --cases 12 --mode dense --seed 4
run 60 "PDL=0, 12 cases" env FLASHMLA_PDL=0 $BIN check-sparse --cases 12 --seed 5
SAN=/usr/local/cuda/bin/compute-sanitizer
for cfg in "--mode sparse --format native --heads 64 --seed 11" "--mode sparse --format fp8-ds --heads 128 --seed 12" "--mode dense --seed 13"; do
  for tool in memcheck racecheck synccheck initcheck; do
    echo "== $tool $cfg" >> "$OUT/sanitize.txt"
    timeout 100 $SAN --tool $tool --print-limit 20 $BIN check-sparse --cases 3 --max-topk 400 $cfg >> "$OUT/sanitize.txt" 2>&1
    echo "   rc $?" >> "$OUT/sanitize.txt"
    printf '%-64s %s\n' "$tool $cfg" "$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|cases passed' "$OUT/sanitize.txt" | tail -2 | tr '\n' ' ')"
  done
done
echo "elapsed ${SECONDS}s"
