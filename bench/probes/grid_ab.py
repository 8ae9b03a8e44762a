#!/usr/bin/env python3
"""Several `flashmla bench --grid … --json` runs of one call side by side, with FlashMLA's.

Usage: python3 bench/probes/grid_ab.py run0.jsonl run1.jsonl … [--flashmla flashmla.jsonl]
Rows are matched on (s_q, mean_sk, h_q, h_kv, varlen), as bench/compare.py does. Per row: our
kernel, each run's ms, run0 / run1 (> 1: run1 faster, so with lockstep-lean.sh's order this /
base / this, < 1 means this build is faster), and FlashMLA ms / each run. Last, per kernel and
over all rows: the geometric means of run_i / run_0 and of FlashMLA / run_i, and how many rows
each run is at least as fast as FlashMLA on.
"""
import argparse, math, collections, os, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from compare import load  # noqa: E402  (rows keyed as compare.py keys them)


def geo(values):
    values = [v for v in values if v > 0 and math.isfinite(v)]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--flashmla")
    args = ap.parse_args()
    runs = [load(p) for p in args.runs]
    fm = load(args.flashmla) if args.flashmla else {}
    n = len(runs)
    head = f"{'s_q':>3} {'sk':>5} {'h_q':>3} {'var':>3} {'kernel':<14}" + "".join(f" {'run%d' % i:>7}" for i in range(n))
    head += f" {'FlashMLA':>8}" + "".join(f" {'FM/r%d' % i:>6}" for i in range(n)) + (f" {'r1/r0':>6}" if n > 1 else "")
    print(head)
    by_kernel = collections.defaultdict(lambda: {"self": [[] for _ in range(n)], "fm": [[] for _ in range(n)], "wins": [0] * n})
    for key, row in runs[0].items():
        ms = [r[key]["ms"] if key in r else float("nan") for r in runs]
        f = fm.get(key, {}).get("ms", float("nan"))
        kernel = row.get("kernel", "?")
        line = f"{key[0]:>3} {key[1] // 1024:>4}k {key[2]:>3} {'y' if key[4] else 'n':>3} {kernel:<14}"
        line += "".join(f" {m:>7.4f}" for m in ms) + f" {f:>8.4f}" + "".join(f" {f / m:>6.3f}" for m in ms)
        if n > 1:
            line += f" {ms[1] / ms[0]:>6.3f}"
        print(line)
        for group in (kernel, "all"):
            g = by_kernel[group]
            for i, m in enumerate(ms):
                g["self"][i].append(m / ms[0])
                g["fm"][i].append(f / m)
                g["wins"][i] += f >= m
    for group, g in by_kernel.items():
        rows = len(g["fm"][0])
        print(f"{group} ({rows} rows): run_i / run0 " + " ".join(f"{geo(v):.4f}" for v in g["self"])
              + "; FlashMLA / run_i " + " ".join(f"{geo(v):.3f}" for v in g["fm"])
              + "; ≥ FlashMLA " + " ".join(f"{w}/{rows}" for w in g["wins"]))


if __name__ == "__main__":
    main()
