"""The Python layer against the real shared library, with no GPU and no torch needed.

A stand-in `torch` module (CUDA tensors that are only addresses, shapes and strides) is
installed in a subprocess, so this runs in CI on a machine without a GPU or torch, and
next to the real torch without disturbing it. Calls reach the library's argument checks,
which come before it looks for a device; well-formed calls end in NoDeviceError (the
stand-in's device 999 exists nowhere).
"""
import os
import subprocess
import sys
import textwrap

import pytest

PYTHON_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARY = os.environ.get("FLASHMLA_SWIFT_LIB") or os.path.join(PYTHON_ROOT, "flashmla_swift", "libFlashMLASwiftC.so")

pytestmark = pytest.mark.skipif(not os.path.exists(LIBRARY), reason=f"{LIBRARY} not built (python/build.sh)")

STAND_IN = textwrap.dedent('''
    import sys, types

    class dtype:
        def __init__(self, name): self.name = name
        def __repr__(self): return "torch." + self.name

    class device:
        def __init__(self, spec, index=None):
            if isinstance(spec, device):
                spec, index = spec.type, spec.index
            if ":" in spec:
                spec, index = spec.split(":")[0], int(spec.split(":")[1])
            self.type, self.index = spec, index
        def __eq__(self, other): return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)
        def __hash__(self): return hash((self.type, self.index))
        def __repr__(self): return self.type if self.index is None else f"{self.type}:{self.index}"

    class Tensor:
        next_address = 0x7F0000000000
        def __init__(self, shape, dt, dev, strides=None, address=None):
            self.shape = tuple(shape)
            self.dtype, self.device = dt, device(dev)
            if strides is None:
                strides, step = [], 1
                for extent in reversed(self.shape):
                    strides.insert(0, step)
                    step *= max(extent, 1)
            self._strides = tuple(strides)
            if address is None:
                address = Tensor.next_address
                Tensor.next_address += 1 << 24
            self._address = address
        def data_ptr(self): return self._address
        def stride(self): return self._strides
        def dim(self): return len(self.shape)

    torch = types.ModuleType("torch")
    for name in ("bfloat16", "float16", "float32", "int32", "int64", "uint8", "float8_e4m3fn"):
        setattr(torch, name, dtype(name))
    torch.device, torch.Tensor = device, Tensor
    torch.empty = lambda shape, dtype=None, device=None: Tensor(shape, dtype, device)

    class Stream:
        cuda_stream = 0
        def wait_stream(self, other): pass
    cuda = types.ModuleType("torch.cuda")
    cuda.Stream = Stream
    cuda.current_device = lambda: DEVICE
    cuda.set_device = lambda index: None
    cuda.current_stream = lambda device=None: Stream()
    cuda.is_current_stream_capturing = lambda: False
    torch.cuda = cuda
    sys.modules["torch"], sys.modules["torch.cuda"] = torch, cuda
''')


# What every script may use: the package, the stand-in's names for the absent device, and expect().
PRELUDE = textwrap.dedent('''
    DEVICE = 999
    import flashmla_swift as fm
    from torch import Tensor
    import torch
    cuda = "cuda:999"
    dev = torch.device(cuda)
    bf = torch.bfloat16

    def expect(error, fragment, call):
        try:
            call()
        except error as raised:
            assert fragment in str(raised), str(raised)
            return raised
        raise AssertionError(f"no {error.__name__} for {fragment}")
''')


def run(body: str) -> None:
    script = STAND_IN + PRELUDE + textwrap.dedent(body)
    env = dict(os.environ, FLASHMLA_SWIFT_LIB=LIBRARY, PYTHONPATH=PYTHON_ROOT)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_loads_and_reports_versions():
    run('''
        import flashmla_swift as fm
        assert fm.abi_version() == fm.ABI_VERSION == 1
        assert fm.__version__ and fm.library_path().endswith("libFlashMLASwiftC.so")
    ''')


def test_metadata_errors():
    run('''
        import flashmla_swift as fm
        from torch import Tensor
        import torch
        cuda = "cuda:999"

        def expect(error, fragment, call):
            try:
                call()
            except error as raised:
                assert fragment in str(raised), str(raised)
                assert isinstance(raised, RuntimeError)
                return raised
            raise AssertionError(f"no {error.__name__} for {fragment}")

        seqlens = Tensor([3], torch.int32, cuda)
        e = expect(fm.InvalidArgumentError, "invalid argument 'cacheSeqlens': expected int32, given int64",
                   lambda: fm.get_mla_metadata(Tensor([3], torch.int64, cuda), 16, 1))
        assert isinstance(e, ValueError) and e.status == 1
        expect(fm.InvalidArgumentError, "'cacheSeqlens': expected a CUDA or CPU tensor, given a tensor on meta",
               lambda: fm.get_mla_metadata(Tensor([3], torch.int32, "meta"), 16, 1))
        expect(fm.InvalidArgumentError, "invalid argument 'cacheSeqlens': expected rank 1 [b]",
               lambda: fm.get_mla_metadata(Tensor([3, 1], torch.int32, cuda), 16, 1))
        expect(fm.InvalidArgumentError, "invalid argument 'cacheSeqlens': expected int32, given float32",
               lambda: fm.get_mla_metadata(Tensor([3], torch.float32, cuda), 16, 1))
        expect(fm.InvalidArgumentError, "invalid argument 'kvHeads'", lambda: fm.get_mla_metadata(seqlens, 16, 0))
        expect(fm.InvalidArgumentError, "invalid argument 'rowsPerKVHead'",
               lambda: fm.get_mla_metadata(seqlens, 0, 1))
        e = expect(fm.NoDeviceError, "cuda", lambda: fm.get_mla_metadata(seqlens, 16, 1))
        assert e.status == 4
    ''')


def test_decode_errors_and_descriptor_layout():
    run('''
        import ctypes
        import flashmla_swift as fm
        from torch import Tensor
        import torch
        cuda = "cuda:999"
        dev = torch.device(cuda)
        bf = torch.bfloat16
        q = Tensor([2, 1, 16, 576], bf, cuda)
        k = Tensor([4, 64, 1, 576], bf, cuda)
        bt = Tensor([2, 2], torch.int32, cuda)
        sl = Tensor([2], torch.int32, cuda)
        meta = Tensor([132, 8], torch.int32, cuda)
        splits = Tensor([3], torch.int32, cuda)
        out = Tensor([2, 1, 16, 512], bf, cuda)
        lse = Tensor([2, 16, 1], torch.float32, cuda)

        def decode(**changes):
            # The ABI directly, with descriptors packed by the package.
            args = dict(q=q, kCache=k, blockTable=bt, cacheSeqlens=sl, tileSchedulerMetadata=meta,
                        numSplits=splits, out=out, lse=lse)
            args.update(changes)
            d = fm._Descriptors(8)
            p = {name: d.add(t, name, dev, "any") for name, t in args.items()}
            status = fm._lib.flashmla_swift_decode(
                999, None, p["q"], p["kCache"], p["blockTable"], p["cacheSeqlens"], p["tileSchedulerMetadata"],
                p["numSplits"], 512, 576 ** -0.5, 1, p["out"], p["lse"], None)
            return status, fm._lib.flashmla_swift_last_error().decode()

        status, message = decode()
        assert status == 4, message                          # well-formed: only the device is missing
        status, message = decode(q=Tensor([2, 1, 16, 576], torch.float16, cuda))
        assert (status, message) == (1, "invalid argument 'kCache': expected float16, given bfloat16"), message
        status, message = decode(q=Tensor([2, 1, 16, 576], bf, cuda, strides=(9216, 9216, 577, 1)))
        assert status == 1 and "16-byte aligned" in message, message
        status, message = decode(q=Tensor([2, 1, 16, 576], bf, cuda, strides=(18432, 18432, 1152, 2)))
        assert status == 1 and "innermost stride 1" in message, message
        status, message = decode(lse=Tensor([2, 1, 16], torch.float32, cuda))
        assert status == 1 and "'lse'" in message and "[2, 16, 1]" in message, message
        status, message = decode(numSplits=Tensor([4], torch.int32, cuda))
        assert status == 1 and "'numSplits'" in message and "int32[3]" in message, message
        status, message = decode(kCache=Tensor([4, 64, 1, 576], bf, cuda, address=0))
        assert status == 1 and "'kCache'" in message and "data 0" in message, message

        # Through the Python API: the checks only Python makes, and the library's rank check on q.
        def expect(fragment, **changes):
            args = dict(q=q, k_cache=k, block_table=bt, cache_seqlens=sl, head_dim_v=512,
                        tile_scheduler_metadata=meta, num_splits=splits)
            args.update(changes)
            try:
                fm.flash_mla_with_kvcache(**args)
            except fm.InvalidArgumentError as raised:
                assert fragment in str(raised), str(raised)
                return
            raise AssertionError(f"no error for {fragment}")

        expect("invalid argument 'blockTable': expected int32, given int64", block_table=Tensor([2, 2], torch.int64, cuda))
        expect("invalid argument 'cacheSeqlens': expected a tensor on cuda:999, given a tensor on cuda:0",
               cache_seqlens=Tensor([2], torch.int32, "cuda:0"))
        expect("invalid argument 'q': expected rank 4 [b, s_q, h_q, 576], given rank 3",
               q=Tensor([2, 16, 576], bf, cuda))
        expect("invalid argument 'tileSchedulerMetadata'", tile_scheduler_metadata=Tensor([132], torch.int32, cuda))
        expect("invalid argument 'q': expected a torch.Tensor, given list", q=[1, 2])
    ''')


def test_kv_cache_dtype_and_page_size_arguments():
    run('''
        import flashmla_swift as fm
        from torch import Tensor
        import torch
        cuda = "cuda:999"
        bf = torch.bfloat16
        q = Tensor([2, 1, 16, 576], bf, cuda)
        bt = Tensor([2, 300], torch.int32, cuda)
        sl = Tensor([2], torch.int32, cuda)
        meta = Tensor([132, 8], torch.int32, cuda)
        splits = Tensor([3], torch.int32, cuda)

        def call(k, **kwargs):
            return fm.flash_mla_with_kvcache(q, k, bt, sl, 512, meta, splits, causal=True, **kwargs)

        def expect(error, fragment, k, **kwargs):
            try:
                call(k, **kwargs)
            except error as raised:
                assert fragment in str(raised), str(raised)
                return
            raise AssertionError(f"no {error.__name__} for {fragment}")

        fp8 = Tensor([4, 16, 1, 576], torch.float8_e4m3fn, cuda)
        ds = Tensor([4, 64, 1, 656], torch.uint8, cuda)
        # Well-formed calls reach the device check: the page size comes from k_cache.shape[1].
        for page in (1, 16, 48, 64, 256):
            expect(fm.NoDeviceError, "cuda", Tensor([4, page, 1, 576], bf, cuda))
        expect(fm.NoDeviceError, "cuda", fp8, kv_cache_dtype="fp8_e4m3", k_scale=0.25)
        expect(fm.NoDeviceError, "cuda", fp8, kv_cache_dtype="fp8_e4m3")            # k_scale defaults to 1
        expect(fm.NoDeviceError, "cuda", ds, kv_cache_dtype="fp8_ds_mla")
        expect(fm.NoDeviceError, "cuda", Tensor([4, 64, 1, 656], torch.float8_e4m3fn, cuda), kv_cache_dtype="fp8_ds_mla")
        # Python's own checks.
        expect(fm.InvalidArgumentError, "invalid argument 'kv_cache_dtype'", fp8, kv_cache_dtype="fp8")
        expect(fm.InvalidArgumentError, "invalid argument 'k_scale'", ds, kv_cache_dtype="fp8_ds_mla", k_scale=2.0)
        expect(fm.InvalidArgumentError, "invalid argument 'k_scale'", Tensor([4, 64, 1, 576], bf, cuda), k_scale=2.0)
        # The library's, through the ABI (a well-formed call stops at the absent device first).
        dev = torch.device(cuda)
        out = Tensor([2, 1, 16, 512], bf, cuda)
        lse = Tensor([2, 16, 1], torch.float32, cuda)

        def decode_kv(k, kv_format, k_scale=1.0):
            d = fm._Descriptors(8)
            p = [d.add(t, "any", dev, "any") for t in (q, k, bt, sl, meta, splits, out, lse)]
            status = fm._lib.flashmla_swift_decode_kv(999, None, p[0], p[1], p[2], p[3], p[4], p[5], 512,
                                                      576 ** -0.5, 1, kv_format, k_scale, p[6], p[7], None)
            return status, fm._lib.flashmla_swift_last_error().decode()

        assert decode_kv(fp8, 1, 0.25)[0] == 4
        assert decode_kv(ds, 2)[0] == 4
        for scale in (0.0, -1.0, float("nan"), float("inf")):
            status, message = decode_kv(fp8, 1, scale)
            assert status == 1 and "invalid argument 'kScale': expected finite and > 0" in message, message
        checks = [(fp8, 0, "'kCache': expected bfloat16, given float8_e4m3"),
                  (Tensor([4, 16, 1, 576], torch.uint8, cuda), 1, "'kCache': expected float8_e4m3, given uint8"),
                  (Tensor([4, 64, 1, 576], torch.uint8, cuda), 2, "656 elements (656 bytes) a token"),
                  (Tensor([4, 257, 1, 576], bf, cuda), 0, "1...256"),
                  (Tensor([4, 64, 2, 656], torch.uint8, cuda), 2, "h_kv = 1"),
                  (fp8, 3, "'kvFormat'")]
        for k, kv_format, fragment in checks:
            status, message = decode_kv(k, kv_format)
            assert status == 1 and fragment in message, message
    ''')


def test_the_schedule_object_interface():
    run('''
        import flashmla_swift as fm
        from torch import Tensor
        import torch
        cuda = "cuda:999"
        bf = torch.bfloat16
        q = Tensor([2, 1, 16, 576], bf, cuda)
        k = Tensor([8, 64, 1, 576], bf, cuda)
        bt = Tensor([2, 4], torch.int32, cuda)
        sl = Tensor([2], torch.int32, cuda)

        # FlashMLA's current form: an empty schedule and None; the earlier form still works.
        meta, none = fm.get_mla_metadata()
        assert isinstance(meta, fm.FlashMLASchedMeta) and none is None and not meta.have_initialized
        expect(fm.NoDeviceError, "cuda", lambda: fm.get_mla_metadata(sl, 16, 1))
        expect(fm.NoDeviceError, "cuda", lambda: fm.get_mla_metadata(cache_seqlens=sl, num_heads_per_head_k=16, num_heads_k=1))
        # The first call computes the schedule (here it stops at the absent device, leaving the object empty).
        expect(fm.NoDeviceError, "cuda", lambda: fm.flash_mla_with_kvcache(q, k, bt, sl, 512, meta, causal=True))
        assert not meta.have_initialized and meta.tile_scheduler_metadata is None
        expect(fm.InvalidArgumentError, "invalid argument 'num_splits'",
               lambda: fm.flash_mla_with_kvcache(q, k, bt, sl, 512, meta, Tensor([3], torch.int32, cuda)))
        # FlashMLA's extra cache belongs to sparse decoding: refused, by name, without indices.
        for name in ("extra_k_cache", "extra_indices_in_kvcache", "extra_topk_length"):
            expect(fm.InvalidArgumentError, f"'{name}'",
                   lambda: fm.flash_mla_with_kvcache(q, k, bt, sl, 512, meta, **{name: Tensor([2], torch.int32, cuda)}))
        # A filled schedule is reused only with the shapes it was made for.
        meta.have_initialized = True
        meta.config = {"b": 2, "s_q": 1, "h_q": 16, "page_block_size": 64, "h_k": 1, "causal": True, "kv_cache_dtype": "auto",
                       "topk": None}
        meta.tile_scheduler_metadata, meta.num_splits = Tensor([132, 8], torch.int32, cuda), Tensor([3], torch.int32, cuda)
        expect(fm.NoDeviceError, "cuda", lambda: fm.flash_mla_with_kvcache(q, k, bt, sl, 512, meta, causal=True))
        expect(fm.InvalidArgumentError, "the h_q it was made for (16)",
               lambda: fm.flash_mla_with_kvcache(Tensor([2, 1, 32, 576], bf, cuda), k, bt, sl, 512, meta, causal=True))
        expect(fm.InvalidArgumentError, "the causal it was made for (True)",
               lambda: fm.flash_mla_with_kvcache(q, k, bt, sl, 512, meta, causal=False))
        expect(fm.InvalidArgumentError, "the kv_cache_dtype it was made for (auto)",
               lambda: fm.flash_mla_with_kvcache(q, k, bt, sl, 512, meta, causal=True, is_fp8_kvcache=True))
    ''')


def test_sparse_decoding_and_sink_arguments():
    run('''
        q = Tensor([2, 1, 64, 576], bf, cuda)
        ds = Tensor([8, 64, 1, 656], torch.uint8, cuda)
        idx = Tensor([2, 1, 128], torch.int32, cuda)
        lengths = Tensor([2], torch.int32, cuda)
        sink = Tensor([64], torch.float32, cuda)

        def sparse(**changes):
            query, cache = changes.pop("q", q), changes.pop("k", ds)
            args = dict(indices=idx, topk_length=lengths, attn_sink=sink, is_fp8_kvcache=True)
            args.update(changes)
            meta, _ = fm.get_mla_metadata()
            return fm.flash_mla_with_kvcache(query, cache, None, None, 512, meta, **args)

        # A well-formed sparse call gets as far as the absent device, and leaves its schedule empty.
        meta, _ = fm.get_mla_metadata()
        expect(fm.NoDeviceError, "cuda", lambda: fm.flash_mla_with_kvcache(
            q, ds, None, None, 512, meta, indices=idx, topk_length=lengths, attn_sink=sink, is_fp8_kvcache=True))
        assert not meta.have_initialized and meta.config is None
        # Python's own checks.
        expect(fm.InvalidArgumentError, "invalid argument 'causal': expected False with indices", lambda: sparse(causal=True))
        expect(fm.InvalidArgumentError, "invalid argument 'topk_length': expected None without indices",
               lambda: sparse(indices=None))
        expect(fm.InvalidArgumentError, "invalid argument 'tile_scheduler_metadata': expected a FlashMLASchedMeta",
               lambda: fm.flash_mla_with_kvcache(q, ds, None, None, 512, Tensor([132, 8], torch.int32, cuda),
                                                 Tensor([3], torch.int32, cuda), indices=idx, is_fp8_kvcache=True))
        expect(fm.InvalidArgumentError, "invalid argument 'indices': expected int32, given int64",
               lambda: sparse(indices=Tensor([2, 1, 128], torch.int64, cuda)))
        expect(fm.InvalidArgumentError, "invalid argument 'attnSink': expected a tensor on cuda:999",
               lambda: sparse(attn_sink=Tensor([64], torch.float32, "cuda:0")))
        # The library's, before anything is allocated, for shapes Python cannot schedule.
        expect(fm.InvalidArgumentError, "invalid argument 'indices': expected rank 3 [b, s_q, topk], given rank 2",
               lambda: sparse(indices=Tensor([2, 128], torch.int32, cuda)))
        expect(fm.InvalidArgumentError, "invalid argument 'q': expected rank 4", lambda: sparse(q=Tensor([2, 64, 576], bf, cuda)))

        # Every check of the new entry points, through the ABI: valid inputs pass on a device that
        # does not exist (validation needs none); each bad one is named.
        def validate_sparse(**changes):
            args = dict(q=q, kCache=ds, indices=idx, topkLength=lengths, attnSink=sink)
            args.update(changes)
            d = fm._Descriptors(5)
            p = {name: (None if t is None else d.add(t, name, dev, "any")) for name, t in args.items()}
            status = fm._lib.flashmla_swift_validate_sparse_decode(
                999, p["q"], p["kCache"], p["indices"], p["topkLength"], None, None, 512, 0.04, 2, p["attnSink"])
            return status, fm._lib.flashmla_swift_last_error().decode()

        assert validate_sparse()[0] == 0
        assert validate_sparse(topkLength=None, attnSink=None)[0] == 0
        for changes, fragment in [
                (dict(indices=Tensor([2, 1, 128], torch.float32, cuda)), "'indices': expected int32, given float32"),
                (dict(indices=Tensor([2, 2, 128], torch.int32, cuda)), "'indices': expected int32[2, 1, topk]"),
                (dict(topkLength=Tensor([3], torch.int32, cuda)), "'topkLength': expected int32[2]"),
                (dict(topkLength=Tensor([2], torch.float32, cuda)), "'topkLength': expected int32"),
                (dict(attnSink=Tensor([63], torch.float32, cuda)), "'attnSink': expected float32[64]"),
                (dict(attnSink=Tensor([64], bf, cuda)), "'attnSink': expected float32, given bfloat16"),
                (dict(kCache=Tensor([8, 64, 1, 576], bf, cuda)), "'kCache': expected uint8"),
                (dict(kCache=Tensor([8, 64, 2, 656], torch.uint8, cuda)), "'kCache'"),
                (dict(q=Tensor([2, 1, 64, 576], torch.float32, cuda)), "'q': expected bfloat16 or float16")]:
            status, message = validate_sparse(**changes)
            assert status == 1 and fragment in message, (fragment, message)
        d = fm._Descriptors(5)
        p = [d.add(t, "any", dev, "any") for t in (q, Tensor([8, 64, 1, 576], torch.float8_e4m3fn, cuda), idx)]
        assert fm._lib.flashmla_swift_validate_sparse_decode(999, p[0], p[1], p[2], None, None, None, 512, 0.04, 1, None) == 1
        assert "'kvFormat'" in fm._lib.flashmla_swift_last_error().decode()

        # The sparse schedule's and the dense sink decode's checks.
        d = fm._Descriptors(6)
        sched, splits = Tensor([132, 8], torch.int32, cuda), Tensor([3], torch.int32, cuda)
        status = fm._lib.flashmla_swift_get_sparse_metadata(999, None, d.add(idx, "i", dev, ""), None, 64,
                                                            d.add(sched, "s", dev, ""), d.add(splits, "n", dev, ""))
        assert status == 4, fm._lib.flashmla_swift_last_error()
        status = fm._lib.flashmla_swift_get_sparse_metadata(999, None, d.add(idx, "i", dev, ""), None, 0,
                                                            d.add(sched, "s", dev, ""), d.add(splits, "n", dev, ""))
        assert status == 1 and "'numHeadsQ'" in fm._lib.flashmla_swift_last_error().decode()
        dq = Tensor([2, 1, 16, 576], bf, cuda)
        dense = [dq, Tensor([4, 64, 1, 576], bf, cuda), Tensor([2, 2], torch.int32, cuda), Tensor([2], torch.int32, cuda),
                 Tensor([132, 8], torch.int32, cuda), Tensor([3], torch.int32, cuda)]
        outputs = [Tensor([2, 1, 16, 512], bf, cuda), Tensor([2, 16, 1], torch.float32, cuda)]
        for attn_sink, expected in [(Tensor([16], torch.float32, cuda), 4), (Tensor([16, 1], torch.float32, cuda), 1),
                                    (Tensor([16], torch.float32, cuda, strides=(2,)), 1)]:
            d = fm._Descriptors(10)
            p = [d.add(t, "any", dev, "any") for t in dense + [attn_sink] + outputs]
            status = fm._lib.flashmla_swift_decode_kv_sink(999, None, *p[:6], 512, 0.04, 1, 0, 1.0, p[6], p[7], p[8], None)
            message = fm._lib.flashmla_swift_last_error().decode()
            assert status == expected and (expected == 4 or "'attnSink'" in message), message
            assert fm._lib.flashmla_swift_validate_decode(999, *p[:6], 512, 0.04, 1, 0, 1.0, p[6]) == (0 if expected == 4 else 1)
    ''')


def test_python_signatures_match_the_header():
    """Every function of the header has ctypes argument types set, as many as the header declares:
    the packaged copy build.sh makes, or where the package was not built here (the library carried
    to another machine) the source it is copied from."""
    run('''
        import os, re
        packaged = os.path.join(os.path.dirname(fm.__file__), "include", "flashmla_swift.h")
        source = os.path.join(os.path.dirname(fm.__file__), "..", "..", "Sources", "CFlashMLA", "include", "flashmla_swift.h")
        header = open(packaged if os.path.exists(packaged) else source).read()
        declared = re.findall(r"^[a-z][^(\\n]*\\b(flashmla_swift_[a-z_]+)\\(([^;]*)\\);", header, re.M)
        assert len(declared) >= 15, declared
        for name, parameters in declared:
            count = 0 if parameters.strip() == "void" else parameters.count(",") + 1
            argtypes = getattr(fm._lib, name).argtypes
            assert argtypes is not None and len(argtypes) == count, (name, count, argtypes)
    ''')
