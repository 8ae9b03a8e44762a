#!/usr/bin/env bash
# Per-block time and fixed cost of the sparse decode, ours and FlashMLA HEAD in one call: V3.2's
# b 128, s_q 1 rows at several topk (TOPKS), each call's kernels timed under torch.profiler
# (bench_sparse.py --profile). The main kernel's time against topk is a line: its slope is the
# time of 64 more keys a worker (a block), its intercept the fixed cost (launch, fill, epilogue).
# (Our kernel launches programmatically, so its profiled time may include a wait for the kernel
# before it; the call times, from events, are printed beside.) Needs carried: .device/head,
# python/flashmla_swift/libFlashMLASwiftC.so.
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
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
# The main kernel: the longest of a call's kernels (the combine is the other).
main = lambda r: max(r["profile"]["kernels_us"].values())
fits = {}
for r in rows:
    print(f"{r['impl']:14s} h_q {r['h_q']:3d} topk {r['topk']:5d}: call {r['ms']:.4f} ms, main kernel {main(r):7.2f} us")
    fits.setdefault((r["impl"], r["h_q"]), []).append((r["topk"], main(r)))
for (impl, h), pts in sorted(fits.items()):
    (k0, t0), (k1, t1) = sorted(pts)[-2:]                   # the line through the two largest topk
    slope = (t1 - t0) / (k1 - k0)
    print(f"{impl:14s} h_q {h:3d}: {1024 * slope:.1f} us a 1024 keys, fixed {t1 - slope * k1:.1f} us")
PY
echo "elapsed ${SECONDS}s"
