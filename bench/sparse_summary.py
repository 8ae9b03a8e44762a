#!/usr/bin/env python3
"""The short table a sparse device call prints last (bench/sparse-grid-call.sh, sparse-hopper-call.sh).

Reads OUT/sparse.jsonl (bench_sparse.py: FlashMLA HEAD and ours, with --check's cos-diffs),
OUT/sparse-cli.jsonl (`flashmla bench --grid sparse-v32`) and OUT/grid-{bf16,fp16}.jsonl
(interleave.py's summary lines), whichever exist.
"""
import json
import os
import sys

out = sys.argv[1]


def rows(name):
    path = os.path.join(out, name)
    return [json.loads(line) for line in open(path) if line.startswith("{")] if os.path.exists(path) else []


keys = ("impl", "b", "h_q", "s_q", "ms", "tflops", "cos_diff_out", "cos_diff_lse", "error")
for r in rows("sparse.jsonl"):
    print({k: r[k] for k in keys if k in r})
for r in rows("sparse-cli.jsonl"):
    print("cli", {k: r.get(k) for k in ("b", "s_q", "h_q", "topk", "kv_format", "kernel", "ms", "tflops")})
for dt in ("bf16", "fp16"):
    for r in rows(f"grid-{dt}.jsonl"):
        if "summary" in r:
            print(dt, r)
