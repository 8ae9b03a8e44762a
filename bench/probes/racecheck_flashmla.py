#!/usr/bin/env python3
"""One decode call of FlashMLA's reference build (../anchor), to run under compute-sanitizer:
does racecheck report hazards on its named-barrier handoffs too?
Usage on the GPU machine: compute-sanitizer --tool racecheck --kernel-name kns=flash_fwd_splitkv \\
    python3 bench/probes/racecheck_flashmla.py .device/anchor"""
import sys

import torch

sys.path.insert(0, sys.argv[1])
import flash_mla  # noqa: E402

torch.manual_seed(0)
b, s_q, h_q, h_kv, d, dv, page = 2, 1, 128, 1, 576, 512, 64
seqlens = torch.tensor([700, 1500], dtype=torch.int32, device="cuda")
pages = 24
q = torch.randn(b, s_q, h_q, d, dtype=torch.bfloat16, device="cuda")
kcache = torch.randn(b * pages, page, h_kv, d, dtype=torch.bfloat16, device="cuda")
table = torch.arange(b * pages, dtype=torch.int32, device="cuda").view(b, pages)
meta, splits = flash_mla.get_mla_metadata(seqlens, s_q * h_q // h_kv, h_kv)
out, lse = flash_mla.flash_mla_with_kvcache(q, kcache, table, seqlens, dv, meta, splits, causal=True)
torch.cuda.synchronize()
print("FlashMLA ran: out finite", bool(torch.isfinite(out).all().item()))
