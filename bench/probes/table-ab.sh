#!/usr/bin/env bash
# One device call that decides a kernel-table change and gives the issue's table with it: the
# grid timed, interleaved over $ROUNDS rounds, with this build's defaults (`new`: its shipped table,
# kernels and schedule numbers), with FLASHMLA_SCHEDULE=standard (`newk`: the table's kernels,
# the standard schedule) and with FLASHMLA_KERNEL=sm90 FLASHMLA_SCHEDULE=standard (`old`: the
# rule's kernels and the standard schedule, what the builds before the table change ran), plus
# the seesaw kernel forced on the 16-row rows (`see16`); then FlashMLA's bench_grid.py, the copy
# and GEMM ceilings, fp16 with the defaults, and the checks with the defaults. Prints the ratios
# and the table (bench/table.py) last. Needs carried: .device/flashmla.xz, .device/anchor.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" .device/flashmla.xz /tmp/flashmla && chmod +x /tmp/flashmla
export FLASHMLA_CACHE_DIR=$(mktemp -d)
B=/tmp/flashmla; ANCHOR=$PWD/.device/anchor; G="$ANCHOR/grid.json"
stamp() { echo "[$SECONDS s] $*" | tee -a "$OUT/log.txt"; }
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv,noheader | tee -a "$OUT/log.txt"
$B info 2>&1 | grep -A6 "kernel table" | tee "$OUT/info.txt"
for round in $(seq 1 ${ROUNDS:-2}); do
  timeout 150 $B bench --grid "$G" --json > "$OUT/ours-new-$round.jsonl" 2>> "$OUT/log.txt"; stamp "new $round"
  FLASHMLA_SCHEDULE=standard timeout 150 $B bench --grid "$G" --json > "$OUT/ours-newk-$round.jsonl" 2>> "$OUT/log.txt"; stamp "newk $round"
  FLASHMLA_KERNEL=sm90 FLASHMLA_SCHEDULE=standard timeout 150 $B bench --grid "$G" --json > "$OUT/ours-old-$round.jsonl" 2>> "$OUT/log.txt"; stamp "old $round"
  FLASHMLA_KERNEL=sm90-seesaw FLASHMLA_SCHEDULE=standard timeout 60 $B bench --grid "$G" --only s_q=1 --only h_q=16 --json \
    > "$OUT/ours-see16-$round.jsonl" 2>> "$OUT/log.txt"; stamp "see16 $round"
done
(cd "$ANCHOR" && timeout 150 python3 bench_grid.py) > "$OUT/flashmla.jsonl" 2>> "$OUT/log.txt"; stamp "flashmla rc $?"
timeout 60 python3 bench/ceilings.py > "$OUT/ceilings.json" 2>> "$OUT/log.txt"; stamp "ceilings $(cat "$OUT/ceilings.json")"
timeout 150 $B bench --grid "$G" --dtype fp16 --json > "$OUT/ours-fp16.jsonl" 2>> "$OUT/log.txt"; stamp fp16
{ timeout 150 $B check --backend cuda --cases ${CASES:-100} --seed 93 | tail -2
  timeout 200 $B check --backend cuda --grid "$G" --dtype bf16 | tail -2; } 2>&1 | tee "$OUT/checks.txt"; stamp checked
python3 - "$OUT" <<'PY' | tee "$OUT/summary.txt"
import glob, json, math, os, sys
out = sys.argv[1]
def load(path):
    rows = [json.loads(l) for l in open(path) if l.startswith("{")] if os.path.exists(path) else []
    return {(r["s_q"], r["mean_sk"], r["h_q"], r["varlen"]): r for r in rows if "summary" not in r}
def gm(xs): return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")
fm = {k: r["ms"] for k, r in load(os.path.join(out, "flashmla.jsonl")).items()}
runs = {}
for path in sorted(glob.glob(os.path.join(out, "ours-*-[0-9].jsonl"))):
    runs[os.path.basename(path)[5:-6]] = load(path)
for name, rows in runs.items():
    keys = sorted(set(rows) & set(fm))
    if keys: print(f"FlashMLA / {name}: {gm([fm[k] / rows[k]['ms'] for k in keys]):.4f} over {len(keys)} rows")
def ab(a, b, pick=lambda k: True):
    x, y = runs.get(a, {}), runs.get(b, {})
    keys = [k for k in sorted(set(x) & set(y)) if pick(k)]
    if keys:
        r = [x[k]["ms"] / y[k]["ms"] for k in keys]
        print(f"{a} / {b}: {gm(r):.4f} over {len(keys)} rows (min {min(r):.4f}, max {max(r):.4f})")
rounds = sorted({n.split("-")[-1] for n in runs})
for r in rounds:
    for a, b in [("old", "new"), ("newk", "new"), ("old", "newk")]:
        ab(f"{a}-{r}", f"{b}-{r}")
        ab(f"{a}-{r}", f"{b}-{r}", lambda k: k[0] * k[2] <= 64)
    ab(f"newk-{r}", f"see16-{r}")
if len(rounds) > 1: ab(f"new-{rounds[0]}", f"new-{rounds[1]}"); ab(f"old-{rounds[0]}", f"old-{rounds[1]}")
print("rows (s_q, sk, h_q, varlen): FM | " + " ".join(runs))
for k in sorted(fm):
    print(k, f"{fm[k]:.4f} |", " ".join(f"{runs[n][k]['ms']:.4f}/{runs[n][k].get('kernel', '?')[-5:]}" if k in runs[n] else "-" for n in runs))
PY
python3 bench/table.py "$OUT/ours-new-1.jsonl" "$OUT/flashmla.jsonl" "$OUT/ceilings.json" "$ANCHOR" "$OUT/ours-fp16.jsonl" --card h200 > "$OUT/table.md" 2>&1
tail -12 "$OUT/table.md"
cat "$OUT/checks.txt"
(cd "$OUT" && tar -czf 0-all.tar.gz --exclude 0-all.tar.gz *)
echo "elapsed ${SECONDS}s"
