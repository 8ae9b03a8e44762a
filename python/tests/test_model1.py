"""flashmla_swift's MODEL1 sparse decoding (q of head dim 512, FlashMLA HEAD's 584-byte page-grouped
cache) with the extra cache (extra_k_cache, extra_indices_in_kvcache, extra_topk_length) and
topk_length, against a float64 torch reference (attention_reference.sparse_reference over the union
of both lists' keys, dequantized by dequantize_model1).

CPU tensors run on the library's CPU backend, so these tests run wherever torch is installed; on a
CUDA GPU the same tests run on the GPU too (the portable kernel).

Run from python/:  python3 -m pytest -q tests
"""

import pytest

torch = pytest.importorskip("torch")

import flashmla_swift as fm  # noqa: E402

from attention_reference import sparse_reference  # noqa: E402

GPU = torch.cuda.is_available()
RUNS = ["cpu"] + (["cuda"] if GPU else [])
SCALE = 512 ** -0.55
U = 2.0 ** -8   # bf16's unit roundoff


def cos_diff(x, y):
    x, y = x.double(), y.double()
    return 1 - 2 * (x * y).sum().item() / max((x * x + y * y).sum().item(), 1e-12)


def cache_and_lists(gen, b, s_q, topk, page, lengths):
    """A MODEL1 cache of random pages (NaN in every slot no counted entry reads) and lists of its
    slots with -1 holes; entries past a request's length point at NaN slots on purpose."""
    pages = max(b * s_q * topk // page // 2, 2)
    slots = pages * page
    nan_slots = torch.randperm(slots, generator=gen)[: slots // 4]
    readable = torch.ones(slots, dtype=torch.bool)
    readable[nan_slots] = False
    good = readable.nonzero().view(-1)
    picks = good[torch.randint(len(good), (b, s_q, topk), generator=gen)]
    picks[torch.rand(b, s_q, topk, generator=gen) < 0.1] = -1
    if lengths is not None:
        past = torch.arange(topk).view(1, 1, topk) >= lengths.view(b, 1, 1)
        picks = torch.where(past, nan_slots[torch.randint(len(nan_slots), (b, s_q, topk), generator=gen)], picks)
    values = torch.randn(slots, 512, generator=gen) * 0.5
    values[:, :64] *= 40                                  # groups of different scales
    values[nan_slots] = float("nan")
    cache = fm.quantize_model1(values.view(pages, page, 1, 512).to(torch.bfloat16))
    keys = fm.dequantize_model1(cache).float().view(slots, 512)
    return cache, picks.to(torch.int32), keys


class Model1Problem:
    def __init__(self, b, s_q, h_q, topk, page, extra_topk=0, extra_page=64, lengths=True, extra_lengths=True,
                 sink=False, seed=0):
        gen = torch.Generator(device="cpu").manual_seed(seed)
        self.b, self.s_q, self.h_q = b, s_q, h_q
        self.topk_length = None
        if lengths:
            counts = torch.randint(0, topk + 1, (b,), generator=gen)
            counts[0] = 0
            self.topk_length = counts.to(torch.int32)
        self.k_cache, self.indices, self.keys = cache_and_lists(gen, b, s_q, topk, page, self.topk_length)
        self.extra_k_cache = self.extra_indices = self.extra_topk_length = self.extra_keys = None
        if extra_topk:
            if extra_lengths:
                counts = torch.randint(0, extra_topk + 1, (b,), generator=gen)
                counts[-1] = 0
                self.extra_topk_length = counts.to(torch.int32)
            self.extra_k_cache, self.extra_indices, self.extra_keys = cache_and_lists(
                gen, b, s_q, extra_topk, extra_page, self.extra_topk_length)
        self.q = torch.randn(b, s_q, h_q, 512, generator=gen).to(torch.bfloat16)
        self.attn_sink = None
        if sink:
            values = torch.randn(h_q, generator=gen) * 2
            values[0::4], values[1::4] = float("inf"), float("-inf")
            self.attn_sink = values.float()

    def to(self, device):
        for name in ("k_cache", "indices", "keys", "topk_length", "extra_k_cache", "extra_indices", "extra_topk_length",
                     "extra_keys", "q", "attn_sink"):
            value = getattr(self, name)
            if value is not None and device != "cpu":
                # A cache keeps its padded page stride on the device.
                setattr(self, name, _copy_strided(value, device) if name.endswith("k_cache") else value.to(device))
        return self

    def run(self, meta=None, **changes):
        args = dict(indices=self.indices, topk_length=self.topk_length, attn_sink=self.attn_sink, is_fp8_kvcache=True,
                    softmax_scale=SCALE, extra_k_cache=self.extra_k_cache, extra_indices_in_kvcache=self.extra_indices,
                    extra_topk_length=self.extra_topk_length)
        args.update(changes)
        meta = fm.get_mla_metadata()[0] if meta is None else meta
        return fm.flash_mla_with_kvcache(self.q, self.k_cache, None, None, 512, meta, **args)

    def reference(self, magnitude=False):
        """The union of both lists as one list over the concatenated keys (entries past a count: -1);
        with magnitude=True also sum_k p_k |v_k| (sparse_reference)."""
        def counted(indices, lengths):
            if lengths is None:
                return indices.long()
            past = torch.arange(indices.shape[-1], device=indices.device).view(1, 1, -1) >= lengths.view(-1, 1, 1).long()
            return torch.where(past, torch.full_like(indices.long(), -1), indices.long())
        lists, keys = counted(self.indices, self.topk_length), self.keys
        if self.extra_k_cache is not None:
            extra = counted(self.extra_indices, self.extra_topk_length)
            extra = torch.where(extra >= 0, extra + keys.shape[0], extra)
            lists, keys = torch.cat([lists, extra], dim=-1), torch.cat([keys, self.extra_keys])
        return sparse_reference(self.q, keys, lists, None, SCALE, self.attn_sink, magnitude=magnitude)

    def check(self, out, lse):
        """out within two bf16 roundings of the reference, element by element: the kernels round P
        (relative to the running row maximum) to bf16 before P·V, which moves out by up to
        u·sum_k p_k|v_k|, and round out once, u·|out|; so |out - ref| <= 2u(sum_k p_k|v_k| + |ref|)
        (check-sparse's bound with sum_k p_k|v_k| <= max|v| in place of its value bound). A fixed
        tolerance does not hold: with values[:, :64] *= 40 a row can be the difference of two keys'
        terms (0.36 * 36 - 0.64 * 20 = 0.22), where one bf16 rounding of P moves out by 0.038."""
        ref_out, ref_lse, magnitude = self.reference(magnitude=True)
        assert out.shape == (self.b, self.s_q, self.h_q, 512) and lse.shape == (self.b, self.h_q, self.s_q)
        assert not torch.isnan(out).any() and not torch.isnan(lse).any(), "NaN reached the outputs"
        torch.testing.assert_close(lse.double(), ref_lse, atol=1e-3, rtol=1e-3)   # +inf where no key is seen
        error = (out.double().cpu() - ref_out.cpu()).abs()
        bound = 2 * U * (magnitude.cpu() + ref_out.cpu().abs())
        outside = error > bound
        assert not outside.any(), (f"{int(outside.sum())} of {error.numel()} outputs beyond 2u(sum p|v| + |ref|), the "
                                   f"first at {outside.nonzero()[0].tolist()}: error / bound up to "
                                   f"{(error / bound.clamp(min=1e-300)).max().item():.3g}")
        assert cos_diff(out, ref_out) < 1e-5
        empty = torch.isinf(ref_lse)
        assert (lse[empty] == float("inf")).all()
        assert (out.permute(0, 2, 1, 3)[empty] == 0).all()


def _copy_strided(tensor, device):
    """A copy of a padded-page cache view on `device` with the same strides."""
    pages = torch.as_strided(tensor, (tensor.shape[0], tensor.stride(0)), (tensor.stride(0), 1))
    return pages.to(device).as_strided(tensor.shape, tensor.stride())


CASES = [(2, 1, 64, 128, 64, 0, 64), (3, 2, 16, 128, 61, 96, 2), (2, 2, 64, 64, 256, 512, 64), (4, 1, 16, 100, 2, 70, 2)]


@pytest.mark.parametrize("device", RUNS)
@pytest.mark.parametrize("b,s_q,h_q,topk,page,extra_topk,extra_page", CASES,
                         ids=[f"b{c[0]}-sq{c[1]}-hq{c[2]}-topk{c[3]}-p{c[4]}-extra{c[5]}-ep{c[6]}" for c in CASES])
def test_model1_with_extra_cache_matches_reference(device, b, s_q, h_q, topk, page, extra_topk, extra_page):
    problem = Model1Problem(b, s_q, h_q, topk, page, extra_topk, extra_page, seed=b * 7 + page).to(device)
    problem.check(*problem.run())


@pytest.mark.parametrize("device", RUNS)
def test_without_lengths_and_with_a_sink(device):
    problem = Model1Problem(3, 2, 16, 64, 61, 64, 2, lengths=False, extra_lengths=False, sink=True, seed=5).to(device)
    out, lse = problem.run()
    problem.check(out, lse)
    seeing = torch.isfinite(lse).all(dim=-1).all(dim=-1)
    assert (out[seeing][:, :, 0::4] == 0).all()                       # sink +inf zeroes the head


@pytest.mark.parametrize("device", RUNS)
def test_no_valid_key_gives_zero_and_inf(device):
    problem = Model1Problem(2, 1, 16, 64, 64, 32, 2, seed=9).to(device)
    zero = torch.zeros(2, dtype=torch.int32, device=device)
    out, lse = problem.run(topk_length=zero, extra_topk_length=zero)
    assert (out == 0).all() and (lse == float("inf")).all()


@pytest.mark.parametrize("device", RUNS)
def test_extra_keys_join_the_same_softmax(device):
    problem = Model1Problem(2, 1, 16, 64, 64, 64, 64, lengths=False, extra_lengths=False, seed=11).to(device)
    _, lse_union = problem.run()
    _, lse_main = problem.run(extra_k_cache=None, extra_indices_in_kvcache=None, extra_topk_length=None)
    assert (lse_union > lse_main).all()


@pytest.mark.parametrize("device", RUNS)
def test_the_check_rejects_a_wrong_result(device):
    """The per-element bound is tight enough to catch a 1% error in the softmax scale and a key dropped."""
    problem = Model1Problem(3, 2, 16, 128, 61, 96, 2, seed=3 * 7 + 61).to(device)
    with pytest.raises(AssertionError):
        problem.check(*problem.run(softmax_scale=SCALE * 1.01))
    out, lse = problem.run()
    problem.check(out, lse)
    lengths = problem.extra_topk_length.clone()
    lengths[0] -= 1                                   # one extra entry of request 0 fewer
    with pytest.raises(AssertionError):
        problem.check(*problem.run(extra_topk_length=lengths))


def test_extra_arguments_are_checked():
    problem = Model1Problem(2, 1, 16, 64, 64, 32, 2, seed=13)
    with pytest.raises(fm.InvalidArgumentError, match="extraIndices"):
        problem.run(extra_k_cache=None, extra_topk_length=None)
    with pytest.raises(fm.InvalidArgumentError, match="extraTopkLength"):
        problem.run(extra_k_cache=None, extra_indices_in_kvcache=None)
    with pytest.raises(fm.InvalidArgumentError, match="extra_k_cache"):
        fm.flash_mla_with_kvcache(problem.q, problem.k_cache, None, None, 512, fm.get_mla_metadata()[0],
                                  extra_k_cache=problem.extra_k_cache)
    too_long = torch.tensor([33, 0], dtype=torch.int32)
    with pytest.raises(fm.InvalidArgumentError, match="extraTopkLength"):
        problem.run(extra_topk_length=too_long)
    wide = torch.zeros(2, 1, 16, 576, dtype=torch.bfloat16)
    with pytest.raises(fm.InvalidArgumentError, match="'q'"):
        fm.flash_mla_with_kvcache(wide, problem.k_cache, None, None, 512, fm.get_mla_metadata()[0],
                                  indices=problem.indices, is_fp8_kvcache=True, kv_cache_dtype="fp8_model1")


def test_quantizer_layout_and_round_trip():
    gen = torch.Generator().manual_seed(3)
    values = (torch.randn(3, 5, 1, 512, generator=gen) * 3).to(torch.bfloat16)
    cache = fm.quantize_model1(values)
    assert cache.shape == (3, 5, 1, 584) and cache.dtype == torch.uint8
    assert cache.stride() == (3456, 584, 584, 1)                       # ceil(5 * 584 / 576) * 576
    pages = torch.as_strided(cache, (3, 3456), (3456, 1))
    scale_bytes = pages[:, 5 * 576: 5 * 576 + 40].reshape(3, 5, 8)
    assert (scale_bytes[..., 7] == 0).all()
    amax = values.float()[..., :448].reshape(3, 5, 7, 64).abs().amax(-1)
    scale = torch.pow(2.0, scale_bytes[..., :7].float() - 127)
    assert (scale >= amax / 448).all() and (scale / 2 < torch.clamp(amax / 448, min=1e-4)).all()
    back = fm.dequantize_model1(cache).float()
    assert torch.equal(back[..., 448:], values.float()[..., 448:])     # RoPE exact
    err = (back[..., :448] - values.float()[..., :448]).abs()
    # E4M3: half an ulp is 2^-4 of the value (normal codes) or 2^-10 of the scale (subnormal ones).
    grid = (scale.repeat_interleave(64, dim=-1) * 2.0 ** -10)[:, :, None, :]
    assert (err <= values.float()[..., :448].abs() / 16 + grid).all()
