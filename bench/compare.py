#!/usr/bin/env python3
"""Side-by-side table of two bench_grid-style JSON-lines files (ours first, FlashMLA second).

Usage: python3 bench/compare.py ours.jsonl flashmla.jsonl
Rows are matched on (s_q, mean_sk, h_q, h_kv, varlen). Prints ms, GB/s and the ratio
FlashMLA time / ours (> 1: we are faster), then the geometric mean of the ratio.
"""
import json, math, sys

KEY = ("s_q", "mean_sk", "h_q", "h_kv", "varlen")


def load(path):
    rows = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            row = json.loads(line)
            rows[tuple(row.get(k) for k in KEY)] = row
    return rows


def main():
    ours, theirs = load(sys.argv[1]), load(sys.argv[2])
    print(f"{'s_q':>3} {'mean_sk':>7} {'h_q':>4} {'varlen':>6} | {'ours ms':>8} {'GB/s':>7} {'TFLOPS':>6} | "
          f"{'FlashMLA ms':>11} {'GB/s':>7} | {'ratio':>6}")
    ratios = []
    for key, row in ours.items():
        other = theirs.get(key)
        ratio = other["ms"] / row["ms"] if other and row["ms"] > 0 else float("nan")
        if other:
            ratios.append(ratio)
        print(f"{key[0]:>3} {key[1]:>7} {key[2]:>4} {str(key[4]):>6} | {row['ms']:>8.4f} {row['gbps']:>7.1f} "
              f"{row['tflops']:>6.1f} | {other['ms'] if other else float('nan'):>11.4f} "
              f"{other['gbps'] if other else float('nan'):>7.1f} | {ratio:>6.3f}")
    if ratios:
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"geometric mean of FlashMLA ms / ours: {geo:.3f} over {len(ratios)} configurations; "
              f"min {min(ratios):.3f}, max {max(ratios):.3f}")


if __name__ == "__main__":
    main()
