#!/usr/bin/env bash
# Where the h_q 64 and 128 rows' time goes, ours beside FlashMLA HEAD: (1) the role trace
# (sparse-trace.sh: cycles a block per phase, the kernel's span and the SM clock); (2) HEAD and
# ours through the drop-in under torch.profiler (each kernel's duration, a call's span); (3) ncu
# with SASS-level source counters on both kernels (b 128, s_q 1, h_q 64), as CSV.
# Needs carried: .device/flashmla.xz, .device/head, python/flashmla_swift/libFlashMLASwiftC.so.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
ROOT=$PWD
HEAD_PKG=/tmp/flashmla-head/pkg
mkdir -p $HEAD_PKG && tar -xzf .device/head/pkg.tar.gz -C $HEAD_PKG
ROWS=${ROWS:-"64:fp8-ds 128:fp8-ds"} bash bench/probes/sparse-trace.sh 2>&1 | grep -v "^elapsed"
export FLASHMLA_CACHE_DIR=$(mktemp -d)
PYTHONPATH=$HEAD_PKG:$ROOT/python timeout 240 python3 .device/head/bench_sparse.py --module flash_mla,flashmla_swift \
  --impl head,ours --only b=128,s_q=1 --iters 30 --profile 10 > "$OUT/profile.jsonl" 2>> "$OUT/profile-log.txt"
echo "profile rc $?"
python3 - "$OUT/profile.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    p = r.get("profile", {})
    print(f"{r['impl']:5} h_q {r['h_q']}: {r.get('ms')} ms (events) | span {p.get('span_us')} us, gap after flush {p.get('gap_after_flush_us')} us | " +
          "; ".join(f"{k[:40]} {v}" for k, v in p.get("kernels_us", {}).items()))
PY
NCU=/usr/local/cuda/bin/ncu
for who in head ours; do
  if [[ $who == head ]]; then
    cmd=(env PYTHONPATH=$HEAD_PKG python3 .device/head/bench_sparse.py --module flash_mla --only b=128,h_q=64,s_q=1 --iters 2 --warmup 1)
  else
    cmd=(/tmp/flashmla bench --grid sparse-v32 --only b=128 --only s_q=1 --only h_q=64 --only kv_format=fp8-ds --iterations 3 --warmup-ms 0)
  fi
  timeout 150 $NCU --kernel-name regex:sparse --launch-skip 2 --launch-count 1 --section SourceCounters --section WarpStateStats \
    --import-source no -f -o /tmp/ncu-$who "${cmd[@]}" > "$OUT/ncu-$who-log.txt" 2>&1
  echo "ncu $who rc $?"
  $NCU -i /tmp/ncu-$who.ncu-rep --page source --csv --print-source sass > "$OUT/ncu-$who-sass.csv" 2> "$OUT/ncu-$who-sass.err"
  echo "source page $who rc $? lines $(wc -l < "$OUT/ncu-$who-sass.csv")"
  head -c 600 "$OUT/ncu-$who-sass.csv"; echo
done
echo "elapsed ${SECONDS}s"
