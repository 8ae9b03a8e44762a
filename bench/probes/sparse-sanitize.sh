#!/usr/bin/env bash
# compute-sanitizer racecheck and synccheck on the Hopper sparse kernel with line info
# (FLASHMLA_KERNEL_OPTIONS=-lineinfo plus $EXTRA, e.g. EXTRA=-DFMLA_SPARSE_REGS=192,160,152), the first
# reports of each kept; then the sparse Python tests.
# Needs carried: .device/flashmla.xz, python/flashmla_swift/libFlashMLASwiftC.so.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" .device/flashmla.xz /tmp/flashmla && chmod +x /tmp/flashmla
export FLASHMLA_CACHE_DIR=$(mktemp -d) PYTHONUNBUFFERED=1
B=/tmp/flashmla; SAN=/usr/local/cuda/bin/compute-sanitizer
# The variant's results first (a hang shows here, bounded).
FLASHMLA_KERNEL_OPTIONS="${EXTRA:-}" timeout 60 $B check-sparse --cases 30 --seed 7 2>&1 | tail -1 | tee "$OUT/check.txt"
for tool in racecheck synccheck; do
  for fmt in fp8-ds native; do
    FLASHMLA_KERNEL_OPTIONS="-lineinfo ${EXTRA:-}" timeout 70 $SAN --tool $tool --print-limit 4 --error-exitcode 9 \
      $B check-sparse --cases 1 --seed 21 --max-topk 192 --heads 64 --mode sparse --format $fmt > /tmp/san.txt 2>&1
    echo "== $tool $fmt rc $?"; grep -v "^ok\|^check" /tmp/san.txt | head -60
  done
done > "$OUT/sanitize.txt" 2>&1
grep -E "^==|SUMMARY" "$OUT/sanitize.txt"
(cd python && timeout 120 python3 -m pytest -q tests/test_model1.py tests/test_sparse_and_sink.py) > "$OUT/pytest.txt" 2>&1
echo "pytest rc $?"; grep -E "passed|failed|FAILED|Mismatched|Greatest" "$OUT/pytest.txt" | tail -12
echo "elapsed ${SECONDS}s"
