#!/usr/bin/env bash
# One lean device call for a change to the dense Hopper kernels (about 5 minutes), most important
# first: `check` (automatic kernels, the lockstep kernel forced, each variant), every grid
# configuration checked, the grid timed for this build, for each of $VARIANTS (';'-separated
# kernel options, e.g. "-DFMLA_LOCKSTEP_ROPE_EARLY=0;-DFMLA_LOCKSTEP_BOX_WAIT=0
# -DFMLA_LOCKSTEP_ROPE_EARLY=0") and for this build again ($ONLY:
# `bench --only` terms for every run), FlashMLA's bench_grid.py in the same call, then memcheck,
# racecheck and synccheck on the kernel forced ($SANITIZE_KERNELS, default sm90-lockstep; SANITIZE=0
# skips them). Carried other builds (.device/before.xz, .device/other-*.xz) are timed too, after the
# variants and before this build's second run. Prints a per-row table last (bench/probes/grid_ab.py: run0 is
# this build). Needs carried: .device/flashmla.xz, .device/anchor (a copy of
# ../shared/anchor).
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" .device/flashmla.xz /tmp/flashmla && chmod +x /tmp/flashmla
export FLASHMLA_CACHE_DIR=$(mktemp -d)
B=/tmp/flashmla; ANCHOR=$PWD/.device/anchor
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv,noheader | tee "$OUT/log.txt"
$B compile --arch sm_90a 2>&1 | grep -E "lockstep|seesaw" >> "$OUT/log.txt"
{ timeout 120 $B check --backend cuda --cases 30 --seed 81 | tail -1
  FLASHMLA_KERNEL=sm90-lockstep timeout 120 $B check --backend cuda --cases 30 --seed 82 | tail -1
  IFS=';' read -ra VARS <<< "${VARIANTS:-}"
  for v in "${VARS[@]}"; do FLASHMLA_KERNEL_OPTIONS="$v" FLASHMLA_KERNEL=sm90-lockstep timeout 60 $B check --backend cuda --cases 10 --seed 83 | tail -1; done
  timeout 200 $B check --backend cuda --grid "$ANCHOR/grid.json" --dtype bf16 --sample-rows 24 | tail -1; } 2>&1 | tee "$OUT/checks.txt"
IFS=';' read -ra VARS <<< "${VARIANTS:-}"
# This build, each variant, each carried other build (.device/before.xz, .device/other-*.xz, in
# that order), then this build again when anything else ran.
RUNS=(""); BINS=("$B"); LABELS=("this")
for v in "${VARS[@]}"; do RUNS+=("$v"); BINS+=("$B"); LABELS+=("this $v"); done
for x in .device/before.xz .device/other-*.xz; do
  [[ -f "$x" ]] || continue
  bin=/tmp/$(basename "$x" .xz)
  python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" "$x" "$bin" && chmod +x "$bin"
  RUNS+=(""); BINS+=("$bin"); LABELS+=("$(basename "$x" .xz)")
done
(( ${#RUNS[@]} > 1 )) && { RUNS+=(""); BINS+=("$B"); LABELS+=("this"); }
for x in "${BINS[@]}"; do   # each other build's lockstep kernel checked before it is timed
  [[ "$x" == "$B" ]] || FLASHMLA_KERNEL=sm90-lockstep timeout 60 "$x" check --backend cuda --cases 10 --seed 84 2>&1 | tail -1 | sed "s|^|$(basename "$x"): |" | tee -a "$OUT/checks.txt"
done
i=0
for opts in "${RUNS[@]}"; do
  FLASHMLA_KERNEL_OPTIONS="$opts" timeout 150 ${BINS[$i]} bench --grid "$ANCHOR/grid.json" ${ONLY:+--only "$ONLY"} --json > "$OUT/ours-$i.jsonl" 2>> "$OUT/log.txt"
  echo "ours-$i: ${LABELS[$i]} $(wc -l < "$OUT/ours-$i.jsonl") rows"; i=$((i + 1))
done
(cd "$ANCHOR" && timeout 150 python3 bench_grid.py) > "$OUT/flashmla.jsonl" 2>> "$OUT/log.txt"; echo "flashmla rc $?"
for tool in $( [[ ${SANITIZE:-1} == 0 ]] || echo memcheck racecheck synccheck); do
  for kernel in ${SANITIZE_KERNELS:-sm90-lockstep}; do
    FLASHMLA_KERNEL=$kernel timeout 120 compute-sanitizer --tool $tool --error-exitcode 9 $B check --backend cuda --cases 3 \
      --token-budget 20000 --seed 7 > /tmp/san.txt 2>&1
    echo "== $tool $kernel rc $?"; grep -E "SUMMARY|passed|FAIL" /tmp/san.txt | tail -2
  done
  # $SANITIZE_GRID: a small grid file whose configurations the tools also run (e.g.
  # bench/probes/lockstep-sanitize-grid.json: 16 and 32 rows a KV head, partial pages, causal s_q 2, workers with many pieces).
  [[ -n "${SANITIZE_GRID:-}" ]] && for kernel in ${SANITIZE_KERNELS:-sm90-lockstep}; do
    FLASHMLA_KERNEL=$kernel timeout 150 compute-sanitizer --tool $tool --error-exitcode 9 $B check --backend cuda \
      --grid "$SANITIZE_GRID" --dtype bf16 > /tmp/san.txt 2>&1
    echo "== $tool $kernel grid rc $?"; grep -E "SUMMARY|passed|FAIL" /tmp/san.txt | tail -2
  done
done > "$OUT/sanitize.txt" 2>&1
grep -E "^==|SUMMARY" "$OUT/sanitize.txt"
python3 bench/probes/grid_ab.py "$OUT"/ours-*.jsonl --flashmla "$OUT/flashmla.jsonl" | tee "$OUT/table.txt"
tar -czf /tmp/all.tar.gz -C "$OUT" . && mv /tmp/all.tar.gz "$OUT/0-all.tar.gz"   # a call returns at most 8 files
echo "elapsed ${SECONDS}s"
