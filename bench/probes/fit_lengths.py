#!/usr/bin/env python3
"""Rate and fixed cost of a call, ours against FlashMLA's, from one call's grid timings.

Usage: python3 bench/probes/fit_lengths.py OURS.jsonl FLASHMLA.jsonl [more OURS FLASHMLA pairs]

For each uniform (not varlen) row group of the grid (s_q, h_q) the time against the cache
length (4k, 8k, 16k tokens) is fitted with a line: its slope is the streaming rate (µs a 1024
tokens a request, b = 128), its intercept the fixed cost of a call (launch, pipeline fill, the
epilogue's store, the combine). Both files must come from the same device call.
"""
import json, sys

def load(path):
    rows = (json.loads(l) for l in open(path) if l.lstrip().startswith("{"))
    return {(r["s_q"], r["mean_sk"], r["h_q"]): r["ms"] for r in rows if "summary" not in r and not r.get("varlen")}

def fit(points):
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
    return slope, my - slope * mx

args = sys.argv[1:]
for ours_path, fm_path in zip(args[::2], args[1::2]):
    ours, fm = load(ours_path), load(fm_path)
    print(f"{ours_path} against {fm_path}")
    print("  s_q  h_q | ours µs/1k  fixed µs | FlashMLA µs/1k  fixed µs | rate ratio  fixed +µs")
    for sq, h in sorted({(k[0], k[2]) for k in ours}):
        lengths = sorted(k[1] for k in ours if k[0] == sq and k[2] == h and (sq, k[1], h) in fm)
        if len(lengths) < 2:
            continue
        so, io = fit([(x / 1024, ours[(sq, x, h)] * 1000) for x in lengths])
        sf, i_f = fit([(x / 1024, fm[(sq, x, h)] * 1000) for x in lengths])
        print(f"  {sq:3d}  {h:3d} | {so:10.2f} {io:9.1f} | {sf:14.2f} {i_f:9.1f} | {so / sf:10.3f} {io - i_f:+9.1f}")
