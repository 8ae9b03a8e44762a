#!/usr/bin/env bash
# A closing call for the dense grid (about two minutes): racecheck and synccheck on the seesaw kernel
# forced, on small cases (racecheck of a whole check run outlasts a call; SANITIZE_TOOLS, SEEDS), then
# bf16 against fp16 for our Python module, interleaved configuration by configuration
# (bench/interleave.py --dtype both, $ROUNDS rounds), so that the fp16 / bf16 ratio of each grid
# row comes from times seconds apart. Needs carried: .device/flashmla.xz, .device/anchor,
# python/flashmla_swift/libFlashMLASwiftC.so.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" .device/flashmla.xz /tmp/flashmla && chmod +x /tmp/flashmla
export FLASHMLA_CACHE_DIR=$(mktemp -d) PYTHONUNBUFFERED=1
B=/tmp/flashmla; SAN=/usr/local/cuda/bin/compute-sanitizer
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv,noheader | tee "$OUT/log.txt"
FLASHMLA_KERNEL=sm90-seesaw timeout 60 $B check --backend cuda --cases 20 --seed 91 2>&1 | tail -1 | tee "$OUT/checks.txt"
for tool in ${SANITIZE_TOOLS:-racecheck synccheck}; do
  for seed in ${SEEDS:-7}; do
    FLASHMLA_KERNEL=sm90-seesaw timeout ${SANITIZE_TIMEOUT:-150} $SAN --tool $tool --print-limit 4 --error-exitcode 9 \
      $B check --backend cuda --cases 1 --token-budget ${SANITIZE_TOKENS:-3000} --seed $seed > /tmp/san.txt 2>&1
    echo "== $tool sm90-seesaw seed $seed rc $? (${SECONDS}s)"; grep -E "SUMMARY|passed|FAIL|Error|Hazard" /tmp/san.txt | head -8
  done
done 2>&1 | tee "$OUT/sanitize.txt" | grep -E "^==|SUMMARY"
(cd .device/anchor && PYTHONPATH=$OLDPWD/python timeout ${INTERLEAVE_TIMEOUT:-300} python3 $OLDPWD/bench/interleave.py . \
  --module flashmla_swift --dtype both --rounds ${ROUNDS:-3}) > "$OUT/interleave.jsonl" 2>> "$OUT/log.txt"
echo "interleave rc $?"; tail -2 "$OUT/interleave.jsonl"
python3 - "$OUT/interleave.jsonl" <<'PY'
import json, sys
rows = {}
for l in open(sys.argv[1]):
    if not l.startswith("{"): continue
    r = json.loads(l)
    if "ms" not in r or "impl" not in r: continue
    key = tuple(r.get(k) for k in ("s_q", "mean_sk", "h_q", "varlen"))
    rows.setdefault(key, {})[r["impl"]] = r["ms"]
bad = 0
for k, v in rows.items():
    b, f = v.get("flashmla_swift@bf16"), v.get("flashmla_swift@fp16")
    if b and f:
        ratio = f / b; bad += abs(ratio - 1) > 0.03
        print("s_q %s sk %s h_q %s varlen %s: bf16 %.4f fp16 %.4f fp16/bf16 %.3f" % (*k, b, f, ratio))
print(f"rows beyond 3%: {bad} of {len(rows)}")
PY
tar -czf /tmp/all.tar.gz -C "$OUT" . && mv /tmp/all.tar.gz "$OUT/0-all.tar.gz"
echo "elapsed ${SECONDS}s"
