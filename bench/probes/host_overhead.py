#!/usr/bin/env python3
"""Host time of one decode call through each module's Python API, without the GPU's time.

Usage (on the GPU machine): PYTHONPATH=python python3 bench/probes/host_overhead.py ANCHOR [--calls 2000]

A small problem (b 2, 128 tokens, h_q 16) keeps the GPU's share of a call to a few microseconds,
so a loop of calls queued without synchronizing runs at the host's pace: wall time / calls is the
host cost of a call (Python wrapper, library, launches). Then cProfile splits our wrapper's time
between Python and the library call. One JSON line per module, then the profile's top lines.
"""
import argparse, cProfile, io, json, os, pstats, sys, time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("anchor")
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.anchor))
    import flash_mla
    import flashmla_swift
    b, s_q, h_q, d, dv = 2, 1, 16, 576, 512
    q = torch.randn(b, s_q, h_q, d, dtype=torch.bfloat16, device="cuda")
    cache = torch.randn(4, 64, 1, d, dtype=torch.bfloat16, device="cuda")
    table = torch.arange(4, dtype=torch.int32, device="cuda").view(b, 2)
    seqlens = torch.tensor([128, 100], dtype=torch.int32, device="cuda")
    for mod in (flash_mla, flashmla_swift):
        meta, splits = mod.get_mla_metadata(seqlens, s_q * h_q, 1)
        call = lambda: mod.flash_mla_with_kvcache(q, cache, table, seqlens, dv, meta, splits, causal=True)
        for _ in range(50):
            call()
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(args.calls):
            call()
        queued = time.perf_counter() - start
        torch.cuda.synchronize()
        total = time.perf_counter() - start
        print(json.dumps({"module": mod.__name__, "host_us_per_call": round(1e6 * queued / args.calls, 1),
                          "wall_us_per_call": round(1e6 * total / args.calls, 1)}), flush=True)
        if mod is flashmla_swift:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.calls):
                call()
            profile.disable()
            torch.cuda.synchronize()
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(14)
            print(text.getvalue())


if __name__ == "__main__":
    with torch.inference_mode():
        main()
