"""The reference attention the torch tests hold the drop-in to, one copy for every test file:
dense paged attention in float32 and sparse attention in float64, each with FlashMLA's sink."""
import torch

D, DV = 576, 512


def reference(q, keys, block_table, seqlens, page, causal, scale, attn_sink=None):
    """float32 attention reading token t of request i at keys[block_table[i, t // page], t % page]
    ([pages, page, h_kv, 576], already dequantized). A row with no key: out 0, lse +inf. With
    attn_sink ([h_q]), each row of head h is scaled by 1 / (1 + exp(attn_sink[h] - lse)); lse is not."""
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
        if attn_sink is not None:  # rows that see no key stay 0 (their lse is -inf here)
            sink = attn_sink.float().to(q.device).view(h_kv, h_q // h_kv, 1)
            factor = torch.where(seen, 1 / (1 + torch.exp(sink - row_lse)), torch.zeros_like(row_lse))
            p = p * factor[..., None]
        out[i] = (p.view(h_kv, -1, n) @ k[..., :DV]).view(h_q, s_q, DV).transpose(0, 1)
        lse[i] = torch.where(seen, row_lse, torch.full_like(row_lse, float("inf"))).reshape(h_q, s_q)
    return out, lse


def sparse_reference(q, keys, indices, topk_length, scale, attn_sink=None, magnitude=False):
    """float64 sparse attention (FlashMLA's tests/ref.py): query token j of request i attends to
    the slots indices[i, j, k] of keys ([slots, 576], already dequantized) for k < topk_length[i]
    (all without it), -1 skipped; with attn_sink each row of head h is scaled by
    1 / (1 + exp(attn_sink[h] - lse)). A row with no key: out 0, lse +inf.
    Returns out [b, s_q, h_q, 512] and lse [b, h_q, s_q], float64; with magnitude=True also
    sum_k p_k |v_k| [b, s_q, h_q, 512] (the scale of the rounding error of P·V with P rounded)."""
    b, s_q, h_q, _ = q.shape
    topk = indices.shape[-1]
    indices = indices.to(q.device).long()
    valid = indices >= 0
    if topk_length is not None:
        counted = torch.arange(topk, device=q.device).view(1, 1, topk) < topk_length.to(q.device).view(b, 1, 1).long()
        valid &= counted
    gathered = keys.double().to(q.device)[torch.where(valid, indices, torch.zeros_like(indices))]    # [b, s_q, topk, 576]
    gathered = torch.where(valid[..., None], gathered, torch.zeros_like(gathered))                 # no NaN from skipped slots
    w = torch.einsum("bshd,bstd->bsht", q.double(), gathered) * scale
    w = w.masked_fill(~valid[:, :, None, :], float("-inf"))
    lse = w.logsumexp(dim=-1)                                                                        # [b, s_q, h_q]
    seen = torch.isfinite(lse)
    p = torch.where(seen[..., None], torch.exp(w - lse[..., None]), torch.zeros_like(w))
    if attn_sink is not None:  # rows that see no key stay 0 (their lse is -inf here)
        factor = 1 / (1 + torch.exp(attn_sink.double().to(q.device).view(1, 1, h_q) - lse))
        p = p * torch.where(seen, factor, torch.zeros_like(factor))[..., None]
    out = torch.einsum("bsht,bstd->bshd", p, gathered[..., :DV])
    lse = torch.where(seen, lse, torch.full_like(lse, float("inf")))
    if magnitude:
        return out, lse.permute(0, 2, 1), torch.einsum("bsht,bstd->bshd", p, gathered[..., :DV].abs())
    return out, lse.permute(0, 2, 1)
