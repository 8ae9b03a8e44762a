#!/usr/bin/env python3
"""Where a decode call's time goes outside its main kernel.

For each chosen grid configuration, FlashMLA's reference build and flashmla_swift are timed the
way bench_grid.py times them (a 256 MiB buffer written before every call, so the L2 holds dirty
lines of it; CUDA events; median), and once more with a flush that only reads the buffer (the L2
then holds clean lines, so nothing is written back under the call). Then a few calls of each run
under torch.profiler (CUPTI), and each call's kernels are read from the trace: the main kernel's
and the combine's own durations as they ran, the gap between the flush's end and the first
kernel's start, and the span from that start to the last kernel's end. The two outputs are
compared (cos-diff) so that neither is timed computing nothing.

Usage on the GPU machine:
    PYTHONPATH=python python3 bench/probes/timeline_probe.py ANCHOR_DIR [--only s_q=1,h_q=32/...]
Prints one JSON line per configuration, implementation and flush, then a table."""
import argparse, importlib, json, os, statistics, sys, tempfile

from latency_probe import build   # the inputs bench_grid.py builds (pages shuffled over the cache)

FLUSH_BYTES = 256 << 20


def event_median(call, flush, reps=60):
    import torch
    times = []
    for _ in range(reps):
        flush()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); call(); b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def profile_calls(call, flush, reps=12):
    """Per call: (gap flush end → first kernel, first kernel's duration, the rest's durations,
    span first start → last end), in µs, from a CUPTI trace."""
    import torch
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            flush()
            call()
        torch.cuda.synchronize()
    path = tempfile.mktemp(suffix=".json")
    prof.export_chrome_trace(path)
    events = [e for e in json.load(open(path))["traceEvents"] if e.get("cat") == "kernel"]
    os.unlink(path)
    events.sort(key=lambda e: e["ts"])
    calls, cur = [], None
    for e in events:
        if "FillFunctor" in e["name"] or "reduce_kernel" in e["name"] or "flush" in e["name"]:
            cur = {"flush_end": e["ts"] + e["dur"], "kernels": []}
            calls.append(cur)
        elif cur is not None:
            cur["kernels"].append((e["name"], e["ts"], e["dur"]))
    rows = []
    for c in calls[2:]:                       # the first calls may include first-launch costs
        ks = c["kernels"]
        if not ks:
            continue
        rows.append({"gap": ks[0][1] - c["flush_end"], "main": ks[0][2],
                     "rest": [round(k[2], 2) for k in ks[1:]],
                     "rest_gap": [round(ks[i][1] - ks[i - 1][1] - ks[i - 1][2], 2) for i in range(1, len(ks))],
                     "span": ks[-1][1] + ks[-1][2] - ks[0][1], "names": [k[0][:40] for k in ks]})
    med = lambda key: statistics.median(r[key] for r in rows)
    return {"gap_us": round(med("gap"), 2), "main_us": round(med("main"), 2), "span_us": round(med("span"), 2),
            "rest_us": rows[len(rows) // 2]["rest"], "rest_gap_us": rows[len(rows) // 2]["rest_gap"],
            "names": rows[0]["names"], "calls": len(rows)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("anchor")
    ap.add_argument("--only", default="s_q=1,mean_sk=4096,h_q=32,varlen=False")
    args = ap.parse_args()
    import torch  # noqa: E401
    sys.path.insert(0, args.anchor)
    torch.set_grad_enabled(False)
    mods = {"flash_mla": importlib.import_module("flash_mla"), "ours": importlib.import_module("flashmla_swift")}
    grid = json.load(open(os.path.join(args.anchor, "grid.json")))
    buf = torch.empty(FLUSH_BYTES, dtype=torch.int8, device="cuda")
    flushes = {"zero": lambda: buf.zero_(), "read": lambda: buf.view(torch.int32).amax()}
    torch.manual_seed(3)
    summary = []
    for only in args.only.split("/"):
        filters = [kv.split("=") for kv in only.split(",")]
        for cfg in grid["configs"]:
            if any(str(cfg.get(k)) != v for k, v in filters):
                continue
            s_q, h_q, h_kv, dv = cfg["s_q"], cfg["h_q"], cfg["h_kv"], cfg["dv"]
            q, kcache, table, seqlens = build(cfg, "dram", torch.bfloat16)
            outs = {}
            for name, mod in mods.items():
                meta, splits = mod.get_mla_metadata(seqlens, s_q * h_q // h_kv, h_kv)
                call = lambda: mod.flash_mla_with_kvcache(q, kcache, table, seqlens, dv, meta, splits, causal=True)
                outs[name] = call()[0].float()
                for _ in range(10):
                    call()
                for fname, flush in flushes.items():
                    row = {k: cfg[k] for k in ("s_q", "mean_sk", "h_q", "varlen")}
                    row.update(impl=name, flush=fname, ms=round(event_median(call, flush), 4))
                    row.update(profile_calls(call, flush))
                    print(json.dumps(row), flush=True)
                    summary.append(row)
            x, y = outs["flash_mla"].double(), outs["ours"].double()
            agree = 1 - 2 * (x * y).sum().item() / max((x * x + y * y).sum().item(), 1e-12)
            print(json.dumps({"s_q": s_q, "mean_sk": cfg["mean_sk"], "h_q": h_q, "varlen": cfg["varlen"],
                              "cos_diff_between": agree}), flush=True)
    print("s_q sk h_q varlen impl flush | event ms | gap→first µs | main µs | rest µs (gaps) | span µs")
    for r in summary:
        print(r["s_q"], r["mean_sk"], r["h_q"], r["varlen"], r["impl"], r["flush"], "|", r["ms"], "|", r["gap_us"], "|",
              r["main_us"], "|", r["rest_us"], r["rest_gap_us"], "|", r["span_us"])


if __name__ == "__main__":
    main()
