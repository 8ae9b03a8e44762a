#!/usr/bin/env python3
"""Is a kernel limited by how long its pages take to arrive, or by its own work on the SM?

Times FlashMLA's reference build and flashmla_swift on grid configurations twice: with the
cache's pages shuffled over the whole cache (as bench_grid.py does: each page comes from DRAM)
and with every request's pages drawn from a pool of POOL pages (a few MB that stay in L2, so a
page arrives after an L2 hit instead of a DRAM read). The bytes and FLOPs are the same in both.
A kernel whose time falls a lot in the pool mode was waiting for its pages; the ratio of the two
kernels in the pool mode is what their work on the SM alone costs. Both outputs are compared with
each other (cos-diff) so that neither is timed computing nothing.

Usage on the GPU machine:
    PYTHONPATH=python python3 bench/probes/latency_probe.py ANCHOR_DIR [--only h_q=128] [--dtype bf16]
Prints one JSON line per configuration, mode and implementation, and one per configuration and
mode with the two outputs' cos-diff. `latency_probe.py --summarize FILE` prints those lines as a
table (anywhere; no GPU needed)."""
import argparse, collections, importlib, json, os, sys

POOL = 64  # pages in the pool mode: 64 × 64 × 576 × 2 bytes = 4.7 MB


def build(cfg, mode, dtype):
    import torch, triton  # noqa: E401
    b, s_q, h_q, h_kv, d = cfg["b"], cfg["s_q"], cfg["h_q"], cfg["h_kv"], cfg["d"]
    page = cfg.get("page_block_size", 64)
    seqlens = cfg["cache_seqlens"]
    max_pages = triton.cdiv(max(seqlens), page)
    q = torch.randn(b, s_q, h_q, d, dtype=dtype, device="cuda")
    if mode == "dram":
        n_blocks = b * max_pages
        table = torch.randperm(n_blocks, dtype=torch.int32, device="cuda").view(b, max_pages)
    else:
        n_blocks = POOL
        table = torch.randint(0, POOL, (b, max_pages), dtype=torch.int32, device="cuda")
    kcache = torch.randn(n_blocks, page, h_kv, d, dtype=dtype, device="cuda")
    return q, kcache, table, torch.tensor(seqlens, dtype=torch.int32, device="cuda")


def summarize(path):
    """The JSON lines of `path` (this probe's output) as one row per configuration."""
    table = collections.defaultdict(dict)
    for row in (json.loads(l) for l in open(path) if l.startswith("{")):
        key = (row["s_q"], row["mean_sk"], row["h_q"], row["varlen"])
        table[key][(row["mode"], row.get("impl", "agree"))] = row["ms"] if "impl" in row else row["cos_diff_between"]
    print("s_q mean_sk h_q varlen | dram: fm ours fm/ours | pool: fm ours fm/ours | cos-diff dram pool")
    for key, v in table.items():
        times = lambda m: (v[(m, "flash_mla")], v[(m, "ours")], v[(m, "flash_mla")] / v[(m, "ours")])
        print(*key, "| %.4f %.4f %.3f" % times("dram"), "| %.4f %.4f %.3f" % times("pool"),
              "| %.1e %.1e" % (v[("dram", "agree")], v[("pool", "agree")]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("anchor", nargs="?")
    ap.add_argument("--only", default="h_q=128")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp16"])
    ap.add_argument("--summarize", metavar="FILE", help="print FILE (this probe's output) as a table and exit")
    args = ap.parse_args()
    if args.summarize:
        return summarize(args.summarize)
    if not args.anchor:
        ap.error("ANCHOR_DIR is needed to time")
    import torch, triton  # noqa: E401 (here, so that --summarize runs without them)
    sys.path.insert(0, args.anchor)
    torch.set_grad_enabled(False)
    mods = {"flash_mla": importlib.import_module("flash_mla"), "ours": importlib.import_module("flashmla_swift")}
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float16
    grid = json.load(open(os.path.join(args.anchor, "grid.json")))
    filters = [kv.split("=") for kv in args.only.split(",")]
    torch.manual_seed(1)
    for cfg in grid["configs"]:
        if any(str(cfg.get(k)) != v for k, v in filters):
            continue
        s_q, h_q, h_kv, dv = cfg["s_q"], cfg["h_q"], cfg["h_kv"], cfg["dv"]
        for mode in ("dram", "pool"):
            q, kcache, table, seqlens = build(cfg, mode, dtype)
            outs = {}
            for name, mod in mods.items():
                meta, splits = mod.get_mla_metadata(seqlens, s_q * h_q // h_kv, h_kv)
                call = lambda: mod.flash_mla_with_kvcache(q, kcache, table, seqlens, dv, meta, splits, causal=True)
                outs[name] = call()[0].float()
                ms = triton.testing.do_bench(call, warmup=25, rep=200, return_mode="median")
                row = {k: cfg[k] for k in ("b", "s_q", "mean_sk", "h_q", "varlen")}
                row.update(mode=mode, impl=name, dtype=args.dtype, ms=round(ms, 4))
                print(json.dumps(row), flush=True)
            x, y = outs["flash_mla"].double(), outs["ours"].double()
            agree = 1 - 2 * (x * y).sum().item() / max((x * x + y * y).sum().item(), 1e-12)
            print(json.dumps({"mode": mode, "s_q": s_q, "mean_sk": cfg["mean_sk"], "h_q": h_q, "varlen": cfg["varlen"],
                              "cos_diff_between": agree, "finite": bool(torch.isfinite(y).all().item())}), flush=True)


if __name__ == "__main__":
    main()
