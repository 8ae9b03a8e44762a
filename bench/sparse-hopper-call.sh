#!/usr/bin/env bash
# One device call for the Hopper sparse kernel (sm90/decode_sparse.cu): correctness first
# (check-sparse against the CPU reference, the portable kernel forced for comparison, a dense
# check), the three sanitizers on small sparse cases, then V3.2's shapes beside FlashMLA HEAD
# (built here from the carried kit while the checks run) and `flashmla bench --grid sparse-v32`.
# Each step is bounded; logs go to $OUT, a short table is printed last.
# Needs carried: .device/flashmla.xz, .device/head, python/flashmla_swift/libFlashMLASwiftC.so.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" .device/flashmla.xz /tmp/flashmla && chmod +x /tmp/flashmla
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
# Fail fast: one small sparse case, or the sparse kernel hangs and nothing below is worth its time.
if ! timeout 30 $B check-sparse --cases 1 --seed 3 --max-topk 128 --heads 64 --mode sparse > "$OUT/smoke.txt" 2>&1; then
  echo "smoke case failed or hung (rc $?)" | tee -a "$OUT/log.txt"; cat "$OUT/smoke.txt"; exit 3
fi
{
  echo "== compile"; timeout 120 $B compile 2>&1 | grep -E "sparse|failure" | grep -v sm80
  echo "== check-sparse (automatic: sm90-sparse)"; timeout 60 $B check-sparse --cases 60 --seed 11 2>&1 | tail -4
  echo "== check-sparse fp8-ds h128 sparse"; timeout 45 $B check-sparse --cases 12 --seed 12 --heads 128 --format fp8-ds --mode sparse 2>&1 | tail -3
  echo "== check-sparse native h64 sparse p64"; timeout 45 $B check-sparse --cases 12 --seed 13 --heads 64 --format native --mode sparse --page-size 64 2>&1 | tail -3
  echo "== check-sparse sm80 forced"; FLASHMLA_KERNEL=sm80 timeout 45 $B check-sparse --cases 12 --seed 11 2>&1 | tail -3
  echo "== dense check"; timeout 90 $B check --cases 20 --seed 5 2>&1 | tail -3
  echo "== check-sparse model1 (portable)"; timeout 60 $B check-sparse --format model1 --cases 20 --seed 1 2>&1 | tail -3
  echo "== check-sparse model1 h128 extra 512/64"; timeout 45 $B check-sparse --format model1 --cases 6 --heads 128 --max-topk 128 --page-size 256 --extra-topk 512 --extra-page-size 64 2>&1 | tail -3
  echo "== check-sparse model1 extra 1024/2 sink"; timeout 45 $B check-sparse --format model1 --cases 6 --heads 64 --max-topk 128 --page-size 256 --extra-topk 1024 --extra-page-size 2 --sink yes 2>&1 | tail -3
} > "$OUT/checks.txt" 2>&1
cat "$OUT/checks.txt" | grep -E "==|pass|fail|FAIL|error|worst" | head -40
SAN=/usr/local/cuda/bin/compute-sanitizer
for tool in memcheck racecheck synccheck; do
  timeout 60 $SAN --tool $tool --error-exitcode 9 $B check-sparse --cases 2 --seed 21 --max-topk 192 --heads 64 --mode sparse --format fp8-ds > "$OUT/san-$tool.txt" 2>&1
  echo "sanitizer $tool fp8-ds rc $?" | tee -a "$OUT/log.txt"; grep -E "ERROR SUMMARY|hazard" "$OUT/san-$tool.txt" | tail -2
  timeout 45 $SAN --tool $tool --error-exitcode 9 $B check-sparse --cases 1 --seed 22 --max-topk 130 --heads 128 --mode sparse --format native > "$OUT/san-$tool-native.txt" 2>&1
  echo "sanitizer $tool native rc $?" | tee -a "$OUT/log.txt"; grep -E "ERROR SUMMARY|hazard" "$OUT/san-$tool-native.txt" | tail -2
done
timeout 45 $SAN --tool memcheck --error-exitcode 9 $B check-sparse --format model1 --cases 2 --max-topk 256 --extra-topk 128 --extra-page-size 2 > "$OUT/san-model1.txt" 2>&1
echo "sanitizer memcheck model1 rc $?" | tee -a "$OUT/log.txt"; grep -E "ERROR SUMMARY" "$OUT/san-model1.txt" | tail -1
timeout 90 $B bench --grid sparse-v32 --iterations 30 --json > "$OUT/sparse-cli.jsonl" 2>> "$OUT/log.txt"; echo "sparse cli rc $?" | tee -a "$OUT/log.txt"
for i in $(seq 1 60); do [[ -d $HEAD_PKG/flash_mla ]] && grep -q "head build rc\|carried" "$OUT/log.txt" && break; sleep 5; done
if [[ -d $HEAD_PKG/flash_mla ]]; then
  PYTHONPATH=$HEAD_PKG:$ROOT/python timeout 180 python3 .device/head/bench_sparse.py \
    --module flash_mla,flashmla_swift --impl flashmla-head,ours --check > "$OUT/sparse.jsonl" 2>> "$OUT/log.txt"
  echo "sparse bench rc $?" | tee -a "$OUT/log.txt"
  [[ -f .device/head/pkg.tar.gz ]] || tar -czf "$OUT/head-pkg.tar.gz" -C $HEAD_PKG flash_mla
fi
(cd python && timeout 90 python3 -m pytest -q -x tests/test_model1.py tests/test_sparse_and_sink.py) > "$OUT/pytest.txt" 2>&1
echo "pytest rc $?" | tee -a "$OUT/log.txt"; tail -2 "$OUT/pytest.txt"
python3 bench/sparse_summary.py "$OUT"
echo "elapsed ${SECONDS}s"
