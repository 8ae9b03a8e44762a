#!/usr/bin/env python3
"""The short table a sparse device call prints last (bench/sparse-grid-call.sh, sparse-hopper-call.sh).

Reads OUT/sparse.jsonl (bench_sparse.py: FlashMLA HEAD and ours, with --check's cos-diffs),
OUT/sparse-cli[-variant|-before].jsonl (variant rows carry their kernel options) (`flashmla bench --grid sparse-v32`) and OUT/grid-{bf16,fp16}.jsonl
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
# `flashmla bench --grid sparse-v32`: this build, and beside it the variant and the previous build
# (sparse-cli-variant.jsonl, sparse-cli-before.jsonl) where the call ran them.
def cli_key(r):
    return (r.get("b"), r.get("s_q"), r.get("h_q"), r.get("kv_format"))


others = {"before": {cli_key(r): r for r in rows("sparse-cli-before.jsonl")}}
for r in rows("sparse-cli-variant.jsonl"):
    others.setdefault(r.get("variant", "variant"), {})[cli_key(r)] = r
for r in rows("sparse-cli.jsonl"):
    line = {k: r.get(k) for k in ("b", "s_q", "h_q", "kv_format", "ms", "tflops")}
    for name, table in others.items():
        if cli_key(r) in table:
            line[name] = table[cli_key(r)].get("ms")
    print("cli", line)
for dt in ("bf16", "fp16"):
    for r in rows(f"grid-{dt}.jsonl"):
        if "summary" in r:
            print(dt, r)
