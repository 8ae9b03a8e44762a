#!/usr/bin/env python3
"""SM clock and board power while each module runs one grid configuration (the H200 runs these
kernels at its power limit, so a kernel's clock is part of its speed).

Usage (on the GPU machine): python3 bench/probes/clock_probe.py ANCHOR [--module NAME ...]
        [--only key=value,... (repeatable: one configuration set each)] [--seconds 4] [--rounds 2]

For each configuration the modules get the same inputs (bench/interleave.py's), and each in turn,
`rounds` times, is timed with triton's do_bench (L2 flushed before each call) over a window of
`seconds` while nvidia-smi samples the SM clock and the power draw every 100 ms. Prints one JSON
line a configuration and module: median ms, the median and the 10th percentile of the sampled
clock, the median power.
"""
import argparse, datetime, importlib, json, os, statistics, subprocess, sys, time

import torch
import triton

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import interleave  # noqa: E402  (bench/interleave.py: the inputs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("anchor")
    ap.add_argument("--module", action="append", default=None)
    ap.add_argument("--only", action="append", default=None)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.anchor))
    import bench_grid

    # Our module compiles a slow kernel in the background and runs a substitute meanwhile (the
    # README's FLASHMLA_COLD_START); a measurement waits for the kernel it names instead.
    os.environ.setdefault("FLASHMLA_COLD_START", "wait")
    modules = args.module or ["flash_mla", "flashmla_swift"]
    mods = [importlib.import_module(n) for n in modules]
    grid = json.load(open(os.path.join(args.anchor, "grid.json")))
    smi = subprocess.Popen(["nvidia-smi", "--query-gpu=timestamp,clocks.sm,power.draw", "--format=csv,noheader,nounits",
                            "-lms", "100"], stdout=subprocess.PIPE, text=True)
    windows = []
    torch.manual_seed(0)
    for only in args.only or ["mean_sk=16384,h_q=16,s_q=1,varlen=False"]:
        filters = [kv.split("=") for kv in only.split(",")]
        cfg = next(c for c in grid["configs"] if all(str(c.get(k)) == v for k, v in filters))
        calls, _ = interleave.inputs(cfg, mods, torch.bfloat16, False, bench_grid)
        for n in modules:   # compiles (FLASHMLA_COLD_START=wait) and warm-up outside the sampled windows
            calls[n][0]()
        torch.cuda.synchronize()
        for r in range(args.rounds):
            for n in (modules if r % 2 == 0 else modules[::-1]):
                call = calls[n][0]
                t0, times = time.time(), []
                while time.time() - t0 < args.seconds:
                    times.append(triton.testing.do_bench(call, warmup=10, rep=100, return_mode="median"))
                windows.append((only, n, t0 + 0.3, time.time(), times))
    smi.terminate()
    samples = []
    for line in smi.stdout.read().splitlines():
        try:
            ts, clk, pw = [x.strip() for x in line.split(",")]
            t = datetime.datetime.strptime(ts, "%Y/%m/%d %H:%M:%S.%f").timestamp()
            samples.append((t, float(clk), float(pw)))
        except ValueError:
            continue
    merged = {}
    for only, n, a, b, times in windows:
        m = merged.setdefault((only, n), {"ms": [], "clk": [], "pw": []})
        m["ms"] += times
        m["clk"] += [c for t, c, p in samples if a <= t <= b]
        m["pw"] += [p for t, c, p in samples if a <= t <= b]
    for (only, n), m in merged.items():
        clk = sorted(m["clk"]) or [float("nan")]
        print(json.dumps({"config": only, "module": n, "ms": round(statistics.median(m["ms"]), 4),
                          "sm_mhz_median": statistics.median(clk), "sm_mhz_p10": clk[len(clk) // 10],
                          "power_w_median": round(statistics.median(m["pw"] or [float("nan")]), 1),
                          "samples": len(m["clk"])}), flush=True)


if __name__ == "__main__":
    main()
