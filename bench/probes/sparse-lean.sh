#!/usr/bin/env bash
# One lean device call for a Hopper sparse kernel change (about 4 minutes): check-sparse
# (automatic kernels, h_q 128, h_q 100, FP8 → fp16, the bf16 cache), memcheck, racecheck and
# synccheck on small cases and on workers with several pieces (probes/sparse-multi-piece-grid.json),
# the sparse pytest, then the timed part: `flashmla bench --grid sparse-v32` on the fp8-ds rows for
# this build and for $BASE (kernel options that restore the previous behaviour, e.g.
# -DFMLA_SPARSE_BULK_STORE=0) and this build again, then FlashMLA HEAD beside ours through the
# drop-in. Needs carried: .device/flashmla.xz,
# .device/head, python/flashmla_swift/libFlashMLASwiftC.so. Without .device/head/pkg.tar.gz (a
# build kept from an earlier call) HEAD is built from the kit in the background while the checks
# and sanitizers run (about two minutes), and returned as head-pkg.tar.gz. memcheck joins racecheck
# and synccheck unless SANITIZE_TOOLS says otherwise.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" .device/flashmla.xz /tmp/flashmla && chmod +x /tmp/flashmla
export FLASHMLA_CACHE_DIR=$(mktemp -d) PYTHONUNBUFFERED=1
B=/tmp/flashmla; SAN=/usr/local/cuda/bin/compute-sanitizer
HEAD_PKG=/tmp/flashmla-head/pkg
if [[ -f .device/head/pkg.tar.gz ]]; then mkdir -p $HEAD_PKG && tar -xzf .device/head/pkg.tar.gz -C $HEAD_PKG; HEAD_BUILD=
else bash .device/head/build.sh > "$OUT/head-build.txt" 2>&1 & HEAD_BUILD=$!; fi
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv,noheader | tee "$OUT/log.txt"
{ timeout 40 $B check-sparse --cases 30 --seed 71 | tail -1
  timeout 30 $B check-sparse --cases 8 --seed 72 --heads 128 --format fp8-ds --mode sparse | tail -1
  timeout 30 $B check-sparse --cases 6 --seed 73 --heads 100 --format fp8-ds | tail -1
  timeout 30 $B check-sparse --cases 8 --seed 74 --format fp8-ds --dtype fp16 --mode sparse | tail -1
  timeout 30 $B check-sparse --cases 8 --seed 75 --heads 64 --format native --mode sparse --page-size 64 | tail -1
  [[ -n "${BASE:-}" ]] && FLASHMLA_KERNEL_OPTIONS="$BASE" timeout 40 $B check-sparse --cases 12 --seed 76 | tail -1; } 2>&1 | tee "$OUT/checks.txt"
for tool in ${SANITIZE_TOOLS:-memcheck racecheck synccheck}; do
  for c in fp8-ds:64 fp8-ds:128; do
    FLASHMLA_KERNEL_OPTIONS=-lineinfo timeout 60 $SAN --tool $tool --print-limit 4 --error-exitcode 9 \
      $B check-sparse --cases 1 --seed 21 --max-topk 192 --heads ${c##*:} --mode sparse --format ${c%%:*} > /tmp/san.txt 2>&1
    echo "== $tool $c rc $?"; grep -v "^ok\|^check" /tmp/san.txt | head -30
  done
  FLASHMLA_KERNEL_OPTIONS=-lineinfo timeout 100 $SAN --tool $tool --print-limit 4 --error-exitcode 9 \
    $B bench --grid bench/probes/sparse-multi-piece-grid.json --iterations 1 --json > /tmp/san.txt 2>&1
  echo "== $tool multi-piece rc $?"; grep -v "^{\|^\[" /tmp/san.txt | head -30
done > "$OUT/sanitize.txt" 2>&1
grep -E "^==|SUMMARY" "$OUT/sanitize.txt"
(cd python && timeout 90 python3 -m pytest -q tests/test_model1.py tests/test_sparse_and_sink.py) > "$OUT/pytest.txt" 2>&1
echo "pytest rc $?"; tail -1 "$OUT/pytest.txt"
[[ -n "$HEAD_BUILD" ]] && { wait $HEAD_BUILD; echo "HEAD build rc $? ($(tail -1 "$OUT/head-build.txt"))"; \
  tar -czf "$OUT/head-pkg.tar.gz" -C $HEAD_PKG flash_mla; }   # no compiles beside the timed runs
RUNS=(""); [[ -n "${BASE:-}" ]] && RUNS=("" "$BASE" "")    # this build, the base, this build again
for opts in "${RUNS[@]}"; do
  FLASHMLA_KERNEL_OPTIONS="$opts" timeout 90 $B bench --grid sparse-v32 --only kv_format=fp8-ds --iterations 30 --json 2>> "$OUT/log.txt" \
    | sed "s/^{/{\"options\": \"$opts\", /" >> "$OUT/cli.jsonl"
done
python3 - "$OUT/cli.jsonl" <<'PY'
import json, sys, collections
t = collections.defaultdict(list)
for l in open(sys.argv[1]):
    if l.startswith("{"):
        r = json.loads(l); t[(r["b"], r["s_q"], r["h_q"])].append((r["options"] or "this", r["ms"]))
for k, v in t.items(): print("cli b %d s_q %d h_q %d:" % k, "  ".join(f"{o} {ms:.4f}" for o, ms in v))
PY
PYTHONPATH=$HEAD_PKG:$PWD/python timeout 120 python3 .device/head/bench_sparse.py --module flash_mla,flashmla_swift \
  --impl flashmla-head,ours --check > "$OUT/sparse.jsonl" 2>> "$OUT/log.txt"; echo "sparse bench rc $?"
python3 bench/sparse_summary.py "$OUT"
tar -czf /tmp/all.tar.gz -C "$OUT" --exclude head-pkg.tar.gz . && mv /tmp/all.tar.gz "$OUT/0-all.tar.gz"   # a call returns at most 8 files
echo "elapsed ${SECONDS}s"
