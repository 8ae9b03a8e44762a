#!/usr/bin/env bash
# One device call for a refactor that must not change results or speed (issue 20): the build
# before (.device/before.xz) and after (.device/flashmla.xz) on the same card, in one call.
#   checks.txt   every check's one-line result (after: dense 300 cases, each kernel forced, page
#                sizes, FP8, sparse; before: the dense 40-case check with the same seed)
#   sanitize.txt compute-sanitizer memcheck/racecheck/synccheck on every kernel family that runs
#   grid.jsonl   `flashmla bench` whole grid, before/after alternating, ROUNDS rounds
#   log.txt      everything
# Prints a table last: geometric mean after/before per round and the worst configuration.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
DEADLINE=${DEADLINE:-520}; ROUNDS=${ROUNDS:-2}
# The builds travel xz-compressed (two gzipped ones and the rest exceed the 64 MiB a call carries).
for b in flashmla before; do
  python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" .device/$b.xz /tmp/$b && chmod +x /tmp/$b
done
AFTER=/tmp/flashmla BEFORE=/tmp/before GRID=.device/anchor/grid.json
export FLASHMLA_CACHE_DIR=$(mktemp -d) PYTHONUNBUFFERED=1
ROOT=$PWD
LOG=$OUT/log.txt
step() {   # step SECONDS LABEL COMMAND...
  local limit=$1 label=$2; shift 2
  if (( SECONDS > DEADLINE )); then echo "skipped (deadline): $label" | tee -a "$OUT/checks.txt"; return; fi
  echo "== $label" >> "$LOG"
  timeout "$limit" "$@" > "$OUT/.step" 2>&1; local rc=$?
  cat "$OUT/.step" >> "$LOG"
  printf '%-62s rc %-3s %s\n' "$label" "$rc" "$(grep -E 'passed|failed|FAIL|worst' "$OUT/.step" | tail -2 | tr '\n' ' ')" | tee -a "$OUT/checks.txt"
}
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv,noheader | tee -a "$LOG"
# Compile both builds' kernels first, so that no timing below includes NVRTC.
FLASHMLA_CACHE_DIR=$FLASHMLA_CACHE_DIR-before timeout 120 $BEFORE compile >> "$LOG" 2>&1 &
timeout 120 $AFTER compile >> "$LOG" 2>&1; wait
for r in $(seq 1 $ROUNDS); do
  (( r == 1 || SECONDS < 200 )) || break          # a second round only if the first was quick
  for b in before after; do
    bin=$AFTER; cache=$FLASHMLA_CACHE_DIR; [[ $b == before ]] && bin=$BEFORE cache=$FLASHMLA_CACHE_DIR-before
    FLASHMLA_CACHE_DIR=$cache timeout 150 $bin bench --grid $GRID --iterations 30 --json 2>> "$LOG" \
      | sed "s/^{/{\"build\": \"$b\", \"round\": $r, /" >> "$OUT/grid.jsonl"
  done
done
step 60 "before: check dense 40 cases, seed 5" env FLASHMLA_CACHE_DIR=$FLASHMLA_CACHE_DIR-before $BEFORE check --backend cuda --cases 40 --seed 5
step 60 "after: check dense 40 cases, seed 5" $AFTER check --backend cuda --cases 40 --seed 5
step 200 "after: check dense 300 cases (token budget 200k)" $AFTER check --backend cuda --cases 300 --token-budget 200000 --seed 6
for k in sm80 sm90-lockstep sm90-seesaw; do
  step 40 "after: FLASHMLA_KERNEL=$k, 12 cases" env FLASHMLA_KERNEL=$k $AFTER check --backend cuda --cases 12 --seed 7
done
step 60 "after: page sizes 1-256, 12 cases" $AFTER check --backend cuda --cases 12 --page-size random --token-budget 300000 --seed 8
step 60 "after: fp8 per-tensor, 8 cases" $AFTER check --backend cuda --cases 8 --kv-format fp8 --page-size random --token-budget 300000 --seed 9
step 60 "after: fp8-ds, 8 cases" $AFTER check --backend cuda --cases 8 --kv-format fp8-ds --page-size random --token-budget 300000 --seed 10
step 90 "after: check-sparse 60 cases" $AFTER check-sparse --cases 60 --seed 1
step 60 "after: check-sparse h_q 128, topk to 16384, 8 cases" $AFTER check-sparse --cases 8 --heads 128 --max-topk 16384 --seed 2
SAN=/usr/local/cuda/bin/compute-sanitizer
san() {   # san TOOL LABEL COMMAND...
  local tool=$1 label=$2; shift 2
  if (( SECONDS > DEADLINE + 40 )); then echo "skipped (deadline): $tool $label" >> "$OUT/sanitize.txt"; return; fi
  echo "== $tool $label" >> "$OUT/sanitize.log"
  timeout 60 $SAN --tool $tool --print-limit 10 "$@" >> "$OUT/sanitize.log" 2>&1; local rc=$?
  printf '%-10s %-40s rc %-3s %s\n' "$tool" "$label" "$rc" "$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitize.log" | tail -1)" >> "$OUT/sanitize.txt"
}
for tool in memcheck racecheck synccheck; do
  for k in sm80 sm90-lockstep sm90-seesaw; do
    san $tool "dense $k (+ scheduler, combine)" env FLASHMLA_KERNEL=$k $AFTER check --backend cuda --cases 2 --token-budget 100000 --seed 11
  done
  san $tool "paged (page sizes 1-256)" $AFTER check --backend cuda --cases 2 --page-size random --token-budget 50000 --seed 12
  san $tool "fp8 per-tensor" $AFTER check --backend cuda --cases 2 --kv-format fp8 --token-budget 50000 --seed 13
  san $tool "fp8-ds" $AFTER check --backend cuda --cases 2 --kv-format fp8-ds --token-budget 50000 --seed 14
  san $tool "sparse + sinks" $AFTER check-sparse --cases 3 --max-topk 400 --seed 15
done
cat "$OUT/sanitize.txt"
# fp16 against bf16, ours, CUDA-graph replays, the whole grid (issue 17: within 3%), if time is left.
for dt in bf16 fp16; do
  left=$((DEADLINE + 60 - SECONDS)); (( left > 60 )) || { echo "skipped ours-$dt (deadline)"; continue; }
  (cd .device/anchor && PYTHONPATH=$ROOT/python timeout $left python3 $ROOT/bench/interleave.py . --module flashmla_swift --graph --rounds 1 --dtype $dt) \
    > "$OUT/ours-$dt.jsonl" 2>> "$LOG"
done
rm -f "$OUT/.step"
python3 - "$OUT/grid.jsonl" <<'PY'
import json, math, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
key = lambda r: (r["s_q"], r["h_q"], r.get("mean_sk"), r.get("varlen"), r.get("b"))
t = collections.defaultdict(dict)
for r in rows: t[(r["round"], key(r))][r["build"]] = r["ms"]
for rnd in sorted({k[0] for k in t}):
    ratios = [(v["after"] / v["before"], k[1]) for k, v in t.items() if k[0] == rnd and len(v) == 2]
    if not ratios: continue
    g = math.exp(sum(math.log(x) for x, _ in ratios) / len(ratios))
    print(f"round {rnd}: {len(ratios)} configs, after/before geomean {g:.4f}, min {min(ratios)[0]:.3f} {min(ratios)[1]}, max {max(ratios)[0]:.3f} {max(ratios)[1]}")
PY
python3 - "$OUT" <<'PY'
import json, math, os, sys
def ms(name):
    p = os.path.join(sys.argv[1], name)
    if not os.path.exists(p): return {}
    rows = [json.loads(l) for l in open(p) if l.startswith("{") and "ms" in l]
    return {(r["b"], r["s_q"], r["h_q"], r.get("mean_sk"), r.get("varlen")): r["ms"] for r in rows if "ms" in r}
b, f = ms("ours-bf16.jsonl"), ms("ours-fp16.jsonl")
common = [k for k in b if k in f]
if common:
    ratios = sorted((f[k] / b[k], k) for k in common)
    print(f"fp16/bf16 (ours, graph): {len(common)} configs, worst {ratios[-1][0]:.3f} {ratios[-1][1]}, within 3%: {sum(r <= 1.03 for r, _ in ratios)}")
PY
echo "elapsed ${SECONDS}s"
