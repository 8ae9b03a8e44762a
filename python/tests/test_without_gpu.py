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


def run(body: str) -> None:
    script = STAND_IN + "\nDEVICE = 999\n" + textwrap.dedent(body)
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
        expect(fm.InvalidArgumentError, "'cacheSeqlens': expected a CUDA tensor, given a tensor on cpu",
               lambda: fm.get_mla_metadata(Tensor([3], torch.int32, "cpu"), 16, 1))
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

        def expect(error, fragment, call):
            try:
                call()
            except error as raised:
                assert fragment in str(raised), str(raised)
                return raised
            raise AssertionError(f"no {error.__name__} for {fragment}")

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
        # Sparse decoding and sinks are refused, by name, before anything else.
        for name in ("indices", "attn_sink", "extra_k_cache", "extra_indices_in_kvcache", "topk_length", "extra_topk_length"):
            expect(NotImplementedError, f"'{name}'",
                   lambda: fm.flash_mla_with_kvcache(q, k, bt, sl, 512, meta, **{name: Tensor([2], torch.int32, cuda)}))
        # A filled schedule is reused only with the shapes it was made for.
        meta.have_initialized = True
        meta.config = {"b": 2, "s_q": 1, "h_q": 16, "page_block_size": 64, "h_k": 1, "causal": True, "kv_cache_dtype": "auto"}
        meta.tile_scheduler_metadata, meta.num_splits = Tensor([132, 8], torch.int32, cuda), Tensor([3], torch.int32, cuda)
        expect(fm.NoDeviceError, "cuda", lambda: fm.flash_mla_with_kvcache(q, k, bt, sl, 512, meta, causal=True))
        expect(fm.InvalidArgumentError, "the h_q it was made for (16)",
               lambda: fm.flash_mla_with_kvcache(Tensor([2, 1, 32, 576], bf, cuda), k, bt, sl, 512, meta, causal=True))
        expect(fm.InvalidArgumentError, "the causal it was made for (True)",
               lambda: fm.flash_mla_with_kvcache(q, k, bt, sl, 512, meta, causal=False))
        expect(fm.InvalidArgumentError, "the kv_cache_dtype it was made for (auto)",
               lambda: fm.flash_mla_with_kvcache(q, k, bt, sl, 512, meta, causal=True, is_fp8_kvcache=True))
    ''')
