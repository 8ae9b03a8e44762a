#!/usr/bin/env bash
# One device call: the static flashmla binary travels gzipped in .device/ (with a copy of
# ../shared/anchor); nothing is built there. Steps run in the order given:
#   info compile check gridcheck sanitize check90 bench bench80 bench90 profile python pybench
# Usage on the device machine: bash bench/device-run.sh CASES STEP...
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
[ -x .device/flashmla ] || { gunzip -kf .device/flashmla.gz && chmod +x .device/flashmla; }
BIN=$PWD/.device/flashmla
ANCHOR=$PWD/.device/anchor
CASES=${1:-300}; shift || true
export FLASHMLA_CACHE_DIR=/tmp/flashmla-cache
status=0
step() { echo "== $*" >&2; }
summary() { grep -E "FAIL|worst|passed|rror" "$1" | tail -${2:-6}; }

bench_vs_flashmla() {   # $1: name of our run, rest: environment for it
  local name=$1; shift
  step "bench: ours ($name)"
  env "$@" $BIN bench --grid "$ANCHOR/grid.json" --json > "$OUT/ours-$name.jsonl" 2> "$OUT/ours-$name.err" || status=1
  [ -s "$OUT/flashmla.jsonl" ] || { step "bench: FlashMLA"; (cd "$ANCHOR" && python3 bench_grid.py) > "$OUT/flashmla.jsonl" 2> "$OUT/flashmla.err" || status=1; }
  python3 bench/compare.py "$OUT/ours-$name.jsonl" "$OUT/flashmla.jsonl" > "$OUT/compare-$name.txt"
  tail -1 "$OUT/compare-$name.txt"
}

nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv,noheader | tee "$OUT/gpu.txt"
for what in "$@"; do
  case $what in
    info) step info; $BIN info > "$OUT/info.txt" 2>&1; grep -E "H100|H200|NVRTC|version" "$OUT/info.txt" | head -5 ;;
    compile) step compile; $BIN compile --arch sm_90a > "$OUT/compile.txt" 2>&1 || status=1; tail -1 "$OUT/compile.txt" ;;
    check) step "check $CASES cases"; $BIN check --backend cuda --cases "$CASES" > "$OUT/check.txt" 2>&1 || status=1; summary "$OUT/check.txt" ;;
    check90) step "check $CASES cases, Hopper kernel forced"
      FLASHMLA_KERNEL=sm90 $BIN check --backend cuda --cases "$CASES" > "$OUT/check90.txt" 2>&1 || status=1; summary "$OUT/check90.txt" ;;
    gridcheck) step "check every grid configuration (bf16)"
      $BIN check --backend cuda --grid "$ANCHOR/grid.json" --dtype bf16 --sample-rows 24 > "$OUT/gridcheck.txt" 2>&1 || status=1; summary "$OUT/gridcheck.txt" ;;
    sanitize) for tool in memcheck racecheck synccheck; do
        step "compute-sanitizer $tool"
        for kernel in sm80 sm90; do
          FLASHMLA_KERNEL=$kernel compute-sanitizer --tool $tool --error-exitcode 9 $BIN check --backend cuda --cases 3 --token-budget 20000 --seed 7 \
            > /tmp/sanitize.log 2>&1 || { status=1; echo "$tool $kernel FAILED"; }
          { echo "== $tool $kernel"; tail -5 /tmp/sanitize.log; } >> "$OUT/sanitize.txt"   # one file: at most 8 come back
          grep -E "SUMMARY" /tmp/sanitize.log | tail -1
        done
      done ;;
    bench) bench_vs_flashmla auto ;;
    bench80) bench_vs_flashmla sm80 FLASHMLA_KERNEL=sm80 ;;
    bench90) bench_vs_flashmla sm90 FLASHMLA_KERNEL=sm90 ;;
    profile) step "ncu: the Hopper kernel on h_q=128, s_q=1, 8k"
      ncu --clock-control none --kernel-name regex:flashmla_decode_sm90 --launch-skip 3 --launch-count 1 \
        --section SpeedOfLight --section WarpStateStats --section ComputeWorkloadAnalysis --section Occupancy \
        $BIN bench --grid "$ANCHOR/grid.json" --only s_q=1,mean_sk=8192,h_q=128,varlen=false --iterations 3 \
        > "$OUT/ncu.txt" 2>&1 || status=1
      grep -E "Duration|Throughput|Stall|Issued|Pipe|Tensor|Eligible|Active Warps" "$OUT/ncu.txt" | head -30 ;;
    python) step "pytest"; (cd python && python3 -m pytest -q tests) > "$OUT/pytest.txt" 2>&1 || status=1; tail -3 "$OUT/pytest.txt" ;;
    pybench) step "bench_grid.py --module flashmla_swift --check"
      (PYTHONPATH=$PWD/python python3 "$ANCHOR/bench_grid.py" --module flashmla_swift --check) > "$OUT/pybench.jsonl" 2> "$OUT/pybench.err" || status=1
      [ -s "$OUT/flashmla.jsonl" ] || { (cd "$ANCHOR" && python3 bench_grid.py) > "$OUT/flashmla.jsonl" 2> "$OUT/flashmla.err" || status=1; }
      python3 bench/compare.py "$OUT/pybench.jsonl" "$OUT/flashmla.jsonl" > "$OUT/compare-python.txt"; tail -1 "$OUT/compare-python.txt"
      python3 -c "import json,sys; r=[json.loads(l) for l in open('$OUT/pybench.jsonl') if l.startswith('{')]; print(len(r),'configs; worst cos_diff_out',max(x['cos_diff_out'] for x in r),'any NaN',any(x['nan_out'] for x in r))" ;;
    *) echo "unknown step $what" ;;
  esac
done
exit $status
