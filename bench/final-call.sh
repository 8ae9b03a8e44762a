#!/usr/bin/env bash
# One device call that checks and times what a session changed, most important first, each step
# bounded in time and skipped once DEADLINE seconds (default 450) have passed, so that the call
# ends inside its limit with the files of every step that ran:
#   checks.txt      every check's summary: dense (automatic and each kernel forced), FP8 and page
#                   sizes, sparse and attention sinks
#   bench.jsonl     `flashmla bench` rows on a subset of the grid, native / fp8 / fp8-ds / 16-token pages
#   flashmla.jsonl  FlashMLA (bench_grid.py) on the same subset, same call
#   interleave.jsonl FlashMLA and the Python bridge, CUDA-graph replays, the whole grid
#   ceilings.json, pytest.txt, log.txt
# Needs .device/flashmla.gz, .device/anchor and python/flashmla_swift/libFlashMLASwiftC.so (carried).
# Usage on the device machine: bash bench/final-call.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
DEADLINE=${DEADLINE:-450}
gunzip -kf .device/flashmla.gz && chmod +x .device/flashmla
BIN=$PWD/.device/flashmla ANCHOR=$PWD/.device/anchor
export FLASHMLA_CACHE_DIR=$(mktemp -d)
LOG=$OUT/log.txt
SUBSET=${SUBSET:-"mean_sk=8192,h_q=16|64"}
status=0

# step SECONDS LABEL COMMAND...: runs COMMAND (output to the log) unless past the deadline.
step() {
  local limit=$1 label=$2; shift 2
  if (( SECONDS > DEADLINE )); then echo "skipped (deadline): $label" | tee -a "$OUT/checks.txt"; return; fi
  echo "== $label" >> "$LOG"
  timeout "$limit" "$@" > "$OUT/.step" 2>&1; local rc=$?
  cat "$OUT/.step" >> "$LOG"
  (( rc == 0 )) || status=1
  printf '%-70s rc %-3s %s\n' "$label" "$rc" "$(grep -E 'passed|failed|FAIL' "$OUT/.step" | tail -1)" | tee -a "$OUT/checks.txt"
}

nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv,noheader | tee -a "$LOG"
timeout 60 python3 bench/ceilings.py > "$OUT/ceilings.json" 2>> "$LOG"; cat "$OUT/ceilings.json"
step 60 "check dense, automatic kernels, 40 cases" $BIN check --backend cuda --cases 40
for k in sm80 sm90-lockstep sm90-seesaw; do
  step 40 "check dense, FLASHMLA_KERNEL=$k, 12 cases" env FLASHMLA_KERNEL=$k $BIN check --backend cuda --cases 12
done
step 60 "check page sizes (random 1-256), 12 cases" $BIN check --backend cuda --cases 12 --page-size random --token-budget 300000
step 60 "check fp8 per-tensor, random page sizes, 8 cases" $BIN check --backend cuda --cases 8 --kv-format fp8 --page-size random --token-budget 300000
step 60 "check fp8-ds (656 B), random page sizes, 8 cases" $BIN check --backend cuda --cases 8 --kv-format fp8-ds --page-size random --token-budget 300000
step 60 "check fp8 with software e4m3 conversion, 6 cases" env FLASHMLA_KERNEL_OPTIONS=-DFMLA_FP8_SOFT_CVT=1 $BIN check --backend cuda --cases 6 --kv-format fp8-ds --page-size random --token-budget 300000
for layout in "" "--kv-format fp8" "--kv-format fp8-ds" "--page-size 16"; do
  if (( SECONDS > DEADLINE )); then break; fi
  timeout 90 $BIN bench --grid "$ANCHOR/grid.json" --only "$SUBSET" --iterations 30 --json $layout 2>> "$LOG" \
    | sed "s/^{/{\"layout\": \"${layout:-native}\", /" >> "$OUT/bench.jsonl" || status=1
done
(cd "$ANCHOR" && timeout 60 python3 bench_grid.py --only mean_sk=8192) > "$OUT/flashmla.jsonl" 2>> "$LOG" || status=1
step 90 "check-sparse, 30 cases" $BIN check-sparse --backend cuda --cases 30 --seed 1
step 60 "check-sparse, h_q 128, topk up to 16384, 6 cases" $BIN check-sparse --backend cuda --cases 6 --heads 128 --max-topk 16384 --seed 2
# Without programmatic dependent launch: if only this passes, the overlap of scheduler/decode/combine is at fault.
step 60 "check-sparse, FLASHMLA_PDL=0, h_q 128, 6 cases" env FLASHMLA_PDL=0 $BIN check-sparse --backend cuda --cases 6 --heads 128 --max-topk 16384 --seed 2
if (( SECONDS <= DEADLINE - 60 )); then
  (cd "$ANCHOR" && PYTHONPATH=$OLDPWD/python timeout $((DEADLINE - SECONDS)) python3 $OLDPWD/bench/interleave.py . --graph --rounds 1) \
    > "$OUT/interleave.jsonl" 2>> "$LOG" || status=1
fi
if (( SECONDS <= DEADLINE )); then
  (cd python && timeout 60 python3 -m pytest -q -x tests) > "$OUT/pytest.txt" 2>&1 || status=1
  tail -2 "$OUT/pytest.txt"
fi
rm -f "$OUT/.step"
python3 - "$OUT" <<'EOF'
import json, math, sys
out = sys.argv[1]
rows = [json.loads(l) for l in open(f"{out}/bench.jsonl") if l.startswith("{")] if __import__("os").path.exists(f"{out}/bench.jsonl") else []
fm = {(r["s_q"], r["h_q"], r["varlen"]): r["ms"] for r in (json.loads(l) for l in open(f"{out}/flashmla.jsonl") if l.startswith("{"))}
native = {(r["s_q"], r["h_q"], r["varlen"]): r["ms"] for r in rows if r["layout"] == "native"}
for r in rows:
    k = (r["s_q"], r["h_q"], r["varlen"])
    print(f'{r["layout"]:>14} s_q {k[0]} h_q {k[1]:>3} varlen {str(k[2]):>5} {r["kernel"]:>22} {r["ms"]:.4f} ms'
          f'  / native {r["ms"] / native[k]:.3f}' + (f'  FlashMLA {fm[k]:.4f}' if k in fm else ""))
try:
    il = [json.loads(l) for l in open(f"{out}/interleave.jsonl") if l.startswith("{")]
    for s in il:
        if "summary" in s: print("interleave (graph):", s)
except FileNotFoundError:
    pass
EOF
echo "elapsed ${SECONDS}s"
exit $status
