#!/usr/bin/env bash
# A short closing call for the Hopper sparse kernel: check-sparse (automatic kernels, h_q 128,
# the FP8 → fp16 kernels) and FlashMLA HEAD beside ours through the drop-in on V3.2's eight
# shapes (cos-diff checked). Needs carried: .device/flashmla.xz, .device/head,
# python/flashmla_swift/libFlashMLASwiftC.so.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" .device/flashmla.xz /tmp/flashmla && chmod +x /tmp/flashmla
export FLASHMLA_CACHE_DIR=$(mktemp -d) PYTHONUNBUFFERED=1
HEAD_PKG=/tmp/flashmla-head/pkg; mkdir -p $HEAD_PKG && tar -xzf .device/head/pkg.tar.gz -C $HEAD_PKG
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv,noheader | tee "$OUT/log.txt"
{ timeout 40 /tmp/flashmla check-sparse --cases 30 --seed 41 | tail -1
  timeout 30 /tmp/flashmla check-sparse --cases 8 --seed 42 --heads 128 --format fp8-ds --mode sparse | tail -1
  timeout 30 /tmp/flashmla check-sparse --cases 8 --seed 43 --format fp8-ds --dtype fp16 --mode sparse | tail -1; } 2>&1 | tee "$OUT/checks.txt"
PYTHONPATH=$HEAD_PKG:$PWD/python timeout 170 python3 .device/head/bench_sparse.py --module flash_mla,flashmla_swift \
  --impl flashmla-head,ours --check > "$OUT/sparse.jsonl" 2>> "$OUT/log.txt"; echo "sparse bench rc $?"
python3 - "$OUT/sparse.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
head = {(r["b"], r["s_q"], r["h_q"]): r["ms"] for r in rows if r["impl"] == "flashmla-head"}
for r in rows:
    if r["impl"] == "ours":
        k = (r["b"], r["s_q"], r["h_q"])
        print(f"b {k[0]} s_q {k[1]} h_q {k[2]}: HEAD {head[k]:.4f} ours {r['ms']:.4f} HEAD/ours {head[k] / r['ms']:.3f} cos_diff out {r.get('cos_diff_out'):.1e} lse {r.get('cos_diff_lse'):.1e}")
PY
echo "elapsed ${SECONDS}s"
