#!/usr/bin/env bash
# The issues' closing call (about eight minutes), one build, one card, everything compared in this
# call: the copy and GEMM ceilings, the 48-row grid with the build's defaults in bf16, FlashMLA's
# bench_grid.py, the grid in fp16, rendered as issue 17's table (bench/table.py, best peer scaled
# from the anchor's H200 files); then `check --cases $CASES` and the 48 grid configurations
# checked; then V3.2's eight sparse rows, FlashMLA HEAD beside ours through the drop-in (cos-diff
# checked), twice with the order swapped. Each step is bounded and skipped past $DEADLINE seconds.
# Needs carried: .device/flashmla.xz, .device/anchor, .device/head,
# python/flashmla_swift/libFlashMLASwiftC.so.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
DEADLINE=${DEADLINE:-540}
python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" .device/flashmla.xz /tmp/flashmla && chmod +x /tmp/flashmla
export FLASHMLA_CACHE_DIR=$(mktemp -d) PYTHONUNBUFFERED=1
B=/tmp/flashmla; ANCHOR=$PWD/.device/anchor; G="$ANCHOR/grid.json"
HEAD_PKG=/tmp/flashmla-head/pkg; mkdir -p $HEAD_PKG && tar -xzf .device/head/pkg.tar.gz -C $HEAD_PKG
stamp() { echo "[$SECONDS s] $*" | tee -a "$OUT/log.txt"; }
late() { (( SECONDS > DEADLINE - ${1:-0} )) && { stamp "skipped (deadline): $2"; return 0; }; return 1; }
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv,noheader | tee -a "$OUT/log.txt"
$B info 2>&1 | grep -A6 "kernel table" > "$OUT/info.txt"
if [[ -z "${SKIP_TABLE:-}" ]]; then
$B compile --arch sm_90a > "$OUT/compile.txt" 2>&1; stamp "compiled: $(tail -1 "$OUT/compile.txt")"
timeout 60 python3 bench/ceilings.py > "$OUT/ceilings.json" 2>> "$OUT/log.txt"; stamp "ceilings $(cat "$OUT/ceilings.json")"
timeout 150 $B bench --grid "$G" --json > "$OUT/ours-bf16.jsonl" 2>> "$OUT/log.txt"; stamp "ours bf16 rc $?"
(cd "$ANCHOR" && timeout 150 python3 bench_grid.py) > "$OUT/flashmla.jsonl" 2>> "$OUT/log.txt"; stamp "flashmla rc $?"
timeout 150 $B bench --grid "$G" --dtype fp16 --json > "$OUT/ours-fp16.jsonl" 2>> "$OUT/log.txt"; stamp "ours fp16 rc $?"
python3 bench/table.py "$OUT/ours-bf16.jsonl" "$OUT/flashmla.jsonl" "$OUT/ceilings.json" "$ANCHOR" "$OUT/ours-fp16.jsonl" \
  --card h200 > "$OUT/table.md" 2>> "$OUT/log.txt"
fi   # SKIP_TABLE: the checks and the sparse rows only
late 200 "check ${CASES:-300}" || { timeout 240 $B check --backend cuda --cases ${CASES:-300} --seed 97 2>&1 | tail -2 | tee -a "$OUT/checks.txt"; stamp checked; }
late 60 "grid check" || { timeout 120 $B check --backend cuda --grid "$G" --dtype bf16 2>&1 | tail -1 | tee -a "$OUT/checks.txt"; stamp "grid checked"; }
for order in "flashmla-head,ours flash_mla,flashmla_swift" "ours,flashmla-head flashmla_swift,flash_mla"; do
  late 90 "sparse $order" && break
  set -- $order
  PYTHONPATH=$HEAD_PKG:$PWD/python timeout 150 python3 .device/head/bench_sparse.py --module $2 --impl $1 --check \
    >> "$OUT/sparse.jsonl" 2>> "$OUT/log.txt"; stamp "sparse ($1) rc $?"
done
python3 - "$OUT/sparse.jsonl" <<'PY' | tee "$OUT/sparse.txt"
import json, sys, collections
t = collections.defaultdict(lambda: collections.defaultdict(list))
for l in open(sys.argv[1]):
    if l.startswith("{"):
        r = json.loads(l)
        if "ms" in r: t[(r["b"], r["s_q"], r["h_q"])][r["impl"]].append(r)
print("| b | s_q | h_q | HEAD ms (runs) | ours ms (runs) | HEAD / ours | ours cos-diff out / lse |")
print("|---|---|---|---|---|---|---|")
for k, v in sorted(t.items()):
    h = [r["ms"] for r in v.get("flashmla-head", [])]; o = [r["ms"] for r in v.get("ours", [])]
    if not h or not o: continue
    hm, om = sum(h) / len(h), sum(o) / len(o)
    cd = v["ours"][0]
    print(f"| {k[0]} | {k[1]} | {k[2]} | {hm:.4f} ({' · '.join(f'{x:.4f}' for x in h)}) | {om:.4f} ({' · '.join(f'{x:.4f}' for x in o)}) "
          f"| {hm / om:.3f} | {cd.get('cos_diff_out', cd.get('out_cos_diff', '?'))} / {cd.get('cos_diff_lse', cd.get('lse_cos_diff', '?'))} |")
PY
tar -czf /tmp/all.tar.gz -C "$OUT" . && mv /tmp/all.tar.gz "$OUT/0-all.tar.gz"   # a call returns at most 8 files
tail -4 "$OUT/table.md" 2>/dev/null; cat "$OUT/checks.txt"
echo "elapsed ${SECONDS}s"
