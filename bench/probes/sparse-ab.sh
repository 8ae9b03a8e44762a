#!/usr/bin/env bash
# Two builds of the CLI in one call, for the Hopper sparse kernel's V3.2 rows at b = 128 (fp8-ds):
# .device/flashmla.xz (this build) and .device/before.xz (another), two rounds each, after a
# 30-case check-sparse of this build. Needs carried: both .xz files.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
for n in flashmla before; do python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" .device/$n.xz /tmp/$n && chmod +x /tmp/$n; done
export FLASHMLA_CACHE_DIR=$(mktemp -d)
timeout 60 /tmp/flashmla check-sparse --cases 30 --seed 31 --format fp8-ds --mode sparse 2>&1 | tail -1
for r in 1 2; do for n in flashmla before; do
  timeout 60 /tmp/$n bench --grid sparse-v32 --only kv_format=fp8-ds --only b=128 --iterations 30 --json 2>/dev/null | sed "s/^{/{\"build\": \"$n\", \"rep\": $r, /" >> $OUT/ab.jsonl
done; done
python3 - $OUT/ab.jsonl <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l); print(r["build"], r["rep"], r["b"], r["s_q"], r["h_q"], r["ms"])
PY
echo elapsed $SECONDS
