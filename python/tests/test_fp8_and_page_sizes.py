"""flashmla_swift with page sizes other than 64 and FP8 caches, on a CUDA GPU, against a float32
torch reference on the dequantized cache (kv_cache_dtype="fp8_e4m3" / "fp8_ds_mla").

Run on the GPU machine, from python/:  python3 -m pytest -q tests
"""
import random

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

import flashmla_swift as fm  # noqa: E402

from attention_reference import D, DV, reference  # noqa: E402


class PagedProblem:
    """Shuffled pages of `page` tokens, NaN in every slot past a request's end and in spare pages."""

    def __init__(self, seqlens, s_q, h_q, h_kv, dtype, page, seed):
        gen = torch.Generator(device="cpu").manual_seed(seed)
        self.seqlens, self.s_q, self.h_q, self.h_kv, self.dtype, self.page = list(seqlens), s_q, h_q, h_kv, dtype, page
        per_request = (max(max(seqlens), 1) + page - 1) // page + 1
        blocks = len(seqlens) * per_request
        self.block_table = torch.randperm(blocks, generator=gen).to(torch.int32).view(len(seqlens), per_request).cuda()
        self.cache_seqlens = torch.tensor(seqlens, dtype=torch.int32).cuda()
        self.k_cache = torch.randn(blocks, page, h_kv, D, generator=gen).to(dtype).cuda()
        self.q = torch.randn(len(seqlens), s_q, h_q, D, generator=gen).to(dtype).cuda()
        used = torch.zeros(blocks, page, dtype=torch.bool)
        for i, n in enumerate(seqlens):
            t = torch.arange(n)
            used[self.block_table[i].cpu().long()[t // page], t % page] = True
        self.k_cache[~used.cuda()] = float("nan")

    def run(self, causal, k_cache=None, **kwargs):
        meta, splits = fm.get_mla_metadata(self.cache_seqlens, self.s_q * self.h_q // self.h_kv, self.h_kv)
        return fm.flash_mla_with_kvcache(self.q, self.k_cache if k_cache is None else k_cache, self.block_table,
                                         self.cache_seqlens, DV, meta, splits, causal=causal, **kwargs)

    def check(self, out, lse, keys, causal):
        ref_out, ref_lse = reference(self.q, keys, self.block_table, self.seqlens, self.page, causal, D ** -0.5)
        assert out.dtype == self.dtype and not torch.isnan(out).any() and not torch.isnan(lse).any()
        torch.testing.assert_close(lse, ref_lse, atol=1e-3, rtol=1e-3)
        torch.testing.assert_close(out.float(), ref_out, atol=2e-2, rtol=2e-2)
        x, y = out.double(), ref_out.double()
        if y.abs().sum() > 0:
            assert 1 - 2 * (x * y).sum().item() / (x * x + y * y).sum().item() < 1e-5


CASES = [([1, 63, 64, 65, 700], 1, 16, 1), ([3000, 5, 0, 129], 2, 64, 1), ([900, 130], 1, 128, 1),
         ([257, 1000, 33], 2, 32, 4)]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("page", [1, 16, 48, 64, 256])
@pytest.mark.parametrize("seqlens,s_q,h_q,h_kv", CASES)
def test_page_sizes_match_reference(dtype, page, seqlens, s_q, h_q, h_kv):
    problem = PagedProblem(seqlens, s_q, h_q, h_kv, dtype, page, seed=page + h_q)
    for causal in (False, True):
        out, lse = problem.run(causal)
        problem.check(out, lse, problem.k_cache, causal)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("page", [16, 64, 256])
@pytest.mark.parametrize("seqlens,s_q,h_q,h_kv", CASES)
def test_fp8_per_tensor_matches_reference_on_the_dequantized_cache(dtype, page, seqlens, s_q, h_q, h_kv):
    problem = PagedProblem(seqlens, s_q, h_q, h_kv, dtype, page, seed=page * 3 + h_q)
    codes, k_scale = fm.quantize_fp8_per_tensor(problem.k_cache)
    assert codes.dtype == torch.float8_e4m3fn and 0 < k_scale < 1
    keys = codes.float() * k_scale
    for causal in (False, True):
        out, lse = problem.run(causal, k_cache=codes, kv_cache_dtype="fp8_e4m3", k_scale=k_scale)
        problem.check(out, lse, keys, causal)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("page", [1, 48, 64, 256])
@pytest.mark.parametrize("seqlens,s_q,h_q", [(c[0], c[1], c[2]) for c in CASES if c[3] == 1])
def test_fp8_ds_mla_matches_reference_on_the_dequantized_cache(dtype, page, seqlens, s_q, h_q):
    problem = PagedProblem(seqlens, s_q, h_q, 1, dtype, page, seed=page * 5 + h_q)
    cache = fm.quantize_fp8_ds_mla(problem.k_cache)
    assert cache.dtype == torch.uint8 and cache.shape == (problem.k_cache.shape[0], page, 1, 656)
    keys = fm.dequantize_fp8_ds_mla(cache, dtype)
    for causal in (False, True):
        out, lse = problem.run(causal, k_cache=cache, kv_cache_dtype="fp8_ds_mla")
        problem.check(out, lse, keys, causal)
        viewed, _ = problem.run(causal, k_cache=cache.view(torch.float8_e4m3fn), kv_cache_dtype="fp8_ds_mla")
        assert torch.equal(viewed, out)


def test_ds_quantizer_layout():
    x = torch.zeros(1, 1, 1, D)
    x[..., :128] = torch.linspace(-3, 3, 128)
    x[..., 128:256] = 0                      # a group of zeros: scale 0, codes 0
    x[..., 256:512] = 1000
    x[..., 512:] = torch.arange(64) / 7
    raw = fm.quantize_fp8_ds_mla(x).view(-1)
    scales = raw[512:528].view(torch.float32)
    assert scales[0].item() == pytest.approx(3 / 448) and scales[1].item() == 0
    assert scales[2].item() == pytest.approx(1000 / 448) and raw[128:256].eq(0).all()
    assert torch.equal(raw[528:].view(torch.bfloat16), (torch.arange(64) / 7).to(torch.bfloat16))
    back = fm.dequantize_fp8_ds_mla(raw.view(1, 1, 1, 656), torch.float32)
    assert (back[..., :128] - x[..., :128]).abs().max() <= 3 / 16 + 1e-6   # half a step of 3 bits at |x| ≤ 3
    torch.testing.assert_close(back[..., 256:512], torch.full((1, 1, 1, 256), 1000.0), rtol=1e-6, atol=0)


def test_fp8_arguments_are_checked():
    problem = PagedProblem([100], 1, 16, 1, torch.bfloat16, 64, seed=1)
    codes, k_scale = fm.quantize_fp8_per_tensor(problem.k_cache.nan_to_num(0.0))
    with pytest.raises(fm.InvalidArgumentError, match="kv_cache_dtype"):
        problem.run(False, k_cache=codes, kv_cache_dtype="fp8")
    with pytest.raises(fm.InvalidArgumentError, match="'kScale'"):
        problem.run(False, k_cache=codes, kv_cache_dtype="fp8_e4m3", k_scale=0.0)
    with pytest.raises(fm.InvalidArgumentError, match="k_scale"):
        problem.run(False, k_scale=1.0)
    with pytest.raises(fm.InvalidArgumentError, match="'kCache'"):
        problem.run(False, k_cache=codes)                              # FP8 codes without the format
    with pytest.raises(fm.InvalidArgumentError, match="656"):
        problem.run(False, k_cache=codes.view(torch.uint8), kv_cache_dtype="fp8_ds_mla")
