#!/usr/bin/env bash
# Where a block's time goes, role by role: the Hopper sparse kernel built with
# FMLA_SPARSE_TRACE=1 (clock reads around each wait and phase, summed over a worker's blocks,
# printed for one launch) on V3.2's b = 128, s_q = 1 rows, beside the same rows untraced (the
# probe's own cost), with each role's first block (cycles from the block's start, including any
# wait for the previous kernel under programmatic launch) and the pieces' ends (row sums, store).
# Needs carried: .device/flashmla.xz. ROWS overrides the rows traced, BASE_OPTS adds kernel options.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" .device/flashmla.xz /tmp/flashmla && chmod +x /tmp/flashmla
export FLASHMLA_CACHE_DIR=$(mktemp -d)
B=/tmp/flashmla
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,driver_version --format=csv,noheader | tee "$OUT/trace-log.txt"
ROWS=${ROWS:-"64:fp8-ds 128:fp8-ds 64:native"}
for row in $ROWS; do
  h=${row%%:*}; f=${row#*:}
  for opt in "${BASE_OPTS:-}" "${BASE_OPTS:-} -DFMLA_SPARSE_TRACE=1"; do
    FLASHMLA_KERNEL_OPTIONS="$opt" timeout 120 $B bench --grid sparse-v32 --only b=128 --only s_q=1 --only h_q=$h \
      --only kv_format=$f --iterations 20 --json > "$OUT/trace-$h-$f$([[ $opt == *TRACE* ]] && echo -traced).txt" 2>> "$OUT/trace-log.txt"
  done
done
python3 - "$OUT" $ROWS <<'PY'
import json, sys, statistics as st
out = sys.argv[1]
names = {0: ["wait full", "QK", "softmax", "wait P_FREE", "P out + PV"],
         1: ["wait full", "wait P_READY", "PV"],
         2: ["wait empty", "loads + round 0", "rounds 1-7", "fence + arrive", "window"]}
slots = {0: [0, 1, 2, 3, 4], 1: [0, 1, 2], 2: [0, 1, 2, 3, 5]}
nblk = {0: "s5", 1: "s3", 2: "s4"}
for row in sys.argv[2:]:
    h, f = row.split(":")
    ms = {}
    for tag in ("", "-traced"):
        for l in open(f"{out}/trace-{h}-{f}{tag}.txt"):
            if l.startswith("{"): ms[tag] = json.loads(l)["ms"]
    recs = [{k: int(v) for k, v in (kv.split("=") for kv in l.split()[1:])} for l in open(f"{out}/trace-{h}-{f}-traced.txt") if l.startswith("TRACE")]
    print(f"h_q {h} {f}: call {ms.get('', float('nan')):.4f} ms untraced, {ms.get('-traced', float('nan')):.4f} traced; {len(recs)} records")
    if not recs: continue
    base = min(r["ns0"] for r in recs)
    rel = lambda x: (x - base) % (1 << 32)
    span = max(rel(r["ns1"]) for r in recs) / 1e3
    ghz = st.median(r["tot"] / max(rel(r["ns1"]) - rel(r["ns0"]), 1) for r in recs if r["role"] == 0 and r["s5"] > 0)
    print(f"  kernel span (first block start to last role end) {span:.1f} us; SM clock {ghz:.2f} GHz")
    for role in (0, 1, 2):
        rs = [r for r in recs if r["role"] == role and r[nblk[role]] > 0]
        if not rs: continue
        parts = []
        for n, i in zip(names[role], slots[role]):
            v = [r["s%d" % i] / r[nblk[role]] for r in rs]
            parts.append(f"{n} {st.median(v):.0f}")
        per = [r["tot"] / r[nblk[role]] for r in rs]
        ends = [rel(r["ns1"]) / 1e3 for r in rs]
        print(f"  role {role}: median cycles a block: " + " | ".join(parts) + f" | all {st.median(per):.0f}; blocks {st.median(r[nblk[role]] for r in rs)}, "
              f"{len(rs)} workers, role end {min(ends):.1f}-{max(ends):.1f} us")
        # s6: cycles from the block's start to its first block (producer: its first `full`), s7: the
        # pieces' ends (math: row sums and the store); the rest of `tot` is outside both.
        if "s7" in rs[0]:
            first = st.median(r["s6"] for r in rs); ends7 = st.median(r["s7"] for r in rs)
            loop = st.median(sum(r["s%d" % i] for i in slots[role]) for r in rs)
            print(f"    first block at {first:.0f} cycles; pieces' ends {ends7:.0f}; phases {loop:.0f}; tot {st.median(r['tot'] for r in rs):.0f}; "
                  f"starts {min(rel(r['ns0']) for r in rs) / 1e3:.2f}-{max(rel(r['ns0']) for r in rs) / 1e3:.2f} us")
            if role == 1:
                print(f"    pieces' ends: BAR_ROWS {st.median(r['s4'] for r in rs):.0f}, store {st.median(r['s5'] for r in rs):.0f}")
PY
echo "elapsed ${SECONDS}s"
