#!/usr/bin/env bash
# Programmatic dependent launch on and off (FLASHMLA_PDL) for the sparse decode, no rebuild: the CLI on
# the eight fp8-ds rows of sparse-v32, two rounds alternating, then FlashMLA HEAD beside ours through
# the drop-in with it off and on. Needs carried: .device/flashmla.xz, .device/head (with pkg.tar.gz),
# python/flashmla_swift/libFlashMLASwiftC.so.
set -uo pipefail
python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" .device/flashmla.xz /tmp/flashmla && chmod +x /tmp/flashmla
export FLASHMLA_CACHE_DIR=$(mktemp -d) FLASHMLA_COLD_START=wait
mkdir -p /tmp/hp && tar -xzf .device/head/pkg.tar.gz -C /tmp/hp
/tmp/flashmla check-sparse --cases 4 --seed 5 | tail -1
for r in 1 2; do for pdl in 1 0; do
  FLASHMLA_PDL=$pdl timeout 60 /tmp/flashmla bench --grid sparse-v32 --only kv_format=fp8-ds --iterations 30 --json 2>/dev/null | sed "s/^{/{\"pdl\": $pdl, \"round\": $r, /" >> $OUT/cli.jsonl
done; done
python3 - $OUT/cli.jsonl <<'PY'
import json, sys, collections
t = collections.defaultdict(list)
for l in open(sys.argv[1]):
    if l.startswith("{"):
        r = json.loads(l); t[(r["b"], r["s_q"], r["h_q"])].append(f'pdl{r["pdl"]} {r["ms"]:.4f}')
for k, v in t.items(): print("b %d s_q %d h_q %d:" % k, "  ".join(v))
PY
for pdl in 0 1; do FLASHMLA_PDL=$pdl PYTHONPATH=/tmp/hp:$PWD/python timeout 60 python3 .device/head/bench_sparse.py --module flash_mla,flashmla_swift --impl head,ours-pdl$pdl > $OUT/drop-$pdl.jsonl 2>/dev/null; done
python3 - $OUT/drop-0.jsonl $OUT/drop-1.jsonl <<'PY'
import json, sys
for p in sys.argv[1:]:
    rows = [json.loads(l) for l in open(p) if l.startswith("{")]
    h = {(r["b"], r["s_q"], r["h_q"]): r["ms"] for r in rows if r["impl"] == "head"}
    for r in rows:
        if r["impl"] != "head": print(r["impl"], r["b"], r["s_q"], r["h_q"], "head %.4f ours %.4f head/ours %.3f" % (h[(r["b"], r["s_q"], r["h_q"])], r["ms"], h[(r["b"], r["s_q"], r["h_q"])] / r["ms"]))
PY
echo elapsed $SECONDS
