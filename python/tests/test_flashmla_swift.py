"""flashmla_swift on a CUDA GPU, against a float32 torch reference.

Run on the GPU machine, from python/:  python3 -m pytest -q tests
(the shared library must be in python/flashmla_swift/ or at $FLASHMLA_SWIFT_LIB).
"""
import itertools
import random

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

import flashmla_swift as fm  # noqa: E402

from attention_reference import D, DV, reference  # noqa: E402

PAGE = 64
DTYPES = [torch.bfloat16, torch.float16]


# ---- Helpers ----------------------------------------------------------------------------


class Problem:
    """A paged decode problem with shuffled pages and NaN in every cache slot past a request's end."""

    def __init__(self, seqlens, s_q, h_q, h_kv, dtype, device="cuda", spare_pages=1, seed=0):
        gen = torch.Generator(device="cpu").manual_seed(seed)
        self.b = b = len(seqlens)
        self.s_q, self.h_q, self.h_kv, self.dtype = s_q, h_q, h_kv, dtype
        pages = (max(max(seqlens), 1) + PAGE - 1) // PAGE + spare_pages
        n_blocks = b * pages
        self.seqlens_list = list(seqlens)
        self.cache_seqlens = torch.tensor(seqlens, dtype=torch.int32, device=device)
        self.block_table = torch.randperm(n_blocks, generator=gen).to(torch.int32).view(b, pages).to(device)
        self.k_cache = torch.randn(n_blocks, PAGE, h_kv, D, generator=gen).to(dtype).to(device)
        self.q = torch.randn(b, s_q, h_q, D, generator=gen).to(dtype).to(device)
        flat = self.k_cache.view(-1, h_kv, D)
        slots = torch.arange(PAGE, device=device)
        for i, n in enumerate(seqlens):
            tail = (self.block_table[i].long()[:, None] * PAGE + slots[None, :]).reshape(-1)
            flat[tail[n:]] = float("nan")

    def metadata(self):
        return fm.get_mla_metadata(self.cache_seqlens, self.s_q * self.h_q // self.h_kv, self.h_kv)

    def run(self, causal, q=None, k_cache=None, softmax_scale=None, metadata=None):
        meta, splits = metadata if metadata is not None else self.metadata()
        return fm.flash_mla_with_kvcache(
            self.q if q is None else q, self.k_cache if k_cache is None else k_cache, self.block_table,
            self.cache_seqlens, DV, meta, splits, softmax_scale=softmax_scale, causal=causal)

    def reference(self, causal, scale=D ** -0.5):
        return reference(self.q, self.k_cache, self.block_table, self.seqlens_list, PAGE, causal, scale)


def cos_diff(x, y):
    x, y = x.double(), y.double()
    return 1 - 2 * (x * y).sum().item() / max((x * x + y * y).sum().item(), 1e-12)


def check_against_reference(problem, out, lse, causal, scale=D ** -0.5):
    ref_out, ref_lse = problem.reference(causal, scale)
    assert out.dtype == problem.dtype and out.shape == (problem.b, problem.s_q, problem.h_q, DV)
    assert lse.dtype == torch.float32 and lse.shape == (problem.b, problem.h_q, problem.s_q)
    assert out.device == problem.q.device and lse.device == problem.q.device
    assert not torch.isnan(out).any(), "NaN in out"
    assert not torch.isnan(lse).any(), "NaN in lse"
    torch.testing.assert_close(lse, ref_lse, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(out.float(), ref_out, atol=2e-2, rtol=2e-2)
    if ref_out.abs().sum() > 0:
        assert cos_diff(out.float(), ref_out) < 1e-5


def tile_schedule(seqlens, parts, rows_per_kv_head):
    """The split-KV schedule the library computes, on the host: FlashMLA's scheme with a fixed
    cost of 2 blocks up to 64 rows a KV head (5 above), and no request cut when the requests,
    whole and in order, fit the workers at a capacity within min(12, payload // 32) blocks of
    the payload."""
    fixed = 2 if rows_per_kv_head <= 64 else 5
    blocks = [(max(n, 0) + PAGE - 1) // PAGE for n in seqlens]
    costs = [x + fixed for x in blocks]
    payload = (sum(costs) + parts - 1) // parts + fixed
    cut = True
    limit = payload + min(12, payload // 32)
    for capacity in range(max(costs, default=limit + 1), limit + 1):
        workers, load = 1, 0
        for cost in costs:
            workers, load = (workers + 1, cost) if load + cost > capacity else (workers, load + cost)
        if workers <= parts:
            payload, cut = capacity, False
            break
    rows, splits = [], [0] * (len(seqlens) + 1)
    req = blk = split = so_far = 0
    for _ in range(parts):
        begin = (req, blk * PAGE, split)
        remaining = payload
        while req < len(seqlens):
            left = blocks[req] - blk
            if remaining >= left + fixed:
                so_far += split + 1
                splits[req + 1] = so_far
                remaining -= left + fixed
                req, blk, split = req + 1, 0, 0
            else:
                if cut and remaining - fixed > 0:
                    blk += remaining - fixed
                    split += 1
                break
        end_req = req if blk > 0 else req - 1
        end_tok = blk * PAGE if blk > 0 else (max(seqlens[req - 1], 0) if req > 0 else 0)
        rows.append([begin[0], begin[1], end_req, end_tok, begin[2], 0, 0, 0])
    return rows, splits


def random_cases(count, seed):
    rng = random.Random(seed)
    heads = [(16, 1), (32, 1), (64, 1), (128, 1), (16, 2), (32, 4), (64, 8), (128, 2)]
    cases = []
    for index in range(count):
        h_q, h_kv = heads[index % len(heads)]
        b = rng.randint(1, 9)
        s_q = rng.randint(1, 4)
        seqlens = [rng.choice([0, rng.randint(1, 64), rng.randint(1, 700), rng.randint(500, 3000)]) for _ in range(b)]
        cases.append(pytest.param(b, s_q, h_q, h_kv, seqlens, rng.random() < 0.5, rng.randint(0, 1 << 30),
                                  id=f"b{b}-sq{s_q}-hq{h_q}-hkv{h_kv}-{index}"))
    return cases


# ---- Correctness ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["bf16", "fp16"])
@pytest.mark.parametrize("b,s_q,h_q,h_kv,seqlens,causal,seed", random_cases(24, seed=1))
def test_random_shapes_match_reference(dtype, b, s_q, h_q, h_kv, seqlens, causal, seed):
    problem = Problem(seqlens, s_q, h_q, h_kv, dtype, seed=seed)
    out, lse = problem.run(causal)
    check_against_reference(problem, out, lse, causal)


@pytest.mark.parametrize("dtype", DTYPES, ids=["bf16", "fp16"])
@pytest.mark.parametrize("h_q,s_q", [(16, 1), (128, 2), (64, 4)])
def test_long_varied_batch_splits_requests(dtype, h_q, s_q):
    rng = random.Random(h_q * 10 + s_q)
    seqlens = [rng.randint(1, 9000) for _ in range(40)] + [0, 16384]
    problem = Problem(seqlens, s_q, h_q, 1, dtype, seed=h_q)
    meta, splits = problem.metadata()
    assert int(splits[-1]) > len(seqlens), "expected some requests to be split"
    out, lse = problem.run(True, metadata=(meta, splits))
    check_against_reference(problem, out, lse, True)


@pytest.mark.parametrize("dtype", DTYPES, ids=["bf16", "fp16"])
def test_length_zero_requests(dtype):
    problem = Problem([0, 300, 0, 64, 0], 2, 32, 1, dtype, seed=3)
    for causal in (False, True):
        out, lse = problem.run(causal)
        check_against_reference(problem, out, lse, causal)
        for i in (0, 2, 4):
            assert torch.equal(out[i], torch.zeros_like(out[i]))
            assert torch.isinf(lse[i]).all() and (lse[i] > 0).all()


def test_all_requests_empty():
    problem = Problem([0, 0, 0], 1, 16, 1, torch.bfloat16, seed=4)
    out, lse = problem.run(False)
    assert torch.equal(out, torch.zeros_like(out))
    assert torch.isinf(lse).all() and (lse > 0).all()


def test_causal_rows_that_see_no_key():
    # s_q = 4 with a request of length 2: the first two query rows see no key.
    problem = Problem([2, 5], 4, 16, 1, torch.bfloat16, seed=5)
    out, lse = problem.run(True)
    check_against_reference(problem, out, lse, True)
    assert torch.isinf(lse[0, :, :2]).all() and torch.equal(out[0, :2], torch.zeros_like(out[0, :2]))


def test_softmax_scale():
    problem = Problem([100, 1000], 1, 64, 1, torch.bfloat16, seed=6)
    out, lse = problem.run(False, softmax_scale=0.1)
    check_against_reference(problem, out, lse, False, scale=0.1)


def test_metadata_shapes_and_schedule():
    varied = [0, 1, 63, 64, 65, 4000, 128, 9000, 17]
    sm_count = torch.cuda.get_device_properties(0).multi_processor_count
    equal = [4096] * 128   # whole requests on every configuration below
    for (h_q, s_q, h_kv), seqlens in itertools.product([(128, 1, 1), (128, 2, 1), (16, 1, 1), (64, 1, 4)], [varied, equal]):
        per_k = s_q * h_q // h_kv
        cache_seqlens = torch.tensor(seqlens, dtype=torch.int32, device="cuda")
        meta, splits = fm.get_mla_metadata(cache_seqlens, per_k, h_kv)
        parts = max(1, sm_count // h_kv // ((per_k + 63) // 64))
        assert meta.dtype == torch.int32 and meta.shape == (parts, 8) and meta.is_cuda
        assert splits.dtype == torch.int32 and splits.shape == (len(seqlens) + 1,) and splits.is_cuda
        rows, expected_splits = tile_schedule(seqlens, parts, per_k)
        assert meta.cpu().tolist() == rows
        assert splits.cpu().tolist() == expected_splits


def test_metadata_of_an_empty_batch():
    meta, splits = fm.get_mla_metadata(torch.zeros(0, dtype=torch.int32, device="cuda"), 128, 1)
    assert splits.shape == (1,) and int(splits[0]) == 0
    assert meta.shape[1] == 8


# ---- Streams, graphs, devices --------------------------------------------------------


def test_no_host_synchronization():
    problem = Problem([500, 70], 2, 64, 1, torch.bfloat16, seed=7)
    problem.run(True)  # compile and size the workspace first
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        meta = problem.metadata()
        out, lse = problem.run(True, metadata=meta)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    check_against_reference(problem, out, lse, True)


def test_second_stream():
    problem = Problem([900, 33, 0, 2048], 2, 128, 1, torch.bfloat16, seed=8)
    expected_out, expected_lse = problem.run(True)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        meta = problem.metadata()
        out, lse = problem.run(True, metadata=meta)
        # Interleave with the default stream without waiting: the shared workspace is ordered.
        with torch.cuda.stream(torch.cuda.default_stream()):
            out2, lse2 = problem.run(True)
        out3, lse3 = problem.run(True, metadata=meta)
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    for o, l in ((out, lse), (out2, lse2), (out3, lse3)):
        assert torch.equal(o, expected_out)
        assert torch.equal(l, expected_lse)
    check_against_reference(problem, out, lse, True)


@pytest.mark.parametrize("dtype", DTYPES, ids=["bf16", "fp16"])
def test_cuda_graph_capture_and_replay(dtype):
    seqlens = [700, 0, 3000, 64, 1]
    problem = Problem(seqlens, 2, 64, 1, dtype, seed=9)
    # Warm up on a side stream with the shapes the graph will use (compiles kernels, sizes the workspace).
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        problem.run(True)
    torch.cuda.current_stream().wait_stream(side)

    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        meta, splits = problem.metadata()
        out_g, lse_g = problem.run(True, metadata=(meta, splits))

    for step in range(3):
        gen = torch.Generator(device="cpu").manual_seed(100 + step)
        problem.q.copy_(torch.randn(problem.q.shape, generator=gen).to(dtype))
        new_lengths = [max(0, n - 37 * step) for n in seqlens]
        problem.cache_seqlens.copy_(torch.tensor(new_lengths, dtype=torch.int32))
        problem.seqlens_list = new_lengths
        graph.replay()
        eager_out, eager_lse = problem.run(True)
        torch.cuda.synchronize()
        assert torch.equal(out_g, eager_out), f"replay {step} differs from the eager call"
        assert torch.equal(lse_g, eager_lse)
        # NaN sits past the old ends, so shortened requests also prove the graph read the new lengths.
        check_against_reference(problem, out_g, lse_g, True)


def test_capture_without_warmup_raises_instead_of_allocating():
    # (200 + 16 parts) * 128 * 4 rows: larger than any workspace the other tests grew.
    problem = Problem([1] * 200, 4, 128, 1, torch.bfloat16, seed=10)
    meta = problem.metadata()
    graph = torch.cuda.CUDAGraph()
    with pytest.raises(fm.FlashMLASwiftError, match="before capturing"):
        with torch.cuda.graph(graph):
            problem.run(False, metadata=meta)


def test_current_device_is_left_alone():
    before = torch.cuda.current_device()
    problem = Problem([300], 1, 16, 1, torch.bfloat16, seed=11)
    problem.run(False)
    assert torch.cuda.current_device() == before


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_runs_on_the_tensors_device():
    torch.cuda.set_device(0)
    problem = Problem([400, 90], 2, 32, 1, torch.bfloat16, device="cuda:1", seed=12)
    out, lse = problem.run(True)
    assert out.device == torch.device("cuda:1") and lse.device == torch.device("cuda:1")
    assert torch.cuda.current_device() == 0
    check_against_reference(problem, out, lse, True)


# ---- Layouts -------------------------------------------------------------------------


def test_strided_q_and_cache_are_honoured():
    problem = Problem([1000, 200, 5], 2, 64, 1, torch.bfloat16, seed=13)
    expected_out, expected_lse = problem.run(True)
    wide = torch.full((problem.b, problem.s_q, problem.h_q, 640), float("nan"), dtype=problem.dtype, device="cuda")
    wide[..., :D] = problem.q
    q_padded = wide[..., :D]
    heads_first = problem.q.transpose(1, 2).contiguous().transpose(1, 2)  # [b, s_q, h_q, d] view of [b, h_q, s_q, d]
    wide_cache = torch.full(problem.k_cache.shape[:-1] + (640,), float("nan"), dtype=problem.dtype, device="cuda")
    wide_cache[..., :D] = problem.k_cache
    for q, k in ((q_padded, None), (heads_first, None), (None, wide_cache[..., :D])):
        assert (q is not None and not q.is_contiguous()) or (k is not None and not k.is_contiguous())
        out, lse = problem.run(True, q=q, k_cache=k)
        assert torch.equal(out, expected_out) and torch.equal(lse, expected_lse)


def test_unsupported_layouts_raise():
    problem = Problem([100], 1, 16, 1, torch.bfloat16, seed=14)
    interleaved = torch.stack([problem.q, problem.q], dim=-1)[..., 0]  # innermost stride 2
    with pytest.raises(fm.InvalidArgumentError, match="'q'.*innermost stride 1"):
        problem.run(False, q=interleaved)
    odd = torch.zeros(problem.b, problem.s_q, problem.h_q, 577, dtype=problem.dtype, device="cuda")[..., :D]
    with pytest.raises(fm.InvalidArgumentError, match="16-byte aligned"):
        problem.run(False, q=odd)
    meta, splits = problem.metadata()
    wide = torch.zeros(meta.shape[0], 16, dtype=torch.int32, device="cuda")
    wide[:, :8] = meta
    with pytest.raises(fm.InvalidArgumentError, match="tileSchedulerMetadata"):
        problem.run(False, metadata=(wide[:, :8], splits))


# ---- Errors --------------------------------------------------------------------------


def test_bad_inputs_raise_with_the_library_message():
    problem = Problem([100, 200], 1, 16, 1, torch.bfloat16, seed=15)
    meta, splits = problem.metadata()
    q, k, bt, sl = problem.q, problem.k_cache, problem.block_table, problem.cache_seqlens

    def call(**changes):
        args = dict(q=q, k_cache=k, block_table=bt, cache_seqlens=sl, head_dim_v=DV,
                    tile_scheduler_metadata=meta, num_splits=splits, causal=False)
        args.update(changes)
        return fm.flash_mla_with_kvcache(**args)

    cases = [
        (dict(q=q.float()), "invalid argument 'q': expected bfloat16 or float16, given float32"),
        (dict(k_cache=k.half()), "invalid argument 'kCache': expected bfloat16, given float16"),
        (dict(head_dim_v=576), "invalid argument 'headDimV': expected 512, given 576"),
        (dict(block_table=bt.long()), "invalid argument 'blockTable'"),
        (dict(cache_seqlens=sl.cpu()), "invalid argument 'cacheSeqlens': expected a tensor on cuda"),
        (dict(q=q[:, 0]), "invalid argument 'q': expected rank 4"),
        (dict(q=q[..., :512]), "invalid argument 'q'"),
        (dict(k_cache=k[..., :512]), "invalid argument 'kCache'"),  # any page size 1…256 is valid now
        (dict(k_cache=torch.zeros(4, 64, 3, D, dtype=q.dtype, device="cuda")), "h_kv dividing h_q"),
        (dict(num_splits=splits[:-1]), "invalid argument 'numSplits': expected int32[3]"),
        (dict(tile_scheduler_metadata=meta[:, :7].contiguous()), "invalid argument 'tileSchedulerMetadata'"),
        (dict(attn_sink=torch.zeros(15, device="cuda")), "invalid argument 'attnSink': expected float32[16]"),
        (dict(softmax_scale=0.0), "invalid argument 'softmaxScale'"),
        (dict(softmax_scale=float("nan")), "invalid argument 'softmaxScale'"),
        (dict(block_table=bt[:1]), "invalid argument 'blockTable'"),
    ]
    for changes, message in cases:
        with pytest.raises(fm.InvalidArgumentError) as raised:
            call(**changes)
        assert message in str(raised.value), f"{changes.keys()}: {raised.value}"
        assert isinstance(raised.value, RuntimeError) and isinstance(raised.value, ValueError)
        assert raised.value.status == 1

    with pytest.raises(fm.InvalidArgumentError, match="'cacheSeqlens': expected int32"):
        fm.get_mla_metadata(sl.long(), 16, 1)
    with pytest.raises(fm.InvalidArgumentError, match="'kvHeads'"):
        fm.get_mla_metadata(sl, 16, 0)
    with pytest.raises(fm.InvalidArgumentError, match="'cacheSeqlens'"):
        fm.get_mla_metadata(sl.view(2, 1), 16, 1)
    with pytest.raises(fm.InvalidArgumentError, match="'cacheSeqlens': expected a CUDA or CPU tensor"):
        fm.get_mla_metadata(sl.to("meta"), 16, 1)


def test_version():
    assert fm.abi_version() == fm.ABI_VERSION == 1
    assert fm.__version__


def test_the_schedule_object_gives_the_earlier_interfaces_results():
    """FlashMLA's current interface: get_mla_metadata() and a schedule the first call fills; the
    same bits as the earlier interface, reused by later calls, refused for other shapes."""
    problem = Problem([700, 64, 1, 2300], 2, 64, 1, torch.bfloat16, seed=21)
    earlier = problem.run(True)
    meta, none = fm.get_mla_metadata()
    assert none is None and not meta.have_initialized
    first = fm.flash_mla_with_kvcache(problem.q, problem.k_cache, problem.block_table, problem.cache_seqlens,
                                      DV, meta, causal=True)
    assert meta.have_initialized
    schedule = meta.tile_scheduler_metadata
    again = fm.flash_mla_with_kvcache(problem.q, problem.k_cache, problem.block_table, problem.cache_seqlens,
                                      DV, meta, None, causal=True)
    assert meta.tile_scheduler_metadata is schedule            # reused, not recomputed
    for result in (first, again):
        assert torch.equal(result[0], earlier[0]) and torch.equal(result[1], earlier[1])
    check_against_reference(problem, first[0], first[1], True)
    with pytest.raises(fm.InvalidArgumentError, match="the causal it was made for"):
        fm.flash_mla_with_kvcache(problem.q, problem.k_cache, problem.block_table, problem.cache_seqlens,
                                  DV, meta, causal=False)
    with pytest.raises(fm.InvalidArgumentError, match="the s_q it was made for"):
        fm.flash_mla_with_kvcache(problem.q[:, :1], problem.k_cache, problem.block_table, problem.cache_seqlens,
                                  DV, meta, causal=True)
