#!/usr/bin/env python3
"""Times several flash_mla-API modules on the same inputs, interleaved, configuration by configuration.

Usage (on the GPU machine): python3 bench/interleave.py ANCHOR [--module NAME ...] [--rounds 3]
        [--only key=value,...] [--dtype bf16|fp16|both] [--check] [--graph]

Why: on the H200 the same kernel timed a whole grid apart differs by up to 15% (bench/BENCHMARKS.md,
"H200, this session"), more than most differences worth measuring. Here each configuration's
inputs are made once (bench_grid.py's: shuffled pages, NaN past each sequence's end), and every
module is timed on them in turn, `rounds` times, the order rotating each round; each module's
time is the median of its rounds (each round triton's do_bench median, L2 flushed before each
call). A module's ratio against the first is taken per configuration, from times seconds apart.

With --dtype both each module is timed at bf16 and at fp16 (each on its own random inputs of the
configuration), named MODULE@bf16 and MODULE@fp16, so the summary's ratio for
MODULE@fp16 is its bf16 time over its fp16 time, from times seconds apart (FlashMLA's anchor build
has no fp16: give --module flashmla_swift).

With --graph each module's call is captured once in a torch CUDA graph and the replay is timed:
the GPU's time alone, as an engine that captures its decode step sees it. Without it the call is
timed as bench_grid.py times it, which also counts host work that outlasts the L2 flush before it.

One JSON line per configuration and module, as bench_grid.py's (plus "rounds_ms"), then a
summary line per module: geometric mean of first-module ms / this module's ms.
"""
import argparse, importlib, json, math, os, sys

import torch
import triton


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("anchor", help="folder holding bench_grid.py, grid.json and FlashMLA's build")
    ap.add_argument("--module", action="append", default=None,
                    help="module with the flash_mla API (repeatable; default flash_mla flashmla_swift)")
    ap.add_argument("--grid", default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "both"])
    ap.add_argument("--only", default=None, help="comma list of key=value filters")
    ap.add_argument("--check", action="store_true", help="cos-diff of every module against the float32 reference")
    ap.add_argument("--graph", action="store_true", help="time CUDA-graph replays of each call")
    ap.add_argument("--fp16-bf16-values", action="store_true",
                    help="fp16 inputs hold only bf16-representable values (randn rounded through bf16): "
                         "separates the element type's code path from its data's bit patterns")
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.anchor))
    import bench_grid  # the anchor's inputs and reference, so both harnesses build the same problem

    # Our module compiles a slow kernel in the background and runs a substitute meanwhile (the
    # README's FLASHMLA_COLD_START); a measurement waits for the kernel it names instead.
    os.environ.setdefault("FLASHMLA_COLD_START", "wait")
    modules = args.module or ["flash_mla", "flashmla_swift"]
    mods = [importlib.import_module(n) for n in modules]
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}
    if args.dtype != "both":
        dtypes = {args.dtype: dtypes[args.dtype]}
    both = len(dtypes) > 1
    names = [f"{n}@{dt}" if both else n for dt in dtypes for n in modules]
    grid = json.load(open(args.grid or os.path.join(args.anchor, "grid.json")))
    filters = [kv.split("=") for kv in args.only.split(",")] if args.only else []
    torch.manual_seed(0)
    ratios = {n: [] for n in names[1:]}
    for cfg in grid["configs"]:
        if any(str(cfg.get(k)) != v for k, v in filters):
            continue
        calls, rows0 = {}, {}
        for dt, dtype in dtypes.items():
            made, row_dt = inputs(cfg, mods, dtype, args.check, bench_grid, args.graph,
                                  args.fp16_bf16_values and dtype == torch.float16)
            for n in modules:
                key = f"{n}@{dt}" if both else n
                calls[key], rows0[key] = made[n], row_dt
        times = {n: [] for n in names}
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for n in order:
                times[n].append(triton.testing.do_bench(calls[n][0], warmup=25, rep=200, return_mode="median"))
        for n in names:
            ms = sorted(times[n])[len(times[n]) // 2]
            row0 = rows0[n]
            row = dict(row0, impl=n, ms=round(ms, 4), rounds_ms=[round(t, 4) for t in times[n]],
                       tflops=round(row0["flops"] / ms / 1e9, 1), gbps=round(row0["bytes"] / ms / 1e6, 1))
            row.update(calls[n][1])
            print(json.dumps(row), flush=True)
            if n != names[0]:
                first = sorted(times[names[0]])[len(times[names[0]]) // 2]
                ratios[n].append(first / ms)
    for n, rs in ratios.items():
        if rs:
            geo = math.exp(sum(math.log(x) for x in rs) / len(rs))
            print(json.dumps({"summary": n, "versus": names[0], "geomean_ratio": round(geo, 4),
                              "min": round(min(rs), 4), "max": round(max(rs), 4), "configs": len(rs)}), flush=True)


def graphed(call):
    """`call` captured in a CUDA graph (after one eager call outside capture); returns the replay."""
    call()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        call()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        call()
    torch.cuda.synchronize()
    return graph.replay


def inputs(cfg, mods, dtype, check, bench_grid, graph=False, bf16_values=False):
    """Each module's decode call on one set of inputs (bench_grid.run's), and its check fields;
    with `bf16_values` q and the cache are rounded through bfloat16 (8 significant bits)."""
    b, s_q, h_q, h_kv, d, dv = cfg["b"], cfg["s_q"], cfg["h_q"], cfg["h_kv"], cfg["d"], cfg["dv"]
    page = cfg.get("page_block_size", 64)
    lens = cfg["cache_seqlens"]
    seqlens = torch.tensor(lens, dtype=torch.int32, device="cuda")
    max_pad = triton.cdiv(max(lens), 256) * 256
    q = torch.randn(b, s_q, h_q, d, dtype=dtype, device="cuda")
    n_blocks = b * max_pad // page
    table = torch.randperm(n_blocks, dtype=torch.int32, device="cuda").view(b, max_pad // page)
    cache = torch.randn(n_blocks, page, h_kv, d, dtype=dtype, device="cuda")
    if bf16_values:
        q, cache = q.bfloat16().to(dtype), cache.bfloat16().to(dtype)
    flat = cache.view(-1, h_kv, d)
    for i in range(b):
        tail = table[i].long().repeat_interleave(page) * page + torch.arange(page, device="cuda").repeat(max_pad // page)
        flat[tail[lens[i]:]] = float("nan")
    causal = cfg.get("causal", True)
    ref = bench_grid.reference(q, cache, table, lens, dv, causal, d ** -0.5) if check else None
    calls = {}
    for mod in mods:
        meta, splits = mod.get_mla_metadata(seqlens, s_q * h_q // h_kv, h_kv)
        call = (lambda mod=mod, meta=meta, splits=splits:
                mod.flash_mla_with_kvcache(q, cache, table, seqlens, dv, meta, splits, causal=causal))
        extra = {}
        if check:
            out, lse = call()
            extra = {"cos_diff_out": bench_grid.cos_diff(out, ref[0]), "cos_diff_lse": bench_grid.cos_diff(lse, ref[1]),
                     "nan_out": bool(torch.isnan(out).any().item())}
        calls[mod.__name__] = (graphed(call) if graph else call, extra)
    total = int(sum(lens))
    row = {k: cfg[k] for k in ("b", "s_q", "mean_sk", "h_q", "h_kv", "d", "dv", "causal", "varlen")}
    row.update(dtype=str(dtype).replace("torch.", ""), total_seqlens=total, timing="graph" if graph else "eager",
               flops=2 * s_q * total * h_q * (d + dv),
               bytes=(total * h_kv * d + b * s_q * h_q * (d + dv)) * (torch.finfo(dtype).bits // 8))
    return calls, row


if __name__ == "__main__":
    with torch.inference_mode():
        main()
