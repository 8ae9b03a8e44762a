"""FlashMLA's Python API on swift-flash-mla.

A drop-in for ``flash_mla``: ``get_mla_metadata`` and ``flash_mla_with_kvcache`` with the
same arguments, shapes, dtypes and return values, on torch CUDA tensors. The work runs in
``libFlashMLASwiftC.so`` (Swift, Swift runtime linked in statically; kernels compiled by
NVRTC at run time), called through ctypes: nothing is compiled when this package is
installed or imported.

Every call runs on the tensors' device and torch's current stream of that device,
allocates its outputs with torch, and never waits for the GPU (except in a call that creates
or grows the device's workspace). Calls can be captured in a
torch CUDA graph once a call with the same shapes (or larger ones) has run on the device
outside capture: that first call compiles and loads the kernels and sizes the device's
workspace, which never grows during capture (a capture that would need a larger one
raises instead). A workspace used by a captured graph is kept alive for the life of the
process; a later, larger eager call gets a new one.

Errors raise :class:`FlashMLASwiftError` (a ``RuntimeError``, as FlashMLA's checks are)
carrying the library's message; bad arguments raise :class:`InvalidArgumentError`, which is
also a ``ValueError``.

The shared library is found at ``$FLASHMLA_SWIFT_LIB`` or beside this file.
"""
import ctypes
import os
import site
import struct
import sys
import threading
from typing import Dict, List, Optional, Tuple

import torch

__all__ = [
    "FlashMLASchedMeta",
    "get_mla_metadata",
    "flash_mla_with_kvcache",
    "quantize_fp8_per_tensor",
    "quantize_fp8_ds_mla",
    "dequantize_fp8_ds_mla",
    "FlashMLASwiftError",
    "InvalidArgumentError",
    "UnsupportedDeviceError",
    "BackendError",
    "NoDeviceError",
    "abi_version",
    "library_path",
    "__version__",
]

ABI_VERSION = 1  # FLASHMLA_SWIFT_ABI_VERSION this package was written against
_LIBRARY_NAME = "libFlashMLASwiftC.so"
_MAX_RANK = 8

# ---- Errors ---------------------------------------------------------------------------


class FlashMLASwiftError(RuntimeError):
    """A failed call; ``status`` is the C ABI's status code, ``str(error)`` its message."""

    def __init__(self, message: str, status: int = 3):
        super().__init__(message)
        self.status = status


class InvalidArgumentError(FlashMLASwiftError, ValueError):
    """An argument's shape, stride, dtype, device, alignment or value is not accepted (status 1)."""


class UnsupportedDeviceError(FlashMLASwiftError):
    """The device cannot run the kernels, e.g. compute capability below 8.0 (status 2)."""


class BackendError(FlashMLASwiftError):
    """The CUDA driver or NVRTC failed (status 3)."""


class NoDeviceError(FlashMLASwiftError):
    """No usable CUDA driver, or no device of that ordinal (status 4)."""


_ERRORS = {1: InvalidArgumentError, 2: UnsupportedDeviceError, 3: BackendError, 4: NoDeviceError}

# ---- The library ----------------------------------------------------------------------


def library_path() -> str:
    """The shared library this package loads: ``$FLASHMLA_SWIFT_LIB`` or the one beside it."""
    explicit = os.environ.get("FLASHMLA_SWIFT_LIB")
    if explicit:
        return explicit
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), _LIBRARY_NAME)


def _hint_nvrtc_search() -> None:
    # The library looks for libnvrtc in the CUDA toolkit and in the nvidia-cuda-nvrtc wheel
    # under site-packages folders; name this interpreter's folders so that it finds the
    # wheel torch itself depends on.
    if os.environ.get("FLASHMLA_PYTHON_SITE"):
        return
    folders: List[str] = []
    try:
        folders += site.getsitepackages()
    except AttributeError:  # some virtualenvs
        pass
    try:
        folders.append(site.getusersitepackages())
    except AttributeError:
        pass
    folders += [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    seen, unique = set(), []
    for folder in folders:
        if folder and folder not in seen and os.path.isdir(folder):
            seen.add(folder)
            unique.append(folder)
    if unique:
        os.environ["FLASHMLA_PYTHON_SITE"] = ":".join(unique)


def _load() -> ctypes.CDLL:
    path = library_path()
    if not os.path.exists(path):
        raise ImportError(
            f"flashmla_swift: {path} not found. Build it with python/build.sh (needs a Swift 6 "
            f"toolchain) or point $FLASHMLA_SWIFT_LIB at a built {_LIBRARY_NAME}."
        )
    _hint_nvrtc_search()
    lib = ctypes.CDLL(path)
    vp, i32, i64 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64
    lib.flashmla_swift_abi_version.argtypes = []
    lib.flashmla_swift_abi_version.restype = i32
    lib.flashmla_swift_version.argtypes = []
    lib.flashmla_swift_version.restype = ctypes.c_char_p
    lib.flashmla_swift_last_error.argtypes = []
    lib.flashmla_swift_last_error.restype = ctypes.c_char_p
    lib.flashmla_swift_num_sm_parts.argtypes = [i32, i64, i64, ctypes.POINTER(i64)]
    lib.flashmla_swift_num_sm_parts.restype = ctypes.c_int
    lib.flashmla_swift_get_metadata.argtypes = [i32, vp, vp, i64, i64, vp, vp]
    lib.flashmla_swift_get_metadata.restype = ctypes.c_int
    lib.flashmla_swift_decode.argtypes = [i32, vp, vp, vp, vp, vp, vp, vp, i64, ctypes.c_float, i32, vp, vp, vp]
    lib.flashmla_swift_decode.restype = ctypes.c_int
    if not hasattr(lib, "flashmla_swift_decode_kv"):
        raise ImportError(f"flashmla_swift: {path} predates flashmla_swift_decode_kv (FP8 caches): rebuild it")
    lib.flashmla_swift_decode_kv.argtypes = [i32, vp, vp, vp, vp, vp, vp, vp, i64, ctypes.c_float, i32, i32,
                                             ctypes.c_float, vp, vp, vp]
    lib.flashmla_swift_decode_kv.restype = ctypes.c_int
    lib.flashmla_swift_workspace_create.argtypes = [i32, ctypes.POINTER(vp)]
    lib.flashmla_swift_workspace_create.restype = ctypes.c_int
    lib.flashmla_swift_workspace_reserve.argtypes = [vp, i64, i64]
    lib.flashmla_swift_workspace_reserve.restype = ctypes.c_int
    lib.flashmla_swift_workspace_destroy.argtypes = [vp]
    lib.flashmla_swift_workspace_destroy.restype = None
    found = lib.flashmla_swift_abi_version()
    if found != ABI_VERSION:
        raise ImportError(f"flashmla_swift: {path} has ABI version {found}, this package needs {ABI_VERSION}")
    return lib


_lib = _load()
__version__ = _lib.flashmla_swift_version().decode()


def abi_version() -> int:
    """``flashmla_swift_abi_version()`` of the loaded library."""
    return int(_lib.flashmla_swift_abi_version())


def _check(status: int) -> None:
    if status != 0:
        message = _lib.flashmla_swift_last_error().decode(errors="replace")
        raise _ERRORS.get(status, FlashMLASwiftError)(message, status)


# ---- Tensor descriptors ---------------------------------------------------------------

# flashmla_swift_tensor: uint64 data; int32 dtype; int32 rank; int64 shape[8]; int64 strides[8].
_DESCRIPTOR = struct.Struct("=Qii8q8q")
assert _DESCRIPTOR.size == 144
_DTYPE_CODES = {torch.bfloat16: 1, torch.float16: 2, torch.float32: 3, torch.int32: 4, torch.uint8: 6}
if hasattr(torch, "float8_e4m3fn"):
    _DTYPE_CODES[torch.float8_e4m3fn] = 5
# kv_cache_dtype → FLASHMLA_SWIFT_KV_* (flashmla_swift.h).
_KV_FORMATS = {"auto": 0, "fp8_e4m3": 1, "fp8_ds_mla": 2}
_ZEROS = (0,) * _MAX_RANK


def _invalid(argument: str, expected: str, given: str) -> InvalidArgumentError:
    # The library's wording, for the checks only Python can make.
    return InvalidArgumentError(f"invalid argument '{argument}': expected {expected}, given {given}", 1)


class _Descriptors:
    """``flashmla_swift_tensor`` records for one call, in one buffer."""

    __slots__ = ("buffer", "base", "count")

    def __init__(self, count: int):
        self.buffer = (ctypes.c_char * (_DESCRIPTOR.size * count))()
        self.base = ctypes.addressof(self.buffer)
        self.count = 0

    def add(self, tensor, argument: str, device: torch.device, expected_dtype: str) -> int:
        if not isinstance(tensor, torch.Tensor):
            raise _invalid(argument, "a torch.Tensor", type(tensor).__name__)
        if tensor.device != device:
            raise _invalid(argument, f"a tensor on {device}", f"a tensor on {tensor.device}")
        code = _DTYPE_CODES.get(tensor.dtype)
        if code is None:
            raise _invalid(argument, expected_dtype, str(tensor.dtype).replace("torch.", ""))
        rank = tensor.dim()
        if rank > _MAX_RANK:
            raise _invalid(argument, f"rank at most {_MAX_RANK}", f"rank {rank}")
        pad = _ZEROS[: _MAX_RANK - rank]
        offset = _DESCRIPTOR.size * self.count
        _DESCRIPTOR.pack_into(self.buffer, offset, tensor.data_ptr(), code, rank,
                              *tensor.shape, *pad, *tensor.stride(), *pad)
        self.count += 1
        return self.base + offset


def _device_of(tensor, argument: str) -> torch.device:
    if not isinstance(tensor, torch.Tensor):
        raise _invalid(argument, "a torch.Tensor", type(tensor).__name__)
    if tensor.device.type != "cuda":
        raise _invalid(argument, "a CUDA tensor", f"a tensor on {tensor.device}")
    return tensor.device


class _OnDevice:
    """Makes `index` torch's current device for the call when it is not already, so that the
    library (which makes the device's primary context current) leaves torch's current device
    as it was."""

    __slots__ = ("index", "previous")

    def __init__(self, index: int):
        self.index = index
        self.previous = -1

    def __enter__(self):
        current = torch.cuda.current_device()
        if current != self.index:
            self.previous = current
            torch.cuda.set_device(self.index)
        return self

    def __exit__(self, *exc):
        if self.previous >= 0:
            torch.cuda.set_device(self.previous)
        return False


# ---- Per-device state -----------------------------------------------------------------

_lock = threading.Lock()
_sm_parts: Dict[Tuple[int, int, int], int] = {}


class _Workspace:
    """One device's workspace: split accumulators sized for the largest call so far."""

    __slots__ = ("handle", "device", "capacity_rows", "captured", "last_stream")

    def __init__(self, device: int):
        handle = ctypes.c_void_p()
        _check(_lib.flashmla_swift_workspace_create(device, ctypes.byref(handle)))
        self.handle = handle.value
        self.device = device
        self.capacity_rows = 0
        self.captured = False
        self.last_stream: Optional[torch.cuda.Stream] = None

    def __del__(self):
        if getattr(self, "handle", None) and not sys.is_finalizing():
            _lib.flashmla_swift_workspace_destroy(self.handle)
        self.handle = None


_workspaces: Dict[int, _Workspace] = {}
_kept_for_graphs: List[_Workspace] = []  # captured graphs still point into these


def _num_sm_parts(device: int, num_heads_per_head_k: int, num_heads_k: int) -> int:
    key = (device, num_heads_per_head_k, num_heads_k)
    parts = _sm_parts.get(key)
    if parts is None:
        value = ctypes.c_int64()
        _check(_lib.flashmla_swift_num_sm_parts(device, num_heads_per_head_k, num_heads_k, ctypes.byref(value)))
        parts = _sm_parts.setdefault(key, int(value.value))
    return parts


def _workspace_for(device: int, needed_rows: int, stream: torch.cuda.Stream, capturing: bool) -> _Workspace:
    """The workspace for a decode of `needed_rows` accumulator rows on `stream`; call with
    `_lock` held. The library grows it (after validating the call) where it is too small;
    Python only mirrors its size, ``(b + num_sm_parts) * h_q * s_q`` rows, the library's
    `MLAMetadata.maxTotalSplits * queryRows`."""
    workspace = _workspaces.get(device)
    if workspace is None or workspace.capacity_rows < needed_rows:
        if capturing:
            have = 0 if workspace is None else workspace.capacity_rows
            raise FlashMLASwiftError(
                f"flash_mla_with_kvcache: during CUDA graph capture this call needs a workspace of "
                f"{needed_rows} rows on cuda:{device}, which holds {have}: run it once with these shapes "
                f"(or larger ones) on this device before capturing", 1)
        if workspace is None or workspace.captured:
            # A captured graph points into the old one: keep it, and let this call grow a new one.
            if workspace is not None:
                _kept_for_graphs.append(workspace)
            workspace = _Workspace(device)
            _workspaces[device] = workspace
    if capturing:
        workspace.captured = True
    else:
        # Calls on different streams share the accumulators: order this one after the last.
        last = workspace.last_stream
        if last is not None and last != stream:
            stream.wait_stream(last)
        workspace.last_stream = stream
    return workspace


# ---- FlashMLA's API -------------------------------------------------------------------


class FlashMLASchedMeta:
    """FlashMLA's schedule object (its calling convention since 2025-09): ``get_mla_metadata()``
    returns an empty one, the first ``flash_mla_with_kvcache`` call that receives it computes the
    split-KV schedule for its ``cache_seqlens`` and shapes (queued on torch's current stream, no
    host synchronization; it allocates the two schedule tensors, so make that call outside CUDA
    graph capture), and later calls reuse it. As in FlashMLA, a later call must keep the shapes
    (checked: a different one raises ``InvalidArgumentError`` naming it) and the values of
    ``cache_seqlens`` (not checked: that would need the host to read the device)."""

    __slots__ = ("have_initialized", "config", "tile_scheduler_metadata", "num_splits")

    def __init__(self):
        self.have_initialized = False
        self.config: Optional[Dict[str, object]] = None
        self.tile_scheduler_metadata: Optional[torch.Tensor] = None
        self.num_splits: Optional[torch.Tensor] = None

    def __repr__(self):
        return f"FlashMLASchedMeta(have_initialized={self.have_initialized}, config={self.config})"


def get_mla_metadata(*args, **kwargs):
    """
    Two forms, as FlashMLA's two interfaces:

    ``get_mla_metadata()`` returns ``(FlashMLASchedMeta(), None)``: an empty schedule that the
    first ``flash_mla_with_kvcache`` call fills (FlashMLA's current interface).

    ``get_mla_metadata(cache_seqlens, num_heads_per_head_k, num_heads_k)`` (FlashMLA's earlier
    interface):
        cache_seqlens: (batch_size), dtype torch.int32, on a CUDA device.
        num_heads_per_head_k: Equals to seq_len_q * num_heads_q // num_heads_k.
        num_heads_k: num_heads_k.
    returns
        tile_scheduler_metadata: (num_sm_parts, 8), dtype torch.int32.
        num_splits: (batch_size + 1), dtype torch.int32.
    both written on the device by a kernel queued on torch's current stream.
    """
    if not args and not kwargs:
        return FlashMLASchedMeta(), None
    return _schedule(*args, **kwargs)


def _schedule(
    cache_seqlens: torch.Tensor,
    num_heads_per_head_k: int,
    num_heads_k: int,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The earlier interface's ``get_mla_metadata``."""
    device = _device_of(cache_seqlens, "cacheSeqlens")
    index = device.index
    heads, kv_heads = int(num_heads_per_head_k), int(num_heads_k)
    descriptors = _Descriptors(3)
    seqlens = descriptors.add(cache_seqlens, "cacheSeqlens", device, "int32")
    if cache_seqlens.dim() != 1 or cache_seqlens.dtype != torch.int32 or heads < 1 or kv_heads < 1:
        # Let the library name the problem; nothing is allocated for it.
        _check(_lib.flashmla_swift_get_metadata(index, None, seqlens, heads, kv_heads, seqlens, seqlens))
        raise _invalid("cacheSeqlens", "int32[b]", f"shape {list(cache_seqlens.shape)}")
    with _OnDevice(index):
        parts = _num_sm_parts(index, heads, kv_heads)
        schedule = torch.empty((parts, 8), dtype=torch.int32, device=device)
        splits = torch.empty((cache_seqlens.shape[0] + 1,), dtype=torch.int32, device=device)
        stream = torch.cuda.current_stream(device).cuda_stream
        _check(_lib.flashmla_swift_get_metadata(
            index, stream, seqlens, heads, kv_heads,
            descriptors.add(schedule, "tileSchedulerMetadata", device, "int32"),
            descriptors.add(splits, "numSplits", device, "int32")))
    return schedule, splits


def flash_mla_with_kvcache(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    block_table: torch.Tensor,
    cache_seqlens: torch.Tensor,
    head_dim_v: int,
    tile_scheduler_metadata: torch.Tensor,
    num_splits: Optional[torch.Tensor] = None,
    softmax_scale: Optional[float] = None,
    causal: bool = False,
    is_fp8_kvcache: bool = False,
    indices: Optional[torch.Tensor] = None,
    attn_sink: Optional[torch.Tensor] = None,
    extra_k_cache: Optional[torch.Tensor] = None,
    extra_indices_in_kvcache: Optional[torch.Tensor] = None,
    topk_length: Optional[torch.Tensor] = None,
    extra_topk_length: Optional[torch.Tensor] = None,
    *,
    kv_cache_dtype: str = "auto",
    k_scale: Optional[float] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Arguments:
        q: (batch_size, seq_len_q, num_heads_q, head_dim), bfloat16 or float16.
        k_cache: (num_blocks, page_block_size, num_heads_k, head_dim), q's dtype; any
            page_block_size from 1 to 256 (token t of a request is slot t % page_block_size of
            block block_table[t // page_block_size]). With kv_cache_dtype:
            "fp8_e4m3": torch.float8_e4m3fn, the same shape;
            "fp8_ds_mla": torch.uint8 (or float8_e4m3fn bytes) (num_blocks, page_block_size, 1, 656).
        block_table: (batch_size, max_num_blocks_per_seq), torch.int32.
        cache_seqlens: (batch_size), torch.int32.
        head_dim_v: Head dimension of v (512).
        tile_scheduler_metadata: a FlashMLASchedMeta from get_mla_metadata() (then num_splits
            must be None), or the (num_sm_parts, 8) torch.int32 tensor of the earlier interface.
        num_splits: (batch_size + 1), torch.int32, from the earlier get_mla_metadata; None with a
            FlashMLASchedMeta.
        softmax_scale: float. The scale of QK^T before applying softmax. Default to 1 / sqrt(head_dim).
        causal: bool. Whether to apply causal attention mask.
        is_fp8_kvcache: FlashMLA's flag for DeepSeek-V3.2's 656-byte FP8 cache; True means
            kv_cache_dtype="fp8_ds_mla" unless kv_cache_dtype names another FP8 format.
        indices, attn_sink, extra_k_cache, extra_indices_in_kvcache, topk_length,
            extra_topk_length: FlashMLA's sparse decoding and attention sinks. Not supported by
            this version on the GPU: a value other than None raises NotImplementedError naming it.
        kv_cache_dtype: "auto" (k_cache in q's dtype), "fp8_e4m3" (per-tensor FP8: a value is
            code * k_scale) or "fp8_ds_mla" (DeepSeek-V3.2's 656 bytes a token: 512 E4M3 codes,
            4 float32 scales, one per 128 codes, 64 bfloat16 RoPE values; NoPE values are
            code * scale rounded to q's dtype). Not in FlashMLA, whose dense decode has no FP8.
        k_scale: the per-tensor scale of "fp8_e4m3" (a float or a one-element tensor, read on
            the host; default 1.0); must be None for the other formats.

    Returns:
        out: (batch_size, seq_len_q, num_heads_q, head_dim_v), q's dtype.
        softmax_lse: (batch_size, num_heads_q, seq_len_q), torch.float32 (natural log;
            +inf for a row that sees no key).

    q, k_cache and block_table may be strided (innermost stride 1; q's and k_cache's other
    strides multiples of 8 elements); cache_seqlens and the metadata must be contiguous.
    """
    for name, value in (("indices", indices), ("attn_sink", attn_sink), ("extra_k_cache", extra_k_cache),
                        ("extra_indices_in_kvcache", extra_indices_in_kvcache), ("topk_length", topk_length),
                        ("extra_topk_length", extra_topk_length)):
        if value is not None:
            raise NotImplementedError(
                f"flash_mla_with_kvcache: '{name}' (sparse decoding, attention sinks) is not supported by "
                f"flashmla_swift on the GPU in this version; pass None")
    if is_fp8_kvcache and kv_cache_dtype == "auto":
        kv_cache_dtype = "fp8_ds_mla"
    if isinstance(tile_scheduler_metadata, FlashMLASchedMeta):
        tile_scheduler_metadata, num_splits = _filled(tile_scheduler_metadata, num_splits, q, k_cache, cache_seqlens,
                                                      causal, kv_cache_dtype)
    device = _device_of(q, "q")
    index = device.index
    if softmax_scale is None:
        softmax_scale = q.shape[-1] ** (-0.5)
    kv_format = _KV_FORMATS.get(kv_cache_dtype)
    if kv_format is None:
        raise _invalid("kv_cache_dtype", '"auto", "fp8_e4m3" or "fp8_ds_mla"', repr(kv_cache_dtype))
    if k_scale is not None and kv_format != 1:
        raise _invalid("k_scale", f'None for kv_cache_dtype="{kv_cache_dtype}"', repr(k_scale))
    scale_k = 1.0 if k_scale is None else float(k_scale)
    descriptors = _Descriptors(8)
    q_d = descriptors.add(q, "q", device, "bfloat16 or float16")
    k_d = descriptors.add(k_cache, "kCache", device, "bfloat16, float16, float8_e4m3fn or uint8")
    t_d = descriptors.add(block_table, "blockTable", device, "int32")
    s_d = descriptors.add(cache_seqlens, "cacheSeqlens", device, "int32")
    m_d = descriptors.add(tile_scheduler_metadata, "tileSchedulerMetadata", device, "int32")
    n_d = descriptors.add(num_splits, "numSplits", device, "int32")
    head_dim_v = int(head_dim_v)
    scale = float(softmax_scale)
    causal_flag = 1 if causal else 0
    if q.dim() != 4 or tile_scheduler_metadata.dim() != 2:
        # Let the library name the problem (q's rank, the metadata's) before anything is allocated.
        _check(_lib.flashmla_swift_decode_kv(index, None, q_d, k_d, t_d, s_d, m_d, n_d, head_dim_v, scale,
                                             causal_flag, kv_format, scale_k, q_d, q_d, None))
        raise _invalid("q", "rank 4 [b, s_q, h_q, 576]", f"shape {list(q.shape)}")
    b, s_q, h_q = q.shape[0], q.shape[1], q.shape[2]
    with _OnDevice(index):
        out = torch.empty((b, s_q, h_q, head_dim_v if head_dim_v == 512 else 0), dtype=q.dtype, device=device)
        lse = torch.empty((b, h_q, s_q), dtype=torch.float32, device=device)
        o_d = descriptors.add(out, "out", device, "bfloat16 or float16")
        l_d = descriptors.add(lse, "lse", device, "float32")
        stream = torch.cuda.current_stream(device)
        capturing = torch.cuda.is_current_stream_capturing()
        needed_rows = (b + tile_scheduler_metadata.shape[0]) * h_q * s_q
        with _lock:
            workspace = _workspace_for(index, needed_rows, stream, capturing)
            _check(_lib.flashmla_swift_decode_kv(index, stream.cuda_stream, q_d, k_d, t_d, s_d, m_d, n_d,
                                                 head_dim_v, scale, causal_flag, kv_format, scale_k, o_d, l_d,
                                                 workspace.handle))
            workspace.capacity_rows = max(workspace.capacity_rows, needed_rows)
    return out, lse


def _filled(meta: FlashMLASchedMeta, num_splits, q, k_cache, cache_seqlens, causal: bool, kv_cache_dtype: str):
    """The schedule tensors of `meta`: computed for this call's lengths and shapes the first time
    (queued on torch's current stream), then checked against the shapes it was made for."""
    if num_splits is not None:
        raise _invalid("num_splits", "None with a FlashMLASchedMeta", "a tensor")
    for name, tensor in (("q", q), ("k_cache", k_cache)):
        if not isinstance(tensor, torch.Tensor) or tensor.dim() != 4:
            raise _invalid(name, "a rank-4 torch.Tensor", type(tensor).__name__ if not isinstance(tensor, torch.Tensor)
                           else f"shape {list(tensor.shape)}")
    config = {"b": q.shape[0], "s_q": q.shape[1], "h_q": q.shape[2], "page_block_size": k_cache.shape[1],
              "h_k": k_cache.shape[2], "causal": bool(causal), "kv_cache_dtype": kv_cache_dtype}
    if not meta.have_initialized:
        if torch.cuda.is_current_stream_capturing():
            raise FlashMLASwiftError(
                "flash_mla_with_kvcache: the first call with a FlashMLASchedMeta allocates its schedule; "
                "make it before CUDA graph capture", 1)
        h_k = max(int(config["h_k"]), 1)
        meta.tile_scheduler_metadata, meta.num_splits = _schedule(
            cache_seqlens, int(config["s_q"]) * int(config["h_q"]) // h_k, int(config["h_k"]))
        meta.config, meta.have_initialized = config, True
    else:
        for key, value in config.items():
            if meta.config[key] != value:
                raise _invalid("tile_scheduler_metadata",
                               f"a call with the {key} it was made for ({meta.config[key]}); reuse a "
                               f"FlashMLASchedMeta only with the same shapes", str(value))
    return meta.tile_scheduler_metadata, meta.num_splits


# ---- FP8 quantizers (host or device, torch only) ---------------------------------------

_E4M3_MAX = 448.0


def quantize_fp8_per_tensor(k_cache: torch.Tensor, k_scale: Optional[float] = None) -> Tuple[torch.Tensor, float]:
    """A per-tensor FP8 copy of ``k_cache`` for ``kv_cache_dtype="fp8_e4m3"``.

    Returns ``(codes, k_scale)``: ``codes`` = E4M3(k_cache / k_scale) as torch.float8_e4m3fn
    (rounded to nearest even, saturated to ±448), ``k_scale`` = max|k_cache| / 448 unless given
    (1.0 for an all-zero cache). NaN stays NaN.
    """
    if k_scale is None:
        largest = float(k_cache.float().nan_to_num(0.0).abs().max()) if k_cache.numel() else 0.0
        k_scale = largest / _E4M3_MAX if largest > 0 else 1.0
    scaled = (k_cache.float() / k_scale).clamp(-_E4M3_MAX, _E4M3_MAX)
    return scaled.to(torch.float8_e4m3fn), float(k_scale)


def quantize_fp8_ds_mla(k_cache: torch.Tensor) -> torch.Tensor:
    """DeepSeek-V3.2's FP8 layout of ``k_cache`` [num_blocks, page_block_size, 1, 576] for
    ``kv_cache_dtype="fp8_ds_mla"``: torch.uint8 [num_blocks, page_block_size, 1, 656].

    Per token: for each group of 128 of the first 512 values, scale = max|x| / 448 (float32),
    codes E4M3(x / scale) (zero codes for a group of zeros); the 4 scales as float32; the last
    64 values as bfloat16.
    """
    if k_cache.dim() != 4 or k_cache.shape[2] != 1 or k_cache.shape[3] != 576:
        raise _invalid("k_cache", "[num_blocks, page_block_size, 1, 576]", f"shape {list(k_cache.shape)}")
    blocks, page = k_cache.shape[0], k_cache.shape[1]
    x = k_cache.float().reshape(-1, 576)
    nope = x[:, :512].reshape(-1, 4, 128)
    scales = nope.abs().amax(dim=-1) / _E4M3_MAX                       # [tokens, 4]
    safe = torch.where(scales > 0, scales, torch.ones_like(scales))
    codes = (nope / safe[..., None]).clamp(-_E4M3_MAX, _E4M3_MAX).to(torch.float8_e4m3fn)
    codes = torch.where((scales > 0)[..., None], codes.view(torch.uint8), torch.zeros_like(codes.view(torch.uint8)))
    rope = x[:, 512:].to(torch.bfloat16).contiguous()
    out = torch.cat([codes.reshape(-1, 512),
                     scales.contiguous().view(torch.uint8).reshape(-1, 16),
                     rope.view(torch.uint8).reshape(-1, 128)], dim=1)
    return out.reshape(blocks, page, 1, 656)


def dequantize_fp8_ds_mla(cache: torch.Tensor, dtype=None) -> torch.Tensor:
    """The values the decode computes with for a ``"fp8_ds_mla"`` cache: [..., 1, 576] in
    ``dtype`` (q's dtype; default torch.bfloat16): NoPE code * scale as float32 rounded to
    ``dtype``, RoPE bf16 rounded to it."""
    dtype = torch.bfloat16 if dtype is None else dtype
    raw = cache.view(torch.uint8).reshape(-1, 656)
    codes = raw[:, :512].contiguous().view(torch.float8_e4m3fn).float().reshape(-1, 4, 128)
    scales = raw[:, 512:528].contiguous().view(torch.float32)           # [tokens, 4]
    nope = (codes * scales[..., None]).reshape(-1, 512).to(dtype)
    rope = raw[:, 528:].contiguous().view(torch.bfloat16).to(dtype)
    return torch.cat([nope, rope], dim=1).reshape(*cache.shape[:-1], 576)
