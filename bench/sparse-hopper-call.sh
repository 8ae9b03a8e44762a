#!/usr/bin/env bash
# One device call for the Hopper sparse kernel (sm90/decode_sparse.cu): correctness first
# (check-sparse against the CPU reference, MODEL1 on the portable kernel), the three sanitizers
# on small sparse cases with line info, then V3.2's shapes beside FlashMLA HEAD (the carried
# build, or built here from the kit while the checks run), `flashmla bench --grid sparse-v32`
# for this build, for each of $VARIANTS (kernel options, ';' between variants, e.g.
# "-DFMLA_SPARSE_EXP=1;-DFMLA_SPARSE_EXP=2"; FMLA_SPARSE_EXP variants are timed, not checked) and for the carried previous build
# (.device/before.xz) if there is one, and the sparse pytest. The sanitizers also run on
# bench/probes/sparse-multi-piece-grid.json (workers with several pieces). VARIANT_ONLY narrows the variants'
# rows, SANITIZE_CASES the sanitized cache formats and head counts, SKIP_MODEL1 drops the MODEL1 check.
# Each step is bounded; logs go to $OUT, a short table is printed last.
# Needs carried: .device/flashmla.xz, .device/head, python/flashmla_swift/libFlashMLASwiftC.so.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
unxz() { python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" "$1" "$2" && chmod +x "$2"; }
unxz .device/flashmla.xz /tmp/flashmla
[[ -f .device/before.xz ]] && unxz .device/before.xz /tmp/flashmla-before
export FLASHMLA_CACHE_DIR=$(mktemp -d) PYTHONUNBUFFERED=1
ROOT=$PWD
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,driver_version --format=csv,noheader | tee "$OUT/log.txt"
HEAD_PKG=/tmp/flashmla-head/pkg
if [[ -f .device/head/pkg.tar.gz ]]; then
  mkdir -p $HEAD_PKG && tar -xzf .device/head/pkg.tar.gz -C $HEAD_PKG && echo "head: carried build" | tee -a "$OUT/log.txt"
else
  (timeout 420 bash .device/head/build.sh > "$OUT/head-build.txt" 2>&1; echo "head build rc $?" >> "$OUT/log.txt") &
fi
B=/tmp/flashmla
IFS=';' read -ra VARS <<< "${VARIANTS:-}"
# Fail fast: one small case a cache format, or the kernel hangs and nothing below is worth its time.
for c in fp8-ds:64 native:64 fp8-ds:128; do
  fmt=${c%%:*} heads=${c##*:}
  if ! timeout 30 $B check-sparse --cases 1 --seed 3 --max-topk 200 --heads $heads --mode sparse --format $fmt > /tmp/smoke.txt 2>&1; then
    echo "smoke $fmt h$heads failed or hung (rc $?)" | tee -a "$OUT/log.txt"; cat /tmp/smoke.txt; exit 3
  fi
done
{
  echo "== compile"; timeout 120 $B compile 2>&1 | grep -E "sm90/decode_sparse|failure"
  echo "== check-sparse (automatic: sm90-sparse)"; timeout 60 $B check-sparse --cases 60 --seed 11 2>&1 | tail -4
  echo "== check-sparse fp8-ds h128 sparse"; timeout 45 $B check-sparse --cases 12 --seed 12 --heads 128 --format fp8-ds --mode sparse 2>&1 | tail -3
  echo "== check-sparse fp8-ds h100 (a pair with a part-filled tile)"; timeout 45 $B check-sparse --cases 8 --seed 16 --heads 100 --format fp8-ds 2>&1 | tail -3
  echo "== check-sparse native h64 sparse p64"; timeout 45 $B check-sparse --cases 12 --seed 13 --heads 64 --format native --mode sparse --page-size 64 2>&1 | tail -3
  echo "== check-sparse fp8-ds fp16 (the FP8 → fp16 kernels, single and pair)"; timeout 45 $B check-sparse --cases 12 --seed 17 --format fp8-ds --dtype fp16 --mode sparse 2>&1 | tail -3
  echo "== check-sparse fp8-ds long topk"; timeout 60 $B check-sparse --cases 6 --seed 14 --max-topk 4096 --heads 64 --format fp8-ds --mode sparse 2>&1 | tail -3
  for v in "${VARS[@]}"; do
    [[ $v == *FMLA_SPARSE_EXP* ]] && continue                 # timing probes: wrong results on purpose
    echo "== check-sparse variant $v"; FLASHMLA_KERNEL_OPTIONS="$v" timeout 60 $B check-sparse --cases 30 --seed 15 2>&1 | tail -1
  done
  [[ -n "${SKIP_MODEL1:-}" ]] || { echo "== check-sparse model1 (portable)"; timeout 60 $B check-sparse --format model1 --cases 10 --seed 1 2>&1 | tail -3; }
} > "$OUT/checks.txt" 2>&1
grep -E "==|pass|fail|FAIL|error|worst" "$OUT/checks.txt" | head -40
SAN=/usr/local/cuda/bin/compute-sanitizer
# SANITIZE_CASES: format:heads pairs (heads 128 on fp8-ds runs the pair kernel, a two-block cluster).
for tool in memcheck racecheck synccheck; do
  for c in ${SANITIZE_CASES:-fp8-ds:64 fp8-ds:128 native:64}; do
    fmt=${c%%:*} heads=${c##*:}
    FLASHMLA_KERNEL_OPTIONS=-lineinfo timeout 70 $SAN --tool $tool --print-limit 4 --error-exitcode 9 \
      $B check-sparse --cases 1 --seed 21 --max-topk 192 --heads $heads --mode sparse --format $fmt > /tmp/san.txt 2>&1
    echo "== $tool $fmt h$heads rc $?"; grep -v "^ok\|^check" /tmp/san.txt | head -40
  done
done > "$OUT/sanitize.txt" 2>&1
# Workers with several pieces (more requests than SMs; the pair's 66 clusters): a request's rows
# leave through its last block's stage, which the producer refills for the next piece only after
# `out_free` (D80). One timed call of each configuration of the grid, under each tool.
for tool in memcheck racecheck synccheck; do
  FLASHMLA_KERNEL_OPTIONS=-lineinfo timeout 100 $SAN --tool $tool --print-limit 4 --error-exitcode 9 \
    $B bench --grid bench/probes/sparse-multi-piece-grid.json --iterations 1 --json > /tmp/san.txt 2>&1
  echo "== $tool multi-piece rc $?"; grep -v "^{\|^\[" /tmp/san.txt | head -40
done >> "$OUT/sanitize.txt" 2>&1
grep -E "^==|SUMMARY" "$OUT/sanitize.txt"
timeout 90 $B bench --grid sparse-v32 --iterations 30 --json > "$OUT/sparse-cli.jsonl" 2>> "$OUT/log.txt"; echo "sparse cli rc $?" | tee -a "$OUT/log.txt"
for v in "${VARS[@]}"; do
  # VARIANT_ONLY: bench --only filters for the variants' rows (e.g. "--only b=128 --only s_q=1").
  FLASHMLA_KERNEL_OPTIONS="$v" timeout 90 $B bench --grid sparse-v32 ${VARIANT_ONLY:-} --iterations 30 --json 2>> "$OUT/log.txt" \
    | sed "s/^{/{\"variant\": \"$v\", /" >> "$OUT/sparse-cli-variant.jsonl"
  echo "sparse cli variant $v rc $?" | tee -a "$OUT/log.txt"
done
if [[ -x /tmp/flashmla-before ]]; then
  timeout 90 /tmp/flashmla-before bench --grid sparse-v32 --iterations 30 --json > "$OUT/sparse-cli-before.jsonl" 2>> "$OUT/log.txt"
  echo "sparse cli before rc $?" | tee -a "$OUT/log.txt"
fi
for i in $(seq 1 60); do [[ -d $HEAD_PKG/flash_mla ]] && grep -q "head build rc\|carried" "$OUT/log.txt" && break; sleep 5; done
if [[ -d $HEAD_PKG/flash_mla ]]; then
  PYTHONPATH=$HEAD_PKG:$ROOT/python timeout 180 python3 .device/head/bench_sparse.py \
    --module flash_mla,flashmla_swift --impl flashmla-head,ours --check > "$OUT/sparse.jsonl" 2>> "$OUT/log.txt"
  echo "sparse bench rc $?" | tee -a "$OUT/log.txt"
  [[ -f .device/head/pkg.tar.gz ]] || tar -czf "$OUT/head-pkg.tar.gz" -C $HEAD_PKG flash_mla
fi
(cd python && timeout 120 python3 -m pytest -q tests/test_model1.py tests/test_sparse_and_sink.py) > "$OUT/pytest.txt" 2>&1
echo "pytest rc $?" | tee -a "$OUT/log.txt"; tail -2 "$OUT/pytest.txt"
python3 bench/sparse_summary.py "$OUT"
echo "elapsed ${SECONDS}s"
