"""The float32 attention the GPU tests hold the drop-in to: one copy for every test file."""
import torch

D, DV = 576, 512


def reference(q, keys, block_table, seqlens, page, causal, scale):
    """float32 attention reading token t of request i at keys[block_table[i, t // page], t % page]
    ([pages, page, h_kv, 576], already dequantized). A row with no key: out 0, lse +inf."""
    b, s_q, h_q, _ = q.shape
    h_kv = keys.shape[2]
    out = torch.zeros(b, s_q, h_q, DV, dtype=torch.float32, device=q.device)
    lse = torch.full((b, h_q, s_q), float("inf"), dtype=torch.float32, device=q.device)
    for i in range(b):
        n = int(seqlens[i])
        if n == 0:
            continue
        t = torch.arange(n, device=q.device)
        k = keys[block_table[i].long()[t // page], t % page].float().transpose(0, 1)   # [h_kv, n, 576]
        qi = q[i].float().transpose(0, 1).reshape(h_kv, h_q // h_kv * s_q, D)
        w = (qi @ k.transpose(-2, -1) * scale).view(h_kv, h_q // h_kv, s_q, n)
        if causal:
            mask = torch.ones(s_q, n, dtype=torch.bool, device=q.device).tril(diagonal=n - s_q)
            w = w.masked_fill(~mask, float("-inf"))
        row_lse = w.logsumexp(dim=-1)
        seen = torch.isfinite(row_lse)
        p = torch.where(seen[..., None], torch.exp(w - row_lse[..., None]), torch.zeros_like(w))
        out[i] = (p.view(h_kv, -1, n) @ k[..., :DV]).view(h_q, s_q, DV).transpose(0, 1)
        lse[i] = torch.where(seen, row_lse, torch.full_like(row_lse, float("inf"))).reshape(h_q, s_q)
    return out, lse
