#!/usr/bin/env python3
"""Time FlashMLA HEAD's sparse FP8 decode (DeepSeek-V3.2) on an H200, and any module with its API.

Usage (GPU machine; FlashMLA HEAD built by build.sh, which prints the PYTHONPATH to use):
    python3 bench_sparse.py                                   # flash_mla (HEAD) on the 8 V3.2 configs
    python3 bench_sparse.py --module flash_mla,flashmla_swift --check
    python3 bench_sparse.py --only b=128,h_q=64 --iters 100

Configs: b in {128, 148} x h_q in {64, 128} x s_q in {1, 2}; topk 2048; s_k 32768; d_qk 576,
d_v 512; page 64; one KV head; the 656-byte FP8 cache (512 float8_e4m3 + 4 float32 scales, one per
128 values + 64 bfloat16 RoPE values per token), quantized by FlashMLA's own tests/quant.py when it
can be imported (else the same algorithm, built in). Inputs follow FlashMLA's
tests/lib.py::generate_testcase_for_decode for its V3.2 performance case: per-request lengths
max(N(s_k, s_k/2), s_q) (--fixed-len: all s_k), shuffled pages, K ~ randn/10 clamped to [-1, 1],
q ~ randn clamped to [-1, 1], per (request, query) `topk` distinct random positions below the
request's length in random order (-1 pads a request shorter than topk), turned into
`page * 64 + offset` indices through the block table. Slots past each request's end hold NaN.
FlashMLA's perf case also passes attn_sink; here only with --attn-sink.

Each config prints one JSON line per module:
    {"impl", "b", "s_q", "h_q", "topk", "s_k", "mean_len", "varlen", "attn_sink", "ms", "ms_min",
     "ms_mean", "tflops", "gbps", "flop", "bytes", "unique_tokens", ["cos_diff_out", "cos_diff_lse",
     "max_abs_out", "check_against"] | ["error"]}
FLOPs and bytes as FlashMLA's tests/lib.py::count_flop_and_mem_vol_for_decode:
    flop  = 2 * h_q * (b * s_q * topk) * (d_qk + d_v)
    bytes = 2*b*s_q*h_q*d_qk (Q) + unique_tokens*656 (K) + 2*b*s_q*h_q*d_v (O),
    unique_tokens = indices_in_kvcache.unique().numel() (as there, a -1 pad counts as one).
Timing: CUDA events around each call, L2 flushed (256 MiB memset) before every call, after
--warmup calls; ms is the median of --iters calls. (FlashMLA's own test times the split-KV and
combine kernels with the Kineto profiler instead, so its us are slightly lower.)
--check compares each module's out/lse with the first module's (cos-diff as FlashMLA's
kernelkit: 1 - 2<x,y>/(|x|^2+|y|^2)); with a single module, against a float32 torch reference
(FlashMLA's tests/ref.py::ref_sparse_attn_decode) on the dequantized cache. A module that
refuses sparse decoding (raises) gets a row with "error" and the run goes on.
"""
import argparse
import importlib
import json
import math
import os
import random
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
D_QK, D_V, D_NOPE, D_ROPE, TILE, PAGE = 576, 512, 512, 64, 128, 64
BYTES_PER_TOKEN = D_NOPE + 4 * (D_NOPE // TILE) + 2 * D_ROPE  # 656


# ---------------------------------------------------------------------------------------------
# FlashMLA's quantizer (tests/quant.py) if the kit's sources are reachable, else a copy of its
# V3.2 branch.
def _find_flashmla_tests(explicit):
    cands = [explicit, os.environ.get("FLASHMLA_HEAD_SRC"),
             os.path.join(HERE, "FlashMLA"),
             os.path.join(os.environ.get("FLASHMLA_HEAD_BUILD", "/tmp/flashmla-head"), "kit", "FlashMLA")]
    for c in cands:
        if c and os.path.isfile(os.path.join(c, "tests", "quant.py")):
            return os.path.join(c, "tests")
    return None


def _builtin_quantize_v32(k):  # k: [num_blocks, block_size, 1, 576] bf16 -> [.., .., 1, 656] fp8
    nb, bs, hk, d = k.shape
    k = k.squeeze(2)
    out = torch.empty((nb, bs, BYTES_PER_TOKEN), dtype=torch.float8_e4m3fn, device=k.device)
    nope, scale, rope = out[..., :D_NOPE], out[..., D_NOPE:D_NOPE + 16].view(torch.float32), out[..., D_NOPE + 16:].view(torch.bfloat16)
    rope[:] = k[..., D_NOPE:]
    for t in range(D_NOPE // TILE):
        s = k[..., t * TILE:(t + 1) * TILE].abs().amax(dim=-1).float() / 448.0
        s = torch.pow(2, torch.clamp_min(s, 1e-4).log2().ceil())  # UE8M0 (power-of-two) scale
        scale[:, :, t] = s
        nope[..., t * TILE:(t + 1) * TILE] = (k[..., t * TILE:(t + 1) * TILE].float() / s.unsqueeze(-1)).to(torch.float8_e4m3fn)
    return out.view(nb, bs, 1, BYTES_PER_TOKEN)


def _builtin_dequantize_v32(c):  # c: [N, 656] fp8 -> [N, 576] float32
    nope = c[:, :D_NOPE].float()
    scale = c[:, D_NOPE:D_NOPE + 16].view(torch.float32)
    rope = c[:, D_NOPE + 16:].view(torch.bfloat16).float()
    nope = (nope.view(-1, D_NOPE // TILE, TILE) * scale.unsqueeze(-1)).view(-1, D_NOPE)
    return torch.cat([nope.bfloat16().float(), rope], dim=-1)


class Quantizer:
    def __init__(self, tests_dir):
        self.source = "builtin"
        self.quant = None
        if tests_dir:
            sys.path.insert(0, tests_dir)
            try:
                import quant  # FlashMLA tests/quant.py (imports only torch)
                self.quant = quant
                self.source = os.path.join(tests_dir, "quant.py")
            except Exception as e:  # pragma: no cover
                print(f"bench_sparse: could not import {tests_dir}/quant.py ({e}); using the builtin quantizer", file=sys.stderr)

    def quantize(self, k):
        if self.quant is not None:
            return self.quant.quantize_k_cache(k, self.quant.FP8KVCacheLayout.V32_FP8Sparse)
        return _builtin_quantize_v32(k)

    def dequantize_rows(self, rows):  # [N, 656] fp8 -> [N, 576] float32
        if self.quant is not None:
            return self.quant.dequantize_k_cache(rows.view(-1, 1, 1, BYTES_PER_TOKEN),
                                                 self.quant.FP8KVCacheLayout.V32_FP8Sparse).view(-1, D_QK).float()
        return _builtin_dequantize_v32(rows)


# ---------------------------------------------------------------------------------------------
class Cache:
    """One paged FP8 cache per batch size, shared by that b's configs."""

    def __init__(self, b, s_k, s_q_max, varlen, quantizer, seed):
        rnd = random.Random(seed)
        if varlen:
            lens = [int(max(rnd.normalvariate(s_k, s_k / 2), s_q_max)) for _ in range(b)]
        else:
            lens = [s_k] * b
        self.lens = lens
        pad = max(math.ceil(max(lens) / (4 * PAGE)), 1) * 4 * PAGE
        self.blocks_per_seq = pad // PAGE
        n_blocks = b * self.blocks_per_seq
        g = torch.Generator(device="cuda").manual_seed(seed)
        self.block_table = torch.randperm(n_blocks, device="cuda", generator=g).to(torch.int32).view(b, self.blocks_per_seq)
        self.cache = torch.empty((n_blocks, PAGE, 1, BYTES_PER_TOKEN), dtype=torch.float8_e4m3fn, device="cuda")
        lens_t = torch.tensor(lens, dtype=torch.int32, device="cuda")
        # position of every physical slot inside its request (to NaN the slots past each end)
        owner_req = torch.empty(n_blocks, dtype=torch.int64, device="cuda")
        owner_blk = torch.empty(n_blocks, dtype=torch.int64, device="cuda")
        owner_req[self.block_table.view(-1).long()] = torch.arange(b, device="cuda").repeat_interleave(self.blocks_per_seq)
        owner_blk[self.block_table.view(-1).long()] = torch.arange(self.blocks_per_seq, device="cuda").repeat(b)
        chunk = 8192
        for i in range(0, n_blocks, chunk):
            j = min(i + chunk, n_blocks)
            k = (torch.randn((j - i, PAGE, 1, D_QK), dtype=torch.bfloat16, device="cuda", generator=g) / 10).clamp_(-1, 1)
            pos = owner_blk[i:j, None] * PAGE + torch.arange(PAGE, device="cuda")[None, :]
            past_end = pos >= lens_t[owner_req[i:j]][:, None].long()
            k[past_end] = float("nan")
            self.cache[i:j] = quantizer.quantize(k)
        self.g = g

    def indices(self, s_q, topk):
        """[b, s_q, topk] int32: distinct random positions below each length, in random order."""
        b = len(self.lens)
        lens = torch.tensor(self.lens, device="cuda").repeat_interleave(s_q)
        width = max(max(self.lens), topk)
        r = torch.rand((b * s_q, width), device="cuda", generator=self.g)
        r[torch.arange(width, device="cuda")[None, :] >= lens[:, None]] = float("-inf")
        abs_idx = r.topk(topk, dim=-1, sorted=True).indices
        abs_idx[abs_idx >= lens[:, None]] = -1
        abs_idx = abs_idx.view(b, s_q, topk)
        valid = abs_idx >= 0
        a = abs_idx.clamp_min(0)
        phys = torch.gather(self.block_table.long(), 1, (a // PAGE).view(b, -1)).view(b, s_q, topk)
        idx = phys * PAGE + a % PAGE
        idx[~valid] = -1
        return idx.to(torch.int32).contiguous()


def reference(q, cache, indices, scale, attn_sink, quantizer, chunk=8):
    """float32 sparse attention as FlashMLA's tests/ref.py::ref_sparse_attn_decode."""
    b, s_q, h_q, _ = q.shape
    topk = indices.shape[-1]
    flat = cache.view(-1, BYTES_PER_TOKEN)
    out = torch.empty((b, s_q, h_q, D_V), dtype=torch.float32, device="cuda")
    lse = torch.empty((b, s_q, h_q), dtype=torch.float32, device="cuda")
    for i in range(0, b, chunk):
        j = min(i + chunk, b)
        idx = indices[i:j]
        invalid = idx == -1
        kv = quantizer.dequantize_rows(flat[idx.clamp_min(0).view(-1).long()]).view(j - i, s_q, topk, D_QK)
        kv[kv != kv] = 0.0
        w = torch.einsum("bshd,bstd->bsht", q[i:j].float(), kv) * scale
        w.masked_fill_(invalid[:, :, None, :], float("-inf"))
        l = w.logsumexp(dim=-1)
        p = torch.exp(w - l[..., None])
        o = torch.einsum("bsht,bstd->bshd", p, kv[..., :D_V])
        if attn_sink is not None:
            o *= (1.0 / (1.0 + torch.exp(attn_sink.view(1, 1, h_q) - l))).unsqueeze(-1)
        lonely = l == float("-inf")
        o[lonely] = 0.0
        l[lonely] = float("inf")
        out[i:j], lse[i:j] = o, l
    return out, lse.transpose(1, 2)  # lse [b, h_q, s_q], as the API returns it


def cos_diff(x, y):
    x, y = x.double(), y.double()
    finite = torch.isfinite(x) & torch.isfinite(y)
    x, y = torch.where(finite, x, 0.0), torch.where(finite, y, 0.0)
    return 1 - 2 * (x * y).sum().item() / max((x * x + y * y).sum().item(), 1e-12)


def time_call(fn, warmup, iters):
    flush = torch.empty(256 * 1024 * 1024, dtype=torch.int8, device="cuda")
    for _ in range(warmup):
        fn()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    for i in range(iters):
        flush.zero_()
        starts[i].record()
        fn()
        ends[i].record()
    torch.cuda.synchronize()
    ts = sorted(s.elapsed_time(e) for s, e in zip(starts, ends))
    return ts[len(ts) // 2], ts[0], sum(ts) / len(ts)


def profile_call(fn, n):
    """n calls, each after the flush, under torch.profiler: each kernel's mean duration (us) by
    name, and the mean span from a call's first kernel start to its last kernel end."""
    import tempfile
    from torch.profiler import profile, ProfilerActivity
    flush = torch.empty(256 * 1024 * 1024, dtype=torch.int8, device="cuda")
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(n):
            flush.zero_()
            fn()
        torch.cuda.synchronize()
    path = tempfile.mktemp(suffix=".json")
    prof.export_chrome_trace(path)
    evs = [e for e in json.load(open(path))["traceEvents"] if e.get("cat") == "kernel"]
    os.unlink(path)
    evs.sort(key=lambda e: e["ts"])
    calls, cur = [], None
    for e in evs:
        if "Fill" in e["name"] or "fill" in e["name"]:
            cur = {"flush_end": e["ts"] + e["dur"], "k": []}
            calls.append(cur)
        elif cur is not None:
            cur["k"].append(e)
    by = {}
    for c in calls:
        for e in c["k"]:
            by.setdefault(e["name"][:60], []).append(e["dur"])
    spans = [c["k"][-1]["ts"] + c["k"][-1]["dur"] - c["k"][0]["ts"] for c in calls if c["k"]]
    gaps = [c["k"][0]["ts"] - c["flush_end"] for c in calls if c["k"]]
    return {"kernels_us": {k: round(sum(v) / len(v), 2) for k, v in by.items()},
            "span_us": round(sum(spans) / max(len(spans), 1), 2), "gap_after_flush_us": round(sum(gaps) / max(len(gaps), 1), 2)}


def import_module(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        if name != "flash_mla":
            raise
        pkg = os.path.join(os.environ.get("FLASHMLA_HEAD_BUILD", "/tmp/flashmla-head"), "pkg")
        sys.path.insert(0, pkg)
        return importlib.import_module(name)


def run_module(mod, q, cache, indices, scale, attn_sink):
    sched, _ = mod.get_mla_metadata()
    kw = dict(softmax_scale=scale, causal=False, is_fp8_kvcache=True, indices=indices)
    if attn_sink is not None:
        kw["attn_sink"] = attn_sink

    def call():
        return mod.flash_mla_with_kvcache(q, cache, None, None, D_V, sched, None, **kw)
    return call


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module", default="flash_mla", help="comma list of modules with FlashMLA's API (first = reference for --check)")
    ap.add_argument("--impl", default=None, help="comma list of names for the rows (default: module names)")
    ap.add_argument("--check", action="store_true", help="compare out/lse (cos-diff) with the first module, or a float32 reference if only one")
    ap.add_argument("--only", default=None, help="filters, e.g. b=128,h_q=64,s_q=2")
    ap.add_argument("--batches", default="128,148")
    ap.add_argument("--heads", default="64,128")
    ap.add_argument("--s-q", default="1,2")
    ap.add_argument("--topk", type=int, default=2048)
    ap.add_argument("--s-k", type=int, default=32768)
    ap.add_argument("--fixed-len", action="store_true", help="every request has s_k tokens (default: FlashMLA's varlen draw)")
    ap.add_argument("--attn-sink", action="store_true", help="pass attn_sink (random, some +-inf), as FlashMLA's perf case")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", type=int, default=0, help="also N calls under torch.profiler: kernel durations and the call's span")
    ap.add_argument("--flashmla-src", default=None, help="FlashMLA source tree (for tests/quant.py)")
    args = ap.parse_args()

    names = args.module.split(",")
    impls = args.impl.split(",") if args.impl else names
    mods = {}
    for n in names:
        try:
            mods[n] = import_module(n)
        except Exception as e:
            mods[n] = e
    quantizer = Quantizer(_find_flashmla_tests(args.flashmla_src))
    info = {"torch": torch.__version__, "device": torch.cuda.get_device_name(), "quantizer": quantizer.source,
            "modules": {n: (getattr(m, "__file__", None) if not isinstance(m, Exception) else f"import failed: {m}") for n, m in mods.items()}}
    print("bench_sparse: " + json.dumps(info), file=sys.stderr, flush=True)

    filters = dict(kv.split("=") for kv in args.only.split(",")) if args.only else {}
    s_qs = [int(x) for x in args.s_q.split(",")]
    for b in [int(x) for x in args.batches.split(",")]:
        if "b" in filters and str(b) != filters["b"]:
            continue
        cache = Cache(b, args.s_k, max(s_qs), not args.fixed_len, quantizer, args.seed + b)
        for h_q in [int(x) for x in args.heads.split(",")]:
            for s_q in s_qs:
                cfg = dict(b=b, s_q=s_q, h_q=h_q, topk=args.topk, s_k=args.s_k)
                if any(str(cfg.get(k)) != v for k, v in filters.items()):
                    continue
                torch.manual_seed(args.seed * 1000 + b * 10 + s_q)
                q = torch.randn((b, s_q, h_q, D_QK), dtype=torch.bfloat16, device="cuda").clamp_(-1, 1)
                indices = cache.indices(s_q, args.topk)
                attn_sink = None
                if args.attn_sink:
                    attn_sink = torch.randn(h_q, dtype=torch.float32, device="cuda")
                    m = torch.randn(h_q, device="cuda")
                    attn_sink[m > 0.5], attn_sink[m < -0.5] = float("inf"), float("-inf")
                scale = D_QK ** -0.5
                unique = indices.unique().numel()
                flop = 2 * h_q * (b * s_q * args.topk) * (D_QK + D_V)
                nbytes = 2 * b * s_q * h_q * D_QK + unique * BYTES_PER_TOKEN + 2 * b * s_q * h_q * D_V
                base = dict(cfg, mean_len=round(sum(cache.lens) / b, 1), varlen=not args.fixed_len,
                            attn_sink=args.attn_sink, flop=flop, bytes=nbytes, unique_tokens=unique)
                ref_out = ref_lse = None
                check_against = None
                if args.check and len(names) == 1:
                    ref_out, ref_lse = reference(q, cache.cache, indices, scale, attn_sink, quantizer)
                    check_against = "float32 reference"
                for n, impl in zip(names, impls):
                    row = dict(base, impl=impl)
                    mod = mods[n]
                    try:
                        if isinstance(mod, Exception):
                            raise mod
                        call = run_module(mod, q, cache.cache, indices, scale, attn_sink)
                        out, lse = call()  # also fills the schedule
                        torch.cuda.synchronize()
                        if args.check:
                            if ref_out is None:  # first module is the reference for the others
                                ref_out, ref_lse, check_against = out.float(), lse.float(), impl
                            else:
                                row.update(check_against=check_against,
                                           cos_diff_out=cos_diff(out.float(), ref_out),
                                           cos_diff_lse=cos_diff(lse.float(), ref_lse),
                                           max_abs_out=(out.float() - ref_out).abs().nan_to_num(float("inf")).max().item(),
                                           nan_out=bool(torch.isnan(out).any().item()))
                        ms, ms_min, ms_mean = time_call(call, args.warmup, args.iters)
                        row.update(ms=round(ms, 4), ms_min=round(ms_min, 4), ms_mean=round(ms_mean, 4),
                                   tflops=round(flop / ms / 1e9, 1), gbps=round(nbytes / ms / 1e6, 1))
                        if args.profile:
                            row["profile"] = profile_call(call, args.profile)
                    except Exception as e:  # e.g. a module that refuses sparse decoding
                        row["error"] = f"{type(e).__name__}: {e}"[:300]
                        torch.cuda.synchronize()
                    print(json.dumps(row), flush=True)
                del q, indices
        del cache
        torch.cuda.empty_cache()


if __name__ == "__main__":
    with torch.inference_mode():
        main()
