"""flashmla_swift's sparse decoding (indices, topk_length) and attention sinks (attn_sink), with
torch, against a float64 torch reference (attention_reference.sparse_reference, written from
FlashMLA's tests/ref.py).

CPU tensors run on the library's CPU backend, so these tests run wherever torch is installed;
on a CUDA GPU the same tests run on the GPU too.

Run from python/:  python3 -m pytest -q tests
"""

import pytest

torch = pytest.importorskip("torch")

import flashmla_swift as fm  # noqa: E402

from attention_reference import D, DV, reference, sparse_reference  # noqa: E402

GPU = torch.cuda.is_available()
# Where results are compared and argument checks tested: the CPU always, the GPU where there is one.
RUNS = DEVICES = ["cpu"] + (["cuda"] if GPU else [])


def cos_diff(x, y):
    x, y = x.double(), y.double()
    return 1 - 2 * (x * y).sum().item() / max((x * x + y * y).sum().item(), 1e-12)


class SparseProblem:
    """Random bf16 sparse decoding inputs on `device`: pages of `page` tokens holding NaN in every
    slot no counted index reads (entries past a request's topk_length point at NaN slots on
    purpose), -1 holes; with topk_length, request 0 has length 0 and (b > 2) the last request's
    lists are all -1; a sink per head with +inf, -inf and finite values."""

    def __init__(self, b, s_q, h_q, topk, page, device, fp8=False, lengths=True, sink=True, seed=0):
        gen = torch.Generator(device="cpu").manual_seed(seed)
        self.b, self.s_q, self.h_q, self.topk, self.page, self.fp8 = b, s_q, h_q, topk, page, fp8
        pages = max((b * s_q * topk) // page // 2, 2)
        slots = pages * page
        nan_slots = torch.randperm(slots, generator=gen)[: slots // 4]          # never read
        readable = torch.ones(slots, dtype=torch.bool)
        readable[nan_slots] = False
        good = readable.nonzero().view(-1)
        picks = good[torch.randint(len(good), (b, s_q, topk), generator=gen)]
        picks[torch.rand(b, s_q, topk, generator=gen) < 0.1] = -1
        self.topk_length = None
        if lengths:
            counts = torch.randint(1, topk + 1, (b,), generator=gen)
            counts[0] = 0
            self.topk_length = counts.to(torch.int32)
            past = torch.arange(topk).view(1, 1, topk) >= counts.view(b, 1, 1)
            picks = torch.where(past, nan_slots[torch.randint(len(nan_slots), (b, s_q, topk), generator=gen)], picks)
            if b > 2:
                picks[b - 1] = -1
        self.indices = picks.to(torch.int32)
        keys = (torch.randn(slots, D, generator=gen) * 0.5).to(torch.bfloat16)
        keys[nan_slots] = float("nan")
        self.k_cache = keys.view(pages, page, 1, D)
        self.keys = keys.float()
        if fp8:
            self.k_cache = fm.quantize_fp8_ds_mla(self.k_cache)
            self.keys = fm.dequantize_fp8_ds_mla(self.k_cache, torch.bfloat16).float().view(slots, D)
        self.q = torch.randn(b, s_q, h_q, D, generator=gen).to(torch.bfloat16)
        self.attn_sink = None
        if sink:
            values = torch.randn(h_q, generator=gen) * 2
            values[0::4], values[1::4] = float("inf"), float("-inf")
            self.attn_sink = values.float()
        for name in ("indices", "topk_length", "k_cache", "keys", "q", "attn_sink"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value.to(device))

    def run(self, meta=None, **changes):
        args = dict(indices=self.indices, topk_length=self.topk_length, attn_sink=self.attn_sink,
                    is_fp8_kvcache=self.fp8, softmax_scale=0.04)
        args.update(changes)
        meta = fm.get_mla_metadata()[0] if meta is None else meta
        return fm.flash_mla_with_kvcache(self.q, self.k_cache, None, None, DV, meta, **args)

    def reference(self):
        return sparse_reference(self.q, self.keys, self.indices, self.topk_length, 0.04, self.attn_sink)

    def check(self, out, lse):
        ref_out, ref_lse = self.reference()
        assert out.shape == (self.b, self.s_q, self.h_q, DV) and out.dtype == torch.bfloat16
        assert lse.shape == (self.b, self.h_q, self.s_q) and lse.dtype == torch.float32
        assert not torch.isnan(out).any() and not torch.isnan(lse).any(), "NaN reached the outputs"
        torch.testing.assert_close(lse.double(), ref_lse, atol=1e-3, rtol=1e-3)   # +inf where no key is seen
        torch.testing.assert_close(out.double(), ref_out, atol=2e-2, rtol=2e-2)
        assert cos_diff(out, ref_out) < 1e-5
        seeing = slice(0, self.b)                                              # requests that see keys
        if self.topk_length is not None:
            assert (out[0] == 0).all() and (lse[0] == float("inf")).all()       # topk_length 0
            seeing = slice(1, self.b)
            if self.b > 2:
                assert (out[-1] == 0).all() and (lse[-1] == float("inf")).all()  # every entry -1
                seeing = slice(1, self.b - 1)
        assert torch.isfinite(lse[seeing]).any()
        if self.attn_sink is not None:
            assert (out[seeing, :, 0::4] == 0).all()                           # sink +inf zeroes the head
            assert (out[seeing, :, 1::4] != 0).any()                           # sink -inf leaves it


CASES = [(2, 1, 64, 128, 64), (3, 2, 128, 256, 64), (4, 2, 16, 100, 61), (3, 1, 8, 2048, 256)]


@pytest.mark.parametrize("device", RUNS)
@pytest.mark.parametrize("fp8", [False, True], ids=["bf16", "fp8_ds_mla"])
@pytest.mark.parametrize("b,s_q,h_q,topk,page", CASES, ids=[f"b{c[0]}-sq{c[1]}-hq{c[2]}-topk{c[3]}-p{c[4]}" for c in CASES])
def test_sparse_matches_reference(device, fp8, b, s_q, h_q, topk, page):
    problem = SparseProblem(b, s_q, h_q, topk, page, device, fp8=fp8, seed=b * 31 + topk)
    meta, _ = fm.get_mla_metadata()
    out, lse = problem.run(meta)
    problem.check(out, lse)
    assert meta.have_initialized and meta.config["topk"] == topk
    again, again_lse = problem.run(meta)                  # the filled schedule is reused
    assert torch.equal(again, out) and torch.equal(again_lse, lse)


@pytest.mark.parametrize("device", RUNS)
def test_sparse_without_topk_length_or_sink(device):
    problem = SparseProblem(3, 2, 32, 200, 64, device, lengths=False, sink=False, seed=5)
    out, lse = problem.run()
    problem.check(out, lse)
    assert torch.isfinite(lse).all()


@pytest.mark.parametrize("device", RUNS)
def test_the_sink_scales_rows_and_leaves_lse(device):
    with_sink = SparseProblem(2, 2, 16, 150, 64, device, seed=9)
    out, lse = with_sink.run()
    plain, plain_lse = with_sink.run(attn_sink=None)
    assert torch.equal(lse, plain_lse)
    factor = 1 / (1 + torch.exp(with_sink.attn_sink.view(1, 1, -1) - lse.permute(0, 2, 1)))   # [b, s_q, h_q]
    factor = torch.where(torch.isfinite(lse.permute(0, 2, 1)), factor, torch.zeros_like(factor))
    torch.testing.assert_close(out.float(), plain.float() * factor[..., None], atol=1e-2, rtol=1e-2)


@pytest.mark.parametrize("device", RUNS)
def test_dense_attn_sink_matches_reference(device):
    gen = torch.Generator(device="cpu").manual_seed(3)
    seqlens, s_q, h_q, h_kv, page = [0, 70, 300, 1], 2, 8, 2, 64
    per = (max(seqlens) + page - 1) // page + 1
    block_table = torch.randperm(len(seqlens) * per, generator=gen).to(torch.int32).view(len(seqlens), per)
    k_cache = torch.randn(len(seqlens) * per, page, h_kv, D, generator=gen).to(torch.bfloat16)
    used = torch.zeros(len(seqlens) * per, page, dtype=torch.bool)
    for i, n in enumerate(seqlens):
        t = torch.arange(n)
        used[block_table[i].long()[t // page], t % page] = True
    k_cache[~used] = float("nan")
    q = torch.randn(len(seqlens), s_q, h_q, D, generator=gen).to(torch.bfloat16)
    sink = torch.tensor([float("inf"), float("-inf"), 0.5, 3.0, -2.0, 0.0, 1.0, 8.0])
    cache_seqlens = torch.tensor(seqlens, dtype=torch.int32)
    tensors = [t.to(device) for t in (q, k_cache, block_table, cache_seqlens, sink)]
    q, k_cache, block_table, cache_seqlens, sink = tensors
    meta, splits = fm.get_mla_metadata(cache_seqlens, s_q * h_q // h_kv, h_kv)
    out, lse = fm.flash_mla_with_kvcache(q, k_cache, block_table, cache_seqlens, DV, meta, splits, causal=True,
                                         attn_sink=sink)
    ref_out, ref_lse = reference(q, k_cache, block_table, seqlens, page, True, D ** -0.5, attn_sink=sink)
    assert not torch.isnan(out).any() and not torch.isnan(lse).any()
    torch.testing.assert_close(lse, ref_lse, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(out.float(), ref_out, atol=2e-2, rtol=2e-2)
    assert (out[1:, :, 0] == 0).all()
    # The schedule-object form gives the same, bit for bit.
    again, again_lse = fm.flash_mla_with_kvcache(q, k_cache, block_table, cache_seqlens, DV, fm.get_mla_metadata()[0],
                                                 causal=True, attn_sink=sink)
    assert torch.equal(again, out) and torch.equal(again_lse, lse)


@pytest.mark.parametrize("device", RUNS)
def test_every_output_element_is_written(device):
    """Outputs poisoned with NaN, through the C ABI (the package allocates its own outputs):
    every element is overwritten, rows with no key with 0 and +inf."""
    problem = SparseProblem(3, 2, 16, 120, 64, device, seed=13)
    meta, _ = fm.get_mla_metadata()
    problem.run(meta)                                    # fills the schedule
    out = torch.full((3, 2, 16, DV), float("nan"), dtype=torch.bfloat16, device=device)
    lse = torch.full((3, 16, 2), float("nan"), dtype=torch.float32, device=device)
    d = fm._Descriptors(9)
    dev = problem.q.device
    p = {name: d.add(t, name, dev, "any") for name, t in
         (("q", problem.q), ("k", problem.k_cache), ("i", problem.indices), ("l", problem.topk_length),
          ("m", meta.tile_scheduler_metadata), ("n", meta.num_splits), ("s", problem.attn_sink), ("o", out), ("e", lse))}
    index = -1 if device == "cpu" else dev.index
    stream = None if device == "cpu" else torch.cuda.current_stream(dev).cuda_stream
    status = fm._lib.flashmla_swift_decode_sparse(index, stream, p["q"], p["k"], p["i"], p["l"], p["m"], p["n"], DV, 0.04,
                                                  0, p["s"], p["o"], p["e"], None)
    assert status == 0, fm._lib.flashmla_swift_last_error()
    assert not torch.isnan(out).any() and not torch.isnan(lse).any()
    problem.check(out, lse)


@pytest.mark.parametrize("device", DEVICES)
def test_bad_sparse_arguments_are_named(device):
    problem = SparseProblem(2, 1, 16, 64, 64, device, seed=1)

    def expect(fragment, error=fm.InvalidArgumentError, **changes):
        with pytest.raises(error) as raised:
            problem.run(**changes)
        assert fragment in str(raised.value), str(raised.value)

    on = dict(device=device)
    assert problem.b == 2
    expect("invalid argument 'indices': expected int32, given int64", indices=problem.indices.long())
    expect("invalid argument 'indices': expected rank 3", indices=problem.indices[0])
    expect("invalid argument 'indices': expected int32[2, 1, topk]", indices=problem.indices.expand(2, 2, 64).contiguous())
    expect("invalid argument 'topkLength': expected int32[2]", topk_length=torch.zeros(3, dtype=torch.int32, **on))
    expect("invalid argument 'topkLength': expected contiguous", topk_length=torch.zeros(4, dtype=torch.int32, **on)[::2])
    expect("invalid argument 'attnSink': expected float32, given bfloat16", attn_sink=problem.attn_sink.bfloat16())
    expect("invalid argument 'attnSink': expected float32[16]", attn_sink=problem.attn_sink[:15])
    expect("invalid argument 'causal': expected False with indices", causal=True)
    expect("invalid argument 'topk_length': expected None without indices", indices=None)
    expect("invalid argument 'kvFormat'", kv_cache_dtype="fp8_e4m3", is_fp8_kvcache=False)
    expect("invalid argument 'kCache': expected uint8", is_fp8_kvcache=True)
    # The extra cache needs the MODEL1 format (a q of head dim 512), and its lists.
    expect("invalid argument 'extraKCache': expected nil for the", extra_k_cache=problem.k_cache,
           extra_indices_in_kvcache=problem.indices)
    expect("invalid argument 'extraIndices'", extra_indices_in_kvcache=problem.indices)
    with pytest.raises(fm.InvalidArgumentError, match="tile_scheduler_metadata"):
        fm.flash_mla_with_kvcache(problem.q, problem.k_cache, None, None, DV, torch.zeros(8, 8, dtype=torch.int32, **on),
                                  torch.zeros(3, dtype=torch.int32, **on), indices=problem.indices)
    if device == "cpu":  # contents the host can read
        expect("invalid argument 'topkLength[1]': expected 0...64", topk_length=torch.tensor([3, 65], dtype=torch.int32))
        wild = problem.indices.clone()
        wild[1, 0, 0] = 1 << 20
        expect("invalid argument 'indices[1][0][0]'", indices=wild, topk_length=None)
    # A schedule object made for one topk refuses another, by name; a failed first call leaves it empty.
    meta, _ = fm.get_mla_metadata()
    with pytest.raises(fm.InvalidArgumentError):
        problem.run(meta, attn_sink=problem.attn_sink[:3])
    assert not meta.have_initialized
