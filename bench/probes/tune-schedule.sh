#!/usr/bin/env bash
# One device call for `flashmla tune`'s schedule numbers (SchedulePolicy) and a kernel option's
# A/B, most important first: the new tune (kernels and each row class's fixed cost and slack,
# stored in this call's cache folder), checks with the stored table, then the grid timed with the
# table's schedule against FLASHMLA_SCHEDULE=standard on the rows a schedule can change
# ($SCHED_ONLY, default the varlen rows), then this build against $VARIANT (a kernel option, e.g.
# -DFMLA_LOCKSTEP_SPREAD_START=0) on $ONLY (standard schedule, this build twice), then FlashMLA's
# bench_grid.py in the same call. Needs carried: .device/flashmla.xz, .device/anchor.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" .device/flashmla.xz /tmp/flashmla && chmod +x /tmp/flashmla
export FLASHMLA_CACHE_DIR=$(mktemp -d)
B=/tmp/flashmla; ANCHOR=$PWD/.device/anchor
stamp() { echo "[$SECONDS s] $*" | tee -a "$OUT/log.txt"; }
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv,noheader | tee -a "$OUT/log.txt"
$B compile --arch sm_90a 2>&1 | tail -1 >> "$OUT/log.txt"; stamp compiled
timeout 240 $B tune --iterations ${TUNE_ITERATIONS:-30} > "$OUT/tune.txt" 2>> "$OUT/log.txt"; stamp "tune rc $?"
cp "$FLASHMLA_CACHE_DIR"/tuning/*.json "$OUT/tuned-table.json" 2>/dev/null
$B info 2>&1 | grep -A6 "kernel table" > "$OUT/info.txt"
{ timeout 120 $B check --backend cuda --cases 30 --seed 91 | tail -1
  timeout 200 $B check --backend cuda --grid "$ANCHOR/grid.json" --dtype bf16 --sample-rows 24 | tail -1
  [[ -n "${VARIANT:-}" ]] && FLASHMLA_KERNEL_OPTIONS="$VARIANT" FLASHMLA_KERNEL=sm90-lockstep timeout 60 $B check --backend cuda --cases 10 --seed 92 | tail -1
} 2>&1 | tee "$OUT/checks.txt"; stamp checked
run() {   # label, schedule, options, only
  FLASHMLA_SCHEDULE=$2 FLASHMLA_KERNEL_OPTIONS="$3" timeout 150 $B bench --grid "$ANCHOR/grid.json" ${4:+--only "$4"} --json \
    > "$OUT/ours-$1.jsonl" 2>> "$OUT/log.txt"; stamp "ours-$1: schedule $2, options '$3', only '$4': $(wc -l < "$OUT/ours-$1.jsonl") rows"
}
run sched-table table "" "${SCHED_ONLY:-varlen=true}"
run sched-standard standard "" "${SCHED_ONLY:-varlen=true}"
if [[ -n "${VARIANT:-}" ]]; then
  run opt-this standard "" "${ONLY:-}"
  run opt-variant standard "$VARIANT" "${ONLY:-}"
  run opt-this2 standard "" "${ONLY:-}"
fi
(cd "$ANCHOR" && timeout 150 python3 bench_grid.py) > "$OUT/flashmla.jsonl" 2>> "$OUT/log.txt"; stamp "flashmla rc $?"
python3 - "$OUT" <<'PY'
import json, math, os, sys
out = sys.argv[1]
def load(name):
    path = os.path.join(out, name)
    if not os.path.exists(path): return {}
    rows = [json.loads(l) for l in open(path) if l.startswith("{")]
    return {(r["b"], r["s_q"], r["mean_sk"], r["h_q"], r["varlen"]): r["ms"] for r in rows}
fm = load("flashmla.jsonl")
def gm(xs): return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")
for a, b in [("sched-standard", "sched-table"), ("opt-variant", "opt-this"), ("opt-variant", "opt-this2"), ("opt-this", "opt-this2")]:
    x, y = load(f"ours-{a}.jsonl"), load(f"ours-{b}.jsonl")
    keys = sorted(set(x) & set(y))
    if not keys: continue
    r = [x[k] / y[k] for k in keys]
    print(f"{a} / {b}: geomean {gm(r):.4f} over {len(keys)} rows (min {min(r):.4f}, max {max(r):.4f})")
for name in ["sched-table", "sched-standard", "opt-this", "opt-variant", "opt-this2"]:
    x = load(f"ours-{name}.jsonl"); keys = sorted(set(x) & set(fm))
    if keys: print(f"FlashMLA / ours-{name}: geomean {gm([fm[k] / x[k] for k in keys]):.4f} over {len(keys)} rows")
print("rows (b, s_q, sk, h_q, varlen): " + "  ".join(f"{n}" for n in ["FM", "sched-table", "sched-std", "this", "variant", "this2"]))
runs = [fm] + [load(f"ours-{n}.jsonl") for n in ["sched-table", "sched-standard", "opt-this", "opt-variant", "opt-this2"]]
for k in sorted(set().union(*[set(r) for r in runs[1:]])):
    print(k, "  ".join(f"{r[k]:.4f}" if k in r else "   -  " for r in runs))
PY
cat "$OUT/tune.txt"; cat "$OUT/info.txt"; cat "$OUT/checks.txt"
echo "elapsed ${SECONDS}s"
