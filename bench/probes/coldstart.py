#!/usr/bin/env python3
"""Start-up cost of the first decode call through the Python bridge, as an engine sees it.

Usage (on the GPU machine): FLASHMLA_CACHE_DIR=DIR PYTHONPATH=python python3 bench/probes/coldstart.py ANCHOR [--s-q 2 --h-q 128]

Times, in one process: import, get_mla_metadata + the first flash_mla_with_kvcache + a
synchronize (the kernels compiled or loaded then), and the second call. Checks the first call's
output against bench_grid.py's float32 reference, then keeps calling for up to --settle seconds
(by then a background optimized build has replaced a quick one) and checks the last output too.
Prints one JSON line. Run it once with an empty FLASHMLA_CACHE_DIR (cold) and again (warm).
"""
import argparse, json, os, sys, time

t0 = time.perf_counter()
import torch  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("anchor")
    ap.add_argument("--s-q", type=int, default=2)
    ap.add_argument("--h-q", type=int, default=128)
    ap.add_argument("--settle", type=float, default=8.0)
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.anchor))
    import bench_grid
    t_torch = time.perf_counter()
    import flashmla_swift
    t_import = time.perf_counter()

    torch.manual_seed(1)
    b, s_q, h_q, d, dv, page = 16, args.s_q, args.h_q, 576, 512, 64
    lens = [int(x) for x in torch.randint(300, 2000, (b,))]
    pages = (max(lens) + page - 1) // page
    q = torch.randn(b, s_q, h_q, d, dtype=torch.bfloat16, device="cuda")
    cache = torch.randn(b * pages, page, 1, d, dtype=torch.bfloat16, device="cuda")
    table = torch.randperm(b * pages, dtype=torch.int32, device="cuda").view(b, pages)
    seqlens = torch.tensor(lens, dtype=torch.int32, device="cuda")
    torch.cuda.synchronize()

    start = time.perf_counter()
    meta, splits = flashmla_swift.get_mla_metadata(seqlens, s_q * h_q, 1)
    out, lse = flashmla_swift.flash_mla_with_kvcache(q, cache, table, seqlens, dv, meta, splits, causal=True)
    torch.cuda.synchronize()
    first = time.perf_counter() - start
    start = time.perf_counter()
    flashmla_swift.flash_mla_with_kvcache(q, cache, table, seqlens, dv, meta, splits, causal=True)
    torch.cuda.synchronize()
    second = time.perf_counter() - start

    ref_out, ref_lse = bench_grid.reference(q, cache, table, lens, dv, True, d ** -0.5)
    first_cos = bench_grid.cos_diff(out, ref_out)
    deadline = time.perf_counter() + args.settle
    while time.perf_counter() < deadline:
        last, last_lse = flashmla_swift.flash_mla_with_kvcache(q, cache, table, seqlens, dv, meta, splits, causal=True)
        torch.cuda.synchronize()
        time.sleep(0.2)
    print(json.dumps({
        "cache_dir": os.environ.get("FLASHMLA_CACHE_DIR"), "s_q": s_q, "h_q": h_q,
        "import_torch_s": round(t_torch - t0, 3), "import_bridge_s": round(t_import - t_torch, 3),
        "first_call_s": round(first, 3), "second_call_s": round(second, 4),
        "first_cos_diff": first_cos, "last_cos_diff": bench_grid.cos_diff(last, ref_out),
        "lse_cos_diff": bench_grid.cos_diff(last_lse, ref_lse),
        "first_equals_last": bool(torch.equal(out, last)),
        "nan": bool(torch.isnan(out).any().item() or torch.isnan(last).any().item())}), flush=True)


if __name__ == "__main__":
    with torch.inference_mode():
        main()
