#!/usr/bin/env bash
# Per-block time and fixed cost of the sparse decode, ours and FlashMLA HEAD in one call: V3.2's
# b 128, s_q 1 rows at several topk (TOPKS), each call's kernels timed under torch.profiler
# (bench_sparse.py --profile). The main kernel's time against topk is a line: its slope is the
# time of 64 more keys a worker (a block), its intercept the fixed cost (launch, fill, epilogue).
# Needs carried: .device/head, python/flashmla_swift/libFlashMLASwiftC.so.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export FLASHMLA_CACHE_DIR=$(mktemp -d) PYTHONUNBUFFERED=1
HEAD_PKG=/tmp/flashmla-head/pkg; mkdir -p $HEAD_PKG && tar -xzf .device/head/pkg.tar.gz -C $HEAD_PKG
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv,noheader | tee "$OUT/log.txt"
for k in ${TOPKS:-1024 2048 4096}; do
  PYTHONPATH=$HEAD_PKG:$PWD/python timeout 120 python3 .device/head/bench_sparse.py --module flash_mla,flashmla_swift \
    --impl flashmla-head,ours --batches 128 --s-q 1 --heads ${HEADS:-64,128} --topk $k --profile 10 ${EXTRA:-} \
    | sed "s/^{/{\"topk\": $k, /" >> "$OUT/fixed.jsonl" 2>> "$OUT/log.txt"
done
python3 - "$OUT/fixed.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for r in rows:
    p = r.get("profile", {})
    ks = {k: v for k, v in p.items() if isinstance(v, (int, float))} if isinstance(p, dict) else p
    print(r["impl"], "h_q", r["h_q"], "topk", r["topk"], "ms", r["ms"], "profile", json.dumps(ks)[:300])
PY
echo "elapsed ${SECONDS}s"
